// Fatal errors of the hypervisor itself (never guest input): print, stop every pCPU, halt.
//
// Console contract (tools/run-guest relies on it): the first line is "[hvN E] PANIC: <message>", followed by the
// decoded exception if there was one, and the last line is "hv: system halted after panic". QEMU keeps running
// (halted CPUs); the runner stops it.
#pragma once

#include "lib/types.hpp"

namespace hv::arch {

struct El2Frame {
    u64 x[31];
    u64 sp;
    u64 elr;
    u64 spsr;
    u64 esr;
    u64 far;
};
static_assert(sizeof(El2Frame) == 288);

// panicking() -- true once any pCPU panicked: the others stop at their next exit / IRQ -- is in anchor.hpp (inline:
// every IRQ exit asks).
[[noreturn]] void stop_this_cpu();

}  // namespace hv::arch

// Called by vectors.S for an exception taken from EL2 itself (kind: HV_EL2_* in asm_defs.h).
extern "C" [[noreturn]] void hv_el2_fault(hv::arch::El2Frame* frame, hv::u64 kind);
