// Guest register state of one vCPU, as the world switch saves it and the register list reads it.
// `CoreRegs` has exactly the layout of KVM's `struct kvm_regs` (arm64), so a KVM core-register ID's index
// (offset / 4) addresses the same field here. Offsets are checked below and used by the world-switch assembly.
#pragma once

#include "core/el1_regs.hpp"
#include "lib/types.hpp"

namespace hv {

struct alignas(16) CoreRegs {
    u64 x[31];      // 0x000
    u64 sp;         // 0x0f8  SP_EL0
    u64 pc;         // 0x100  ELR_EL2 on entry/exit
    u64 pstate;     // 0x108  SPSR_EL2 on entry/exit
    u64 sp_el1;     // 0x110
    u64 elr_el1;    // 0x118
    u64 spsr[5];    // 0x120  [0] SPSR_EL1, [1..4] AArch32 abt/und/irq/fiq (always 0: AArch64-only guests)
    u64 pad0;       // 0x148
    u64 vregs[64];  // 0x150  V0..V31, 128 bits each, low half first
    u32 fpsr;       // 0x350
    u32 fpcr;       // 0x354
    u32 fp_reserved[2];
};
static_assert(__builtin_offsetof(CoreRegs, sp) == 0xf8);
static_assert(__builtin_offsetof(CoreRegs, pc) == 0x100);
static_assert(__builtin_offsetof(CoreRegs, sp_el1) == 0x110);
static_assert(__builtin_offsetof(CoreRegs, spsr) == 0x120);
static_assert(__builtin_offsetof(CoreRegs, vregs) == 0x150);
static_assert(__builtin_offsetof(CoreRegs, fpsr) == 0x350);
static_assert(sizeof(CoreRegs) == 0x360);

// PMUv3 registers of one vCPU (core/pmu.hpp). The guest owns the PMU hardware of its pCPU (no traps), so these are
// only moved in and out at vCPU reset, VM reset and snapshots (arch/aarch64/pmu.cpp), not at every exit. PMCR holds
// only the writable bits; the read-only fields (IMP, IDCODE, N) are the host's. Event counters/types n >= PMCR.N
// do not exist and stay 0.
struct PmuRegs {
    static constexpr unsigned kMaxEventCounters = 31;
    u64 pmcr;
    u64 cntenset;                    // PMCNTENSET_EL0 (= PMCNTENCLR_EL0)
    u64 intenset;                    // PMINTENSET_EL1 (= PMINTENCLR_EL1)
    u64 ovsset;                      // PMOVSSET_EL0 (= PMOVSCLR_EL0)
    u64 userenr;                     // PMUSERENR_EL0
    u64 selr;                        // PMSELR_EL0
    u64 ccntr;                       // PMCCNTR_EL0
    u64 ccfiltr;                     // PMCCFILTR_EL0
    u64 evcntr[kMaxEventCounters];   // PMEVCNTR<n>_EL0
    u64 evtyper[kMaxEventCounters];  // PMEVTYPER<n>_EL0
};

struct VcpuContext {
    CoreRegs core;
    u64 sys[kSysRegCount];  // indexed by SysReg: the EL1 register table (core/el1_regs.hpp)
    PmuRegs pmu;

    u64& sysreg(SysReg r) { return sys[static_cast<usize>(r)]; }
    u64 sysreg(SysReg r) const { return sys[static_cast<usize>(r)]; }
};
static_assert(__builtin_offsetof(VcpuContext, sys) == 0x360);

}  // namespace hv
