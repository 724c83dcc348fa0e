// core/smmu_tables: STE / CD / command / event layouts (IHI0070), queue arithmetic, the root complex's StreamIDs and
// the DMA window of a VM (guest RAM + the ITS doorbell, nothing else).
#include "core/smmu_tables.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#include "tests/unit/core/page_pool.hpp"

using namespace hv;
using namespace hv::smmu;

namespace {

// Page tables in contiguous fake physical memory at 0x4080_0000.
using Pool = hvtest::ContiguousPagePool<0x4080'0000, 256>;

// QEMU virt with -m 1G under the hypervisor: guest RAM above the hypervisor's 32 MiB, the module store on top.
const MemRegion kRam[] = {{0x4200'0000, 0x3de0'0000}};
const u64 kDoorbell[] = {0x0809'0000};  // GITS_TRANSLATER page of the ITS at 0x0808_0000

DmaWindow window() { return DmaWindow{Span<const MemRegion>(kRam), Span<const u64>(kDoorbell)}; }

}  // namespace

TEST(SmmuTables, QueueIndexWrapsAndTellsFullFromEmpty) {
    QueueIndex q{2};  // 4 slots
    EXPECT_TRUE(q.empty(0, 0));
    EXPECT_FALSE(q.full(0, 0));
    u32 prod = 0;
    for (int i = 0; i < 4; ++i) prod = q.next(prod);
    EXPECT_EQ(prod, 4u);  // slot 0, wrap flag set
    EXPECT_EQ(q.slot(prod), 0u);
    EXPECT_TRUE(q.full(prod, 0));
    EXPECT_FALSE(q.empty(prod, 0));
    for (int i = 0; i < 4; ++i) prod = q.next(prod);
    EXPECT_EQ(prod, 0u);  // wrapped twice: flag clear again
    EXPECT_TRUE(q.empty(prod, 0));
    EXPECT_TRUE(q.empty(0x80000004u, 4));  // bits above the index (ERR / OVFLG) are ignored
}

TEST(SmmuTables, CommandEncodings) {
    Cmd c = cmd_cfgi_ste(0x1234);
    EXPECT_EQ(c.dw[0], 0x0000'1234'0000'0003ull);  // opcode 0x03, StreamID [63:32]
    EXPECT_EQ(c.dw[1], 1u);                        // Leaf
    c = cmd_cfgi_all();
    EXPECT_EQ(c.dw[0], 0x04u);
    EXPECT_EQ(c.dw[1], 31u);  // Range = 31: every StreamID
    c = cmd_cfgi_cd(8, 5);
    EXPECT_EQ(c.dw[0], (u64{8} << 32) | (u64{5} << 12) | 0x05);
    EXPECT_EQ(c.dw[1], 1u);
    c = cmd_tlbi_nh_all(7);
    EXPECT_EQ(c.dw[0], (u64{7} << 32) | 0x10);
    c = cmd_tlbi_s12_vmall(1);
    EXPECT_EQ(c.dw[0], (u64{1} << 32) | 0x28);
    c = cmd_tlbi_nsnh_all();
    EXPECT_EQ(c.dw[0], 0x30u);
    EXPECT_EQ(c.dw[1], 0u);
    c = cmd_sync();
    EXPECT_EQ(c.dw[0], 0x46u);  // CS = SIG_NONE: completion by polling CONS
    EXPECT_EQ(cmd_opcode(c), 0x46u);
    EXPECT_STREQ(cmdq_error_name(1), "CERROR_ILL");
}

TEST(SmmuTables, DecodesTranslationFaultsAndConfigErrors) {
    EventRecord r;
    r.dw[0] = (u64{0x8} << 32) | 0x10;  // F_TRANSLATION, StreamID 8 (00:01.0)
    r.dw[1] = u64{1} << 35;             // RnW = read
    r.dw[2] = 0x4020'0038;
    Event e = decode_event(r);
    EXPECT_EQ(e.type, 0x10u);
    EXPECT_STREQ(event_name(e.type), "F_TRANSLATION");
    EXPECT_EQ(e.sid, 8u);
    EXPECT_TRUE(e.has_address);
    EXPECT_TRUE(e.read);
    EXPECT_FALSE(e.stage2);
    EXPECT_EQ(e.address, 0x4020'0038u);

    r.dw[1] = u64{1} << 39;  // a write, stage 2
    e = decode_event(r);
    EXPECT_FALSE(e.read);
    EXPECT_TRUE(e.stage2);

    EventRecord bad;
    bad.dw[0] = (u64{0x10} << 32) | 0x04 | (1u << 11) | (u64{3} << 12);  // C_BAD_STE, SSV, SSID 3
    e = decode_event(bad);
    EXPECT_STREQ(event_name(e.type), "C_BAD_STE");
    EXPECT_EQ(e.sid, 0x10u);
    EXPECT_TRUE(e.ssv);
    EXPECT_EQ(e.ssid, 3u);
    EXPECT_FALSE(e.has_address);
    EXPECT_STREQ(event_name(0x7f), "unknown");
}

TEST(SmmuTables, StreamIdsOfTheRootComplex) {
    PcieInfo p;
    p.present = true;
    StreamIdRange r[4];
    // No iommu-map: StreamID = requester ID over the bus range.
    ASSERT_EQ(pcie_stream_ids(p, 0x8004, r, 4), 1u);
    EXPECT_EQ(r[0].first, 0u);
    EXPECT_EQ(r[0].count, 0x10000u);
    EXPECT_EQ(stream_table_log2(r, 1), 16u);

    // QEMU virt: <0 &smmu 0 0x10000>, and a narrower bus range.
    ignore_status(p.iommu_map.push_back({0, 0x8004, 0, 0x10000}));
    p.bus_start = 0;
    p.bus_end = 3;
    ASSERT_EQ(pcie_stream_ids(p, 0x8004, r, 4), 1u);
    EXPECT_EQ(r[0].first, 0u);
    EXPECT_EQ(r[0].count, 0x400u);
    EXPECT_EQ(stream_table_log2(r, 1), 10u);

    // An offset map, and an entry for another IOMMU that is not ours.
    p.iommu_map.clear();
    ignore_status(p.iommu_map.push_back({0x100, 0x8004, 0x2000, 0x100}));
    ignore_status(p.iommu_map.push_back({0x200, 0x9999, 0x0, 0x100}));
    ASSERT_EQ(pcie_stream_ids(p, 0x8004, r, 4), 1u);
    EXPECT_EQ(r[0].first, 0x2000u);
    EXPECT_EQ(r[0].count, 0x100u);
    EXPECT_EQ(stream_table_log2(r, 1), 14u);  // 0x2100 StreamIDs -> 2^14 entries

    p.present = false;
    EXPECT_EQ(pcie_stream_ids(p, 0x8004, r, 4), 0u);
    EXPECT_EQ(stream_table_log2(r, 0), 0u);
}

TEST(SmmuTables, StreamTableGivesOnlyTheRootComplexTheDeviceEntry) {
    std::vector<Ste> table(1u << 6);
    const StreamIdRange ranges[] = {{8, 8}, {40, 2}};
    const Ste dev = make_ste_stage1(0x4100'0040);
    fill_stream_table(table.data(), 6, ranges, 2, dev);
    for (u32 sid = 0; sid < 64; ++sid) {
        const bool covered = (sid >= 8 && sid < 16) || sid == 40 || sid == 41;
        EXPECT_EQ(ste::V::get(table[sid].dw[0]), covered ? 1u : 0u) << sid;  // V = 0: abort + C_BAD_STE
        if (covered) {
            EXPECT_EQ(std::memcmp(&table[sid], &dev, sizeof dev), 0) << sid;
        }
    }
}

TEST(SmmuTables, Stage1ContextMapsGuestRamAndDoorbellOnly) {
    Pool pool;
    PageTable t;
    Result<unsigned> ia = dma_ia_bits(window(), Regime::el2_stage1, 44);
    ASSERT_TRUE(ia.ok());
    EXPECT_EQ(ia.value(), 39u);
    ASSERT_EQ(t.init(pool, Regime::el2_stage1, ia.value()), Status::ok);
    ASSERT_EQ(map_dma_window(t, window()), Status::ok);
    EXPECT_EQ(t.start_level(), 1u);

    // Guest RAM: identity, Normal WB (MAIR index 1), read/write, not executable.
    for (u64 a : {0x4200'0000ull, 0x5000'1234ull, 0x7fdf'fff8ull}) {
        auto tr = t.translate(a);
        ASSERT_TRUE(tr.ok()) << std::hex << a;
        EXPECT_EQ(tr.value().pa, a);
        EXPECT_EQ(pte::AttrIndx::get(tr.value().descriptor), pte::kMairIdxNormal);
        EXPECT_EQ(pte::Ap::get(tr.value().descriptor), pte::kS1ApEl2ReadWrite);
        EXPECT_EQ(pte::S1Xn::get(tr.value().descriptor), 1u);
        EXPECT_EQ(pte::Af::get(tr.value().descriptor), 1u);
    }
    // The doorbell page: identity, Device, 4 KiB.
    auto db = t.translate(0x0809'0040);
    ASSERT_TRUE(db.ok());
    EXPECT_EQ(db.value().pa, 0x0809'0040u);
    EXPECT_EQ(db.value().level, 3u);
    EXPECT_EQ(pte::AttrIndx::get(db.value().descriptor), pte::kMairIdxDevice);
    // Everything else faults: the hypervisor (image header, page tables), the module store, the ITS control frame,
    // the rest of the translater frame, the SMMU, the GIC, the UART, PCIe windows.
    for (u64 a : {0x4000'0000ull, 0x4020'0038ull, 0x41ff'fff8ull, 0x7fe0'0000ull, 0x8000'0000ull, 0x0808'0000ull,
                  0x0809'1000ull, 0x0905'0000ull, 0x0800'0000ull, 0x0900'0000ull, 0x1000'0000ull})
        EXPECT_EQ(t.translate(a).status(), Status::not_found) << std::hex << a;

    const Cd c = make_cd(t, 1, 4 /* 44-bit */);
    EXPECT_EQ(cd::T0sz::get(c.dw[0]), 25u);
    EXPECT_EQ(cd::Tg0::get(c.dw[0]), 0u);
    EXPECT_EQ(cd::Epd0::get(c.dw[0]), 0u);
    EXPECT_EQ(cd::Epd1::get(c.dw[0]), 1u);
    EXPECT_EQ(cd::V::get(c.dw[0]), 1u);
    EXPECT_EQ(cd::Ips::get(c.dw[0]), 4u);
    EXPECT_EQ(cd::Aa64::get(c.dw[0]), 1u);
    EXPECT_EQ(cd::R::get(c.dw[0]), 1u);  // faults are recorded: the hypervisor logs them
    EXPECT_EQ(cd::A::get(c.dw[0]), 1u);
    EXPECT_EQ(cd::Asid::get(c.dw[0]), 1u);
    EXPECT_EQ(cd::Ttb0::get(c.dw[1]) << 4, t.root_pa());
    EXPECT_EQ(c.dw[3], pte::kMairValue);

    const Ste s = make_ste_stage1(0x4100'0040);
    EXPECT_EQ(ste::V::get(s.dw[0]), 1u);
    EXPECT_EQ(ste::Config::get(s.dw[0]), ste::kConfigS1);
    EXPECT_EQ(ste::S1Fmt::get(s.dw[0]), 0u);
    EXPECT_EQ(ste::S1CdMax::get(s.dw[0]), 0u);
    EXPECT_EQ(ste::S1ContextPtr::get(s.dw[0]) << 6, 0x4100'0040u);
    EXPECT_EQ(ste::S1StallD::get(s.dw[1]), 0u);
    EXPECT_EQ(ste::Strw::get(s.dw[1]), 0u);
}

TEST(SmmuTables, Stage2EntryCarriesTheTableAndVtcrFields) {
    Pool pool;
    PageTable t;
    Result<unsigned> ia = dma_ia_bits(window(), Regime::stage2, 44);
    ASSERT_TRUE(ia.ok());
    EXPECT_EQ(ia.value(), 32u);                               // everything below 4 GiB
    ASSERT_EQ(t.init(pool, Regime::stage2, 40), Status::ok);  // as the CPU's stage 2: two concatenated roots
    ASSERT_EQ(map_dma_window(t, window()), Status::ok);
    auto r = t.translate(0x5000'0000);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(pte::Ap::get(r.value().descriptor), pte::kS2ApReadWrite);
    EXPECT_EQ(pte::S2MemAttr::get(r.value().descriptor), pte::kS2MemNormalWb);
    EXPECT_EQ(t.translate(0x4020'0000).status(), Status::not_found);

    const Ste s = make_ste_stage2(t, 1, 2 /* 40-bit */);
    EXPECT_EQ(ste::V::get(s.dw[0]), 1u);
    EXPECT_EQ(ste::Config::get(s.dw[0]), ste::kConfigS2);
    EXPECT_EQ(ste::S2Vmid::get(s.dw[2]), 1u);
    EXPECT_EQ(ste::S2T0sz::get(s.dw[2]), 24u);
    EXPECT_EQ(ste::S2Sl0::get(s.dw[2]), 1u);  // level 1 start, as VTCR_EL2
    EXPECT_EQ(ste::S2Tg::get(s.dw[2]), 0u);
    EXPECT_EQ(ste::S2Ps::get(s.dw[2]), 2u);
    EXPECT_EQ(ste::S2Aa64::get(s.dw[2]), 1u);
    EXPECT_EQ(ste::S2R::get(s.dw[2]), 1u);
    EXPECT_EQ(ste::S2Ttb::get(s.dw[3]) << 4, t.root_pa());
    // The VTCR-like field of the STE equals the CPU's VTCR_EL2 for the same table (bits [18:0]).
    EXPECT_EQ((s.dw[2] >> 32) & 0x7ffff, make_vtcr(t, 2) & 0x7ffff);
}

TEST(SmmuTables, IovaSizeFollowsTheWindowAndTheOutputSize) {
    const MemRegion high[] = {{0x80'0000'0000ull, 0x4000'0000}};  // RAM at 512 GiB
    const DmaWindow w{Span<const MemRegion>(high), Span<const u64>()};
    ASSERT_TRUE(dma_ia_bits(w, Regime::el2_stage1, 48).ok());
    EXPECT_EQ(dma_ia_bits(w, Regime::el2_stage1, 48).value(), 48u);  // level-0 start
    EXPECT_EQ(dma_ia_bits(w, Regime::stage2, 48).value(), 40u);
    EXPECT_EQ(dma_ia_bits(w, Regime::el2_stage1, 36).status(), Status::out_of_range);  // beyond the SMMU's OAS
    EXPECT_EQ(oas_bits(4), 44u);
    EXPECT_EQ(oas_bits(5), 48u);

    const MemRegion odd[] = {{0x4200'0800, 0x1000}};
    Pool pool;
    PageTable t;
    ASSERT_EQ(t.init(pool, Regime::el2_stage1, 39), Status::ok);
    EXPECT_EQ(map_dma_window(t, DmaWindow{Span<const MemRegion>(odd), Span<const u64>()}), Status::invalid_argument);
}

TEST(SmmuTables, EventQueueDrainWrapsAndAcknowledgesOverflow) {
    QueueIndex q{2};  // 4 records
    EventRecord ring[4];
    for (u32 i = 0; i < 4; ++i) ring[i].dw[0] = (u64{0x100 + i} << 32) | 0x10;  // F_TRANSLATION, StreamID 0x10i
    std::vector<u32> seen;
    auto collect = [](const Event& e, void* ctx) { static_cast<std::vector<u32>*>(ctx)->push_back(e.sid); };

    // CONS at slot 3, PROD wrapped to slot 2: records 3, 0, 1 in that order.
    EventDrain d = drain_event_queue(ring, q, /*prod*/ 4 | 2, /*cons*/ 3, collect, &seen);
    EXPECT_EQ(seen, (std::vector<u32>{0x103, 0x100, 0x101}));
    EXPECT_EQ(d.consumed, 3u);
    EXPECT_EQ(d.cons, 6u);  // slot 2, wrap flag set: equal to PROD, queue empty
    EXPECT_FALSE(d.overflowed);

    // Empty queue: nothing consumed, CONS unchanged.
    seen.clear();
    d = drain_event_queue(ring, q, 6, 6, collect, &seen);
    EXPECT_TRUE(seen.empty());
    EXPECT_EQ(d.cons, 6u);

    // Overflow: PROD.OVFLG toggled; the write-back copies it into OVACKFLG. A full queue is drained once, no more.
    seen.clear();
    d = drain_event_queue(ring, q, 0x8000'0000u | 4, 0, collect, &seen);
    EXPECT_TRUE(d.overflowed);
    EXPECT_EQ(d.consumed, 4u);
    EXPECT_EQ(d.cons, 0x8000'0000u | 4);
    seen.clear();
    d = drain_event_queue(ring, q, 0x8000'0000u | 4, d.cons, collect, &seen);
    EXPECT_FALSE(d.overflowed);  // acknowledged
    EXPECT_EQ(d.consumed, 0u);
}

namespace {

// The STE a 2-level table gives `sid` (nullptr: invalid L1 descriptor), resolved the way the SMMU walks it.
const Ste* ste_2level(const std::vector<u64>& l1, const std::vector<Ste>& l2, u64 l2_pa, u32 split, u32 sid) {
    const u64 d = l1[sid >> split];
    if (l1std::Span::get(d) == 0) return nullptr;
    EXPECT_EQ(l1std::Span::get(d), split + 1u);
    const u64 table_pa = l1std::L2Ptr::get(d) << 6;
    EXPECT_EQ((table_pa - l2_pa) % ((u64{1} << split) * sizeof(Ste)), 0u);  // an L2 table aligned to its size
    return &l2[(table_pa - l2_pa) / sizeof(Ste) + (sid & ((1u << split) - 1))];
}

void expect_same_as_linear(u32 log2, u32 split, const StreamIdRange* ranges, usize n, usize want_tables) {
    const Ste dev = make_ste_stage1(0x4100'0040);
    std::vector<Ste> linear(u64{1} << log2);
    fill_stream_table(linear.data(), log2, ranges, n, dev);
    std::vector<u64> l1(u64{1} << (log2 - split));
    const usize cap = 8;
    std::vector<Ste> l2(cap << split);
    const u64 l2_pa = 0x4400'0000;
    Result<usize> used = fill_stream_table_2level(l1.data(), log2, split, l2.data(), l2_pa, cap, ranges, n, dev);
    ASSERT_TRUE(used.ok());
    EXPECT_EQ(used.value(), want_tables);
    for (u32 sid = 0; sid < (1u << log2); ++sid) {
        const Ste* e = ste_2level(l1, l2, l2_pa, split, sid);
        ASSERT_NE(e, nullptr) << sid;
        ASSERT_EQ(std::memcmp(e, &linear[sid], sizeof(Ste)), 0) << "StreamID " << sid;
    }
}

}  // namespace

TEST(SmmuTables, TwoLevelStreamTableSharesTheWholeBusRange) {
    // QEMU virt: StreamID = requester ID, buses 0..255 -> all 65,536 StreamIDs: 256 descriptors, one L2 table.
    const StreamIdRange all[] = {{0, 0x10000}};
    expect_same_as_linear(16, 8, all, 1, 1);
}

TEST(SmmuTables, TwoLevelStreamTableCutsOnlyTheSpansARangeCuts) {
    // Covered spans share the device table, uncovered ones the invalid table, cut spans get their own.
    const StreamIdRange ranges[] = {{0x100, 0x200}, {0x480, 0x10}, {0x800, 0x100}};
    // spans (256 each): 0 none, 1-2 all, 3 none, 4 cut, 5-7 none, 8 all, 9.. none -> device, abort, one cut = 3
    expect_same_as_linear(12, 8, ranges, 3, 3);
    // Overlapping ranges count once: span 0 covered by two overlapping halves is "all".
    const StreamIdRange overlap[] = {{0, 0xc0}, {0x40, 0xc0}};
    expect_same_as_linear(9, 8, overlap, 2, 2);  // span 0 all (device table), span 1 none (invalid table)
    const StreamIdRange none[] = {{0, 0}};
    expect_same_as_linear(10, 8, none, 0, 1);  // no StreamID for the VM: one invalid table behind every span
}

TEST(SmmuTables, TwoLevelStreamTableRefusesWhatDoesNotFit) {
    const Ste dev = make_ste_stage1(0x4100'0040);
    std::vector<u64> l1(256);
    std::vector<Ste> l2(2u << 8);
    const StreamIdRange cuts[] = {{0x10, 1}, {0x110, 1}, {0x210, 1}};  // three cut spans, room for two tables
    EXPECT_EQ(fill_stream_table_2level(l1.data(), 16, 8, l2.data(), 0, 2, cuts, 3, dev).status(), Status::no_memory);
    EXPECT_EQ(fill_stream_table_2level(l1.data(), 4, 8, l2.data(), 0, 2, cuts, 3, dev).status(),
              Status::invalid_argument);  // split > log2
}
