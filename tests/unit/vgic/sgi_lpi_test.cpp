// SGI target-list decoding and group rules; LPI property/pending tables through a fake GuestMemory.
#include <cstring>

#include "tests/unit/vgic/vgic_fixture.hpp"

using namespace vgictest;

namespace {
u64 sgi(u32 intid, u64 aff3, u64 aff2, u64 aff1, u64 rs, u64 list) {
    return icc_sgir::INTID::make(intid) | icc_sgir::Aff3::make(aff3) | icc_sgir::Aff2::make(aff2) |
           icc_sgir::Aff1::make(aff1) | icc_sgir::RS::make(rs) | icc_sgir::TargetList::make(list);
}
}  // namespace

class SgiTest : public VgicTest {
protected:
    void SetUp() override {
        VgicTest::SetUp();
        // vCPU affinities: 0.0.0.0, 0.0.0.1, 0.0.0.17 (RS 1), 0.0.1.3, 0.2.0.3, 1.0.0.3, 0.0.0.15
        const u64 mp[7] = {0x0, 0x1, 0x11, 0x0103, 0x020003, 0x0100000003ull, 0xf};
        make(7, 32, mp);
        gicd_write(0x0, 3);
        for (u32 v = 0; v < 7; ++v) {
            gicr_write(v, kSgi + 0x80, 0xffff);  // all SGIs group 1, enabled
            gicr_write(v, kSgi + 0x100, 0xffff);
        }
        kicker.kicks.clear();
    }
    u32 pending_mask(u32 intid) {
        u32 m = 0;
        for (u32 v = 0; v < 7; ++v)
            if (gicr_read(v, kSgi + 0x200) & (1u << intid)) m |= 1u << v;
        return m;
    }
    void clear_all() {
        for (u32 v = 0; v < 7; ++v) gicr_write(v, kSgi + 0x280, 0xffff);
        kicker.kicks.clear();
    }
};

TEST_F(SgiTest, TargetListForms) {
    vgic->sgi_write(0, sgi(1, 0, 0, 0, 0, 0x2), SgiKind::sgi1r);  // Aff0 1
    EXPECT_EQ(pending_mask(1), 1u << 1);
    EXPECT_EQ(kicker.kicks, std::vector<u32>{1});
    clear_all();
    vgic->sgi_write(0, sgi(2, 0, 0, 0, 0, 0x8003), SgiKind::sgi1r);  // Aff0 0, 1, 15
    EXPECT_EQ(pending_mask(2), (1u << 0) | (1u << 1) | (1u << 6));
    clear_all();
    vgic->sgi_write(0, sgi(3, 0, 0, 0, 1, 0x2), SgiKind::sgi1r);  // RS 1: Aff0 17
    EXPECT_EQ(pending_mask(3), 1u << 2);
    clear_all();
    vgic->sgi_write(0, sgi(4, 0, 0, 1, 0, 0x8), SgiKind::sgi1r);  // Aff1 1, Aff0 3
    EXPECT_EQ(pending_mask(4), 1u << 3);
    clear_all();
    vgic->sgi_write(0, sgi(5, 0, 2, 0, 0, 0x8), SgiKind::sgi1r);  // Aff2 2
    EXPECT_EQ(pending_mask(5), 1u << 4);
    clear_all();
    vgic->sgi_write(0, sgi(6, 1, 0, 0, 0, 0x8), SgiKind::sgi1r);  // Aff3 1
    EXPECT_EQ(pending_mask(6), 1u << 5);
    clear_all();
    vgic->sgi_write(0, sgi(7, 0, 0, 0, 0, 0x8), SgiKind::sgi1r);  // 0.0.0.3 does not exist
    EXPECT_EQ(pending_mask(7), 0u);
    EXPECT_TRUE(kicker.kicks.empty());
    vgic->sgi_write(0, sgi(7, 0, 0, 0, 0, 0), SgiKind::sgi1r);  // empty list
    EXPECT_EQ(pending_mask(7), 0u);
}

TEST_F(SgiTest, IrmBroadcastsToAllButSelf) {
    vgic->sgi_write(3, icc_sgir::INTID::make(9) | icc_sgir::IRM::make(1) | icc_sgir::TargetList::make(0x1),
                    SgiKind::sgi1r);
    EXPECT_EQ(pending_mask(9), 0x7fu & ~(1u << 3));
    EXPECT_EQ(kicker.kicks.size(), 6u);
}

