// SDEI 1.1 (Arm DEN0054) function IDs, return codes and argument layouts. Facts only; sources: DEN0054 (5.1 function
// IDs, 5.2 return codes, 5.1.x argument tables), Linux include/uapi/linux/arm_sdei.h.
#pragma once

#include "lib/bits.hpp"

namespace hv::sdei {

// All SDEI calls are SMC64 fast calls of the standard service, function numbers 0x20..0x3F (DEN0054 5.1).
constexpr u32 kFnBase = 0xC4000020;
constexpr u32 kFnMask = 0xFFFFFFE0;
constexpr u32 kVersion = kFnBase + 0x00;
constexpr u32 kEventRegister = kFnBase + 0x01;
constexpr u32 kEventEnable = kFnBase + 0x02;
constexpr u32 kEventDisable = kFnBase + 0x03;
constexpr u32 kEventContext = kFnBase + 0x04;
constexpr u32 kEventComplete = kFnBase + 0x05;
constexpr u32 kEventCompleteAndResume = kFnBase + 0x06;
constexpr u32 kEventUnregister = kFnBase + 0x07;
constexpr u32 kEventStatus = kFnBase + 0x08;
constexpr u32 kEventGetInfo = kFnBase + 0x09;
constexpr u32 kEventRoutingSet = kFnBase + 0x0A;
constexpr u32 kPeMask = kFnBase + 0x0B;
constexpr u32 kPeUnmask = kFnBase + 0x0C;
constexpr u32 kInterruptBind = kFnBase + 0x0D;
constexpr u32 kInterruptRelease = kFnBase + 0x0E;
constexpr u32 kEventSignal = kFnBase + 0x0F;  // 1.1
constexpr u32 kFeatures = kFnBase + 0x10;     // 1.1
constexpr u32 kPrivateReset = kFnBase + 0x11;
constexpr u32 kSharedReset = kFnBase + 0x12;
constexpr u32 kFnLast = kSharedReset;

constexpr bool is_sdei_fid(u32 fid) { return (fid & kFnMask) == kFnBase; }

// Return codes (DEN0054 5.2).
constexpr i64 kSuccess = 0;
constexpr i64 kNotSupported = -1;
constexpr i64 kInvalidParameters = -2;
constexpr i64 kDenied = -3;
constexpr i64 kPending = -5;
constexpr i64 kOutOfResource = -10;

// SDEI_VERSION: [62:48] major, [47:32] minor, [31:0] vendor-defined (DEN0054 5.1.1).
using VersionMajor = Field<62, 48>;
using VersionMinor = Field<47, 32>;
using VersionVendor = Field<31, 0>;
constexpr u64 kVersion1_1 = VersionMajor::make(1) | VersionMinor::make(1);

// EVENT_REGISTER / EVENT_ROUTING_SET flags (DEN0054 5.1.2): bit 0 routing mode, bit 1 relative entry (1.1).
using FlagRoutingMode = Bit<0>;
using FlagRelative = Bit<1>;
constexpr u64 kRoutingAny = 0;  // RM_ANY
constexpr u64 kRoutingPe = 1;   // RM_PE

// EVENT_STATUS result bits (DEN0054 5.1.9).
constexpr u64 kStatusRegistered = 1u << 0;
constexpr u64 kStatusEnabled = 1u << 1;
constexpr u64 kStatusRunning = 1u << 2;

// EVENT_GET_INFO queries (DEN0054 5.1.10).
constexpr u64 kInfoType = 0;         // 0 private, 1 shared
constexpr u64 kInfoSignaled = 1;     // 1 if EVENT_SIGNAL can raise it
constexpr u64 kInfoPriority = 2;     // 0 normal, 1 critical
constexpr u64 kInfoRoutingMode = 3;  // shared events only
constexpr u64 kInfoRoutingAff = 4;   // shared events only

// FEATURES (1.1, DEN0054 5.1.17): 0 = BIND_SLOTS ([15:0] private, [31:16] shared), 1 = RELATIVE_MODE.
constexpr u64 kFeatureBindSlots = 0;
constexpr u64 kFeatureRelativeMode = 1;

// EVENT_COMPLETE status argument: handled / failed (Linux SDEI_EV_HANDLED / SDEI_EV_FAILED).
constexpr u64 kEvHandled = 0;
constexpr u64 kEvFailed = 1;

// The software-signalled event: private, normal priority, always present (DEN0054 4.4).
constexpr u32 kSignalEvent = 0;

// Event numbers handed out by INTERRUPT_BIND (ours; DEN0054 leaves numbering to the implementation beyond event 0).
constexpr u32 kPrivateBoundBase = 0x100;  // + slot: a PPI bound on every PE
constexpr u32 kSharedBoundBase = 0x200;   // + slot: an SPI

// Event priorities (EVENT_GET_INFO PRIORITY, DEN0054 4.5): a critical event preempts a running normal handler.
constexpr u8 kPriorityNormal = 0;
constexpr u8 kPriorityCritical = 1;
// The priority of a bound event is fixed at INTERRUPT_BIND from the interrupt's GIC priority (ours; DEN0054 leaves
// it to the implementation): values below this (the more urgent half of the range) give a critical event.
constexpr u8 kCriticalGicPriorityBelow = 0x80;

// EVENT_CONTEXT parameter: which of the interrupted x0..x17.
constexpr u64 kContextRegs = 18;

// MPIDR affinity fields accepted as a target / routing affinity (Aff3 [39:32], Aff2..Aff0 [23:0]).
constexpr u64 kMpidrAffinityMask = 0xff00ffffffull;  // = arm::mpidr::kAffinityMask (static_assert in sdei.cpp; guest
                                                     // payloads include this header without core/)

}  // namespace hv::sdei
