#include "core/id_regs.hpp"

#include <gtest/gtest.h>

using namespace hv;
using namespace hv::idreg;

namespace {

u64 fld(u64 v, unsigned lo) { return (v >> lo) & 0xf; }

// Representative host values with the features the guest must not see set (field comments name them).
HostIdRegs qemu_max() {
    HostIdRegs h;
    h[HostReg::pfr0] = 0x1201'1110'1111'2222ull;   // EL0-3 AArch32+64, FP/SIMD fp16, GIC, RAS, SVE, SEL2, DIT, CSV2/3
    h[HostReg::pfr1] = 0x0000'0000'0121'0321ull;   // BT, SSBS 2, MTE 3, SME 1, RAS_frac 0...
    h[HostReg::dfr0] = 0x0000'0001'f210'5609ull;   // DebugVer 9, PMUVer 6, BRPs, WRPs, PMSVer 1
    h[HostReg::isar0] = 0x1221'1f21'2111'2120ull;  // RNDR, TLB, TS, FHM, DP, SM4, SM3, SHA3, RDM, TME = 1
    h[HostReg::isar1] = 0x1000'0000'0011'1011ull;  // LS64 = 1
    h[HostReg::isar2] = 0x0000'0000'0000'1011ull;  // WFxT = 1, MOPS = 1, RPRES 1
    h[HostReg::mmfr0] = 0x1100'0000'0010'1026ull;  // PARange 6 (52 bits), ECV 1, FGT 1
    h[HostReg::mmfr1] = 0x0000'0000'1012'2122ull;
    h[HostReg::mmfr2] = 0x0001'1011'1011'1011ull;  // NV = 1, FWB = 1, EVT = 1 ...
    return h;
}

}  // namespace

TEST(IdRegs, IdSpaceIsCrm1To7OfOp0_3Op1_0Crn0) {
    EXPECT_TRUE(is_id_space(3, 0, 0, 1));
    EXPECT_TRUE(is_id_space(3, 0, 0, 7));
    EXPECT_FALSE(is_id_space(3, 0, 0, 0));  // MIDR/MPIDR/REVIDR: not TID3
    EXPECT_FALSE(is_id_space(3, 1, 0, 4));  // CCSIDR space
    EXPECT_FALSE(is_id_space(3, 0, 1, 4));
    EXPECT_FALSE(is_id_space(2, 0, 0, 4));
}

TEST(IdRegs, Pfr0HidesWhatIsNotSwitched) {
    const HostIdRegs h = qemu_max();
    u64 v = guest_id_value(key(3, 0, 0, 4, 0), h, 40);
    EXPECT_EQ(fld(v, 0), 1u);                          // EL0 AArch64 only
    EXPECT_EQ(fld(v, 4), 1u);                          // EL1 AArch64 only
    EXPECT_EQ(fld(v, 8), 0u);                          // EL2
    EXPECT_EQ(fld(v, 12), 0u);                         // EL3
    EXPECT_EQ(fld(v, 16), fld(h[HostReg::pfr0], 16));  // FP passed
    EXPECT_EQ(fld(v, 20), fld(h[HostReg::pfr0], 20));  // AdvSIMD passed
    EXPECT_EQ(fld(v, 24), 1u);                         // GIC v3 sysregs
    EXPECT_EQ(fld(v, 28), 0u);                         // RAS
    EXPECT_EQ(fld(v, 32), 0u);                         // SVE
    EXPECT_EQ(fld(v, 36), 0u);                         // SEL2
    EXPECT_EQ(fld(v, 40), 0u);                         // MPAM
    EXPECT_EQ(fld(v, 44), 0u);                         // AMU
    EXPECT_EQ(fld(v, 48), fld(h[HostReg::pfr0], 48));  // DIT
    EXPECT_EQ(fld(v, 56), fld(h[HostReg::pfr0], 56));  // CSV2
    EXPECT_EQ(fld(v, 60), fld(h[HostReg::pfr0], 60));  // CSV3
}

