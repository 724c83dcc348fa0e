#include "tests/unit/its/its_harness.hpp"

using namespace itstest;

namespace {

constexpr u64 kDtes = kDevTablePages * kTablePage / 8;

Harness::Regs image_regs(const Harness& h) {
    Harness::Regs r{};
    r.cbaser = cbaser::Valid::make(1) | kQueue | (kQueuePages - 1);
    r.baser0 = Harness::baser_value(kDevTable, kDevTablePages);
    r.baser1 = Harness::baser_value(kCollTable, 1);
    r.iidr = h.its->iidr();
    r.ctlr = 1;
    return r;
}

// The reference image (KVM ABI rev 0): collections ICID 3 -> vCPU 1, ICID 7 referenced but unmapped;
// device 2 (4 EventID bits): event 0 -> LPI 8192 / ICID 3, event 5 -> LPI 8200 / ICID 7;
// device 5 (2 EventID bits): event 3 -> LPI 9000 / ICID 3.
void build_image(Harness& h) {
    h.poke64(kCollTable + 0, hv::its::abi::cte::make(1, 3));
    h.poke64(kCollTable + 8, hv::its::abi::cte::make(hv::its::abi::cte::kNotMapped, 7));
    h.poke64(kCollTable + 16, 0);
    h.poke64(kDevTable + 2 * 8, hv::its::abi::dte::make(3, itt_for(2), 3));
    h.poke64(kDevTable + 5 * 8, hv::its::abi::dte::make(0, itt_for(5), 1));
    h.poke64(itt_for(2) + 0 * 8, hv::its::abi::ite::make(5, 8192, 3));
    h.poke64(itt_for(2) + 5 * 8, hv::its::abi::ite::make(0, 8200, 7));
    h.poke64(itt_for(5) + 3 * 8, hv::its::abi::ite::make(0, 9000, 3));
}

void expect_empty(Harness& h) {
    EXPECT_EQ(h.its->device_count(), 0u);
    EXPECT_EQ(h.its->ite_count(), 0u);
    EXPECT_EQ(h.its->collection_count(), 0u);
    EXPECT_TRUE(h.obs.live.empty());
}

}  // namespace

TEST(ItsRestore, GoldenImageRestoresExpectedMappings) {
    Harness h;
    build_image(h);
    ASSERT_EQ(h.restore_regs_and_tables(image_regs(h)), Status::ok);
    EXPECT_TRUE(h.its->enabled());
    EXPECT_EQ(h.its->device_count(), 2u);
    EXPECT_EQ(h.its->ite_count(), 3u);
    EXPECT_EQ(h.its->collection_count(), 2u);
    h.expect_tr(2, 0, 1, 8192);
    EXPECT_EQ(h.tr(2, 5).status(), Status::invalid_argument);  // ICID 7 unmapped
    h.expect_tr(5, 3, 1, 9000);
    EXPECT_EQ(h.tr(2, 1).status(), Status::not_found);
    EXPECT_EQ(h.obs.live.size(), 3u);
    EXPECT_EQ(h.obs.live.at({2, 5}).second, ItsObserver::kNoVcpu);
    EXPECT_EQ(h.its->restore_phase(), RestorePhase::idle);
    // The queue works after the restore.
    h.cwriter = 0;
    h.cmd(Command::mapc(7, 2, true));
    h.expect_tr(2, 5, 2, 8200);
}

TEST(ItsSave, KnownStateProducesExactBytes) {
    Harness h;
    // Garbage everywhere the save must overwrite or zero.
    std::memset(&h.ram[kDevTable - kRamBase], 0xaa, kDevTablePages * kTablePage);
    std::memset(&h.ram[itt_for(2) - kRamBase], 0xbb, 16 * 8);
    std::memset(&h.ram[itt_for(5) - kRamBase], 0xcc, 4 * 8);
    h.setup();
    h.cmds({Command::mapd(2, itt_for(2), 3, true), Command::mapd(5, itt_for(5), 1, true), Command::mapc(3, 1, true),
            Command::mapti(2, 0, 8192, 3), Command::mapti(2, 5, 8200, 7), Command::mapti(5, 3, 9000, 3)});
    ASSERT_EQ(h.its->save_tables(), Status::ok);

    Harness ref;
    build_image(ref);
    EXPECT_EQ(0, std::memcmp(&h.ram[kCollTable - kRamBase], &ref.ram[kCollTable - kRamBase], 24));
    EXPECT_EQ(0,
              std::memcmp(&h.ram[kDevTable - kRamBase], &ref.ram[kDevTable - kRamBase], kDevTablePages * kTablePage));
    EXPECT_EQ(0, std::memcmp(&h.ram[itt_for(2) - kRamBase], &ref.ram[itt_for(2) - kRamBase], 16 * 8));
    EXPECT_EQ(0, std::memcmp(&h.ram[itt_for(5) - kRamBase], &ref.ram[itt_for(5) - kRamBase], 4 * 8));
    EXPECT_EQ(h.peek64(kDevTable + 2 * 8),
              0x8006000008088003ull);  // spelled out: V, next 3, ITT 0x40440000 >> 8 << 5, Size 3
}

