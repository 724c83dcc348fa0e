// List-register flush/fold: priority ordering, overflow maintenance, level vs edge, hardware-linked interrupts,
// wake-up checks.
#include <algorithm>
#include <map>

#include "tests/unit/vgic/vgic_fixture.hpp"

using namespace vgictest;

namespace {

// A fake guest CPU interface acting on the LRs the way the hardware would.
struct FakeGuest {
    VcpuIfState& s;
    // Acknowledge the highest-priority pending LR (ICV_IAR): pending -> active. Returns its INTID or 1023.
    u32 ack() {
        int best = -1;
        for (u32 i = 0; i < s.used_lrs; ++i) {
            if (!(lr_state(s.lr[i]) & ich_lr::kStatePending)) continue;
            if (best < 0 || ich_lr::Priority::get(s.lr[i]) < ich_lr::Priority::get(s.lr[best]))
                best = static_cast<int>(i);
        }
        if (best < 0) return 1023;
        s.lr[best] =
            ich_lr::State::set(s.lr[best], (lr_state(s.lr[best]) & ~ich_lr::kStatePending) | ich_lr::kStateActive);
        return lr_intid(s.lr[best]);
    }
    // EOI + deactivate (EOImode 0) or ICV_DIR (EOImode 1): active -> invalid (or pending if pending+active).
    void deactivate(u32 intid) {
        for (u32 i = 0; i < s.used_lrs; ++i)
            if (lr_intid(s.lr[i]) == intid && (lr_state(s.lr[i]) & ich_lr::kStateActive))
                s.lr[i] = ich_lr::State::set(s.lr[i], lr_state(s.lr[i]) & ~ich_lr::kStateActive);
    }
    int find(u32 intid) const {
        for (u32 i = 0; i < s.used_lrs; ++i)
            if (lr_intid(s.lr[i]) == intid) return static_cast<int>(i);
        return -1;
    }
};

}  // namespace

TEST_F(VgicTest, FlushOrdersTwentyInterruptsIntoFourLrs) {
    enable_all(0);
    // 20 interrupts of mixed priorities: 8 SPIs (edge), 6 PPIs (level lines), 6 SGIs.
    std::vector<std::pair<u8, u32>> expect;  // (priority, intid)
    u32 seed = 7;
    auto prio = [&] {
        seed = seed * 1103515245 + 12345;
        return static_cast<u8>(((seed >> 16) % 8) * 0x20);
    };
    for (u32 i = 0; i < 8; ++i) {
        const u32 intid = 40 + i;
        const u8 p = prio();
        gicd_write(0x400 + intid, p, 1);
        gicd_write(0xc00 + (intid / 16) * 4, gicd_read(0xc00 + (intid / 16) * 4) | (2u << ((intid % 16) * 2)));
        gicd_write(0x100 + (intid / 32) * 4, 1u << (intid % 32));
        ASSERT_EQ(vgic->inject_edge(intid, 0), Status::ok);
        expect.emplace_back(p, intid);
    }
    for (u32 i = 0; i < 6; ++i) {
        const u32 intid = 18 + i;
        const u8 p = prio();
        gicr_write(0, kSgi + 0x400 + intid, p, 1);
        gicr_write(0, kSgi + 0x100, 1u << intid);
        ASSERT_EQ(vgic->set_level(intid, 0, true), Status::ok);
        expect.emplace_back(p, intid);
    }
    for (u32 i = 0; i < 6; ++i) {
        const u32 intid = 2 + i;
        const u8 p = prio();
        gicr_write(0, kSgi + 0x400 + intid, p, 1);
        gicr_write(0, kSgi + 0x100, 1u << intid);
        vgic->sgi_write(1, icc_sgir::INTID::make(intid) | icc_sgir::TargetList::make(1), SgiKind::sgi1r);
        expect.emplace_back(p, intid);
    }
    std::sort(expect.begin(), expect.end());
    EXPECT_TRUE(kicker.kicked(0));

    auto& s = vgic->cpu_if(0);
    s.nr_lrs = 4;
    FakeGuest guest{s};
    std::vector<u32> delivered;
    std::map<u32, int> times;
    for (int round = 0; round < 40 && delivered.size() < 20; ++round) {
        vgic->flush(0, s);
        ASSERT_LE(s.used_lrs, 4u);
        if (s.used_lrs == 0) break;
        const u32 remaining = 20 - static_cast<u32>(delivered.size());
        EXPECT_EQ(s.used_lrs, std::min<u32>(4, remaining));
        EXPECT_EQ(ich_hcr::UIE::get(s.hcr), remaining > 4 ? 1u : 0u);
        EXPECT_EQ(ich_hcr::En::get(s.hcr), 1u);
        // LRs are in priority order.
        for (u32 i = 1; i < s.used_lrs; ++i) {
            EXPECT_LE(ich_lr::Priority::get(s.lr[i - 1]), ich_lr::Priority::get(s.lr[i]));
        }
        // The guest takes one or two interrupts per round, EOIs them, and lowers PPI lines it serviced.
        for (int k = 0; k < 1 + round % 2; ++k) {
            const u32 id = guest.ack();
            if (id == 1023) break;
            delivered.push_back(id);
            ++times[id];
            if (id >= 16 && id < 32) {
                ASSERT_EQ(vgic->set_level(id, 0, false), Status::ok);
            }
            guest.deactivate(id);
        }
        vgic->fold(0, s);
        EXPECT_EQ(s.used_lrs, 0u);
    }
    ASSERT_EQ(delivered.size(), 20u);
    for (u32 i = 0; i < 20; ++i) {
        EXPECT_EQ(delivered[i], expect[i].second) << "position " << i;
    }
    for (auto& [id, n] : times) {
        EXPECT_EQ(n, 1) << "INTID " << id;
    }
    vgic->flush(0, s);
    EXPECT_EQ(s.used_lrs, 0u);
    EXPECT_EQ(ich_hcr::UIE::get(s.hcr), 0u);
}

