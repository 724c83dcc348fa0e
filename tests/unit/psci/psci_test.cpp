#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "psci/dispatch.hpp"
#include "psci/firmware.hpp"
#include "psci/ids.hpp"
#include "tests/unit/psci/fake_platform.hpp"

using namespace hv;
using namespace hv::psci;
using hvtest::kRamBase;
using hvtest::kRamSize;

namespace {

struct Vm {
    explicit Vm(PsciVersion v = PsciVersion::v1_1, u32 n = 8, FirmwareConfig cfg = {}) : platform(n) {
        EXPECT_EQ(mem.add_region(kRamBase, kRamSize, ram.data()), Status::ok);
        cfg.psci_version = v;
        EXPECT_EQ(fw.init(platform, mem, cfg), Status::ok);
    }
    // Calls `fid` with args; returns x0 as a signed value; the full registers are in `last`.
    i64 call(u32 vcpu, u64 fid, u64 a1 = 0, u64 a2 = 0, u64 a3 = 0) {
        FirmwareCall c{};
        c.x[0] = fid;
        c.x[1] = a1;
        c.x[2] = a2;
        c.x[3] = a3;
        for (int i = 4; i < 18; ++i) c.x[i] = 0x1000 + i;
        exit = fw.handle(vcpu, c);
        last = c;
        for (int i = 4; i < 18; ++i) EXPECT_EQ(c.x[i], u64(0x1000 + i)) << "x" << i << " clobbered";
        return static_cast<i64>(c.x[0]);
    }
    hvtest::FakeFirmwarePlatform platform;
    std::vector<u8> ram = std::vector<u8>(kRamSize);
    RegionGuestMemory mem;
    Firmware fw;
    FirmwareCall last{};
    FirmwareExit exit = FirmwareExit::resume;
};

constexpr u64 kEntry = kRamBase + 0x1000;
u64 mpidr(u32 v) { return ((v / 4) << 8) | (v % 4); }

}  // namespace

TEST(PsciVersion, ReportsConfiguredVersion) {
    EXPECT_EQ(Vm(PsciVersion::v0_2).call(0, kPsciVersionFn), 2);
    EXPECT_EQ(Vm(PsciVersion::v1_0).call(0, kPsciVersionFn), 0x10000);
    EXPECT_EQ(Vm(PsciVersion::v1_1).call(0, kPsciVersionFn), 0x10001);
    // PSCI 0.1 has no PSCI_VERSION.
    EXPECT_EQ(Vm(PsciVersion::v0_1).call(0, kPsciVersionFn), kPsciNotSupported);
}

TEST(PsciInit, RejectsBadConfig) {
    hvtest::FakeFirmwarePlatform p(2);
    RegionGuestMemory mem;
    Firmware fw;
    FirmwareConfig c;
    c.boot_vcpu = 2;
    EXPECT_EQ(fw.init(p, mem, c), Status::invalid_argument);
    c = {};
    c.std_bmap = 2;
    EXPECT_EQ(fw.init(p, mem, c), Status::invalid_argument);
    c = {};
    c.psci_version = static_cast<PsciVersion>(3);
    EXPECT_EQ(fw.init(p, mem, c), Status::invalid_argument);
    hvtest::FakeFirmwarePlatform none(0);
    EXPECT_EQ(fw.init(none, mem, FirmwareConfig{}), Status::invalid_argument);
}

TEST(PsciCpuOn, StartsTargetAndTracksState) {
    Vm vm;
    EXPECT_EQ(vm.fw.power_state(0), PowerState::on);
    EXPECT_EQ(vm.fw.power_state(5), PowerState::off);
    EXPECT_EQ(vm.call(0, kCpuOn | kSmc64, mpidr(5), kEntry, 0x1234567890ull), kPsciSuccess);
    EXPECT_EQ(vm.exit, FirmwareExit::resume);
    ASSERT_EQ(vm.platform.starts.size(), 1u);
    EXPECT_EQ(vm.platform.starts[0].vcpu, 5u);
    EXPECT_EQ(vm.platform.starts[0].entry, kEntry);
    EXPECT_EQ(vm.platform.starts[0].context_id, 0x1234567890ull);
    EXPECT_EQ(vm.fw.power_state(5), PowerState::on_pending);
    // KVM-compatible default: a pending target already counts as on.
    EXPECT_EQ(vm.call(1, kCpuOn | kSmc64, mpidr(5), kEntry, 0), kPsciAlreadyOn);
    EXPECT_EQ(vm.call(0, kAffinityInfo | kSmc64, mpidr(5), 0), kAffinityOn);
    vm.fw.on_vcpu_started(5);
    EXPECT_EQ(vm.fw.power_state(5), PowerState::on);
    EXPECT_EQ(vm.call(0, kCpuOn | kSmc64, mpidr(5), kEntry, 0), kPsciAlreadyOn);
    EXPECT_EQ(vm.platform.starts.size(), 1u);
}

