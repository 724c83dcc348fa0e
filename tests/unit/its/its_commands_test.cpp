#include <algorithm>
#include <vector>

#include "tests/unit/its/its_harness.hpp"

using namespace itstest;

namespace {
// A mapped device 7 (14 EventID bits) with events 0..2 -> LPIs 8192.., event 9000 -> LPI 9000 (MAPI),, collection 1 on
// vCPU 1, collection 2 on vCPU 2.
void basic(Harness& h) {
    h.setup();
    h.mapd(7, 14);
    h.cmds({Command::mapc(1, 1, true), Command::mapc(2, 2, true), Command::mapti(7, 0, 8192, 1),
            Command::mapti(7, 1, 8193, 1), Command::mapti(7, 2, 8194, 2), Command::mapi(7, 9000, 2)});
}
}  // namespace

TEST(ItsCommands, MapAndTranslate) {
    Harness h;
    h.setup();
    h.mapd(7);
    h.cmds({Command::mapc(1, 1, true), Command::mapti(7, 3, 8300, 1)});
    h.expect_tr(7, 3, 1, 8300);
    EXPECT_EQ(h.tr(7, 4).status(), Status::not_found);
    EXPECT_EQ(h.tr(8, 3).status(), Status::not_found);
    EXPECT_EQ(h.creadr(), 3u * 32);
    EXPECT_EQ(h.its->signal_msi(7, 3), Status::ok);
    EXPECT_TRUE(h.sink.lpi_pending(1, 8300));
    EXPECT_EQ(h.obs.live.at({7, 3}), std::make_pair(8300u, 1u));
}

TEST(ItsCommands, MapiUsesEventIdAsIntid) {
    Harness h;
    h.setup();
    h.cmd(Command::mapd(7, itt_for(7), 15, true));  // 16 EventID bits
    h.cmds({Command::mapc(1, 3, true), Command::mapi(7, 9000, 1)});
    h.expect_tr(7, 9000, 3, 9000);
}

TEST(ItsCommands, IntClearInvInvallSync) {
    Harness h;
    basic(h);
    h.cmd(Command::event_cmd(Opcode::INT, 7, 2));
    EXPECT_TRUE(h.sink.lpi_pending(2, 8194));
    h.cmd(Command::event_cmd(Opcode::CLEAR, 7, 2));
    EXPECT_FALSE(h.sink.lpi_pending(2, 8194));
    h.cmd(Command::event_cmd(Opcode::INV, 7, 1));
    ASSERT_EQ(h.sink.invalidated.size(), 1u);
    EXPECT_EQ(h.sink.invalidated[0], std::make_pair(1u, 8193u));
    h.cmd(Command::invall(2));
    ASSERT_EQ(h.sink.invalidated_all.size(), 1u);
    EXPECT_EQ(h.sink.invalidated_all[0], 2u);
    u64 before = h.creadr();
    h.cmd(Command::sync(3));
    EXPECT_EQ(h.creadr(), before + 32);
}

// The queue is read straight from guest RAM once CBASER names it (GuestMemory::direct); the pointer is looked up
// again when the memory map changes: commands then come from the new backing, or stall if the queue left guest RAM.
TEST(ItsCommands, QueueFollowsTheGuestMemoryMap) {
    Harness h;
    basic(h);
    h.cmd(Command::event_cmd(Opcode::INT, 7, 0));
    EXPECT_TRUE(h.sink.lpi_pending(1, 8192));
    // The same guest RAM, now backed by another buffer: the next command is INT 7/1 there, INT 7/2 in the old one.
    std::vector<u8> ram2 = h.ram;
    h.mem.clear();
    ASSERT_EQ(h.mem.add_region(kRamBase, kRamSize, ram2.data()), Status::ok);
    const Command new_cmd = Command::event_cmd(Opcode::INT, 7, 1), old_cmd = Command::event_cmd(Opcode::INT, 7, 2);
    std::memcpy(&ram2[kQueue - kRamBase + h.cwriter], &new_cmd, sizeof new_cmd);
    h.put(old_cmd);
    h.kick();
    EXPECT_TRUE(h.sink.lpi_pending(1, 8193));
    EXPECT_FALSE(h.sink.lpi_pending(2, 8194));
    EXPECT_FALSE(h.its->stalled());
    // No guest RAM at the queue any more: the next command cannot be read, the queue stalls there.
    const u64 at = h.creadr();
    h.mem.clear();
    ASSERT_EQ(h.mem.add_region(kRamBase + kRamSize, kRamSize, ram2.data()), Status::ok);
    h.put(old_cmd);
    h.kick();
    EXPECT_TRUE(h.its->stalled());
    EXPECT_EQ(h.creadr(), at | cqueue::Stalled::make(1));
    EXPECT_FALSE(h.sink.lpi_pending(2, 8194));
}

