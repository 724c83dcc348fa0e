// psci_smccc: the SMC Calling Convention services next to PSCI (ARM DEN0028, DEN0098): SMCCC_VERSION,
// SMCCC_ARCH_FEATURES (ARCH_WORKAROUND_1/2/3 and unknown IDs), the workaround calls themselves, x4..x17 preserved
// across a call (SMCCC 1.1), the standard-service UID query, and TRNG 1.0: VERSION, FEATURES, GET_UUID, RND32/RND64
// (range checks, bits above N zero, values that change from call to call).
//
// guest-tests: smp=1 mem=512M append="" hv_append="vcpus=1" expect=pass
#include "tests/guest/runtime/guest.hpp"

using namespace rt;

namespace {

SmcccResult call(u64 fid, u64 a1 = 0, u64 a2 = 0, u64 a3 = 0) { return smccc_call(psci_conduit(), fid, a1, a2, a3); }
// SMC32 calls return 32-bit values in w0..w3 (DEN0028 2.6): compare the sign-extended w0.
i64 w0(const SmcccResult& r) { return static_cast<i32>(static_cast<u32>(r.x0)); }

bool smccc_1_1() {
    if (psci_features(psci::kSmcccVersion) != 0) return false;
    return call(psci::kSmcccVersion).x0 >= 0x1'0001u;
}

// One HVC with x4..x17 and x19..x26 preloaded with a pattern; returns how many of them came back changed. (x19..x26:
// the hypervisor's HVC fast path leaves them in the CPU, vectors.S; x27/x28 hold the operands.)
u32 clobbered_after_hvc(u32 fid) {
    constexpr u32 kRegs = 22;  // x4..x17, x19..x26
    u64 in[kRegs], out[kRegs];
    for (u32 i = 0; i < kRegs; ++i) {
        const u32 reg = i < 14 ? i + 4 : i + 5;
        in[i] = 0x5a5a'0000'0000'0000ull | static_cast<u64>(reg) << 32 | (0x1111'1111u * (i + 1));
        out[i] = 0;
    }
    asm volatile(
        "mov x0, %[fid]\n"
        "mov x1, xzr\n"
        "mov x2, xzr\n"
        "mov x3, xzr\n"
        "ldp x4, x5, [%[in], #0]\n"
        "ldp x6, x7, [%[in], #16]\n"
        "ldp x8, x9, [%[in], #32]\n"
        "ldp x10, x11, [%[in], #48]\n"
        "ldp x12, x13, [%[in], #64]\n"
        "ldp x14, x15, [%[in], #80]\n"
        "ldp x16, x17, [%[in], #96]\n"
        "ldp x19, x20, [%[in], #112]\n"
        "ldp x21, x22, [%[in], #128]\n"
        "ldp x23, x24, [%[in], #144]\n"
        "ldp x25, x26, [%[in], #160]\n"
        "hvc #0\n"
        "stp x4, x5, [%[out], #0]\n"
        "stp x6, x7, [%[out], #16]\n"
        "stp x8, x9, [%[out], #32]\n"
        "stp x10, x11, [%[out], #48]\n"
        "stp x12, x13, [%[out], #64]\n"
        "stp x14, x15, [%[out], #80]\n"
        "stp x16, x17, [%[out], #96]\n"
        "stp x19, x20, [%[out], #112]\n"
        "stp x21, x22, [%[out], #128]\n"
        "stp x23, x24, [%[out], #144]\n"
        "stp x25, x26, [%[out], #160]\n"
        :
        : [fid] "r"(static_cast<u64>(fid)), [in] "r"(in), [out] "r"(out)
        : "x0", "x1", "x2", "x3", "x4", "x5", "x6", "x7", "x8", "x9", "x10", "x11", "x12", "x13", "x14", "x15", "x16",
          "x17", "x19", "x20", "x21", "x22", "x23", "x24", "x25", "x26", "memory");
    u32 changed = 0;
    for (u32 i = 0; i < kRegs; ++i)
        if (out[i] != in[i]) ++changed;
    return changed;
}

bool trng_present() { return static_cast<i64>(call(psci::kTrngVersion).x0) > 0; }

}  // namespace