struct Corruption {
    const char* name;
    void (*apply)(Harness&);
    Status expected;
};

TEST(ItsRestore, EveryCorruptionLeavesTheItsEmpty) {
    const Corruption cases[] = {
        {"ITE INTID below 8192", [](Harness& h) { h.poke64(itt_for(5) + 24, hv::its::abi::ite::make(0, 4096, 3)); },
         Status::corrupt},
        {"ITE INTID beyond IDbits", [](Harness& h) { h.poke64(itt_for(5) + 24, hv::its::abi::ite::make(0, 70000, 3)); },
         Status::corrupt},
        {"ITE next beyond the DTE size",
         [](Harness& h) { h.poke64(itt_for(5) + 24, hv::its::abi::ite::make(1, 9000, 3)); }, Status::corrupt},
        {"ITE unknown ICID", [](Harness& h) { h.poke64(itt_for(5) + 24, hv::its::abi::ite::make(0, 9000, 9)); },
         Status::corrupt},
        {"duplicate ICID", [](Harness& h) { h.poke64(kCollTable + 8, hv::its::abi::cte::make(2, 3)); },
         Status::corrupt},
        {"CTE target beyond vCPUs", [](Harness& h) { h.poke64(kCollTable, hv::its::abi::cte::make(4, 3)); },
         Status::corrupt},
        {"CTE ICID beyond the table",
         [](Harness& h) { h.poke64(kCollTable + 8, hv::its::abi::cte::make(0, kCollIds)); }, Status::corrupt},
        {"DTE next runs off the table",
         [](Harness& h) { h.poke64(kDevTable + 5 * 8, hv::its::abi::dte::make(kDtes - 5, itt_for(5), 1)); },
         Status::corrupt},
        {"DTE EventID bits too wide",
         [](Harness& h) { h.poke64(kDevTable + 5 * 8, hv::its::abi::dte::make(0, itt_for(5), 16)); }, Status::corrupt},
        {"DTE ITT outside guest RAM",
         [](Harness& h) { h.poke64(kDevTable + 5 * 8, hv::its::abi::dte::make(0, kRamBase + kRamSize, 1)); },
         Status::out_of_range},
        {"too many devices",
         [](Harness& h) {
             for (u64 d = 0; d <= kMaxDevices; ++d)
                 h.poke64(kDevTable + d * 8, hv::its::abi::dte::make(d == kMaxDevices ? 0 : 1, itt_for(0), 0));
         },
         Status::no_memory},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.name);
        Harness h;
        build_image(h);
        c.apply(h);
        Harness::Regs r = image_regs(h);
        EXPECT_EQ(h.restore_regs_and_tables(r), c.expected);
        expect_empty(h);
        EXPECT_EQ(h.tr(2, 0).status(), Status::busy);
        // The same ITS restores the good image afterwards.
        Harness good;
        build_image(good);
        std::memcpy(h.ram.data(), good.ram.data(), kRamSize);
        EXPECT_EQ(h.its->restore_tables(), Status::ok);
        EXPECT_EQ(h.its->ite_count(), 3u);
    }
}

TEST(ItsRestore, TablesOutsideGuestRam) {
    {
        Harness h;
        Harness::Regs r = image_regs(h);
        r.baser0 = Harness::baser_value(kRamBase + kRamSize - kTablePage, 2);
        EXPECT_EQ(h.restore_regs_and_tables(r), Status::out_of_range);
        expect_empty(h);
    }
    {
        Harness h;
        Harness::Regs r = image_regs(h);
        r.baser0 = Harness::baser_value(kDevTable, 1, true);
        h.poke64(kDevTable, l1e::Valid::make(1) | (kRamBase + kRamSize));
        EXPECT_EQ(h.restore_regs_and_tables(r), Status::out_of_range);
        expect_empty(h);
    }
}