TEST(ItsCommands, MoviMovesTranslationAndPendingState) {
    Harness h;
    basic(h);
    EXPECT_EQ(h.its->signal_msi(7, 0), Status::ok);
    EXPECT_TRUE(h.sink.lpi_pending(1, 8192));
    h.cmd(Command::movi(7, 0, 2));
    h.expect_tr(7, 0, 2, 8192);
    EXPECT_FALSE(h.sink.lpi_pending(1, 8192));
    EXPECT_TRUE(h.sink.lpi_pending(2, 8192));
    EXPECT_EQ(h.obs.live.at({7, 0}), std::make_pair(8192u, 2u));
    h.expect_tr(7, 1, 1, 8193);  // the other event of collection 1 is untouched
}

TEST(ItsCommands, MovallMovesPendingOnly) {
    Harness h;
    basic(h);
    h.cmds({Command::event_cmd(Opcode::INT, 7, 0), Command::event_cmd(Opcode::INT, 7, 2)});
    h.cmd(Command::movall(1, 3));
    EXPECT_TRUE(h.sink.lpi_pending(3, 8192));
    EXPECT_FALSE(h.sink.lpi_pending(1, 8192));
    EXPECT_TRUE(h.sink.lpi_pending(2, 8194));
    h.expect_tr(7, 0, 1, 8192);  // collection mappings are software's to change (MAPC)
}

TEST(ItsCommands, DiscardRemovesTranslationAndPending) {
    Harness h;
    basic(h);
    h.cmd(Command::event_cmd(Opcode::INT, 7, 1));
    h.cmd(Command::event_cmd(Opcode::DISCARD, 7, 1));
    EXPECT_EQ(h.tr(7, 1).status(), Status::not_found);
    EXPECT_FALSE(h.sink.lpi_pending(1, 8193));
    EXPECT_EQ(h.obs.live.count({7, 1}), 0u);
    h.expect_tr(7, 0, 1, 8192);
    // The event can be mapped again.
    h.cmd(Command::mapti(7, 1, 8500, 2));
    h.expect_tr(7, 1, 2, 8500);
}

// lookup_event checks the ITE it found last before the hash lookups: every way a mapping can change in between -- the
// event discarded and mapped again (same ITE slot, another LPI), its device unmapped, another device mapped into the
// freed device slot with an event of the same number -- must give the current answer, never the remembered one.
TEST(ItsCommands, EventLookupFollowsEveryMappingChange) {
    Harness h;
    basic(h);
    const auto intr = [&](u32 dev, u32 ev) { h.cmd(Command::event_cmd(Opcode::INT, dev, ev)); };
    intr(7, 1);
    EXPECT_TRUE(h.sink.lpi_pending(1, 8193));
    h.sink.clear_pending();
    h.cmds({Command::event_cmd(Opcode::DISCARD, 7, 1), Command::mapti(7, 1, 8600, 2)});  // the freed slot is reused
    intr(7, 1);
    EXPECT_EQ(h.sink.pending(), (std::set<std::pair<u32, u32>>{{2, 8600}}));
    h.sink.clear_pending();
    h.cmd(Command::event_cmd(Opcode::DISCARD, 7, 1));
    intr(7, 1);  // unmapped: ignored
    EXPECT_TRUE(h.sink.pending().empty());
    // Device 7 unmapped; device 9 takes its slot, with event 1 at the slot the old ITE had.
    intr(7, 0);
    h.sink.clear_pending();
    h.cmd(Command::mapd(7, 0, 0, false));
    h.mapd(9);
    h.cmd(Command::mapti(9, 0, 8700, 2));
    intr(7, 0);  // device 7 is gone: ignored, although slot and event match what was found last
    EXPECT_TRUE(h.sink.pending().empty());
    intr(9, 0);
    EXPECT_EQ(h.sink.pending(), (std::set<std::pair<u32, u32>>{{2, 8700}}));
    h.sink.clear_pending();
    intr(9, 0x10000);  // an EventID equal to event 0 in its low 16 bits: beyond the ITT, ignored
    EXPECT_TRUE(h.sink.pending().empty());
    // Another event of the same device.
    h.sink.clear_pending();
    h.cmd(Command::mapti(9, 1, 8701, 1));
    intr(9, 1);
    EXPECT_EQ(h.sink.pending(), (std::set<std::pair<u32, u32>>{{1, 8701}}));
}

