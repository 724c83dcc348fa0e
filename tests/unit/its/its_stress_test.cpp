#include <atomic>
#include <chrono>
#include <random>
#include <thread>

#include "tests/unit/its/its_harness.hpp"

using namespace itstest;

// One thread runs MAPTI / MOVI / DISCARD / MAPC cycles while others translate and signal MSIs: every translation
// observed must be a state the command sequence could have produced.
TEST(ItsConcurrency, CommandsWhileTranslating) {
    Harness h;
    h.setup();
    h.mapd(1, 8);
    h.cmds({Command::mapc(0, 0, true), Command::mapc(1, 1, true)});
    std::atomic<bool> stop{false};
    std::atomic<u64> hits{0}, bad{0};

    auto translator = [&](unsigned seed) {
        std::mt19937 rng(seed);
        while (!stop.load(std::memory_order_relaxed)) {
            u32 ev = rng() % 64;
            auto t = h.tr(1, ev);
            if (t.ok()) {
                ++hits;
                // Collection 0 -> vCPU 0, collection 1 -> vCPU 0 or 1 (MAPC 1 alternates between 1 and 3);
                // the LPI of event e is always 8192 + e.
                bool vcpu_ok = t.value().vcpu == 0 || t.value().vcpu == 1 || t.value().vcpu == 3;
                if (!vcpu_ok || t.value().intid != 8192 + ev) ++bad;
            } else if (t.status() != Status::not_found && t.status() != Status::invalid_argument) {
                ++bad;
            }
            ignore_status(h.its->signal_msi(1, ev));
            // The machine has 2 cores and the locks are ticket spinlocks: let a preempted lock holder run.
            if ((rng() & 63) == 0) std::this_thread::yield();
        }
    };
    std::vector<std::thread> threads;
    for (unsigned i = 0; i < 2; ++i) threads.emplace_back(translator, i + 1);

    // At least 100 rounds, and on until the translators have seen mappings: on a loaded 2-core machine the
    // command thread can finish 100 rounds before either translator is first scheduled.
    auto const deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    for (u32 round = 0; round < 100 || (hits.load() < 100 && std::chrono::steady_clock::now() < deadline); ++round) {
        for (u32 ev = 0; ev < 64; ev += 4) {
            h.put(Command::mapti(1, ev, 8192 + ev, 0));
            h.put(Command::movi(1, ev, 1));
        }
        h.put(Command::mapc(1, round % 2 ? 1 : 3, true));
        h.kick();
        for (u32 ev = 0; ev < 64; ev += 4) h.put(Command::event_cmd(Opcode::DISCARD, 1, ev));
        h.kick();
    }
    stop = true;
    for (auto& t : threads) t.join();
    EXPECT_EQ(bad.load(), 0u);
    EXPECT_GT(hits.load(), 0u);
    EXPECT_EQ(h.its->ite_count(), 0u);
    EXPECT_FALSE(h.its->stalled());
    EXPECT_EQ(h.creadr(), h.cwriter);
    EXPECT_EQ(h.obs.live.size(), 0u);
}

// Random commands, random register writes, random save/restore/reset: nothing crashes, every call returns, the
// queue never ends half-processed, and the observer's view always equals the model's.
TEST(ItsFuzz, RandomCommandQueue) {
    Harness h;
    h.setup();
    std::mt19937_64 rng(12345);
    auto pick = [&](u64 n) { return rng() % n; };
    usize max_ites = 0;
    static constexpr u8 kOps[] = {0x01, 0x03, 0x04, 0x05, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x2a, 0xff};
    for (int iter = 0; iter < 20000; ++iter) {
        u64 action = pick(100);
        if (action < 80) {
            u32 batch = 1 + static_cast<u32>(pick(16));
            for (u32 i = 0; i < batch; ++i) {
                Command c;
                for (auto& w : c.dw) w = rng();
                if (pick(8) != 0) {  // mostly plausible commands with small IDs
                    c.dw[0] = Command::OpcodeF::make(kOps[pick(sizeof kOps)]) | Command::DeviceIdF::make(pick(12));
                    c.dw[1] = Command::EventIdF::make(pick(40)) | Command::PIntIdF::make(8180 + pick(100)) |
                              (pick(2) ? Command::SizeF::make(pick(6)) : 0);
                    c.dw[2] = Command::IcidF::make(pick(10)) | Command::RdBaseF::make(pick(5)) |
                              Command::ValidF::make(pick(4) != 0) |
                              (pick(4) ? Command::IttAddrF::make(itt_for(static_cast<u32>(pick(12))) >> 8) : c.dw[2]);
                    c.dw[3] = Command::RdBaseF::make(pick(5));
                }
                h.put(c);
            }
            h.kick();
        } else if (action < 90) {
            static constexpr u64 kOffsets[] = {0x0,   0x4,   0x8,   0x80,  0x84,   0x88,    0x8c, 0x90,
                                               0x100, 0x104, 0x108, 0x110, 0xffe8, 0x10040, 0x333};
            u64 off = kOffsets[pick(sizeof kOffsets / 8)];
            static constexpr u8 kWidths[] = {1, 2, 4, 8};
            u64 v = pick(3) ? rng() : (off == 0 ? 1 : 0);
            h.write(off, v, kWidths[pick(4)]);
            (void)h.read(off, kWidths[pick(4)]);
        } else if (action < 95) {
            ignore_status(h.its->signal_msi(static_cast<u32>(pick(12)), static_cast<u32>(pick(40))));
        } else if (action < 97) {
            ignore_status(h.its->save_tables());
        } else if (action < 98) {
            h.its->reset();
        } else {
            // Re-arm a sane configuration so the fuzzing keeps reaching the command handlers.
            h.write(reg(GitsReg::CTLR), 0, 4);
            h.setup();
            h.cwriter = h.read(reg(GitsReg::CWRITER));
            if (pick(2)) {
                Harness::Regs r = h.save_regs();
                ignore_status(h.its->save_tables());
                h.write(reg(GitsReg::CTLR), 0, 4);
                ignore_status(h.restore_regs_and_tables(r));
                h.cwriter = h.read(reg(GitsReg::CWRITER));
            }
        }
        h.cwriter = h.read(reg(GitsReg::CWRITER));
        ASSERT_EQ(h.obs.live.size(), h.its->ite_count());
        ASSERT_LE(h.its->ite_count(), kMaxItes);
        max_ites = std::max(max_ites, h.its->ite_count());
        ASSERT_LE(h.its->device_count(), kMaxDevices);
        ASSERT_LE(h.its->collection_count(), kMaxCollections);
        bool queue_live = h.its->enabled() && cbaser::Valid::get(h.read(reg(GitsReg::CBASER)));
        if (queue_live && !h.its->stalled()) {
            h.drain();  // a random CWRITER write moved the queue on by one batch only (kCommandsPerTrap)
            if (!h.its->stalled()) {
                ASSERT_EQ(h.creadr(), h.cwriter);
            }
        }
    }
    EXPECT_GT(max_ites, 5u);  // the fuzzer does reach the mapping commands
    hvtest::captured_log().clear();
}
