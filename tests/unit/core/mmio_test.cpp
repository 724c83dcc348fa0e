#include "core/mmio.hpp"

#include <gtest/gtest.h>

#include <vector>

using namespace hv;

namespace {
struct Recorder final : MmioHandler {
    struct Op {
        MmioAccess a;
        u64 value;
    };
    std::vector<Op> ops;
    u64 read_value = 0;
    MmioResult mmio_read(const MmioAccess& a, u64& value) override {
        ops.push_back({a, 0});
        value = read_value;
        return MmioResult::ok;
    }
    MmioResult mmio_write(const MmioAccess& a, u64 value) override {
        ops.push_back({a, value});
        return MmioResult::ok;
    }
};
}  // namespace

TEST(MmioBus, DispatchesToTheFrameWithOffsets) {
    MmioBus bus;
    Recorder uart, gicd;
    ASSERT_EQ(bus.add(0x0900'0000, 0x1000, &uart), Status::ok);
    ASSERT_EQ(bus.add(0x0800'0000, 0x10000, &gicd), Status::ok);
    u64 v = 0x41;
    EXPECT_EQ(bus.dispatch(2, 0x0900'0000, 1, true, v), MmioResult::ok);
    ASSERT_EQ(uart.ops.size(), 1u);
    EXPECT_EQ(uart.ops[0].a.offset, 0u);
    EXPECT_EQ(uart.ops[0].a.vcpu, 2u);
    EXPECT_TRUE(uart.ops[0].a.write);
    EXPECT_EQ(uart.ops[0].value, 0x41u);
    gicd.read_value = 0x1234;
    EXPECT_EQ(bus.dispatch(0, 0x0800'0004, 4, false, v), MmioResult::ok);
    EXPECT_EQ(v, 0x1234u);
    EXPECT_EQ(gicd.ops.at(0).a.offset, 4u);
}

TEST(MmioBus, UnclaimedAndStraddlingAccessesAreUnhandled) {
    MmioBus bus;
    Recorder r;
    ASSERT_EQ(bus.add(0x1000, 0x1000, &r), Status::ok);
    u64 v = 0;
    EXPECT_EQ(bus.dispatch(0, 0x0fff, 1, false, v), MmioResult::unhandled);
    EXPECT_EQ(bus.dispatch(0, 0x2000, 4, false, v), MmioResult::unhandled);
    EXPECT_EQ(bus.dispatch(0, 0x1ffc, 8, false, v), MmioResult::unhandled);  // crosses the frame end
    EXPECT_EQ(bus.dispatch(0, 0x1000, 3, false, v), MmioResult::unhandled);  // bad width
    EXPECT_TRUE(r.ops.empty());
}

TEST(MmioBus, RejectsOverlappingFrames) {
    MmioBus bus;
    Recorder r;
    ASSERT_EQ(bus.add(0x1000, 0x1000, &r), Status::ok);
    EXPECT_EQ(bus.add(0x1800, 0x1000, &r), Status::invalid_argument);
    EXPECT_EQ(bus.add(0x0800, 0x1000, &r), Status::invalid_argument);
    EXPECT_EQ(bus.add(0x2000, 0x1000, &r), Status::ok);
    EXPECT_EQ(bus.add(0x3000, 0, &r), Status::invalid_argument);
    EXPECT_EQ(bus.frame_count(), 2u);
}
