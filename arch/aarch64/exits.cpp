// Exit handlers of the vCPU run loop: HVC/SMC -> hypercall hooks, SDEI, firmware (psci/); stage-2 data aborts ->
// the VM's MmioBus; WFI -> the wait; trapped MSR/MRS -> sysreg_trap.cpp; anything else -> UNDEF.
#include "arch/aarch64/anchor.hpp"
#include "arch/aarch64/asm_defs.h"
#include "arch/aarch64/exit_stats.hpp"
#include "arch/aarch64/gic.hpp"
#include "arch/aarch64/percpu.hpp"
#include "arch/aarch64/sysreg.hpp"
#include "arch/aarch64/vcpu_internal.hpp"
#include "arch/aarch64/vm_reset.hpp"
#include "arch/aarch64/vm_run.hpp"
#include "lib/log.hpp"
#include "psci/ids.hpp"

namespace hv::arch {

namespace {

void handle_firmware(Vm& vm, Vcpu& v, bool smc) {
    const u32 fid = static_cast<u32>(v.ctx.core.x[0]);
    if (smc) advance_pc(v.ctx);  // ELR_EL2 points at the trapped SMC; HVC's preferred return is past it
    // The devices' calls first (snapshot save, SDEI: DEN0054 needs the whole context, not just x0..x17), with the
    // whole context in ctx. The firmware itself only sees x0..x17 (call_firmware); finish_firmware syncs the
    // context for the calls that act on it.
    if (vm.devices().claims_hypercall(fid)) {
        (void)sys_for_write(v);
        if (vm.devices().hypercall(vm, v)) return;
    }
    finish_firmware(vm, v, call_firmware(vm, v), fid);
}

}  // namespace

bool emulate_mmio(Vm& vm, Vcpu& v, const esr::DataAbort& d, u64 ipa) {
    u64 value = d.write ? read_gpr(v.ctx, d.srt) & mmio_width_mask(d) : 0;
    if (vm.mmio.dispatch(v.id, ipa, d.access_size, d.write, value) != MmioResult::ok) return false;
    if (!d.write) mmio_read_done(v.ctx, d, value);
    advance_pc(v.ctx);
    return true;
}

void finish_firmware(Vm& vm, Vcpu& v, psci::FirmwareExit exit, u32 fid) {
    if (exit == psci::FirmwareExit::resume) return;
    // Suspend, CPU_OFF, SYSTEM_OFF / RESET may read or replace the whole context (vcpu_reset, VM reset).
    (void)sys_for_write(v);
    switch (exit) {
        case psci::FirmwareExit::resume:
            break;
        case psci::FirmwareExit::vcpu_suspend: {
            // Standby and power down both wait for a wake-up event like WFI (DEN0022D 5.4.2: a spurious wake-up
            // is allowed). Standby then returns SUCCESS after the call; power down restarts at the entry point.
            (void)vcpu_wait_for_interrupt(v);
            if (reset_requested()) break;  // the VM is being reset: this context is about to be replaced
            psci::SuspendRequest req = vm.firmware.suspend_request(v.id);
            if (req.power_down) {
                vcpu_reset(v, req.entry, req.context_id);
                v.state.store(VcpuState::running, MemoryOrder::release);
            }
            break;
        }
        case psci::FirmwareExit::vcpu_off:
            vcpu_power_off(v);
            break;
        case psci::FirmwareExit::system_off:
            HV_LOG_INFO("guest requested SYSTEM_OFF: powering off");
            log_exit_stats();
            machine_system_off();
        case psci::FirmwareExit::system_reset: {
            // SYSTEM_RESET (0x84000009) or SYSTEM_RESET2 (0x84000012 / 0xC4000012, DEN0022D 5.19): a VM reset,
            // never a machine reset.
            const ResetReason reason = psci::FidNumber::get(fid) == psci::FidNumber::get(psci::kSystemReset2)
                                           ? ResetReason::system_reset2
                                           : ResetReason::system_reset;
            HV_LOG_INFO("guest requested %s (type %#x): resetting the VM",
                        reason == ResetReason::system_reset2 ? "SYSTEM_RESET2" : "SYSTEM_RESET",
                        vm.firmware.reset_type());
            log_exit_stats();
            vm_system_reset(vm, v, reason);
            break;
        }
    }
}

namespace {

void handle_data_abort(Vm& vm, Vcpu& v, u64 esr) {
    auto d = esr::DataAbort::from_esr(esr);
    u64 far = HV_READ_SYSREG(far_el2);
    u64 ipa = esr::fault_ipa(HV_READ_SYSREG(hpfar_el2), far);
    bool unmapped = d.is_translation_fault() || d.is_access_flag_fault();
    if (!unmapped || !d.emulatable()) {
        HV_LOG_RATELIMITED(warn, "vcpu%u: %s at IPA 0x%llx (ESR 0x%llx, PC 0x%llx) not emulatable: external abort",
                           v.id, d.write ? "write" : "read", static_cast<unsigned long long>(ipa),
                           static_cast<unsigned long long>(esr), static_cast<unsigned long long>(v.ctx.core.pc));
        inject_data_abort(sys_for_write(v), far, d.write);
        return;
    }
    if (!emulate_mmio(vm, v, d, ipa)) {
        HV_LOG_RATELIMITED(warn, "vcpu%u: %s of %u bytes at unclaimed IPA 0x%llx (PC 0x%llx): external abort", v.id,
                           d.write ? "write" : "read", d.access_size, static_cast<unsigned long long>(ipa),
                           static_cast<unsigned long long>(v.ctx.core.pc));
        inject_data_abort(sys_for_write(v), far, d.write);
    }
}

void handle_sync(Vm& vm, Vcpu& v) {
    u64 esr = HV_READ_SYSREG(esr_el2);
    ExitStats& st = this_cpu().exits;
    {
        using esr::ExceptionClass;
        const ExceptionClass ec = esr::exception_class(esr);
        count_exit(ec == ExceptionClass::hvc64        ? st.hvc
                   : ec == ExceptionClass::smc64      ? st.smc
                   : ec == ExceptionClass::dabt_lower ? st.dabt
                   : ec == ExceptionClass::sysreg     ? st.sysreg
                   : ec == ExceptionClass::wfx        ? st.wfi
                                                      : st.other);
    }
    switch (esr::exception_class(esr)) {
        case esr::ExceptionClass::hvc64:
            handle_firmware(vm, v, false);
            return;
        case esr::ExceptionClass::smc64:
            handle_firmware(vm, v, true);
            return;
        case esr::ExceptionClass::dabt_lower:
            handle_data_abort(vm, v, esr);
            return;
        case esr::ExceptionClass::sysreg:
            handle_sysreg(v, esr);
            return;
        case esr::ExceptionClass::wfx: {
            // HCR_EL2.TWI: WFI (and WFIT, whose timeout we do not honour: ID_AA64ISAR2.WFxT is hidden) idles the
            // pCPU until an interrupt for this vCPU. WFE is not trapped (TWE = 0); if it ever is, it is a hint.
            advance_pc(v.ctx);
            if (!esr::Wfx::from_esr(esr).wfe) {
                const u64 t0 = HV_READ_SYSREG(cntpct_el0);
                (void)vcpu_wait_for_interrupt(v);
                count_exit(st.wfi_wait_ns, HV_READ_SYSREG(cntpct_el0) - t0);  // counter ticks; scaled when logged
            }
            return;
        }
        case esr::ExceptionClass::iabt_lower: {
            u64 far = HV_READ_SYSREG(far_el2);
            HV_LOG_RATELIMITED(warn, "vcpu%u: instruction fetch from unmapped IPA 0x%llx: external abort", v.id,
                               static_cast<unsigned long long>(esr::fault_ipa(HV_READ_SYSREG(hpfar_el2), far)));
            inject_instruction_abort(sys_for_write(v), far);
            return;
        }
        case esr::ExceptionClass::unknown:
        case esr::ExceptionClass::fp_simd:
        case esr::ExceptionClass::sve:  // CPTR_EL2.TZ: SVE is not offered (hidden in ID_AA64PFR0): UNDEF
        case esr::ExceptionClass::sme:  // CPTR_EL2.TSM: SME likewise (ID_AA64PFR1)
        case esr::ExceptionClass::iabt_current:
        case esr::ExceptionClass::pc_alignment:
        case esr::ExceptionClass::dabt_current:
        case esr::ExceptionClass::sp_alignment:
        case esr::ExceptionClass::fp_exception:
        case esr::ExceptionClass::serror:
        case esr::ExceptionClass::breakpoint_lower:
        case esr::ExceptionClass::step_lower:
        case esr::ExceptionClass::watchpoint_lower:
        case esr::ExceptionClass::brk64:
            break;
    }
    HV_LOG_RATELIMITED(warn, "vcpu%u: unexpected trap EC 0x%02llx (%s) ESR 0x%llx at PC 0x%llx: UNDEF", v.id,
                       static_cast<unsigned long long>(esr::Ec::get(esr)), esr::ec_name(esr),
                       static_cast<unsigned long long>(esr), static_cast<unsigned long long>(v.ctx.core.pc));
    inject_undef(sys_for_write(v));
}

}  // namespace

void handle_exit(Vm& vm, Vcpu& v, u64 reason) {
    switch (reason) {
        case HV_EXIT_SYNC:
            handle_sync(vm, v);
            break;
        case HV_EXIT_HANDLED:      // the fast path handled it (fast_exit.cpp); the loop syncs the vGIC before entry
        case HV_EXIT_IRQ_HANDLED:  // the fast path took the IRQs (and folded); the loop does the entry
            break;
        case HV_EXIT_FIRMWARE:  // the fast path made a firmware call that does not simply return
            finish_firmware(vm, v, this_cpu().fast_fw_exit, this_cpu().fast_fw_fid);
            break;
        case HV_EXIT_IRQ:
        case HV_EXIT_FIQ:
            count_exit(this_cpu().exits.irq);
            (void)gic_handle_irqs();
            break;
        case HV_EXIT_SERROR:
            HV_LOG_RATELIMITED(warn, "vcpu%u: SError (ESR 0x%llx) at PC 0x%llx: ignored", v.id,
                               static_cast<unsigned long long>(HV_READ_SYSREG(esr_el2)),
                               static_cast<unsigned long long>(v.ctx.core.pc));
            break;
        default:
            HV_LOG_RATELIMITED(error, "vcpu%u: exit from AArch32 state: UNDEF", v.id);
            inject_undef(sys_for_write(v));
            break;
    }
}

}  // namespace hv::arch
