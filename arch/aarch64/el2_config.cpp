// EL2 configuration for running guests: HCR_EL2, CPTR_EL2, MDCR_EL2 (pmu.cpp), CNTHCTL_EL2, VTCR_EL2 and stage 2.
// Choices: docs/boot.md "EL2 trap configuration".
#include "arch/aarch64/anchor.hpp"
#include "arch/aarch64/mmu.hpp"
#include "arch/aarch64/percpu.hpp"
#include "arch/aarch64/pmu.hpp"
#include "arch/aarch64/sysreg.hpp"
#include "arch/aarch64/vcpu_internal.hpp"
#include "arch/aarch64/vm_run.hpp"

namespace hv::arch {

namespace {

// HCR_EL2 (DDI0487 D17.2.48): VM (stage 2 on), SWIO (set/way invalidate as clean+invalidate), FMO/IMO/AMO (physical
// FIQ/IRQ/SError to EL2, virtual ones to the guest), FB (broadcast TLB/IC maintenance inside the inner shareable
// domain), BSU = inner shareable, TSC (trap SMC: the guest's firmware calls come to us), TID3 (ID registers read
// through guest_id_value: hidden features, core/id_regs.hpp), TWI (a guest WFI idles the pCPU in vcpu_wait until an
// interrupt for the vCPU), RW (EL1 is AArch64).
// TIDCP: IMPLEMENTATION DEFINED system registers (op0 = 3, CRn = 11 / 15) trap and get an UNDEF (KVM's answer);
// TACR: ACTLR_EL1 traps: reads return the vCPU's register-list value, writes are ignored (KVM's access_actlr), and
// the CPU's own ACTLR_EL1 is never loaded from guest-controlled state (docs/boot.md "EL2 hardening").
// Not set: TWE (WFE is a short spin-wait hint; trapping it costs more than it saves), TVM/TRVM, TSW, TGE, E2H.
// Table pages kept free for the stage-2 device mappings (PCI windows, virtio-mmio) and the SMMU's tables after
// guest RAM is mapped.
constexpr usize kStage2Reserve = 128;

namespace hcr = arm::hcr;
constexpr u64 kHcrBase = hcr::VM::make(1) | hcr::SWIO::make(1) | hcr::FMO::make(1) | hcr::IMO::make(1) |
                         hcr::AMO::make(1) | hcr::FB::make(1) | hcr::BSU::make(hcr::kBsuInnerShareable) |
                         hcr::TWI::make(1) | hcr::TSC::make(1) | hcr::TID3::make(1) | hcr::RW::make(1) |
                         hcr::TIDCP::make(1) | hcr::TACR::make(1);
constexpr u64 kHcrPauth = hcr::API::make(1) | hcr::APK::make(1);
El2State& st() { return hyp().el2; }

}  // namespace

u64 guest_hcr() { return st().hcr; }
const idreg::HostIdRegs& host_id_regs() { return st().host_ids; }
unsigned guest_ipa_bits() { return st().ipa_bits; }

void hyp_init_cpu() {
    u64 pfr0 = HV_READ_SYSREG(id_aa64pfr0_el1);
    u64 isar1 = HV_READ_SYSREG(id_aa64isar1_el1);
    if (this_cpu_index() == 0) {
        st().host_ids[idreg::HostReg::pfr0] = pfr0;
        st().host_ids[idreg::HostReg::pfr1] = HV_READ_SYSREG(id_aa64pfr1_el1);
        st().host_ids[idreg::HostReg::dfr0] = HV_READ_SYSREG(id_aa64dfr0_el1);
        st().host_ids[idreg::HostReg::isar0] = HV_READ_SYSREG(id_aa64isar0_el1);
        st().host_ids[idreg::HostReg::isar1] = isar1;
        st().host_ids[idreg::HostReg::isar2] = HV_READ_SYSREG(S3_0_C0_C6_2);  // ID_AA64ISAR2_EL1
        st().host_ids[idreg::HostReg::mmfr0] = HV_READ_SYSREG(id_aa64mmfr0_el1);
        st().host_ids[idreg::HostReg::mmfr1] = HV_READ_SYSREG(id_aa64mmfr1_el1);
        st().host_ids[idreg::HostReg::mmfr2] = HV_READ_SYSREG(S3_0_C0_C7_2);  // ID_AA64MMFR2_EL1
        st().ipa_bits = min(pa_bits(), 40u);
    }
    // CPTR_EL2 (non-VHE, D17.2.32): RES1 bits 13, 9, 7:0; TFP = 0 (FP/SIMD not trapped: the world switch saves
    // V0-V31/FPSR/FPCR); TZ = 1 (bit 8) and TSM = 1 (bit 12): SVE and SME are not context-switched, so their
    // instructions and ZCR/SMCR accesses trap (EC 0x19 / 0x1D) and are answered with UNDEF; ID_AA64PFR0.SVE and
    // ID_AA64PFR1.SME read 0 (TID3). Both bits are RES1 where the feature does not exist. TTA, TAM, TCPAC clear.
    // No ZCR_EL2 write: with TZ = 1 it would trap at EL2 itself.
    HV_WRITE_SYSREG(cptr_el2, 0x22ffu | (1u << 8) | (1u << 12));
    isb();
    // MDCR_EL2: no debug traps; the PMU belongs to the guest (HPMN = PMCR_EL0.N, no TPM/TPMCR) with EL2 not counted
    // (HPMD, HCCD): arch/aarch64/pmu.cpp.
    pmu_init_cpu();
    // CNTHCTL_EL2 (non-VHE, DDI0487 D19.11.4): EL1PCTEN = 1 (physical counter readable), EL1PCEN = 1 (EL1
    // physical timer not trapped). The guest owns both EL1 timers and both counters: CNTV_* / CNTVOFF_EL2 and
    // CNTP_* are switched per vCPU with the other EL1 registers (lazily: vCPUs are pinned 1:1); PPI 27 and 30 are
    // hardware-linked (vgic_glue). The hypervisor keeps the EL2 physical timer (CNTHP, PPI 26) for itself.
    HV_WRITE_SYSREG(cnthctl_el2, arm::cnthctl::EL1PCTEN::make(1) | arm::cnthctl::EL1PCEN::make(1));
    HV_WRITE_SYSREG(cntp_ctl_el0, 0);   // no stale EL1 physical timer from firmware before the first vCPU load
    HV_WRITE_SYSREG(cnthp_ctl_el2, 0);  // EL2 timer: wake-up at the guest's timer deadline only (vcpu_wait)
    HV_WRITE_SYSREG(vtcr_el2, st().vtcr);
    (void)pfr0;
    bool pauth = ((isar1 >> 4) & 0xff) != 0 || ((isar1 >> 24) & 0xff) != 0;  // APA/API or GPA/GPI
    st().hcr = kHcrBase | (pauth ? kHcrPauth : 0);
    vcpu_wait_init_cpu();
    isb();
}

Status vm_init_memory(Vm& vm) {
    unsigned ipa_bits = min(pa_bits(), 40u);
    HV_TRY(vm.stage2.init(table_pool(), Regime::stage2, ipa_bits));
    vm.memory.clear();
    // Guest RAM in 4 KiB pages, not 1 GiB / 2 MiB blocks, when the table pool holds them (2 MiB of tables per GiB,
    // from the spare hypervisor region: ~10 GiB of guest RAM) with kStage2Reserve pages left for the device
    // mappings and the SMMU. Under QEMU's TCG a block is the cheaper mapping on paper but not in time: QEMU records
    // a two-stage translation in its software TLB with the larger of the two page sizes, and a TLBI by VA that
    // falls inside such a "large page" flushes the whole EL1&0 TLB -- every guest TLBI VAE1IS (munmap, COW, page
    // reclaim) became a full flush and a storm of two-stage walks (docs/boot.md "Stage-2 granularity"). KVM maps
    // guest RAM in pages too unless it is backed by huge pages.
    u64 tables = 0;
    for (const MemRegion& r : vm.ram) tables += PageTable::page_map_tables(r.base, r.size);
    const bool pages = tables + kStage2Reserve <= table_pool_free_pages();
    for (const MemRegion& r : vm.ram) {
        HV_TRY(vm.stage2.map(r.base, r.base, r.size, {MemType::normal, true, true, /*blocks=*/!pages}));
        HV_TRY(vm.memory.add_region(r.base, r.size, reinterpret_cast<u8*>(r.base)));
    }
    if (pages)
        HV_LOG_INFO("stage 2: guest RAM in 4 KiB pages (%zu table pages, %zu left in the pool)",
                    vm.stage2.tables_allocated(), table_pool_free_pages());
    else
        HV_LOG_WARN(
            "stage 2: guest RAM in 1 GiB / 2 MiB blocks: %llu table pages for 4 KiB pages, %zu free in the pool",
            static_cast<unsigned long long>(tables), table_pool_free_pages());
    st().vtcr = make_vtcr(vm.stage2, parange_field());
    HV_WRITE_SYSREG(vtcr_el2, st().vtcr);
    isb();
    return Status::ok;
}

}  // namespace hv::arch
