// The exit fast path (docs/benchmarks-exits.md): called by the exit vector (vectors.S) with only the guest's
// general-purpose registers, PC and PSTATE saved in ctx. The exits whose handling needs nothing else are handled here
// and the guest resumed at once, without the run loop: no EL1 register or FP/SIMD save, no list-register fold and
// flush, no device hooks. Everything else -- and anything that makes an interrupt deliverable to this vCPU -- goes on
// to the run loop (vcpu_loop.cpp, exits.cpp), which handles it exactly as before.
//
// Handled here:
//   - HVC/SMC that no device claims (DeviceHooks::claims_hypercall): the firmware model sees x0..x17 and sets
//     x0..x3; a call that does not simply return (suspend, CPU_OFF, SYSTEM_OFF/RESET) is finished by the run loop
//     (HV_EXIT_FIRMWARE).
//   - Trapped MRS of the ID registers (HCR_EL2.TID3), and MSR/MRS a device hook handles (the vGIC's ICC_SGI*R_EL1).
//   - Stage-2 data aborts on the vGIC's GICD/GICR frames and the ITS frames, when the exit's fold would change
//     nothing (no LR in use, no EOIcount) or for reads that do not depend on the LRs (everything but
//     ISPENDR/ICPENDR/ISACTIVER/ICACTIVER).
//     Data aborts with a valid syndrome and the transfer register outside x19-x29 come in through hv_fast_mmio, with
//     x19-x29 still in the CPU (as HVC/SMC: hv_fast_hvc); the others through hv_fast_exit with everything saved.
//     Doubleword ones: the first ITS's GITS_CREADR poll with no command waiting is answered by the vector itself
//     (vectors.S exit_its_poll), its GITS_CWRITER doorbell by hv_fast_mmio64, both by their IPA alone (anything else
//     goes on to hv_fast_mmio).
//   - IRQ exits: the run loop's order (fast_irq below); a guest timer firing again right after the guest completed
//     its last interrupt, with no other entry work, only has its LR re-armed (vgic_timer_refire).
// No MMIO that may observe a hardware-linked line (EL1 timer, PMU) while one is up or parked: the run loop samples
// those at every exit it sees, and a read of GICD/GICR pending or active state can observe the level (a guest polling
// GICR_ISPENDR0 after lowering its PMU request must see the line drop); the other GICD/GICR reads, HVCs and MSR/MRS
// cannot. (GICD/GICR writes and ITS accesses keep the rule too, conservatively -- but for the lock-free GITS_CREADR
// read, which observes and changes nothing: fast_its.)
// After a handler that may touch interrupt state: a kick of this vCPU, a flush the vGIC asks for, or an ITS command
// backlog sends the exit on to the run loop (HV_EXIT_HANDLED: only the entry work is left).
#include "arch/aarch64/anchor.hpp"
#include "arch/aarch64/asm_defs.h"
#include "arch/aarch64/gic.hpp"
#include "arch/aarch64/msi_passthrough.hpp"
#include "arch/aarch64/panic.hpp"
#include "arch/aarch64/percpu.hpp"
#include "arch/aarch64/sysreg.hpp"
#include "arch/aarch64/vcpu_internal.hpp"
#include "arch/aarch64/vgic_glue.hpp"
#include "arch/aarch64/vgic_glue_fast.hpp"
#include "arch/aarch64/vm_reset.hpp"
#include "arch/aarch64/vm_run.hpp"

