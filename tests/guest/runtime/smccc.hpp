// SMC Calling Convention (ARM DEN0028) and PSCI (ARM DEN0022) calls from EL1.
#pragma once

#include "lib/types.hpp"

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

namespace smccc {
constexpr i64 kNotSupported = -1;   // DEN0028 7.1: unknown function ID
constexpr u32 kVersion = 0x8000'0000;
constexpr u32 kArchFeatures = 0x8000'0001;
}  // namespace smccc

namespace psci {
// DEN0022D 5.1: function IDs (SMC32 where both exist).
constexpr u32 kVersion = 0x8400'0000;
constexpr u32 kCpuSuspend64 = 0xc400'0001;
constexpr u32 kCpuOff = 0x8400'0002;
constexpr u32 kCpuOn64 = 0xc400'0003;
constexpr u32 kAffinityInfo64 = 0xc400'0004;
constexpr u32 kSystemOff = 0x8400'0008;
constexpr u32 kSystemReset = 0x8400'0009;
constexpr u32 kFeatures = 0x8400'000a;
// DEN0022D 5.2.2 return codes.
constexpr i64 kSuccess = 0;
constexpr i64 kNotSupported = -1;
constexpr i64 kInvalidParameters = -2;
constexpr i64 kDenied = -3;
constexpr i64 kAlreadyOn = -4;
constexpr i64 kOnPending = -5;
constexpr i64 kInternalFailure = -6;
constexpr i64 kNotPresent = -7;
constexpr i64 kDisabled = -8;
constexpr i64 kInvalidAddress = -9;

u32 version();  // major << 16 | minor
i64 cpu_on(u64 target_mpidr, u64 entry, u64 context_id);
i64 features(u32 fid);
[[noreturn]] void system_off();  // spins in WFI if the call returns (printing why)
}  // namespace psci

}  // namespace rt
