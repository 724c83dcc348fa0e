// The guest's EL1 system registers between the CPU and VcpuContext::sys, switched lazily (vCPUs are pinned 1:1).
#include "arch/aarch64/sysreg.hpp"
#include "arch/aarch64/vcpu_internal.hpp"

namespace hv::arch {

// --- EL1 system-register switch (order of SysReg does not matter here: each is named) ---
#define HV_SAVE(reg, name) c.sys[static_cast<usize>(SysReg::reg)] = HV_READ_SYSREG(name)
#define HV_LOAD(reg, name) HV_WRITE_SYSREG(name, c.sys[static_cast<usize>(SysReg::reg)])

void save_sysregs(VcpuContext& c) {
    HV_SAVE(SCTLR_EL1, sctlr_el1);
    HV_SAVE(ACTLR_EL1, actlr_el1);
    HV_SAVE(CPACR_EL1, cpacr_el1);
    HV_SAVE(TTBR0_EL1, ttbr0_el1);
    HV_SAVE(TTBR1_EL1, ttbr1_el1);
    HV_SAVE(TCR_EL1, tcr_el1);
    HV_SAVE(ESR_EL1, esr_el1);
    HV_SAVE(AFSR0_EL1, afsr0_el1);
    HV_SAVE(AFSR1_EL1, afsr1_el1);
    HV_SAVE(FAR_EL1, far_el1);
    HV_SAVE(MAIR_EL1, mair_el1);
    HV_SAVE(AMAIR_EL1, amair_el1);
    HV_SAVE(VBAR_EL1, vbar_el1);
    HV_SAVE(CONTEXTIDR_EL1, contextidr_el1);
    HV_SAVE(TPIDR_EL0, tpidr_el0);
    HV_SAVE(TPIDRRO_EL0, tpidrro_el0);
    HV_SAVE(TPIDR_EL1, tpidr_el1);
    HV_SAVE(PAR_EL1, par_el1);
    HV_SAVE(CNTKCTL_EL1, cntkctl_el1);
    HV_SAVE(CSSELR_EL1, csselr_el1);
    HV_SAVE(MDSCR_EL1, mdscr_el1);
    HV_SAVE(MPIDR_EL1, vmpidr_el2);
    HV_SAVE(CNTV_CTL_EL0, cntv_ctl_el0);
    HV_SAVE(CNTV_CVAL_EL0, cntv_cval_el0);
    HV_SAVE(CNTVOFF_EL2, cntvoff_el2);
    HV_SAVE(CNTP_CTL_EL0, cntp_ctl_el0);
    HV_SAVE(CNTP_CVAL_EL0, cntp_cval_el0);
}

void load_sysregs(const VcpuContext& c) {
    HV_LOAD(SCTLR_EL1, sctlr_el1);
    HV_LOAD(ACTLR_EL1, actlr_el1);
    HV_LOAD(CPACR_EL1, cpacr_el1);
    HV_LOAD(TTBR0_EL1, ttbr0_el1);
    HV_LOAD(TTBR1_EL1, ttbr1_el1);
    HV_LOAD(TCR_EL1, tcr_el1);
    HV_LOAD(ESR_EL1, esr_el1);
    HV_LOAD(AFSR0_EL1, afsr0_el1);
    HV_LOAD(AFSR1_EL1, afsr1_el1);
    HV_LOAD(FAR_EL1, far_el1);
    HV_LOAD(MAIR_EL1, mair_el1);
    HV_LOAD(AMAIR_EL1, amair_el1);
    HV_LOAD(VBAR_EL1, vbar_el1);
    HV_LOAD(CONTEXTIDR_EL1, contextidr_el1);
    HV_LOAD(TPIDR_EL0, tpidr_el0);
    HV_LOAD(TPIDRRO_EL0, tpidrro_el0);
    HV_LOAD(TPIDR_EL1, tpidr_el1);
    HV_LOAD(PAR_EL1, par_el1);
    HV_LOAD(CNTKCTL_EL1, cntkctl_el1);
    HV_LOAD(CSSELR_EL1, csselr_el1);
    HV_LOAD(MDSCR_EL1, mdscr_el1);
    // MPIDR_EL1 as the guest sees it: RES1 bit 31 plus the affinity.
    HV_WRITE_SYSREG(vmpidr_el2, c.sys[static_cast<usize>(SysReg::MPIDR_EL1)] | (1ull << 31));
    HV_LOAD(CNTVOFF_EL2, cntvoff_el2);
    HV_LOAD(CNTV_CVAL_EL0, cntv_cval_el0);
    HV_LOAD(CNTV_CTL_EL0, cntv_ctl_el0);
    // The EL1 physical timer is the guest's alone (CNTHCTL_EL2.EL1PCEN = 1; the hypervisor uses CNTHP): compare
    // value first, so enabling never fires on the previous compare value.
    HV_LOAD(CNTP_CVAL_EL0, cntp_cval_el0);
    HV_LOAD(CNTP_CTL_EL0, cntp_ctl_el0);
}
#undef HV_SAVE
#undef HV_LOAD

// Lazy EL1 system registers (the vcpu_load/vcpu_put idea): accesses from another pCPU (VM reset, snapshot
// save/restore) happen with the vCPU parked, and it syncs and marks itself dirty before parking (vcpu_loop).
void sys_sync(Vcpu& v) {
    if (!v.sys_stale) return;
    save_sysregs(v.ctx);
    v.sys_stale = false;
}
// ctx.sys up to date and reloaded at the next entry: for any path that may write it.
VcpuContext& sys_for_write(Vcpu& v) {
    sys_sync(v);
    v.sys_dirty = true;
    return v.ctx;
}

}  // namespace hv::arch