namespace hv::arch {

namespace {

constexpr u64 kResume = HV_FAST_RESUME;

// One more on a counter only this pCPU writes (ExitStats): a plain increment, no atomic read-modify-write.
[[gnu::always_inline]] inline void bump(Atomic<u64>& c) {
    c.store(c.load(MemoryOrder::relaxed) + 1, MemoryOrder::relaxed);
}

// The handler is done. Resume now unless the run loop has entry work to do for this vCPU.
u64 resume_or_sync(Vm& vm, Vcpu& v) {
    if (v.kick_pending.load(MemoryOrder::relaxed) || v.sys_dirty || v.fp_dirty || vm.vgic.flush_needed(v.id))
        return HV_EXIT_HANDLED;
    for (u32 i = 0; i < vm.its_count; ++i)
        if (vm.its[i]->has_backlog()) return HV_EXIT_HANDLED;  // the run loop's ITS hook moves it on at entry
    return kResume;
}

[[gnu::always_inline]] inline u64 fast_firmware(Vm& vm, Vcpu& v, bool smc, u64 reason) {
    const u32 fid = static_cast<u32>(v.ctx.core.x[0]);
    if (vm.devices().claims_hypercall(fid)) return reason;  // SDEI, snapshot: they need the whole context
    if (smc) advance_pc(v.ctx);                             // ELR_EL2 points at the trapped SMC
    const psci::FirmwareExit exit = call_firmware(vm, v);
    if (exit != psci::FirmwareExit::resume) {
        PerCpu& cpu = this_cpu();
        cpu.fast_fw_exit = exit;
        cpu.fast_fw_fid = fid;
        return HV_EXIT_FIRMWARE;
    }
    // The firmware only sees x0..x17: it cannot change this vCPU's interrupts (CPU_ON kicks the vCPU it starts,
    // never this one) or its other registers.
    return v.sys_dirty || v.fp_dirty ? HV_EXIT_HANDLED : kResume;
}

// Not inlined into hv_fast_exit (nor fast_mmio): their decoded syndromes live on the stack, which would give the
// HVC path a stack canary too.
[[gnu::noinline]] u64 fast_sysreg(Vm& vm, Vcpu& v, u64 esr, u64 reason) {
    const auto s = esr::SysRegAccess::from_esr(esr);
    if (idreg::is_id_space(s.op0, s.op1, s.crn, s.crm)) {
        if (!s.read) return reason;  // UNDEF: the run loop injects it
        write_gpr(v.ctx, s.rt, vm.id_regs().guest_value(s.key()));
        advance_pc(v.ctx);
        return kResume;
    }
    // The vGIC's SGI registers: sgi_write only latches pending state, which a later fold keeps, so it may run before
    // the fold; an SGI to this vCPU kicks it and the run loop flushes.
    u64 value = s.read ? 0 : read_gpr(v.ctx, s.rt);
    if (!vm.devices().sysreg(v, s, value)) return reason;
    if (s.read) write_gpr(v.ctx, s.rt, value);
    advance_pc(v.ctx);
    return resume_or_sync(vm, v);
}

// The hot one, every IPI: an ICC_SGI1R_EL1 write (hv_fast_exit recognises the syndrome with one compare) goes
// straight to the vGIC -- what its sysreg hook does in fast_sysreg, without the syndrome's decode (whose struct went
// to the stack, with a canary) and the walk of the device hooks. sgi_write only latches pending state, which a later
// fold keeps, so it may run before the fold; an SGI to this vCPU kicks it and the run loop flushes.
// sgi_write changes only its targets' interrupt state and kicks each target it made something deliverable for -- this
// vCPU through its kick_pending flag (ArchKicker: no SGI to its own pCPU) -- so that flag is all resume_or_sync could
// find changed here: no EL1/FP context (sys_dirty/fp_dirty are clear at every exit: the entry loaded them, and nothing
// sets them while the vCPU runs -- other pCPUs only while it is parked or off), no ITS backlog, no flush request that
// the kick does not come with (a request another vCPU made comes with a kick SGI of its own, as on the HVC path).
[[gnu::always_inline]] inline u64 sgi1r_write(Vm& vm, Vcpu& v, u64 esr) {
    vm.vgic.sgi_write(v.id, read_gpr(v.ctx, esr::SysRegAccess::rt_of(esr)), vgic::SgiKind::sgi1r);
    advance_pc(v.ctx);
    return v.kick_pending.load(MemoryOrder::relaxed) ? HV_EXIT_HANDLED : kResume;
}
// From hv_fast_exit (the register in x19-x29: everything was saved).
[[gnu::noinline]] u64 fast_sgi1r(Vm& vm, Vcpu& v, u64 esr, u64 reason) {
    if (!vgic_ready_fast()) return fast_sysreg(vm, v, esr, reason);
    return sgi1r_write(vm, v, esr);
}

// GICD/GICR registers whose value depends on what the LRs hold (pending and active state): [0x200, 0x400) of the
// distributor and of each redistributor's SGI frame (IHI0069H 12.9, 12.10).
bool lr_dependent(u64 frame_offset) {
    const u64 o = frame_offset & 0xffff;
    return o >= 0x200 && o < 0x400;
}

// The device's access (`d`: the syndrome) and, for a read, its value into the transfer register; false if the device
// did not handle it (nothing done). The MmioAccess and the read value go on the stack of the function this is inlined
// into (hv_fast_mmio, fast_mmio_all_saved): see there.
// `H` is the device's own class where the caller knows it (an ITS: its final class, no virtual call).
template <typename H>
[[gnu::always_inline]] inline bool device_access(H& h, Vcpu& v, u64 offset, esr::DataAbortSyndrome d) {
    const MmioAccess a{v.id, offset, d.access_size(), d.write()};
    if (d.write()) return h.mmio_write(a, read_gpr(v.ctx, d.srt()) & d.width_mask()) == MmioResult::ok;
    u64 value = 0;
    if (h.mmio_read(a, value) != MmioResult::ok) return false;
    write_gpr(v.ctx, d.srt(), d.register_value(value));
    return true;
}

// An access to a virtual ITS's 128 KiB window (control and translater frame) at `ipa`: the ITS found without
// MmioBus's search (vm.its_base, the frames msi_passthrough.cpp put on the bus) and called directly. As fast_mmio.
[[gnu::always_inline]] inline u64 fast_its(Vm& vm, Vcpu& v, u64 ipa, esr::DataAbortSyndrome d, u64 reason) {
    constexpr u64 kWindow = its::kControlFrameSize + its::kTranslaterFrameSize;
    for (u32 i = 0; i < vm.its_mapped; ++i) {
        const u64 offset = ipa - vm.its_base[i];
        if (offset >= kWindow) continue;
        if (offset + d.access_size() > kWindow) return reason;  // as MmioBus::dispatch
        its::Its& its = *vm.its[i];
        // The driver's completion poll, a GITS_CREADR read with no command waiting: it observes no line and no LR and
        // changes nothing (its.hpp), so nothing is left for the run loop either.
        if (u64 value = 0; !d.write() && its.read_creadr_unlocked(offset, d.access_size(), value)) {
            write_gpr(v.ctx, d.srt(), value);  // a 64-bit load: nothing to extend or truncate
            advance_pc(v.ctx);
            return kResume;
        }
        // Other ITS accesses keep the rule of the top of the file: quiet hardware-linked lines, and idle LRs for a
        // write (it may change an interrupt the LRs hold).
        if (!vgic_lines_quiet(v) || (d.write() && !vgic_lrs_idle(v))) return reason;
        if (!device_access(its, v, offset, d)) return reason;
        advance_pc(v.ctx);
        // What an ITS trap can change that the run loop acts on at entry: an interrupt made deliverable to this vCPU
        // (the vGIC kicks each target it made one deliverable for -- this vCPU through kick_pending, ArchKicker),
        // this ITS's own queue (a backlog), and -- after a read, whose commands may have run with this vCPU's LRs in
        // use -- the vGIC's flush request (a CLEAR, DISCARD or MOVI of an LPI an LR holds: the LR must go). A write
        // ran with the LRs idle (above): a flush request it left cannot take anything out of them, and one that
        // could put something in comes with the kick. Not the EL1/FP context (sys_dirty/fp_dirty are clear at every
        // exit, sgi1r_write above) nor another ITS's queue (a backlog there is drained by the entries of the run loop
        // and of IRQ exits, as after an HVC).
        const bool entry_work = v.kick_pending.load(MemoryOrder::relaxed) || its.has_backlog() ||
                                (!d.write() && vm.vgic.flush_needed(v.id));
        return entry_work ? HV_EXIT_HANDLED : kResume;
    }
    return reason;  // neither the vGIC's nor an ITS's: the run loop
}

// A stage-2 data abort (the syndrome in `esr`) on the vGIC's GICD/GICR frames or an ITS frame. Returns `reason` if
// nothing was done (the run loop handles the exit); kResume or HV_EXIT_HANDLED if it was. From hv_fast_mmio only
// with a transfer register outside x19-x29 (they are not in ctx there).
[[gnu::always_inline]] inline u64 fast_mmio(Vm& vm, Vcpu& v, u64 esr, u64 reason) {
    // DDI0487 D17.2.40 (ISS of a data abort): a valid syndrome (ISV), no cache maintenance, not on a stage-1 table
    // walk, not an external abort; a translation or access-flag fault (the frames are unmapped at stage 2).
    const esr::DataAbortSyndrome d{esr};
    if (!d.emulatable_unmapped()) return reason;
    const u64 ipa = esr::fault_ipa(HV_READ_SYSREG(hpfar_el2), HV_READ_SYSREG(far_el2));
    const VgicFrame f = vgic_frame(ipa);  // GICD/GICR without MmioBus's search
    if (f.kind == VgicFrame::none) return fast_its(vm, v, ipa, d, reason);
    MmioHandler& h = f.kind == VgicFrame::gicd ? vm.vgic.distributor() : vm.vgic.redistributors();
    const bool write = d.write();
    if (f.offset + d.access_size() > f.size) return reason;  // as MmioBus::dispatch
    // The slow path samples the hardware-linked lines and folds the LRs before the access. The lines matter to a read
    // of pending/active state (it may observe a line's level), and writes keep the rule (top of the file); the LRs
    // only if they hold something: a write may change an interrupt the LRs hold (the fold would then overwrite it),
    // a read of pending/active state must see them.
    if (write || lr_dependent(f.offset)) {
        if (!vgic_lines_quiet(v)) return reason;
        if (!vgic_lrs_idle(v)) return reason;
    }
    if (!device_access(h, v, f.offset, d)) return reason;  // nothing done: the run loop aborts
    advance_pc(v.ctx);
    // A GICD/GICR read changes nothing. A GICD/GICR write is configuration the entry hooks may have to act on (the
    // flush; the vPE's LPI tables with GICv4, msi_passthrough.cpp): the run loop's entry work.
    return write ? HV_EXIT_HANDLED : kResume;
}

// hv_fast_exit's data aborts: those with the transfer register in x19-x29 or without a valid syndrome. No stack
// protector: as hv_fast_mmio.
[[gnu::noinline]] __attribute__((no_stack_protector)) u64 fast_mmio_all_saved(Vm& vm, Vcpu& v, u64 esr, u64 reason) {
    return fast_mmio(vm, v, esr, reason);
}

// Nothing but the vGIC's entry work can be due for `v` (a kick's IRQ exit, vgic_kick_direct): what fast_irq below
// checks after its IRQ handlers, what resume_or_sync checks but the kick and the flush, and no device entry hook with
// work (the PMU's reload, an ITS backlog, GICv4 residency, SDEI delivery, the console escape). A reset, a panic or a
// stop comes with its own SGI, taken as the next exit.
[[gnu::always_inline]] inline bool only_vgic_entry_work(Vm& vm, Vcpu& v) {
    const Hypervisor& h = hyp();  // reset_requested(), panicking(), msi_direct(): inline
    if (v.sys_dirty || v.fp_dirty || v.pmu_dirty || h.reset.requested.load(MemoryOrder::acquire) ||
        h.panicking.load(MemoryOrder::acquire) || v.state.load(MemoryOrder::acquire) != VcpuState::running ||
        (h.msi.shadow_ready && h.msi.shadow.direct()))
        return false;
    for (u32 i = 0; i < vm.its_count; ++i)
        if (vm.its[i]->has_backlog()) return false;
    return !vm.devices().entry_needs_context(v);
}

// A physical interrupt (a kick SGI for an interrupt the vGIC made pending, a timer, the maintenance interrupt, a
// passed-through MSI or SPI): the run loop's order -- the devices' after_exit hooks (LR fold, timer/PMU lines), the
// IRQ handlers, the entry hooks (LR flush) -- without the EL1/FP save and the loop. The loop takes over (after the
// IRQs) when anything else is due: a VM reset, a panic, a vCPU that stopped running, a reloaded context, or a
// device whose entry needs the whole context (SDEI delivering an event, the console escape's work).
// Not inlined into hv_fast_exit: its register pressure would move callee-saved spills into the prologue every exit
// shares (mmio_read_vgic +1).
// `iar`: an interrupt hv_fast_irq already acknowledged (kRefireNone: none).
[[gnu::noinline]] u64 fast_irq(Vm& vm, Vcpu& v, ExitStats& st, u64 iar) {
    bump(st.irq);
    // A guest timer firing again after its last interrupt was completed (docs/benchmarks-exits.md "timer_10ms"):
    // its LR re-armed, nothing else -- when the run loop has no entry work for this vCPU either.
    if (iar == kRefireNone && vgic_timer_refire_possible(v) && resume_or_sync(vm, v) == kResume)
        iar = vgic_timer_refire(v);
    if (iar == kRefireDone) {
        bump(st.fast);
        return kResume;
    }
    PerCpu& cpu = this_cpu();
    cpu.vgic.fast_irq = true;  // the LR fold may wait for the flush below (vgic_glue.cpp)
    vm.devices().after_exit(v);
    (void)(iar == kRefireNone ? gic_handle_irqs() : gic_handle_irqs_from(iar));
    if (reset_requested() || panicking() || v.state.load(MemoryOrder::acquire) != VcpuState::running || v.sys_dirty ||
        v.fp_dirty || vm.devices().entry_needs_context(v)) {
        vgic_fold_deferred(v);  // the run loop sees folded state, as after its own exits
        return HV_EXIT_IRQ_HANDLED;
    }
    // As the run loop: a kick is spent by this entry (the flush below sees what it announced).
    v.kick_pending.store(false, MemoryOrder::release);
    vm.devices().before_entry(v);  // the vGIC's flush folds what after_exit left
    cpu.vgic.fast_irq = false;
    bump(st.fast);
    return kResume;
}

// An exit handled here is counted here (the run loop counts the exits it handles). Only this pCPU writes its
// counters: a plain increment, no atomic read-modify-write.
[[gnu::always_inline]] inline void count_fast(ExitStats& st, Atomic<u64>& counter, u64 r) {
    bump(counter);
    if (r == kResume) bump(st.fast);
}

// Every fast entry starts here: this pCPU's running vCPU (nullptr: none, the run loop's exit), marked as having run
// since the last exit -- the EL1 registers in the CPU are newer than ctx.sys (nothing on the fast path reads them; the
// run loop marks the same after every exit it sees).
[[gnu::always_inline]] inline Vcpu* running_vcpu(PerCpu& cpu) {
    Vcpu* v = cpu.vcpu;
    if (v == nullptr) return nullptr;
    v->sys_stale = true;
    return v;
}

}  // namespace

// Called by the exit vector (vectors.S) for every exit; returns HV_FAST_RESUME to resume the guest, or the exit reason
// for the run loop (HV_EXIT_* as passed in, HV_EXIT_HANDLED, HV_EXIT_FIRMWARE).
extern "C" u64 hv_fast_exit(u64 reason) {
    if (reason != HV_EXIT_SYNC && reason != HV_EXIT_IRQ) return reason;
    PerCpu& cpu = this_cpu();
    Vcpu* vp = running_vcpu(cpu);
    if (vp == nullptr) return reason;
    Vcpu& v = *vp;
    Vm& vm = *hyp().vm;  // the_vm(), inline
    if (reason == HV_EXIT_IRQ)
        return fast_irq(vm, v, cpu.exits, kRefireNone);  // (the vector sends IRQs to hv_fast_irq)
    // A VM reset, a panic and a kick from another pCPU each come with an SGI to this pCPU (vm_reset.cpp, panic.cpp,
    // kick_vcpu): pending at EL2, it is taken as an IRQ exit right after the ERET, and the run loop sees them then.
    const u64 esr = HV_READ_SYSREG(esr_el2);
    ExitStats& st = cpu.exits;
    Atomic<u64>* counter = nullptr;
    u64 r = reason;
    using esr::ExceptionClass;
    const ExceptionClass ec = esr::exception_class(esr);
    if (ec == ExceptionClass::hvc64 || ec == ExceptionClass::smc64) {
        const bool smc = ec == ExceptionClass::smc64;
        r = fast_firmware(vm, v, smc, reason);
        counter = smc ? &st.smc : &st.hvc;
    } else if (ec == ExceptionClass::sysreg) {
        r = esr::SysRegAccess::is(esr, arm::reg::kIccSgi1rEl1, false) ? fast_sgi1r(vm, v, esr, reason)
                                                                      : fast_sysreg(vm, v, esr, reason);
        counter = &st.sysreg;
    } else if (ec == ExceptionClass::dabt_lower) {
        r = fast_mmio_all_saved(vm, v, esr, reason);
        counter = &st.dabt;
    } else {
        return reason;  // WFI, aborts, UNDEFs: the run loop
    }
    if (r != reason) count_fast(st, *counter, r);
    return r;
}

// The exit vector's entry for IRQ exits, called without x19-x29 in ctx (vectors.S): fast_irq and everything it calls
// leave the guest's general-purpose registers alone -- whatever needs them (SDEI delivering an event, the console
// escape's commands, a reset) makes it return to the run loop, which gets x19-x29 saved first. Returns as
// hv_fast_exit.
extern "C" u64 hv_fast_irq() {
    PerCpu& cpu = this_cpu();
    Vcpu* vp = running_vcpu(cpu);
    if (vp == nullptr) return HV_EXIT_IRQ;
    Vcpu& v = *vp;
    Vm& vm = *hyp().vm;
    // The kick of an interrupt the vGIC made pending (an IPI, an LPI): the direct flush, in as few frames as it takes.
    u64 iar = kRefireNone;
    if ((read_sysreg<arm::reg::kIccHppir1El1>() & 0xffffff) == kSgiKick && only_vgic_entry_work(vm, v)) {
        iar = vgic_kick_direct(v);
        if (iar == kRefireDone) {
            bump(cpu.exits.irq);
            bump(cpu.exits.fast);
            return kResume;
        }
    }
    return fast_irq(vm, v, cpu.exits, iar);
}

// The exit vector's entry for HVC64/SMC64 exits (ec: ESR_EL2.EC), called without x19-x29 in ctx (vectors.S): only
// the firmware runs here, which reads x0..x17 and writes x0..x3. Returns as hv_fast_exit.
extern "C" u64 hv_fast_hvc(u64 ec) {
    PerCpu& cpu = this_cpu();
    Vcpu* vp = running_vcpu(cpu);
    if (vp == nullptr) return HV_EXIT_SYNC;
    Vcpu& v = *vp;
    Vm& vm = *hyp().vm;
    u64 r = 0;
    if (ec == static_cast<u64>(esr::ExceptionClass::smc64)) {
        if ((r = fast_firmware(vm, v, true, HV_EXIT_SYNC)) != HV_EXIT_SYNC) count_fast(cpu.exits, cpu.exits.smc, r);
    } else {
        if ((r = fast_firmware(vm, v, false, HV_EXIT_SYNC)) != HV_EXIT_SYNC) count_fast(cpu.exits, cpu.exits.hvc, r);
    }
    return r;
}

}  // namespace hv::arch

