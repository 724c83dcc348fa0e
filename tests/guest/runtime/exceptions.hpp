// EL1 exception handling for guest payloads: every exception lands in rt_exception() with a full register frame.
//
// Synchronous exceptions are handled, in order, by
//   1. an armed fault capture (expect_fault): the exception is recorded and the instruction skipped or resumed;
//   2. the installed sync handler (set_sync_handler), which may fix the frame up;
//   3. otherwise the exception is unexpected: it is printed, the running test fails, and the payload ends with
//      its summary line and SYSTEM_OFF (there is no way to unwind a bare-metal test safely).
// IRQs go to the installed IRQ handler (gic.hpp installs one); an IRQ with no handler is unexpected.
#pragma once

#include "lib/bits.hpp"
#include "lib/types.hpp"

namespace rt {

using namespace hv;

// Layout shared with start.S (FRAME_* offsets).
struct ExceptionFrame {
    u64 x[31];
    u64 elr;
    u64 spsr;
    u64 esr;
    u64 far;
    u64 pad;
};
static_assert(sizeof(ExceptionFrame) == 288);
static_assert(__builtin_offsetof(ExceptionFrame, elr) == 248);
static_assert(__builtin_offsetof(ExceptionFrame, far) == 272);

// Which vector was taken (start.S passes it).
enum class VectorKind : u32 {
    sync = 0,
    irq = 1,
    fiq = 2,
    serror = 3,
    // 4..7: current EL with SP_EL0, 8..15: lower EL -- never expected.
};

// ESR_ELx fields (ARM DDI0487 D17.2.40).
using EsrEc = Field<31, 26>;
using EsrIl = Bit<25>;
using EsrIss = Field<24, 0>;
using EsrDfsc = Field<5, 0>;  // data/instruction abort fault status code
using EsrWnR = Bit<6>;        // data abort: write not read

namespace ec {
constexpr u32 kUnknown = 0x00;  // also what an injected UNDEF reports
constexpr u32 kSveAccess = 0x19;
constexpr u32 kHvc64 = 0x16;
constexpr u32 kSmc64 = 0x17;
constexpr u32 kInstAbortSameEl = 0x21;
constexpr u32 kDataAbortSameEl = 0x25;
}  // namespace ec
constexpr u32 kDfscSyncExternalAbort = 0x10;

struct FaultRecord {
    bool taken = false;
    u32 kind = 0;  // VectorKind value
    u64 esr = 0;
    u64 far = 0;
    u64 elr = 0;
    u32 ec() const { return static_cast<u32>(EsrEc::get(esr)); }
    u32 dfsc() const { return static_cast<u32>(EsrDfsc::get(esr)); }
    bool is_write() const { return EsrWnR::get(esr) != 0; }
};

enum class FaultAction : u8 {
    skip,    // return to elr + 4 (the faulting instruction is not re-executed)
    resume,  // return to elr (the handler must have changed something)
};

// Arm capture of the next synchronous exception (one shot). take_fault() returns the record and disarms.
void expect_fault(FaultAction action = FaultAction::skip);
FaultRecord take_fault();
const char* ec_name(u32 ec);

// Sync handler: return true if the exception was handled (the frame may have been changed).
using SyncHandler = bool (*)(ExceptionFrame& frame);
using IrqHandler = void (*)(ExceptionFrame& frame);
void set_sync_handler(SyncHandler h);
void set_irq_handler(IrqHandler h);

// Memory probes that survive a fault: arm a capture, access once, report. The value is `fallback` if it faulted.
struct ProbeResult {
    u64 value;
    FaultRecord fault;
};
ProbeResult probe_read64(u64 addr, u64 fallback = 0);
ProbeResult probe_read32(u64 addr, u32 fallback = 0);
FaultRecord probe_write64(u64 addr, u64 value);
FaultRecord probe_write32(u64 addr, u32 value);

}  // namespace rt