TEST(ItsRestore, UnknownRevisionRefusedBeforeAnythingIsRead) {
    Harness h;
    build_image(h);
    u64 iidr = h.its->iidr();
    EXPECT_EQ(h.its->restore_write(reg(GitsReg::IIDR), 4, iidr::Revision::set(iidr, 1)), Status::invalid_argument);
    EXPECT_EQ(iidr::Revision::get(h.read(reg(GitsReg::IIDR), 4)), 0u);
    Harness::Regs r = image_regs(h);
    EXPECT_EQ(h.its->restore_write(reg(GitsReg::BASER0), 8, r.baser0), Status::ok);
    EXPECT_EQ(h.its->restore_write(reg(GitsReg::BASER0) + 8, 8, r.baser1), Status::ok);
    EXPECT_EQ(h.its->restore_tables(), Status::bad_order);  // the IIDR step never succeeded
    expect_empty(h);
}

// KVM's GITS_IIDR (arch/arm64/kvm/vgic/vgic-its.c): ProductID 0x4b ('K') in [31:24], Revision = the table ABI
// revision in [15:12] (only ABI 0 exists), implementer 0x43b (Arm) in [11:0]. KVM's restore looks only at the
// revision; so does ours: a KVM-made state with revision 0 restores (and its tables are read), revision 1 is
// refused before anything is read. Reads keep reporting our own IDs.
TEST(ItsRestore, KvmIidrAcceptedByRevisionOnly) {
    constexpr u64 kKvmIidrRev0 = 0x4b00043b, kKvmIidrRev1 = 0x4b00143b;
    {
        Harness h;
        build_image(h);
        Harness::Regs r = image_regs(h);
        r.iidr = kKvmIidrRev0;
        EXPECT_EQ(h.restore_regs_and_tables(r), Status::ok);
        EXPECT_EQ(h.its->ite_count(), 3u);
        h.expect_tr(2, 0, 1, 8192);
        EXPECT_EQ(h.read(reg(GitsReg::IIDR), 4), (u64{iidr::kProductId} << 24) | iidr::kImplementerArm);
    }
    {
        Harness h;
        build_image(h);
        Harness::Regs r = image_regs(h);
        r.iidr = kKvmIidrRev1;
        EXPECT_EQ(h.restore_regs_and_tables(r), Status::invalid_argument);
        expect_empty(h);
        EXPECT_EQ(iidr::Revision::get(h.read(reg(GitsReg::IIDR), 4)), 0u);
    }
    {
        Harness h;  // implementer / product / variant of someone else, revision 0: accepted
        EXPECT_EQ(h.its->restore_write(reg(GitsReg::CBASER), 8, image_regs(h).cbaser), Status::ok);
        EXPECT_EQ(h.its->restore_write(reg(GitsReg::IIDR), 4, 0x01020123), Status::ok);
        EXPECT_EQ(h.its->restore_write(reg(GitsReg::IIDR), 4, 0x0102f123), Status::invalid_argument);
    }
}

TEST(ItsRestore, OrderAndRegisterRules) {
    Harness h;
    Harness::Regs r = image_regs(h);
    EXPECT_EQ(h.its->restore_write(reg(GitsReg::CREADR), 8, 0), Status::bad_order);  // CBASER first
    EXPECT_EQ(h.its->restore_tables(), Status::bad_order);                           // IIDR + BASERs first
    EXPECT_EQ(h.its->restore_write(reg(GitsReg::CTLR), 4, 1), Status::bad_order);    // CTLR last
    EXPECT_EQ(h.its->restore_write(reg(GitsReg::CBASER), 4, r.cbaser), Status::wrong_size);
    EXPECT_EQ(h.its->restore_write(0x200, 8, 0), Status::not_found);
    EXPECT_EQ(h.its->restore_write(reg(GitsReg::TRANSLATER), 4, 0), Status::not_found);
    EXPECT_EQ(h.its->restore_write(reg(GitsReg::TYPER), 8, 0), Status::invalid_argument);
    EXPECT_EQ(h.its->restore_write(reg(GitsReg::TYPER), 8, h.its->typer()), Status::ok);
    EXPECT_EQ(h.its->restore_write(reg(GitsReg::CBASER), 8, r.cbaser), Status::ok);
    EXPECT_EQ(h.its->restore_write(reg(GitsReg::CREADR), 8, kQueuePages * 4096), Status::invalid_argument);
    EXPECT_EQ(h.its->restore_write(reg(GitsReg::CREADR), 8, 0x40 | 1), Status::ok);  // offset + Stalled
    EXPECT_EQ(h.read(reg(GitsReg::CREADR)), 0x41u);
    EXPECT_TRUE(h.its->stalled());
    EXPECT_EQ(h.its->restore_write(reg(GitsReg::IIDR), 4, r.iidr), Status::ok);
    EXPECT_EQ(h.its->restore_write(reg(GitsReg::BASER0), 8, r.baser0), Status::ok);
    EXPECT_EQ(h.its->restore_tables(), Status::bad_order);  // BASER1 still missing
    EXPECT_EQ(h.its->restore_write(reg(GitsReg::BASER0) + 8, 8, r.baser1), Status::ok);
    EXPECT_EQ(h.its->restore_tables(), Status::ok);
    EXPECT_EQ(h.its->restore_phase(), RestorePhase::tables_restored);
    EXPECT_EQ(h.its->restore_write(reg(GitsReg::CTLR), 4, 1), Status::ok);
    EXPECT_TRUE(h.its->enabled());
    EXPECT_EQ(h.its->restore_write(reg(GitsReg::CBASER), 8, r.cbaser), Status::busy);
    EXPECT_EQ(h.its->restore_tables(), Status::busy);
    u64 v = 0;
    EXPECT_EQ(h.its->save_read(reg(GitsReg::IIDR), 8, v), Status::wrong_size);
    EXPECT_EQ(h.its->save_read(reg(GitsReg::PIDR2), 4, v), Status::ok);
    EXPECT_EQ(v, 0x3bu);
}

