// Secondary vCPUs for payloads: start one with PSCI CPU_ON on a runtime entry point with its own stack.
#pragma once

#include "lib/types.hpp"

namespace rt {

using namespace hv;

constexpr u32 kMaxCpus = 8;  // RT_MAX_CPUS in start.S

using CpuFn = void (*)(u32 slot, void* arg);

// CPU_ON `target_mpidr` running fn(slot, arg) on slot `slot` (1..kMaxCpus-1). When fn returns the CPU calls
// PSCI CPU_OFF. Returns the PSCI status of CPU_ON (psci::kSuccess, kAlreadyOn, ...); -2 for a bad slot.
i64 start_cpu(u32 slot, u64 target_mpidr, CpuFn fn, void* arg);
// Number of slots whose fn has started / returned (for waiting with a timeout).
bool cpu_started(u32 slot);
bool cpu_finished(u32 slot);
// MPIDRs of the DT's /cpus/cpu@* nodes, in DT order; returns how many (at most cap).
u32 dt_cpu_mpidrs(u64* out, u32 cap);

}  // namespace rt
