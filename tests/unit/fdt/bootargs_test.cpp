#include "core/bootargs.hpp"

#include <gtest/gtest.h>

#include <string>
#include <utility>

#include "tests/unit/support.hpp"

using namespace hv;

TEST(Bootargs, DefaultsWithoutArgs) {
    HvOptions o;
    EXPECT_EQ(parse_bootargs(nullptr, o), Status::ok);
    EXPECT_EQ(parse_bootargs("", o), Status::ok);
    EXPECT_EQ(o.vcpus, 0u);
    EXPECT_EQ(o.mem, 0u);
    EXPECT_EQ(o.psci, PsciVersion::v1_1);
    EXPECT_TRUE(o.its);
    EXPECT_TRUE(o.pci);
    EXPECT_EQ(o.unknown_count, 0u);
}

TEST(Bootargs, ParsesKnownOptions) {
    HvOptions o;
    ASSERT_EQ(parse_bootargs("  vcpus=2 mem=512M\tpsci=0.1 loglevel=debug its=off pci=0  ", o), Status::ok);
    EXPECT_EQ(o.vcpus, 2u);
    EXPECT_EQ(o.mem, 512 * MiB);
    EXPECT_EQ(o.psci, PsciVersion::v0_1);
    EXPECT_EQ(o.loglevel, LogLevel::debug);
    EXPECT_FALSE(o.its);
    EXPECT_FALSE(o.pci);
    EXPECT_EQ(o.unknown_count + o.invalid_count, 0u);

    HvOptions p;
    ASSERT_EQ(parse_bootargs("mem=0x40000000 psci=1.0 loglevel=1 vcpus=8", p), Status::ok);
    EXPECT_EQ(p.mem, 1 * GiB);
    EXPECT_EQ(p.psci, PsciVersion::v1_0);
    EXPECT_EQ(p.loglevel, LogLevel::warn);
    EXPECT_EQ(p.vcpus, 8u);
    HvOptions q;
    ASSERT_EQ(parse_bootargs("mem=2g psci=0.2", q), Status::ok);
    EXPECT_EQ(q.mem, 2 * GiB);
    EXPECT_EQ(q.psci, PsciVersion::v0_2);
}

TEST(Bootargs, UnknownAndInvalidAreReportedNotFatal) {
    hvtest::install_log_capture();
    hvtest::captured_log().clear();
    HvOptions o;
    ASSERT_EQ(parse_bootargs("frobnicate vcpus=0 vcpus=99 mem=1M mem=12Q psci=2.0 its=maybe quiet=1 vcpus=3", o),
              Status::ok);
    EXPECT_EQ(o.vcpus, 3u);  // the valid one wins, invalid ones keep the previous value
    EXPECT_EQ(o.mem, 0u);    // 1M is not 2 MiB aligned; 12Q is garbage
    EXPECT_EQ(o.psci, PsciVersion::v1_1);
    EXPECT_TRUE(o.its);
    EXPECT_EQ(o.unknown_count, 2u);
    EXPECT_EQ(o.invalid_count, 6u);
    EXPECT_STREQ(o.unknown[0], "frobnicate");
    EXPECT_STREQ(o.unknown[1], "quiet=1");
    EXPECT_NE(hvtest::captured_log().find("frobnicate"), std::string::npos);
}

TEST(Bootargs, SizesAndOverflow) {
    u64 v = 0;
    EXPECT_TRUE(parse_size("4096K", 5, v));
    EXPECT_EQ(v, 4 * MiB);
    EXPECT_TRUE(parse_size("0x10M", 5, v));
    EXPECT_EQ(v, 16 * MiB);
    EXPECT_FALSE(parse_size("", 0, v));
    EXPECT_FALSE(parse_size("M", 1, v));
    EXPECT_FALSE(parse_size("99999999999999999999", 20, v));
    EXPECT_FALSE(parse_size("17179869184G", 12, v));  // 2^34 GiB overflows
    EXPECT_FALSE(parse_size("0x", 2, v));
}

TEST(Bootargs, OverlongIsIgnored) {
    std::string s(5000, 'a');
    HvOptions o;
    EXPECT_EQ(parse_bootargs(s.c_str(), o), Status::invalid_argument);
    EXPECT_EQ(o.unknown_count, 0u);
    std::string many;
    for (int i = 0; i < 100; ++i) many += "x" + std::to_string(i) + " ";
    HvOptions p;
    EXPECT_EQ(parse_bootargs(many.c_str(), p), Status::ok);
    EXPECT_EQ(p.unknown_count, 100u);
    EXPECT_STREQ(p.unknown[3], "x3");
}

