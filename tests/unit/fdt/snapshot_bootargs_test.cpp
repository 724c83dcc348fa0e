// The snapshot=save:PATH / restore:PATH hypervisor option (core/bootargs.hpp, docs/snapshot.md).
#include <gtest/gtest.h>

#include <cstring>
#include <string>

#include "core/bootargs.hpp"

using namespace hv;

TEST(SnapshotBootargs, SaveAndRestoreWithPath) {
    HvOptions o;
    ASSERT_EQ(parse_bootargs("vcpus=2 snapshot=save:/tmp/vm.snap", o), Status::ok);
    EXPECT_EQ(o.snapshot, HvOptions::SnapshotMode::save);
    EXPECT_STREQ(o.snapshot_path, "/tmp/vm.snap");
    EXPECT_EQ(o.vcpus, 2u);
    HvOptions r;
    ASSERT_EQ(parse_bootargs("snapshot=restore:a:b", r), Status::ok);  // only the first ':' separates
    EXPECT_EQ(r.snapshot, HvOptions::SnapshotMode::restore);
    EXPECT_STREQ(r.snapshot_path, "a:b");
    EXPECT_EQ(r.invalid_count, 0u);
}

TEST(SnapshotBootargs, BadValuesKeepTheDefault) {
    const std::string too_long = "snapshot=save:" + std::string(HvOptions::kMaxSnapshotPath, 'x');
    for (const char* args : {"snapshot=save:", "snapshot=load:/x", "snapshot=save", "snapshot=", too_long.c_str()}) {
        HvOptions o;
        ASSERT_EQ(parse_bootargs(args, o), Status::ok);
        EXPECT_EQ(o.snapshot, HvOptions::SnapshotMode::none) << args;
        EXPECT_EQ(o.snapshot_path[0], '\0') << args;
        EXPECT_EQ(o.invalid_count, 1u) << args;
    }
}
