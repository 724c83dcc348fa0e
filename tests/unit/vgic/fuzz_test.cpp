// Randomized robustness: random offsets, widths and values to every frame and accessor, interleaved with
// injections and flush/fold rounds with random guest LR updates. Must not crash (ASan/UBSan) and must keep
// the model's invariants (no SPI in two vCPUs' LRs at once, LR counts bounded).
#include <atomic>
#include <random>
#include <set>
#include <thread>

#include "tests/unit/vgic/vgic_fixture.hpp"

using namespace vgictest;

namespace {

constexpr u64 kBases[] = {0x0,   0x4,   0x8,   0x80,  0x100,  0x180,   0x200,   0x280,   0x300,   0x380,
                          0x400, 0x7f8, 0xc00, 0xd00, 0x6000, 0x6100,  0x7fd8,  0xffd0,  0xffe8,  0x70,
                          0x78,  0xa0,  0xb0,  0xc0,  0x14,   0x10080, 0x10100, 0x10200, 0x10400, 0x10c00};

struct Fuzzer {
    std::mt19937_64 rng;
    explicit Fuzzer(u64 seed) : rng(seed) {}
    u64 next() { return rng(); }
    u32 below(u32 n) { return static_cast<u32>(rng() % n); }
    u8 width() {
        static constexpr u8 w[] = {1, 2, 4, 8, 4, 4, 8, 3, 16, 0};
        return w[below(10)];
    }
    u64 offset(u64 frame_size) {
        if (below(2)) return next() % (frame_size + 0x100);
        return kBases[below(array_size(kBases))] + (below(4) == 0 ? below(0x40) : 0) + u64{below(4)} * 4;
    }
    u64 value() {
        switch (below(4)) {
            case 0:
                return next();
            case 1:
                return next() & 0xff;
            case 2:
                return kRamBase + (next() % kRamSize & ~0xfffull) + below(32);  // plausible table base
            default:
                return ~u64{0};
        }
    }
};

}  // namespace