TEST(IdRegs, GicFieldCappedAtV3AndAllOnesHidden) {
    HostIdRegs h;
    h[HostReg::pfr0] = ~u64{0};  // every field 0xF
    u64 v = guest_id_value(key(3, 0, 0, 4, 0), h, 40);
    EXPECT_EQ(fld(v, 24), 1u);
    EXPECT_EQ(fld(v, 32), 0u);
    EXPECT_EQ(fld(v, 16), 0xfu);  // FP absent on the host stays absent (signed field passed through)
}

TEST(IdRegs, Pfr1HidesSmeMteKeepsBtSsbs) {
    const HostIdRegs h = qemu_max();
    u64 v = guest_id_value(key(3, 0, 0, 4, 1), h, 40);
    EXPECT_EQ(fld(v, 0), fld(h[HostReg::pfr1], 0));  // BT
    EXPECT_EQ(fld(v, 4), fld(h[HostReg::pfr1], 4));  // SSBS
    EXPECT_EQ(fld(v, 8), 0u);                        // MTE
    EXPECT_EQ(fld(v, 24), 0u);                       // SME
    HostIdRegs all;
    all[HostReg::pfr1] = ~u64{0};
    EXPECT_EQ(guest_id_value(key(3, 0, 0, 4, 1), all, 40), 0xf0000000full | 0xf0ull);
}

TEST(IdRegs, PmuVersionIsCappedAtV3p5AndImpDefHidden) {
    HostIdRegs h;
    const u32 dfr0 = key(3, 0, 0, 5, 0);
    const u64 cases[][2] = {{0, 0}, {1, 1}, {4, 4}, {5, 5}, {6, 6}, {7, 6}, {8, 6}, {0xf, 0}};
    for (const auto& c : cases) {
        h[HostReg::dfr0] = c[0] << 8 | 0x6;  // DebugVer 6 alongside
        const u64 v = guest_id_value(dfr0, h, 40);
        EXPECT_EQ(fld(v, 8), c[1]) << "host PMUVer " << c[0];
        EXPECT_EQ(fld(v, 0), 6u);
    }
    EXPECT_EQ(fld(guest_id_value(dfr0, qemu_max(), 40), 8), 6u);  // QEMU 7.2 -cpu max: PMUv3p5
}

TEST(IdRegs, DebugKeepsBreakpointsHidesPmuSpeTrace) {
    HostIdRegs h;
    h[HostReg::dfr0] = ~u64{0};
    u64 v = guest_id_value(key(3, 0, 0, 5, 0), h, 40);
    EXPECT_EQ(fld(v, 0), 0xfu);   // DebugVer
    EXPECT_EQ(fld(v, 4), 0u);     // TraceVer
    EXPECT_EQ(fld(v, 8), 0u);     // PMUVer 0xF: IMPLEMENTATION DEFINED, not a PMUv3 -> none
    EXPECT_EQ(fld(v, 12), 0xfu);  // BRPs
    EXPECT_EQ(fld(v, 20), 0xfu);  // WRPs
    EXPECT_EQ(fld(v, 28), 0xfu);  // CTX_CMPs
    EXPECT_EQ(fld(v, 32), 0u);    // PMSVer
    EXPECT_EQ(fld(v, 36), 0xfu);  // DoubleLock (signed, passed)
    EXPECT_EQ(v >> 40, 0u);       // TraceFilt, TraceBuffer, MTPMU, BRBE, ...
}

TEST(IdRegs, IsarHidesTmeLs64WfxtMops) {
    const HostIdRegs h = qemu_max();
    EXPECT_EQ(fld(guest_id_value(key(3, 0, 0, 6, 0), h, 40), 24), 0u);  // TME
    EXPECT_EQ(guest_id_value(key(3, 0, 0, 6, 0), h, 40), h[HostReg::isar0] & ~(u64{0xf} << 24));
    EXPECT_EQ(fld(guest_id_value(key(3, 0, 0, 6, 1), h, 40), 60), 0u);  // LS64
    u64 isar2 = guest_id_value(key(3, 0, 0, 6, 2), h, 40);
    EXPECT_EQ(fld(isar2, 0), 0u);   // WFxT
    EXPECT_EQ(fld(isar2, 4), 1u);   // RPRES
    EXPECT_EQ(fld(isar2, 16), 0u);  // MOPS
}

