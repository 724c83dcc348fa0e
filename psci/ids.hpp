// Function IDs and return codes of the firmware interfaces we implement. Sources (facts only):
// PSCI DEN0022D (5.1 function IDs, 5.2.2 return codes), SMCCC DEN0028 (2.5 function ID layout, 7 Arm architecture
// calls, 6 service queries), TRNG DEN0098 (function IDs, return codes), Linux include/uapi/linux/psci.h and
// arch/arm64/include/uapi/asm/kvm.h (KVM's PSCI 0.1 IDs).
#pragma once

#include "lib/bits.hpp"

namespace hv::psci {

// SMCCC function ID layout (DEN0028 2.5): bit 31 fast call, bit 30 SMC64, [29:24] owner, [15:0] function number.
using FidFast = Bit<31>;
using FidSmc64 = Bit<30>;
using FidOwner = Field<29, 24>;
using FidNumber = Field<15, 0>;

enum class Owner : u8 { arch = 0, cpu = 1, sip = 2, oem = 3, standard = 4, standard_hyp = 5, vendor_hyp = 6 };

// SMCCC return values (DEN0028 7).
constexpr i64 kSmcccSuccess = 0;
constexpr i64 kSmcccNotSupported = -1;
constexpr i64 kSmcccNotRequired = -2;
constexpr i64 kSmcccInvalidParameter = -3;
constexpr i64 kSmcccWorkaroundUnaffected = 1;  // ARCH_FEATURES(ARCH_WORKAROUND_1/3): "not required on this PE"

// Arm architecture calls (owner 0).
constexpr u32 kSmcccVersion = 0x80000000;
constexpr u32 kSmcccArchFeatures = 0x80000001;
constexpr u32 kSmcccArchSocId = 0x80000002;
constexpr u32 kSmcccArchWorkaround1 = 0x80008000;
constexpr u32 kSmcccArchWorkaround2 = 0x80007fff;
constexpr u32 kSmcccArchWorkaround3 = 0x80003fff;
constexpr u32 kSmcccVersion1_1 = 0x10001;

// Generic service queries (DEN0028 6.2), per owner: 0x8?00FF00 count, FF01 UID, FF03 revision.
constexpr u32 kQueryCallCount = 0xff00;
constexpr u32 kQueryUid = 0xff01;
constexpr u32 kQueryRevision = 0xff03;
constexpr u32 kStdCallCount = 0x8400ff00;
constexpr u32 kStdUid = 0x8400ff01;
constexpr u32 kStdRevision = 0x8400ff03;
constexpr u32 kVendorHypCallCount = 0x8600ff00;
constexpr u32 kVendorHypUid = 0x8600ff01;
constexpr u32 kVendorHypRevision = 0x8600ff03;
constexpr u32 kVendorHypFeatures = 0x86000000;  // KVM's vendor "features" call (VENDOR_HYP_BMAP bit 0)

// PSCI 0.2+ (DEN0022D 5.1). SMC64 variants are the SMC32 ID | 0x40000000.
constexpr u32 kSmc64 = 0x40000000;
constexpr u32 kPsciVersionFn = 0x84000000;
constexpr u32 kCpuSuspend = 0x84000001;
constexpr u32 kCpuOff = 0x84000002;
constexpr u32 kCpuOn = 0x84000003;
constexpr u32 kAffinityInfo = 0x84000004;
constexpr u32 kMigrate = 0x84000005;
constexpr u32 kMigrateInfoType = 0x84000006;
constexpr u32 kMigrateInfoUpCpu = 0x84000007;
constexpr u32 kSystemOff = 0x84000008;
constexpr u32 kSystemReset = 0x84000009;
constexpr u32 kPsciFeatures = 0x8400000a;
constexpr u32 kCpuFreeze = 0x8400000b;
constexpr u32 kCpuDefaultSuspend = 0x8400000c;
constexpr u32 kNodeHwState = 0x8400000d;
constexpr u32 kSystemSuspend = 0x8400000e;
constexpr u32 kPsciSetSuspendMode = 0x8400000f;
constexpr u32 kPsciStatResidency = 0x84000010;
constexpr u32 kPsciStatCount = 0x84000011;
constexpr u32 kSystemReset2 = 0x84000012;
constexpr u32 kMemProtect = 0x84000013;
constexpr u32 kPsciFirst = 0x84000000;
constexpr u32 kPsciLast = 0x8400001f;  // PSCI owns function numbers 0x00-0x1f of the standard service

// PSCI 0.1 as KVM defines it (the guest DT names these IDs; no SMC64 forms).
constexpr u32 kPsci01Base = 0x95c1ba5e;
constexpr u32 kPsci01CpuSuspend = kPsci01Base + 0;
constexpr u32 kPsci01CpuOff = kPsci01Base + 1;
constexpr u32 kPsci01CpuOn = kPsci01Base + 2;
constexpr u32 kPsci01Migrate = kPsci01Base + 3;

// PSCI return codes (DEN0022D 5.2.2).
constexpr i64 kPsciSuccess = 0;
constexpr i64 kPsciNotSupported = -1;
constexpr i64 kPsciInvalidParameters = -2;
constexpr i64 kPsciDenied = -3;
constexpr i64 kPsciAlreadyOn = -4;
constexpr i64 kPsciOnPending = -5;
constexpr i64 kPsciInternalFailure = -6;
constexpr i64 kPsciNotPresent = -7;
constexpr i64 kPsciDisabled = -8;
constexpr i64 kPsciInvalidAddress = -9;

// AFFINITY_INFO results (DEN0022D 5.7) and MIGRATE_INFO_TYPE (5.9: 2 = no Trusted OS needing migration).
constexpr i64 kAffinityOn = 0;
constexpr i64 kAffinityOff = 1;
constexpr i64 kAffinityOnPending = 2;
constexpr i64 kMigrateInfoNoTrustedOs = 2;

// CPU_SUSPEND power_state, original format (DEN0022D 5.4.2.1): StateID [15:0], StateType [16] (1 = power down),
// PowerLevel [25:24]; bits [31:26] and [23:17] reserved (must be zero).
using PowerStateId = Field<15, 0>;
using PowerStateType = Bit<16>;
using PowerStateLevel = Field<25, 24>;
constexpr u64 kPowerStateReserved = mask(31, 26) | mask(23, 17);

// SYSTEM_RESET2 reset_type (DEN0022D 5.19): bit 31 set = vendor-specific; architectural type 0 = warm reset.
constexpr u32 kResetTypeVendor = 0x80000000;
constexpr u32 kResetTypeWarm = 0;

// MPIDR affinity fields valid in a target_cpu argument (DEN0022D 5.1.4); every other bit must be zero.
constexpr u64 kMpidrAffinityMask = 0xff00ffffffull;  // = arm::mpidr::kAffinityMask (static_assert in firmware.cpp;
                                                     // guest payloads include this header without core/)

// TRNG 1.0 (DEN0098): version 1.0, RND32 up to 96 bits, RND64 up to 192 bits.
constexpr u32 kTrngVersion = 0x84000050;
constexpr u32 kTrngFeatures = 0x84000051;
constexpr u32 kTrngGetUuid = 0x84000052;
constexpr u32 kTrngRnd32 = 0x84000053;
constexpr u32 kTrngRnd64 = 0xc4000053;
constexpr u32 kTrngVersion1_0 = 0x10000;
constexpr i64 kTrngNotSupported = -1;
constexpr i64 kTrngInvalidParameters = -2;
constexpr i64 kTrngNoEntropy = -3;
constexpr u32 kTrngMaxBits32 = 96;
constexpr u32 kTrngMaxBits64 = 192;

}  // namespace hv::psci