TEST_F(SgiTest, GroupRules) {
    gicr_write(1, kSgi + 0x80, 0xfffe);  // SGI 0 on vCPU 1 is group 0
    vgic->sgi_write(0, sgi(0, 0, 0, 0, 0, 0x2), SgiKind::sgi0r);
    EXPECT_EQ(pending_mask(0), 1u << 1);
    clear_all();
    vgic->sgi_write(0, sgi(1, 0, 0, 0, 0, 0x2), SgiKind::sgi0r);  // group 1 SGI: SGI0R does not reach it
    EXPECT_EQ(pending_mask(1), 0u);
    vgic->sgi_write(0, sgi(1, 0, 0, 0, 0, 0x2), SgiKind::asgi1r);  // no other Security state: group 0 only
    EXPECT_EQ(pending_mask(1), 0u);
    vgic->sgi_write(0, sgi(0, 0, 0, 0, 0, 0x2), SgiKind::sgi1r);  // SGI1R reaches both groups with DS == 1 (KVM)
    vgic->sgi_write(0, sgi(1, 0, 0, 0, 0, 0x2), SgiKind::sgi1r);
    EXPECT_EQ(pending_mask(0), 1u << 1);
    EXPECT_EQ(pending_mask(1), 1u << 1);
    vgic->sgi_write(42, sgi(1, 0, 0, 0, 0, 0x2), SgiKind::sgi1r);  // bad source: ignored
}

TEST_F(SgiTest, SgiDeliveredToTargetLrs) {
    gicd_write(0x0, 2);
    gicr_write(2, kSgi + 0x100, 1u << 4);
    vgic->sgi_write(0, sgi(4, 0, 0, 0, 1, 0x2), SgiKind::sgi1r);
    auto& s = vgic->cpu_if(2);
    vgic->flush(2, s);
    ASSERT_EQ(s.used_lrs, 1u);
    EXPECT_EQ(lr_intid(s.lr[0]), 4u);
    EXPECT_EQ(gicr_read(2, kSgi + 0x200) & 0x10, 0u);
}

// The default vCPU affinities (vCPU i at 0.0.0.i): sgi_write's flat path, where TargetList is the vCPU mask and any
// Aff3/Aff2/Aff1/RS names nobody. The same answers as the affinity compare above.
TEST_F(VgicTest, FlatAffinityTargetListAndNobodyForms) {
    make(4, 32);
    gicd_write(0x0, 3);
    for (u32 v = 0; v < 4; ++v) {
        gicr_write(v, kSgi + 0x80, 0xffff);
        gicr_write(v, kSgi + 0x100, 0xffff);
    }
    auto pending = [&](u32 intid) {
        u32 m = 0;
        for (u32 v = 0; v < 4; ++v)
            if (gicr_read(v, kSgi + 0x200) & (1u << intid)) m |= 1u << v;
        return m;
    };
    auto clear = [&] {
        for (u32 v = 0; v < 4; ++v) gicr_write(v, kSgi + 0x280, 0xffff);
        kicker.kicks.clear();
    };
    kicker.kicks.clear();
    vgic->sgi_write(0, sgi(1, 0, 0, 0, 0, 0x2), SgiKind::sgi1r);
    EXPECT_EQ(pending(1), 1u << 1);
    EXPECT_EQ(kicker.kicks, std::vector<u32>{1});
    clear();
    vgic->sgi_write(1, sgi(2, 0, 0, 0, 0, 0xffff), SgiKind::sgi1r);  // bits beyond the vCPUs: ignored
    EXPECT_EQ(pending(2), 0xfu);
    clear();
    const u64 nobody[] = {sgi(3, 0, 0, 1, 0, 0x1), sgi(3, 0, 1, 0, 0, 0x1), sgi(3, 1, 0, 0, 0, 0x1),
                          sgi(3, 0, 0, 0, 1, 0x1)};  // Aff1, Aff2, Aff3, RS: no such PE
    for (u64 v : nobody) vgic->sgi_write(0, v, SgiKind::sgi1r);
    EXPECT_EQ(pending(3), 0u);
    EXPECT_TRUE(kicker.kicks.empty());
    vgic->sgi_write(2, icc_sgir::INTID::make(4) | icc_sgir::IRM::make(1), SgiKind::sgi1r);
    EXPECT_EQ(pending(4), 0xfu & ~(1u << 2));
    clear();
    vgic->sgi_write(0, sgi(5, 0, 0, 0, 0, 0x2), SgiKind::sgi0r);  // a Group 1 SGI: SGI0R does not reach it
    EXPECT_EQ(pending(5), 0u);
    gicr_write(1, kSgi + 0x80, 0xffff & ~(1u << 5));  // Group 0 now
    vgic->sgi_write(0, sgi(5, 0, 0, 0, 0, 0x2), SgiKind::sgi0r);
    EXPECT_EQ(pending(5), 1u << 1);
    clear();
    gicr_write(1, kSgi + 0x180, 1u << 6);  // disabled: pending, no kick
    vgic->sgi_write(0, sgi(6, 0, 0, 0, 0, 0x2), SgiKind::sgi1r);
    EXPECT_EQ(pending(6), 1u << 1);
    EXPECT_TRUE(kicker.kicks.empty());
}

