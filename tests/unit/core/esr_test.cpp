#include "core/esr.hpp"

#include <gtest/gtest.h>

using namespace hv;
using namespace hv::esr;

TEST(Esr, DataAbortFieldsDecode) {
    // ldr w1, [x0] at an unmapped IPA: EC 0x24, IL, ISV, SAS=2 (word), SRT=1, translation fault level 3.
    u64 esr = (0x24ull << 26) | (1ull << 25) | (1ull << 24) | (2ull << 22) | (1ull << 16) | 0x07;
    auto d = DataAbort::from_esr(esr);
    EXPECT_EQ(exception_class(esr), ExceptionClass::dabt_lower);
    EXPECT_TRUE(d.isv);
    EXPECT_EQ(d.access_size, 4);
    EXPECT_EQ(d.srt, 1);
    EXPECT_FALSE(d.write);
    EXPECT_FALSE(d.sf);
    EXPECT_FALSE(d.sign_extend);
    EXPECT_TRUE(d.is_translation_fault());
    EXPECT_EQ(d.fault_level(), 3);
    EXPECT_TRUE(d.emulatable());
}

TEST(Esr, DataAbortWriteSignExtendSixtyFour) {
    u64 esr = (0x24ull << 26) | (1ull << 25) | (1ull << 24) | (3ull << 22) | (1ull << 21) | (30ull << 16) |
              (1ull << 15) | (1ull << 14) | (1ull << 6) | 0x05;
    auto d = DataAbort::from_esr(esr);
    EXPECT_EQ(d.access_size, 8);
    EXPECT_TRUE(d.sign_extend);
    EXPECT_EQ(d.srt, 30);
    EXPECT_TRUE(d.sf);
    EXPECT_TRUE(d.acquire_release);
    EXPECT_TRUE(d.write);
    EXPECT_EQ(d.fault_level(), 1);
}

TEST(Esr, DataAbortWithoutSyndromeOrOnWalkIsNotEmulatable) {
    u64 no_isv = (0x24ull << 26) | (1ull << 25) | 0x07;
    EXPECT_FALSE(DataAbort::from_esr(no_isv).emulatable());
    u64 s1ptw = (0x24ull << 26) | (1ull << 24) | (1ull << 7) | 0x07;
    EXPECT_TRUE(DataAbort::from_esr(s1ptw).s1ptw);
    EXPECT_FALSE(DataAbort::from_esr(s1ptw).emulatable());
    u64 perm = (0x24ull << 26) | (1ull << 24) | 0x0f;
    EXPECT_TRUE(DataAbort::from_esr(perm).is_permission_fault());
    EXPECT_FALSE(DataAbort::from_esr(perm).is_translation_fault());
}

TEST(Esr, SysRegAccessDecodesIccSgi1rWrite) {
    // msr ICC_SGI1R_EL1, x5: op0=3 op1=0 CRn=12 CRm=11 op2=5, Rt=5, write.
    u64 iss = (3ull << 20) | (5ull << 17) | (0ull << 14) | (12ull << 10) | (5ull << 5) | (11ull << 1) | 0;
    u64 esr = (0x18ull << 26) | (1ull << 25) | iss;
    auto s = SysRegAccess::from_esr(esr);
    EXPECT_EQ(s.op0, 3);
    EXPECT_EQ(s.op1, 0);
    EXPECT_EQ(s.crn, 12);
    EXPECT_EQ(s.crm, 11);
    EXPECT_EQ(s.op2, 5);
    EXPECT_EQ(s.rt, 5);
    EXPECT_FALSE(s.read);
    EXPECT_EQ(s.key(), SysRegAccess::sysreg_key(3, 0, 12, 11, 5));
    EXPECT_NE(s.key(), SysRegAccess::sysreg_key(3, 0, 12, 11, 6));
    // The one-compare test agrees with the decode, for every Rt, and tells the neighbours and the read apart.
    const u32 sgi1r = SysRegAccess::sysreg_key(3, 0, 12, 11, 5);
    for (u64 rt = 0; rt < 32; ++rt) {
        const u64 e = (esr & ~(31ull << 5)) | (rt << 5);
        EXPECT_TRUE(SysRegAccess::is(e, sgi1r, false));
        EXPECT_EQ(SysRegAccess::rt_of(e), rt);
    }
    EXPECT_FALSE(SysRegAccess::is(esr | 1, sgi1r, false));  // MRS
    EXPECT_TRUE(SysRegAccess::is(esr | 1, sgi1r, true));
    EXPECT_FALSE(SysRegAccess::is(esr, SysRegAccess::sysreg_key(3, 0, 12, 11, 6), false));  // ASGI1R
    EXPECT_FALSE(SysRegAccess::is(esr, SysRegAccess::sysreg_key(3, 0, 12, 11, 7), false));  // SGI0R
    EXPECT_FALSE(SysRegAccess::is(esr ^ (1ull << 14), sgi1r, false));                       // op1 = 1
    EXPECT_FALSE(SysRegAccess::is(esr ^ (1ull << 20), sgi1r, false));                       // op0 = 2
}

