#include <gtest/gtest.h>

#include <vector>

#include "psci/dispatch.hpp"
#include "psci/firmware.hpp"
#include "psci/ids.hpp"
#include "tests/unit/psci/fake_platform.hpp"

using namespace hv;
using namespace hv::psci;

namespace {

struct Vm {
    explicit Vm(FirmwareConfig cfg = {}) : platform(2) {
        EXPECT_EQ(mem.add_region(hvtest::kRamBase, hvtest::kRamSize, ram.data()), Status::ok);
        EXPECT_EQ(fw.init(platform, mem, cfg), Status::ok);
    }
    i64 call(u64 fid, u64 a1 = 0) {
        c = FirmwareCall{};
        c.x[0] = fid;
        c.x[1] = a1;
        c.x[2] = c.x[3] = 0xdeadbeef;  // must be overwritten
        fw.handle(0, c);
        return static_cast<i64>(c.x[0]);
    }
    hvtest::FakeFirmwarePlatform platform;
    std::vector<u8> ram = std::vector<u8>(hvtest::kRamSize);
    RegionGuestMemory mem;
    Firmware fw;
    FirmwareCall c{};
};

FirmwareConfig host(u64 wa1, u64 wa2, u64 wa3) {
    FirmwareConfig cfg;
    cfg.host = {wa1, wa2, wa3};
    return cfg;
}

}  // namespace

TEST(Smccc, VersionAndArchFeatures) {
    Vm vm;
    EXPECT_EQ(vm.call(kSmcccVersion), 0x10001);
    EXPECT_EQ(vm.c.x[1], 0u);
    EXPECT_EQ(vm.call(kSmcccArchFeatures, kSmcccVersion), kSmcccSuccess);
    EXPECT_EQ(vm.call(kSmcccArchFeatures, kSmcccArchFeatures), kSmcccSuccess);
    EXPECT_EQ(vm.call(kSmcccArchFeatures, kSmcccArchSocId), kSmcccNotSupported);
    EXPECT_EQ(vm.call(kSmcccArchFeatures, 0x80001234), kSmcccNotSupported);
    EXPECT_EQ(vm.call(kSmcccArchSocId), kSmcccNotSupported);
    EXPECT_EQ(vm.call(kSmcccVersion | kSmc64), kSmcccNotSupported);
}

TEST(Smccc, WorkaroundDiscoveryFollowsHostLevels) {
    struct Case {
        u64 wa1, wa2, wa3;
        i64 f1, f2, f3;
    };
    const Case cases[] = {
        {wa::kWa1NotAvail, wa::kWa2NotAvail, wa::kWa3NotAvail, -1, -1, -1},
        {wa::kWa1Avail, wa::kWa2Avail, wa::kWa3Avail, 0, 0, 0},
        {wa::kWa1NotRequired, wa::kWa2NotRequired, wa::kWa3NotRequired, 1, kSmcccNotRequired, 1},
        {wa::kWa1Avail, wa::kWa2Unknown, wa::kWa3NotRequired, 0, -1, 1},
    };
    for (const Case& k : cases) {
        Vm vm(host(k.wa1, k.wa2, k.wa3));
        EXPECT_EQ(vm.call(kSmcccArchFeatures, kSmcccArchWorkaround1), k.f1);
        EXPECT_EQ(vm.call(kSmcccArchFeatures, kSmcccArchWorkaround2), k.f2);
        EXPECT_EQ(vm.call(kSmcccArchFeatures, kSmcccArchWorkaround3), k.f3);
        // The calls themselves are no-ops that succeed when the workaround is discoverable.
        EXPECT_EQ(vm.call(kSmcccArchWorkaround1), k.f1 == -1 ? -1 : 0);
        EXPECT_EQ(vm.call(kSmcccArchWorkaround2, 1), k.f2 == -1 ? -1 : 0);
        EXPECT_EQ(vm.call(kSmcccArchWorkaround3), k.f3 == -1 ? -1 : 0);
    }
}

