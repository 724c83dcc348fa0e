// List-register selection (vgic/lr_select.hpp) on its own -- ranking, overflow maintenance, the starvation rule,
// ICH_HCR_EL2 bits -- and through Vgic::flush for SGIs from several sources, hardware-linked PPIs, LPIs and the
// "nothing changed since the last flush" skip.
#include "vgic/lr_select.hpp"

#include <algorithm>
#include <random>
#include <vector>

#include "tests/unit/vgic/vgic_fixture.hpp"

using namespace vgictest;

namespace {

LrCandidate pend(u32 intid, u8 prio) { return {intid, prio, false, true}; }
LrCandidate act(u32 intid, u8 prio) { return {intid, prio, true, false}; }
LrCandidate both(u32 intid, u8 prio) { return {intid, prio, true, true}; }

struct Picked {
    std::vector<u32> intids;  // LR 0 first
    LrMaintenance m;
};

Picked select(u32 nr_lrs, const std::vector<LrCandidate>& cands) {
    LrSelector sel(nr_lrs);
    for (const LrCandidate& c : cands) sel.consider(c);
    Picked p;
    p.m = sel.finish();
    for (u32 i = 0; i < sel.count(); ++i) p.intids.push_back(sel.at(i).intid);
    return p;
}

using Ids = std::vector<u32>;

void expect_maintenance(const LrMaintenance& m, bool uie, bool npie, bool lrenpie) {
    EXPECT_EQ(m.underflow, uie);
    EXPECT_EQ(m.no_pending, npie);
    EXPECT_EQ(m.eoi_outside, lrenpie);
}

}  // namespace

// ---------------------------------------------------------------- LrSelector alone

TEST(LrSelect, PriorityThenIntidOrder) {
    // Offered out of order; two at 0x20 tie on priority and go in INTID order; an LPI competes like any other.
    const Picked p = select(4, {pend(40, 0x80), pend(50, 0x20), pend(3, 0xa0), pend(33, 0x20), pend(8197, 0x10)});
    EXPECT_EQ(p.intids, (Ids{8197, 33, 50, 40}));
    expect_maintenance(p.m, true, true, false);  // SGI 3 waits: underflow + no-pending maintenance
}

TEST(LrSelect, FitsExactlyNeedsNoMaintenance) {
    const Picked p = select(4, {pend(45, 0x80), pend(44, 0x80), pend(43, 0x80), pend(42, 0x80)});
    EXPECT_EQ(p.intids, (Ids{42, 43, 44, 45}));
    expect_maintenance(p.m, false, false, false);
    const Picked none = select(4, {});
    EXPECT_TRUE(none.intids.empty());
    expect_maintenance(none.m, false, false, false);
}

TEST(LrSelect, ActiveBeforePendingWhateverThePriority) {
    // Active (and pending+active) rank before pending-only, even a pending one of the highest priority.
    const Picked p = select(4, {act(60, 0xf0), pend(61, 0x00), both(62, 0x80), act(63, 0x10)});
    EXPECT_EQ(p.intids, (Ids{63, 62, 60, 61}));
    expect_maintenance(p.m, false, false, false);
    EXPECT_TRUE(LrSelector::ranks_before(act(70, 0xf8), pend(1, 0x00)));
    EXPECT_FALSE(LrSelector::ranks_before(pend(1, 0x00), act(70, 0xf8)));
    EXPECT_FALSE(LrSelector::ranks_before(both(70, 0x80), act(70, 0x80)));  // pending does not break the tie
    EXPECT_TRUE(LrSelector::ranks_before(act(69, 0x80), both(70, 0x80)));   // INTID does
}