TEST(PsciCpuOn, StrictModeReportsOnPending) {
    FirmwareConfig cfg;
    cfg.report_on_pending = true;
    Vm vm(PsciVersion::v1_1, 4, cfg);
    EXPECT_EQ(vm.call(0, kCpuOn, mpidr(2), kEntry, 0), kPsciSuccess);
    EXPECT_EQ(vm.call(0, kCpuOn, mpidr(2), kEntry, 0), kPsciOnPending);
    EXPECT_EQ(vm.call(0, kAffinityInfo, mpidr(2), 0), kAffinityOnPending);
    vm.fw.on_vcpu_started(2);
    EXPECT_EQ(vm.call(0, kAffinityInfo, mpidr(2), 0), kAffinityOn);
    EXPECT_EQ(vm.call(0, kCpuOn, mpidr(2), kEntry, 0), kPsciAlreadyOn);
}

TEST(PsciCpuOn, ErrorPaths) {
    Vm vm;
    // Bits outside the affinity fields.
    EXPECT_EQ(vm.call(0, kCpuOn | kSmc64, mpidr(1) | (1ull << 24), kEntry, 0), kPsciInvalidParameters);
    EXPECT_EQ(vm.call(0, kCpuOn | kSmc64, mpidr(1) | (1ull << 40), kEntry, 0), kPsciInvalidParameters);
    // No such vCPU.
    EXPECT_EQ(vm.call(0, kCpuOn | kSmc64, 0x0303, kEntry, 0), kPsciInvalidParameters);
    // Entry outside guest RAM / misaligned / straddling the end.
    EXPECT_EQ(vm.call(0, kCpuOn | kSmc64, mpidr(1), 0x1000, 0), kPsciInvalidAddress);
    EXPECT_EQ(vm.call(0, kCpuOn | kSmc64, mpidr(1), kEntry + 2, 0), kPsciInvalidAddress);
    EXPECT_EQ(vm.call(0, kCpuOn | kSmc64, mpidr(1), kRamBase + kRamSize, 0), kPsciInvalidAddress);
    EXPECT_TRUE(vm.platform.starts.empty());
    EXPECT_EQ(vm.fw.power_state(1), PowerState::off);
    // The caller itself is on.
    EXPECT_EQ(vm.call(0, kCpuOn | kSmc64, mpidr(0), kEntry, 0), kPsciAlreadyOn);
    // The platform cannot start it: INTERNAL_FAILURE and the target stays off.
    vm.platform.fail_start = true;
    EXPECT_EQ(vm.call(0, kCpuOn | kSmc64, mpidr(1), kEntry, 0), kPsciInternalFailure);
    EXPECT_EQ(vm.fw.power_state(1), PowerState::off);
    vm.platform.fail_start = false;
    EXPECT_EQ(vm.call(0, kCpuOn | kSmc64, mpidr(1), kEntry, 0), kPsciSuccess);
}

TEST(PsciCpuOn, Smc32IgnoresUpperHalvesOfArguments) {
    Vm vm;
    EXPECT_EQ(
        vm.call(0, kCpuOn, 0xdead000000000000ull | mpidr(3), 0xffffffff00000000ull | kEntry, 0xabcdef0012345678ull),
        kPsciSuccess);
    ASSERT_EQ(vm.platform.starts.size(), 1u);
    EXPECT_EQ(vm.platform.starts[0].vcpu, 3u);
    EXPECT_EQ(vm.platform.starts[0].entry, kEntry);
    EXPECT_EQ(vm.platform.starts[0].context_id, 0x12345678u);
    // Only w0 is the function ID.
    EXPECT_EQ(vm.call(0, 0xffffffff00000000ull | kPsciVersionFn), 0x10001);
}

