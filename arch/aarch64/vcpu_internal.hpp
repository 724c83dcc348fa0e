// Internals of the vCPU run loop, shared by its files (one purpose each): el2_config.cpp (trap set-up), el1_sysregs.cpp
// (the lazy EL1 register switch), vcpu_loop.cpp (the loop, the wait, start/kick), exits.cpp (exit handlers),
// sysreg_trap.cpp (trapped MSR/MRS), exit_stats.cpp (counters). Nothing outside the run loop includes this.
#pragma once

#include "core/esr.hpp"
#include "core/id_regs.hpp"
#include "psci/firmware.hpp"
#include "vm/vm.hpp"

namespace hv::arch {

// --- el1_sysregs.cpp: the guest's EL1 system registers between the CPU and VcpuContext::sys ---
void save_sysregs(VcpuContext& c);
void load_sysregs(const VcpuContext& c);
// Lazy EL1 system registers (the vcpu_load/vcpu_put idea): the guest's EL1 registers stay in the CPU across exits
// and are only saved when something reads ctx.sys, and only loaded when ctx.sys was changed (Vcpu::sys_dirty /
// sys_stale). Both run on the vCPU's own pCPU.
void sys_sync(Vcpu& v);
// ctx.sys up to date and reloaded at the next entry: for any path that may write it.
VcpuContext& sys_for_write(Vcpu& v);

// --- el2_config.cpp ---
// HCR_EL2 for running guests on this pCPU (hyp_init_cpu).
u64 guest_hcr();
// The boot pCPU's ID registers and the guest's IPA size, for the sanitised ID registers (core/id_regs.hpp).
const idreg::HostIdRegs& host_id_regs();
unsigned guest_ipa_bits();

// --- vcpu_loop.cpp ---
// Per pCPU (hyp_init_cpu): the handlers of the kick / stop SGIs and of the EL2 timer that wakes a waiting vCPU.
void vcpu_wait_init_cpu();
// PSCI CPU_OFF of `v` on its own pCPU: off, or pending again if a CPU_ON raced with it (start_vcpu).
void vcpu_power_off(Vcpu& v);

// --- exits.cpp ---
// One exit of `v` (`reason`: HV_EXIT_*, vectors.S), handled on its pCPU.
void handle_exit(Vm& vm, Vcpu& v, u64 reason);
// The bits of an MMIO access of the width `d` decodes.
inline u64 mmio_width_mask(const esr::DataAbort& d) {
    return d.access_size >= 8 ? ~u64{0} : (u64{1} << (d.access_size * 8)) - 1;
}
// An emulated MMIO read's `value` into its register: truncated to the access, sign-extended (LDRS*), 32-bit for a W
// register (DDI0487 D17.2.40 ISS: SAS, SSE, SRT, SF).
inline void mmio_read_done(VcpuContext& c, const esr::DataAbort& d, u64 value) {
    value &= mmio_width_mask(d);
    if (d.sign_extend && d.access_size < 8) {
        const u64 sign = u64{1} << (d.access_size * 8 - 1);
        value = (value ^ sign) - sign;
    }
    if (!d.sf) value &= 0xffffffffull;
    write_gpr(c, d.srt, value);
}
// A stage-2 data abort on an MMIO frame of the VM's bus (the access decoded in `d`): the access done, the result in
// its register, the PC past it. False (and nothing done) if no frame claims it.
bool emulate_mmio(Vm& vm, Vcpu& v, const esr::DataAbort& d, u64 ipa);
// A firmware call (HVC/SMC) no device claimed: the firmware model sees x0..x17 and sets x0..x3. In place: the
// firmware reads and writes the saved context (FirmwareCall is may_alias), no copy on every HVC
// (docs/benchmarks-exits.md); inline for the exit fast path.
inline psci::FirmwareExit call_firmware(Vm& vm, Vcpu& v) {
    static_assert(sizeof(psci::FirmwareCall) <= sizeof(v.ctx.core.x) && alignof(psci::FirmwareCall) == alignof(u64));
    return vm.firmware.handle(v.id, *reinterpret_cast<psci::FirmwareCall*>(v.ctx.core.x));
}
// What a firmware call's exit asks of the vCPU beyond its results (suspend, CPU_OFF, SYSTEM_OFF / RESET).
void finish_firmware(Vm& vm, Vcpu& v, psci::FirmwareExit exit, u32 fid);

// --- sysreg_trap.cpp ---
// A trapped MSR/MRS (EC 0x18): ID registers, the hooks, RAZ/WI for SGI registers without a vGIC, UNDEF otherwise.
void handle_sysreg(Vcpu& v, u64 esr);

}  // namespace hv::arch