// An INT of the event found last is done inline (its_commands.cpp int_last_event), the others by cmd_int_clear_inv:
// both ask an observer that takes pending state over (GICv4 direct injection) -- unless it was set without
// pending_calls -- and leave the sink alone when it does.
TEST(ItsCommands, IntAsksTheObserverOnlyWithPendingCalls) {
    struct TakeOver final : ItsObserver {
        void on_map(u32, u32, u32, u32) override {}
        void on_unmap(u32, u32, u32) override {}
        bool on_set_pending(u32 dev, u32 ev, bool pending) override {
            asked.push_back({dev, ev});
            EXPECT_TRUE(pending);
            return true;
        }
        std::vector<std::pair<u32, u32>> asked;
    } obs;
    Harness h;
    basic(h);
    h.its->set_observer(&obs);
    const auto intr = [&](u32 dev, u32 ev) { h.cmd(Command::event_cmd(Opcode::INT, dev, ev)); };
    intr(7, 1);  // a lookup
    intr(7, 1);  // the event found last
    h.cmds({Command::event_cmd(Opcode::INT, 7, 1), Command::event_cmd(Opcode::INT, 7, 0)});
    EXPECT_EQ(obs.asked, (std::vector<std::pair<u32, u32>>{{7, 1}, {7, 1}, {7, 1}, {7, 0}}));
    EXPECT_TRUE(h.sink.pending().empty());
    h.its->set_observer(&obs, false);
    intr(7, 0);  // the event found last
    intr(7, 1);  // a lookup
    EXPECT_EQ(obs.asked.size(), 4u);
    EXPECT_EQ(h.sink.pending(), (std::set<std::pair<u32, u32>>{{1, 8192}, {1, 8193}}));
}

TEST(ItsCommands, MapdUnmapAndRemapDropEvents) {
    Harness h;
    basic(h);
    usize ites = h.its->ite_count();
    EXPECT_EQ(ites, 4u);
    h.cmd(Command::mapd(7, 0, 0, false));
    EXPECT_EQ(h.tr(7, 0).status(), Status::not_found);
    EXPECT_EQ(h.its->ite_count(), 0u);
    EXPECT_EQ(h.its->device_count(), 0u);
    EXPECT_TRUE(h.obs.live.empty());
    EXPECT_EQ(h.obs.unmaps, 4);
    // Remap with V=1 on a mapped device also starts from an empty ITT.
    h.mapd(7);
    h.cmd(Command::mapti(7, 0, 8192, 1));
    h.cmd(Command::mapd(7, itt_for(8), 3, true));
    EXPECT_EQ(h.tr(7, 0).status(), Status::not_found);
    EXPECT_EQ(h.its->device_count(), 1u);
}