TEST(IdRegs, ParangeCappedToIpaSize) {
    const HostIdRegs h = qemu_max();
    u64 v = guest_id_value(key(3, 0, 0, 7, 0), h, 40);
    EXPECT_EQ(fld(v, 0), 2u);   // 40 bits
    EXPECT_EQ(fld(v, 56), 0u);  // FGT
    EXPECT_EQ(fld(v, 60), 0u);  // ECV
    EXPECT_EQ(v & mask(47, 4), h[HostReg::mmfr0] & mask(47, 4));
    HostIdRegs small = h;
    small[HostReg::mmfr0] = 1;  // a 36-bit host: never raised
    EXPECT_EQ(fld(guest_id_value(key(3, 0, 0, 7, 0), small, 40), 0), 1u);
    EXPECT_EQ(parange_for_bits(32), 0u);
    EXPECT_EQ(parange_for_bits(40), 2u);
    EXPECT_EQ(parange_for_bits(41), 2u);
    EXPECT_EQ(parange_for_bits(48), 5u);
    EXPECT_EQ(parange_for_bits(52), 6u);
}

TEST(IdRegs, MmfrHideEl2Features) {
    HostIdRegs h;
    h[HostReg::mmfr1] = ~u64{0};
    h[HostReg::mmfr2] = ~u64{0};
    u64 m1 = guest_id_value(key(3, 0, 0, 7, 1), h, 40);
    EXPECT_EQ(fld(m1, 4), 0u);     // VMIDBits
    EXPECT_EQ(fld(m1, 8), 0u);     // VH
    EXPECT_EQ(fld(m1, 28), 0u);    // XNX
    EXPECT_EQ(fld(m1, 32), 0u);    // TWED
    EXPECT_EQ(fld(m1, 40), 0u);    // HCX
    EXPECT_EQ(fld(m1, 52), 0u);    // TIDCP1
    EXPECT_EQ(fld(m1, 0), 0xfu);   // HAFDBS
    EXPECT_EQ(fld(m1, 20), 0xfu);  // PAN
    u64 m2 = guest_id_value(key(3, 0, 0, 7, 2), h, 40);
    EXPECT_EQ(fld(m2, 24), 0u);    // NV
    EXPECT_EQ(fld(m2, 40), 0u);    // FWB
    EXPECT_EQ(fld(m2, 56), 0u);    // EVT
    EXPECT_EQ(fld(m2, 60), 0xfu);  // E0PD
    EXPECT_EQ(fld(m2, 0), 0xfu);   // CnP
}

TEST(IdRegs, AArch32AndUnallocatedAreRaz) {
    HostIdRegs h;
    for (u64& v : h.value) v = ~u64{0};
    for (u32 crm = 1; crm <= 3; ++crm)
        for (u32 op2 = 0; op2 < 8; ++op2) EXPECT_EQ(guest_id_value(key(3, 0, 0, crm, op2), h, 40), 0u);
    EXPECT_EQ(guest_id_value(key(3, 0, 0, 4, 4), h, 40), 0u);  // ZFR0
    EXPECT_EQ(guest_id_value(key(3, 0, 0, 4, 5), h, 40), 0u);  // SMFR0
    EXPECT_EQ(guest_id_value(key(3, 0, 0, 5, 1), h, 40), 0u);  // DFR1
    EXPECT_EQ(guest_id_value(key(3, 0, 0, 5, 4), h, 40), 0u);  // AFR0
    EXPECT_EQ(guest_id_value(key(3, 0, 0, 7, 3), h, 40), 0u);  // MMFR3
    EXPECT_EQ(guest_id_value(key(3, 0, 0, 7, 7), h, 40), 0u);
}

TEST(IdRegs, HostRegKeysAreTheArchitecturalEncodings) {
    EXPECT_EQ(host_reg_key(HostReg::pfr0), key(3, 0, 0, 4, 0));
    EXPECT_EQ(host_reg_key(HostReg::isar2), key(3, 0, 0, 6, 2));
    EXPECT_EQ(host_reg_key(HostReg::mmfr2), key(3, 0, 0, 7, 2));
}