TEST_F(VgicTest, ActiveInterruptsStayInLrsUntilDeactivated) {
    enable_all(0);
    auto& s = vgic->cpu_if(0);
    FakeGuest guest{s};
    for (u32 i = 0; i < 6; ++i) {
        gicr_write(0, kSgi + 0x400 + i, 0x80 - 0x10 * i, 1);
        gicr_write(0, kSgi + 0x100, 1u << i);
        ASSERT_EQ(vgic->inject_edge(i, 0), Status::ok);
    }
    vgic->flush(0, s);
    ASSERT_EQ(s.used_lrs, 4u);
    const u32 first = guest.ack();  // EOImode 1: priority drop only, still active
    EXPECT_EQ(first, 5u);
    vgic->fold(0, s);
    EXPECT_EQ(gicr_read(0, kSgi + 0x300) & (1u << 5), 1u << 5);
    vgic->flush(0, s);
    const int idx = guest.find(5);
    ASSERT_EQ(idx, 0);  // active first
    EXPECT_EQ(lr_state(s.lr[idx]), ich_lr::kStateActive);
    guest.deactivate(5);  // ICV_DIR
    vgic->fold(0, s);
    EXPECT_EQ(gicr_read(0, kSgi + 0x300), 0u);
    // The other five are still pending, nothing lost.
    EXPECT_EQ(gicr_read(0, kSgi + 0x200), 0x1fu);
}

TEST_F(VgicTest, DisabledOrGroupDisabledNotDelivered) {
    auto& s = vgic->cpu_if(0);
    gicd_write(0x204, 1);  // INTID 32 pending, not enabled
    vgic->flush(0, s);
    EXPECT_EQ(s.used_lrs, 0u);
    gicd_write(0x104, 1);
    vgic->flush(0, s);
    EXPECT_EQ(s.used_lrs, 0u);  // GICD_CTLR.EnableGrp1 == 0
    kicker.kicks.clear();
    gicd_write(0x0, 2);
    EXPECT_TRUE(kicker.kicked(0));
    vgic->flush(0, s);
    ASSERT_EQ(s.used_lrs, 1u);
    EXPECT_EQ(lr_intid(s.lr[0]), 32u);
    EXPECT_EQ(ich_lr::Group::get(s.lr[0]), 1u);
    vgic->fold(0, s);
    gicd_write(0x84, 0);  // group 0 now; EnableGrp0 clear
    vgic->flush(0, s);
    EXPECT_EQ(s.used_lrs, 0u);
}

