#include "arch/aarch64/vgic_glue.hpp"

#include "arch/aarch64/anchor.hpp"
#include "arch/aarch64/gic.hpp"
#include "arch/aarch64/percpu.hpp"
#include "arch/aarch64/pmu.hpp"
#include "arch/aarch64/sysreg.hpp"
#include "arch/aarch64/vgic_glue_fast.hpp"
#include "arch/aarch64/vm_run.hpp"
#include "core/arm_defs.hpp"
#include "lib/format.hpp"
#include "lib/log.hpp"
#include "vgic/reglist_class.hpp"

namespace hv::arch {

namespace {
template <u32... N>
struct Indices {};
using LrIndices = Indices<0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15>;
static_assert(arm::reg::kIchMaxLrs == 16);

template <u32... N>
void write_lr_at(u32 n, u64 v, Indices<N...>) {
    (void)((n == N ? (write_sysreg<arm::reg::ich_lr_el2(N)>(v), true) : false) || ...);
}
template <u32... N>
u64 read_lr_at(u32 n, Indices<N...>) {
    u64 v = 0;
    (void)((n == N ? (v = read_sysreg<arm::reg::ich_lr_el2(N)>(), true) : false) || ...);
    return v;
}
}  // namespace

// The ICH_* registers (IHI0069H 12.4) by their encodings in core/arm_defs.hpp. The list registers are indexed at run
// time: one MRS/MSR per index, generated, dispatched through a jump table (vgic_glue_fast.hpp declares these).
void write_lr(u32 n, u64 v) { write_lr_at(n, v, LrIndices{}); }
u64 read_lr(u32 n) { return read_lr_at(n, LrIndices{}); }

namespace {

// The active-priority registers (IHI0069H 12.4), one MRS/MSR per implemented one.
template <u32 N>
void write_apr(const u32* ap0r, const u32* ap1r) {
    write_sysreg<arm::reg::ich_ap0r_el2(N)>(ap0r[N]);
    write_sysreg<arm::reg::ich_ap1r_el2(N)>(ap1r[N]);
}
template <u32 N>
void read_apr(u32* ap0r, u32* ap1r) {
    ap0r[N] = static_cast<u32>(read_sysreg<arm::reg::ich_ap0r_el2(N)>());
    ap1r[N] = static_cast<u32>(read_sysreg<arm::reg::ich_ap1r_el2(N)>());
}

// Only the implemented AP<n>R exist (IHI0069H 12.4.1: AP0R1..3 need 6 or 7 preemption bits).
void write_aprs(u32 count, const u32* ap0r, const u32* ap1r) {
    write_apr<0>(ap0r, ap1r);
    if (count >= 2) write_apr<1>(ap0r, ap1r);
    if (count >= 4) {
        write_apr<2>(ap0r, ap1r);
        write_apr<3>(ap0r, ap1r);
    }
}

void read_aprs(u32 count, u32* ap0r, u32* ap1r) {
    read_apr<0>(ap0r, ap1r);
    if (count >= 2) read_apr<1>(ap0r, ap1r);
    if (count >= 4) {
        read_apr<2>(ap0r, ap1r);
        read_apr<3>(ap0r, ap1r);
    }
}

// Physical side of hardware-linked interrupts. PPIs are banked per pCPU and vCPUs are pinned 1:1, so the model's
// calls (from the vCPU's own exits: set_level in the IRQ handler, fold before the next entry) reach the right
// redistributor through this pCPU's GICR.
class GicHwControl final : public vgic::HwIrqControl {
public:
    // Masking: nothing to do. EL2 acknowledged the physical interrupt and only dropped its priority (EOImode 1), so
    // it stays active -- which already keeps it from firing again -- until the guest's deactivation of the virtual
    // one deactivates it through the LR's HW bit. Disabling it at the GICR would need an exit to re-enable it, and a
    // guest that re-arms its timer without exiting would never see it again.
    // Unmasking means nothing is in flight for the guest any more: either the guest deactivated it (the physical is
    // already inactive) or the line dropped before delivery (the physical is still active): clear the active state
    // in both cases so the interrupt can fire again.
    void set_physical_masked(u32 pintid, bool masked) override {
        if (!masked) gic_clear_active(pintid);
    }
    void deactivate_physical(u32 pintid) override { gic_clear_active(pintid); }
};

// A stateless port (vtable only): constant at file scope (docs/architecture.md §4 "The anchors").
constinit const GicHwControl kHwControl;
VgicGlueState& st() { return hyp().vgic_glue; }
// vg() without the call (the entry/exit hooks use it a dozen times per exit).
[[gnu::always_inline]] inline vgic::Vgic& vg() { return hyp().vm->vgic; }
// The guest's EL1 timers, both hardware-linked (vINTID == pINTID). The guest owns their registers; the run loop
// switches them per vCPU with the other EL1 registers, so right after an exit (and right before an entry) the CPU's
// registers are the vCPU's.
enum TimerIndex : u32 { kVirtualTimer, kPhysicalTimer, kTimerCount };
constexpr u32 kTimerPpi[kTimerCount] = {kPpiVirtualTimer, kPpiPhysicalTimer};
constexpr const char* kTimerName[kTimerCount] = {"virtual", "physical"};
// Per pCPU (ready, LRs in use, parked PMU interrupt, SPI counters): this_cpu().vgic (percpu.hpp).

// CNTV_CTL_EL0 / CNTP_CTL_EL0 (DDI0487 D13.8.18 / D13.8.15): ENABLE, IMASK, ISTATUS. A timer's output is
// ENABLE && ISTATUS && !IMASK (D11.2.4).
constexpr u64 kCtlEnable = 1, kCtlImask = 2, kCtlIstatus = 4;

// If the guest masked, disabled or reprogrammed a timer, its (level) output is low now; lower the vGIC line so a
// pending-but-undelivered timer interrupt is withdrawn, as a level interrupt must be (KVM samples its timers the
// same way). Raising is left to the physical interrupt. Called right after an exit and right before an entry (the
// context may have been replaced meanwhile: CPU_ON, VM reset, a restore), with the vCPU's registers in the CPU.
// Inline, one timer at a time: it runs four times per timer interrupt (both hooks of its two exits, docs/
// benchmarks-exits.md "timer_10ms"); a line that is down costs one load.
[[gnu::noinline, gnu::cold]] void lower_timer_line(u32 t, u32 vcpu) {
    st().timer_line[t][vcpu] = false;
    if (vg().set_level(kTimerPpi[t], vcpu, false) != Status::ok)
        HV_LOG_RATELIMITED(warn, "vcpu%u: %s timer line update failed", vcpu, kTimerName[t]);
}

[[gnu::always_inline]] inline bool timer_output(u64 ctl) {
    return (ctl & (kCtlEnable | kCtlIstatus | kCtlImask)) == (kCtlEnable | kCtlIstatus);
}

[[gnu::always_inline]] inline void sync_timer_lines(const Vcpu& v) {
    if (v.id >= vgic::kMaxVcpus) return;
    VgicGlueState& g = st();
    if (g.timer_line[kVirtualTimer][v.id] && !timer_output(HV_READ_SYSREG(cntv_ctl_el0)))
        lower_timer_line(kVirtualTimer, v.id);
    if (g.timer_line[kPhysicalTimer][v.id] && !timer_output(HV_READ_SYSREG(cntp_ctl_el0)))
        lower_timer_line(kPhysicalTimer, v.id);
}

// The same for the PMU overflow line: the guest owns the PMU, so after an exit its registers are live in the CPU. A
// line the guest lowered (PMOVSCLR, PMINTENCLR, PMCR.E = 0) withdraws an undelivered interrupt. The level is the
// architectural one the hardware drives on the physical PPI (core/pmu.hpp overflow_level), so the two agree.
// A physical PMU interrupt that fires while the request is architecturally low (QEMU 7.2 does not re-evaluate its
// PMU interrupt on a PMCR_EL0 write, so PMCR.E = 0 leaves the physical line up) is left active ("parked") rather
// than injected or deactivated, which would make it fire again at once; it is released here once the request is
// back (it fires and is injected) or the physical line has dropped.
[[gnu::noinline]] void sync_pmu_line_slow(Vcpu& v) {
    bool& parked = this_cpu().vgic.pmu_parked;
    const bool level = pmu_overflow_live();
    if (parked) {
        if (level || !gic_ppi_pending(kPpiPmu)) {
            parked = false;
            gic_clear_active(kPpiPmu);
        }
        return;
    }
    if (level) return;
    st().pmu_line[v.id] = false;
    if (vg().set_level(kPpiPmu, v.id, false) != Status::ok)
        HV_LOG_RATELIMITED(warn, "vcpu%u: PMU overflow line update failed", v.id);
}

// Nothing to do (no line up, nothing parked): two loads.
[[gnu::always_inline]] inline void sync_pmu_line(Vcpu& v) {
    const bool line = v.id < vgic::kMaxVcpus && st().pmu_line[v.id];
    if (line || this_cpu().vgic.pmu_parked) sync_pmu_line_slow(v);
}

// First entry on a pCPU: enable the interrupts the vGIC needs on its redistributor.
void cpu_setup(VgicCpuState& cpu) {
    if (cpu.ready) return;
    cpu.ready = true;
    write_sysreg<arm::reg::kIchHcrEl2>(0);
    write_sysreg<arm::reg::kIchVmcrEl2>(0);
    for (u32 i = 0; i < st().nr_lrs; ++i) write_lr(i, 0);
    cpu.hw_lrs = 0;
    gic_enable(kPpiMaintenance, true);
    for (u32 ppi : kTimerPpi) {
        gic_clear_active(ppi);
        gic_enable(ppi, true);
    }
    if (st().pmu_linked) {
        cpu.pmu_parked = false;
        gic_clear_active(kPpiPmu);
        gic_enable(kPpiPmu, true);
    }
}

// Everything of the virtual CPU interface the guest may have changed, back into the model; the interface off.
void read_back(vgic::VcpuIfState& s) {
    vgic_read_lrs(s);
    read_aprs(st().nr_aprs, s.ap0r, s.ap1r);
    s.vmcr = read_sysreg<arm::reg::kIchVmcrEl2>();
    s.elrsr = read_sysreg<arm::reg::kIchElrsrEl2>();
    s.eisr = read_sysreg<arm::reg::kIchEisrEl2>();
    s.misr = read_sysreg<arm::reg::kIchMisrEl2>();
    s.hcr = read_sysreg<arm::reg::kIchHcrEl2>();  // EOIcount lives here (fold retires EOIs outside the LRs)
    // En = 0: the virtual CPU interface is off at EL2 and the (level) maintenance interrupt drops before the IRQ
    // exit is handled, so it does not fire again at once (IHI0069H 4.8).
    write_sysreg<arm::reg::kIchHcrEl2>(0);
    isb();
}

void before_entry(Vcpu& v) {
    VgicCpuState& cpu = this_cpu().vgic;
    cpu_setup(cpu);
    // A replaced context (CPU_ON, reset) must not inherit the old timers' level. On the fast path's IRQ exit the
    // context is the one after_exit just sampled, and the guest has not run since: nothing to do.
    if (!cpu.fast_irq) sync_timer_lines(v);
    sync_pmu_line(v);  // ... nor the old PMU's (the PMU device, registered first, loaded it)
    vgic::VcpuIfState& s = vg().cpu_if(v.id);
    if (cpu.lrs_live) {
        // APRs and VMCR are still the guest's in the CPU, and neither the direct flush nor the fold it may fall
        // back to reads them (no EOIcount to retire): only the LRs and ICH_HCR_EL2 are written.
        cpu.lrs_live = false;
        vgic_read_lrs(s);
        const u64 hcr = s.hcr;
        (void)vg().flush_live(v.id, s);
        vgic_write_lrs(cpu, s);
        if (s.hcr != hcr) write_sysreg<arm::reg::kIchHcrEl2>(s.hcr);
        return;
    }
    vg().flush(v.id, s);        // the model sets NPIE only while a pending LR exists (no maintenance storm)
    cpu.fold_deferred = false;  // flush folded first
    vgic_write_lrs(cpu, s);
    write_aprs(st().nr_aprs, s.ap0r, s.ap1r);
    write_sysreg<arm::reg::kIchVmcrEl2>(s.vmcr);
    write_sysreg<arm::reg::kIchHcrEl2>(s.hcr);  // En (+ UIE/NPIE/LRENPIE as the model chose)
}

void after_exit(Vcpu& v) {
    vgic::VcpuIfState& s = vg().cpu_if(v.id);
    VgicCpuState& cpu = this_cpu().vgic;
    if (cpu.fast_irq && vgic_can_keep_lrs(s)) {
        cpu.lrs_live = true;  // the entry's direct flush takes it from here
    } else {
        read_back(s);
        // Nothing in the LRs and no EOI outside them: fold would not change anything.
        if (s.used_lrs != 0 || vgic::ich_hcr::EOIcount::get(s.hcr) != 0) {
            if (cpu.fast_irq && !vgic_hw_linked_lr(s))
                cpu.fold_deferred = true;  // the IRQ exit's flush folds, under the same locks (one lock round less)
            else
                vg().fold(v.id, s);
        }
    }
    sync_timer_lines(v);
    sync_pmu_line(v);
}

bool sysreg(Vcpu& v, const esr::SysRegAccess& a, u64& value) {
    vgic::SgiKind kind;
    switch (a.key()) {
        case arm::reg::kIccSgi1rEl1:
            kind = vgic::SgiKind::sgi1r;
            break;
        case arm::reg::kIccAsgi1rEl1:
            kind = vgic::SgiKind::asgi1r;
            break;
        case arm::reg::kIccSgi0rEl1:
            kind = vgic::SgiKind::sgi0r;
            break;
        default:
            return false;
    }
    if (a.read) return false;  // write-only registers: the default path makes a read UNDEF
    vg().sgi_write(v.id, value, kind);
    return true;
}

// One per-pCPU counter of VgicCpuState as "a,b,.." (pCPU order) into `per`; returns their sum.
u64 per_pcpu_counts(Atomic<u64> VgicCpuState::*counter, char (&per)[kMaxCpus * 21 + 1]) {
    usize n = 0;
    u64 total = 0;
    for (u32 i = 0; i < online_cpus() && i < kMaxCpus; ++i) {
        const u64 c = (percpu(i).vgic.*counter).load(MemoryOrder::relaxed);
        total += c;
        n += format(per + n, sizeof(per) - n, "%s%llu", i ? "," : "", static_cast<unsigned long long>(c));
    }
    return total;
}

// `stats: timer refires=N per_pcpu=a,b,..`: IRQ exits the timer re-fire handled (vgic_timer_refire), per pCPU.
void log_timer_stats() {
    char per[kMaxCpus * 21 + 1] = {};
    const u64 total = per_pcpu_counts(&VgicCpuState::timer_refires, per);
    HV_LOG_INFO("stats: timer refires=%llu per_pcpu=%s", static_cast<unsigned long long>(total), per);
}

// WFI / CPU_SUSPEND wait (after the exit's fold): something deliverable above the vCPU's priority mask.
bool has_pending(Vcpu& v) { return vg().has_pending_for_wakeup(v.id); }

// The vGIC as one of the VM's devices (vm/vm.hpp DeviceHooks).
DeviceHooks device_hooks() {
    DeviceHooks d;
    d.name = "vgic";
    d.before_entry = [](void*, Vcpu& v) { before_entry(v); };
    d.after_exit = [](void*, Vcpu& v) { after_exit(v); };
    d.has_pending = [](void*, Vcpu& v) { return has_pending(v); };
    d.sysreg = [](void*, Vcpu& v, const esr::SysRegAccess& a, u64& value) { return sysreg(v, a, value); };
    d.reset = [](void*, Vm&) { vgic_vm_reset(); };
    d.log_stats = [](void*) {
        vgic_log_forwarded_spi_stats();
        log_timer_stats();
    };
    return d;
}

// Maintenance interrupt: the exit itself was the point (fold + flush run around it); deactivate at once.
bool maintenance_irq(u32, void*) { return true; }

// A guest timer fired: make the guest's PPI 27 / 30 pending as a hardware-linked interrupt. The physical one stays
// active (EOImode 1: only the priority was dropped) until the guest deactivates the virtual one, which deactivates
// the physical through the LR's HW bit (IHI0069H 4.4.4 / ICH_LR<n>_EL2.HW).
bool timer_irq(u32 intid, void*) {
    Vcpu* v = this_cpu().vcpu;
    if (v == nullptr || !st().ready.load(MemoryOrder::acquire)) {
        gic_enable(intid, false);
        return true;
    }
    const u32 t = intid == kPpiPhysicalTimer ? kPhysicalTimer : kVirtualTimer;
    if (v->id < vgic::kMaxVcpus) st().timer_line[t][v->id] = true;
    if (vg().set_level(intid, v->id, true) != Status::ok) {
        HV_LOG_RATELIMITED(warn, "vcpu%u: %s timer injection failed", v->id, kTimerName[t]);
        return true;
    }
    return false;
}

// The guest's PMU overflowed (its counters run only while it does, so this is the vCPU of this pCPU): make its
// PPI 23 pending as a hardware-linked interrupt, exactly as the timer above. If the request is architecturally
// low (PMCR.E = 0; a vCPU that is not running has its PMU stopped by pmu_vcpu_put), the physical interrupt is
// parked instead (sync_pmu_line).
bool pmu_irq(u32 intid, void*) {
    PerCpu& cpu = this_cpu();
    Vcpu* v = cpu.vcpu;
    if (v == nullptr || !st().ready.load(MemoryOrder::acquire)) {
        gic_enable(intid, false);
        return true;
    }
    if (v->state.load(MemoryOrder::acquire) != VcpuState::running || !pmu_overflow_live()) {
        cpu.vgic.pmu_parked = true;
        return false;
    }
    if (v->id < vgic::kMaxVcpus) st().pmu_line[v->id] = true;
    if (vg().set_level(kPpiPmu, v->id, true) != Status::ok) {
        HV_LOG_RATELIMITED(warn, "vcpu%u: PMU overflow injection failed", v->id);
        return true;
    }
    return false;
}

// The physical SPI follows the guest's GICD_IROUTER of the virtual one, so it is taken on the pCPU that runs the
// target vCPU (no kick SGI, no cross-pCPU hop). Lazily: checked at each activation, the new route applies from the
// next one (IHI0069H 12.9.22: a routing change does not affect an interrupt already active). A route that names no
// vCPU keeps the current pCPU. vCPU i runs on its pinned pCPU (Vcpu::pcpu).
void follow_guest_route(u32 intid) {
    u64 route = 0;
    const u64 irouter = static_cast<u64>(vgic::GicdReg::IROUTER) + u64{8} * intid;  // IROUTER<n>, IHI0069H 12.9.22
    if (intid >= 1020 || vg().dist_save_read(irouter, 8, route) != Status::ok) return;
    const Vm& vm = the_vm();
    for (u32 i = 0; i < vm.vcpu_count && i < vg().vcpu_count(); ++i) {
        if ((vg().vcpu_mpidr(i) & vgic::mpidr::kAffMask) != (route & vgic::gicd_irouter::kAffMask)) continue;
        const u32 pcpu = vm.vcpus[i].pcpu;
        if (pcpu >= kMaxCpus || st().forwarded_spi_pcpu[intid].load(MemoryOrder::relaxed) == pcpu) return;
        st().forwarded_spi_pcpu[intid].store(static_cast<u8>(pcpu), MemoryOrder::relaxed);
        gic_route_spi(intid, percpu(pcpu).mpidr);
        st().forwarded_reroutes.fetch_add(1, MemoryOrder::relaxed);
        HV_LOG_DEBUG("vgic: passed-through SPI %u now taken on pCPU %u (vcpu%u)", intid, pcpu, i);
        return;
    }
}

// A passed-through SPI fired (vgic_forward_hw_spi): latch the virtual SPI pending; the guest deactivates the
// physical one through the hardware-linked LR. `arg` is the device name for the log.
bool forwarded_spi_irq(u32 intid, void* arg) {
    this_cpu().vgic.forwarded_spis.fetch_add(1, MemoryOrder::relaxed);
    if (!st().ready.load(MemoryOrder::acquire) || vg().inject_edge(intid, 0) != Status::ok) {
        HV_LOG_RATELIMITED(warn, "%s: SPI %u could not be forwarded: disabled", static_cast<const char*>(arg), intid);
        gic_enable(intid, false);
        return true;
    }
    follow_guest_route(intid);
    return false;
}

}  // namespace

Status vgic_forward_hw_spi(u32 intid, const char* what) {
    if (!vgic_ready()) return Status::not_found;
    if (intid < vgic::kNumPrivate || intid >= 1020) return Status::invalid_argument;
    HV_TRY(the_vgic().map_hw(0, intid, intid));
    gic_set_handler(intid, forwarded_spi_irq, const_cast<char*>(what));
    gic_enable(intid, true);
    return Status::ok;
}

void vgic_log_forwarded_spi_stats() {
    char per[kMaxCpus * 21 + 1] = {};
    const u64 total = per_pcpu_counts(&VgicCpuState::forwarded_spis, per);
    HV_LOG_INFO("stats: spi forwarded=%llu per_pcpu=%s reroutes=%llu", static_cast<unsigned long long>(total), per,
                static_cast<unsigned long long>(st().forwarded_reroutes.load(MemoryOrder::relaxed)));
}

vgic::Vgic& the_vgic() { return the_vm().vgic; }
bool vgic_ready() { return st().ready.load(MemoryOrder::acquire); }

Status vgic_config(const PlatformInfo& plat, vgic::VgicConfig& cfg, vgic::HwIrqControl*& hw) {
    const GicInfo& gic = plat.gic;
    if (gic.gicd_base == 0 || gic.gicr.empty()) return Status::not_found;
    // GICD_TYPER.ITLinesNumber (IHI0069H 12.9.38): 32 * (N + 1) INTIDs below 1020.
    u32 typer = mmio_read<u32>(gic.gicd_base + 0x4);
    u32 lines = min<u32>(32 * ((typer & 0x1f) + 1), vgic::kMaxIrqs);
    cfg.nr_spis = lines > vgic::kNumPrivate ? lines - vgic::kNumPrivate : 32;
    cfg.ich_vtr = read_sysreg<arm::reg::kIchVtrEl2>();
    hw = &const_cast<GicHwControl&>(kHwControl);  // stateless: nothing is written through it
    return Status::ok;
}

Status vgic_vm_init(Vm& vm, const PlatformInfo& plat) {
    const GicInfo& gic = plat.gic;
    if (gic.gicd_base == 0 || gic.gicr.empty()) return Status::not_found;
    if (vm.vcpu_count == 0 || vm.vcpu_count > vgic::kMaxVcpus) return Status::invalid_argument;
    if (plat.timer.virt.valid && plat.timer.virt.intid() != kPpiVirtualTimer)
        HV_LOG_WARN("vgic: DT virtual timer is INTID %u, expected %u", plat.timer.virt.intid(), kPpiVirtualTimer);
    if (plat.timer.phys.valid && plat.timer.phys.intid() != kPpiPhysicalTimer)
        HV_LOG_WARN("vgic: DT physical timer is INTID %u, expected %u", plat.timer.phys.intid(), kPpiPhysicalTimer);
    if (gic.maintenance.valid && gic.maintenance.intid() != kPpiMaintenance)
        HV_LOG_WARN("vgic: DT maintenance interrupt is INTID %u, expected %u", gic.maintenance.intid(),
                    kPpiMaintenance);

    const u64 ich_vtr = vm.vgic.config().ich_vtr;
    st().nr_lrs = vgic::ich_vtr::list_regs(ich_vtr);
    st().nr_aprs = vgic::ich_vtr::apr_count(ich_vtr);

    HV_TRY(vm.mmio.add(gic.gicd_base, the_vgic().distributor_size(), &the_vgic().distributor()));
    HV_TRY(vm.mmio.add(gic.gicr[0].base, the_vgic().redistributors_size(), &the_vgic().redistributors()));
    st().gicd_base = gic.gicd_base;
    st().gicd_size = the_vgic().distributor_size();
    st().gicr_base = gic.gicr[0].base;
    st().gicr_size = the_vgic().redistributors_size();
    for (u32 i = 0; i < vm.vcpu_count; ++i)
        for (u32 ppi : kTimerPpi) HV_TRY(the_vgic().map_hw(i, ppi, ppi));
    // The PMU overflow interrupt, linked the same way when the guest has a PMUv3 (docs/boot.md "PMU").
    st().pmu_linked = pmu_config().present();
    if (st().pmu_linked && plat.pmu_irq.valid && plat.pmu_irq.intid() != kPpiPmu)
        HV_LOG_WARN("vgic: DT PMU interrupt is INTID %u, expected %u", plat.pmu_irq.intid(), kPpiPmu);
    if (st().pmu_linked) {
        for (u32 i = 0; i < vm.vcpu_count; ++i) HV_TRY(the_vgic().map_hw(i, kPpiPmu, kPpiPmu));
        gic_set_handler(kPpiPmu, pmu_irq, nullptr);
    }

    gic_set_handler(kPpiMaintenance, maintenance_irq, nullptr);
    for (u32 ppi : kTimerPpi) gic_set_handler(ppi, timer_irq, nullptr);
    HV_TRY(vm.add_device(device_hooks()));
    st().ready.store(true, MemoryOrder::release);
    HV_LOG_INFO("vgic: %u vCPU(s), %u SPIs, %u LRs, GICD 0x%llx, GICR 0x%llx (+0x%llx)", vm.vcpu_count,
                vm.vgic.config().nr_spis, st().nr_lrs, static_cast<unsigned long long>(gic.gicd_base),
                static_cast<unsigned long long>(gic.gicr[0].base),
                static_cast<unsigned long long>(the_vgic().redistributors_size()));
    return Status::ok;
}

void vgic_set_line(u32 intid, u32 vcpu, bool level) {
    if (!vgic_ready()) return;
    if (the_vgic().set_level(intid, vcpu, level) != Status::ok)
        HV_LOG_RATELIMITED(warn, "vgic: cannot set line of INTID %u (vcpu%u)", intid, vcpu);
}

// The timer re-fire (docs/benchmarks-exits.md "timer_10ms"): an IRQ exit for a guest EL1 timer whose previous
// interrupt the guest has just taken and deactivated, while the timer still asserts its output. The full path
// would fold LR 0 back (the guest completed it), see the timer's line still high (sync_timer_lines), take the
// physical interrupt (timer_irq: the line rises again), and flush: the same hardware-linked LR, pending, in LR 0.
// Written here directly, when nothing else can differ:
//   - the model: one LR in use, the timer's own (HW, vINTID == pINTID, pending or active as the last entry wrote
//     it: active if an exit came while the guest was handling it), no maintenance requested (no candidate waited
//     outside the LRs), and nothing changed since that flush (the caller checks Vgic::flush_needed and the other
//     entry work first: fast_exit.cpp resume_or_sync). The model's view of the interrupt (in this vCPU's LR,
//     line high) is what the full path would leave; its active flag is refreshed by the next fold, which reads
//     the LR back, as for any interrupt the LRs hold;
//   - the hardware: LR 0 is that LR with its state gone (the guest's EOI deactivated it, and through HW == 1 the
//     physical interrupt), no EOI outside the LRs (ICH_HCR_EL2.EOIcount), the timer's output is still high
//     (ENABLE && ISTATUS && !IMASK), the other hardware-linked lines are down, and the highest-priority pending
//     physical interrupt is that timer's PPI.
// The physical PPI is then acknowledged and its priority dropped (EOImode 1: it stays active until the guest
// deactivates the virtual one, as timer_irq leaves it), and LR 0 is made pending again. ICH_HCR/VMCR/APRs stay
// as the guest left them in the CPU (the next full exit reads them back). Returns as vgic_glue.hpp says.
bool vgic_timer_refire_possible(const Vcpu& v) {
    if (v.id >= vgic::kMaxVcpus) return false;
    const VgicGlueState& g = st();
    return this_cpu().vgic.hw_lrs == 1 && (g.timer_line[kVirtualTimer][v.id] || g.timer_line[kPhysicalTimer][v.id]);
}

u64 vgic_timer_refire(const Vcpu& v) {
    if (v.id >= vgic::kMaxVcpus || !vgic_ready()) return kRefireNone;
    VgicCpuState& cpu = this_cpu().vgic;
    const vgic::VcpuIfState& s = vg().cpu_if(v.id);
    if (!cpu.ready || cpu.fold_deferred || cpu.hw_lrs != 1 || s.used_lrs != 1 || cpu.pmu_parked) return kRefireNone;
    const u64 lr = s.lr[0];
    const u32 intid = static_cast<u32>(vgic::ich_lr::vINTID::get(lr));
    if (vgic::ich_lr::HW::get(lr) == 0 || vgic::ich_lr::State::get(lr) == 0 || vgic::ich_lr::pINTID::get(lr) != intid)
        return kRefireNone;
    u32 t = 0;
    if (intid == kPpiVirtualTimer)
        t = kVirtualTimer;
    else if (intid == kPpiPhysicalTimer)
        t = kPhysicalTimer;
    else
        return kRefireNone;
    const VgicGlueState& g = st();
    if (!g.timer_line[t][v.id] || g.timer_line[1 - t][v.id] || g.pmu_line[v.id]) return kRefireNone;
    constexpr u64 kMaintenance = vgic::ich_hcr::UIE::field_mask | vgic::ich_hcr::LRENPIE::field_mask |
                                 vgic::ich_hcr::NPIE::field_mask | vgic::ich_hcr::EOIcount::field_mask;
    if ((s.hcr & kMaintenance) != 0) return kRefireNone;
    if (read_lr(0) != vgic::ich_lr::State::set(lr, 0)) return kRefireNone;
    if (vgic::ich_hcr::EOIcount::get(read_sysreg<arm::reg::kIchHcrEl2>()) != 0) return kRefireNone;
    const u64 ctl = t == kVirtualTimer ? HV_READ_SYSREG(cntv_ctl_el0) : HV_READ_SYSREG(cntp_ctl_el0);
    if (!timer_output(ctl)) return kRefireNone;
    if ((read_sysreg<arm::reg::kIccHppir1El1>() & 0xffffff) != intid) return kRefireNone;
    const u64 ack = read_sysreg<arm::reg::kIccIar1El1>();
    if ((ack & 0xffffff) != intid) return ack;  // something of higher priority came in between
    write_sysreg<arm::reg::kIccEoir1El1>(ack);  // priority drop only (EOImode 1), as gic_handle_irqs + timer_irq
    write_lr(0, vgic::ich_lr::State::set(lr, vgic::ich_lr::kStatePending));
    cpu.timer_refires.store(cpu.timer_refires.load(MemoryOrder::relaxed) + 1, MemoryOrder::relaxed);
    return kRefireDone;
}

void vgic_fold_deferred(Vcpu& v) {
    VgicCpuState& cpu = this_cpu().vgic;
    cpu.fast_irq = false;
    if (cpu.lrs_live) {
        cpu.lrs_live = false;
        read_back(the_vgic().cpu_if(v.id));
        cpu.fold_deferred = true;
    }
    if (!cpu.fold_deferred) return;
    cpu.fold_deferred = false;
    the_vgic().fold(v.id, the_vgic().cpu_if(v.id));
}

bool vgic_vcpu_has_pending(u32 vcpu) { return vgic_ready() && the_vgic().has_pending_for_wakeup(vcpu); }

void vgic_vm_reset() {
    if (!vgic_ready()) return;
    the_vgic().reset();
    // The timer PPIs of this pCPU: not active, enabled (the other pCPUs clean theirs on their next entry).
    for (u32 ppi : kTimerPpi) {
        gic_clear_active(ppi);
        gic_enable(ppi, true);
    }
    if (st().pmu_linked) {
        gic_clear_active(kPpiPmu);
        gic_enable(kPpiPmu, true);
    }
    for (u32 i = 0; i < kMaxCpus; ++i) {
        percpu(i).vgic.ready = false;
        percpu(i).vgic.pmu_parked = false;
    }
    for (auto& lines : st().timer_line)
        for (bool& line : lines) line = false;
    for (bool& line : st().pmu_line) line = false;
}

}  // namespace hv::arch