TEST(Bootargs, VirtualItsCount) {
    HvOptions d;
    ASSERT_EQ(parse_bootargs("", d), Status::ok);
    EXPECT_EQ(d.vits, 1u);  // default: one virtual ITS (at the host ITS address)
    HvOptions o;
    ASSERT_EQ(parse_bootargs("vits=3", o), Status::ok);
    EXPECT_EQ(o.vits, 3u);
    EXPECT_EQ(o.invalid_count, 0u);
    HvOptions m;
    ASSERT_EQ(parse_bootargs("vits=4", m), Status::ok);
    EXPECT_EQ(m.vits, kMaxVirtualIts);
    // 0, above the maximum, garbage, no value: reported, the previous value kept.
    HvOptions bad;
    ASSERT_EQ(parse_bootargs("vits=2 vits=0 vits=5 vits=two vits= vits", bad), Status::ok);
    EXPECT_EQ(bad.vits, 2u);
    EXPECT_EQ(bad.invalid_count, 4u);
    EXPECT_EQ(bad.unknown_count, 1u);  // "vits" without '=' is not the option
}

TEST(Bootargs, SecondaryWaitAndLateCpuHook) {
    HvOptions d;
    EXPECT_EQ(d.cpu_timeout_ms, 10000u);
    EXPECT_EQ(d.late_cpu, 0u);
    HvOptions o;
    ASSERT_EQ(parse_bootargs("cpu_timeout=2500 debug_late_cpu=2:1500", o), Status::ok);
    EXPECT_EQ(o.cpu_timeout_ms, 2500u);
    EXPECT_EQ(o.late_cpu, 2u);
    EXPECT_EQ(o.late_cpu_ms, 1500u);
    EXPECT_EQ(o.invalid_count, 0u);
    // Bad values keep the defaults: timeout 0 or beyond 600 s; the boot pCPU (0), a pCPU beyond 7, no colon, no ms.
    for (const char* bad :
         {"cpu_timeout=0", "cpu_timeout=600001", "cpu_timeout=x", "debug_late_cpu=0:100", "debug_late_cpu=8:100",
          "debug_late_cpu=3", "debug_late_cpu=3:", "debug_late_cpu=:5", "debug_late_cpu=1:600001"}) {
        SCOPED_TRACE(bad);
        HvOptions p;
        ASSERT_EQ(parse_bootargs(bad, p), Status::ok);
        EXPECT_EQ(p.invalid_count, 1u);
        EXPECT_EQ(p.cpu_timeout_ms, 10000u);
        EXPECT_EQ(p.late_cpu, 0u);
    }
}

TEST(Bootargs, DebugFaultHook) {
    HvOptions d;
    EXPECT_EQ(d.debug_fault, HvOptions::DebugFault::none);
    const std::pair<const char*, HvOptions::DebugFault> cases[] = {
        {"debug_fault=exec_data", HvOptions::DebugFault::exec_data},
        {"debug_fault=stack_overflow", HvOptions::DebugFault::stack_overflow},
        {"debug_fault=stack_smash", HvOptions::DebugFault::stack_smash}};
    for (const auto& [args, want] : cases) {
        HvOptions o;
        ASSERT_EQ(parse_bootargs(args, o), Status::ok);
        EXPECT_EQ(o.debug_fault, want) << args;
        EXPECT_EQ(o.invalid_count, 0u);
    }
    HvOptions bad;
    ASSERT_EQ(parse_bootargs("debug_fault=everything", bad), Status::ok);
    EXPECT_EQ(bad.invalid_count, 1u);
    EXPECT_EQ(bad.debug_fault, HvOptions::DebugFault::none);
}

TEST(Bootargs, SmmuIsOnByDefaultAndCanBeTurnedOff) {
    HvOptions o;
    ASSERT_EQ(parse_bootargs("", o), Status::ok);
    EXPECT_TRUE(o.smmu);
    ASSERT_EQ(parse_bootargs("smmu=off", o), Status::ok);
    EXPECT_FALSE(o.smmu);
    HvOptions p;
    ASSERT_EQ(parse_bootargs("smmu=maybe", p), Status::ok);
    EXPECT_TRUE(p.smmu);  // a bad value keeps the (safe) default
    EXPECT_EQ(p.invalid_count, 1u);
}