TEST(LrSelect, PendingOverflowRequestsUnderflowAndNoPending) {
    std::vector<LrCandidate> six;
    for (u32 i = 0; i < 6; ++i) six.push_back(pend(40 + i, static_cast<u8>(0xa0 - 0x10 * i)));
    const Picked p = select(4, six);
    EXPECT_EQ(p.intids, (Ids{45, 44, 43, 42}));
    expect_maintenance(p.m, true, true, false);
    // One LR: "at most one valid LR" always holds, so no underflow maintenance (it would storm).
    const Picked one = select(1, six);
    EXPECT_EQ(one.intids, (Ids{45}));
    expect_maintenance(one.m, false, true, false);
}

TEST(LrSelect, ActiveOverflowRequestsEoiCount) {
    std::vector<LrCandidate> six;
    for (u32 i = 0; i < 6; ++i) six.push_back(act(40 + i, static_cast<u8>(0x10 * (i + 1))));
    const Picked p = select(4, six);
    EXPECT_EQ(p.intids, (Ids{40, 41, 42, 43}));
    // Active-only LRs: no NPIE (it would fire on every entry); LRENPIE so EOIs of 44/45 reach EOIcount.
    expect_maintenance(p.m, true, false, true);
}

// docs/vgic.md: all LRs taken by active interrupts while a pending one waits -- the pending one still gets an LR
// (IHI0069H 4.8: a higher-priority pending interrupt must be able to preempt), the lowest-ranked active one waits.
TEST(LrSelect, PendingGetsAnLrWhenActivesFillThem) {
    std::vector<LrCandidate> c;
    for (u32 i = 0; i < 5; ++i) c.push_back(act(40 + i, 0x80));
    c.push_back(pend(50, 0xa0));  // even one of lower priority than the active ones
    Picked p = select(4, c);
    EXPECT_EQ(p.intids, (Ids{40, 41, 42, 50}));
    expect_maintenance(p.m, true, false, true);  // 43 and 44 are active outside the LRs

    c.push_back(pend(51, 0x90));  // two wait: the better one gets the LR, NPIE for the other
    p = select(4, c);
    EXPECT_EQ(p.intids, (Ids{40, 41, 42, 51}));
    expect_maintenance(p.m, true, true, true);

    // A pending+active interrupt in the LRs is not in the pending state (ICH_MISR_EL2.NP ignores it): the swap still
    // happens, else NPIE would fire at every entry (the gic_storm livelock).
    c.push_back(both(39, 0x80));
    p = select(4, c);
    EXPECT_EQ(p.intids, (Ids{39, 40, 41, 51}));
    expect_maintenance(p.m, true, true, true);

    // One LR: the pending interrupt takes it from the active one.
    p = select(1, {act(40, 0x10), pend(50, 0x80)});
    EXPECT_EQ(p.intids, (Ids{50}));
    expect_maintenance(p.m, false, false, true);
}

TEST(LrSelect, LrCountIsClamped) {
    std::vector<LrCandidate> c;
    for (u32 i = 0; i < 20; ++i) c.push_back(pend(100 + i, 0x80));
    EXPECT_EQ(select(40, c).intids.size(), kMaxLrs);
    const Picked zero = select(0, {act(40, 0x10), pend(50, 0x80)});
    EXPECT_TRUE(zero.intids.empty());
    expect_maintenance(zero.m, false, true, true);
}

