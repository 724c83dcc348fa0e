// EL2 hardening (docs/boot.md "EL2 hardening"): the boot-time W^X and stack-guard self-check over the EL2 stage-1
// tables, the stack protector's canary and failure handler, the branch-predictor mitigation applied on every exit
// from a guest (decided by psci/mitigations.hpp), and the debug_fault= test hooks that must end in a panic.
#pragma once

#include "core/bootargs.hpp"
#include "psci/mitigations.hpp"

namespace hv::arch {

// Walks the EL2 stage-1 table built by mmu_init: the image's text read-only + executable, rodata read-only + XN,
// data/BSS/stacks read-write + XN, every stack guard unmapped, nothing else executable, SCTLR_EL2.WXN set. Logs
// `hardening: W^X ok ...` and `hardening: stack protector ...`; panics (with the offending address) otherwise.
void hardening_self_check();

// Probes the CPU (MIDR, ID registers) and the firmware (SMCCC_ARCH_FEATURES), decides what EL2 does on entry from
// a guest and arms vectors.S accordingly; logs `hardening: branch predictor: ...`. Boot pCPU, before the VM is built.
void bp_mitigation_init();
// The decision (its `host` is the bound of the VM's SMCCC_ARCH_WORKAROUND_1/3 registers: vm_build applies it).
const mitigation::Decision& bp_mitigation();

// debug_fault= test hooks: never return (the fault panics).
[[noreturn]] void debug_fault(HvOptions::DebugFault which);

// hardening.cpp's state, held by the anchor (anchor.hpp); only hardening.cpp touches it.
struct HardeningState {
    mitigation::Decision bp;        // bp_mitigation_init's decision
    alignas(16) u32 fault_code[4];  // debug_fault=exec_data: a `ret` is written here (.bss: RW + XN) and called
    volatile u64 recursion_limit = ~u64{0};  // debug_fault=stack_overflow: a bound the compiler cannot see through
};

}  // namespace hv::arch
