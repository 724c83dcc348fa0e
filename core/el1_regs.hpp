// The EL1 register table: the one list of the guest system registers the world switch carries. Everything else is
// generated from it: the `SysReg` enum (the index into VcpuContext::sys), the world switch's save/load code
// (arch/aarch64/el1_sysregs.cpp), trapped accesses (arch/aarch64/sysreg_trap.cpp), the KVM_REG_ARM64_SYSREG class
// of the register catalogue (core/reglist/vcpu_regs.cpp) and the reset values (vcpu_reset, the catalogue's reset).
// Adding a register is one line in HV_EL1_REGS (docs/reglist.md "The EL1 register table").
#pragma once

#include "core/arm_defs.hpp"
#include "lib/types.hpp"

// X(name, op0, op1, CRn, CRm, op2, reset, access). Encodings: DDI0487 D19 / "System register index by encoding";
// reset values are KVM's (arch/arm64/kvm/sys_regs.c: SCTLR_EL1 0x00C50078, OSLSR_EL1 0x8, everything else 0;
// MPIDR_EL1 is the vCPU's own, see el1::Access). The order is that of VcpuContext::sys and the world switch's load
// order: a timer's compare value before its control register, CNTVOFF_EL2 before the virtual timer, so enabling a timer
// never fires on a stale compare value or offset. The KVM list order is derived (sorted by ID) where it is needed.
// clang-format off
#define HV_EL1_REGS(X)                                       \
    X(SCTLR_EL1,      3, 0,  1, 0, 0, 0x00c50078, el1)       \
    X(ACTLR_EL1,      3, 0,  1, 0, 1, 0,          shadow)    \
    X(CPACR_EL1,      3, 0,  1, 0, 2, 0,          el1)       \
    X(TTBR0_EL1,      3, 0,  2, 0, 0, 0,          el1)       \
    X(TTBR1_EL1,      3, 0,  2, 0, 1, 0,          el1)       \
    X(TCR_EL1,        3, 0,  2, 0, 2, 0,          el1)       \
    X(ESR_EL1,        3, 0,  5, 2, 0, 0,          el1)       \
    X(AFSR0_EL1,      3, 0,  5, 1, 0, 0,          el1)       \
    X(AFSR1_EL1,      3, 0,  5, 1, 1, 0,          el1)       \
    X(FAR_EL1,        3, 0,  6, 0, 0, 0,          el1)       \
    X(MAIR_EL1,       3, 0, 10, 2, 0, 0,          el1)       \
    X(AMAIR_EL1,      3, 0, 10, 3, 0, 0,          el1)       \
    X(VBAR_EL1,       3, 0, 12, 0, 0, 0,          el1)       \
    X(CONTEXTIDR_EL1, 3, 0, 13, 0, 1, 0,          el1)       \
    X(TPIDR_EL0,      3, 3, 13, 0, 2, 0,          el1)       \
    X(TPIDRRO_EL0,    3, 3, 13, 0, 3, 0,          el1)       \
    X(TPIDR_EL1,      3, 0, 13, 0, 4, 0,          el1)       \
    X(PAR_EL1,        3, 0,  7, 4, 0, 0,          el1)       \
    X(CNTKCTL_EL1,    3, 0, 14, 1, 0, 0,          el1)       \
    X(CSSELR_EL1,     3, 2,  0, 0, 0, 0,          el1)       \
    X(MDSCR_EL1,      2, 0,  0, 2, 2, 0,          el1)       \
    X(MPIDR_EL1,      3, 0,  0, 0, 5, 0,          vmpidr)    \
    X(CNTVOFF_EL2,    3, 4, 14, 0, 3, 0,          el2)       \
    X(CNTV_CVAL_EL0,  3, 3, 14, 3, 2, 0,          kvm_swap)  \
    X(CNTV_CTL_EL0,   3, 3, 14, 3, 1, 0,          el1)       \
    X(CNTP_CVAL_EL0,  3, 3, 14, 2, 2, 0,          el1)       \
    X(CNTP_CTL_EL0,   3, 3, 14, 2, 1, 0,          el1)       \
    X(MDCCINT_EL1,    2, 0,  0, 2, 0, 0,          el1)       \
    X(OSLSR_EL1,      2, 0,  1, 1, 4, 0x8,        oslsr)     \
    X(DBGBVR0_EL1,    2, 0,  0,  0, 4, 0,          dbg_bp)   \
    X(DBGBCR0_EL1,    2, 0,  0,  0, 5, 0,          dbg_bp)   \
    X(DBGWVR0_EL1,    2, 0,  0,  0, 6, 0,          dbg_wp)   \
    X(DBGWCR0_EL1,    2, 0,  0,  0, 7, 0,          dbg_wp)   \
    X(DBGBVR1_EL1,    2, 0,  0,  1, 4, 0,          dbg_bp)   \
    X(DBGBCR1_EL1,    2, 0,  0,  1, 5, 0,          dbg_bp)   \
    X(DBGWVR1_EL1,    2, 0,  0,  1, 6, 0,          dbg_wp)   \
    X(DBGWCR1_EL1,    2, 0,  0,  1, 7, 0,          dbg_wp)   \
    X(DBGBVR2_EL1,    2, 0,  0,  2, 4, 0,          dbg_bp)   \
    X(DBGBCR2_EL1,    2, 0,  0,  2, 5, 0,          dbg_bp)   \
    X(DBGWVR2_EL1,    2, 0,  0,  2, 6, 0,          dbg_wp)   \
    X(DBGWCR2_EL1,    2, 0,  0,  2, 7, 0,          dbg_wp)   \
    X(DBGBVR3_EL1,    2, 0,  0,  3, 4, 0,          dbg_bp)   \
    X(DBGBCR3_EL1,    2, 0,  0,  3, 5, 0,          dbg_bp)   \
    X(DBGWVR3_EL1,    2, 0,  0,  3, 6, 0,          dbg_wp)   \
    X(DBGWCR3_EL1,    2, 0,  0,  3, 7, 0,          dbg_wp)   \
    X(DBGBVR4_EL1,    2, 0,  0,  4, 4, 0,          dbg_bp)   \
    X(DBGBCR4_EL1,    2, 0,  0,  4, 5, 0,          dbg_bp)   \
    X(DBGWVR4_EL1,    2, 0,  0,  4, 6, 0,          dbg_wp)   \
    X(DBGWCR4_EL1,    2, 0,  0,  4, 7, 0,          dbg_wp)   \
    X(DBGBVR5_EL1,    2, 0,  0,  5, 4, 0,          dbg_bp)   \
    X(DBGBCR5_EL1,    2, 0,  0,  5, 5, 0,          dbg_bp)   \
    X(DBGWVR5_EL1,    2, 0,  0,  5, 6, 0,          dbg_wp)   \
    X(DBGWCR5_EL1,    2, 0,  0,  5, 7, 0,          dbg_wp)   \
    X(DBGBVR6_EL1,    2, 0,  0,  6, 4, 0,          dbg_bp)   \
    X(DBGBCR6_EL1,    2, 0,  0,  6, 5, 0,          dbg_bp)   \
    X(DBGWVR6_EL1,    2, 0,  0,  6, 6, 0,          dbg_wp)   \
    X(DBGWCR6_EL1,    2, 0,  0,  6, 7, 0,          dbg_wp)   \
    X(DBGBVR7_EL1,    2, 0,  0,  7, 4, 0,          dbg_bp)   \
    X(DBGBCR7_EL1,    2, 0,  0,  7, 5, 0,          dbg_bp)   \
    X(DBGWVR7_EL1,    2, 0,  0,  7, 6, 0,          dbg_wp)   \
    X(DBGWCR7_EL1,    2, 0,  0,  7, 7, 0,          dbg_wp)   \
    X(DBGBVR8_EL1,    2, 0,  0,  8, 4, 0,          dbg_bp)   \
    X(DBGBCR8_EL1,    2, 0,  0,  8, 5, 0,          dbg_bp)   \
    X(DBGWVR8_EL1,    2, 0,  0,  8, 6, 0,          dbg_wp)   \
    X(DBGWCR8_EL1,    2, 0,  0,  8, 7, 0,          dbg_wp)   \
    X(DBGBVR9_EL1,    2, 0,  0,  9, 4, 0,          dbg_bp)   \
    X(DBGBCR9_EL1,    2, 0,  0,  9, 5, 0,          dbg_bp)   \
    X(DBGWVR9_EL1,    2, 0,  0,  9, 6, 0,          dbg_wp)   \
    X(DBGWCR9_EL1,    2, 0,  0,  9, 7, 0,          dbg_wp)   \
    X(DBGBVR10_EL1,   2, 0,  0, 10, 4, 0,          dbg_bp)   \
    X(DBGBCR10_EL1,   2, 0,  0, 10, 5, 0,          dbg_bp)   \
    X(DBGWVR10_EL1,   2, 0,  0, 10, 6, 0,          dbg_wp)   \
    X(DBGWCR10_EL1,   2, 0,  0, 10, 7, 0,          dbg_wp)   \
    X(DBGBVR11_EL1,   2, 0,  0, 11, 4, 0,          dbg_bp)   \
    X(DBGBCR11_EL1,   2, 0,  0, 11, 5, 0,          dbg_bp)   \
    X(DBGWVR11_EL1,   2, 0,  0, 11, 6, 0,          dbg_wp)   \
    X(DBGWCR11_EL1,   2, 0,  0, 11, 7, 0,          dbg_wp)   \
    X(DBGBVR12_EL1,   2, 0,  0, 12, 4, 0,          dbg_bp)   \
    X(DBGBCR12_EL1,   2, 0,  0, 12, 5, 0,          dbg_bp)   \
    X(DBGWVR12_EL1,   2, 0,  0, 12, 6, 0,          dbg_wp)   \
    X(DBGWCR12_EL1,   2, 0,  0, 12, 7, 0,          dbg_wp)   \
    X(DBGBVR13_EL1,   2, 0,  0, 13, 4, 0,          dbg_bp)   \
    X(DBGBCR13_EL1,   2, 0,  0, 13, 5, 0,          dbg_bp)   \
    X(DBGWVR13_EL1,   2, 0,  0, 13, 6, 0,          dbg_wp)   \
    X(DBGWCR13_EL1,   2, 0,  0, 13, 7, 0,          dbg_wp)   \
    X(DBGBVR14_EL1,   2, 0,  0, 14, 4, 0,          dbg_bp)   \
    X(DBGBCR14_EL1,   2, 0,  0, 14, 5, 0,          dbg_bp)   \
    X(DBGWVR14_EL1,   2, 0,  0, 14, 6, 0,          dbg_wp)   \
    X(DBGWCR14_EL1,   2, 0,  0, 14, 7, 0,          dbg_wp)   \
    X(DBGBVR15_EL1,   2, 0,  0, 15, 4, 0,          dbg_bp)   \
    X(DBGBCR15_EL1,   2, 0,  0, 15, 5, 0,          dbg_bp)   \
    X(DBGWVR15_EL1,   2, 0,  0, 15, 6, 0,          dbg_wp)   \
    X(DBGWCR15_EL1,   2, 0,  0, 15, 7, 0,          dbg_wp)