// Against a plain reference (sort everything, take the first nr_lrs, apply the starvation rule): the streaming
// selection gives the same LRs and maintenance bits whatever the order candidates are offered in.
TEST(LrSelect, MatchesSortedReferenceInAnyOfferOrder) {
    std::mt19937 rng(2026);
    for (int round = 0; round < 2000; ++round) {
        const u32 nr_lrs = 1 + rng() % kMaxLrs;
        std::vector<LrCandidate> c;
        const u32 n = rng() % 40;
        for (u32 i = 0; i < n; ++i) {
            const u32 kind = rng() % 3;
            c.push_back(
                {static_cast<u32>(i * 7 + rng() % 7), static_cast<u8>((rng() % 4) * 0x20), kind != 0, kind != 1});
        }
        std::vector<LrCandidate> all = c;
        std::sort(all.begin(), all.end(), LrSelector::ranks_before);
        const usize keep = std::min<usize>(all.size(), nr_lrs);
        std::vector<LrCandidate> lrs(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(keep));
        u32 actives_out = 0;
        for (usize i = keep; i < all.size(); ++i) actives_out += all[i].active;
        // Pending-only candidates rank after every active one, by priority then INTID: the first is the best.
        const auto best_pending = std::find_if(all.begin(), all.end(), [](auto& x) { return x.pending && !x.active; });
        const bool pending_in = std::any_of(lrs.begin(), lrs.end(), [](auto& x) { return x.pending && !x.active; });
        if (all.size() > keep && best_pending != all.end() && !pending_in) {
            actives_out += lrs.back().active;
            lrs.back() = *best_pending;
        }
        Ids want;
        u32 pending_in_lrs = 0, pending_total = 0;
        for (const LrCandidate& x : lrs) want.push_back(x.intid), pending_in_lrs += x.pending && !x.active;
        for (const LrCandidate& x : c) pending_total += x.pending && !x.active;
        const bool overflow = all.size() > keep;

        for (int order = 0; order < 3; ++order) {
            std::shuffle(c.begin(), c.end(), rng);
            const Picked p = select(nr_lrs, c);
            ASSERT_EQ(p.intids, want) << "round " << round;
            EXPECT_EQ(p.m.underflow, overflow && nr_lrs > 1);
            EXPECT_EQ(p.m.no_pending, pending_total > pending_in_lrs);
            EXPECT_EQ(p.m.eoi_outside, actives_out != 0);
            // No maintenance storm: NPIE is set only while some LR is in the pending state (else ICH_MISR_EL2.NP
            // holds at entry and fires at once, for ever); UIE only with at least two LRs in use.
            if (p.m.no_pending) {
                EXPECT_GT(pending_in_lrs, 0u) << "round " << round;
            }
            if (p.m.underflow) {
                EXPECT_GE(p.intids.size(), 2u) << "round " << round;
            }
        }
    }
}

// The gic_storm livelock: every LR active, one of them also pending (pending+active: not the "pending" state of
// ICH_MISR_EL2.NP), a pending-only interrupt waiting outside. It must get the last LR; else NPIE fires at every
// entry and the vCPU never runs another instruction.
TEST(LrSelect, PendingActiveDoesNotCountAsPendingLr) {
    const Picked p = select(4, {act(20, 0x10), act(21, 0x10), act(22, 0x10), both(27, 0x10), pend(40, 0x80)});
    EXPECT_EQ(p.intids, (Ids{20, 21, 22, 40}));
    expect_maintenance(p.m, true, false, true);
    const Picked one = select(1, {both(27, 0x00), pend(40, 0x80), pend(41, 0x80)});
    EXPECT_EQ(one.intids, (Ids{40}));
    expect_maintenance(one.m, false, true, true);  // 41 still waits: NPIE, and 40 is a pending LR
}

TEST(LrSelect, HcrForEntry) {
    const u64 other = bit(4) | bit(10) | bit(13);  // VGrp0EIE, TC, TALL1: left alone
    const u64 before = other | ich_hcr::EOIcount::make(5) | ich_hcr::UIE::make(1) | ich_hcr::NPIE::make(1);
    u64 hcr = hcr_for_entry(before, LrMaintenance{});
    EXPECT_EQ(hcr, other | ich_hcr::En::make(1));
    hcr = hcr_for_entry(other, LrMaintenance{true, true, true});
    EXPECT_EQ(
        hcr, other | ich_hcr::En::make(1) | ich_hcr::UIE::make(1) | ich_hcr::NPIE::make(1) | ich_hcr::LRENPIE::make(1));
}

// ---------------------------------------------------------------- through Vgic::flush

