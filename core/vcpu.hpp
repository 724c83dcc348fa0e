// A vCPU as plain data (its register context and run state) plus the architectural operations on that context that
// do not need the hardware: exception injection into EL1 and register access by number. Host-unit-tested; the
// world switch in arch/aarch64 moves the context in and out of the CPU.
#pragma once

#include "core/vcpu_context.hpp"
#include "lib/atomic.hpp"
#include "lib/bits.hpp"

namespace hv {

// SPSR / PSTATE fields (DDI0487 C5.2.19 SPSR_EL2).
namespace pstate {
using M = Field<3, 0>;  // AArch64 mode: EL and SP selection
using Daif = Field<9, 6>;
constexpr u64 kEl0t = 0x0;
constexpr u64 kEl1t = 0x4;
constexpr u64 kEl1h = 0x5;
constexpr u64 kDaifMasked = 0xf;
constexpr u64 kEl1hMasked = kEl1h | (kDaifMasked << 6);  // 0x3c5: the guest's reset state
}  // namespace pstate

enum class VcpuState : u8 {
    off,      // not started (waits for PSCI CPU_ON)
    pending,  // CPU_ON accepted, entry point set, not yet running
    running,
};

struct Vcpu {
    u32 id = 0;
    u32 pcpu = 0;                             // pinned 1:1
    u64 mpidr = 0;                            // the guest-visible MPIDR (VMPIDR_EL2)
    Atomic<VcpuState> state{VcpuState::off};  // written by its own pCPU and by start_vcpu / VM reset
    bool fp_dirty = true;                     // context FP/SIMD registers must be loaded into the CPU at the next entry
    // Lazy EL1 system registers (arch/aarch64/el1_sysregs.cpp; vCPUs are pinned 1:1 and EL2 never uses EL1 state, so
    // the guest's EL1 registers stay live in the CPU across exits). sys_dirty: ctx.sys is newer than the CPU (or the
    // CPU never held it): load it at the next entry. sys_stale: the CPU is newer than ctx.sys (set at every exit): save
    // it before anything reads ctx.sys. Never both.
    bool sys_dirty = true;
    bool sys_stale = false;
    // PMU registers (ctx.pmu): the guest owns its pCPU's PMU, so they are not switched at exits at all. pmu_dirty:
    // ctx.pmu is newer than the hardware (vCPU reset, restore): load it before the vCPU runs. Clear: the hardware
    // is current and ctx.pmu may be stale (arch/aarch64/pmu.cpp saves it before anything reads it).
    bool pmu_dirty = true;
    Atomic<bool> kick_pending;  // set by a kick (arch::kick_vcpu): ends a WFI / CPU_SUSPEND wait
    // A CPU_ON that arrived while this vCPU was between its CPU_OFF call and the arch's `off` state: honoured when
    // the CPU_OFF completes (arch start_vcpu / vcpu_off under one lock).
    bool restart_requested = false;
    u64 restart_entry = 0;
    u64 restart_context = 0;
    VcpuContext ctx{};
};

// Put the vCPU at its architectural reset state for a kernel entry: EL1h, DAIF masked, the EL1 registers at the
// table's reset values (el1::reset: KVM's, MMU/caches off; MPIDR = v.mpidr; CNTVOFF_EL2 kept), x0 = arg0,
// PC = entry (DEN0022D 6.4.3 "CPU_ON" entry conditions; Linux booting.rst).
void vcpu_reset(Vcpu& v, u64 entry, u64 arg0);

// General-purpose register read/write by number as instructions see it: 31 is XZR (reads 0, writes ignored).
inline u64 read_gpr(const VcpuContext& c, unsigned n) { return n < 31 ? c.core.x[n] : 0; }
inline void write_gpr(VcpuContext& c, unsigned n, u64 value) {
    if (n < 31) c.core.x[n] = value;
}

// Exception types at the target vector (DDI0487 D1.10.2 "Exception vectors").
enum class VectorKind : u8 { sync = 0, irq = 1, fiq = 2, serror = 3 };

// Vector offset from VBAR_EL1 for an exception taken to EL1 from the state in `spsr` (the interrupted PSTATE).
u64 el1_vector_offset(u64 spsr, VectorKind kind);

// Make the guest take a synchronous exception to EL1 as the hardware would: ESR_EL1 = esr, FAR_EL1 = far (if
// far_valid), ELR_EL1 = current PC, SPSR_EL1 = current PSTATE, PSTATE = EL1h with DAIF masked, PC = vector.
void inject_sync_exception(VcpuContext& c, u64 esr, u64 far, bool far_valid);

// The two injections the exit handlers use: an UNDEFINED instruction (EC 0, IL = 1) at the current PC, and a
// synchronous external abort for a data/instruction access to `far` (EC 0x24/0x25 or 0x20/0x21 by source EL).
void inject_undef(VcpuContext& c);
void inject_data_abort(VcpuContext& c, u64 far, bool write);
void inject_instruction_abort(VcpuContext& c, u64 far);

// Skip the trapped instruction (all our traps are from 32-bit A64 instructions).
inline void advance_pc(VcpuContext& c) { c.core.pc += 4; }

// True if the guest was at EL0 when it exited.
inline bool from_el0(const VcpuContext& c) { return (pstate::M::get(c.core.pstate) >> 2) == 0; }

}  // namespace hv
