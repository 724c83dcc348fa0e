// The snapshot=restore hypervisor option (core/bootargs.hpp, docs/snapshot.md).
#include <gtest/gtest.h>

#include "core/bootargs.hpp"

using namespace hv;

TEST(SnapshotBootargs, Restore) {
    HvOptions o;
    ASSERT_EQ(parse_bootargs("vcpus=2 snapshot=restore", o), Status::ok);
    EXPECT_EQ(o.snapshot, HvOptions::SnapshotMode::restore);
    EXPECT_EQ(o.vcpus, 2u);
    EXPECT_EQ(o.invalid_count, 0u);
}

TEST(SnapshotBootargs, BadValuesKeepTheDefault) {
    // The semihosting forms (save:PATH, restore:PATH) are gone: a host file path is no longer an option.
    for (const char* args :
         {"snapshot=save:/tmp/x", "snapshot=restore:/tmp/x", "snapshot=save", "snapshot=", "snapshot=restorex"}) {
        HvOptions o;
        ASSERT_EQ(parse_bootargs(args, o), Status::ok);
        EXPECT_EQ(o.snapshot, HvOptions::SnapshotMode::none) << args;
        EXPECT_EQ(o.invalid_count, 1u) << args;
    }
}
