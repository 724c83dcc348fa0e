#include "core/stage2.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <map>
#include <vector>

#include "tests/unit/core/page_pool.hpp"

using namespace hv;

namespace {

// Tables live in host buffers; "physical addresses" are fake, naturally aligned, and map back to the buffers.
class FakeAllocator final : public PageAllocator {
public:
    explicit FakeAllocator(usize limit = 1024) : limit_(limit) {}
    ~FakeAllocator() {
        for (auto& [pa, p] : pages_) std::free(p);
    }
    u64 alloc_pages(usize pages) override {
        if (allocated_ + pages > limit_) return 0;
        u64 pa = align_up(next_, pages * 4096);
        next_ = pa + pages * 4096;
        for (usize i = 0; i < pages; ++i) {
            void* p = std::aligned_alloc(4096, 4096);
            std::memset(p, 0, 4096);
            pages_[pa + i * 4096] = p;
        }
        allocated_ += pages;
        return pa;
    }
    u64* table_ptr(u64 pa) override {
        // Concatenated root tables: index past the first page lands in the next page.
        return static_cast<u64*>(pages_.at(pa));
    }
    usize allocated() const { return allocated_; }

private:
    std::map<u64, void*> pages_;
    u64 next_ = 0x1000'0000;
    usize allocated_ = 0;
    usize limit_;
};

}  // namespace

// For concatenated roots the builder indexes the root as one array: give it contiguous storage.
using ContiguousAllocator = hvtest::ContiguousPagePool<0x4000'0000, 512>;

TEST(Stage2, FortyBitIpaUsesTwoConcatenatedLevel1Tables) {
    ContiguousAllocator a;
    PageTable t;
    ASSERT_EQ(t.init(a, Regime::stage2, 40), Status::ok);
    EXPECT_EQ(t.start_level(), 1u);
    EXPECT_EQ(t.root_tables(), 2u);
    EXPECT_TRUE(is_aligned(t.root_pa(), 8192));
    u64 vtcr = make_vtcr(t, 5 /* 48-bit PA */);
    EXPECT_EQ(vtcr & 0x3f, 24u);      // T0SZ
    EXPECT_EQ((vtcr >> 6) & 3, 1u);   // SL0: level 1
    EXPECT_EQ((vtcr >> 14) & 3, 0u);  // TG0: 4K
    EXPECT_EQ((vtcr >> 16) & 7, 5u);  // PS
    EXPECT_EQ((vtcr >> 12) & 3, 3u);  // SH0 inner
    EXPECT_TRUE(vtcr & (1ull << 31));
}