// clang-format on

namespace hv {

// Index of a register in VcpuContext::sys.
enum class SysReg : u16 {
#define HV_EL1_ENUM(name, op0, op1, crn, crm, op2, reset, access) name,
    HV_EL1_REGS(HV_EL1_ENUM)
#undef HV_EL1_ENUM
        count
};
constexpr usize kSysRegCount = static_cast<usize>(SysReg::count);

namespace el1 {

// How a register is switched, listed by KVM and reached by a trapped guest access (the table's accessor).
enum class Access : u8 {
    el1,       // the guest's register: MRS/MSR by its own encoding; KVM ID = its encoding; trapped access: read/write
    vmpidr,    // MPIDR_EL1: switched through VMPIDR_EL2 (loaded with RES1 bit 31); KVM ID = its encoding; read-only
    el2,       // CNTVOFF_EL2: an EL2 register holding guest state; no KVM ID of its own (KVM's TIMER_CNT, the virtual
               // count, is derived from it: core/reglist); not the guest's (a trapped access is UNDEFINED)
    kvm_swap,  // CNTV_CVAL_EL0: as el1, but KVM lists it under CNTVCT_EL0's encoding (KVM_REG_ARM_TIMER_CVAL; the
               // historical swap in KVM's uapi, core/reglist/ids.hpp)
    oslsr,     // OSLSR_EL1: saved by its encoding, loaded through OSLAR_EL1.OSLK (OSLM is read-only); KVM resets it to
               // 0x8 (OS lock implemented, unlocked)
    dbg_bp,    // DBGBVR/DBGBCR<n>_EL1 (n = CRm): as el1, but only the hardware's ID_AA64DFR0_EL1.BRPs + 1 exist (an
               // access past them is UNDEFINED): the others stay in the context only (0 from reset, as KVM reads them)
    dbg_wp,    // DBGWVR/DBGWCR<n>_EL1: the same with WRPs
    shadow,    // ACTLR_EL1: HCR_EL2.TACR traps every access; never switched into the CPU (the CPU keeps the
               // hypervisor's IMPLEMENTATION DEFINED controls); KVM ID = its encoding; a trapped read returns the
               // saved value, a write is ignored (KVM's access_actlr; docs/boot.md "EL2 hardening")
};

struct Reg {
    SysReg index;
    const char* name;
    u32 key;  // arm::sysreg_key of the register's encoding (what MRS/MSR and the trap syndrome name)
    u64 reset;
    Access access;
};

// clang-format off
inline constexpr Reg kRegs[kSysRegCount] = {
#define HV_EL1_ENTRY(name, op0, op1, crn, crm, op2, reset, access) \
    {SysReg::name, #name, arm::sysreg_key(op0, op1, crn, crm, op2), reset, Access::access},
    HV_EL1_REGS(HV_EL1_ENTRY)
#undef HV_EL1_ENTRY
};
// clang-format on

constexpr const Reg& reg(SysReg r) { return kRegs[static_cast<usize>(r)]; }
constexpr u32 key(SysReg r) { return reg(r).key; }

// True if KVM's register list has an entry for it (every register but CNTVOFF_EL2).
constexpr bool has_kvm_id(const Reg& r) { return r.access != Access::el2; }
// The low 16 bits of its KVM ID (ARM64_SYS_REG(op0, op1, CRn, CRm, op2)), for has_kvm_id(r).
constexpr u32 kvm_key(const Reg& r) { return r.access == Access::kvm_swap ? arm::reg::kCntvctEl0 : r.key; }
constexpr usize kKvmCount = [] {
    usize n = 0;
    for (const Reg& r : kRegs)
        if (has_kvm_id(r)) ++n;
    return n;
}();

// A trapped MRS/MSR of `key`: the table entry if the guest may access it (el1, kvm_swap, or a read of MPIDR_EL1),
// else nullptr (the access is UNDEFINED or belongs to someone else).
constexpr const Reg* guest_access(u32 key, bool read) {
    for (const Reg& r : kRegs) {
        if (r.key != key) continue;
        if (r.access == Access::el2 || (r.access == Access::vmpidr && !read)) return nullptr;
        return &r;
    }
    return nullptr;
}

// The reset state of the registers (KVM's values). MPIDR_EL1 is the vCPU's identity: `mpidr`. CNTVOFF_EL2 is kept:
// a vCPU reset (PSCI CPU_ON, VM reset) does not move the virtual counter (KVM keeps its offset across vCPU reset);
// a new VM's offset is the register catalogue's reset (SysRegisterClass::reset: the virtual counter starts at 0).
constexpr void reset(u64 (&sys)[kSysRegCount], u64 mpidr) {
    for (const Reg& r : kRegs) {
        if (r.access == Access::el2) continue;
        sys[static_cast<usize>(r.index)] = r.access == Access::vmpidr ? mpidr : r.reset;
    }
}

// Consistency of the table (the host tests check the same and more: tests/unit/core/el1_regs_test.cpp).
constexpr bool table_consistent() {
    for (usize i = 0; i < kSysRegCount; ++i) {
        if (static_cast<usize>(kRegs[i].index) != i) return false;
        for (usize j = i + 1; j < kSysRegCount; ++j)
            if (kRegs[i].key == kRegs[j].key || kvm_key(kRegs[i]) == kvm_key(kRegs[j])) return false;
    }
    return true;
}
static_assert(table_consistent(), "EL1 register table: one entry per SysReg, encodings unique");

}  // namespace el1
}  // namespace hv