TEST_F(VgicTest, SpiFollowsRoute) {
    enable_all(2);
    gicd_write(0x104, 1u << 1);                           // enable 33
    gicd_write(0x6000 + 8 * 33, vgic->vcpu_mpidr(2), 8);  // route to vCPU 2
    ASSERT_EQ(vgic->set_level(33, 0, true), Status::ok);
    EXPECT_TRUE(kicker.kicked(2));
    auto& s0 = vgic->cpu_if(0);
    vgic->flush(0, s0);
    EXPECT_EQ(s0.used_lrs, 0u);
    auto& s2 = vgic->cpu_if(2);
    vgic->flush(2, s2);
    ASSERT_EQ(s2.used_lrs, 1u);
    EXPECT_EQ(lr_intid(s2.lr[0]), 33u);
    EXPECT_EQ(ich_lr::EOI::get(s2.lr[0]), 1u);  // level: maintenance on EOI
    // While in vCPU 2's LRs, re-route to vCPU 1: not duplicated on 1 until 2 folds.
    gicd_write(0x6000 + 8 * 33, vgic->vcpu_mpidr(1), 8);
    enable_all(1);
    auto& s1 = vgic->cpu_if(1);
    vgic->flush(1, s1);
    EXPECT_EQ(s1.used_lrs, 0u);
    vgic->fold(2, s2);  // never acknowledged
    vgic->fold(1, s1);
    vgic->flush(1, s1);
    ASSERT_EQ(s1.used_lrs, 1u);
    EXPECT_EQ(lr_intid(s1.lr[0]), 33u);
    // Route to an affinity no vCPU has: stays pending, delivered nowhere.
    vgic->fold(1, s1);
    gicd_write(0x6000 + 8 * 33, 0xff, 8);
    vgic->flush(1, s1);
    EXPECT_EQ(s1.used_lrs, 0u);
    EXPECT_EQ(gicd_read(0x204) & 2, 2u);
}

TEST_F(VgicTest, LevelVersusEdge) {
    enable_all(0);
    auto& s = vgic->cpu_if(0);
    FakeGuest guest{s};
    // Level SPI 34.
    gicd_write(0x104, 1u << 2);
    ASSERT_EQ(vgic->set_level(34, 0, true), Status::ok);
    vgic->flush(0, s);
    ASSERT_EQ(s.used_lrs, 1u);
    EXPECT_EQ(guest.ack(), 34u);
    vgic->fold(0, s);
    vgic->flush(0, s);  // line still high: pending + active
    EXPECT_EQ(lr_state(s.lr[0]), ich_lr::kStatePending | ich_lr::kStateActive);
    vgic->fold(0, s);
    ASSERT_EQ(vgic->set_level(34, 0, false), Status::ok);  // device deasserted
    vgic->flush(0, s);
    EXPECT_EQ(lr_state(s.lr[0]), ich_lr::kStateActive);
    guest.deactivate(34);
    vgic->fold(0, s);
    vgic->flush(0, s);
    EXPECT_EQ(s.used_lrs, 0u);
    // Soft-pending level interrupt (ISPENDR) is consumed by the acknowledge.
    gicd_write(0x204, 1u << 2);
    vgic->flush(0, s);
    EXPECT_EQ(guest.ack(), 34u);
    guest.deactivate(34);
    vgic->fold(0, s);
    EXPECT_EQ(gicd_read(0x204) & 4, 0u);

    // Edge SPI 35: two edges while in flight -> delivered once more afterwards (edges coalesce).
    gicd_write(0xc08, 2u << 6);
    gicd_write(0x104, 1u << 3);
    ASSERT_EQ(vgic->set_level(35, 0, true), Status::ok);
    ASSERT_EQ(vgic->set_level(35, 0, false), Status::ok);
    vgic->flush(0, s);
    ASSERT_EQ(s.used_lrs, 1u);
    EXPECT_EQ(ich_lr::EOI::get(s.lr[0]), 0u);
    EXPECT_EQ(gicd_read(0x204) & 8, 0u);  // consumed into the LR
    EXPECT_EQ(guest.ack(), 35u);
    ASSERT_EQ(vgic->inject_edge(35, 0), Status::ok);
    ASSERT_EQ(vgic->inject_edge(35, 0), Status::ok);
    guest.deactivate(35);
    vgic->fold(0, s);
    vgic->flush(0, s);
    ASSERT_EQ(s.used_lrs, 1u);
    EXPECT_EQ(lr_state(s.lr[0]), ich_lr::kStatePending);
    EXPECT_EQ(guest.ack(), 35u);
    guest.deactivate(35);
    vgic->fold(0, s);
    vgic->flush(0, s);
    EXPECT_EQ(s.used_lrs, 0u);
}