TEST(ItsCommands, MapcUnmapAndRemap) {
    Harness h;
    basic(h);
    h.cmd(Command::mapc(1, 3, true));  // retarget
    h.expect_tr(7, 0, 3, 8192);
    h.expect_tr(7, 1, 3, 8193);
    EXPECT_EQ(h.obs.live.at({7, 1}).second, 3u);
    h.cmd(Command::mapc(1, 0, false));  // unmap
    EXPECT_EQ(h.tr(7, 0).status(), Status::invalid_argument);
    EXPECT_EQ(h.obs.live.at({7, 1}).second, ItsObserver::kNoVcpu);
    h.expect_tr(7, 2, 2, 8194);
    h.cmd(Command::mapc(1, 0, true));  // map again: the ITEs still name ICID 1
    h.expect_tr(7, 0, 0, 8192);
}

TEST(ItsCommands, DisabledItsDropsTranslationsAndQueuesCommands) {
    Harness h;
    basic(h);
    h.write(reg(GitsReg::CTLR), 0, 4);
    EXPECT_EQ(h.tr(7, 0).status(), Status::busy);
    EXPECT_EQ(h.its->signal_msi(7, 0), Status::busy);
    u64 before = h.creadr();
    h.cmd(Command::event_cmd(Opcode::DISCARD, 7, 0));
    EXPECT_EQ(h.creadr(), before);  // not processed while disabled
    EXPECT_EQ(h.read(reg(GitsReg::CTLR), 4) & ctlr::Quiescent::field_mask, 0u);
    h.write(reg(GitsReg::CTLR), 1, 4);
    EXPECT_EQ(h.creadr(), before + 32);
    EXPECT_EQ(h.tr(7, 0).status(), Status::not_found);
}

// ---- errors: every one is ignored (CREADR advances, state unchanged, one log line) ----

struct ErrorCase {
    const char* name;
    Command cmd;
    const char* log;
};

TEST(ItsCommandErrors, IgnoredWithLog) {
    const ErrorCase cases[] = {
        {"MAPD devid beyond table", Command::mapd(8192, itt_for(1), 4, true), "not backed"},
        {"MAPD devid beyond DevBits", Command::mapd(0x10000, itt_for(1), 4, true), "not backed"},
        {"MAPD size beyond IDbits", Command::mapd(9, itt_for(9), 16, true), "EventID bits"},
        {"MAPD ITT outside RAM", Command::mapd(9, kRamBase + kRamSize - 256, 5, true), "outside guest RAM"},
        {"MAPC icid beyond table", Command::mapc(kCollIds, 0, true), "beyond the collection table"},
        {"MAPC rdbase beyond vcpus", Command::mapc(5, 4, true), "no such vCPU"},
        {"MAPTI unmapped device", Command::mapti(8, 0, 8192, 1), "not mapped"},
        {"MAPTI event beyond ITT", Command::mapti(7, 1u << 14, 8192, 1), "beyond its ITT"},
        {"MAPTI intid below 8192", Command::mapti(7, 5, 8191, 1), "out of range"},
        {"MAPTI intid beyond IDbits", Command::mapti(7, 5, 65536, 1), "out of range"},
        {"MAPTI icid beyond table", Command::mapti(7, 5, 8192, kCollIds + 88), "beyond the collection table"},
        {"MAPTI already mapped", Command::mapti(7, 0, 9999, 2), "already mapped"},
        {"MAPI event beyond ITT", Command::mapi(7, 1u << 14, 1), "beyond its ITT"},
        {"MOVI unmapped event", Command::movi(7, 5, 2), "not mapped"},
        {"MOVI to unmapped collection", Command::movi(7, 0, 3), "unmapped collection"},
        {"MOVI to icid beyond table", Command::movi(7, 0, 9000), "unmapped collection"},
        {"INT unmapped device", Command::event_cmd(Opcode::INT, 99, 0), "not mapped"},
        {"INT unmapped event", Command::event_cmd(Opcode::INT, 7, 20), "not mapped"},
        {"CLEAR unmapped event", Command::event_cmd(Opcode::CLEAR, 7, 20), "not mapped"},
        {"INV unmapped event", Command::event_cmd(Opcode::INV, 7, 20), "not mapped"},
        {"DISCARD unmapped event", Command::event_cmd(Opcode::DISCARD, 7, 20), "not mapped"},
        {"DISCARD unmapped device", Command::event_cmd(Opcode::DISCARD, 70, 0), "not mapped"},
        {"INVALL unmapped collection", Command::invall(3), "not mapped"},
        {"SYNC rdbase beyond vcpus", Command::sync(4), "no such vCPU"},
        {"MOVALL rdbase beyond vcpus", Command::movall(0, 4), "no such vCPU"},
        {"unknown opcode", Command::make(static_cast<Opcode>(0x2a)), "unknown command"},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.name);
        Harness h;
        basic(h);
        h.sink.invalidated.clear();
        auto pending = h.sink.pending();
        usize devs = h.its->device_count(), ites = h.its->ite_count(), colls = h.its->collection_count();
        auto live = h.obs.live;
        u64 before = h.creadr();
        hvtest::captured_log().clear();
        h.cmd(c.cmd);
        EXPECT_EQ(h.creadr(), before + 32);
        EXPECT_FALSE(h.its->stalled());
        EXPECT_EQ(h.its->device_count(), devs);
        EXPECT_EQ(h.its->ite_count(), ites);
        EXPECT_EQ(h.its->collection_count(), colls);
        EXPECT_EQ(h.obs.live, live);
        EXPECT_EQ(h.sink.pending(), pending);
        EXPECT_TRUE(h.sink.invalidated.empty());
        EXPECT_NE(hvtest::captured_log().find(c.log), std::string::npos) << hvtest::captured_log();
        h.expect_tr(7, 0, 1, 8192);
    }
}

