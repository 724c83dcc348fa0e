// SMC Calling Convention (ARM DEN0028) and PSCI (ARM DEN0022) calls from EL1. The function IDs and return codes
// are the hypervisor's own (psci/ids.hpp, namespace hv::psci — `psci::kCpuOn`, `psci::kPsciSuccess`; the SMC64
// form of a function is `psci::kCpuOn | psci::kSmc64`), so payloads and firmware model cannot disagree on them.
#pragma once

#include "lib/types.hpp"
#include "psci/ids.hpp"

namespace rt {

using namespace hv;

struct SmcccResult {
    u64 x0, x1, x2, x3;
    i64 status() const { return static_cast<i64>(x0); }
};

enum class Conduit : u8 { hvc, smc };

// Raw SMCCC 1.1 calls: x0 = function ID, x1..x7 arguments; x0..x3 come back (x4..x17 may be clobbered).
SmcccResult hvc_call(u64 fid, u64 a1 = 0, u64 a2 = 0, u64 a3 = 0, u64 a4 = 0, u64 a5 = 0, u64 a6 = 0, u64 a7 = 0);
SmcccResult smc_call(u64 fid, u64 a1 = 0, u64 a2 = 0, u64 a3 = 0, u64 a4 = 0, u64 a5 = 0, u64 a6 = 0, u64 a7 = 0);
SmcccResult smccc_call(Conduit c, u64 fid, u64 a1 = 0, u64 a2 = 0, u64 a3 = 0);

// The conduit named by the guest DT's /psci "method" (set by the runtime at start; hvc if absent).
void set_psci_conduit(Conduit c);
Conduit psci_conduit();

// PSCI calls over psci_conduit().
u32 psci_version();                                            // major << 16 | minor
i64 psci_cpu_on(u64 target_mpidr, u64 entry, u64 context_id);  // the SMC64 form
i64 psci_features(u32 fid);
[[noreturn]] void psci_system_off();  // spins in WFI if the call returns (printing why)

}  // namespace rt
