// The branch-predictor mitigation decision (psci/mitigations.hpp): what EL2 does on entry from a guest and what the
// VM's SMCCC_ARCH_WORKAROUND_1/3 registers may advertise, for QEMU's CPU models and a few real cores.
#include "psci/mitigations.hpp"

#include <gtest/gtest.h>

#include <utility>
#include <vector>

#include "psci/ids.hpp"
#include "tests/unit/psci/fake_platform.hpp"

using namespace hv;
using namespace hv::mitigation;

namespace {
constexpr u64 kMidrA72 = 0x410fd083;  // QEMU -cpu cortex-a72
constexpr u64 kMidrA57 = 0x411fd070;  // QEMU -cpu cortex-a57
constexpr u64 kMidrA53 = 0x410fd034;  // QEMU -cpu cortex-a53
constexpr u64 kMidrN1 = 0x414fd0c1;   // Neoverse N1
constexpr u64 kMidrMax = 0x000f0510;  // QEMU -cpu max (implementer 0)
constexpr u64 kCsv2 = u64{1} << 56;
constexpr u64 kCsv2_3 = u64{3} << 56;
constexpr u64 kEcbhb = u64{1} << 60;
constexpr u64 kClrbhb = u64{1} << 28;
}  // namespace

TEST(Mitigations, QemuMaxIsUnaffected) {
    // QEMU 7.2 -cpu max: CSV2 = 2, no ECBHB, no CLRBHB, implementer 0; with ECBHB it is unaffected all the more.
    Decision d = decide({kMidrMax, u64{2} << 56, 0, 0, false, false});
    EXPECT_EQ(decide({kMidrMax, kCsv2, kEcbhb, 0, false, false}).bhb, BhbAction::none);
    EXPECT_EQ(d.v2, V2Action::none);
    EXPECT_EQ(d.bhb, BhbAction::none);
    EXPECT_EQ(d.host.wa1, psci::wa::kWa1NotRequired);
    EXPECT_EQ(d.host.wa3, psci::wa::kWa3NotRequired);
}

TEST(Mitigations, CortexA72WithoutFirmwareCallUsesTheLoopAndReportsV2NotAvailable) {
    // QEMU's built-in PSCI firmware has no SMCCC_ARCH_WORKAROUND_1.
    Decision d = decide({kMidrA72, 0, 0, 0, false, false});
    EXPECT_EQ(d.v2, V2Action::vulnerable);
    EXPECT_EQ(d.bhb, BhbAction::loop);
    EXPECT_EQ(d.loop_k, 8u);
    EXPECT_EQ(d.host.wa1, psci::wa::kWa1NotAvail);
    EXPECT_EQ(d.host.wa3, psci::wa::kWa3Avail);
}

TEST(Mitigations, CortexA72WithFirmwareCall) {
    Decision d = decide({kMidrA72, 0, 0, 0, true, true});
    EXPECT_EQ(d.v2, V2Action::firmware_wa1);
    EXPECT_EQ(d.bhb, BhbAction::loop);  // the loop is preferred to the firmware's WORKAROUND_3
    EXPECT_EQ(d.host.wa1, psci::wa::kWa1Avail);
    EXPECT_EQ(d.host.wa3, psci::wa::kWa3Avail);
    EXPECT_EQ(decide({kMidrA57, 0, 0, 0, true, false}).loop_k, 8u);
    EXPECT_EQ(decide({kMidrN1, kCsv2, 0, 0, false, false}).loop_k, 24u);
}

TEST(Mitigations, UnaffectedCoresAndFeatureBits) {
    Decision a53 = decide({kMidrA53, 0, 0, 0, false, false});
    EXPECT_EQ(a53.v2, V2Action::none);
    EXPECT_EQ(a53.bhb, BhbAction::none);
    // CSV2_3 means no BHB problem either; CLRBHB beats the loop; an unknown core needs the firmware.
    EXPECT_EQ(decide({kMidrA72, kCsv2_3, 0, 0, false, false}).bhb, BhbAction::none);
    EXPECT_EQ(decide({kMidrA72, 0, 0, kClrbhb, false, false}).bhb, BhbAction::clrbhb);
    EXPECT_EQ(decide({0x51af8014, 0, 0, 0, false, true}).bhb, BhbAction::firmware_wa3);
    // A core not known to be affected whose firmware has no WORKAROUND_3: not affected by BHB (Linux's / KVM's
    // reading); Spectre-v2 without CSV2 and without the firmware call: vulnerable, and the guest is told so.
    Decision unknown = decide({0x51af8014, 0, 0, 0, false, false});
    EXPECT_EQ(unknown.bhb, BhbAction::none);
    EXPECT_EQ(unknown.host.wa3, psci::wa::kWa3NotRequired);
    EXPECT_EQ(unknown.v2, V2Action::vulnerable);
    EXPECT_EQ(unknown.host.wa1, psci::wa::kWa1NotAvail);
}

TEST(Mitigations, TheGuestSeesWhatEl2Does) {
    // The decision's HostMitigations is the firmware's host bound: the VM's registers and SMCCC_ARCH_FEATURES follow.
    struct Case {
        CpuInputs in;
        i64 wa1_features, wa3_features;  // SMCCC_ARCH_FEATURES answers: 0 SUCCESS, 1 unaffected, -1 NOT_SUPPORTED
    };
    const Case cases[] = {{{kMidrMax, kCsv2, kEcbhb, 0, false, false}, 1, 1},
                          {{kMidrA72, 0, 0, 0, false, false}, -1, 0},
                          {{kMidrA72, 0, 0, 0, true, false}, 0, 0},
                          {{0x51af8014, 0, 0, 0, false, false}, -1, 1}};
    for (const Case& c : cases) {
        Decision d = decide(c.in);
        hvtest::FakeFirmwarePlatform platform(1);
        std::vector<u8> ram(hvtest::kRamSize);
        RegionGuestMemory mem;
        ASSERT_EQ(mem.add_region(hvtest::kRamBase, ram.size(), ram.data()), Status::ok);
        psci::FirmwareConfig cfg;
        cfg.host = d.host;
        psci::Firmware fw;
        ASSERT_EQ(fw.init(platform, mem, cfg), Status::ok);
        u64 v = 0;
        ASSERT_EQ(fw.get_reg(psci::fwreg::kWorkaround1, v), Status::ok);
        EXPECT_EQ(v, d.host.wa1);
        ASSERT_EQ(fw.get_reg(psci::fwreg::kWorkaround3, v), Status::ok);
        EXPECT_EQ(v, d.host.wa3);
        for (auto [which, want] : {std::pair<u32, i64>{psci::kSmcccArchWorkaround1, c.wa1_features},
                                   std::pair<u32, i64>{psci::kSmcccArchWorkaround3, c.wa3_features}}) {
            psci::FirmwareCall call{};
            call.x[0] = psci::kSmcccArchFeatures;
            call.x[1] = which;
            (void)fw.handle(0, call);
            EXPECT_EQ(static_cast<i64>(call.x[0]), want) << std::hex << c.in.midr << " fid " << which;
        }
    }
}