TEST(ItsCommandErrors, CommandsOnUnmappedCollectionAreIgnored) {
    Harness h;
    basic(h);
    h.cmd(Command::mapti(7, 10, 8400, 5));  // ICID 5 never mapped: allowed, translation drops
    EXPECT_EQ(h.tr(7, 10).status(), Status::invalid_argument);
    EXPECT_EQ(h.obs.live.at({7, 10}).second, ItsObserver::kNoVcpu);
    for (Opcode op : {Opcode::INT, Opcode::CLEAR, Opcode::INV, Opcode::DISCARD}) {
        hvtest::captured_log().clear();
        h.cmd(Command::event_cmd(op, 7, 10));
        EXPECT_NE(hvtest::captured_log().find("collection unmapped"), std::string::npos) << opcode_name(op);
    }
    EXPECT_TRUE(h.sink.pending().empty());
    EXPECT_EQ(h.its->ite_count(), 5u);  // the DISCARD was ignored
    h.cmd(Command::mapc(5, 3, true));
    h.expect_tr(7, 10, 3, 8400);
}

TEST(ItsCommandErrors, QueueOutsideGuestRamStallsAndRetryResumes) {
    Harness h;
    h.setup();
    h.write(reg(GitsReg::CTLR), 0, 4);
    // Queue of two pages whose second page lies beyond guest RAM.
    const u64 base = kRamBase + kRamSize - 4096;
    h.write(reg(GitsReg::CBASER), cbaser::Valid::make(1) | base | 1);
    h.write(reg(GitsReg::CTLR), 1, 4);
    Command c = Command::mapd(1, itt_for(1), 4, true);
    for (u64 off = 0; off < 4096; off += 32) std::memcpy(&h.ram[base - kRamBase + off], &c, 32);
    hvtest::captured_log().clear();
    h.write(reg(GitsReg::CWRITER), 4096 + 64);
    h.cwriter = 4096 + 64;
    h.drain();
    EXPECT_TRUE(h.its->stalled());
    EXPECT_EQ(h.creadr(), 4096u | cqueue::Stalled::make(1));  // CREADR names the failing command
    EXPECT_NE(hvtest::captured_log().find("stalled"), std::string::npos);
    EXPECT_EQ(h.its->device_count(), 1u);
    // Another CWRITER write without Retry does not restart; with Retry it retries (and stalls again).
    h.write(reg(GitsReg::CWRITER), 4096 + 64);
    EXPECT_TRUE(h.its->stalled());
    h.write(reg(GitsReg::CWRITER), 4096 + 64 + 1);
    EXPECT_TRUE(h.its->stalled());
    // The guest repairs the queue (disable, new CBASER): processing resumes.
    h.write(reg(GitsReg::CTLR), 0, 4);
    h.write(reg(GitsReg::CBASER), cbaser::Valid::make(1) | kQueue | (kQueuePages - 1));
    EXPECT_FALSE(h.its->stalled());
    h.write(reg(GitsReg::CTLR), 1, 4);
    h.cwriter = 0;
    h.mapd(2);
    EXPECT_EQ(h.its->device_count(), 2u);
}