namespace {
u64 sgi_to(u32 intid, u32 aff0) { return icc_sgir::INTID::make(intid) | icc_sgir::TargetList::make(1u << aff0); }

// Guest side: acknowledge every pending LR and deactivate it (EOImode 0), then exit.
void ack_and_deactivate_all(VcpuIfState& s) {
    for (u32 i = 0; i < s.used_lrs; ++i) s.lr[i] = ich_lr::State::set(s.lr[i], 0);
}
}  // namespace

// GICv3 LRs carry no source CPU: SGI n from several vCPUs is one pending state, delivered once; an SGI sent again
// while it is in the LRs is delivered once more after the fold.
TEST_F(VgicTest, LrSelectSgisFromSeveralSources) {
    enable_all(0);
    gicr_write(0, kSgi + 0x100, 0x6);         // SGIs 1, 2 enabled (group 1 from reset)
    gicr_write(0, kSgi + 0x400, 0x00204000);  // SGI 1 priority 0x40, SGI 2 0x20
    vgic->sgi_write(1, sgi_to(1, 0), SgiKind::sgi1r);
    vgic->sgi_write(2, sgi_to(1, 0), SgiKind::sgi1r);
    vgic->sgi_write(3, sgi_to(2, 0), SgiKind::sgi1r);
    auto& s = vgic->cpu_if(0);
    vgic->flush(0, s);
    ASSERT_EQ(s.used_lrs, 2u);
    EXPECT_EQ(lr_intid(s.lr[0]), 2u);
    EXPECT_EQ(lr_intid(s.lr[1]), 1u);
    for (u32 i = 0; i < 2; ++i) {
        EXPECT_EQ(lr_state(s.lr[i]), ich_lr::kStatePending);
        EXPECT_EQ(ich_lr::Group::get(s.lr[i]), 1u);
        EXPECT_EQ(ich_lr::HW::get(s.lr[i]), 0u);
        EXPECT_EQ(ich_lr::EOI::get(s.lr[i]), 0u);  // edge: no EOI maintenance
    }
    vgic->sgi_write(3, sgi_to(1, 0), SgiKind::sgi1r);  // in flight on vCPU 0
    ack_and_deactivate_all(s);
    vgic->fold(0, s);
    vgic->flush(0, s);
    ASSERT_EQ(s.used_lrs, 1u);
    EXPECT_EQ(lr_intid(s.lr[0]), 1u);
    ack_and_deactivate_all(s);
    vgic->fold(0, s);
    vgic->flush(0, s);
    EXPECT_EQ(s.used_lrs, 0u);
}

// Hardware-linked PPIs (virtual timer 27, physical timer 30, PMU 23): priority order, HW + pINTID, no EOI bit, and
// once acknowledged the active one goes first and is never pending+active.
TEST_F(VgicTest, LrSelectHardwareLinkedPpis) {
    enable_all(0);
    for (u32 p : {23u, 27u, 30u}) ASSERT_EQ(vgic->map_hw(0, p, p), Status::ok);
    gicr_write(0, kSgi + 0x100, (1u << 23) | (1u << 27) | (1u << 30));
    gicr_write(0, kSgi + 0x400 + 20, 0xa0000000);  // 23: 0xa0
    gicr_write(0, kSgi + 0x400 + 24, 0x80000000);  // 27: 0x80
    gicr_write(0, kSgi + 0x400 + 28, 0x00400000);  // 30: 0x40
    for (u32 p : {23u, 27u, 30u}) ASSERT_EQ(vgic->set_level(p, 0, true), Status::ok);
    auto& s = vgic->cpu_if(0);
    vgic->flush(0, s);
    ASSERT_EQ(s.used_lrs, 3u);
    const u32 order[3] = {30, 27, 23};
    for (u32 i = 0; i < 3; ++i) {
        EXPECT_EQ(lr_intid(s.lr[i]), order[i]);
        EXPECT_EQ(ich_lr::HW::get(s.lr[i]), 1u);
        EXPECT_EQ(ich_lr::pINTID::get(s.lr[i]), order[i]);
        EXPECT_EQ(ich_lr::EOI::get(s.lr[i]), 0u);
        EXPECT_EQ(lr_state(s.lr[i]), ich_lr::kStatePending);
    }
    s.lr[2] = ich_lr::State::set(s.lr[2], ich_lr::kStateActive);  // the guest acknowledged 23 (lowest priority)
    vgic->fold(0, s);
    vgic->flush(0, s);
    ASSERT_EQ(s.used_lrs, 3u);
    EXPECT_EQ(lr_intid(s.lr[0]), 23u);  // active first
    EXPECT_EQ(lr_state(s.lr[0]), ich_lr::kStateActive);
    EXPECT_EQ(lr_intid(s.lr[1]), 30u);
    EXPECT_EQ(lr_intid(s.lr[2]), 27u);
}

