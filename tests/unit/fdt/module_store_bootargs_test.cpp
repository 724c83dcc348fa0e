// The module_store= hypervisor option (core/bootargs.hpp, docs/boot.md "Memory layout").
#include <gtest/gtest.h>

#include "core/bootargs.hpp"

using namespace hv;

TEST(ModuleStoreBootargs, DefaultIsCopy) {
    HvOptions o;
    ASSERT_EQ(parse_bootargs("vcpus=2", o), Status::ok);
    EXPECT_EQ(o.module_store, HvOptions::ModuleStoreMode::copy);
}

TEST(ModuleStoreBootargs, PreloadedAndBackToCopy) {
    HvOptions o;
    ASSERT_EQ(parse_bootargs("module_store=preloaded mem=512M", o), Status::ok);
    EXPECT_EQ(o.module_store, HvOptions::ModuleStoreMode::preloaded);
    EXPECT_EQ(o.invalid_count, 0u);
    // tools/run-guest puts its word first: a later one from --hv-append wins.
    ASSERT_EQ(parse_bootargs("module_store=preloaded module_store=copy", o), Status::ok);
    EXPECT_EQ(o.module_store, HvOptions::ModuleStoreMode::copy);
}

TEST(ModuleStoreBootargs, BadValuesKeepTheDefault) {
    for (const char* args : {"module_store=", "module_store=on", "module_store=preload", "module_store=preloadedx"}) {
        HvOptions o;
        ASSERT_EQ(parse_bootargs(args, o), Status::ok);
        EXPECT_EQ(o.module_store, HvOptions::ModuleStoreMode::copy) << args;
        EXPECT_EQ(o.invalid_count, 1u) << args;
    }
}