TEST(ItsCommandErrors, PoolExhaustionIsGraceful) {
    Harness h;
    h.setup();
    // Devices: kMaxDevices fit, the next MAPD is ignored.
    for (u32 d = 0; d <= kMaxDevices; ++d) h.put(Command::mapd(d, itt_for(0), 0, true));
    h.kick();
    EXPECT_EQ(h.its->device_count(), kMaxDevices);
    EXPECT_EQ(h.creadr(), u64{kMaxDevices + 1} * 32 % (kQueuePages * 4096));
    // ITEs: 16 devices x 1024 events > kMaxItes.
    h.cwriter = h.read(reg(GitsReg::CWRITER));
    h.cmd(Command::mapc(0, 0, true));
    u32 mapped = 0;
    for (u32 d = 0; d < 16 && mapped <= kMaxItes; ++d) {
        h.cmd(Command::mapd(d, kItts + d * 0x2000, 9, true));
        for (u32 e = 0; e < 1024; e += 256) {
            for (u32 k = 0; k < 256; ++k) h.put(Command::mapti(d, e + k, 8192 + mapped++, 0));
            h.kick();
        }
    }
    EXPECT_EQ(h.its->ite_count(), kMaxItes);
    EXPECT_NE(hvtest::captured_log().find("ITE pool exhausted"), std::string::npos);
    EXPECT_FALSE(h.its->stalled());
    h.expect_tr(0, 0, 0, 8192);
}

TEST(ItsCommands, TwoLevelDeviceTable) {
    Harness h;
    // Level-1 table: one 64 KiB page = 8192 entries, each pointing at a 64 KiB level-2 page of 8192 DeviceIDs.
    h.setup(true);
    h.poke64(kDevTable + 1 * 8, l1e::Valid::make(1) | kL2Pages);  // DeviceIDs 8192..16383
    hvtest::captured_log().clear();
    h.mapd(5);  // level-1 entry 0 invalid: ignored
    EXPECT_EQ(h.its->device_count(), 0u);
    EXPECT_NE(hvtest::captured_log().find("not backed"), std::string::npos);
    h.mapd(8192 + 600);
    h.cmds({Command::mapc(0, 1, true), Command::mapti(8192 + 600, 1, 8192, 0)});
    h.expect_tr(8192 + 600, 1, 1, 8192);
    // A level-1 entry's address bits below the 64 KiB page are ignored (IHI0069H 5.2.1: the page is aligned).
    h.poke64(kDevTable + 3 * 8, l1e::Valid::make(1) | (kL2Pages + kTablePage + 0x3000));
    h.mapd(3 * 8192 + 7);
    h.cmds({Command::mapti(3 * 8192 + 7, 2, 8193, 0)});
    h.expect_tr(3 * 8192 + 7, 2, 1, 8193);
    EXPECT_EQ(h.its->device_count(), 2u);
    // Level-1 entry pointing outside guest RAM.
    h.poke64(kDevTable + 2 * 8, l1e::Valid::make(1) | (kRamBase + kRamSize));
    h.mapd(2 * 8192 + 76);
    EXPECT_EQ(h.its->device_count(), 2u);
    // Beyond the level-1 table (8192 entries x 8192 ids = 2^26 > DevBits): DevBits limits.
    h.mapd(0x10000);
    EXPECT_EQ(h.its->device_count(), 2u);
}

