// Secondary vCPUs for payloads: start one with PSCI CPU_ON on a runtime entry point with its own stack.
#pragma once

#include "lib/types.hpp"

namespace rt {

using namespace hv;

constexpr u32 kMaxCpus = 8;  // RT_MAX_CPUS in start.S

using CpuFn = void (*)(u32 slot, void* arg);

// CPU_ON `target_mpidr` running fn(slot, arg) on slot `slot` (1..kMaxCpus-1). When fn returns the CPU calls
// PSCI CPU_OFF. Returns the PSCI status of CPU_ON (psci::kPsciSuccess, kAlreadyOn, ...); -2 for a bad slot.
i64 start_cpu(u32 slot, u64 target_mpidr, CpuFn fn, void* arg);
// Number of slots whose fn has started / returned (for waiting with a timeout).
bool cpu_started(u32 slot);
bool cpu_finished(u32 slot);
// Spins until cond(slot) (cpu_started, cpu_finished, ...) holds or `ms` pass; returns cond(slot).
bool wait_slot(bool (*cond)(u32 slot), u32 slot, u64 ms);
// MPIDRs of the DT's /cpus/cpu@* nodes, in DT order; returns how many (at most cap).
u32 dt_cpu_mpidrs(u64* out, u32 cap);
// This CPU's MPIDR_EL1 affinity fields (Aff3 [39:32], Aff2..Aff0 [23:0]: the form PSCI takes, DEN0022D 5.1.4).
u64 self_mpidr();
// The DT's CPUs other than this one, in DT order; returns how many (at most cap).
u32 dt_other_cpus(u64* out, u32 cap);
// The first of them, or ~0 if there is none.
u64 dt_other_cpu();

// --- lower-level pieces, for payloads that issue the CPU_ON themselves (races, SMC32 forms, PSCI 0.1 IDs) -------
// Sets up `slot` like start_cpu() without calling CPU_ON; then CPU_ON(target, secondary_entry_address(), slot)
// runs fn(slot, arg). False for a bad slot.
bool prepare_cpu(u32 slot, CpuFn fn, void* arg);
u64 secondary_entry_address();
// Function ID the runtime's secondaries call when fn returns (default PSCI 0.2+ CPU_OFF, 0x84000002). A PSCI 0.1
// VM names its own in the DT's /psci "cpu_off" property.
void set_cpu_off_function(u32 fid);

// Entry-state capture (entry_capture.S): a CPU entering capture_entry_address() records x0 (the context id),
// CurrentEL, SPSel, SCTLR_EL1 and DAIF as found at entry, then runs the slot armed by prepare_captured_cpu().
// One capture at a time.
struct EntryCapture {
    u64 x0;
    u64 current_el;  // raw CurrentEL (EL in bits [3:2])
    u64 spsel;
    u64 sctlr_el1;
    u64 daif;
    u64 valid;  // 1 once the record is written
    u64 slot;   // set by prepare_captured_cpu()
    u64 pad;
};
static_assert(sizeof(EntryCapture) == 64);
const volatile EntryCapture& entry_capture();
u64 capture_entry_address();
bool prepare_captured_cpu(u32 slot, CpuFn fn, void* arg);  // also clears the record
// prepare_captured_cpu() + CPU_ON(target, capture_entry_address(), context_id) on the PSCI conduit.
i64 start_cpu_captured(u32 slot, u64 target_mpidr, u64 context_id, CpuFn fn, void* arg);

}  // namespace rt
