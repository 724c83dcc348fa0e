// The guest's EL1 system registers between the CPU and VcpuContext::sys, switched lazily (vCPUs are pinned 1:1).
#include "arch/aarch64/sysreg.hpp"
#include "arch/aarch64/vcpu_internal.hpp"
#include "core/el1_regs.hpp"

namespace hv::arch {

// --- EL1 system-register switch: generated from the EL1 register table (core/el1_regs.hpp) ---
// One MRS/MSR per register by its generic name S<op0>_<op1>_C<n>_C<m>_<op2>; MPIDR_EL1 goes through VMPIDR_EL2 with
// its RES1 bit 31. Loads run in table order: CNTVOFF_EL2 and each compare value before the timer's control register,
// so enabling a timer never fires on a stale value (the EL1 physical timer is the guest's alone: CNTHCTL_EL2.EL1PCEN).
#define HV_SYSREG_NAME(op0, op1, crn, crm, op2) "S" #op0 "_" #op1 "_C" #crn "_C" #crm "_" #op2
#define HV_SAVE_el1(name, enc) asm volatile("mrs %0, " enc : "=r"(c.sys[static_cast<usize>(SysReg::name)]))
#define HV_LOAD_el1(name, enc) asm volatile("msr " enc ", %0" ::"r"(c.sys[static_cast<usize>(SysReg::name)]) : "memory")
#define HV_SAVE_el2 HV_SAVE_el1
#define HV_LOAD_el2 HV_LOAD_el1
#define HV_SAVE_kvm_swap HV_SAVE_el1
#define HV_LOAD_kvm_swap HV_LOAD_el1
#define HV_SAVE_shadow(name, enc)  // trapped (HCR_EL2.TACR), never in the CPU
#define HV_LOAD_shadow(name, enc)
#define HV_SAVE_vmpidr(name, enc) c.sys[static_cast<usize>(SysReg::name)] = HV_READ_SYSREG(vmpidr_el2)
#define HV_LOAD_vmpidr(name, enc) \
    HV_WRITE_SYSREG(vmpidr_el2, c.sys[static_cast<usize>(SysReg::name)] | arm::mpidr::kRes1)
// OSLSR_EL1: the OS lock is set and cleared through OSLAR_EL1.OSLK (DDI0487 D19.3: OSLSR_EL1.OSLK is bit 1).
#define HV_SAVE_oslsr HV_SAVE_el1
#define HV_LOAD_oslsr(name, enc) HV_WRITE_SYSREG(oslar_el1, (c.sys[static_cast<usize>(SysReg::name)] >> 1) & 1)
// Breakpoint / watchpoint n (= CRm) only if the hardware has it (ID_AA64DFR0_EL1.BRPs / WRPs + 1).
#define HV_SAVE_dbg_bp(name, enc, n) \
    if ((n) < dbg.brps) HV_SAVE_el1(name, enc)
#define HV_LOAD_dbg_bp(name, enc, n) \
    if ((n) < dbg.brps) HV_LOAD_el1(name, enc)
#define HV_SAVE_dbg_wp(name, enc, n) \
    if ((n) < dbg.wrps) HV_SAVE_el1(name, enc)
#define HV_LOAD_dbg_wp(name, enc, n) \
    if ((n) < dbg.wrps) HV_LOAD_el1(name, enc)
#define HV_ARGS_el1(name, enc, n) (name, enc)
#define HV_ARGS_el2 HV_ARGS_el1
#define HV_ARGS_kvm_swap HV_ARGS_el1
#define HV_ARGS_vmpidr HV_ARGS_el1
#define HV_ARGS_oslsr HV_ARGS_el1
#define HV_ARGS_shadow HV_ARGS_el1
#define HV_ARGS_dbg_bp(name, enc, n) (name, enc, n)
#define HV_ARGS_dbg_wp HV_ARGS_dbg_bp
#define HV_APPLY(m, args) m args  // `args` is expanded first: each access kind takes the arguments it needs
#define HV_SAVE_ONE(name, op0, op1, crn, crm, op2, reset, access) \
    HV_APPLY(HV_SAVE_##access, HV_ARGS_##access(name, HV_SYSREG_NAME(op0, op1, crn, crm, op2), crm));
#define HV_LOAD_ONE(name, op0, op1, crn, crm, op2, reset, access) \
    HV_APPLY(HV_LOAD_##access, HV_ARGS_##access(name, HV_SYSREG_NAME(op0, op1, crn, crm, op2), crm));

namespace {

struct DebugCounts {
    u32 brps, wrps;
};
DebugCounts debug_counts() {
    const u64 dfr0 = HV_READ_SYSREG(id_aa64dfr0_el1);
    return {static_cast<u32>(((dfr0 >> 12) & 0xf) + 1), static_cast<u32>(((dfr0 >> 20) & 0xf) + 1)};  // BRPs, WRPs
}

}  // namespace

void save_sysregs(VcpuContext& c) {
    const DebugCounts dbg = debug_counts();
    HV_EL1_REGS(HV_SAVE_ONE)
}
void load_sysregs(const VcpuContext& c) {
    const DebugCounts dbg = debug_counts();
    HV_EL1_REGS(HV_LOAD_ONE)
}

#undef HV_SAVE_ONE
#undef HV_LOAD_ONE
#undef HV_SAVE_el1
#undef HV_LOAD_el1
#undef HV_SAVE_el2
#undef HV_LOAD_el2
#undef HV_SAVE_kvm_swap
#undef HV_LOAD_kvm_swap
#undef HV_SAVE_shadow
#undef HV_LOAD_shadow
#undef HV_ARGS_shadow
#undef HV_SAVE_vmpidr
#undef HV_LOAD_vmpidr
#undef HV_SAVE_oslsr
#undef HV_LOAD_oslsr
#undef HV_SAVE_dbg_bp
#undef HV_LOAD_dbg_bp
#undef HV_SAVE_dbg_wp
#undef HV_LOAD_dbg_wp
#undef HV_ARGS_el1
#undef HV_ARGS_el2
#undef HV_ARGS_kvm_swap
#undef HV_ARGS_vmpidr
#undef HV_ARGS_oslsr
#undef HV_ARGS_dbg_bp
#undef HV_ARGS_dbg_wp
#undef HV_APPLY
#undef HV_SYSREG_NAME

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
