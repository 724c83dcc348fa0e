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
constexpr u32 kArchSocId = 0x8000'0002;
constexpr u32 kArchWorkaround1 = 0x8000'8000;  // DEN0028 7.5 (CVE-2017-5715)
constexpr u32 kArchWorkaround2 = 0x8000'7fff;  // DEN0028 7.6 (CVE-2018-3639)
constexpr u32 kArchWorkaround3 = 0x8000'3fff;  // DEN0028 7.7 (CVE-2022-23960)
constexpr i64 kNotRequired = -2;
constexpr i64 kInvalidParameter = -3;
// Generic service queries of the standard service (DEN0028 6.2).
constexpr u32 kStdCallCount = 0x8400'ff00;
constexpr u32 kStdUid = 0x8400'ff01;
constexpr u32 kStdRevision = 0x8400'ff03;
}  // namespace smccc

// True RNG firmware interface (ARM DEN0098 1.0).
namespace trng {
constexpr u32 kVersion = 0x8400'0050;
constexpr u32 kFeatures = 0x8400'0051;
constexpr u32 kGetUuid = 0x8400'0052;
constexpr u32 kRnd32 = 0x8400'0053;
constexpr u32 kRnd64 = 0xc400'0053;
constexpr i64 kNotSupported = -1;
constexpr i64 kInvalidParameters = -2;
constexpr i64 kNoEntropy = -3;
}  // namespace trng

namespace psci {
// DEN0022D 5.1: function IDs (SMC32 where both exist).
constexpr u32 kVersion = 0x8400'0000;
constexpr u32 kCpuSuspend32 = 0x8400'0001;
constexpr u32 kCpuSuspend64 = 0xc400'0001;
constexpr u32 kCpuOff = 0x8400'0002;
constexpr u32 kCpuOn32 = 0x8400'0003;
constexpr u32 kCpuOn64 = 0xc400'0003;
constexpr u32 kAffinityInfo32 = 0x8400'0004;
constexpr u32 kAffinityInfo64 = 0xc400'0004;
constexpr u32 kMigrate32 = 0x8400'0005;
constexpr u32 kMigrate64 = 0xc400'0005;
constexpr u32 kMigrateInfoType = 0x8400'0006;
constexpr u32 kMigrateInfoUpCpu32 = 0x8400'0007;
constexpr u32 kMigrateInfoUpCpu64 = 0xc400'0007;
constexpr u32 kSystemOff = 0x8400'0008;
constexpr u32 kSystemReset = 0x8400'0009;
constexpr u32 kFeatures = 0x8400'000a;
constexpr u32 kCpuFreeze = 0x8400'000b;
constexpr u32 kCpuDefaultSuspend32 = 0x8400'000c;
constexpr u32 kNodeHwState32 = 0x8400'000d;
constexpr u32 kSystemSuspend32 = 0x8400'000e;
constexpr u32 kSetSuspendMode = 0x8400'000f;
constexpr u32 kStatResidency32 = 0x8400'0010;
constexpr u32 kStatCount32 = 0x8400'0011;
constexpr u32 kSystemReset2_32 = 0x8400'0012;
constexpr u32 kSystemReset2_64 = 0xc400'0012;
constexpr u32 kMemProtect = 0x8400'0013;
constexpr u32 kSmc64Bit = 0x4000'0000;  // SMC64 form of a function = SMC32 ID | this (DEN0028 2.5)
// DEN0022D 5.7: AFFINITY_INFO results; 5.9: MIGRATE_INFO_TYPE 2 = no Trusted OS (or one that needs no migration).
constexpr i64 kAffinityOn = 0;
constexpr i64 kAffinityOff = 1;
constexpr i64 kAffinityOnPending = 2;
constexpr i64 kMigrateInfoNoTrustedOs = 2;
// CPU_SUSPEND power_state, original format (DEN0022D 5.4.2.1): StateType bit 16 = power down.
constexpr u32 kPowerStatePowerDown = 1u << 16;
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
