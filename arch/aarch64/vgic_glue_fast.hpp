// The exit fast path's inline queries of the vGIC glue's per-VM state (VgicGlueState, vgic_glue.hpp; fast_exit.cpp):
// asked on every trapped GICD/GICR access, where a call each cost about 20 instructions (docs/benchmarks-exits.md).
// Read-only -- vgic_glue.cpp owns and writes the state -- but for the kick's direct flush (vgic_kick_direct, with
// the LR helpers it shares with vgic_glue.cpp), inline in hv_fast_irq's frame.
#pragma once

#include "arch/aarch64/anchor.hpp"
#include "arch/aarch64/gic.hpp"
#include "arch/aarch64/percpu.hpp"
#include "arch/aarch64/sysreg.hpp"
#include "arch/aarch64/vgic_glue.hpp"
#include "core/arm_defs.hpp"
#include "lib/types.hpp"
#include "vgic/regs.hpp"

namespace hv::arch {

// vgic_ready() without the call: vgic_vm_init is done.
inline bool vgic_ready_fast() { return hyp().vgic_glue.ready.load(MemoryOrder::acquire); }

// On `v`'s pCPU right after an exit: none of its hardware-linked lines (EL1 timers, PMU overflow) is up or parked, so
// no exit has to sample them (sync_timer_lines / sync_pmu_line run at every exit the run loop sees: a line the guest
// lowered is withdrawn there).
inline bool vgic_lines_quiet(const Vcpu& v) {
    const VgicGlueState& g = hyp().vgic_glue;
    if (v.id >= vgic::kMaxVcpus) return true;
    return !g.timer_line[0][v.id] && !g.timer_line[1][v.id] && !g.pmu_line[v.id] && !this_cpu().vgic.pmu_parked;
}

// The exit fast path (fast_exit.cpp), on `v`'s pCPU right after an exit: its list registers hold nothing and no EOI
// was counted outside them, so the exit's fold would change nothing (a handler may run before it).
inline bool vgic_lrs_idle(const Vcpu& v) {
    if (!vgic_ready_fast()) return true;
    return hyp().vm->vgic.cpu_if(v.id).used_lrs == 0 &&
           vgic::ich_hcr::EOIcount::get(read_sysreg<arm::reg::kIchHcrEl2>()) == 0;
}

// The vGIC's frame that holds `ipa`: the distributor, the redistributors or neither (the same frames, offsets and
// sizes MmioBus::find gives, without its search; empty before vgic_vm_init).
struct VgicFrame {
    enum Kind : u8 { none, gicd, gicr } kind = none;
    u64 offset = 0;  // into the frame
    u64 size = 0;    // of the frame
};
inline VgicFrame vgic_frame(u64 ipa) {
    const VgicGlueState& g = hyp().vgic_glue;
    if (ipa - g.gicd_base < g.gicd_size) return {VgicFrame::gicd, ipa - g.gicd_base, g.gicd_size};
    if (ipa - g.gicr_base < g.gicr_size) return {VgicFrame::gicr, ipa - g.gicr_base, g.gicr_size};
    return {};
}

// ICH_LR<n>_EL2 by index (vgic_glue.cpp: one MRS/MSR per register, chosen through a jump table).
u64 read_lr(u32 n);
void write_lr(u32 n, u64 v);

// An LR with HW = 1 (timer, PMU, passed-through SPI): its fold settles the physical side (line level, active state),
// which the IRQ handlers that follow the exit must see in order -- such an exit folds at once.
inline bool vgic_hw_linked_lr(const vgic::VcpuIfState& s) {
    for (u32 i = 0; i < s.used_lrs && i < vgic::kMaxLrs; ++i)
        if (vgic::ich_lr::HW::get(s.lr[i])) return true;
    return false;
}

// The LRs in use, read back from the CPU into the model's view (their state is the guest's now). LR 0 by its own
// MRS: the IPI's and the LPI's IRQ exit find one LR in use, and read_lr's index dispatch cost more than the read.
[[gnu::always_inline]] inline void vgic_read_lrs(vgic::VcpuIfState& s) {
    const u32 used = min(s.used_lrs, hyp().vgic_glue.nr_lrs);
    if (used == 0) return;
    s.lr[0] = read_sysreg<arm::reg::ich_lr_el2(0)>();
    for (u32 i = 1; i < used; ++i) s.lr[i] = read_lr(i);
}

// The LRs the last flush wrote for an IRQ exit of the fast path may stay in the CPU until its entry (lrs_live): no
// maintenance interrupt can be pending (the flush asked for none -- ICH_HCR_EL2 is En alone -- and the guest
// counted no EOI outside the LRs, IHI0069H 12.5.7) and no LR is hardware-linked (their fold must settle the
// physical side before the IRQ handlers run).
[[gnu::always_inline]] inline bool vgic_can_keep_lrs(const vgic::VcpuIfState& s) {
    if (s.hcr != vgic::ich_hcr::En::field_mask || vgic_hw_linked_lr(s)) return false;
    return read_sysreg<arm::reg::kIchHcrEl2>() == vgic::ich_hcr::En::field_mask;
}

// The LRs for the entry, from `s`: those in use now or at the last entry (the rest are 0 in the CPU already). LR 0
// by its own MSR, as vgic_read_lrs.
[[gnu::always_inline]] inline void vgic_write_lrs(VgicCpuState& cpu, const vgic::VcpuIfState& s) {
    const u32 used = min(s.used_lrs, hyp().vgic_glue.nr_lrs);
    const u32 nwrite = max(used, cpu.hw_lrs);  // s.lr[i] == 0 for i >= used_lrs
    cpu.hw_lrs = used;
    if (nwrite == 0) return;
    write_sysreg<arm::reg::ich_lr_el2(0)>(s.lr[0]);
    for (u32 i = 1; i < nwrite; ++i) write_lr(i, s.lr[i]);
}

// The kick's IRQ exit (vgic_glue.hpp; docs/vgic.md "Direct flush"), inline in hv_fast_irq: one frame for the exit.
[[gnu::always_inline]] inline u64 vgic_kick_direct(Vcpu& v) {
    if (!vgic_ready_fast()) return kRefireNone;
    vgic::Vgic& g = hyp().vm->vgic;
    const u32 id = v.id;
    if (id >= g.vcpu_count()) return kRefireNone;  // (<= kMaxVcpus)
    VgicCpuState& cpu = this_cpu().vgic;
    // From one pointer: GCC rematerialised &vcpus_[id].cpu_if from the index at every use (lib/types.hpp opaque).
    vgic::VcpuIfState& s = *opaque(&g.cpu_if(id));
    if (!cpu.ready || cpu.fold_deferred || !vgic_lines_quiet(v) || !vgic_can_keep_lrs(s)) return kRefireNone;
    const u64 ack = read_sysreg<arm::reg::kIccIar1El1>();
    if ((ack & 0xffffff) != kSgiKick) return ack;  // something of higher priority came in between
    write_sysreg<arm::reg::kIccEoir1El1>(ack);     // as gic_handle_irqs for the kick (sgi_kick: deactivate)
    write_sysreg<arm::reg::kIccDirEl1>(kSgiKick);  // gic_deactivate, inline
    // As the run loop: the kick is spent by this entry (the flush below sees what it announced).
    v.kick_pending.store(false, MemoryOrder::release);
    vgic_read_lrs(s);
    const u64 hcr = s.hcr;
    (void)g.flush_live(id, s);
    vgic_write_lrs(cpu, s);
    if (s.hcr != hcr) write_sysreg<arm::reg::kIchHcrEl2>(s.hcr);
    return kRefireDone;
}

}  // namespace hv::arch
