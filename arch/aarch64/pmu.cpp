#include "arch/aarch64/pmu.hpp"

#include "arch/aarch64/anchor.hpp"
#include "arch/aarch64/percpu.hpp"
#include "arch/aarch64/sysreg.hpp"

namespace hv::arch {

namespace {

// Event counter n through PMSELR_EL0 + PMXEVCNTR/PMXEVTYPER (DDI0487 D13: the selected counter; an ISB makes the
// new selection visible to the indirect accesses). n < PMCR.N only: other counters do not exist.
void select_counter(u32 n) {
    HV_WRITE_SYSREG(pmselr_el0, n);
    isb();
}

void load(const PmuRegs& r) {
    const pmu::Config& c = hyp().pmu;
    const u64 pmcr = r.pmcr & c.pmcr_writable();  // never P or C: they would reset counters
    // Quiet first: counting off, nothing enabled, no overflow, so no interrupt can be raised half-way.
    HV_WRITE_SYSREG(pmcr_el0, pmcr & ~pmu::pmcr::E::field_mask);
    HV_WRITE_SYSREG(pmcntenclr_el0, c.counter_mask());
    HV_WRITE_SYSREG(pmintenclr_el1, c.counter_mask());
    HV_WRITE_SYSREG(pmovsclr_el0, c.counter_mask());
    isb();
    for (u32 n = 0; n < c.counters; ++n) {
        select_counter(n);
        HV_WRITE_SYSREG(pmxevtyper_el0, r.evtyper[n] & c.evtyper_mask());
        HV_WRITE_SYSREG(pmxevcntr_el0, r.evcntr[n] & c.evcntr_mask());
    }
    HV_WRITE_SYSREG(pmccfiltr_el0, r.ccfiltr & c.ccfiltr_mask());
    HV_WRITE_SYSREG(pmccntr_el0, r.ccntr);
    HV_WRITE_SYSREG(pmselr_el0, r.selr & pmu::Config::kSelrMask);
    HV_WRITE_SYSREG(pmuserenr_el0, r.userenr & pmu::Config::kUserenrMask);
    HV_WRITE_SYSREG(pmovsset_el0, r.ovsset & c.counter_mask());
    HV_WRITE_SYSREG(pmintenset_el1, r.intenset & c.counter_mask());
    HV_WRITE_SYSREG(pmcntenset_el0, r.cntenset & c.counter_mask());
    HV_WRITE_SYSREG(pmcr_el0, pmcr);
    isb();
}

// Every value is masked to the fields of the advertised PMU (pmu::Config), so what a snapshot carries always
// passes the register list's validation on restore.
void save(PmuRegs& r) {
    const pmu::Config& c = hyp().pmu;
    r.pmcr = HV_READ_SYSREG(pmcr_el0) & c.pmcr_writable();
    r.cntenset = HV_READ_SYSREG(pmcntenset_el0) & c.counter_mask();
    r.intenset = HV_READ_SYSREG(pmintenset_el1) & c.counter_mask();
    r.ovsset = HV_READ_SYSREG(pmovsset_el0) & c.counter_mask();
    r.userenr = HV_READ_SYSREG(pmuserenr_el0) & pmu::Config::kUserenrMask;
    r.selr = HV_READ_SYSREG(pmselr_el0) & pmu::Config::kSelrMask;
    r.ccntr = HV_READ_SYSREG(pmccntr_el0);
    r.ccfiltr = HV_READ_SYSREG(pmccfiltr_el0) & c.ccfiltr_mask();
    for (u32 n = 0; n < PmuRegs::kMaxEventCounters; ++n) {
        if (n >= c.counters) {
            r.evtyper[n] = r.evcntr[n] = 0;
            continue;
        }
        select_counter(n);
        r.evtyper[n] = HV_READ_SYSREG(pmxevtyper_el0) & c.evtyper_mask();
        r.evcntr[n] = HV_READ_SYSREG(pmxevcntr_el0) & c.evcntr_mask();
    }
    HV_WRITE_SYSREG(pmselr_el0, r.selr);  // the guest's selection back
    isb();
}

}  // namespace

const pmu::Config& pmu_config() { return hyp().pmu; }

void pmu_init_cpu() {
    const u64 dfr0 = HV_READ_SYSREG(id_aa64dfr0_el1);
    const bool has_pmu = pmu::guest_version(pmu::PmuVer::get(dfr0)) != pmu::kVerNone;
    // PMCR_EL0 only exists with a PMUv3 (an IMPLEMENTATION DEFINED PMU is not one).
    const u64 pmcr = has_pmu ? HV_READ_SYSREG(pmcr_el0) : 0;
    if (this_cpu_index() == 0) hyp().pmu = pmu::make_config(dfr0, pmcr);
    HV_WRITE_SYSREG(mdcr_el2, pmu::mdcr_el2(hyp().pmu));
    isb();
    if (!hyp().pmu.present()) return;
    PmuRegs quiet;
    pmu::reset(quiet);
    load(quiet);
}

void pmu_vcpu_load(Vcpu& v) {
    if (!v.pmu_dirty) return;
    if (hyp().pmu.present()) load(v.ctx.pmu);
    v.pmu_dirty = false;
}

void pmu_vcpu_put(Vcpu& v) {
    if (!hyp().pmu.present()) return;
    if (!v.pmu_dirty) save(v.ctx.pmu);  // else ctx.pmu is already the newer copy (vCPU reset, restore)
    v.pmu_dirty = true;
    // The overflow line needs PMCR.E (pmu::overflow_level): it drops with it.
    HV_WRITE_SYSREG(pmcr_el0, HV_READ_SYSREG(pmcr_el0) & hyp().pmu.pmcr_writable() & ~pmu::pmcr::E::field_mask);
    isb();
}

Status pmu_vm_init(Vm& vm) {
    if (!hyp().pmu.present()) return Status::ok;
    DeviceHooks d;
    d.name = "pmu";
    // Only after a vCPU reset or a restore does this load anything: the guest owns the PMU otherwise.
    d.before_entry = [](void*, Vcpu& v) { pmu_vcpu_load(v); };
    d.put = [](void*, Vcpu& v) { pmu_vcpu_put(v); };
    return vm.add_device(d);
}

bool pmu_overflow_live() {
    if (!hyp().pmu.present()) return false;
    return pmu::overflow_level(HV_READ_SYSREG(pmcr_el0), HV_READ_SYSREG(pmovsset_el0), HV_READ_SYSREG(pmintenset_el1));
}

}  // namespace hv::arch
