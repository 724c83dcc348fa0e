// The exit fast path's inline queries of the vGIC glue's per-VM state (VgicGlueState, vgic_glue.hpp; fast_exit.cpp):
// asked on every trapped GICD/GICR access, where a call each cost about 20 instructions (docs/benchmarks-exits.md).
// Read-only; vgic_glue.cpp owns and writes the state.
#pragma once

#include "arch/aarch64/anchor.hpp"
#include "arch/aarch64/percpu.hpp"
#include "arch/aarch64/sysreg.hpp"
#include "core/arm_defs.hpp"
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

}  // namespace hv::arch
