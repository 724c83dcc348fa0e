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

namespace {
struct Dev {
    u64 rd(const MmioAccess&, u64) { return 0; }
    void wr(const MmioAccess&, u64, u64) {}
};
// Holes before, between and after regions; regions of one word, several words and one far up (as the ID registers).
constexpr RegisterRegion<Dev> kTable[] = {
    {0x4, 4, 0, kW32, &Dev::rd, &Dev::wr, nullptr, nullptr},
    {0x8, 8, 0, kW32 | kW64, &Dev::rd, &Dev::wr, nullptr, nullptr},
    {0x80, 0x80, 1, kW32, &Dev::rd, &Dev::wr, nullptr, nullptr},
    {0x400, 0x400, 8, kW8 | kW32, &Dev::rd, &Dev::wr, nullptr, nullptr},
    {0xffd0, 0x30, 0, kW32, &Dev::rd, &Dev::wr, nullptr, nullptr},
};
static_assert(regions_sorted(kTable));
static_assert(regions_word_aligned(kTable));
constexpr auto kIndex = make_region_index<region_index_words(kTable)>(kTable);
static_assert(sizeof(kIndex.region) == 0x10000 / 4);
constexpr RegisterRegion<Dev> kUnaligned[] = {{0x2, 4, 0, kW32, &Dev::rd, &Dev::wr, nullptr, nullptr}};
static_assert(!regions_word_aligned(kUnaligned));
}  // namespace

TEST(RegionIndex, AgreesWithTheBinarySearchAtEveryOffset) {
    const IndexedRegions<Dev> map{kTable, kIndex.region, array_size(kIndex.region)};
    usize found = 0;
    for (u64 off = 0; off < 0x10010; ++off) {
        const auto* expect = find_region(kTable, array_size(kTable), off);
        ASSERT_EQ(map.find(off), expect) << "offset 0x" << std::hex << off;
        found += expect != nullptr;
    }
    EXPECT_EQ(found, 4u + 8 + 0x80 + 0x400 + 0x30);
    EXPECT_EQ(map.find(0x3), nullptr);
    EXPECT_EQ(map.find(0x7), &kTable[0]);
    EXPECT_EQ(map.find(0xf), &kTable[1]);
    EXPECT_EQ(map.find(0xffff), &kTable[4]);
    EXPECT_EQ(map.find(~u64{0}), nullptr);
}