TEST(Esr, SysRegAccessRead) {
    u64 iss = (3ull << 20) | (1ull << 17) | (3ull << 14) | (14ull << 10) | (31ull << 5) | (2ull << 1) | 1;
    auto s = SysRegAccess::from_esr((0x18ull << 26) | iss);
    EXPECT_TRUE(s.read);
    EXPECT_EQ(s.rt, 31);
    EXPECT_EQ(s.key(), SysRegAccess::sysreg_key(3, 3, 14, 2, 1));  // CNTP_CTL_EL0
}

TEST(Esr, HvcSmcImmediate) {
    auto h = HvcSmc::from_esr((0x16ull << 26) | (1ull << 25) | 0xbeef);
    EXPECT_EQ(h.imm, 0xbeef);
    EXPECT_FALSE(h.smc);
    auto s = HvcSmc::from_esr((0x17ull << 26) | (1ull << 25) | 0x0);
    EXPECT_TRUE(s.smc);
    EXPECT_EQ(s.imm, 0);
}

TEST(Esr, WfxAndNames) {
    EXPECT_FALSE(Wfx::from_esr((0x01ull << 26) | 0).wfe);
    EXPECT_TRUE(Wfx::from_esr((0x01ull << 26) | 1).wfe);
    EXPECT_TRUE(Wfx::from_esr((0x01ull << 26) | 2).timeout_variant);
    EXPECT_STREQ(ec_name(0x24ull << 26), "data abort (lower EL)");
    EXPECT_STREQ(ec_name(0x3full << 26), "reserved");
}

TEST(Esr, FaultIpaCombinesHpfarAndFar) {
    // HPFAR_EL2.FIPA holds IPA[51:12] in bits [43:4].
    u64 hpfar = (0x0a000ull) << 4;
    EXPECT_EQ(fault_ipa(hpfar, 0xffff000012345abcull), 0x0a000abcull);
    EXPECT_EQ(fault_ipa((0x80000001ull) << 4 | 0xf, 0x10), 0x80000001010ull);
}

TEST(Esr, MakeRoundTrips) {
    u64 e = make(ExceptionClass::dabt_current, true, 0x10 | (1u << 6));
    EXPECT_EQ(exception_class(e), ExceptionClass::dabt_current);
    EXPECT_TRUE(is_32bit_instruction(e));
    EXPECT_TRUE(DataAbort::from_esr(e).write);
    EXPECT_EQ(DataAbort::from_esr(e).dfsc, kFscSyncExternal);
}

// The GIC encodings of core/arm_defs.hpp against DDI0487 / IHI0069H (op0, op1, CRn, CRm, op2), and the field
// accessors arch/aarch64/sysreg.hpp builds MRS/MSR operands from.
TEST(ArmDefs, GicSysregEncodings) {
    namespace reg = arm::reg;
    namespace f = arm::sysreg_field;
    EXPECT_EQ(reg::ich_lr_el2(0), arm::sysreg_key(3, 4, 12, 12, 0));   // ICH_LR0_EL2
    EXPECT_EQ(reg::ich_lr_el2(7), arm::sysreg_key(3, 4, 12, 12, 7));   // ICH_LR7_EL2
    EXPECT_EQ(reg::ich_lr_el2(8), arm::sysreg_key(3, 4, 12, 13, 0));   // ICH_LR8_EL2
    EXPECT_EQ(reg::ich_lr_el2(15), arm::sysreg_key(3, 4, 12, 13, 7));  // ICH_LR15_EL2
    EXPECT_EQ(reg::ich_ap0r_el2(3), arm::sysreg_key(3, 4, 12, 8, 3));
    EXPECT_EQ(reg::ich_ap1r_el2(2), arm::sysreg_key(3, 4, 12, 9, 2));
    EXPECT_EQ(reg::kIchVmcrEl2, arm::sysreg_key(3, 4, 12, 11, 7));
    EXPECT_EQ(reg::kIchElrsrEl2, arm::sysreg_key(3, 4, 12, 11, 5));
    EXPECT_EQ(reg::icc_ap0r_el1(1), arm::sysreg_key(3, 0, 12, 8, 5));
    EXPECT_EQ(reg::icc_ap1r_el1(3), arm::sysreg_key(3, 0, 12, 9, 3));
    EXPECT_EQ(reg::kIccSreEl2, arm::sysreg_key(3, 4, 12, 9, 5));
    const u32 k = reg::ich_lr_el2(13);
    EXPECT_EQ(f::Op0::get(k), 3u);
    EXPECT_EQ(f::Op1::get(k), 4u);
    EXPECT_EQ(f::CRn::get(k), 12u);
    EXPECT_EQ(f::CRm::get(k), 13u);
    EXPECT_EQ(f::Op2::get(k), 5u);
}