class LrSelectLpiTest : public VgicTest {
protected:
    static constexpr u64 kProp = kRamBase + 0x10000;
    static constexpr u64 kPend = kRamBase + 0x20000;
    void SetUp() override {
        VgicTest::SetUp();
        gicr_write(0, 0x70, kProp | 15, 8);  // PROPBASER, 16 ID bits
        gicr_write(0, 0x78, kPend, 8);       // PENDBASER (table all zero)
    }
    void set_prop(u32 intid, u8 prio) { ram[kProp - kRamBase + intid - kLpiBase] = static_cast<u8>(prio | 2 | 1); }
    void enable_lpis() { gicr_write(0, 0x0, 1); }
    void direct_flush_lpis();
};

// LPIs rank with SPIs by priority, always Group 1; beyond the LRs they wait with underflow/no-pending maintenance;
// an acknowledged LPI comes back active and first.
TEST_F(LrSelectLpiTest, LpisCompeteWithSpis) {
    enable_all(0);
    for (u32 i = 0; i < 5; ++i) set_prop(8200 + i, static_cast<u8>(0x10 + 0x20 * i));  // 0x10, 0x30, ... 0x90
    enable_lpis();
    gicd_write(0x400 + 40, 0x20, 1);  // SPI 40 at 0x20, edge
    gicd_write(0x104, 1u << 8);
    ASSERT_EQ(vgic->inject_edge(40, 0), Status::ok);
    for (u32 i = 0; i < 5; ++i) vgic->set_lpi_pending(0, 8200 + i, true);
    auto& s = vgic->cpu_if(0);
    vgic->flush(0, s);
    ASSERT_EQ(s.used_lrs, 4u);
    const u32 order[4] = {8200, 40, 8201, 8202};
    for (u32 i = 0; i < 4; ++i) {
        EXPECT_EQ(lr_intid(s.lr[i]), order[i]);
        EXPECT_EQ(lr_state(s.lr[i]), ich_lr::kStatePending);
        EXPECT_EQ(ich_lr::Group::get(s.lr[i]), 1u);
    }
    EXPECT_EQ(ich_hcr::UIE::get(s.hcr), 1u);
    EXPECT_EQ(ich_hcr::NPIE::get(s.hcr), 1u);
    EXPECT_EQ(ich_hcr::LRENPIE::get(s.hcr), 0u);
    EXPECT_FALSE(vgic->lpi_pending(0, 8200));  // moved into the LR
    EXPECT_TRUE(vgic->lpi_pending(0, 8203));

    s.lr[0] = ich_lr::State::set(s.lr[0], ich_lr::kStateActive);  // 8200 acknowledged
    for (u32 i = 1; i < 4; ++i) s.lr[i] = ich_lr::State::set(s.lr[i], 0);
    vgic->fold(0, s);
    vgic->flush(0, s);
    ASSERT_EQ(s.used_lrs, 3u);
    EXPECT_EQ(lr_intid(s.lr[0]), 8200u);
    EXPECT_EQ(lr_state(s.lr[0]), ich_lr::kStateActive);
    EXPECT_EQ(lr_intid(s.lr[1]), 8203u);
    EXPECT_EQ(lr_intid(s.lr[2]), 8204u);
    EXPECT_EQ(ich_hcr::UIE::get(s.hcr), 0u);
    EXPECT_EQ(ich_hcr::NPIE::get(s.hcr), 0u);
}

