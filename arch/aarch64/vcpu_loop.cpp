// The vCPU run loop on its pinned pCPU: entry, the devices' hooks around it, the wait for an interrupt (WFI,
// CPU_SUSPEND, vCPU off), start_vcpu / kick_vcpu. Exits are handled in exits.cpp. Choices: docs/boot.md.
#include "arch/aarch64/anchor.hpp"
#include "arch/aarch64/gic.hpp"
#include "arch/aarch64/msi_passthrough.hpp"
#include "arch/aarch64/panic.hpp"
#include "arch/aarch64/percpu.hpp"
#include "arch/aarch64/sysreg.hpp"
#include "arch/aarch64/vcpu_internal.hpp"
#include "arch/aarch64/vm_reset.hpp"
#include "arch/aarch64/vm_run.hpp"
#include "lib/log.hpp"
#include "lib/spinlock.hpp"

extern "C" hv::u64 hv_enter_guest(hv::VcpuContext* ctx, hv::u64 load_fp);  // vectors.S

namespace hv::arch {

namespace {

// --- waiting for an interrupt (WFI, CPU_SUSPEND, vCPU off) ---
constexpr u32 kHypTimerPpi = 26;  // EL2 physical timer (Arm BSA / QEMU virt); the hypervisor's own

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

}  // namespace

void vcpu_wait_init_cpu() {
    // kSgiKick has no handler: its work is the exit it causes and the flag the sender set (kick_one); the GIC driver
    // acknowledges and deactivates it without looking for one (gic_handle_irqs_from), on every kick's IRQ exit.
    gic_set_handler(kSgiStop, sgi_stop, nullptr);
    gic_set_handler(kHypTimerPpi, hyp_timer_irq, nullptr);
    gic_enable(kHypTimerPpi, true);
}

namespace {
// The kick of vCPU `v` (not this pCPU's vCPU `self`, or `self` itself): the flag, then SGI kKick to its pCPU when that
// is another pCPU. Inline in both kickers, with the VM and the per-pCPU block reached without a call and the SGI's
// ICC_SGI1R_EL1 value the one kept per pCPU (PerCpu::sgi_target): every IPI the guest sends pays this.
[[gnu::always_inline]] inline void kick_one(Vcpu& v, const Vcpu* self) {
    v.kick_pending.store(true, MemoryOrder::release);
    dsb_ish();  // the flag is visible before the SGI can be taken (gic_send_sgi_to: the SGI is no memory access)
    if (self != &v) gic_send_sgi_to(kSgiKick, hyp().cpus[v.pcpu < kMaxCpus ? v.pcpu : 0].sgi_target);
}
}  // namespace

void kick_vcpu(u32 i) {
    Vm& vm = *hyp().vm;  // the_vm(), inline
    if (i < vm.vcpu_count) kick_one(vm.vcpus[i], vcpu_on_this_cpu());
}

namespace {
// The device models' kicker (an interrupt became pending for `vcpu`). An off vCPU is woken by CPU_ON alone
// (start_vcpu kicks it itself), so an interrupt for it is no reason to wake its pCPU: without this check a guest
// flooding an off vCPU with SGIs woke its pCPU once per SGI (docs/isolation.md, guest test sgi_flood_offline). A
// vCPU that turns off after this check ignores the kick anyway; one being started is `pending`, not off.
class ArchKicker final : public VcpuKicker {
public:
    void kick(u32 vcpu) override {
        // The vCPU of this pCPU (an interrupt its own exit made pending, e.g. a timer): the flag alone, no VM
        // lookup, no barrier for an SGI that is not sent. The run loop or the exit fast path reads it before the
        // next entry on this same pCPU.
        Vcpu* self = vcpu_on_this_cpu();
        if (self != nullptr && self->id == vcpu) {
            if (self->state.load(MemoryOrder::acquire) != VcpuState::off)
                self->kick_pending.store(true, MemoryOrder::release);
            return;
        }
        Vm& vm = *hyp().vm;
        if (vcpu >= vm.vcpu_count) return;
        Vcpu& v = *opaque(&vm.vcpus[vcpu]);  // its members from one pointer
        if (v.state.load(MemoryOrder::acquire) == VcpuState::off) return;
        kick_one(v, nullptr);  // not this pCPU's vCPU (above): the SGI goes out
    }
};
// A stateless port (vtable only): constant at file scope (docs/architecture.md §4 "The anchors").
constinit const ArchKicker kKicker;
}  // namespace

VcpuContext& vcpu_context_for_write(Vcpu& v) { return sys_for_write(v); }

VcpuKicker& vcpu_kicker() { return const_cast<ArchKicker&>(kKicker); }  // stateless: nothing is written through it

bool vcpu_wait_for_interrupt(Vcpu& v) {
    // A wait ends only for a reason: a kick (start_vcpu, a VM reset, or an interrupt the vGIC made pending for this
    // vCPU; stale kicks are dropped at guest entry, see vcpu_loop), a deliverable pending interrupt (has_pending),
    // the earlier of the guest's two timer deadlines, a reset or a panic. A physical IRQ handled here is not a
    // reason by itself (the host UART's or another vCPU's device interrupt may have nothing for this vCPU): its
    // handler makes something pending or kicks, and the loop looks again. Without a device's has_pending hook (the
    // vGIC's, SDEI's: an SDEI event ignores PSTATE.I, docs/sdei.md), any physical IRQ counts. WFI wakes on a pending
    // physical IRQ even while PSTATE.I masks it at EL2 (DDI0487 D1.6.2), so the check-then-sleep sequence cannot lose a
    // wake-up: an SGI sent after the check stays pending and ends the WFI at once. A vCPU that is off (PSCI CPU_OFF, or
    // never started) is woken by CPU_ON alone (DEN0022D 5.5): interrupts and timers it left behind are no reason -- its
    // EL1 timers keep running in the CPU (lazy switch) and a pending PPI would otherwise end every wait at once,
    // spinning the pCPU until CPU_ON.
    const DeviceHookLists& devices = the_vm().devices();
    const bool off = v.state.load(MemoryOrder::acquire) == VcpuState::off;
    sys_sync(v);  // arm_wakeup_timer reads the timer registers from ctx.sys
    u64 deadline = 0;
    const bool timer_armed = !off && arm_wakeup_timer(v, deadline);
    bool woke = false;
    for (;;) {
        if (v.kick_pending.exchange(false, MemoryOrder::acq_rel)) break;
        if (!off && devices.has_pending(v)) break;
        if (reset_requested() || panicking()) break;
        if (timer_armed && static_cast<i64>(deadline - HV_READ_SYSREG(cntpct_el0)) <= 0) {
            woke = true;  // a guest timer's condition holds: re-entry delivers PPI 27 / 30
            break;
        }
        wfi();
        if (off) count_exit(this_cpu().exits.off_wakes);
        if (gic_handle_irqs() > 0 && !devices.tracks_pending()) {
            woke = true;
            break;
        }
    }
    HV_WRITE_SYSREG(cnthp_ctl_el2, 0);
    return woke;
}

void vcpu_power_off(Vcpu& v) {
    LockGuard guard(hyp().start_lock);
    if (v.restart_requested) {  // a CPU_ON raced with this CPU_OFF (see start_vcpu)
        v.restart_requested = false;
        vcpu_reset(v, v.restart_entry, v.restart_context);
        v.state.store(VcpuState::pending, MemoryOrder::release);
    } else {
        v.state.store(VcpuState::off, MemoryOrder::release);
    }
}

Status start_vcpu(u32 i, u64 entry, u64 context_id) {
    Vcpu* v = the_vm().vcpu(i);
    if (v == nullptr) return Status::invalid_argument;
    {
        LockGuard guard(hyp().start_lock);
        if (v->state.load(MemoryOrder::relaxed) == VcpuState::running) {
            // The firmware model already saw this vCPU's CPU_OFF (it only starts vCPUs it holds OFF), but its pCPU
            // has not processed the exit yet: start it when it does.
            v->restart_requested = true;
            v->restart_entry = entry;
            v->restart_context = context_id;
            return Status::ok;
        }
        if (v->state.load(MemoryOrder::relaxed) != VcpuState::off) return Status::busy;
        vcpu_reset(*v, entry, context_id);
        v->state.store(VcpuState::pending, MemoryOrder::release);
    }
    kick_vcpu(i);
    return Status::ok;
}

void vcpu_loop(Vm& vm, Vcpu& v) {
    PerCpu& cpu = this_cpu();
    cpu.vcpu = &v;
    HV_WRITE_SYSREG(vttbr_el2, vm.stage2.root_pa() | (u64{vm.vmid} << 48));
    // GICv4 direct injection (gicv4=on): a guest WFI is not trapped (TWI = 0; KVM does the same for a vCPU alone on its
    // CPU, and every vCPU here is pinned alone to its pCPU). The vPE stays resident, so a vLPI wakes the WFI itself as
    // a virtual IRQ -- no exit per MSI; everything else that concerns the vCPU reaches it as a physical IRQ at EL2
    // (kick SGI, timer PPI), which ends the WFI with an exit as before (docs/msi-passthrough.md).
    u64 hcr = guest_hcr();
    if (msi_direct_native_wfi()) hcr &= ~arm::hcr::TWI::field_mask;
    HV_WRITE_SYSREG(hcr_el2, hcr);
    isb();
    asm volatile("tlbi vmalls12e1" ::: "memory");
    dsb_ish();
    isb();
    for (;;) {
        if (reset_requested()) {
            (void)sys_for_write(v);  // the resetting pCPU may read or replace this context while we are parked
            park_for_reset(v);
        }
        // Work a device deferred to this vCPU (a console escape command on vCPU 0, arch/aarch64/console_escape).
        if (vm.devices().run_pending(vm, v)) continue;
        if (v.state.load(MemoryOrder::acquire) != VcpuState::running) {
            if (panicking()) stop_this_cpu();
            if (v.state.load(MemoryOrder::acquire) == VcpuState::pending) {
                HV_LOG_INFO("vcpu%u starting at 0x%llx (x0 = 0x%llx)", v.id,
                            static_cast<unsigned long long>(v.ctx.core.pc),
                            static_cast<unsigned long long>(v.ctx.core.x[0]));
                v.state.store(VcpuState::running, MemoryOrder::release);
                vm.firmware.note_vm_ran();
                vm.firmware.on_vcpu_started(v.id);
            } else {
                // Off: sleep until start_vcpu (or a reset) kicks this pCPU. Its devices' CPU state goes back into
                // its context (the PMU stops counting and interrupting).
                vm.devices().put(v);
                (void)vcpu_wait_for_interrupt(v);
                continue;
            }
        }
        if (v.sys_dirty) {
            load_sysregs(v.ctx);
            v.sys_dirty = false;
        }
        // Entering the guest delivers whatever a kick announced (before_entry flushes the vGIC's pending interrupts
        // into the LRs), so a kick left from before this point is spent: kept, it would end the next WFI or
        // CPU_SUSPEND at once for no reason (start_vcpu's kick did exactly that to a started vCPU's first
        // CPU_SUSPEND). Cleared before the flush: a later kick is either seen by the flush or, from another pCPU,
        // is a physical SGI that exits the guest at once and sets the flag again.
        v.kick_pending.store(false, MemoryOrder::release);
        // The devices' before_entry hooks may read SCTLR_EL1 from ctx.sys (SDEI delivery: SPAN): keep that one
        // field current (the rest stays lazy).
        if (v.sys_stale) v.ctx.sysreg(SysReg::SCTLR_EL1) = HV_READ_SYSREG(sctlr_el1);
        // In registration order: the PMU loads a replaced context, SDEI enters a pending handler, the vGIC flushes
        // pending interrupts into the list registers.
        vm.devices().before_entry(v);
        u64 reason = hv_enter_guest(&v.ctx, v.fp_dirty ? 1 : 0);
        v.fp_dirty = false;
        v.sys_stale = true;  // the CPU holds the guest's EL1 registers; saved on demand (sys_sync)
        // The vGIC folds the list registers back (the exit fast path already did for HV_EXIT_IRQ_HANDLED).
        if (reason != HV_EXIT_IRQ_HANDLED) vm.devices().after_exit(v);
        handle_exit(vm, v, reason);
        if (panicking()) stop_this_cpu();
    }
}

}  // namespace hv::arch
