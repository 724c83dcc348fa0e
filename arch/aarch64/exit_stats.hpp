// Exit counters per vCPU (diagnostics: logged at SYSTEM_OFF / SYSTEM_RESET, read by tests/bench/linux-boot). Each
// vCPU's counters are only written by the pCPU running it; relaxed atomics keep the cross-CPU read well defined.
#pragma once

#include "lib/types.hpp"

namespace hv::arch {

struct ExitStats {
    u64 irq = 0, hvc = 0, smc = 0, dabt = 0, sysreg = 0, wfi = 0, wfi_wait_ns = 0, other = 0;
};
ExitStats& exit_stats(u32 vcpu);
inline void count_exit(u64& c, u64 n = 1) { __atomic_fetch_add(&c, n, __ATOMIC_RELAXED); }

// One line per vCPU, then the MSI and SMMU counters.
void log_exit_stats();

}  // namespace hv::arch