// The selection is skipped only when no candidate can exist: nothing changed since a flush that gave every candidate
// an LR, and fold found none of them still live. New interrupts (an SGI, a line, an LPI) and interrupts folded back
// live are selected among themselves (incremental, flush_incremental); configuration changes scan everything. A
// skipped flush still hands out empty LRs with En set and EOIcount 0.
TEST_F(VgicTest, LrSelectUnchangedFlushSkipsTheScan) {
    enable_all(0);
    auto& s = vgic->cpu_if(0);
    vgic->flush(0, s);
    const u64 scans = vgic->flush_scans(0);
    EXPECT_EQ(scans, 1u);
    EXPECT_EQ(vgic->flush_incremental(0), 0u);
    s.lr[3] = 0x1234;                          // stale garbage beyond used_lrs
    s.hcr = ich_hcr::EOIcount::set(s.hcr, 0);  // fold ran: nothing counted
    vgic->flush(0, s);
    EXPECT_EQ(vgic->flush_scans(0), scans) << "nothing changed: no scan";
    EXPECT_EQ(s.used_lrs, 0u);
    EXPECT_EQ(s.lr[3], 0u);
    EXPECT_EQ(ich_hcr::En::get(s.hcr), 1u);
    EXPECT_EQ(ich_hcr::UIE::get(s.hcr) | ich_hcr::NPIE::get(s.hcr) | ich_hcr::LRENPIE::get(s.hcr), 0u);

    gicd_write(0x400 + 40, 0x20, 1);  // a configuration change (priority of SPI 40)
    vgic->flush(0, s);
    EXPECT_EQ(vgic->flush_scans(0), scans + 1);
    gicd_write(0x104, 1u << 8);  // two changes, one scan
    ASSERT_EQ(vgic->inject_edge(40, 0), Status::ok);
    vgic->flush(0, s);
    EXPECT_EQ(vgic->flush_scans(0), scans + 2);
    EXPECT_EQ(vgic->flush_incremental(0), 0u);
    ASSERT_EQ(s.used_lrs, 1u);
    vgic->flush(0, s);  // flush without fold, LR in use: folded back (still pending) and selected again
    EXPECT_EQ(vgic->flush_scans(0), scans + 3);
    EXPECT_EQ(vgic->flush_incremental(0), 1u);
    ASSERT_EQ(s.used_lrs, 1u);
    EXPECT_EQ(lr_intid(s.lr[0]), 40u);
    ack_and_deactivate_all(s);
    vgic->fold(0, s);
    vgic->flush(0, s);  // the LR came back done: nothing left, no selection
    EXPECT_EQ(vgic->flush_scans(0), scans + 3);
    EXPECT_EQ(s.used_lrs, 0u);
    vgic->flush(0, s);
    EXPECT_EQ(vgic->flush_scans(0), scans + 3);
    // An SGI from another vCPU, a line level, an LPI: each ends the skip, selected incrementally.
    vgic->sgi_write(1, sgi_to(3, 0), SgiKind::sgi1r);
    vgic->flush(0, s);
    EXPECT_EQ(vgic->flush_scans(0), scans + 4);
    ASSERT_EQ(vgic->set_level(27, 0, true), Status::ok);
    vgic->flush(0, s);
    EXPECT_EQ(vgic->flush_scans(0), scans + 5);
    vgic->set_lpi_pending(0, 8300, true);
    vgic->flush(0, s);
    EXPECT_EQ(vgic->flush_scans(0), scans + 6);
    EXPECT_EQ(vgic->flush_incremental(0), 4u);
    // Nothing of it was deliverable (SGI 3, PPI 27 disabled; LPIs off): still no LR, and the skip resumes.
    EXPECT_EQ(s.used_lrs, 0u);
    vgic->flush(0, s);
    EXPECT_EQ(vgic->flush_scans(0), scans + 6);
}

