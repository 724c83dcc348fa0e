#include "arch/aarch64/vm_run.hpp"

#include "arch/aarch64/console.hpp"
#include "arch/aarch64/gic.hpp"
#include "arch/aarch64/msi_passthrough.hpp"
#include "arch/aarch64/mmu.hpp"
#include "arch/aarch64/panic.hpp"
#include "arch/aarch64/percpu.hpp"
#include "arch/aarch64/pmu.hpp"
#include "arch/aarch64/sysreg.hpp"
#include "arch/aarch64/vm_reset.hpp"
#include "arch/aarch64/sdei_glue.hpp"
#include "arch/aarch64/smmu.hpp"
#include "arch/aarch64/vgic_glue.hpp"
#include "lib/assert.hpp"
#include "lib/log.hpp"
#include "lib/spinlock.hpp"
#include "core/id_regs.hpp"
#include "core/reglist/pmu_regs.hpp"
#include "core/reglist/vcpu_regs.hpp"
#include "psci/fw_registers.hpp"

// Placement new (no <new> in the freestanding build).

extern "C" hv::u64 hv_enter_guest(hv::VcpuContext* ctx, hv::u64 load_fp);  // vectors.S

namespace hv::arch {

namespace {

// The VM: the one object that owns every guest-visible model (vm/vm.hpp), constructed by create_vm().
constinit InPlace<Vm> g_vm;
VcpuHooks g_hooks;
Spinlock g_start_lock;

// HCR_EL2 (DDI0487 D17.2.48): VM (stage 2 on), SWIO (set/way invalidate as clean+invalidate), FMO/IMO/AMO (physical
// FIQ/IRQ/SError to EL2, virtual ones to the guest), FB (broadcast TLB/IC maintenance inside the inner shareable
// domain), BSU = inner shareable, TSC (trap SMC: the guest's firmware calls come to us), TID3 (ID registers read
// through guest_id_value: hidden features, core/id_regs.hpp), TWI (a guest WFI idles the pCPU in vcpu_wait until an
// interrupt for the vCPU), RW (EL1 is AArch64).
// Not set: TWE (WFE is a short spin-wait hint; trapping it costs more than it saves), TVM/TRVM, TSW, TACR, TIDCP,
// TGE, E2H.
constexpr u64 kHcrVm = 1ull << 0, kHcrSwio = 1ull << 1, kHcrFmo = 1ull << 3, kHcrImo = 1ull << 4,
              kHcrAmo = 1ull << 5, kHcrFb = 1ull << 9, kHcrBsuIs = 1ull << 10, kHcrTwi = 1ull << 13,
              kHcrTsc = 1ull << 19, kHcrTid3 = 1ull << 18, kHcrRw = 1ull << 31;
constexpr u64 kHcrBase =
    kHcrVm | kHcrSwio | kHcrFmo | kHcrImo | kHcrAmo | kHcrFb | kHcrBsuIs | kHcrTwi | kHcrTsc | kHcrTid3 | kHcrRw;
constexpr u64 kHcrApi = 1ull << 41, kHcrApk = 1ull << 40;
u64 g_hcr = kHcrBase;
u64 g_vtcr = 0;
idreg::HostIdRegs g_host_ids;  // the boot pCPU's ID registers (hyp_init_cpu)
unsigned g_ipa_bits = 40;
// Forward console input to the emulated UART (polled on exits of vCPU 0).

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

// Lazy EL1 system registers (the vcpu_load/vcpu_put idea): the guest's EL1 registers stay in the CPU across exits
// and are only saved when something reads ctx.sys, and only loaded when ctx.sys was changed (Vcpu::sys_dirty /
// sys_stale). Both helpers run on the vCPU's own pCPU. Accesses from another pCPU (VM reset, snapshot save/restore)
// happen with the vCPU parked, and it syncs and marks itself dirty before parking (vcpu_loop).
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

// --- firmware (psci/) ---
class VmFirmwarePlatform final : public psci::FirmwarePlatform {
public:
    u32 vcpu_count() const override { return g_vm->vcpu_count; }
    u64 vcpu_mpidr(u32 vcpu) const override { return vcpu < g_vm->vcpu_count ? g_vm->vcpus[vcpu].mpidr : 0; }
    Status start_vcpu(u32 vcpu, u64 entry, u64 context_id) override {
        return arch::start_vcpu(vcpu, entry, context_id);
    }
    bool random64(u64& out) override {
        if (((HV_READ_SYSREG(id_aa64isar0_el1) >> 60) & 0xf) == 0) return false;  // no FEAT_RNG
        u64 v, ok;
        // RNDR (S3_3_C2_C4_0): NZCV = 0b0100 on failure.
        asm volatile("mrs %0, s3_3_c2_c4_0\n cset %1, ne" : "=r"(v), "=r"(ok)::"cc");
        out = v;
        return ok != 0;
    }
};
constinit VmFirmwarePlatform g_fw_platform;

class CounterClock final : public Clock {
public:
    u64 now() const override { return HV_READ_SYSREG(cntpct_el0); }
    u64 frequency() const override { return HV_READ_SYSREG(cntfrq_el0); }
};
constinit CounterClock g_clock;

// --- waiting for an interrupt (WFI, CPU_SUSPEND, vCPU off) ---
constexpr u32 kHypTimerPpi = 26;  // EL2 physical timer (Arm BSA / QEMU virt); the hypervisor's own

bool sgi_kick(u32, void*) { return true; }
bool sgi_stop(u32, void*) {
    if (panicking()) stop_this_cpu();
    return true;
}
// The EL2 timer only ever serves as a wake-up at the guest's next timer deadline: mask it when it fires.
bool hyp_timer_irq(u32, void*) {
    HV_WRITE_SYSREG(cnthp_ctl_el2, 0);
    return true;
}

// The physical-counter value at which an EL1 timer's output (ENABLE && !IMASK && ISTATUS) goes high; false if it
// is off, masked, or already high. `offset` converts its compare value to the physical counter: CNTVOFF_EL2 for
// the virtual timer (virtual = physical - CNTVOFF), 0 for the physical one (DDI0487 D11.2.4).
bool timer_deadline(u64 ctl, u64 cval, u64 offset, u64 now, u64& deadline) {
    if ((ctl & 3) != 1) return false;  // ENABLE = 1, IMASK = 0
    deadline = cval + offset;
    return static_cast<i64>(deadline - now) > 0;
}

// While the vCPU waits, the EL2 physical timer fires at the earlier of its two EL1 timers' deadlines, so a guest
// sleeping until its timer wakes up even before the vGIC delivers PPI 27 / 30. Not armed if neither timer will
// fire. Returns whether it was armed; `deadline` is then the physical-counter value at which a guest timer's
// condition holds.
bool arm_wakeup_timer(const Vcpu& v, u64& deadline) {
    const VcpuContext& c = v.ctx;
    const u64 now = HV_READ_SYSREG(cntpct_el0);
    u64 vdl = 0, pdl = 0;
    const bool virt = timer_deadline(c.sysreg(SysReg::CNTV_CTL_EL0), c.sysreg(SysReg::CNTV_CVAL_EL0),
                                     c.sysreg(SysReg::CNTVOFF_EL2), now, vdl);
    const bool phys = timer_deadline(c.sysreg(SysReg::CNTP_CTL_EL0), c.sysreg(SysReg::CNTP_CVAL_EL0), 0, now, pdl);
    if (!virt && !phys) return false;
    deadline = !phys ? vdl : !virt ? pdl : static_cast<i64>(vdl - pdl) <= 0 ? vdl : pdl;
    HV_WRITE_SYSREG(cnthp_cval_el2, deadline);
    HV_WRITE_SYSREG(cnthp_ctl_el2, 1);
    isb();
    return true;
}

Vcpu* vcpu_on_this_cpu() { return this_cpu().vcpu; }

// Exit counters per vCPU (diagnostics: logged at SYSTEM_OFF / SYSTEM_RESET, read by tests/bench/linux-boot). Each
// vCPU's counters are only written by the pCPU running it; relaxed atomics keep the cross-CPU read well defined.
struct ExitStats {
    u64 irq = 0, hvc = 0, smc = 0, dabt = 0, sysreg = 0, wfi = 0, wfi_wait_ns = 0, other = 0;
};
ExitStats g_exit_stats[PlatformInfo::kMaxCpus];
void count_exit(u64& c, u64 n = 1) { __atomic_fetch_add(&c, n, __ATOMIC_RELAXED); }

void log_exit_stats() {
    u64 freq = HV_READ_SYSREG(cntfrq_el0);
    if (freq == 0) freq = 1;
    for (u32 i = 0; i < g_vm->vcpu_count && i < PlatformInfo::kMaxCpus; ++i) {
        const ExitStats& e = g_exit_stats[i];
        auto ld = [](const u64& c) { return static_cast<unsigned long long>(__atomic_load_n(&c, __ATOMIC_RELAXED)); };
        HV_LOG_INFO("stats: vcpu%u exits irq=%llu hvc=%llu smc=%llu dabt=%llu sysreg=%llu wfi=%llu other=%llu "
                    "wfi_idle_ms=%llu", i, ld(e.irq), ld(e.hvc), ld(e.smc), ld(e.dabt), ld(e.sysreg), ld(e.wfi),
                    ld(e.other), ld(e.wfi_wait_ns) * 1000 / freq);
    }
    msi_log_stats();
    smmu_log_stats();
    vgic_log_forwarded_spi_stats();
}

}  // namespace

Vm& the_vm() { return *g_vm; }
Vm& create_vm() { return g_vm.construct(); }
VcpuHooks& vcpu_hooks() { return g_hooks; }
psci::Firmware& vm_firmware() { return g_vm->firmware; }
reglist::RegisterCatalogue& vm_registers() { return g_vm->registers(); }

void kick_vcpu(u32 i) {
    Vcpu* v = g_vm->vcpu(i);
    if (v == nullptr) return;
    __atomic_store_n(&v->kick_pending, true, __ATOMIC_RELEASE);
    dsb_ish();
    Vcpu* self = vcpu_on_this_cpu();
    if (self != v) gic_send_sgi(kSgiKick, percpu(v->pcpu).mpidr);
}

namespace {
class ArchKicker final : public VcpuKicker {
public:
    void kick(u32 vcpu) override { kick_vcpu(vcpu); }
};
ArchKicker g_kicker;
}  // namespace

VcpuKicker& vcpu_kicker() { return g_kicker; }

bool vcpu_wait_for_interrupt(Vcpu& v) {
    // A wait ends only for a reason: a kick (start_vcpu, a VM reset, or an interrupt the vGIC made pending for this
    // vCPU; stale kicks are dropped at guest entry, see vcpu_loop), a deliverable pending interrupt (has_pending),
    // the earlier of the guest's two timer deadlines, a reset or a panic. A physical IRQ handled here is not a
    // reason by itself (the host UART's or another vCPU's device interrupt may have nothing for this vCPU): its
    // handler makes something pending or kicks, and the loop looks again. Without the vGIC's has_pending hook, any
    // physical IRQ counts. WFI wakes on a pending physical IRQ even while PSTATE.I masks it at EL2 (DDI0487
    // D1.6.2), so the check-then-sleep sequence cannot lose a wake-up: an SGI sent after the check stays pending and
    // ends the WFI at once.
    // A vCPU that is off (PSCI CPU_OFF, or never started) is woken by CPU_ON alone (DEN0022D 5.5): interrupts and
    // timers it left behind are no reason -- its EL1 timers keep running in the CPU (lazy switch) and a pending
    // PPI would otherwise end every wait at once, spinning the pCPU until CPU_ON.
    const bool off = __atomic_load_n(&v.state, __ATOMIC_ACQUIRE) == VcpuState::off;
    sys_sync(v);  // arm_wakeup_timer reads the timer registers from ctx.sys
    u64 deadline = 0;
    const bool timer_armed = !off && arm_wakeup_timer(v, deadline);
    bool woke = false;
    for (;;) {
        if (__atomic_exchange_n(&v.kick_pending, false, __ATOMIC_ACQ_REL)) break;
        if (!off && g_hooks.has_pending != nullptr && g_hooks.has_pending(v)) break;
        if (!off && sdei_has_pending(v)) break;  // an SDEI event ignores PSTATE.I: it ends the wait (docs/sdei.md)
        if (reset_requested() || panicking()) break;
        if (timer_armed && static_cast<i64>(deadline - HV_READ_SYSREG(cntpct_el0)) <= 0) {
            woke = true;  // a guest timer's condition holds: re-entry delivers PPI 27 / 30
            break;
        }
        wfi();
        if (gic_handle_irqs() > 0 && g_hooks.has_pending == nullptr) {
            woke = true;
            break;
        }
    }
    HV_WRITE_SYSREG(cnthp_ctl_el2, 0);
    return woke;
}

namespace {

void handle_firmware(Vm& vm, Vcpu& v, bool smc) {
    // Firmware calls and hypercall hooks (PSCI, snapshots, VM reset) may read or replace the whole context.
    (void)sys_for_write(v);
    psci::FirmwareCall call{};
    for (unsigned i = 0; i < 18; ++i) call.x[i] = v.ctx.core.x[i];
    const u32 fid = static_cast<u32>(call.x[0]);
    if (smc) advance_pc(v.ctx);  // ELR_EL2 points at the trapped SMC; HVC's preferred return is past it
    if (g_hooks.hypercall != nullptr && g_hooks.hypercall(vm, v)) return;
    if (sdei_handle_call(v)) return;  // SDEI (DEN0054): needs the whole context, not just x0..x17
    psci::FirmwareExit exit = g_vm->firmware.handle(v.id, call);
    for (unsigned i = 0; i < 4; ++i) v.ctx.core.x[i] = call.x[i];
    switch (exit) {
        case psci::FirmwareExit::resume: break;
        case psci::FirmwareExit::vcpu_suspend: {
            // Standby and power down both wait for a wake-up event like WFI (DEN0022D 5.4.2: a spurious wake-up
            // is allowed). Standby then returns SUCCESS after the call; power down restarts at the entry point.
            (void)vcpu_wait_for_interrupt(v);
            if (reset_requested()) break;  // the VM is being reset: this context is about to be replaced
            psci::SuspendRequest req = g_vm->firmware.suspend_request(v.id);
            if (req.power_down) {
                vcpu_reset(v, req.entry, req.context_id);
                v.state = VcpuState::running;
            }
            break;
        }
        case psci::FirmwareExit::vcpu_off: {
            LockGuard guard(g_start_lock);
            if (v.restart_requested) {  // a CPU_ON raced with this CPU_OFF (see start_vcpu)
                v.restart_requested = false;
                vcpu_reset(v, v.restart_entry, v.restart_context);
                __atomic_store_n(&v.state, VcpuState::pending, __ATOMIC_RELEASE);
            } else {
                __atomic_store_n(&v.state, VcpuState::off, __ATOMIC_RELEASE);
            }
            break;
        }
        case psci::FirmwareExit::system_off:
            HV_LOG_INFO("guest requested SYSTEM_OFF: powering off");
            log_exit_stats();
            machine_system_off();
        case psci::FirmwareExit::system_reset: {
            // SYSTEM_RESET (0x84000009) or SYSTEM_RESET2 (0x84000012 / 0xC4000012, DEN0022D 5.19): a VM reset,
            // never a machine reset.
            const ResetReason reason =
                (fid & 0xffff) == 0x12 ? ResetReason::system_reset2 : ResetReason::system_reset;
            HV_LOG_INFO("guest requested %s (type %#x): resetting the VM",
                        reason == ResetReason::system_reset2 ? "SYSTEM_RESET2" : "SYSTEM_RESET",
                        g_vm->firmware.reset_type());
            log_exit_stats();
            vm_system_reset(vm, v, reason);
            break;
        }
    }
}

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
    u64 width_mask = d.access_size >= 8 ? ~u64{0} : (u64{1} << (d.access_size * 8)) - 1;
    u64 value = d.write ? read_gpr(v.ctx, d.srt) & width_mask : 0;
    if (vm.mmio.dispatch(v.id, ipa, d.access_size, d.write, value) != MmioResult::ok) {
        HV_LOG_RATELIMITED(warn, "vcpu%u: %s of %u bytes at unclaimed IPA 0x%llx (PC 0x%llx): external abort", v.id,
                           d.write ? "write" : "read", d.access_size, static_cast<unsigned long long>(ipa),
                           static_cast<unsigned long long>(v.ctx.core.pc));
        inject_data_abort(sys_for_write(v), far, d.write);
        return;
    }
    if (!d.write) {
        value &= width_mask;
        if (d.sign_extend && d.access_size < 8) {
            u64 sign = u64{1} << (d.access_size * 8 - 1);
            value = (value ^ sign) - sign;
        }
        if (!d.sf) value &= 0xffffffffull;
        write_gpr(v.ctx, d.srt, value);
    }
    advance_pc(v.ctx);
}

void handle_sysreg(Vcpu& v, u64 esr) {
    auto s = esr::SysRegAccess::from_esr(esr);
    if (idreg::is_id_space(s.op0, s.op1, s.crn, s.crm)) {
        // HCR_EL2.TID3: the sanitised ID registers (core/id_regs.hpp). The ID registers are read-only: an MSR to
        // one of these encodings is UNDEFINED (and does not normally trap; be safe if it does).
        if (!s.read) {
            HV_LOG_RATELIMITED(warn, "vcpu%u: write to ID register S3_0_C0_C%u_%u: UNDEF", v.id, s.crm, s.op2);
            inject_undef(sys_for_write(v));
            return;
        }
        write_gpr(v.ctx, s.rt, idreg::guest_id_value(s.key(), g_host_ids, g_ipa_bits));
        advance_pc(v.ctx);
        return;
    }
    u64 value = s.read ? 0 : read_gpr(v.ctx, s.rt);
    if (g_hooks.sysreg != nullptr && g_hooks.sysreg(v, s, value)) {
        if (s.read) write_gpr(v.ctx, s.rt, value);
        advance_pc(v.ctx);
        return;
    }
    using K = esr::SysRegAccess;
    switch (s.key()) {
        // SGI generation without a vGIC: write-ignored.
        case K::sysreg_key(3, 0, 12, 11, 5):  // ICC_SGI1R_EL1
        case K::sysreg_key(3, 0, 12, 11, 6):  // ICC_ASGI1R_EL1
        case K::sysreg_key(3, 0, 12, 11, 7):  // ICC_SGI0R_EL1
            HV_LOG_RATELIMITED(debug, "vcpu%u: %s of trapped sysreg S%u_%u_C%u_C%u_%u: RAZ/WI", v.id,
                               s.read ? "read" : "write", s.op0, s.op1, s.crn, s.crm, s.op2);
            if (s.read) write_gpr(v.ctx, s.rt, 0);
            advance_pc(v.ctx);
            return;
        default: break;
    }
    HV_LOG_RATELIMITED(warn, "vcpu%u: %s of unhandled sysreg S%u_%u_C%u_C%u_%u at PC 0x%llx: UNDEF", v.id,
                       s.read ? "read" : "write", s.op0, s.op1, s.crn, s.crm, s.op2,
                       static_cast<unsigned long long>(v.ctx.core.pc));
    inject_undef(sys_for_write(v));
}

void handle_sync(Vm& vm, Vcpu& v) {
    u64 esr = HV_READ_SYSREG(esr_el2);
    ExitStats& st = g_exit_stats[v.id < PlatformInfo::kMaxCpus ? v.id : 0];
    {
        using esr::ExceptionClass;
        const ExceptionClass ec = esr::exception_class(esr);
        count_exit(ec == ExceptionClass::hvc64       ? st.hvc
                   : ec == ExceptionClass::smc64     ? st.smc
                   : ec == ExceptionClass::dabt_lower ? st.dabt
                   : ec == ExceptionClass::sysreg    ? st.sysreg
                   : ec == ExceptionClass::wfx       ? st.wfi
                                                     : st.other);
    }
    switch (esr::exception_class(esr)) {
        case esr::ExceptionClass::hvc64: handle_firmware(vm, v, false); return;
        case esr::ExceptionClass::smc64: handle_firmware(vm, v, true); return;
        case esr::ExceptionClass::dabt_lower: handle_data_abort(vm, v, esr); return;
        case esr::ExceptionClass::sysreg: handle_sysreg(v, esr); return;
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
        case esr::ExceptionClass::brk64: break;
    }
    HV_LOG_RATELIMITED(warn, "vcpu%u: unexpected trap EC 0x%02llx (%s) ESR 0x%llx at PC 0x%llx: UNDEF", v.id,
                       static_cast<unsigned long long>(esr::Ec::get(esr)), esr::ec_name(esr),
                       static_cast<unsigned long long>(esr), static_cast<unsigned long long>(v.ctx.core.pc));
    inject_undef(sys_for_write(v));
}


}  // namespace