TEST(PsciCpuOn, ConcurrentCallsOnOneTargetSucceedOnce) {
    for (int round = 0; round < 20; ++round) {
        Vm vm;
        for (u32 v = 1; v < 8; ++v) {
            if (v == 7) continue;
            ASSERT_EQ(vm.call(0, kCpuOn, mpidr(v), kEntry, 0), kPsciSuccess);
            vm.fw.on_vcpu_started(v);
        }
        std::atomic<int> go{0};
        std::vector<i64> results(7);
        std::vector<std::thread> threads;
        for (u32 v = 0; v < 7; ++v) {
            threads.emplace_back([&, v] {
                while (!go.load()) {
                }
                FirmwareCall c{};
                c.x[0] = kCpuOn;
                c.x[1] = mpidr(7);
                c.x[2] = kEntry;
                vm.fw.handle(v, c);
                results[v] = static_cast<i64>(c.x[0]);
            });
        }
        go = 1;
        for (auto& t : threads) t.join();
        int ok = 0, already = 0;
        for (i64 r : results) {
            if (r == kPsciSuccess)
                ++ok;
            else if (r == kPsciAlreadyOn)
                ++already;
        }
        EXPECT_EQ(ok, 1);
        EXPECT_EQ(already, 6);
        EXPECT_EQ(vm.platform.starts.size(), 7u);  // 6 sequential + exactly one concurrent
    }
}

TEST(PsciCpuOff, PowersOffCallerAndAllowsRestart) {
    Vm vm;
    ASSERT_EQ(vm.call(0, kCpuOn, mpidr(1), kEntry, 0), kPsciSuccess);
    vm.fw.on_vcpu_started(1);
    vm.call(1, kCpuOff);
    EXPECT_EQ(vm.exit, FirmwareExit::vcpu_off);
    EXPECT_EQ(vm.fw.power_state(1), PowerState::off);
    EXPECT_EQ(vm.call(0, kAffinityInfo, mpidr(1), 0), kAffinityOff);
    EXPECT_EQ(vm.call(0, kCpuOn, mpidr(1), kEntry + 4, 7), kPsciSuccess);
    EXPECT_EQ(vm.platform.starts.back().entry, kEntry + 4);
    // CPU_OFF has no SMC64 form.
    EXPECT_EQ(vm.call(0, kCpuOff | kSmc64), kPsciNotSupported);
    EXPECT_EQ(vm.exit, FirmwareExit::resume);
}

TEST(PsciAffinityInfo, LevelsAndErrors) {
    Vm vm;  // vCPUs 0-3 in cluster 0, 4-7 in cluster 1
    EXPECT_EQ(vm.call(0, kAffinityInfo, mpidr(0), 0), kAffinityOn);
    EXPECT_EQ(vm.call(0, kAffinityInfo, mpidr(4), 0), kAffinityOff);
    // Level 1: cluster 0 has vCPU 0 on; cluster 1 is all off. Aff0 is ignored at level 1.
    EXPECT_EQ(vm.call(0, kAffinityInfo, 0x0003, 1), kAffinityOn);
    EXPECT_EQ(vm.call(0, kAffinityInfo, 0x0100, 1), kAffinityOff);
    ASSERT_EQ(vm.call(0, kCpuOn, mpidr(6), kEntry, 0), kPsciSuccess);
    vm.fw.on_vcpu_started(6);
    EXPECT_EQ(vm.call(0, kAffinityInfo, 0x0100, 1), kAffinityOn);
    EXPECT_EQ(vm.call(0, kAffinityInfo | kSmc64, 0, 2), kAffinityOn);
    EXPECT_EQ(vm.call(0, kAffinityInfo | kSmc64, 0, 3), kAffinityOn);
    EXPECT_EQ(vm.call(0, kAffinityInfo | kSmc64, mpidr(0), 4), kPsciInvalidParameters);
    EXPECT_EQ(vm.call(0, kAffinityInfo | kSmc64, 0x0900, 0), kPsciInvalidParameters);      // no such node
    EXPECT_EQ(vm.call(0, kAffinityInfo | kSmc64, 1ull << 31, 0), kPsciInvalidParameters);  // non-affinity bit
}