TEST(ItsReset, ReturnsToResetState) {
    Harness h;
    h.setup();
    h.mapd(1);
    h.cmds({Command::mapc(0, 1, true), Command::mapti(1, 0, 8192, 0)});
    h.its->reset();
    expect_empty(h);
    EXPECT_FALSE(h.its->enabled());
    EXPECT_EQ(h.read(reg(GitsReg::CBASER)), 0u);
    EXPECT_EQ(h.read(reg(GitsReg::CREADR)), 0u);
    EXPECT_EQ(h.read(reg(GitsReg::CWRITER)), 0u);
    EXPECT_EQ(baser::Valid::get(h.read(reg(GitsReg::BASER0))), 0u);
    EXPECT_EQ(baser::Type::get(h.read(reg(GitsReg::BASER0))), 1u);
    EXPECT_EQ(h.tr(1, 0).status(), Status::busy);
}

namespace {

// Hundreds of devices / events / collections with pending LPIs: save -> reset -> restore reproduces every
// translation. Devices at DeviceID d * 27, 16 events each, a varying subset mapped.
void round_trip(bool indirect) {
    Harness h;
    h.setup(indirect);
    if (indirect)  // level-1 entries for the first 16 level-2 pages of 64 KiB (DeviceIDs 0..2^17-1, DevBits caps)
        for (u64 i = 0; i < 16; ++i) h.poke64(kDevTable + i * 8, l1e::Valid::make(1) | (kL2Pages + i * kTablePage));
    constexpr u32 kDevices = 300;
    auto dev_id = [](u32 d) { return d * 27; };
    auto itt = [](u32 d) { return kItts + u64{d} * 256; };
    u32 n = 0;
    for (u32 c = 0; c < 100; ++c) {
        h.put(Command::mapc(c * 5, c % 4, c != 42));  // ICID 210 is never mapped
        if (++n % 64 == 0) h.kick();
    }
    u32 intid = 8192;
    for (u32 d = 0; d < kDevices; ++d) {
        h.put(Command::mapd(dev_id(d), itt(d), 3, true));
        for (u32 e = d % 3; e < 16; e += 1 + d % 4) {
            h.put(Command::mapti(dev_id(d), e, intid++, (d * 7 + e) % 100 * 5));
            if (intid % 11 == 0) h.put(Command::event_cmd(Opcode::INT, dev_id(d), e));
            if (++n % 64 == 0) h.kick();
        }
        if (++n % 64 == 0) h.kick();
    }
    h.kick();
    ASSERT_FALSE(h.its->stalled());
    ASSERT_EQ(h.creadr(), h.cwriter);
    ASSERT_GT(h.its->ite_count(), 1000u);
    ASSERT_EQ(h.its->collection_count(), 100u);

    std::map<std::pair<u32, u32>, std::pair<Status, std::pair<u32, u32>>> before;
    for (u32 d = 0; d < kDevices * 27 + 30; ++d)
        for (u32 e = 0; e < 17; ++e) {
            auto t = h.tr(d, e);
            if (t.status() != Status::not_found)
                before[{d, e}] = {t.status(),
                                  t.ok() ? std::make_pair(t.value().vcpu, t.value().intid) : std::make_pair(0u, 0u)};
        }
    auto pending = h.sink.pending();
    ASSERT_FALSE(pending.empty());
    usize ites = h.its->ite_count(), devs = h.its->device_count();
    auto live = h.obs.live;

    Harness::Regs regs = h.save_regs();
    ASSERT_EQ(h.its->save_tables(), Status::ok);
    h.its->reset();
    expect_empty(h);
    ASSERT_EQ(h.restore_regs_and_tables(regs), Status::ok);

    EXPECT_EQ(h.its->ite_count(), ites);
    EXPECT_EQ(h.its->device_count(), devs);
    EXPECT_EQ(h.obs.live, live);
    EXPECT_EQ(h.sink.pending(), pending);
    std::map<std::pair<u32, u32>, std::pair<Status, std::pair<u32, u32>>> after;
    for (u32 d = 0; d < kDevices * 27 + 30; ++d)
        for (u32 e = 0; e < 17; ++e) {
            auto t = h.tr(d, e);
            if (t.status() != Status::not_found)
                after[{d, e}] = {t.status(),
                                 t.ok() ? std::make_pair(t.value().vcpu, t.value().intid) : std::make_pair(0u, 0u)};
        }
    EXPECT_EQ(before, after);
    // A second save of the restored state is byte-identical to the first.
    std::vector<u8> first(h.ram);
    ASSERT_EQ(h.its->save_tables(), Status::ok);
    EXPECT_TRUE(first == h.ram);
}

}  // namespace