// ---------------------------------------------------------------- the direct flush (Vgic::flush_live)

namespace {
bool holds(const VcpuIfState& s, u32 intid, u64 state) {
    for (u32 i = 0; i < s.used_lrs; ++i)
        if (lr_intid(s.lr[i]) == intid) return lr_state(s.lr[i]) == state;
    return false;
}
}  // namespace

// An IRQ exit with the LRs still as the guest left them: finished LRs are folded, live ones kept where they are, and
// a new SGI takes a free LR -- without a full selection; what it cannot do alone goes to the full flush.
TEST_F(VgicTest, DirectFlushAppendsNewSgiAndKeepsLiveLrs) {
    enable_all(0);
    gicr_write(0, kSgi + 0x100, 0xffff);  // SGIs enabled
    auto& s = vgic->cpu_if(0);
    vgic->sgi_write(1, sgi_to(1, 0), SgiKind::sgi1r);
    vgic->flush(0, s);
    ASSERT_EQ(s.used_lrs, 1u);
    // The guest took SGI 1 and completed it; SGI 1 again and SGI 2 arrive: the finished LR is folded, both appended.
    ack_and_deactivate_all(s);
    vgic->sgi_write(1, sgi_to(1, 0), SgiKind::sgi1r);
    vgic->sgi_write(2, sgi_to(2, 0), SgiKind::sgi1r);
    const u64 incremental = vgic->flush_incremental(0);
    EXPECT_TRUE(vgic->flush_live(0, s));
    EXPECT_EQ(vgic->flush_incremental(0), incremental + 1);
    ASSERT_EQ(s.used_lrs, 2u);
    EXPECT_TRUE(holds(s, 1, ich_lr::kStatePending));
    EXPECT_TRUE(holds(s, 2, ich_lr::kStatePending));
    EXPECT_EQ(s.hcr, ich_hcr::En::field_mask);
    // SGI 1 still pending in its LR (not yet taken), SGI 3 arrives: SGI 1 kept, SGI 3 appended.
    s.lr[1] = ich_lr::State::set(s.lr[1], 0);  // whichever LR 1 holds: completed
    const u32 kept = lr_intid(s.lr[0]);
    vgic->sgi_write(1, sgi_to(3, 0), SgiKind::sgi1r);
    EXPECT_TRUE(vgic->flush_live(0, s));
    ASSERT_EQ(s.used_lrs, 2u);
    EXPECT_TRUE(holds(s, kept, ich_lr::kStatePending));
    EXPECT_TRUE(holds(s, 3, ich_lr::kStatePending));
    // Nothing new: the live LRs stay, no selection.
    EXPECT_TRUE(vgic->flush_live(0, s));
    EXPECT_EQ(s.used_lrs, 2u);
    // SGI 3 acknowledged (active in its LR) and sent again: pending+active needs the fold and a selection.
    for (u32 i = 0; i < s.used_lrs; ++i)
        if (lr_intid(s.lr[i]) == 3) s.lr[i] = ich_lr::State::set(s.lr[i], ich_lr::kStateActive);
    vgic->sgi_write(1, sgi_to(3, 0), SgiKind::sgi1r);
    EXPECT_FALSE(vgic->flush_live(0, s));
    EXPECT_TRUE(holds(s, 3, ich_lr::kStatePending | ich_lr::kStateActive));
    EXPECT_TRUE(holds(s, kept, ich_lr::kStatePending));
    EXPECT_EQ(lr_intid(s.lr[0]), 3u) << "the full flush's order: active first";
}