TEST_F(VgicTest, RandomizedAccessesKeepInvariants) {
    make(4, 96);
    Fuzzer f(12345);
    for (usize i = 0; i < ram.size(); ++i) ram[i] = static_cast<u8>(f.next());
    std::vector<bool> in_flight(4, false);
    const u64 gicr_size = vgic->redistributors_size();
    for (int iter = 0; iter < 200000; ++iter) {
        const u32 vcpu = f.below(5);  // sometimes invalid
        switch (f.below(16)) {
            case 0:
            case 1: {
                u64 v = 0;
                MmioAccess a{vcpu, f.offset(kFrameSize), f.width(), false};
                ignore_status(Status::ok);
                if (f.below(2)) {
                    (void)vgic->distributor().mmio_read(a, v);
                } else {
                    a.write = true;
                    (void)vgic->distributor().mmio_write(a, f.value());
                }
                break;
            }
            case 2:
            case 3: {
                u64 v = 0;
                const u64 off = f.below(4) ? u64{f.below(4)} * kRedistStride + f.offset(kRedistStride)
                                           : f.next() % (gicr_size + 0x1000);
                MmioAccess a{vcpu, off, f.width(), f.below(2) == 0};
                if (a.write)
                    (void)vgic->redistributors().mmio_write(a, f.value());
                else
                    (void)vgic->redistributors().mmio_read(a, v);
                break;
            }
            case 4: {
                u64 v = 0;
                if (f.below(2))
                    ignore_status(vgic->dist_restore_write(f.offset(kFrameSize), f.width(), f.value()));
                else
                    ignore_status(vgic->dist_save_read(f.offset(kFrameSize), f.width(), v));
                break;
            }
            case 5: {
                u64 v = 0;
                if (f.below(2))
                    ignore_status(vgic->redist_restore_write(vcpu, f.offset(kRedistStride), f.width(), f.value()));
                else
                    ignore_status(vgic->redist_save_read(vcpu, f.offset(kRedistStride), f.width(), v));
                break;
            }
            case 6:
                vgic->sgi_write(vcpu, f.next(), static_cast<SgiKind>(f.below(3)));
                break;
            case 7:
                ignore_status(vgic->set_level(f.below(140), vcpu, f.below(2)));
                ignore_status(vgic->inject_edge(f.below(140), vcpu));
                break;
            case 8:
                vgic->set_lpi_pending(vcpu, 8192 + f.below(70000) - 100, f.below(4) != 0);
                if (f.below(8) == 0) vgic->invalidate_lpi(vcpu, 8192 + f.below(1000));
                if (f.below(64) == 0) vgic->invalidate_all_lpis(vcpu);
                if (f.below(64) == 0) vgic->move_all_lpis(vcpu, f.below(5));
                break;
            case 9: {
                u64 v = 0;
                const auto reg = static_cast<IccReg>(f.below(16));
                if (f.below(2))
                    ignore_status(vgic->icc_write(vcpu, reg, f.value()));
                else
                    ignore_status(vgic->icc_read(vcpu, reg, v));
                break;
            }
            case 10: {
                u32 bits = 0;
                if (f.below(2))
                    ignore_status(vgic->line_level_write(vcpu, f.below(140), static_cast<u32>(f.next())));
                else
                    ignore_status(vgic->line_level_read(vcpu, f.below(140), bits));
                break;
            }
            case 11:
                if (f.below(32) == 0) ignore_status(vgic->map_hw(vcpu, f.below(140), f.below(1100)));
                if (f.below(32) == 0) ignore_status(vgic->unmap_hw(vcpu, f.below(140)));
                if (f.below(256) == 0) ignore_status(vgic->save_pending_tables());
                (void)vgic->has_pending_for_wakeup(vcpu);
                break;
            default: {
                if (vcpu >= 4) break;
                auto& s = vgic->cpu_if(vcpu);
                // No SPI may sit in two vCPUs' LRs at once; no INTID twice in one LR set.
                auto check_lrs = [&] {
                    std::set<u32> spis;
                    for (u32 c = 0; c < 4; ++c) {
                        if (!in_flight[c]) continue;
                        auto& cs = vgic->cpu_if(c);
                        std::set<u32> mine;
                        for (u32 l = 0; l < cs.used_lrs; ++l) {
                            const u32 id = lr_intid(cs.lr[l]);
                            ASSERT_TRUE(mine.insert(id).second) << "INTID " << id << " twice on vCPU " << c;
                            if (id >= 32 && id < 1020) {
                                ASSERT_TRUE(spis.insert(id).second) << "SPI " << id;
                            }
                        }
                    }
                };
                if (!in_flight[vcpu]) {
                    vgic->flush(vcpu, s);
                    ASSERT_LE(s.used_lrs, s.nr_lrs);
                    in_flight[vcpu] = true;
                    check_lrs();
                } else {
                    // The guest does random things to its LRs (including garbage).
                    for (u32 l = 0; l < s.used_lrs; ++l) {
                        switch (f.below(6)) {
                            case 0:
                                s.lr[l] = ich_lr::State::set(s.lr[l], f.below(4));
                                break;
                            case 1:
                                s.lr[l] = ich_lr::State::set(s.lr[l], 0);
                                break;
                            case 2:
                                s.lr[l] = ich_lr::State::set(s.lr[l], ich_lr::kStateActive);
                                break;
                            case 3:
                                if (f.below(16) == 0) s.lr[l] = f.next();
                                break;
                            default:
                                break;
                        }
                    }
                    if (f.below(16) == 0) s.used_lrs = f.below(40);  // corrupted count: clamped
                    if (f.below(2)) {
                        vgic->fold(vcpu, s);
                        in_flight[vcpu] = false;
                    } else {
                        // An IRQ exit of the fast path: the LRs stay in flight (checked against the full scan).
                        (void)vgic->flush_live(vcpu, s);
                        ASSERT_LE(s.used_lrs, s.nr_lrs);
                        check_lrs();
                    }
                }
                break;
            }
        }
    }
    vgic->reset();
    for (u32 v = 0; v < 4; ++v) {
        vgic->flush(v, vgic->cpu_if(v));
        EXPECT_EQ(vgic->cpu_if(v).used_lrs, 0u);
    }
}