TEST(PsciCpuSuspend, StandbyAndPowerDown) {
    Vm vm;
    EXPECT_EQ(vm.call(0, kCpuSuspend, 0x0 /*standby, level 0*/, 0, 0), kPsciSuccess);
    EXPECT_EQ(vm.exit, FirmwareExit::vcpu_suspend);
    EXPECT_FALSE(vm.fw.suspend_request(0).power_down);
    EXPECT_EQ(vm.call(0, kCpuSuspend | kSmc64, 0x10000 | 0x1234, kEntry, 0xc0ffee), kPsciSuccess);
    EXPECT_EQ(vm.exit, FirmwareExit::vcpu_suspend);
    SuspendRequest r = vm.fw.suspend_request(0);
    EXPECT_TRUE(r.power_down);
    EXPECT_EQ(r.entry, kEntry);
    EXPECT_EQ(r.context_id, 0xc0ffeeu);
    EXPECT_EQ(r.power_state, 0x11234u);
    // Power down with an unusable entry point.
    EXPECT_EQ(vm.call(0, kCpuSuspend | kSmc64, 0x10000, 0x10, 0), kPsciInvalidAddress);
    EXPECT_EQ(vm.exit, FirmwareExit::resume);
    // Standby ignores the entry point.
    EXPECT_EQ(vm.call(0, kCpuSuspend | kSmc64, 0x0, 0x10, 0), kPsciSuccess);
    // Reserved bits.
    EXPECT_EQ(vm.call(0, kCpuSuspend, 1u << 17, 0, 0), kPsciInvalidParameters);
    EXPECT_EQ(vm.call(0, kCpuSuspend, 1u << 26, 0, 0), kPsciInvalidParameters);
    EXPECT_EQ(vm.call(0, kCpuSuspend | kSmc64, 1ull << 32, 0, 0), kPsciInvalidParameters);
    EXPECT_EQ(vm.exit, FirmwareExit::resume);
}

TEST(PsciMigrate, NoTrustedOs) {
    Vm vm;
    EXPECT_EQ(vm.call(0, kMigrateInfoType), kMigrateInfoNoTrustedOs);
    EXPECT_EQ(vm.call(0, kMigrate, mpidr(1)), kPsciNotSupported);
    EXPECT_EQ(vm.call(0, kMigrate | kSmc64, mpidr(1)), kPsciNotSupported);
    EXPECT_EQ(vm.call(0, kMigrateInfoUpCpu), kPsciNotSupported);
}

TEST(PsciSystem, OffResetReset2) {
    Vm vm;
    vm.call(0, kSystemOff);
    EXPECT_EQ(vm.exit, FirmwareExit::system_off);
    vm.call(0, kSystemReset);
    EXPECT_EQ(vm.exit, FirmwareExit::system_reset);
    EXPECT_EQ(vm.fw.reset_type(), 0u);
    vm.call(0, kSystemReset2, 0, 0x55);
    EXPECT_EQ(vm.exit, FirmwareExit::system_reset);
    EXPECT_EQ(vm.fw.reset_cookie(), 0x55u);
    vm.call(0, kSystemReset2 | kSmc64, 0x80000001, 0x123456789ull);
    EXPECT_EQ(vm.exit, FirmwareExit::system_reset);
    EXPECT_EQ(vm.fw.reset_type(), 0x80000001u);
    EXPECT_EQ(vm.fw.reset_cookie(), 0x123456789ull);
    EXPECT_EQ(vm.call(0, kSystemReset2, 1, 0), kPsciInvalidParameters);  // reserved architectural type
    EXPECT_EQ(vm.exit, FirmwareExit::resume);
    EXPECT_EQ(vm.call(0, kSystemReset2 | kSmc64, 1ull << 32, 0), kPsciInvalidParameters);
    // SYSTEM_RESET2 is PSCI 1.1.
    Vm v10(PsciVersion::v1_0);
    EXPECT_EQ(v10.call(0, kSystemReset2, 0, 0), kPsciNotSupported);
    EXPECT_EQ(v10.exit, FirmwareExit::resume);
}

TEST(PsciFeatures, PerVersionAnswers) {
    Vm v11(PsciVersion::v1_1), v10(PsciVersion::v1_0), v02(PsciVersion::v0_2);
    for (u32 fid : {kPsciVersionFn, kCpuOff, kCpuOn, kCpuOn | kSmc64, kAffinityInfo, kAffinityInfo | kSmc64,
                    kMigrateInfoType, kSystemOff, kSystemReset, kPsciFeatures, kSmcccVersion}) {
        EXPECT_EQ(v11.call(0, kPsciFeatures, fid), kPsciSuccess) << std::hex << fid;
        EXPECT_EQ(v10.call(0, kPsciFeatures, fid), kPsciSuccess) << std::hex << fid;
    }
    // CPU_SUSPEND: feature flags 0 = original power_state format, platform-coordinated.
    EXPECT_EQ(v11.call(0, kPsciFeatures, kCpuSuspend), 0);
    EXPECT_EQ(v11.call(0, kPsciFeatures, kCpuSuspend | kSmc64), 0);
    EXPECT_EQ(v11.call(0, kPsciFeatures, kSystemReset2), kPsciSuccess);
    EXPECT_EQ(v11.call(0, kPsciFeatures, kSystemReset2 | kSmc64), kPsciSuccess);
    EXPECT_EQ(v10.call(0, kPsciFeatures, kSystemReset2), kPsciNotSupported);
    for (u32 fid : {kMigrate, kMigrateInfoUpCpu, kSystemSuspend, kCpuFreeze, kCpuOff | kSmc64, kTrngVersion,
                    kSmcccArchFeatures, 0x12345678u}) {
        EXPECT_EQ(v11.call(0, kPsciFeatures, fid), kPsciNotSupported) << std::hex << fid;
    }
    // PSCI 0.2 has no PSCI_FEATURES at all.
    EXPECT_EQ(v02.call(0, kPsciFeatures, kPsciVersionFn), kPsciNotSupported);
}