TEST_F(VgicTest, HardwareLinkedTimerPpi) {
    enable_all(1);
    ASSERT_EQ(vgic->map_hw(1, 27, 27), Status::ok);
    gicr_write(1, kSgi + 0x100, 1u << 27);
    ASSERT_EQ(vgic->set_level(27, 1, true), Status::ok);
    ASSERT_EQ(hw.masks.size(), 1u);
    EXPECT_EQ(hw.masks[0], std::make_pair(27u, true));
    auto& s = vgic->cpu_if(1);
    FakeGuest guest{s};
    vgic->flush(1, s);
    ASSERT_EQ(s.used_lrs, 1u);
    EXPECT_EQ(ich_lr::HW::get(s.lr[0]), 1u);
    EXPECT_EQ(ich_lr::pINTID::get(s.lr[0]), 27u);
    EXPECT_EQ(ich_lr::EOI::get(s.lr[0]), 0u);
    EXPECT_EQ(guest.ack(), 27u);
    vgic->fold(1, s);
    vgic->flush(1, s);
    EXPECT_EQ(lr_state(s.lr[0]), ich_lr::kStateActive);  // never pending+active with HW == 1
    EXPECT_EQ(hw.masks.size(), 1u);
    guest.deactivate(27);  // deactivates the physical interrupt too
    vgic->fold(1, s);
    ASSERT_EQ(hw.masks.size(), 2u);
    EXPECT_EQ(hw.masks[1], std::make_pair(27u, false));
    EXPECT_TRUE(hw.deactivations.empty());
    vgic->flush(1, s);
    EXPECT_EQ(s.used_lrs, 0u);  // the line is re-sampled from the physical side
    // A guest ICPENDR of a pending, not-in-flight HW interrupt deactivates and unmasks the physical one.
    ASSERT_EQ(vgic->inject_edge(27, 1), Status::ok);
    gicr_write(1, kSgi + 0x280, 1u << 27);
    ASSERT_EQ(hw.deactivations.size(), 1u);
    EXPECT_EQ(hw.deactivations[0], 27u);
    EXPECT_EQ(hw.masks.back(), std::make_pair(27u, false));
    // ICACTIVER too.
    gicr_write(1, kSgi + 0x300, 1u << 27);
    gicr_write(1, kSgi + 0x380, 1u << 27);
    EXPECT_EQ(hw.deactivations.size(), 2u);
    EXPECT_EQ(vgic->unmap_hw(1, 27), Status::ok);
    EXPECT_EQ(vgic->unmap_hw(1, 27), Status::not_found);
    EXPECT_EQ(vgic->map_hw(1, 5, 27), Status::invalid_argument);  // SGIs cannot be hardware-linked
    EXPECT_EQ(vgic->map_hw(9, 27, 27), Status::invalid_argument);
}