TEST(Stage2, GuestRamUsesBlocksAndHypervisorRegionStaysUnmapped) {
    ContiguousAllocator a;
    PageTable t;
    ASSERT_EQ(t.init(a, Regime::stage2, 40), Status::ok);
    // RAM 0x4000_0000..0x8000_0000 with the first 32 MiB kept by the hypervisor.
    ASSERT_EQ(t.map(0x4200'0000, 0x4200'0000, 0x3e00'0000, {MemType::normal, true, true}), Status::ok);

    EXPECT_EQ(t.translate(0x4000'0000).status(), Status::not_found);
    EXPECT_EQ(t.translate(0x41ff'ffff).status(), Status::not_found);
    EXPECT_EQ(t.translate(0x8000'0000).status(), Status::not_found);
    EXPECT_EQ(t.translate(0x0900'0000).status(), Status::not_found);  // UART: emulated, unmapped

    auto first = t.translate(0x4200'1234);
    ASSERT_TRUE(first.ok());
    EXPECT_EQ(first.value().pa, 0x4200'1234u);
    EXPECT_EQ(first.value().level, 2u);  // 0x4200_0000 is 2 MiB aligned, not 1 GiB
    EXPECT_EQ(first.value().block_size, 2 * MiB);
    auto last = t.translate(0x7fff'fff8);
    ASSERT_TRUE(last.ok());
    EXPECT_EQ(last.value().pa, 0x7fff'fff8u);

    // Attributes: normal WB, RW, inner shareable, AF, executable.
    u64 d = first.value().descriptor;
    EXPECT_EQ(pte::S2MemAttr::get(d), pte::kS2MemNormalWb);
    EXPECT_EQ(pte::Ap::get(d), pte::kS2ApReadWrite);
    EXPECT_EQ(pte::Sh::get(d), pte::kShInner);
    EXPECT_EQ(pte::Af::get(d), 1u);
    EXPECT_EQ(pte::S2Xn::get(d), 0u);
    EXPECT_EQ(d & 3, 1u);  // block descriptor

    // Every 2 MiB block in range is present with the right output address.
    for (u64 ipa = 0x4200'0000; ipa < 0x8000'0000; ipa += 2 * MiB) {
        auto r = t.translate(ipa + 8);
        ASSERT_TRUE(r.ok()) << std::hex << ipa;
        EXPECT_EQ(r.value().pa, ipa + 8);
        EXPECT_EQ(r.value().level, 2u);
    }
}

// Guest RAM as the hypervisor maps it (arch vm_init_memory): 4 KiB pages only, even where a block would fit, and
// page_map_tables() is an upper bound on the tables that takes.
TEST(Stage2, PagesOnlyMapsEveryPageAtLevel3AndTheTableEstimateHolds) {
    hvtest::ContiguousPagePool<0x4000'0000, 1024> a;
    PageTable t;
    ASSERT_EQ(t.init(a, Regime::stage2, 40), Status::ok);
    const u64 base = 0x4200'0000, size = GiB;
    const usize before = a.used();
    MapAttrs ram{MemType::normal, true, true};
    ram.blocks = false;
    ASSERT_EQ(t.map(base, base, size, ram), Status::ok);
    const usize tables = a.used() - before;
    EXPECT_EQ(tables, 512u + 2u);  // a level-3 table per 2 MiB; 0x4200_0000 + 1 GiB spans two level-2 tables
    EXPECT_LE(tables, PageTable::page_map_tables(base, size));
    for (u64 ipa : {base, base + 2 * MiB - 8, base + 0x1234'5678, base + size - 8}) {
        auto r = t.translate(ipa);
        ASSERT_TRUE(r.ok()) << std::hex << ipa;
        EXPECT_EQ(r.value().pa, ipa);
        EXPECT_EQ(r.value().level, 3u);
        EXPECT_EQ(r.value().block_size, 4096u);
        EXPECT_EQ(r.value().descriptor & 3, 3u);  // page descriptor
    }
    EXPECT_EQ(t.translate(base - 8).status(), Status::not_found);
    EXPECT_EQ(t.translate(base + size).status(), Status::not_found);
}

TEST(Stage2, PageMapTablesCountsEveryLevel) {
    EXPECT_EQ(PageTable::page_map_tables(0, 0), 0u);
    EXPECT_EQ(PageTable::page_map_tables(0, 4096), 3u);               // one table per level
    EXPECT_EQ(PageTable::page_map_tables(2 * MiB - 4096, 8192), 4u);  // straddles two level-3 tables
    EXPECT_EQ(PageTable::page_map_tables(0, GiB), 512u + 1 + 1);
    EXPECT_EQ(PageTable::page_map_tables(0x4200'0000, GiB), 512u + 2 + 1);
}

TEST(Stage2, OneGigabyteBlocksWhenAligned) {
    ContiguousAllocator a;
    PageTable t;
    ASSERT_EQ(t.init(a, Regime::stage2, 40), Status::ok);
    ASSERT_EQ(t.map(0x8000'0000, 0x8000'0000, 2 * GiB, {MemType::normal, true, true}), Status::ok);
    auto r = t.translate(0xc000'0010);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r.value().level, 1u);
    EXPECT_EQ(r.value().block_size, GiB);
    EXPECT_EQ(a.used(), 2u);  // just the concatenated root: no lower tables needed
}

TEST(Stage2, UnalignedEdgesUsePagesAndDeviceAttributes) {
    ContiguousAllocator a;
    PageTable t;
    ASSERT_EQ(t.init(a, Regime::stage2, 40), Status::ok);
    ASSERT_EQ(t.map(0x1000'1000, 0x2000'1000, 0x20'0000, {MemType::device, true, false}), Status::ok);
    auto r = t.translate(0x1000'1004);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r.value().level, 3u);
    EXPECT_EQ(r.value().pa, 0x2000'1004u);
    EXPECT_EQ(pte::S2MemAttr::get(r.value().descriptor), pte::kS2MemDeviceNGnRE);
    EXPECT_EQ(pte::S2Xn::get(r.value().descriptor), 2u);
    EXPECT_EQ(r.value().descriptor & 3, 3u);  // page descriptor
    EXPECT_EQ(t.translate(0x1000'0ff8).status(), Status::not_found);
    EXPECT_EQ(t.translate(0x1020'1000).status(), Status::not_found);
    EXPECT_TRUE(t.translate(0x1020'0ff8).ok());
}

TEST(Stage2, RefusesOverlapBadAlignmentAndOutOfRange) {
    ContiguousAllocator a;
    PageTable t;
    ASSERT_EQ(t.init(a, Regime::stage2, 40), Status::ok);
    ASSERT_EQ(t.map(0x4000'0000, 0x4000'0000, 4 * MiB, {}), Status::ok);
    EXPECT_EQ(t.map(0x4010'0000, 0x4010'0000, 4096, {}), Status::busy);
    EXPECT_EQ(t.map(0x4000'0800, 0x4000'0800, 4096, {}), Status::invalid_argument);
    EXPECT_EQ(t.map(0x5000'0000, 0x5000'0000, 0, {}), Status::invalid_argument);
    EXPECT_EQ(t.map(u64{1} << 40, u64{1} << 40, 4096, {}), Status::out_of_range);
    EXPECT_EQ(t.translate(u64{1} << 40).status(), Status::out_of_range);
}

TEST(Stage2, RunsOutOfTablesGracefully) {
    FakeAllocator a(3);  // root + one level-2 + one level-3 table
    PageTable t;
    ASSERT_EQ(t.init(a, Regime::stage2, 39), Status::ok);
    EXPECT_EQ(t.map(0x4000'0000, 0x4000'0000, 4096, {}), Status::ok);         // level-2 and level-3 tables
    EXPECT_EQ(t.map(0x4000'1000, 0x4000'1000, 4096, {}), Status::ok);         // same level-3 table
    EXPECT_EQ(t.map(0x4020'0000, 0x4020'0000, 4096, {}), Status::no_memory);  // would need another level-3 table
    EXPECT_EQ(t.tables_allocated(), 3u);
    EXPECT_TRUE(t.translate(0x4000'1008).ok());
}

TEST(Stage2, El2Stage1IdentityMapAttributes) {
    FakeAllocator a;
    PageTable t;
    ASSERT_EQ(t.init(a, Regime::el2_stage1, 48), Status::ok);
    EXPECT_EQ(t.start_level(), 0u);
    ASSERT_EQ(t.map(0, 0, GiB, {MemType::device, true, false}), Status::ok);
    ASSERT_EQ(t.map(GiB, GiB, GiB, {MemType::normal, true, true}), Status::ok);
    auto dev = t.translate(0x0900'0000);
    ASSERT_TRUE(dev.ok());
    EXPECT_EQ(pte::AttrIndx::get(dev.value().descriptor), pte::kMairIdxDevice);
    EXPECT_EQ(pte::S1Xn::get(dev.value().descriptor), 1u);
    auto ram = t.translate(0x4020'0000);
    ASSERT_TRUE(ram.ok());
    EXPECT_EQ(ram.value().level, 1u);
    EXPECT_EQ(pte::AttrIndx::get(ram.value().descriptor), pte::kMairIdxNormal);
    EXPECT_EQ(pte::Ap::get(ram.value().descriptor), pte::kS1ApEl2ReadWrite);
    EXPECT_EQ(pte::S1Xn::get(ram.value().descriptor), 0u);
    EXPECT_EQ((pte::kMairValue >> (8 * pte::kMairIdxNormal)) & 0xff, 0xffu);
}

TEST(Stage2, ParangeBits) {
    EXPECT_EQ(parange_bits(0), 32u);
    EXPECT_EQ(parange_bits(2), 40u);
    EXPECT_EQ(parange_bits(5), 48u);
    EXPECT_EQ(parange_bits(6), 52u);
}