TEST(Smccc, DiscoveryFollowsTheVmRegisterAfterRestore) {
    Vm vm(host(wa::kWa1NotRequired, wa::kWa2NotRequired, wa::kWa3NotRequired));
    ASSERT_EQ(vm.fw.set_reg(fwreg::kWorkaround1, wa::kWa1Avail), Status::ok);
    EXPECT_EQ(vm.call(kSmcccArchFeatures, kSmcccArchWorkaround1), kSmcccSuccess);
    ASSERT_EQ(vm.fw.set_reg(fwreg::kWorkaround3, wa::kWa3NotAvail), Status::ok);
    EXPECT_EQ(vm.call(kSmcccArchFeatures, kSmcccArchWorkaround3), kSmcccNotSupported);
    ASSERT_EQ(vm.fw.set_reg(fwreg::kWorkaround2, wa::kWa2Unknown), Status::ok);
    EXPECT_EQ(vm.call(kSmcccArchFeatures, kSmcccArchWorkaround2), kSmcccNotSupported);
}

TEST(Smccc, ServiceQueries) {
    Vm vm;
    const SmcccUid std_uid = pack_uuid(kStdServiceUuid);
    EXPECT_EQ(vm.call(kStdUid), i64(std_uid.w[0]));
    EXPECT_EQ(vm.c.x[1], std_uid.w[1]);
    EXPECT_EQ(vm.c.x[2], std_uid.w[2]);
    EXPECT_EQ(vm.c.x[3], std_uid.w[3]);
    EXPECT_EQ(std_uid.w[0], 0x5c619e84u);  // 849e615c-... packed byte 0 first
    EXPECT_EQ(vm.call(kStdRevision), 1);
    EXPECT_EQ(vm.c.x[1], 0u);
    EXPECT_EQ(vm.call(kStdCallCount), 14 + 5);  // PSCI 1.1 + TRNG
    const SmcccUid vh = pack_uuid(kVendorHypUuid);
    EXPECT_EQ(vm.call(kVendorHypUid), i64(vh.w[0]));
    EXPECT_EQ(vm.c.x[3], vh.w[3]);
    EXPECT_NE(vh.w[0], 0xb66fb428u);  // not KVM's UID: guests must not assume KVM's vendor calls
    EXPECT_EQ(vm.call(kVendorHypRevision), 1);
    EXPECT_EQ(vm.call(kVendorHypCallCount), 1);
    EXPECT_EQ(vm.call(kVendorHypFeatures), i64(bmap::kVendorFuncFeat));
    EXPECT_EQ(vm.call(0x8600ff02), kSmcccNotSupported);
}

TEST(Smccc, VendorFeaturesGatedByBitmap) {
    FirmwareConfig cfg;
    cfg.vendor_hyp_bmap = 0;
    Vm vm(cfg);
    EXPECT_EQ(vm.call(kVendorHypFeatures), kSmcccNotSupported);
    EXPECT_EQ(vm.call(kVendorHypCallCount), 0);
    EXPECT_GE(vm.call(kVendorHypUid), 0);  // the UID query stays
}

// Yielding calls and owners no service of ours implements (CPU, SiP, OEM, standard hypervisor, reserved, trusted
// OS) answer NOT_SUPPORTED with x1..x3 zero, before any dispatch (the exit fast path's common case).
TEST(Smccc, UnimplementedOwnersAndYieldingCallsAreNotSupported) {
    Vm vm;
    for (u64 fid : {0x4b000000ull, 0x04000000ull, 0x81000000ull, 0xc2000001ull, 0x83000000ull, 0xc5000000ull,
                    0xcb000000ull, 0xf2000000ull, 0xbf00ffffull}) {
        vm.c.x[1] = vm.c.x[2] = vm.c.x[3] = 0x55;
        EXPECT_EQ(vm.call(fid, 0x77), kSmcccNotSupported) << std::hex << fid;
        EXPECT_EQ(vm.c.x[1], 0u);
        EXPECT_EQ(vm.c.x[2], 0u);
        EXPECT_EQ(vm.c.x[3], 0u);
    }
    EXPECT_EQ(vm.call(0x80000000), 0x10001);  // an implemented owner still answers: SMCCC_VERSION 1.1
}