TEST(ItsCommands, SeveralInstancesAreIndependent) {
    Harness a, b;
    a.setup();
    b.setup();
    a.mapd(1);
    a.cmds({Command::mapc(0, 1, true), Command::mapti(1, 0, 8192, 0)});
    b.mapd(1);
    b.cmds({Command::mapc(0, 2, true), Command::mapti(1, 0, 9000, 0)});
    a.expect_tr(1, 0, 1, 8192);
    b.expect_tr(1, 0, 2, 9000);
    a.cmd(Command::event_cmd(Opcode::DISCARD, 1, 0));
    EXPECT_EQ(a.tr(1, 0).status(), Status::not_found);
    b.expect_tr(1, 0, 2, 9000);
}

// docs/its.md "Batching": one CWRITER write runs at most kCommandsPerTrap commands; each CREADR (or CTLR) poll moves
// the queue on by one more batch, and CREADR shows the progress; CTLR.Quiescent only once the queue is drained.
TEST(ItsBatching, OneBatchPerTrapAndCreadrShowsProgress) {
    Harness h;
    h.setup();
    h.cmd(Command::mapc(0, 0, true));
    const u32 n = 3 * kCommandsPerTrap + 5;
    h.put(Command::mapd(1, itt_for(1), 11, true));
    for (u32 e = 1; e < n; ++e) h.put(Command::mapti(1, e, 8192 + e, 0));
    const u64 start = h.read(reg(GitsReg::CWRITER));
    h.write(reg(GitsReg::CWRITER), h.cwriter);             // no polling yet
    EXPECT_EQ(h.its->ite_count(), kCommandsPerTrap - 1u);  // the MAPD + 31 MAPTIs
    EXPECT_TRUE(h.its->has_backlog());
    EXPECT_EQ(h.read(reg(GitsReg::CTLR), 4) & ctlr::Quiescent::make(1), 0u);  // this poll ran batch 2
    EXPECT_EQ(h.creadr(), start + 3 * kCommandsPerTrap * kCommandSize);       // and this one batch 3
    EXPECT_EQ(h.its->ite_count(), 3 * kCommandsPerTrap - 1u);
    h.its->process_backlog();  // e.g. at a vCPU exit
    EXPECT_EQ(h.its->ite_count(), n - 1u);
    EXPECT_FALSE(h.its->has_backlog());
    EXPECT_EQ(h.creadr(), h.cwriter);
    EXPECT_NE(h.read(reg(GitsReg::CTLR), 4) & ctlr::Quiescent::make(1), 0u);
}

// The batch bound holds for INTs of one event too (each counts one command, also when done inline): a queue of
// 2 * kCommandsPerTrap + 3 INTs takes three traps.
TEST(ItsBatching, IntRunsCountAgainstTheBatch) {
    Harness h;
    basic(h);
    const u64 calls = h.sink.set_calls;
    const u64 start = h.read(reg(GitsReg::CWRITER));
    for (u32 i = 0; i < 2 * kCommandsPerTrap + 3; ++i) h.put(Command::event_cmd(Opcode::INT, 7, i == 40 ? 2 : 0));
    h.write(reg(GitsReg::CWRITER), h.cwriter);
    EXPECT_EQ(h.sink.set_calls - calls, kCommandsPerTrap);
    EXPECT_EQ(h.read(reg(GitsReg::CWRITER)), start + (2 * kCommandsPerTrap + 3) * kCommandSize);
    EXPECT_TRUE(h.its->has_backlog());
    EXPECT_EQ(h.creadr(), start + 2 * kCommandsPerTrap * kCommandSize);  // this poll ran batch 2
    EXPECT_EQ(h.sink.set_calls - calls, 2 * kCommandsPerTrap);
    EXPECT_EQ(h.creadr(), h.cwriter);
    EXPECT_FALSE(h.its->has_backlog());
    EXPECT_EQ(h.sink.set_calls - calls, 2 * kCommandsPerTrap + 3);
    EXPECT_EQ(h.sink.pending(), (std::set<std::pair<u32, u32>>{{1, 8192}, {2, 8194}}));
}

