// The EL1 register table (core/el1_regs.hpp) and what is generated from it: SysReg, the sysreg class of the
// register catalogue, the reset values and the trapped-access lookup.
#include "core/el1_regs.hpp"

#include <gtest/gtest.h>

#include <set>
#include <string>

#include "core/reglist/vcpu_regs.hpp"
#include "core/vcpu.hpp"

using namespace hv;

namespace {

u64 kvm_id(SysReg r) { return reglist::sysreg_key_id(el1::kvm_key(el1::reg(r))); }

}  // namespace

TEST(El1Regs, OneEntryPerSysRegWithUniqueNamesAndEncodings) {
    std::set<u32> keys;
    std::set<std::string> names;
    for (usize i = 0; i < kSysRegCount; ++i) {
        const el1::Reg& r = el1::kRegs[i];
        EXPECT_EQ(static_cast<usize>(r.index), i) << r.name;
        EXPECT_TRUE(keys.insert(r.key).second) << "duplicate encoding: " << r.name;
        EXPECT_TRUE(names.insert(r.name).second) << "duplicate name: " << r.name;
    }
    EXPECT_EQ(keys.size(), kSysRegCount);
    EXPECT_STREQ(el1::reg(SysReg::SCTLR_EL1).name, "SCTLR_EL1");
    EXPECT_STREQ(el1::reg(SysReg::CNTP_CTL_EL0).name, "CNTP_CTL_EL0");
}

// The encodings as KVM numbers the registers (ARM64_SYS_REG IDs a QEMU/KVM register list carries).
TEST(El1Regs, KvmIdsBitForBit) {
    EXPECT_EQ(kvm_id(SysReg::MDSCR_EL1), 0x6030000000138012ull);
    EXPECT_EQ(kvm_id(SysReg::MPIDR_EL1), 0x603000000013c005ull);
    EXPECT_EQ(kvm_id(SysReg::SCTLR_EL1), 0x603000000013c080ull);
    EXPECT_EQ(kvm_id(SysReg::ESR_EL1), 0x603000000013c290ull);
    EXPECT_EQ(kvm_id(SysReg::PAR_EL1), 0x603000000013c3a0ull);
    EXPECT_EQ(kvm_id(SysReg::CSSELR_EL1), 0x603000000013d000ull);
    EXPECT_EQ(kvm_id(SysReg::TPIDR_EL0), 0x603000000013de82ull);
    EXPECT_EQ(kvm_id(SysReg::CNTV_CTL_EL0), 0x603000000013df19ull);   // KVM_REG_ARM_TIMER_CTL
    EXPECT_EQ(kvm_id(SysReg::CNTV_CVAL_EL0), 0x603000000013df02ull);  // KVM_REG_ARM_TIMER_CVAL (the uapi swap)
    EXPECT_EQ(el1::key(SysReg::CNTV_CVAL_EL0), arm::sysreg_key(3, 3, 14, 3, 2));  // while MRS/MSR use its own
    EXPECT_EQ(kvm_id(SysReg::CNTP_CVAL_EL0), 0x603000000013df12ull);              // KVM_REG_ARM_PTIMER_CVAL
    EXPECT_FALSE(el1::has_kvm_id(el1::reg(SysReg::CNTVOFF_EL2)));                 // reached through TIMER_CNT
}

// The catalogue's sysreg class is the table's KVM registers plus TIMER_CNT and PTIMER_CNT, sorted and unique.
TEST(El1Regs, CatalogueClassIsTheTableSortedById) {
    const reglist::SysRegDesc* t = reglist::sysreg_table();
    ASSERT_EQ(reglist::kSysRegListCount, el1::kKvmCount + 2);
    EXPECT_EQ(el1::kKvmCount, kSysRegCount - 1);
    for (usize i = 1; i < reglist::kSysRegListCount; ++i) EXPECT_LT(t[i - 1].id, t[i].id) << i;
    for (const el1::Reg& r : el1::kRegs) {
        if (!el1::has_kvm_id(r)) continue;
        usize hits = 0;
        for (usize i = 0; i < reglist::kSysRegListCount; ++i)
            if (t[i].id == kvm_id(r.index) && t[i].slot == r.index) ++hits;
        EXPECT_EQ(hits, 1u) << r.name;
    }
    usize counts = 0;
    for (usize i = 0; i < reglist::kSysRegListCount; ++i) {
        if (t[i].id == reglist::kTimerCnt) {
            EXPECT_EQ(t[i].kind, reglist::SysRegKind::virtual_count);
            ++counts;
        }
        if (t[i].id == reglist::kPtimerCnt) {
            EXPECT_EQ(t[i].kind, reglist::SysRegKind::physical_count);
            ++counts;
        }
    }
    EXPECT_EQ(counts, 2u);
}

// KVM's reset values (sys_regs.c): SCTLR_EL1 0x00C50078, the rest 0; MPIDR the vCPU's own.
TEST(El1Regs, VcpuResetUsesTheTableAndKeepsTheCounterOffset) {
    Vcpu v;
    v.mpidr = 0x80000102;
    for (u64& s : v.ctx.sys) s = 0xdead;
    v.ctx.sysreg(SysReg::CNTVOFF_EL2) = 0x1234;
    vcpu_reset(v, 0x40080000, 0);
    EXPECT_EQ(v.ctx.sysreg(SysReg::SCTLR_EL1), 0x00c50078u);
    EXPECT_EQ(v.ctx.sysreg(SysReg::MPIDR_EL1), 0x80000102u);
    EXPECT_EQ(v.ctx.sysreg(SysReg::CNTVOFF_EL2), 0x1234u);  // the virtual counter does not jump at CPU_ON
    EXPECT_EQ(v.ctx.sysreg(SysReg::OSLSR_EL1), 0x8u);       // KVM: OS lock implemented, unlocked
    for (const el1::Reg& r : el1::kRegs) {
        if (r.index == SysReg::SCTLR_EL1 || r.index == SysReg::MPIDR_EL1 || r.index == SysReg::CNTVOFF_EL2 ||
            r.index == SysReg::OSLSR_EL1)
            continue;
        EXPECT_EQ(v.ctx.sysreg(r.index), 0u) << r.name;
        EXPECT_EQ(r.reset, 0u) << r.name;
    }
    EXPECT_TRUE(v.sys_dirty);
}

TEST(El1Regs, TrappedAccessLookup) {
    const el1::Reg* r = el1::guest_access(arm::sysreg_key(3, 0, 12, 0, 0), false);  // MSR VBAR_EL1
    ASSERT_NE(r, nullptr);
    EXPECT_EQ(r->index, SysReg::VBAR_EL1);
    ASSERT_NE(el1::guest_access(el1::key(SysReg::MPIDR_EL1), true), nullptr);
    EXPECT_EQ(el1::guest_access(el1::key(SysReg::MPIDR_EL1), false), nullptr);   // read-only
    EXPECT_EQ(el1::guest_access(el1::key(SysReg::CNTVOFF_EL2), true), nullptr);  // EL2: not the guest's
    EXPECT_EQ(el1::guest_access(arm::reg::kIccSgi1rEl1, false), nullptr);
    EXPECT_EQ(el1::guest_access(arm::reg::kCntvctEl0, true), nullptr);  // the KVM ID of CNTV_CVAL, not its encoding
    ASSERT_NE(el1::guest_access(el1::key(SysReg::CNTV_CVAL_EL0), true), nullptr);
}