// The exit fast path's field-by-field view agrees with DataAbort on every ISS bit pattern that matters: all
// combinations of ISV, SAS, SSE, SF, EA, CM, S1PTW, WnR and DFSC, a few SRTs.
TEST(Esr, DataAbortSyndromeAgreesWithDataAbort) {
    usize emulatable = 0;
    for (u64 bits = 0; bits < (1u << 10); ++bits)
        for (u64 dfsc = 0; dfsc < 64; ++dfsc)
            for (u64 srt : {0ull, 1ull, 18ull, 19ull, 29ull, 30ull, 31ull}) {
                const u64 esr = (0x24ull << 26) | (1ull << 25) | ((bits & 1) << 24) | (((bits >> 1) & 3) << 22) |
                                (((bits >> 3) & 1) << 21) | (srt << 16) | (((bits >> 4) & 1) << 15) |
                                (((bits >> 5) & 1) << 9) | (((bits >> 6) & 1) << 8) | (((bits >> 7) & 1) << 7) |
                                (((bits >> 8) & 1) << 6) | (((bits >> 9) & 1) << 14) | dfsc;
                const auto d = DataAbort::from_esr(esr);
                const DataAbortSyndrome s{esr};
                const bool expect = (d.is_translation_fault() || d.is_access_flag_fault()) && d.emulatable();
                ASSERT_EQ(s.emulatable_unmapped(), expect) << std::hex << esr;
                emulatable += expect;
                ASSERT_EQ(s.access_size(), d.access_size);
                ASSERT_EQ(s.srt(), d.srt);
                ASSERT_EQ(s.write(), d.write);
            }
    // ISV set, EA/CM/S1PTW clear, DFSC 0x04..0x0b; SAS, SSE, SF, WnR, AR and the 7 SRTs free.
    EXPECT_EQ(emulatable, 4u * 2 * 2 * 2 * 2 * 8 * 7);
}

TEST(Esr, DataAbortSyndromeRegisterValue) {
    const auto iss = [](u64 sas, bool sse, bool sf) {
        return DataAbortSyndrome{(1ull << 24) | (sas << 22) | (u64{sse} << 21) | (u64{sf} << 15) | 0x07};
    };
    EXPECT_EQ(iss(0, false, true).register_value(0x1234'5680), 0x80u);                    // LDRB
    EXPECT_EQ(iss(0, true, true).register_value(0x80), 0xffff'ffff'ffff'ff80u);           // LDRSB Xt
    EXPECT_EQ(iss(0, true, false).register_value(0x80), 0xffff'ff80u);                    // LDRSB Wt
    EXPECT_EQ(iss(1, true, true).register_value(0x7fff), 0x7fffu);                        // LDRSH Xt, positive
    EXPECT_EQ(iss(1, true, false).register_value(0xdead'8000), 0xffff'8000u);             // LDRSH Wt
    EXPECT_EQ(iss(2, true, true).register_value(0x8000'0000), 0xffff'ffff'8000'0000u);    // LDRSW
    EXPECT_EQ(iss(2, false, false).register_value(0xffff'ffff'8000'0001), 0x8000'0001u);  // LDR Wt
    EXPECT_EQ(iss(3, false, true).register_value(~0ull), ~0ull);                          // LDR Xt
    EXPECT_EQ(iss(3, false, true).width_mask(), ~0ull);
    EXPECT_EQ(iss(1, false, true).width_mask(), 0xffffu);
}