TEST(ItsRoundTrip, FlatDeviceTable) { round_trip(false); }
TEST(ItsRoundTrip, TwoLevelDeviceTable) { round_trip(true); }

// Mappings::clear after adds and removes leaves the same empty pool as a new one (slot 0 first again); a clear
// with nothing added since the last one is a no-op that keeps it so.
// clear() undoes only what was used since the last clear when that is little (at most kMaxItes / 8 ITE slots ever
// taken) and rewrites everything otherwise; both must leave a pool that allocates like a fresh one.
TEST(ItsMappings, ClearOfFewOrManyItesGivesBackAFreshPool) {
    for (u32 n : {3u, 200u, kMaxItes / 8, kMaxItes / 8 + 1, 3000u}) {
        auto m = std::make_unique<Mappings>();
        auto fresh = std::make_unique<Mappings>();
        for (int round = 0; round < 2; ++round) {
            Result<u16> d = m->add_device(100 + round, 0x1000, 16);
            Result<u16> d2 = m->add_device(7, 0x9000, 16);
            Result<u16> c = m->get_or_add_collection(40);
            ASSERT_TRUE(d.ok() && d2.ok() && c.ok());
            std::vector<u16> slots;
            for (u32 e = 0; e < n; ++e) {
                Result<u16> r = m->add_ite(e % 2 ? d.value() : d2.value(), e, 8192 + e % 1000, c.value());
                ASSERT_TRUE(r.ok());
                slots.push_back(r.value());
            }
            for (u32 e = 0; e < n; e += 3) m->remove_ite(slots[e]);  // holes in the free stack
            m->clear();
            EXPECT_EQ(m->device_count() + m->ite_count() + m->collection_count(), 0u);
            EXPECT_EQ(m->find_device(7), kNil);
            EXPECT_EQ(m->find_collection(40), kNil);
            for (u16 s = 0; s < Mappings::ite_slots(); ++s) ASSERT_FALSE(m->ite(s).used) << "n " << n;
            for (u16 s = 0; s < Mappings::device_slots(); ++s) ASSERT_FALSE(m->device(s).used);
            Result<u16> md = m->add_device(7, 0x2000, 16), fd = fresh->add_device(7, 0x2000, 16);
            Result<u16> mc = m->get_or_add_collection(40), fc = fresh->get_or_add_collection(40);
            ASSERT_TRUE(md.ok() && fd.ok() && mc.ok() && fc.ok());
            EXPECT_EQ(md.value(), fd.value());
            EXPECT_EQ(mc.value(), fc.value());
            for (u32 e = 0; e < n + 5; e += 2) {  // same slots in the same order, and no stale index entry
                EXPECT_EQ(m->find_ite(md.value(), e), kNil);
                Result<u16> a = m->add_ite(md.value(), e, 8192, mc.value());
                Result<u16> b = fresh->add_ite(fd.value(), e, 8192, fc.value());
                ASSERT_TRUE(a.ok() && b.ok());
                ASSERT_EQ(a.value(), b.value()) << "n " << n << " event " << e;
            }
            m->clear();
            fresh->clear();
        }
    }
}