namespace hv::arch {

extern "C" u64 hv_fast_mmio(u64 esr);

static_assert(esr::SysRegAccess::is(HV_ESR_SGI1R_WRITE, arm::reg::kIccSgi1rEl1, false) &&
                  esr::SysRegAccess::rt_of(HV_ESR_SGI1R_WRITE) == 0 &&
                  esr::exception_class(HV_ESR_SGI1R_WRITE) == esr::ExceptionClass::sysreg &&
                  esr::Il::get(HV_ESR_SGI1R_WRITE) == 1,
              "vectors.S recognises ICC_SGI1R_EL1 writes by HV_ESR_SGI1R_WRITE");

// The exit vector's entry for ICC_SGI1R_EL1 writes from a register outside x19-x29 (vectors.S, HV_ESR_SGI1R_WRITE):
// the guest's IPIs, without x19-x29 in ctx -- as hv_fast_mmio; sgi_write reads only ctx.x[Rt]. Before the vGIC is up
// the exit goes to the run loop (fast_sysreg's device hooks could look at more of the context). Returns as
// hv_fast_exit.
extern "C" u64 hv_fast_sgi1r(u64 esr) {
    PerCpu& cpu = this_cpu();
    Vcpu* vp = running_vcpu(cpu);
    if (vp == nullptr) return HV_EXIT_SYNC;
    Vcpu& v = *vp;
    const unsigned rt = esr::SysRegAccess::rt_of(esr);
    if ((rt >= 19 && rt <= 29) || !vgic_ready_fast()) return HV_EXIT_SYNC;  // the vector never sends x19-x29
    const u64 r = sgi1r_write(*hyp().vm, v, esr);
    count_fast(cpu.exits, cpu.exits.sysreg, r);
    return r;
}

// The exit vector's entry for data aborts from the guest with a valid syndrome whose transfer register is not one of
// x19-x29 (vectors.S): those are not in ctx -- they stay in the CPU (AAPCS64 callee-saved), as on the HVC path, and go
// into ctx only if the exit goes on to the run loop. The emulation reads and writes only ctx.x[Rt]. Returns as
// hv_fast_exit.
// The stack protector is off for this function (issue 12, "Performance"): the only objects on its stack are the
// MmioAccess and the read value of device_access, passed to the device as `const MmioAccess&` and `u64&` -- no array,
// nothing indexed, nothing a guest-chosen length could overrun -- and the canary cost 11 of the instructions of every
// trapped GICD/GICR access. Everything else keeps -fstack-protector-strong (tools/check-hardening).
extern "C" __attribute__((no_stack_protector)) u64 hv_fast_mmio(u64 esr) {
    PerCpu& cpu = this_cpu();
    Vcpu* vp = running_vcpu(cpu);
    if (vp == nullptr) return HV_EXIT_SYNC;
    Vcpu& v = *vp;
    const unsigned srt = esr::DataAbortSyndrome{esr}.srt();
    if (srt >= 19 && srt <= 29) return HV_EXIT_SYNC;  // the vector never sends these (they are not in ctx)
    const u64 r = fast_mmio(*hyp().vm, v, esr, HV_EXIT_SYNC);
    if (r != HV_EXIT_SYNC) count_fast(cpu.exits, cpu.exits.dabt, r);
    return r;
}

namespace {

// hv_fast_mmio64's GITS_CWRITER write of vm.its[0]: what fast_its does with it -- quiet hardware-linked lines and idle
// LRs (else the general path, which sends the exit to the run loop), the ITS's 64-bit CWRITER case (its register
// table skipped: the offset and width are constants), the entry-work answer after a write -- and the count. Not
// inlined, tail-called: the poll stays a leaf (no frame, no callee-saved registers).
[[gnu::noinline]] u64 its_doorbell(PerCpu& cpu, Vcpu& v, its::Its& its, u64 esr) {
    if (!vgic_lines_quiet(v) || !vgic_lrs_idle(v)) return hv_fast_mmio(esr);
    const esr::DataAbortSyndrome d{esr};
    if (its.mmio_write(MmioAccess{v.id, its::reg(its::GitsReg::CWRITER), 8, true}, read_gpr(v.ctx, d.srt())) !=
        MmioResult::ok)
        return HV_EXIT_SYNC;  // (the CWRITER case always answers ok)
    advance_pc(v.ctx);
    const u64 r = v.kick_pending.load(MemoryOrder::relaxed) || its.has_backlog() ? HV_EXIT_HANDLED : kResume;
    count_fast(cpu.exits, cpu.exits.dabt, r);
    return r;
}

}  // namespace

// The exit vector's entry for doubleword writes with a valid syndrome and a transfer register outside x19-x29
// (vectors.S; the vector answers the GITS_CREADR poll itself, exit_its_poll, and sends every other access to
// hv_fast_mmio, as this does with anything but the doorbell). The GITS_CWRITER write of vm.its[0], every command
// batch's doorbell (its_doorbell), recognised by its IPA alone, without the GICD/GICR frames, fast_its's search and the
// MmioAccess. Returns as hv_fast_exit. No stack protector: as hv_fast_mmio (nothing on its stack at all).
extern "C" __attribute__((no_stack_protector)) u64 hv_fast_mmio64(u64 esr) {
    PerCpu& cpu = this_cpu();
    Vcpu* vp = cpu.vcpu;
    if (vp == nullptr) return hv_fast_mmio(esr);  // (which answers HV_EXIT_SYNC)
    Vcpu& v = *vp;
    const esr::DataAbortSyndrome d{esr};
    Vm& vm = *hyp().vm;
    const unsigned srt = d.srt();
    // As fast_mmio: a valid syndrome of a translation or access-flag fault; the vector never sends x19-x29.
    if (vm.its_mapped == 0 || !d.emulatable_unmapped() || d.access_size() != 8 || !d.write() ||
        (srt >= 19 && srt <= 29))
        return hv_fast_mmio(esr);
    const u64 offset = esr::fault_ipa(HV_READ_SYSREG(hpfar_el2), HV_READ_SYSREG(far_el2)) - vm.its_base[0];
    if (offset != its::reg(its::GitsReg::CWRITER)) return hv_fast_mmio(esr);
    v.sys_stale = true;  // as running_vcpu
    return its_doorbell(cpu, v, *vm.its[0], esr);
}

// vectors.S exit_its_poll reads the syndrome, the fault address and the two words as fast_its and
// Its::read_creadr_unlocked do: a valid syndrome (ISV, no EA/CM/S1PTW) of a translation or access-flag fault, a
// doubleword read (SAS 3, WnR 0), the IPA of GITS_CREADR, the backlog flag clear (acquire).
static_assert(esr::fault_ipa(u64{0x123456789} << 4, 0xabc) == (u64{0x123456789} << 12 | 0xabc));
static_assert(esr::DataAbortSyndrome::Ea::field_mask == (1u << 9) &&
              esr::DataAbortSyndrome::Cm::field_mask == (1u << 8) &&
              esr::DataAbortSyndrome::S1ptw::field_mask == (1u << 7) &&
              esr::DataAbortSyndrome::WnR::field_mask == (1u << 6));

}  // namespace hv::arch
