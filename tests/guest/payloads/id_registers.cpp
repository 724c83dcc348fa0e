// id_registers: HCR_EL2.TID3 ID-register emulation (core/id_regs.hpp, docs/boot.md "ID registers"). Features the
// world switch does not context-switch read as absent, AArch32 and unallocated ID encodings read as zero, and the
// features a guest needs (FP/AdvSIMD, the GICv3 system registers, 4 KiB pages) are still there.
//
// guest-tests: smp=1 mem=512M append="" hv_append="vcpus=1" expect=pass
#include "tests/guest/runtime/guest.hpp"

using namespace rt;

namespace {
u64 field(u64 v, unsigned lo) { return (v >> lo) & 0xf; }
}  // namespace

GUEST_TEST(hidden_features_read_as_absent) {
    REQUIRE_HYPERVISOR();  // plain QEMU -cpu max has SVE, SME, RAS, AMU...
    u64 pfr0 = RT_READ_SYSREG(id_aa64pfr0_el1);
    u64 pfr1 = RT_READ_SYSREG(id_aa64pfr1_el1);
    printf("  ID_AA64PFR0_EL1 0x%llx, ID_AA64PFR1_EL1 0x%llx\n", static_cast<unsigned long long>(pfr0),
           static_cast<unsigned long long>(pfr1));
    EXPECT_EQ(field(pfr0, 32), 0u);               // SVE
    EXPECT_EQ(field(pfr0, 28), 0u);               // RAS
    EXPECT_EQ(field(pfr0, 40), 0u);               // MPAM
    EXPECT_EQ(field(pfr0, 44), 0u);               // AMU
    EXPECT_EQ(field(pfr0, 8), 0u);                // EL2
    EXPECT_EQ(field(pfr0, 0), 1u);                // EL0: AArch64 only
    EXPECT_EQ(field(pfr0, 4), 1u);                // EL1: AArch64 only
    EXPECT_EQ(field(pfr1, 24), 0u);               // SME
    EXPECT_EQ(field(pfr1, 8), 0u);                // MTE
    EXPECT_EQ(RT_READ_SYSREG(S3_0_C0_C4_4), 0u);  // ID_AA64ZFR0_EL1 (SVE hidden)
    EXPECT_EQ(RT_READ_SYSREG(S3_0_C0_C4_5), 0u);  // ID_AA64SMFR0_EL1 (SME hidden)
    u64 dfr0 = RT_READ_SYSREG(id_aa64dfr0_el1);
    EXPECT_NE(field(dfr0, 8), 0xfu);  // PMUVer: a PMUv3 (tests/guest/payloads/pmu), never IMPLEMENTATION DEFINED
    EXPECT_LE(field(dfr0, 8), 6u);    // ... capped at PMUv3p5
    EXPECT_EQ(field(dfr0, 32), 0u);   // PMSVer (SPE)
}

GUEST_TEST(needed_features_still_present) {
    u64 pfr0 = RT_READ_SYSREG(id_aa64pfr0_el1);
    EXPECT_NE(field(pfr0, 16), 0xfu);  // FP implemented (signed field: 0xF = absent, 0/1 = present)
    EXPECT_NE(field(pfr0, 20), 0xfu);  // AdvSIMD implemented
    EXPECT_EQ(field(pfr0, 24), 1u);    // GIC system register interface v3.0/4.0
    u64 mmfr0 = RT_READ_SYSREG(id_aa64mmfr0_el1);
    EXPECT_NE(field(mmfr0, 28), 0xfu);                // TGran4 supported (signed: 0xF = not supported)
    EXPECT_NE(RT_READ_SYSREG(id_aa64isar0_el1), 0u);  // -cpu max has AES/SHA/atomics...
}

GUEST_TEST(parange_matches_the_ipa_size) {
    REQUIRE_HYPERVISOR();
    // 40-bit IPA (docs/boot.md): PARange must not promise more (DDI0487 D19.2.64: 2 = 40 bits).
    EXPECT_LE(field(RT_READ_SYSREG(id_aa64mmfr0_el1), 0), 2u);
}

GUEST_TEST(aarch32_and_unallocated_encodings_read_zero) {
    REQUIRE_HYPERVISOR();
    EXPECT_EQ(RT_READ_SYSREG(S3_0_C0_C1_0), 0u);  // ID_PFR0_EL1
    EXPECT_EQ(RT_READ_SYSREG(S3_0_C0_C3_0), 0u);  // MVFR0_EL1
    EXPECT_EQ(RT_READ_SYSREG(S3_0_C0_C3_7), 0u);  // unallocated
    EXPECT_EQ(RT_READ_SYSREG(S3_0_C0_C5_4), 0u);  // ID_AA64AFR0_EL1
    EXPECT_EQ(RT_READ_SYSREG(S3_0_C0_C7_7), 0u);  // unallocated
}
