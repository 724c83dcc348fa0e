#include "core/vcpu.hpp"

#include "core/esr.hpp"
#include "core/pmu.hpp"

namespace hv {

void vcpu_reset(Vcpu& v, u64 entry, u64 arg0) {
    const u64 cntvoff = v.ctx.sysreg(SysReg::CNTVOFF_EL2);  // el1::reset keeps it; the context is rebuilt here
    v.ctx = VcpuContext{};
    v.ctx.core.x[0] = arg0;
    v.ctx.core.pc = entry;
    v.ctx.core.pstate = pstate::kEl1hMasked;
    v.ctx.sysreg(SysReg::CNTVOFF_EL2) = cntvoff;
    // The EL1 register table's reset values (KVM's: SCTLR_EL1 0x00c50078 -- MMU, caches off, little endian).
    el1::reset(v.ctx.sys, v.mpidr);
    pmu::reset(v.ctx.pmu);
    v.pmu_dirty = true;  // the PMU restarts from its reset state too (KVM resets it with the vCPU)
    v.fp_dirty = true;
    v.sys_dirty = true;  // the CPU's EL1 registers (if any) belong to the old context
    v.sys_stale = false;
    v.restart_requested = false;
}

u64 el1_vector_offset(u64 spsr, VectorKind kind) {
    u64 mode = pstate::M::get(spsr);
    u64 base;
    if (mode == pstate::kEl1t)
        base = 0x000;  // current EL with SP_EL0
    else if (mode == pstate::kEl1h)
        base = 0x200;  // current EL with SP_ELx
    else
        base = 0x400;  // lower EL (EL0) using AArch64
    return base + 0x80 * static_cast<u64>(kind);
}

void inject_sync_exception(VcpuContext& c, u64 esr, u64 far, bool far_valid) {
    u64 old_pstate = c.core.pstate;
    c.sysreg(SysReg::ESR_EL1) = esr;
    if (far_valid) c.sysreg(SysReg::FAR_EL1) = far;
    c.core.elr_el1 = c.core.pc;
    c.core.spsr[0] = old_pstate;
    c.core.pc = (c.sysreg(SysReg::VBAR_EL1) & ~u64{0x7ff}) + el1_vector_offset(old_pstate, VectorKind::sync);
    // PSTATE on exception entry (DDI0487 D1.10.4): EL1h, D/A/I/F set; SS, IL cleared; PAN and others left as is
    // (we do not model FEAT_PAN's SPAN or SSBS's DSSBS: both keep their previous value here).
    u64 keep = old_pstate & (Bit<22>::field_mask /* PAN */ | Bit<12>::field_mask /* SSBS */);
    c.core.pstate = keep | pstate::kEl1hMasked;
}

void inject_undef(VcpuContext& c) {
    inject_sync_exception(c, esr::make(esr::ExceptionClass::unknown, true, 0), 0, false);
}

void inject_data_abort(VcpuContext& c, u64 far, bool write) {
    auto ec = from_el0(c) ? esr::ExceptionClass::dabt_lower : esr::ExceptionClass::dabt_current;
    u64 iss = esr::kFscSyncExternal | (write ? Bit<6>::make(1) : 0);  // DFSC = sync external abort, WnR
    inject_sync_exception(c, esr::make(ec, true, iss), far, true);
}

void inject_instruction_abort(VcpuContext& c, u64 far) {
    auto ec = from_el0(c) ? esr::ExceptionClass::iabt_lower : esr::ExceptionClass::iabt_current;
    inject_sync_exception(c, esr::make(ec, true, esr::kFscSyncExternal), far, true);
}

}  // namespace hv
