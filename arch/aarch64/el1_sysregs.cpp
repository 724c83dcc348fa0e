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
#define HV_SAVE_vmpidr(name, enc) c.sys[static_cast<usize>(SysReg::name)] = HV_READ_SYSREG(vmpidr_el2)
#define HV_LOAD_vmpidr(name, enc) \
    HV_WRITE_SYSREG(vmpidr_el2, c.sys[static_cast<usize>(SysReg::name)] | arm::mpidr::kRes1)
#define HV_SAVE_ONE(name, op0, op1, crn, crm, op2, reset, access) \
    HV_SAVE_##access(name, HV_SYSREG_NAME(op0, op1, crn, crm, op2));
#define HV_LOAD_ONE(name, op0, op1, crn, crm, op2, reset, access) \
    HV_LOAD_##access(name, HV_SYSREG_NAME(op0, op1, crn, crm, op2));

void save_sysregs(VcpuContext& c) { HV_EL1_REGS(HV_SAVE_ONE) }
void load_sysregs(const VcpuContext& c) { HV_EL1_REGS(HV_LOAD_ONE) }

#undef HV_SAVE_ONE
#undef HV_LOAD_ONE
#undef HV_SAVE_el1
#undef HV_LOAD_el1
#undef HV_SAVE_el2
#undef HV_LOAD_el2
#undef HV_SAVE_kvm_swap
#undef HV_LOAD_kvm_swap
#undef HV_SAVE_vmpidr
#undef HV_LOAD_vmpidr
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