GUEST_TEST(features_of_unknown_ids) {
    // DEN0022D 5.15 / DEN0028 7.2.1: discovery answers NOT_SUPPORTED for IDs nobody implements.
    EXPECT_EQ(psci_features(0x8000'1234u), psci::kPsciNotSupported);
    EXPECT_EQ(psci_features(0x8400'001fu), psci::kPsciNotSupported);
}

GUEST_TEST(smccc_version_is_1_1_or_later) {
    // DEN0028 7.2: SMCCC_VERSION exists from 1.1 on and is discovered through PSCI_FEATURES (PSCI 1.0+).
    if (!under_hypervisor() && psci_features(psci::kSmcccVersion) != 0) GUEST_SKIP("QEMU's firmware is SMCCC 1.0");
    EXPECT_EQ(psci_features(psci::kSmcccVersion), 0);
    SmcccResult r = call(psci::kSmcccVersion);
    printf("  SMCCC_VERSION = 0x%llx\n", static_cast<unsigned long long>(r.x0));
    EXPECT_GE(r.x0, 0x1'0001u);
    EXPECT_EQ(r.x0 >> 31, 0u);
}

GUEST_TEST(smccc_arch_features) {
    if (!smccc_1_1()) GUEST_SKIP("no SMCCC 1.1");
    // DEN0028 7.3: ARCH_FEATURES of itself and of SMCCC_VERSION: implemented; an unassigned ID: NOT_SUPPORTED.
    EXPECT_EQ(w0(call(psci::kSmcccArchFeatures, psci::kSmcccArchFeatures)), 0);
    EXPECT_EQ(w0(call(psci::kSmcccArchFeatures, 0x8000'1234u)), psci::kSmcccNotSupported);
    EXPECT_EQ(w0(call(psci::kSmcccArchFeatures, 0x8000'ff00u)), psci::kSmcccNotSupported);
    // DEN0028 7.5-7.7: WORKAROUND_1/3: NOT_SUPPORTED, 0 (call needed, implemented) or 1 (this PE is unaffected);
    // WORKAROUND_2 also NOT_REQUIRED (-2). Answers are stable.
    const u32 ids[3] = {psci::kSmcccArchWorkaround1, psci::kSmcccArchWorkaround2, psci::kSmcccArchWorkaround3};
    for (u32 i = 0; i < 3; ++i) {
        i64 a = w0(call(psci::kSmcccArchFeatures, ids[i]));
        printf("  ARCH_FEATURES(ARCH_WORKAROUND_%u) = %lld\n", i + 1, static_cast<long long>(a));
        if (i == 1)
            EXPECT_TRUE(a == psci::kSmcccNotSupported || a == psci::kSmcccNotRequired || a == 0 || a == 1);
        else
            EXPECT_TRUE(a == psci::kSmcccNotSupported || a == 0 || a == 1);
        EXPECT_EQ(w0(call(psci::kSmcccArchFeatures, ids[i])), a);
        // The workaround call itself: usable when advertised (a >= 0), NOT_SUPPORTED when not; it returns here
        // either way.
        i64 c = w0(call(ids[i]));
        if (a == psci::kSmcccNotSupported)
            EXPECT_EQ(c, psci::kSmcccNotSupported);
        else
            EXPECT_NE(c, psci::kSmcccNotSupported);
    }
}

GUEST_TEST(smccc_preserves_x4_to_x17) {
    REQUIRE_HYPERVISOR();  // QEMU's firmware is not bound by our SMCCC level
    if (!smccc_1_1()) GUEST_SKIP("no SMCCC 1.1");
    // DEN0028 (1.1+) 2.6: registers x4..x17 are preserved across a call; checked for a PSCI call, an SMCCC call,
    // a TRNG call, unknown functions (fast and yielding: the exit fast path) and an SDEI call (a device's: the run
    // loop). x19..x26 too: callee-saved for the hypervisor's C code, never written.
    EXPECT_EQ(clobbered_after_hvc(psci::kPsciVersionFn), 0u);
    EXPECT_EQ(clobbered_after_hvc(0x4b00'0000u), 0u);
    EXPECT_EQ(clobbered_after_hvc(0xc400'0020u), 0u);
    EXPECT_EQ(clobbered_after_hvc(psci::kSmcccVersion), 0u);
    EXPECT_EQ(clobbered_after_hvc(psci::kTrngVersion), 0u);
    EXPECT_EQ(clobbered_after_hvc(0x8400'00feu), 0u);
    EXPECT_EQ(clobbered_after_hvc(0xc700'0001u), 0u);
}

GUEST_TEST(standard_service_uid) {
    REQUIRE_HYPERVISOR();
    // DEN0028 6.2: the standard service's Call UID: 128 bits in w0..w3, stable; 0xffffffff in w0 means unknown.
    SmcccResult a = call(psci::kStdUid);
    SmcccResult b = call(psci::kStdUid);
    EXPECT_NE(a.x0 & 0xffff'ffffu, 0xffff'ffffu);
    EXPECT_TRUE((a.x0 | a.x1 | a.x2 | a.x3) != 0);
    EXPECT_TRUE(a.x0 == b.x0 && a.x1 == b.x1 && a.x2 == b.x2 && a.x3 == b.x3);
}

GUEST_TEST(trng_version_and_features) {
    REQUIRE_HYPERVISOR();
    SmcccResult v = call(psci::kTrngVersion);
    printf("  TRNG_VERSION = 0x%llx\n", static_cast<unsigned long long>(v.x0));
    // DEN0098 2.1: major.minor in w0 (bit 31 clear); 1.0 or later.
    EXPECT_EQ(static_cast<u32>(v.x0) >> 31, 0u);
    ASSERT_GE(static_cast<u32>(v.x0), 0x1'0000u);
    // DEN0098 2.2: FEATURES answers SUCCESS for the five TRNG functions, NOT_SUPPORTED for anything else.
    const u32 ids[5] = {psci::kTrngVersion, psci::kTrngFeatures, psci::kTrngGetUuid, psci::kTrngRnd32,
                        psci::kTrngRnd64};
    for (u32 id : ids) EXPECT_EQ(w0(call(psci::kTrngFeatures, id)), 0);
    EXPECT_EQ(w0(call(psci::kTrngFeatures, 0x8400'0054u)), psci::kTrngNotSupported);
    EXPECT_EQ(w0(call(psci::kTrngFeatures, psci::kTrngGetUuid | psci::kSmc64)), psci::kTrngNotSupported);
    EXPECT_EQ(w0(call(psci::kTrngFeatures, psci::kPsciVersionFn)), psci::kTrngNotSupported);
}

GUEST_TEST(trng_get_uuid) {
    REQUIRE_HYPERVISOR();
    if (!trng_present()) GUEST_SKIP("no TRNG");
    // DEN0098 2.3: the UUID of the TRNG back end in w0..w3: not all zero, w0 never 0xffffffff, stable.
    SmcccResult a = call(psci::kTrngGetUuid);
    SmcccResult b = call(psci::kTrngGetUuid);
    printf("  TRNG UUID words %08llx %08llx %08llx %08llx\n", static_cast<unsigned long long>(a.x0 & 0xffffffffu),
           static_cast<unsigned long long>(a.x1 & 0xffffffffu), static_cast<unsigned long long>(a.x2 & 0xffffffffu),
           static_cast<unsigned long long>(a.x3 & 0xffffffffu));
    EXPECT_NE(a.x0 & 0xffff'ffffu, 0xffff'ffffu);
    EXPECT_TRUE(((a.x0 | a.x1 | a.x2 | a.x3) & 0xffff'ffffu) != 0);
    EXPECT_TRUE(a.x0 == b.x0 && a.x1 == b.x1 && a.x2 == b.x2 && a.x3 == b.x3);
    // It is not the standard service's UID (a different interface).
    SmcccResult s = call(psci::kStdUid);
    EXPECT_FALSE(a.x0 == s.x0 && a.x1 == s.x1 && a.x2 == s.x2 && a.x3 == s.x3);
}

GUEST_TEST(trng_rnd64) {
    REQUIRE_HYPERVISOR();
    if (!trng_present()) GUEST_SKIP("no TRNG");
    // DEN0098 2.5: N in 1..192; x3 = bits [63:0], x2 = [127:64], x1 = [191:128]; bits above N are zero.
    EXPECT_EQ(static_cast<i64>(call(psci::kTrngRnd64, 0).x0), psci::kTrngInvalidParameters);
    EXPECT_EQ(static_cast<i64>(call(psci::kTrngRnd64, 193).x0), psci::kTrngInvalidParameters);
    constexpr u32 kSamples = 8;
    u64 lo[kSamples], mid[kSamples], hi[kSamples];
    u32 ok = 0;
    for (u32 i = 0; i < kSamples; ++i) {
        SmcccResult r = call(psci::kTrngRnd64, 192);
        if (static_cast<i64>(r.x0) == psci::kTrngNoEntropy) continue;  // allowed: retry later (DEN0098 2.5)
        EXPECT_EQ(r.x0, 0u);
        lo[ok] = r.x3;
        mid[ok] = r.x2;
        hi[ok] = r.x1;
        ++ok;
    }
    printf("  %u of %u RND64(192) calls returned entropy, e.g. %016llx %016llx %016llx\n", ok, kSamples,
           static_cast<unsigned long long>(ok ? hi[0] : 0), static_cast<unsigned long long>(ok ? mid[0] : 0),
           static_cast<unsigned long long>(ok ? lo[0] : 0));
    ASSERT_GE(ok, 2u);
    // Not constant: every 64-bit word differs between calls and within a call (2^-64 odds of a false failure).
    u32 repeats = 0;
    for (u32 i = 0; i < ok; ++i) {
        if (lo[i] == mid[i] || mid[i] == hi[i] || lo[i] == hi[i]) ++repeats;
        for (u32 j = 0; j < i; ++j)
            if (lo[i] == lo[j] || mid[i] == mid[j] || hi[i] == hi[j]) ++repeats;
    }
    EXPECT_EQ(repeats, 0u);
    // Bits above N are zero: N = 8 leaves only x3[7:0]; N = 100 leaves x3 and x2[35:0].
    u32 set_bits = 0;
    for (u32 i = 0; i < 16; ++i) {
        SmcccResult r = call(psci::kTrngRnd64, 8);
        if (r.x0 != 0) continue;
        EXPECT_LT(r.x3, 256u);
        EXPECT_EQ(r.x2, 0u);
        EXPECT_EQ(r.x1, 0u);
        set_bits |= static_cast<u32>(r.x3);
    }
    EXPECT_NE(set_bits, 0u);  // 16 samples of 8 bits are not all zero
    SmcccResult r = call(psci::kTrngRnd64, 100);
    if (r.x0 == 0) {
        EXPECT_LT(r.x2, 1ull << 36);
        EXPECT_EQ(r.x1, 0u);
    }
}

GUEST_TEST(trng_rnd32) {
    REQUIRE_HYPERVISOR();
    if (!trng_present()) GUEST_SKIP("no TRNG");
    // DEN0098 2.4: N in 1..96 (the upper half of w1 is ignored); w3 = bits [31:0], w2 = [63:32], w1 = [95:64].
    EXPECT_EQ(w0(call(psci::kTrngRnd32, 0)), psci::kTrngInvalidParameters);
    EXPECT_EQ(w0(call(psci::kTrngRnd32, 97)), psci::kTrngInvalidParameters);
    SmcccResult a = call(psci::kTrngRnd32, 0xffff'ffff'0000'0060ull);  // N = 96 once the upper half is ignored
    SmcccResult b = call(psci::kTrngRnd32, 96);
    ASSERT_EQ(w0(a), 0);
    ASSERT_EQ(w0(b), 0);
    EXPECT_TRUE((a.x1 & 0xffffffffu) != (b.x1 & 0xffffffffu) || (a.x2 & 0xffffffffu) != (b.x2 & 0xffffffffu) ||
                (a.x3 & 0xffffffffu) != (b.x3 & 0xffffffffu));
    SmcccResult c = call(psci::kTrngRnd32, 32);
    if (w0(c) == 0) {
        EXPECT_EQ(c.x1 & 0xffffffffu, 0u);
        EXPECT_EQ(c.x2 & 0xffffffffu, 0u);
    }
}