void hyp_init_cpu() {
    u64 pfr0 = HV_READ_SYSREG(id_aa64pfr0_el1);
    u64 isar1 = HV_READ_SYSREG(id_aa64isar1_el1);
    if (this_cpu_index() == 0) {
        g_host_ids[idreg::HostReg::pfr0] = pfr0;
        g_host_ids[idreg::HostReg::pfr1] = HV_READ_SYSREG(id_aa64pfr1_el1);
        g_host_ids[idreg::HostReg::dfr0] = HV_READ_SYSREG(id_aa64dfr0_el1);
        g_host_ids[idreg::HostReg::isar0] = HV_READ_SYSREG(id_aa64isar0_el1);
        g_host_ids[idreg::HostReg::isar1] = isar1;
        g_host_ids[idreg::HostReg::isar2] = HV_READ_SYSREG(S3_0_C0_C6_2);  // ID_AA64ISAR2_EL1
        g_host_ids[idreg::HostReg::mmfr0] = HV_READ_SYSREG(id_aa64mmfr0_el1);
        g_host_ids[idreg::HostReg::mmfr1] = HV_READ_SYSREG(id_aa64mmfr1_el1);
        g_host_ids[idreg::HostReg::mmfr2] = HV_READ_SYSREG(S3_0_C0_C7_2);  // ID_AA64MMFR2_EL1
        g_ipa_bits = min(pa_bits(), 40u);
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
    HV_WRITE_SYSREG(cnthctl_el2, 3);
    HV_WRITE_SYSREG(cntp_ctl_el0, 0);   // no stale EL1 physical timer from firmware before the first vCPU load
    HV_WRITE_SYSREG(cnthp_ctl_el2, 0);  // EL2 timer: wake-up at the guest's timer deadline only (vcpu_wait)
    HV_WRITE_SYSREG(vtcr_el2, g_vtcr);
    (void)pfr0;
    bool pauth = ((isar1 >> 4) & 0xff) != 0 || ((isar1 >> 24) & 0xff) != 0;  // APA/API or GPA/GPI
    g_hcr = kHcrBase | (pauth ? (kHcrApi | kHcrApk) : 0);
    gic_set_handler(kSgiKick, sgi_kick, nullptr);
    gic_set_handler(kSgiStop, sgi_stop, nullptr);
    gic_set_handler(kHypTimerPpi, hyp_timer_irq, nullptr);
    gic_enable(kHypTimerPpi, true);
    isb();
}

Status vm_build(Vm& vm, VmConfig& cfg, VmPorts ports, psci::PsciVersion version) {
    // KVM creates a VM's vCPUs with or without KVM_ARM_VCPU_PSCI_0_2; the exact version is then a register write.
    cfg.firmware.psci_version = version == psci::PsciVersion::v0_1 ? psci::PsciVersion::v0_1 : psci::PsciVersion::v1_1;
    cfg.firmware.boot_vcpu = 0;
    cfg.pmu = pmu_config();  // no PMU registers without a PMUv3
    ports.firmware = &g_fw_platform;
    ports.sdei = &sdei_platform();
    ports.kicker = &vcpu_kicker();
    ports.clock = &g_clock;
    HV_TRY(build_vm(vm, cfg, ports));
    HV_TRY(sdei_vm_init(vm));
    // The same path a restore takes (docs/reglist.md): KVM_REG_ARM_PSCI_VERSION on the VM handle.
    return vm.registers().set_u64(reglist::Handle::vm(), psci::fwreg::kPsciVersion | reglist::kScopeVm,
                                  static_cast<u64>(version));
}

Status vm_init_memory(Vm& vm) {
    unsigned ipa_bits = min(pa_bits(), 40u);
    HV_TRY(vm.stage2.init(table_pool(), Regime::stage2, ipa_bits));
    vm.memory.clear();
    for (const MemRegion& r : vm.ram) {
        HV_TRY(vm.stage2.map(r.base, r.base, r.size, {MemType::normal, true, true}));
        HV_TRY(vm.memory.add_region(r.base, r.size, reinterpret_cast<u8*>(r.base)));
    }
    g_vtcr = make_vtcr(vm.stage2, parange_field());
    HV_WRITE_SYSREG(vtcr_el2, g_vtcr);
    isb();
    return Status::ok;
}

Status start_vcpu(u32 i, u64 entry, u64 context_id) {
    Vcpu* v = g_vm->vcpu(i);
    if (v == nullptr) return Status::invalid_argument;
    {
        LockGuard guard(g_start_lock);
        if (v->state == VcpuState::running) {
            // The firmware model already saw this vCPU's CPU_OFF (it only starts vCPUs it holds OFF), but its pCPU
            // has not processed the exit yet: start it when it does.
            v->restart_requested = true;
            v->restart_entry = entry;
            v->restart_context = context_id;
            return Status::ok;
        }
        if (v->state != VcpuState::off) return Status::busy;
        vcpu_reset(*v, entry, context_id);
        __atomic_store_n(&v->state, VcpuState::pending, __ATOMIC_RELEASE);
    }
    kick_vcpu(i);
    return Status::ok;
}

void vcpu_loop(Vm& vm, Vcpu& v) {
    PerCpu& cpu = this_cpu();
    cpu.vcpu = &v;
    HV_WRITE_SYSREG(vttbr_el2, vm.stage2.root_pa() | (u64{vm.vmid} << 48));
    HV_WRITE_SYSREG(hcr_el2, g_hcr);
    isb();
    asm volatile("tlbi vmalls12e1" ::: "memory");
    dsb_ish();
    isb();
    for (;;) {
        if (reset_requested()) {
            (void)sys_for_write(v);  // the resetting pCPU may read or replace this context while we are parked
            park_for_reset(v);
        }
        if (__atomic_load_n(&v.state, __ATOMIC_ACQUIRE) != VcpuState::running) {
            if (panicking()) stop_this_cpu();
            if (__atomic_load_n(&v.state, __ATOMIC_ACQUIRE) == VcpuState::pending) {
                HV_LOG_INFO("vcpu%u starting at 0x%llx (x0 = 0x%llx)", v.id,
                            static_cast<unsigned long long>(v.ctx.core.pc),
                            static_cast<unsigned long long>(v.ctx.core.x[0]));
                __atomic_store_n(&v.state, VcpuState::running, __ATOMIC_RELEASE);
                g_vm->firmware.note_vm_ran();
                g_vm->firmware.on_vcpu_started(v.id);
            } else {
                // Off: sleep until start_vcpu (or a reset) kicks this pCPU. Its PMU stops counting and interrupting.
                pmu_vcpu_put(v);
                (void)vcpu_wait_for_interrupt(v);
                continue;
            }
        }
        pmu_vcpu_load(v);  // only after a vCPU reset or a restore: the guest owns the PMU otherwise
        if (v.sys_dirty) {
            load_sysregs(v.ctx);
            v.sys_dirty = false;
        }
        // Entering the guest delivers whatever a kick announced (before_entry flushes the vGIC's pending interrupts
        // into the LRs), so a kick left from before this point is spent: kept, it would end the next WFI or
        // CPU_SUSPEND at once for no reason (start_vcpu's kick did exactly that to a started vCPU's first
        // CPU_SUSPEND). Cleared before the flush: a later kick is either seen by the flush or, from another pCPU,
        // is a physical SGI that exits the guest at once and sets the flag again.
        __atomic_store_n(&v.kick_pending, false, __ATOMIC_RELEASE);
        // SDEI delivery reads SCTLR_EL1 (SPAN) from ctx.sys: keep that one field current (the rest stays lazy).
        if (v.sys_stale) v.ctx.sysreg(SysReg::SCTLR_EL1) = HV_READ_SYSREG(sctlr_el1);
        sdei_before_entry(v);  // enter a pending SDEI handler (sdei_glue)
        if (g_hooks.before_entry) g_hooks.before_entry(v);
        u64 reason = hv_enter_guest(&v.ctx, v.fp_dirty ? 1 : 0);
        v.fp_dirty = false;
        v.sys_stale = true;  // the CPU holds the guest's EL1 registers; saved on demand (sys_sync)
        if (g_hooks.after_exit) g_hooks.after_exit(v);
        switch (reason) {
            case HV_EXIT_SYNC: handle_sync(vm, v); break;
            case HV_EXIT_IRQ:
            case HV_EXIT_FIQ:
                count_exit(g_exit_stats[v.id < PlatformInfo::kMaxCpus ? v.id : 0].irq);
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
        if (panicking()) stop_this_cpu();
    }
}

void clean_dcache_to_poc(u64 va, u64 size) {
    if (size == 0) return;
    const u64 ctr = HV_READ_SYSREG(ctr_el0);
    const u64 line = u64{4} << ((ctr >> 16) & 0xf);  // DminLine: log2 of words
    for (u64 a = va & ~(line - 1); a < va + size; a += line) asm volatile("dc cvac, %0" ::"r"(a) : "memory");
    dsb_sy();
}

void invalidate_icache_all() {
    asm volatile("ic ialluis" ::: "memory");
    dsb_ish();
    isb();
}

void machine_system_off() {
    hv_smc_call(0x84000008, 0, 0, 0);  // PSCI SYSTEM_OFF (DEN0022D 5.10): QEMU exits with status 0
    panic("PSCI SYSTEM_OFF returned");
}

void machine_system_reset() {
    hv_smc_call(0x84000009, 0, 0, 0);  // PSCI SYSTEM_RESET
    panic("PSCI SYSTEM_RESET returned");
}

}  // namespace hv::arch