// The guest's 64-bit GITS_CREADR read takes no lock while no command waits: it returns what the last command-lock
// holder published. After every kind of change of the queue state -- commands, a stall and its Retry, CBASER,
// disable and enable, reset, a restore -- that must be the register's value (save_read reads it under the lock).
TEST(ItsBatching, LockFreeCreadrIsPublishedAfterEveryChange) {
    Harness h;
    const auto same = [&](const char* after) {
        while (h.its->has_backlog()) h.its->process_backlog();  // a poll with a backlog runs a batch (locked path)
        u64 locked = 0;
        ASSERT_EQ(h.its->save_read(reg(GitsReg::CREADR), 8, locked), Status::ok);
        EXPECT_EQ(h.read(reg(GitsReg::CREADR)), locked) << "after " << after;
        EXPECT_EQ(h.read(reg(GitsReg::CREADR), 4), locked & 0xffffffff) << "after " << after;  // the locked path
    };
    same("construction");
    h.setup();
    same("setup");
    h.mapd(3);
    same("commands");
    h.write(reg(GitsReg::CTLR), 0, 4);
    h.put(Command::mapc(1, 1, true));
    h.write(reg(GitsReg::CWRITER), h.cwriter);  // disabled: queued, not run
    same("CWRITER while disabled");
    h.write(reg(GitsReg::CTLR), 1, 4);  // the enable runs the batch
    same("enable");
    // A stall: a queue whose second page is outside guest RAM.
    h.write(reg(GitsReg::CTLR), 0, 4);
    const u64 base = kRamBase + kRamSize - 4096;
    h.write(reg(GitsReg::CBASER), cbaser::Valid::make(1) | base | 1);
    same("CBASER");
    h.write(reg(GitsReg::CTLR), 1, 4);
    h.write(reg(GitsReg::CWRITER), 4096 + 32);  // 128 ignored zero commands, then one outside guest RAM
    same("stall");
    EXPECT_TRUE(h.its->stalled());
    h.write(reg(GitsReg::CWRITER), 4096 + 32 + 1);  // Retry: stalls again at the same command
    same("Retry");
    const Harness::Regs saved = h.save_regs();
    h.its->reset();
    same("reset");
    EXPECT_EQ(h.read(reg(GitsReg::CREADR)), 0u);
    ASSERT_EQ(h.restore_regs_and_tables(saved), Status::ok);
    same("restore");
    EXPECT_EQ(h.read(reg(GitsReg::CREADR)), 4096u | cqueue::Stalled::make(1));
}

// docs/isolation.md: the translation hash is keyed per VM. Control: 64 IDs chosen to share one bucket under a known
// key make a lookup walk 64 entries; under a secret key the same IDs spread out.
TEST(ItsHash, GuestChosenIdsCannotBuildLongChainsUnderASecretKey) {
    HashIndex<1024, kMaxDevices> known;
    std::vector<u32> ids;
    const usize target = known.bucket_of(0);
    for (u32 id = 0; ids.size() < 64 && id < (1u << 24); ++id)
        if (known.bucket_of(id) == target) ids.push_back(id);
    ASSERT_EQ(ids.size(), 64u);
    for (usize i = 0; i < ids.size(); ++i) known.insert(ids[i], static_cast<u16>(i));
    EXPECT_EQ(known.probes(ids[0]), 64u);  // the attack works against a key the guest knows

    for (u64 seed : {0x0123456789abcdefull, 0xfeedfacecafebeefull, 0x1ull}) {
        HashIndex<1024, kMaxDevices> keyed;
        keyed.set_seed(seed);
        for (usize i = 0; i < ids.size(); ++i) keyed.insert(ids[i], static_cast<u16>(i));
        usize worst = 0;
        for (u32 id : ids) worst = std::max(worst, keyed.probes(id));
        EXPECT_LE(worst, 4u) << "seed " << seed;
        for (usize i = 0; i < ids.size(); ++i) EXPECT_EQ(keyed.find(ids[i]), i);
    }
}

TEST(ItsHash, SeedOnlyWhileEmpty) {
    Harness h;
    EXPECT_TRUE(h.its->set_hash_seed(42));
    h.setup();
    h.cmd(Command::mapc(0, 0, true));
    h.mapd(3);
    h.cmd(Command::mapti(3, 1, 8200, 0));
    EXPECT_FALSE(h.its->set_hash_seed(43));
    h.expect_tr(3, 1, 0, 8200);
}