// An SGI sent again while the previous one still sits in its target's LR (the guest took it, no exit yet): the target
// is kicked, and its fold plus flush deliver the new edge -- through the fresh set the sender noted (cand_set).
TEST_F(VgicTest, SgiAgainWhileInTheTargetsLr) {
    make(2, 32);
    enable_all(1);
    gicr_write(1, kSgi + 0x100, 1u << 3);
    kicker.kicks.clear();
    vgic->sgi_write(0, sgi(3, 0, 0, 0, 0, 0x2), SgiKind::sgi1r);
    auto& s = vgic->cpu_if(1);
    vgic->flush(1, s);
    ASSERT_EQ(s.used_lrs, 1u);
    EXPECT_EQ(lr_intid(s.lr[0]), 3u);
    EXPECT_EQ(lr_state(s.lr[0]), ich_lr::kStatePending);
    s.lr[0] = ich_lr::State::set(s.lr[0], 0);  // the guest acknowledged and completed it in the LR
    kicker.kicks.clear();
    vgic->sgi_write(0, sgi(3, 0, 0, 0, 0, 0x2), SgiKind::sgi1r);
    EXPECT_EQ(kicker.kicks, std::vector<u32>{1});
    EXPECT_TRUE(vgic->flush_needed(1));  // the fresh set says the next entry has work
    vgic->flush(1, s);                   // folds the LR back, then selects the new edge
    ASSERT_EQ(s.used_lrs, 1u);
    EXPECT_EQ(lr_intid(s.lr[0]), 3u);
    EXPECT_EQ(lr_state(s.lr[0]), ich_lr::kStatePending);
    EXPECT_FALSE(vgic->flush_needed(1));
}

// ---------------------------------------------------------------- LPIs

class LpiTest : public VgicTest {
protected:
    static constexpr u64 kProp = kRamBase + 0x10000;   // 4 KiB aligned
    static constexpr u64 kPend0 = kRamBase + 0x20000;  // 64 KiB aligned
    static constexpr u64 kPend1 = kRamBase + 0x30000;
    u8* host(u64 gpa) { return ram.data() + (gpa - kRamBase); }
    void set_prop(u32 intid, u8 prio, bool en) { *host(kProp + intid - 8192) = static_cast<u8>(prio | 2 | en); }
    void set_pend(u64 table, u32 intid) { host(table)[intid / 8] |= static_cast<u8>(1u << (intid % 8)); }
    bool pend_bit(u64 table, u32 intid) { return (host(table)[intid / 8] >> (intid % 8)) & 1; }
    void program(u32 idbits = 15) {
        gicr_write(0, 0x70, kProp | idbits, 8);
        gicr_write(0, 0x78, kPend0, 8);
        gicr_write(1, 0x78, kPend1, 8);
    }
};

