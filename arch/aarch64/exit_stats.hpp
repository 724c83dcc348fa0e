// Exit counters per vCPU (diagnostics: logged at SYSTEM_OFF / SYSTEM_RESET, read by tests/bench/linux-boot). Each
// vCPU's counters are only written by the pCPU running it; relaxed atomics keep the cross-CPU read well defined.
#pragma once

#include "lib/atomic.hpp"

namespace hv::arch {

struct ExitStats {
    Atomic<u64> irq, hvc, smc, dabt, sysreg, wfi, wfi_wait_ns, other;
    Atomic<u64> off_wakes;  // WFIs that returned while the vCPU was off (docs/isolation.md: an off vCPU sleeps)
    Atomic<u64> fast;       // exits (counted above too) the fast path handled and resumed (arch/aarch64/fast_exit.cpp)
};
// This pCPU's counters (the vCPU pinned to it): PerCpu::exits (percpu.hpp).
inline void count_exit(Atomic<u64>& c, u64 n = 1) { c.fetch_add(n, MemoryOrder::relaxed); }

// One line per vCPU, then the devices' counters (DeviceHooks::log_stats).
void log_exit_stats();

}  // namespace hv::arch