TEST(Trng, VersionFeaturesUuid) {
    Vm vm;
    EXPECT_EQ(vm.call(kTrngVersion), 0x10000);
    for (u32 f : {kTrngVersion, kTrngFeatures, kTrngGetUuid, kTrngRnd32, kTrngRnd64})
        EXPECT_EQ(vm.call(kTrngFeatures, f), kSmcccSuccess) << std::hex << f;
    EXPECT_EQ(vm.call(kTrngFeatures, 0x84000054), kSmcccNotSupported);
    EXPECT_EQ(vm.call(kTrngFeatures, kTrngVersion | kSmc64), kSmcccNotSupported);
    const SmcccUid u = pack_uuid(kTrngUuid);
    EXPECT_EQ(vm.call(kTrngGetUuid), i64(u.w[0]));
    EXPECT_EQ(vm.c.x[1], u.w[1]);
    EXPECT_EQ(vm.c.x[2], u.w[2]);
    EXPECT_EQ(vm.c.x[3], u.w[3]);
    EXPECT_EQ(vm.call(kTrngVersion | kSmc64), kSmcccNotSupported);
}

TEST(Trng, Rnd32PacksAndMasks) {
    Vm vm;
    const u64 r0 = vm.platform.next_random;
    const u64 r1 = r0 * 6364136223846793005ull + 1442695040888963407ull;
    EXPECT_EQ(vm.call(kTrngRnd32, 96), kSmcccSuccess);
    EXPECT_EQ(vm.c.x[3], r0 & 0xffffffffu);
    EXPECT_EQ(vm.c.x[2], r0 >> 32);
    EXPECT_EQ(vm.c.x[1], r1 & 0xffffffffu);
    vm.platform.next_random = r0;
    EXPECT_EQ(vm.call(kTrngRnd32, 0xffffffff00000000ull | 40), kSmcccSuccess);  // w1 = 40
    EXPECT_EQ(vm.c.x[3], r0 & 0xffffffffu);
    EXPECT_EQ(vm.c.x[2], (r0 >> 32) & 0xff);
    EXPECT_EQ(vm.c.x[1], 0u);
    EXPECT_EQ(vm.call(kTrngRnd32, 0), kPsciInvalidParameters);
    EXPECT_EQ(vm.call(kTrngRnd32, 97), kPsciInvalidParameters);
}

TEST(Trng, Rnd64PacksAndMasks) {
    Vm vm;
    const u64 r0 = vm.platform.next_random;
    const u64 r1 = r0 * 6364136223846793005ull + 1442695040888963407ull;
    const u64 r2 = r1 * 6364136223846793005ull + 1442695040888963407ull;
    EXPECT_EQ(vm.call(kTrngRnd64, 192), kSmcccSuccess);
    EXPECT_EQ(vm.c.x[3], r0);
    EXPECT_EQ(vm.c.x[2], r1);
    EXPECT_EQ(vm.c.x[1], r2);
    vm.platform.next_random = r0;
    vm.platform.random_calls = 0;
    EXPECT_EQ(vm.call(kTrngRnd64, 65), kSmcccSuccess);
    EXPECT_EQ(vm.platform.random_calls, 2);
    EXPECT_EQ(vm.c.x[3], r0);
    EXPECT_EQ(vm.c.x[2], r1 & 1);
    EXPECT_EQ(vm.c.x[1], 0u);
    EXPECT_EQ(vm.call(kTrngRnd64, 193), kPsciInvalidParameters);
    EXPECT_EQ(vm.call(kTrngRnd64, 1ull << 32 | 8), kPsciInvalidParameters);  // x1 is 64-bit for RND64
    vm.platform.no_entropy = true;
    EXPECT_EQ(vm.call(kTrngRnd64, 64), kTrngNoEntropy);
    EXPECT_EQ(vm.c.x[1] | vm.c.x[2] | vm.c.x[3], 0u);
}

TEST(Trng, DisabledByStdBitmap) {
    Vm vm;
    ASSERT_EQ(vm.fw.set_reg(fwreg::kStdBmap, 0), Status::ok);
    for (u32 f : {kTrngVersion, kTrngFeatures, kTrngGetUuid, kTrngRnd32, kTrngRnd64})
        EXPECT_EQ(vm.call(f, 32), kSmcccNotSupported) << std::hex << f;
    EXPECT_EQ(vm.c.x[1] | vm.c.x[2] | vm.c.x[3], 0u);
    EXPECT_EQ(vm.call(kStdCallCount), 14);
    ASSERT_EQ(vm.fw.set_reg(fwreg::kStdBmap, bmap::kStdTrng), Status::ok);
    EXPECT_EQ(vm.call(kTrngVersion), 0x10000);
}