TEST_F(LpiTest, PropertyAndPendingTablesLoadOnEnable) {
    set_prop(8192, 0x40, true);
    set_prop(9000, 0x20, true);
    set_prop(9001, 0x10, false);
    set_pend(kPend0, 9000);
    set_pend(kPend0, 9001);
    set_pend(kPend0, 100);  // first 1 KiB is IMPLEMENTATION DEFINED: not an LPI
    program();
    EXPECT_EQ(vgic->lpi_config(9000), 0u);  // nothing cached before EnableLPIs
    gicr_write(0, 0x0, 1);
    EXPECT_EQ(gicr_read(0, 0x0) & 1, 1u);
    EXPECT_EQ(vgic->lpi_config(9000), 0x23u);
    EXPECT_EQ(vgic->lpi_config(8192), 0x43u);
    EXPECT_TRUE(vgic->lpi_pending(0, 9000));
    EXPECT_TRUE(vgic->lpi_pending(0, 9001));
    EXPECT_FALSE(vgic->lpi_pending(0, 8192));
    EXPECT_FALSE(vgic->lpi_pending(1, 9000));
    // PROPBASER/PENDBASER are frozen while enabled.
    gicr_write(0, 0x70, 0, 8);
    gicr_write(0, 0x78, 0, 8);
    EXPECT_EQ(gicr_read(0, 0x70, 8), kProp | 15);
    EXPECT_EQ(gicr_read(0, 0x78, 8), kPend0);

    // Flush: only enabled LPIs, in priority order, group 1.
    enable_all(0);
    auto& s = vgic->cpu_if(0);
    vgic->flush(0, s);
    ASSERT_EQ(s.used_lrs, 1u);
    EXPECT_EQ(lr_intid(s.lr[0]), 9000u);
    EXPECT_EQ(ich_lr::Priority::get(s.lr[0]), 0x20u);
    EXPECT_EQ(ich_lr::Group::get(s.lr[0]), 1u);
    EXPECT_FALSE(vgic->lpi_pending(0, 9000));  // consumed into the LR
    vgic->fold(0, s);                          // not acknowledged: pending again
    EXPECT_TRUE(vgic->lpi_pending(0, 9000));
}

// GICv4 direct injection reads the guest's LPI table set-up per vCPU (arch/aarch64/msi_passthrough): the view
// follows EnableLPIs and PROPBASER, and the generation changes whenever either may have.
TEST_F(LpiTest, LpiTableViewAndGenerationFollowEnableLpisAndPropbaser) {
    const u32 g0 = vgic->lpi_table_generation();
    EXPECT_FALSE(vgic->lpi_table(0).enabled);
    program();
    EXPECT_NE(vgic->lpi_table_generation(), g0);  // PROPBASER written
    EXPECT_EQ(vgic->lpi_table(0).propbaser, kProp | 15);
    const u32 g1 = vgic->lpi_table_generation();
    gicr_write(0, 0x0, 1);  // EnableLPIs on vCPU 0
    EXPECT_NE(vgic->lpi_table_generation(), g1);
    EXPECT_TRUE(vgic->lpi_table(0).enabled);
    EXPECT_FALSE(vgic->lpi_table(1).enabled);
    const u32 g2 = vgic->lpi_table_generation();
    gicr_write(0, 0x70, kProp | 13, 8);  // ignored while EnableLPIs: nothing changes
    EXPECT_EQ(vgic->lpi_table(0).propbaser, kProp | 15);
    gicr_write(0, 0x0, 0);  // EnableLPIs off (CES = 1)
    EXPECT_NE(vgic->lpi_table_generation(), g2);
    EXPECT_FALSE(vgic->lpi_table(0).enabled);
    const u32 g3 = vgic->lpi_table_generation();
    vgic->reset();
    EXPECT_NE(vgic->lpi_table_generation(), g3);
    EXPECT_EQ(vgic->lpi_table(0).propbaser, 0u);
    EXPECT_FALSE(vgic->lpi_table(99).enabled);  // no such vCPU
}

TEST_F(LpiTest, PtzSkipsPendingTable) {
    set_prop(8200, 0x40, true);
    set_pend(kPend0, 8200);
    gicr_write(0, 0x70, kProp | 15, 8);
    gicr_write(0, 0x78, kPend0 | gicr_pendbaser::PTZ::make(1), 8);
    gicr_write(0, 0x0, 1);
    EXPECT_FALSE(vgic->lpi_pending(0, 8200));
}