// More new candidates than free LRs: the selection must choose (priorities, maintenance), so the full flush runs.
TEST_F(VgicTest, DirectFlushLeavesOverflowToTheFullFlush) {
    enable_all(0);
    gicr_write(0, kSgi + 0x100, 0xffff);
    auto& s = vgic->cpu_if(0);
    vgic->flush(0, s);
    for (u32 sgi = 1; sgi <= s.nr_lrs + 1; ++sgi) vgic->sgi_write(1, sgi_to(sgi, 0), SgiKind::sgi1r);
    EXPECT_FALSE(vgic->flush_live(0, s));
    EXPECT_EQ(s.used_lrs, s.nr_lrs);
    EXPECT_EQ(ich_hcr::UIE::get(s.hcr), 1u);
    // Maintenance requested by that flush: the next IRQ exit is a full one too.
    ack_and_deactivate_all(s);
    EXPECT_FALSE(vgic->flush_live(0, s));
}

// LPIs: a new one takes a free LR (its pending state moves into the LR); one pending again while its LR is live goes
// to the full flush, which folds it first (never two LRs for one INTID).
// The LPI's direct flush with and without the full-scan check (without it, the path the hypervisor runs: the check
// takes the out-of-line variant).
TEST_F(LrSelectLpiTest, DirectFlushLpis) { direct_flush_lpis(); }
TEST_F(LrSelectLpiTest, DirectFlushLpisUnchecked) {
    vgic->set_check_incremental(false);
    direct_flush_lpis();
}

void LrSelectLpiTest::direct_flush_lpis() {
    enable_all(0);
    set_prop(8200, 0x40);
    set_prop(8201, 0x40);
    enable_lpis();
    auto& s = vgic->cpu_if(0);
    vgic->flush(0, s);
    vgic->set_lpi_pending(0, 8200, true);
    EXPECT_TRUE(vgic->flush_live(0, s));
    ASSERT_EQ(s.used_lrs, 1u);
    EXPECT_TRUE(holds(s, 8200, ich_lr::kStatePending));
    EXPECT_FALSE(vgic->lpi_pending(0, 8200));
    vgic->set_lpi_pending(0, 8201, true);
    vgic->set_lpi_pending(0, 8200, true);  // again, while its LR is still pending
    EXPECT_FALSE(vgic->flush_live(0, s));
    ASSERT_EQ(s.used_lrs, 2u);
    EXPECT_TRUE(holds(s, 8200, ich_lr::kStatePending));
    EXPECT_TRUE(holds(s, 8201, ich_lr::kStatePending));
    ack_and_deactivate_all(s);
    vgic->set_lpi_pending(0, 8201, true);
    const u64 incremental = vgic->flush_incremental(0);
    EXPECT_TRUE(vgic->flush_live(0, s));  // one LPI over two finished LPI LRs
    ASSERT_EQ(s.used_lrs, 1u);
    EXPECT_TRUE(holds(s, 8201, ich_lr::kStatePending));
    EXPECT_FALSE(vgic->lpi_pending(0, 8201));
    EXPECT_EQ(s.lr[1], 0u);
    EXPECT_EQ(vgic->flush_incremental(0), incremental + 1);
    // Over a finished SGI's LR: the fold of a private interrupt (out of line), then the LPI alone.
    gicr_write(0, kSgi + 0x100, 0xffff);  // SGIs enabled
    vgic->sgi_write(1, icc_sgir::INTID::make(3) | icc_sgir::TargetList::make(1), SgiKind::sgi1r);
    ack_and_deactivate_all(s);
    (void)vgic->flush_live(0, s);  // (the enable asked for a full flush)
    ASSERT_EQ(s.used_lrs, 1u);
    EXPECT_TRUE(holds(s, 3, ich_lr::kStatePending));
    ack_and_deactivate_all(s);
    vgic->set_lpi_pending(0, 8200, true);
    EXPECT_TRUE(vgic->flush_live(0, s));
    ASSERT_EQ(s.used_lrs, 1u);
    EXPECT_TRUE(holds(s, 8200, ich_lr::kStatePending));
    EXPECT_FALSE(vgic->lpi_pending(0, 8200));
}