TEST_F(VgicTest, WakeupHonoursPriorityMask) {
    auto& s = vgic->cpu_if(0);
    EXPECT_FALSE(vgic->has_pending_for_wakeup(0));
    gicd_write(0x0, 2);
    gicd_write(0x104, 1);
    gicd_write(0x420, 0x80, 1);
    gicd_write(0x204, 1);
    EXPECT_FALSE(vgic->has_pending_for_wakeup(0));  // VENG1 == 0
    s.vmcr = ich_vmcr::VENG1::make(1) | ich_vmcr::VPMR::make(0x80);
    EXPECT_FALSE(vgic->has_pending_for_wakeup(0));  // priority 0x80 not above mask 0x80
    s.vmcr = ich_vmcr::VENG1::make(1) | ich_vmcr::VPMR::make(0x88);
    EXPECT_TRUE(vgic->has_pending_for_wakeup(0));
    EXPECT_FALSE(vgic->has_pending_for_wakeup(1));
}

// docs/isolation.md: a vCPU in WFI sleeps through interrupts it cannot take -- masked by the running priority (an
// active interrupt of equal or higher priority in the APRs), or pending and active at once.
TEST_F(VgicTest, WakeupHonoursRunningPriorityAndActiveState) {
    auto& s = vgic->cpu_if(0);
    gicd_write(0x0, 2);
    gicd_write(0x104, 1);        // SPI 32 enabled
    gicd_write(0x420, 0x80, 1);  // priority 0x80
    gicd_write(0x204, 1);        // pending
    s.vmcr = ich_vmcr::VENG1::make(1) | ich_vmcr::VPMR::make(0xff);
    EXPECT_TRUE(vgic->has_pending_for_wakeup(0));
    const u32 pre = static_cast<u32>(ich_vtr::PREbits::get(vgic->config().ich_vtr)) + 1;
    s.ap1r[0] = 1u << (0x80 >> (8 - pre));  // running priority 0x80: equal, not higher
    EXPECT_FALSE(vgic->has_pending_for_wakeup(0));
    s.ap1r[0] = 1u << (0x88 >> (8 - pre));  // running priority 0x88: 0x80 preempts
    EXPECT_TRUE(vgic->has_pending_for_wakeup(0));
    s.ap1r[0] = 0;
    gicd_write(0x304, 1);  // ISACTIVER: now pending and active
    EXPECT_FALSE(vgic->has_pending_for_wakeup(0));
}

TEST_F(VgicTest, InjectionValidatesArguments) {
    EXPECT_EQ(vgic->set_level(3, 0, true), Status::invalid_argument);   // SGI
    EXPECT_EQ(vgic->set_level(20, 4, true), Status::invalid_argument);  // no vCPU 4
    EXPECT_EQ(vgic->set_level(96, 0, true), Status::invalid_argument);  // beyond nr_irqs
    EXPECT_EQ(vgic->set_level(1020, 0, true), Status::invalid_argument);
    EXPECT_EQ(vgic->inject_edge(8192, 0), Status::invalid_argument);
    EXPECT_EQ(vgic->set_level(95, 77, true), Status::ok);  // SPIs ignore the vCPU argument
}