TEST(ItsMappings, ClearGivesBackAFreshPool) {
    auto m = std::make_unique<Mappings>();
    auto fresh = std::make_unique<Mappings>();
    for (int round = 0; round < 2; ++round) {
        Result<u16> d = m->add_device(5, 0x1000, 4);
        ASSERT_TRUE(d.ok());
        Result<u16> c = m->get_or_add_collection(3);
        ASSERT_TRUE(c.ok());
        Result<u16> e1 = m->add_ite(d.value(), 1, 8192, c.value());
        Result<u16> e2 = m->add_ite(d.value(), 2, 8193, c.value());
        ASSERT_TRUE(e1.ok() && e2.ok());
        m->remove_ite(e1.value());  // the free stack now has e1 on top
        m->clear();
        m->clear();
        EXPECT_EQ(m->device_count() + m->ite_count() + m->collection_count(), 0u);
        EXPECT_EQ(m->find_device(5), kNil);
        EXPECT_EQ(m->find_collection(3), kNil);
        for (u16 s = 0; s < Mappings::ite_slots(); ++s) ASSERT_FALSE(m->ite(s).used);
        // Allocation order matches a new pool's.
        Result<u16> d2 = m->add_device(9, 0x2000, 2), fd = fresh->add_device(9, 0x2000, 2);
        Result<u16> c2 = m->get_or_add_collection(1), fc = fresh->get_or_add_collection(1);
        ASSERT_TRUE(d2.ok() && fd.ok() && c2.ok() && fc.ok());
        EXPECT_EQ(d2.value(), fd.value());
        Result<u16> e3 = m->add_ite(d2.value(), 0, 8200, c2.value()),
                    fe = fresh->add_ite(fd.value(), 0, 8200, fc.value());
        ASSERT_TRUE(e3.ok() && fe.ok());
        EXPECT_EQ(e3.value(), fe.value());
        m->clear();
        fresh->clear();
    }
}

// Found by the fuzz campaign (its_commands, 1.7 M executions in): MAPC/MAPTI, ITS disabled, GITS_BASER1.Valid
// cleared. The collection stays while an ITE names it (unmapped, as KVM's free of the collection list leaves the
// ITE without a target); a save that skipped the collections wrote an ITE whose ICID no restore could find
// ("corrupt"). Now the save fails and the ITS keeps its state. Clearing GITS_BASER0.Valid drops the devices.
TEST(ItsSave, CollectionsWithoutTheirTableFailTheSaveAndKeepTheState) {
    for (bool device_table : {false, true}) {
        Harness h;
        h.setup();
        h.mapd(1, 4);
        h.cmds({Command::mapc(2, 0, true), Command::mapti(1, 0, 8200, 2)});
        h.expect_tr(1, 0, 0, 8200);
        h.write(reg(GitsReg::CTLR), 0, 4);
        const u32 baser = reg(GitsReg::BASER0) + (device_table ? 0 : 8);
        h.write(baser, baser::Valid::set(h.read(baser), 0));
        if (device_table) {
            EXPECT_EQ(h.its->device_count(), 0u);
            EXPECT_EQ(h.its->ite_count(), 0u);
            EXPECT_EQ(h.its->save_tables(), Status::ok);
            continue;
        }
        EXPECT_EQ(h.its->save_tables(), Status::invalid_argument);
        EXPECT_EQ(h.its->device_count(), 1u);
        EXPECT_EQ(h.its->ite_count(), 1u);
        EXPECT_EQ(h.its->collection_count(), 1u);
        // With a valid table again the same state saves and restores.
        h.write(baser, baser::Valid::set(h.read(baser), 1));
        EXPECT_EQ(h.its->save_tables(), Status::ok);
        Harness::Regs r = h.save_regs();
        h.its->reset();
        EXPECT_EQ(h.restore_regs_and_tables(r), Status::ok);
        EXPECT_EQ(h.its->ite_count(), 1u);
    }
}