TEST(Psci01, OnlyTheOldIdsAnswer) {
    Vm vm(PsciVersion::v0_1);
    EXPECT_EQ(vm.call(0, kPsci01CpuOn, 0x100000000ull | mpidr(1), kEntry, 0), kPsciInvalidParameters);
    EXPECT_EQ(vm.call(0, kPsci01CpuOn, mpidr(1), kEntry, 0x1122334455667788ull), kPsciSuccess);
    EXPECT_EQ(vm.platform.starts.back().context_id, 0x1122334455667788ull);  // 64-bit arguments
    vm.fw.on_vcpu_started(1);
    EXPECT_EQ(vm.call(0, kPsci01CpuOn, mpidr(1), kEntry, 0), kPsciInvalidParameters);  // KVM's 0.1 "already on"
    vm.call(1, kPsci01CpuOff);
    EXPECT_EQ(vm.exit, FirmwareExit::vcpu_off);
    EXPECT_EQ(vm.call(0, kPsci01CpuSuspend, 0, 0, 0), kPsciSuccess);
    EXPECT_EQ(vm.exit, FirmwareExit::vcpu_suspend);
    EXPECT_EQ(vm.call(0, kPsci01Migrate, 0), kPsciNotSupported);
    // The 0.2 IDs do not exist in a 0.1 VM ...
    for (u32 fid : {kPsciVersionFn, kCpuOn, kCpuOff, kAffinityInfo, kSystemOff, kSystemReset, kPsciFeatures})
        EXPECT_EQ(vm.call(0, fid, mpidr(2), kEntry, 0), kPsciNotSupported) << std::hex << fid;
    EXPECT_EQ(vm.exit, FirmwareExit::resume);
    // ... and the 0.1 IDs do not exist in a newer one.
    Vm v11;
    EXPECT_EQ(v11.call(0, kPsci01CpuOn, mpidr(1), kEntry, 0), kPsciNotSupported);
    EXPECT_TRUE(v11.platform.starts.empty());
}

TEST(PsciReset, BackToBootState) {
    Vm vm;
    ASSERT_EQ(vm.call(0, kCpuOn, mpidr(3), kEntry, 0), kPsciSuccess);
    vm.fw.on_vcpu_started(3);
    vm.call(0, kCpuOff);
    vm.fw.reset();
    EXPECT_EQ(vm.fw.power_state(0), PowerState::on);
    EXPECT_EQ(vm.fw.power_state(3), PowerState::off);
    FirmwareConfig cfg;
    cfg.boot_vcpu = 2;
    Vm other(PsciVersion::v1_1, 4, cfg);
    EXPECT_EQ(other.fw.power_state(2), PowerState::on);
    EXPECT_EQ(other.fw.power_state(0), PowerState::off);
}

TEST(FirmwareDispatch, UnknownAndBadCalls) {
    Vm vm;
    EXPECT_EQ(vm.call(0, 0x8400001f), kSmcccNotSupported);  // unused PSCI number
    EXPECT_EQ(vm.call(0, 0x82000000), kSmcccNotSupported);  // SiP
    EXPECT_EQ(vm.call(0, 0x85000000), kSmcccNotSupported);  // standard hypervisor (no PV time)
    EXPECT_EQ(vm.call(0, 0x04000000), kSmcccNotSupported);  // yielding call
    EXPECT_EQ(vm.call(0, 0xbf00ff01), kSmcccNotSupported);  // trusted OS
    EXPECT_EQ(vm.last.x[1], 0u);
    EXPECT_EQ(vm.last.x[2], 0u);
    EXPECT_EQ(vm.last.x[3], 0u);
    // A vCPU index the VM does not have: answered, not crashed.
    EXPECT_EQ(vm.call(99, kCpuOff), kSmcccNotSupported);
    EXPECT_EQ(vm.exit, FirmwareExit::resume);
}