TEST_F(VgicTest, EoiCountRetiresActiveInterruptsOutsideLrs) {
    enable_all(0);
    auto& s = vgic->cpu_if(0);
    // Six active SGIs (priorities 0x10..0x60), four LRs.
    for (u32 i = 0; i < 6; ++i) gicr_write(0, kSgi + 0x400 + i, 0x10 * (i + 1), 1);
    gicr_write(0, kSgi + 0x300, 0x3f);
    vgic->flush(0, s);
    ASSERT_EQ(s.used_lrs, 4u);
    EXPECT_EQ(ich_hcr::LRENPIE::get(s.hcr), 1u);
    for (u32 i = 0; i < 4; ++i) EXPECT_EQ(lr_intid(s.lr[i]), i);
    // The guest EOIs (EOImode 0) SGIs 0..3 through their LRs, then one more EOI without an LR: EOIcount = 1.
    for (u32 i = 0; i < 4; ++i) s.lr[i] = ich_lr::State::set(s.lr[i], 0);
    s.hcr = ich_hcr::EOIcount::set(s.hcr, 1);
    vgic->fold(0, s);
    EXPECT_EQ(ich_hcr::EOIcount::get(s.hcr), 0u);
    EXPECT_EQ(gicr_read(0, kSgi + 0x300), 1u << 5);  // SGI 4 (priority 0x50) retired, SGI 5 still active
    vgic->flush(0, s);
    ASSERT_EQ(s.used_lrs, 1u);
    EXPECT_EQ(lr_intid(s.lr[0]), 5u);
    EXPECT_EQ(ich_hcr::LRENPIE::get(s.hcr), 0u);
    // EOImode 1: EOIcount only dropped priority; nothing is deactivated.
    vgic->fold(0, s);
    s.vmcr = ich_vmcr::VEOIM::set(s.vmcr, 1);
    s.hcr = ich_hcr::EOIcount::set(s.hcr, 3);
    vgic->fold(0, s);
    EXPECT_EQ(gicr_read(0, kSgi + 0x300), 1u << 5);
}

// More active interrupts than LRs while a higher-priority one is pending: the pending one still gets an LR, and the
// no-pending maintenance interrupt is requested only while a pending interrupt waits outside the LRs.
TEST_F(VgicTest, ActiveOverflowLeavesRoomForPendingInterrupt) {
    enable_all(0);
    auto& s = vgic->cpu_if(0);
    for (u32 intid = 40; intid < 48; ++intid) {  // 8 active SPIs at priority 0x80
        gicd_write(0x400 + intid, 0x80, 1);
        gicd_write(0x100 + (intid / 32) * 4, 1u << (intid % 32));
        gicd_write(0x300 + (intid / 32) * 4, 1u << (intid % 32));  // ISACTIVER
    }
    vgic->flush(0, s);
    ASSERT_EQ(s.used_lrs, s.nr_lrs);
    EXPECT_EQ(ich_hcr::NPIE::get(s.hcr), 0u) << "active-only LRs must not request a no-pending maintenance interrupt";
    vgic->fold(0, s);

    gicd_write(0x400 + 50, 0x20, 1);  // a higher-priority pending SPI
    gicd_write(0x100 + 4, 1u << (50 % 32));
    ASSERT_EQ(vgic->inject_edge(50, 0), Status::ok);
    vgic->flush(0, s);
    FakeGuest guest{s};
    ASSERT_GE(guest.find(50), 0) << "pending interrupt starved by active ones";
    EXPECT_EQ(lr_state(s.lr[guest.find(50)]), ich_lr::kStatePending);
    EXPECT_EQ(guest.ack(), 50u);
    vgic->fold(0, s);
    // All eight SPIs are still active, and 50 is active now too: nothing lost.
    EXPECT_EQ(gicd_read(0x304) & 0x0004ff00u, 0x0004ff00u);
}

// More pending interrupts than LRs: NPIE is requested so the guest exits once the LRs' pending ones are taken.
TEST_F(VgicTest, PendingOverflowRequestsNoPendingMaintenance) {
    enable_all(0);
    auto& s = vgic->cpu_if(0);
    for (u32 intid = 40; intid < 48; ++intid) {
        gicd_write(0x400 + intid, 0x80, 1);
        gicd_write(0x100 + (intid / 32) * 4, 1u << (intid % 32));
        ASSERT_EQ(vgic->inject_edge(intid, 0), Status::ok);
    }
    vgic->flush(0, s);
    EXPECT_EQ(ich_hcr::NPIE::get(s.hcr), 1u);
    EXPECT_EQ(ich_hcr::UIE::get(s.hcr), s.nr_lrs > 1 ? 1u : 0u);
}