// A queue saved between two batches (more than kCommandsPerTrap commands were waiting) restores as saved: the GITS_CTLR
// restore enables the ITS without running a batch, so GITS_CREADR saves as it was restored (restore + save is a fixed
// point; the snapshot fuzz target found the restore moving it on by one batch each time), and the waiting commands
// are the backlog the guest entries work through.
TEST(ItsRestore, WaitingCommandsAreRestoredAsSavedAndLeftToTheBacklog) {
    Harness h;
    const Harness::Regs r = image_regs(h);
    constexpr u64 kWaiting = 3 * kCommandsPerTrap;
    for (u64 i = 0; i < kWaiting; ++i) h.put(Command::event_cmd(Opcode::INT, 1, 0));  // unmapped: each is ignored
    ASSERT_EQ(h.its->restore_write(reg(GitsReg::CBASER), 8, r.cbaser), Status::ok);
    ASSERT_EQ(h.its->restore_write(reg(GitsReg::CREADR), 8, 0), Status::ok);
    ASSERT_EQ(h.its->restore_write(reg(GitsReg::CWRITER), 8, kWaiting * 32), Status::ok);
    ASSERT_EQ(h.its->restore_write(reg(GitsReg::IIDR), 4, r.iidr), Status::ok);
    ASSERT_EQ(h.its->restore_write(reg(GitsReg::BASER0), 8, r.baser0), Status::ok);
    ASSERT_EQ(h.its->restore_write(reg(GitsReg::BASER0) + 8, 8, r.baser1), Status::ok);
    ASSERT_EQ(h.its->restore_tables(), Status::ok);
    ASSERT_EQ(h.its->restore_write(reg(GitsReg::CTLR), 4, 1), Status::ok);
    u64 creadr = 1;
    ASSERT_EQ(h.its->save_read(reg(GitsReg::CREADR), 8, creadr), Status::ok);
    EXPECT_EQ(creadr, 0u) << "restored as saved: no batch ran";
    EXPECT_TRUE(h.its->has_backlog());
    h.its->process_backlog();  // a guest entry
    ASSERT_EQ(h.its->save_read(reg(GitsReg::CREADR), 8, creadr), Status::ok);
    EXPECT_EQ(creadr, kCommandsPerTrap * 32);
    h.its->process_backlog();
    h.its->process_backlog();
    EXPECT_FALSE(h.its->has_backlog());
}

// Found by the snapshot fuzz target (tests/fuzz/corpus/snapshot/its_tables_overlap): everything SAVE_TABLES writes
// must be disjoint (IHI0069H 12.19.1 calls overlapping tables UNPREDICTABLE), else the save writes one table over
// another and produces an image no restore accepts. The restore refuses such a state (invalid_argument) and the
// save fails on a live ITS that built one, writing nothing.
namespace {

// The reference image moved so that GITS_BASER0 (2 pages) runs over GITS_BASER1 (the page after the first): the
// device table's scan stops at device 5 (next == 0), so before the rule the CTEs were also read as DTEs unseen.
void build_overlapping_image(Harness& h, Harness::Regs& r) {
    build_image(h);
    const u64 coll = kDevTable + kTablePage;
    for (u64 i = 0; i < 3; ++i) h.poke64(coll + i * 8, h.peek64(kCollTable + i * 8));
    r.baser0 = Harness::baser_value(kDevTable, 2);
    r.baser1 = Harness::baser_value(coll, 1);
}

void expect_overlap_refused(Harness& h, const Harness::Regs& r, const char* first, const char* second) {
    const std::vector<u8> ram = h.ram;
    hvtest::captured_log().clear();
    EXPECT_EQ(h.restore_regs_and_tables(r), Status::invalid_argument);
    expect_empty(h);
    EXPECT_EQ(h.obs.maps, 0) << "the observer heard of a mapping of a refused restore";
    EXPECT_FALSE(h.its->enabled());
    EXPECT_EQ(h.tr(2, 0).status(), Status::busy);
    EXPECT_TRUE(ram == h.ram);
    const std::string& log = hvtest::captured_log();
    EXPECT_NE(log.find("RESTORE_TABLES refused"), std::string::npos) << log;
    EXPECT_NE(log.find(first), std::string::npos) << log;
    EXPECT_NE(log.find(second), std::string::npos) << log;
}

}  // namespace

TEST(ItsRestore, DeviceTableOverlappingCollectionTableRefused) {
    Harness h;
    Harness::Regs r = image_regs(h);
    build_overlapping_image(h, r);
    expect_overlap_refused(h, r, "device table [0x40100000, 0x40120000)", "collection table [0x40110000, 0x40120000)");
    // The same image with the collection table moved back out restores.
    Harness good;
    build_image(good);
    EXPECT_EQ(good.restore_regs_and_tables(image_regs(good)), Status::ok);
    EXPECT_EQ(good.its->ite_count(), 3u);
}