// The cache is eight LPIs to a word, reloaded whole words at a time (Vgic::store_lpi_config): every byte of the
// table, at every position in its word, and the LPIs past PROPBASER.IDbits (disabled) come out right after an
// INVALLR, and INVLPIR of one LPI in the middle of a word changes that byte alone.
TEST_F(LpiTest, WholeTableReloadKeepsEveryByteInPlace) {
    const u32 idbits = 14;  // LPIs 8192..32767 in range
    for (u32 i = 0; i < 57344; ++i) host(kProp)[i] = static_cast<u8>((i * 37 + 11) & 0xfd);
    program(idbits - 1);
    gicr_write(0, 0x0, 1);
    for (u32 intid = 8192; intid < 8192 + 57344; ++intid) {
        const u8 want = intid < (1u << idbits) ? host(kProp)[intid - 8192] : 0;
        ASSERT_EQ(vgic->lpi_config(intid), want) << intid;
    }
    host(kProp)[0x2bd] = 0x61;  // LPI 8192 + 0x2bd: byte 5 of its word
    host(kProp)[0x2bc] = 0x71;  // its neighbour stays cached
    const u8 old_neighbour = vgic->lpi_config(8192 + 0x2bc);
    gicr_write(0, 0xa0, 8192 + 0x2bd, 8);  // GICR_INVLPIR
    EXPECT_EQ(vgic->lpi_config(8192 + 0x2bd), 0x61u);
    EXPECT_EQ(vgic->lpi_config(8192 + 0x2bc), old_neighbour);
    gicr_write(0, 0xb0, 0, 8);  // GICR_INVALLR
    EXPECT_EQ(vgic->lpi_config(8192 + 0x2bc), 0x71u);
}

TEST_F(LpiTest, InvalidationRefreshesCache) {
    set_prop(8300, 0x40, false);
    program();
    gicr_write(0, 0x0, 1);
    EXPECT_EQ(vgic->lpi_config(8300), 0x42u);
    set_prop(8300, 0x30, true);
    set_prop(8301, 0x50, true);
    EXPECT_EQ(vgic->lpi_config(8300), 0x42u);  // cached until invalidated
    gicr_write(0, 0xa0, 8300, 8);              // GICR_INVLPIR
    EXPECT_EQ(vgic->lpi_config(8300), 0x33u);
    EXPECT_EQ(vgic->lpi_config(8301), 0u);
    gicr_write(0, 0xb0, 0, 8);  // GICR_INVALLR
    EXPECT_EQ(vgic->lpi_config(8301), 0x53u);
    set_prop(8301, 0x60, true);
    vgic->invalidate_lpi(0, 8301);  // the ITS path (LpiSink)
    EXPECT_EQ(vgic->lpi_config(8301), 0x63u);
    set_prop(8302, 0x60, true);
    vgic->invalidate_all_lpis(1);
    EXPECT_EQ(vgic->lpi_config(8302), 0x63u);
    gicr_write(0, 0xa0, 40, 8);  // not an LPI: ignored with a log line
}

TEST_F(LpiTest, IdbitsBoundsTheLpiRange) {
    set_prop(8192 + 100, 0x40, true);
    program(13);  // 14 bits: LPIs 8192..16383
    gicr_write(0, 0x0, 1);
    EXPECT_EQ(vgic->lpi_config(8292), 0x43u);
    vgic->set_lpi_pending(0, 20000, true);  // out of the table's range: never delivered
    enable_all(0);
    auto& s = vgic->cpu_if(0);
    vgic->flush(0, s);
    EXPECT_EQ(s.used_lrs, 0u);
    vgic->set_lpi_pending(0, 8292, true);
    vgic->flush(0, s);
    ASSERT_EQ(s.used_lrs, 1u);
    EXPECT_EQ(lr_intid(s.lr[0]), 8292u);
    // Out-of-range requests are refused.
    vgic->set_lpi_pending(9, 8292, true);
    vgic->set_lpi_pending(0, 65536, true);
    vgic->set_lpi_pending(0, 100, true);
    EXPECT_FALSE(vgic->lpi_pending(0, 65536));
}