// Several "pCPUs" inject into and run vCPUs concurrently: no deadlock, and every edge SGI sent is delivered
// at least once and never more often than it was sent.
TEST_F(VgicTest, ConcurrentInjectionAndFlush) {
    gicd_write(0x0, 3);
    for (u32 v = 0; v < 4; ++v) {
        gicr_write(v, kSgi + 0x100, 0xffff);
        auto& s = vgic->cpu_if(v);
        s.vmcr = ich_vmcr::VENG1::make(1) | ich_vmcr::VPMR::make(0xff);
    }
    std::atomic<bool> stop{false};
    std::atomic<u64> sent{0}, received{0};
    std::vector<std::thread> threads;
    for (u32 v = 0; v < 4; ++v) {
        threads.emplace_back([&, v] {
            auto& s = vgic->cpu_if(v);
            std::mt19937 rng(v);
            while (!stop.load()) {
                vgic->flush(v, s);
                for (u32 l = 0; l < s.used_lrs; ++l) {
                    if (lr_state(s.lr[l]) & ich_lr::kStatePending) {
                        received.fetch_add(1);
                        s.lr[l] = ich_lr::State::set(s.lr[l], 0);  // ack + EOI
                    }
                }
                vgic->fold(v, s);
                // Send an SGI to a random other vCPU, and poke the distributor.
                const u32 t = rng() % 4;
                vgic->sgi_write(v, icc_sgir::INTID::make(rng() % 16) | icc_sgir::TargetList::make(1u << t),
                                SgiKind::sgi1r);
                sent.fetch_add(1);
                u64 x;
                (void)vgic->distributor().mmio_read(MmioAccess{v, 0x204, 4, false}, x);
                (void)vgic->redistributors().mmio_write(MmioAccess{v, t * kRedistStride + 0x10400, 4, true}, 0);
            }
        });
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    stop = true;
    for (auto& t : threads) t.join();
    // Drain.
    for (int round = 0; round < 4; ++round) {
        for (u32 v = 0; v < 4; ++v) {
            auto& s = vgic->cpu_if(v);
            vgic->flush(v, s);
            for (u32 l = 0; l < s.used_lrs; ++l) {
                received.fetch_add(1);
                s.lr[l] = ich_lr::State::set(s.lr[l], 0);
            }
            vgic->fold(v, s);
        }
    }
    EXPECT_GT(sent.load(), 0u);
    EXPECT_GT(received.load(), 0u);
    EXPECT_LE(received.load(), sent.load());  // SGIs coalesce, never duplicate
    for (u32 v = 0; v < 4; ++v) {
        EXPECT_EQ(gicr_read(v, kSgi + 0x200), 0u);  // nothing left pending
    }
}

// The LPI direct flush and set_lpi_pending read the LPI configuration without the distributor lock (docs/vgic.md
// "LPI configuration without the distributor lock"). Two "pCPUs" run their vCPUs' IRQ-exit flush (flush_live, with
// the LRs in flight) and make LPIs pending on each other's vCPU, while a third thread rewrites the property table and
// invalidates (INV, INVALL): no deadlock, and -- each LPI is made pending again only once its last delivery was
// taken, so none coalesce -- every delivery answers exactly one injection: none twice, none made up (a taken LPI is
// not pending), and once the table enables them all again, none lost.
TEST_F(VgicTest, ConcurrentLpiConfigAndDirectFlush) {
    make(2, 32);
    // The direct flush's decision is the one the locked flush makes just before or after a configuration change;
    // the full-scan check runs later, so under concurrent changes it may see the other side: off here.
    vgic->set_check_incremental(false);
    constexpr u64 kProp = kRamBase + 0x10000;
    constexpr u64 kPend = kRamBase + 0x20000;
    constexpr u32 kLpis = 24, kToggled = 20;
    auto prop = [&](u32 i) { return std::atomic_ref<u8>(ram[kProp - kRamBase + i]); };
    for (u32 i = 0; i < kLpis; ++i) prop(i).store(static_cast<u8>(0x40 + 8 * (i % 4)) | 1);
    gicd_write(0x0, 3);
    gicr_write(0, 0x70, kProp | 15, 8);
    for (u32 c = 0; c < 2; ++c) {
        gicr_write(c, 0x78, kPend + c * 0x10000, 8);
        gicr_write(c, 0x0, 1);  // EnableLPIs
        vgic->cpu_if(c).vmcr = ich_vmcr::VENG1::make(1) | ich_vmcr::VPMR::make(0xff);
    }
    std::atomic<bool> stop{false};
    std::atomic<u64> sent[2][kLpis] = {}, received[2][kLpis] = {};
    std::atomic<u32> outstanding[2][kLpis] = {};  // injected, not yet delivered
    // Each receiver's round count, and the round of each LPI's last delivery: an LPI is injected again only some
    // rounds after it was taken, so a delivery the model made up (a pending state it failed to consume) shows.
    std::atomic<u64> rounds[2] = {}, taken_at[2][kLpis] = {};
    std::atomic<u64> direct{0}, duplicates{0}, stale{0};
    auto take = [&](u32 c, VcpuIfState& s) {  // the guest acknowledges and completes every pending LPI
        for (u32 l = 0; l < s.used_lrs; ++l) {
            const u32 id = lr_intid(s.lr[l]);
            if (id < kLpiBase || id >= kLpiBase + kLpis) continue;
            if (lr_state(s.lr[l]) & ich_lr::kStatePending) {
                received[c][id - kLpiBase].fetch_add(1);
                taken_at[c][id - kLpiBase].store(rounds[c].load());
                if (outstanding[c][id - kLpiBase].exchange(0) != 1) duplicates.fetch_add(1);
            }
            s.lr[l] = ich_lr::State::set(s.lr[l], 0);
        }
    };
    auto inject = [&](u32 c, u32 i) {
        if (outstanding[c][i].load() != 0 || rounds[c].load() < taken_at[c][i].load() + 8) return;
        u32 busy = 0;  // at most two in flight per vCPU: they fit the LRs, so the direct paths can take them
        for (u32 k = 0; k < kToggled; ++k) busy += outstanding[c][k].load();
        if (busy >= 2) return;
        if (vgic->lpi_pending(c, kLpiBase + i)) stale.fetch_add(1);  // delivered and taken: not pending
        outstanding[c][i].store(1);                                  // before: a delivery can only follow it
        sent[c][i].fetch_add(1);
        vgic->set_lpi_pending(c, kLpiBase + i, true);
    };
    std::vector<std::thread> threads;
    for (u32 c = 0; c < 2; ++c) {
        threads.emplace_back([&, c] {
            auto& s = vgic->cpu_if(c);
            std::mt19937 rng(c);
            vgic->flush(c, s);
            while (!stop.load()) {
                rounds[c].fetch_add(1);
                take(c, s);
                if (rng() % 16 == 0) {
                    vgic->fold(c, s);  // an exit the run loop sees
                    vgic->flush(c, s);
                } else if (vgic->flush_live(c, s)) {
                    direct.fetch_add(1);
                }
                inject(1 - c, rng() % kLpis);  // to the other vCPU, as an ITS on this pCPU would
                std::this_thread::yield();     // (more threads than cores: let the others run)
            }
            take(c, s);
            vgic->fold(c, s);
        });
    }
    threads.emplace_back([&] {
        std::mt19937 rng(8);
        while (!stop.load()) {
            const u32 i = rng() % kLpis;
            // LPIs from kToggled on are switched on and off; the others keep Enable and change priority.
            prop(i).store(static_cast<u8>(i >= kToggled ? prop(i).load() ^ 1 : ((prop(i).load() + 0x20) | 1)));
            if (rng() % 32 == 0)
                vgic->invalidate_all_lpis(rng() % 2);
            else
                vgic->invalidate_lpi(rng() % 2, kLpiBase + i);
            std::this_thread::sleep_for(std::chrono::milliseconds(1));  // mostly no change is due: the direct paths run
        }
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    stop = true;
    for (auto& t : threads) t.join();
    for (u32 i = 0; i < kLpis; ++i) prop(i).store(static_cast<u8>(prop(i).load() | 1));
    for (u32 c = 0; c < 2; ++c) vgic->invalidate_all_lpis(c);
    for (int round = 0; round < 4; ++round) {
        for (u32 c = 0; c < 2; ++c) {
            auto& s = vgic->cpu_if(c);
            vgic->flush(c, s);
            take(c, s);
            vgic->fold(c, s);
        }
    }
    EXPECT_GT(direct.load(), 0u);
    EXPECT_EQ(duplicates.load(), 0u);
    EXPECT_EQ(stale.load(), 0u);
    u64 total = 0;
    for (u32 c = 0; c < 2; ++c) {
        for (u32 i = 0; i < kLpis; ++i) {
            total += received[c][i].load();
            EXPECT_EQ(received[c][i].load(), sent[c][i].load()) << "vCPU " << c << " LPI " << kLpiBase + i;
            EXPECT_FALSE(vgic->lpi_pending(c, kLpiBase + i));
        }
    }
    EXPECT_GT(total, 0u);
}