TEST(ItsRestore, IttOverlappingDeviceTableRefused) {
    // Device 5's ITT (4 events, 32 bytes) inside the device table, over the invalid DTEs of IDs 32..35.
    Harness h;
    build_image(h);
    const u64 itt = kDevTable + 32 * 8;
    h.poke64(kDevTable + 5 * 8, hv::its::abi::dte::make(0, itt, 1));
    h.poke64(itt_for(5) + 3 * 8, 0);
    h.poke64(itt + 3 * 8, hv::its::abi::ite::make(0, 9000, 3));  // read as a DTE: V == 0, invalid
    expect_overlap_refused(h, image_regs(h), "ITT of DeviceID 5 [0x40100100, 0x40100120)", "device table");
    // And two devices sharing one ITT (device 5 reads device 2's ITEs: valid, two events may name one LPI).
    Harness s;
    build_image(s);
    s.poke64(kDevTable + 5 * 8, hv::its::abi::dte::make(0, itt_for(2), 3));
    s.poke64(itt_for(5) + 3 * 8, 0);
    expect_overlap_refused(s, image_regs(s), "ITT of DeviceID 2", "ITT of DeviceID 5");
}

TEST(ItsSave, OverlappingLiveTablesFailTheSaveAndWriteNothing) {
    enum class Layout { device_over_collection, itt_over_collection, level2_over_collection, level2_over_level1 };
    for (Layout layout : {Layout::device_over_collection, Layout::itt_over_collection, Layout::level2_over_collection,
                          Layout::level2_over_level1}) {
        SCOPED_TRACE(static_cast<int>(layout));
        Harness h;
        const bool indirect = layout == Layout::level2_over_collection || layout == Layout::level2_over_level1;
        h.setup(indirect);
        h.write(reg(GitsReg::CTLR), 0, 4);  // BASERs are written while disabled, as drivers do
        if (layout == Layout::device_over_collection)
            h.write(reg(GitsReg::BASER0), Harness::baser_value(kCollTable - kTablePage, 2));
        if (indirect)  // level-1 entry 0 names the collection table's page, or the level-1 table's own
            h.poke64(kDevTable,
                     l1e::Valid::make(1) | (layout == Layout::level2_over_collection ? kCollTable : kDevTable));
        h.write(reg(GitsReg::CTLR), 1, 4);
        ASSERT_TRUE(h.its->enabled());
        const u64 itt = layout == Layout::itt_over_collection ? kCollTable + 0x1000 : itt_for(1);
        h.cmds({Command::mapd(1, itt, 3, true), Command::mapc(2, 0, true), Command::mapti(1, 0, 8200, 2)});
        h.expect_tr(1, 0, 0, 8200);
        const std::vector<u8> ram = h.ram;
        EXPECT_EQ(h.its->save_tables(), Status::invalid_argument);
        EXPECT_TRUE(ram == h.ram) << "a refused save wrote guest RAM";
        EXPECT_EQ(h.its->device_count(), 1u);  // the live state is kept
        EXPECT_EQ(h.its->ite_count(), 1u);
        h.expect_tr(1, 0, 0, 8200);
        EXPECT_NE(hvtest::captured_log().find("SAVE_TABLES refused"), std::string::npos);
    }
}

// Tables and ITTs that touch but do not overlap (each ends where the next begins) still save, restore and save
// again byte-identically: the rule is on half-open ranges.
TEST(ItsRoundTrip, AdjacentDisjointTables) {
    Harness h;
    h.write(reg(GitsReg::CBASER), cbaser::Valid::make(1) | kQueue | (kQueuePages - 1));
    h.write(reg(GitsReg::BASER0), Harness::baser_value(kDevTable, 1));
    h.write(reg(GitsReg::BASER0) + 8, Harness::baser_value(kDevTable + kTablePage, 1));
    h.write(reg(GitsReg::CTLR), 1, 4);
    h.cwriter = h.read(reg(GitsReg::CWRITER));
    const u64 itts = kDevTable + 2 * kTablePage;  // 32-event ITTs (256 bytes) back to back after the tables
    h.cmds({Command::mapd(3, itts, 4, true), Command::mapd(4, itts + 256, 4, true), Command::mapc(1, 2, true),
            Command::mapti(3, 31, 8192, 1), Command::mapti(4, 0, 8193, 1)});
    Harness::Regs regs = h.save_regs();
    ASSERT_EQ(h.its->save_tables(), Status::ok);
    const std::vector<u8> saved = h.ram;
    h.its->reset();
    ASSERT_EQ(h.restore_regs_and_tables(regs), Status::ok);
    h.expect_tr(3, 31, 2, 8192);
    h.expect_tr(4, 0, 2, 8193);
    ASSERT_EQ(h.its->save_tables(), Status::ok);
    EXPECT_TRUE(saved == h.ram);
}