TEST_F(LpiTest, SetPendingKicksAndSaveWritesTable) {
    set_prop(8500, 0x40, true);
    program();
    gicr_write(0, 0x0, 1);
    gicr_write(1, 0x0, 1);
    kicker.kicks.clear();
    vgic->set_lpi_pending(1, 8500, true);
    EXPECT_TRUE(kicker.kicked(1));
    vgic->set_lpi_pending(0, 8501, true);  // disabled LPI: latched, no kick
    EXPECT_FALSE(kicker.kicked(0));
    EXPECT_TRUE(vgic->lpi_pending(0, 8501));
    set_pend(kPend1, 9999);  // stale bit in guest memory: overwritten by the save
    ASSERT_EQ(vgic->save_pending_tables(), Status::ok);
    EXPECT_TRUE(pend_bit(kPend1, 8500));
    EXPECT_FALSE(pend_bit(kPend1, 9999));
    EXPECT_TRUE(pend_bit(kPend0, 8501));
    EXPECT_FALSE(pend_bit(kPend0, 8500));
    // MOVALL.
    vgic->move_all_lpis(0, 1);
    EXPECT_FALSE(vgic->lpi_pending(0, 8501));
    EXPECT_TRUE(vgic->lpi_pending(1, 8501));
    EXPECT_TRUE(vgic->lpi_pending(1, 8500));
    vgic->set_lpi_pending(1, 8500, false);
    EXPECT_FALSE(vgic->lpi_pending(1, 8500));
}

// The save builds each pending-table byte from the bitmap's words: bits at byte and word edges land in their own
// table bits, and no neighbour is set.
TEST_F(LpiTest, SaveWritesBitsAtByteAndWordEdges) {
    program();
    gicr_write(0, 0x0, 1);
    const u32 lpis[] = {8192, 8199, 8200, 8255, 8256, 8319, 16383, 20001};
    for (u32 l : lpis) vgic->set_lpi_pending(0, l, true);
    ASSERT_EQ(vgic->save_pending_tables(), Status::ok);
    for (u32 i = 8192; i < 20100; ++i) {
        bool want = false;
        for (u32 l : lpis) want |= l == i;
        ASSERT_EQ(pend_bit(kPend0, i), want) << i;
    }
}

TEST_F(LpiTest, DisableWritesBackAndReenableReloads) {
    set_prop(8600, 0x40, true);
    program();
    gicr_write(0, 0x0, 1);
    vgic->set_lpi_pending(0, 8600, true);
    gicr_write(0, 0x0, 0);  // CES == 1: allowed
    EXPECT_EQ(gicr_read(0, 0x0) & 1, 0u);
    EXPECT_FALSE(vgic->lpi_pending(0, 8600));
    EXPECT_TRUE(pend_bit(kPend0, 8600));
    gicr_write(0, 0x0, 1);
    EXPECT_TRUE(vgic->lpi_pending(0, 8600));
}

TEST_F(LpiTest, UnreadableTablesAreHandled) {
    gicr_write(0, 0x70, 0x1000000000ull | 15, 8);  // outside guest RAM
    gicr_write(0, 0x78, 0x2000000000ull, 8);
    hvtest::captured_log().clear();
    gicr_write(0, 0x0, 1);
    EXPECT_EQ(vgic->lpi_config(8192), 0u);
    EXPECT_NE(hvtest::captured_log().find("unreadable"), std::string::npos);
    vgic->set_lpi_pending(0, 8192, true);
    EXPECT_EQ(vgic->save_pending_tables(), Status::out_of_range);
}

TEST_F(LpiTest, ActiveLpiSurvivesFold) {
    set_prop(8700, 0x40, true);
    program();
    gicr_write(0, 0x0, 1);
    enable_all(0);
    vgic->set_lpi_pending(0, 8700, true);
    auto& s = vgic->cpu_if(0);
    vgic->flush(0, s);
    ASSERT_EQ(s.used_lrs, 1u);
    s.lr[0] = ich_lr::State::set(s.lr[0], ich_lr::kStateActive);  // guest acknowledged (EOImode 1)
    vgic->fold(0, s);
    vgic->flush(0, s);
    ASSERT_EQ(s.used_lrs, 1u);
    EXPECT_EQ(lr_state(s.lr[0]), ich_lr::kStateActive);
    s.lr[0] = ich_lr::State::set(s.lr[0], 0);
    vgic->fold(0, s);
    vgic->flush(0, s);
    EXPECT_EQ(s.used_lrs, 0u);
}
