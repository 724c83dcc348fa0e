// MsiShadow: the (DeviceID, EventID) -> host LPI mirror of passed-through devices, driven by the real virtual ITS
// model (its::Its) through the observer interface, against a fake physical ITS that records its state.
#include "core/msi_shadow.hpp"

#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "tests/unit/its/its_harness.hpp"

namespace {

using namespace hv;
using its::Command;
using its::Opcode;
using itstest::Harness;

// The physical ITS as the shadow sees it: devices, and (dev, ev) -> (host LPI, pCPU).
class FakePhysIts final : public PhysicalItsOps {
public:
    Status map_device(u32 dev, u32 bits) override {
        ++calls;
        if (fail_map_device) return Status::timeout;
        if (dev >= device_limit) return Status::out_of_range;
        EXPECT_EQ(devices.count(dev), 0u) << "MAPD of an already mapped device " << dev;
        devices[dev] = bits;
        return Status::ok;
    }
    Status unmap_device(u32 dev) override {
        ++calls;
        EXPECT_EQ(devices.count(dev), 1u);
        for (auto& e : events) EXPECT_NE(e.first.first, dev) << "MAPD V=0 with live events";
        devices.erase(dev);
        return Status::ok;
    }
    Status map_event(u32 dev, u32 ev, u32 lpi, u32 pcpu) override {
        ++calls;
        if (during_phys_call) during_phys_call();
        if (fail_map_event) return Status::timeout;
        EXPECT_EQ(devices.count(dev), 1u) << "MAPTI on an unmapped device";
        EXPECT_LT(ev, 1u << devices[dev]) << "EventID beyond the ITT";
        EXPECT_EQ(events.count({dev, ev}), 0u);
        EXPECT_EQ(lpis.count(lpi), 0u) << "host LPI " << lpi << " handed out twice";
        events[{dev, ev}] = {lpi, pcpu};
        lpis.insert(lpi);
        return Status::ok;
    }
    Status unmap_event(u32 dev, u32 ev, u32 lpi) override {
        ++calls;
        if (fail_unmap_event) return Status::timeout;
        if (vlpis.erase({dev, ev}) == 1) return Status::ok;  // DISCARD of a vLPI (direct mode)
        auto it = events.find({dev, ev});
        EXPECT_TRUE(it != events.end());
        if (it != events.end()) {
            EXPECT_EQ(it->second.first, lpi);
            events.erase(it);
        }
        lpis.erase(lpi);
        return Status::ok;
    }
    Status move_event(u32 dev, u32 ev, u32 pcpu) override {
        ++calls;
        ++moves;
        auto it = events.find({dev, ev});
        EXPECT_TRUE(it != events.end());
        if (it != events.end()) it->second.second = pcpu;
        return Status::ok;
    }

    // GICv4 direct mode: (dev, ev) -> (vINTID, vPE), and the INT/CLEAR/INV/VINVALL commands issued.
    Status map_vlpi(u32 dev, u32 ev, u32 vintid, u32 vcpu) override {
        ++calls;
        EXPECT_EQ(devices.count(dev), 1u) << "VMAPTI on an unmapped device";
        EXPECT_EQ(vlpis.count({dev, ev}), 0u) << "VMAPTI of a mapped event";
        vlpis[{dev, ev}] = {vintid, vcpu};
        return Status::ok;
    }
    Status move_vlpi(u32 dev, u32 ev, u32 vcpu) override {
        ++calls;
        ++moves;
        auto it = vlpis.find({dev, ev});
        EXPECT_TRUE(it != vlpis.end());
        if (it != vlpis.end()) it->second.second = vcpu;
        return Status::ok;
    }
    Status set_vlpi_pending(u32 dev, u32 ev, bool pending) override {
        ++calls;
        EXPECT_EQ(vlpis.count({dev, ev}), 1u);
        log.push_back(std::string(pending ? "INT " : "CLEAR ") + std::to_string(dev) + "/" + std::to_string(ev));
        return Status::ok;
    }
    Status invalidate_vlpi(u32 dev, u32 ev) override {
        ++calls;
        log.push_back("INV " + std::to_string(dev) + "/" + std::to_string(ev));
        return Status::ok;
    }
    Status invalidate_vpe(u32 vcpu) override {
        ++calls;
        log.push_back("VINVALL " + std::to_string(vcpu));
        return Status::ok;
    }

    std::map<std::pair<u32, u32>, std::pair<u32, u32>> vlpis;  // (dev, ev) -> (vINTID, vPE)
    std::vector<std::string> log;
    std::map<u32, u32> devices;                                 // dev -> event bits
    std::map<std::pair<u32, u32>, std::pair<u32, u32>> events;  // (dev, ev) -> (lpi, pcpu)
    std::set<u32> lpis;
    u32 device_limit = 0x10000;
    bool fail_map_device = false, fail_map_event = false, fail_unmap_event = false;
    int calls = 0, moves = 0;
    std::function<void()> during_phys_call;  // runs while the shadow waits on the "physical ITS"
};

// Forwards the virtual ITS's observer calls to the shadow (what arch/aarch64/msi_passthrough does).
class ShadowObserver final : public its::ItsObserver {
public:
    explicit ShadowObserver(MsiShadow& s) : s_(s) {}
    void on_map(u32 dev, u32 ev, u32 intid, u32 vcpu) override { s_.on_map(dev, ev, intid, vcpu); }
    void on_unmap(u32 dev, u32 ev, u32 intid) override { s_.on_unmap(dev, ev, intid); }
    bool on_set_pending(u32 dev, u32 ev, bool pending) override { return s_.on_set_pending(dev, ev, pending); }
    void on_invalidate(u32 dev, u32 ev) override { s_.on_invalidate(dev, ev); }
    void on_invalidate_all(u32 vcpu) override { s_.on_invalidate_all(vcpu); }

private:
    MsiShadow& s_;
};

constexpr u32 kPtFirst = 0x08, kPtCount = 0x100;  // passthrough DeviceIDs 0x08..0x107
constexpr u32 kVirtualDev = 0x1000;               // not passthrough

struct Fixture : ::testing::Test {
    Fixture() : obs(shadow) {}
    void SetUp() override { init_shadow(MsiShadow::kMaxShadows); }
    void init_shadow(u32 cap, bool direct = false) {
        MsiShadow::Config cfg;
        cfg.direct = direct;
        cfg.vlpi_limit = 1u << 14;
        ASSERT_EQ(cfg.passthrough.push_back({kPtFirst, kPtCount}), Status::ok);
        cfg.cap = cap;
        cfg.vcpu_count = 4;
        for (u32 i = 0; i < 4; ++i) cfg.vcpu_pcpu[i] = (i + 1) % 4;  // vCPU i on pCPU i+1 (mod 4)
        ASSERT_EQ(shadow.init(cfg, phys), Status::ok);
        h.its->set_observer(&obs);
        h.setup();
        // Collections 0..3 -> vCPUs 0..3.
        for (u32 c = 0; c < 4; ++c) h.cmd(Command::mapc(c, c, true));
    }
    u32 pcpu_of_vcpu(u32 v) { return (v + 1) % 4; }

    // Deliver a host LPI the way the EL2 handler does: lookup + virtual ITS signal.
    Status deliver(u32 host_lpi) {
        auto e = shadow.lookup(host_lpi);
        if (!e.ok()) return e.status();
        return h.its->signal_msi(e.value().device_id, e.value().event_id);
    }

    Harness h;
    FakePhysIts phys;
    MsiShadow shadow;
    ShadowObserver obs;
};

TEST(PassthroughDeviceIds, MsiMapClippedToTheBusRange) {
    PcieInfo p;
    p.present = true;
    p.bus_start = 0;
    p.bus_end = 0xff;
    ASSERT_EQ(p.msi_map.push_back({0, 0x55, 0, 0x10000}), Status::ok);       // QEMU virt: identity, whole RID space
    ASSERT_EQ(p.msi_map.push_back({0, 0x66, 0x8000, 0x10000}), Status::ok);  // another ITS: ignored
    auto r = passthrough_device_ids(p, 0x55);
    ASSERT_EQ(r.size(), 1u);
    EXPECT_EQ(r[0].first, 0u);
    EXPECT_EQ(r[0].count, 0x10000u);  // buses 0..255
    p.bus_start = 2;
    p.bus_end = 3;
    r = passthrough_device_ids(p, 0x66);
    ASSERT_EQ(r.size(), 1u);
    EXPECT_EQ(r[0].first, 0x8000u + 0x200u);  // DeviceID = msi_base + (rid - rid_base)
    EXPECT_EQ(r[0].count, 0x200u);
    EXPECT_TRUE(r[0].contains(0x8200));
    EXPECT_FALSE(r[0].contains(0x8400));
    EXPECT_EQ(passthrough_device_ids(p, 0x77).size(), 0u);
}

TEST(PassthroughDeviceIds, MsiParentIsTheIdentity) {
    PcieInfo p;
    p.present = true;
    p.bus_start = 1;
    p.bus_end = 1;
    p.msi_parent = 9;
    auto r = passthrough_device_ids(p, 9);
    ASSERT_EQ(r.size(), 1u);
    EXPECT_EQ(r[0].first, 0x100u);
    EXPECT_EQ(r[0].count, 0x100u);
    p.present = false;
    EXPECT_EQ(passthrough_device_ids(p, 9).size(), 0u);
}

TEST(MsiShadowInit, RejectsBadConfig) {
    FakePhysIts phys;
    MsiShadow s;
    MsiShadow::Config cfg;
    cfg.cap = 0;
    EXPECT_EQ(s.init(cfg, phys), Status::invalid_argument);
    cfg.cap = MsiShadow::kMaxShadows + 1;
    EXPECT_EQ(s.init(cfg, phys), Status::invalid_argument);
    cfg.cap = 8;
    cfg.host_lpi_base = 100;  // not an LPI
    EXPECT_EQ(s.init(cfg, phys), Status::invalid_argument);
    cfg.host_lpi_base = 8192;
    cfg.vcpu_count = 0;
    EXPECT_EQ(s.init(cfg, phys), Status::invalid_argument);
}

TEST_F(Fixture, MappingAPassthroughEventCreatesAShadowAndDeliversToTheTargetVcpu) {
    h.mapd(0x10);
    h.cmd(Command::mapti(0x10, 3, 8200, 2));
    ASSERT_EQ(shadow.shadow_count(), 1u);
    ASSERT_EQ(phys.devices.count(0x10), 1u);
    const u32 lpi = shadow.host_lpi_of(0x10, 3);
    ASSERT_GE(lpi, 8192u);
    ASSERT_EQ(phys.events.count({0x10, 3}), 1u);
    EXPECT_EQ(phys.events[std::make_pair(0x10u, 3u)].first, lpi);
    EXPECT_EQ(phys.events[std::make_pair(0x10u, 3u)].second, pcpu_of_vcpu(2));

    auto e = shadow.lookup(lpi);
    ASSERT_TRUE(e.ok());
    EXPECT_EQ(e.value().device_id, 0x10u);
    EXPECT_EQ(e.value().event_id, 3u);
    ASSERT_EQ(deliver(lpi), Status::ok);
    EXPECT_EQ(h.sink.pending().count({2u, 8200u}), 1u);
    // An LPI that is not ours, or one of ours with no shadow, goes nowhere.
    EXPECT_EQ(shadow.lookup(lpi + 1).status(), Status::not_found);
    EXPECT_EQ(shadow.lookup(8191).status(), Status::not_found);
    EXPECT_EQ(shadow.lookup(0xffffffffu).status(), Status::not_found);
}

TEST_F(Fixture, NonPassthroughDeviceStaysVirtual) {
    h.mapd(kVirtualDev);
    h.cmd(Command::mapti(kVirtualDev, 1, 8300, 0));
    h.expect_tr(kVirtualDev, 1, 0, 8300);
    EXPECT_EQ(shadow.shadow_count(), 0u);
    EXPECT_EQ(phys.calls, 0);
    EXPECT_GE(shadow.stats().virtual_only, 1u);
    h.cmd(Command::event_cmd(Opcode::DISCARD, kVirtualDev, 1));
    EXPECT_EQ(phys.calls, 0);
}

TEST_F(Fixture, MoviRetargetsTheHostLpi) {
    h.mapd(0x10);
    h.cmd(Command::mapti(0x10, 0, 8200, 0));
    ASSERT_EQ(phys.events[std::make_pair(0x10u, 0u)].second, pcpu_of_vcpu(0));
    h.cmd(Command::movi(0x10, 0, 3));
    EXPECT_EQ(phys.events[std::make_pair(0x10u, 0u)].second, pcpu_of_vcpu(3));
    EXPECT_EQ(shadow.pcpu_of(0x10, 0), pcpu_of_vcpu(3));
    EXPECT_EQ(phys.moves, 1);
    ASSERT_EQ(deliver(shadow.host_lpi_of(0x10, 0)), Status::ok);
    EXPECT_EQ(h.sink.pending().count({3u, 8200u}), 1u);
    // MOVI to a collection on the same vCPU: no physical command.
    h.cmd(Command::mapc(7, 3, true));
    h.cmd(Command::movi(0x10, 0, 7));
    EXPECT_EQ(phys.moves, 1);
}

TEST_F(Fixture, MapcRemapMovesEveryShadowOfTheCollection) {
    h.mapd(0x10);
    h.mapd(0x18);
    h.cmd(Command::mapti(0x10, 0, 8200, 1));
    h.cmd(Command::mapti(0x18, 4, 8201, 1));
    h.cmd(Command::mapc(1, 2, true));  // collection 1: vCPU 1 -> vCPU 2
    EXPECT_EQ(shadow.pcpu_of(0x10, 0), pcpu_of_vcpu(2));
    EXPECT_EQ(shadow.pcpu_of(0x18, 4), pcpu_of_vcpu(2));
    // MAPC V=0: the collection is unmapped (kNoVcpu): physical target kept, translations dropped.
    h.cmd(Command::mapc(1, 0, false));
    EXPECT_EQ(shadow.pcpu_of(0x10, 0), pcpu_of_vcpu(2));
    EXPECT_EQ(shadow.shadow_count(), 2u);
    EXPECT_NE(deliver(shadow.host_lpi_of(0x10, 0)), Status::ok);
}

TEST_F(Fixture, DiscardAndMapdInvalidateRemoveShadowsAndDevices) {
    h.mapd(0x10);
    for (u32 ev = 0; ev < 8; ++ev) h.cmd(Command::mapti(0x10, ev, 8200 + ev, ev % 4));
    EXPECT_EQ(shadow.shadow_count(), 8u);
    const u32 lpi0 = shadow.host_lpi_of(0x10, 0);
    h.cmd(Command::event_cmd(Opcode::DISCARD, 0x10, 0));
    EXPECT_EQ(shadow.shadow_count(), 7u);
    EXPECT_EQ(phys.events.count({0x10, 0}), 0u);
    EXPECT_EQ(shadow.lookup(lpi0).status(), Status::not_found);
    h.cmd(Command::mapd(0x10, 0, 0, false));  // MAPD V=0
    EXPECT_EQ(shadow.shadow_count(), 0u);
    EXPECT_TRUE(phys.events.empty());
    EXPECT_TRUE(phys.devices.empty());
    EXPECT_EQ(shadow.device_count(), 0u);
    // Host LPIs are reused after the unmap.
    h.mapd(0x10);
    h.cmd(Command::mapti(0x10, 5, 8300, 0));
    EXPECT_EQ(shadow.host_lpi_of(0x10, 5), lpi0);
}

TEST_F(Fixture, EventIdsBeyondTheShadowBoundStayVirtual) {
    h.mapd(0x10, 14);
    const u32 big = 1u << MsiShadow::kEventBits;
    h.cmd(Command::mapti(0x10, big, 8200, 0));
    h.expect_tr(0x10, big, 0, 8200);
    EXPECT_EQ(shadow.shadow_count(), 0u);
    EXPECT_TRUE(phys.events.empty());
    h.cmd(Command::mapti(0x10, big - 1, 8201, 0));
    EXPECT_EQ(shadow.shadow_count(), 1u);
}

TEST_F(Fixture, PerVmCapIsEnforcedAndFreedSlotsAreReused) {
    h.its->reset();
    init_shadow(4);
    h.mapd(0x10);
    for (u32 ev = 0; ev < 6; ++ev) h.cmd(Command::mapti(0x10, ev, 8200 + ev, 0));
    EXPECT_EQ(shadow.shadow_count(), 4u);
    EXPECT_EQ(phys.events.size(), 4u);
    EXPECT_EQ(shadow.stats().refused_cap, 2u);
    for (u32 ev = 0; ev < 6; ++ev) h.expect_tr(0x10, ev, 0, 8200 + ev);  // all still virtual-mapped
    // Out-of-range host LPIs for this cap are not ours.
    EXPECT_EQ(shadow.lookup(8192 + 4).status(), Status::not_found);
    h.cmd(Command::event_cmd(Opcode::DISCARD, 0x10, 1));
    h.cmd(Command::mapti(0x10, 9, 8209, 0));
    EXPECT_EQ(shadow.shadow_count(), 4u);
    EXPECT_NE(shadow.host_lpi_of(0x10, 9), 0u);
}

TEST_F(Fixture, PhysicalFailuresKeepTheMappingVirtualAndQuarantineStaleLpis) {
    h.mapd(0x10);
    phys.fail_map_event = true;
    h.cmd(Command::mapti(0x10, 0, 8200, 0));
    h.expect_tr(0x10, 0, 0, 8200);
    EXPECT_EQ(shadow.shadow_count(), 0u);
    EXPECT_TRUE(phys.devices.empty()) << "device released after a failed MAPTI";
    phys.fail_map_event = false;
    phys.fail_map_device = true;
    h.cmd(Command::mapti(0x10, 1, 8201, 0));
    EXPECT_EQ(shadow.shadow_count(), 0u);
    phys.fail_map_device = false;

    h.cmd(Command::mapti(0x10, 2, 8202, 0));
    const u32 lpi = shadow.host_lpi_of(0x10, 2);
    ASSERT_NE(lpi, 0u);
    phys.fail_unmap_event = true;
    h.cmd(Command::event_cmd(Opcode::DISCARD, 0x10, 2));
    phys.fail_unmap_event = false;
    EXPECT_EQ(shadow.shadow_count(), 0u);
    EXPECT_EQ(shadow.lookup(lpi).status(), Status::not_found);
    h.cmd(Command::mapti(0x10, 3, 8203, 0));
    EXPECT_NE(shadow.host_lpi_of(0x10, 3), lpi) << "a quarantined LPI was handed out again";
    EXPECT_GE(shadow.stats().phys_errors, 3u);
}

// Found by fuzz_msi_shadow: after a failed DISCARD the physical ITS may still map (dev, ev) to the quarantined LPI, so
// the guest mapping the same EventID again must not issue a second MAPTI for it; it stays virtual.
TEST_F(Fixture, AnEventWithAQuarantinedPhysicalMappingIsNotMappedTwice) {
    h.mapd(0x10);
    h.cmd(Command::mapti(0x10, 2, 8202, 0));
    const u32 lpi = shadow.host_lpi_of(0x10, 2);
    ASSERT_NE(lpi, 0u);
    const usize before = phys.events.size();
    phys.fail_unmap_event = true;
    h.cmd(Command::event_cmd(Opcode::DISCARD, 0x10, 2));
    phys.fail_unmap_event = false;
    h.cmd(Command::mapti(0x10, 2, 8204, 0));
    h.expect_tr(0x10, 2, 0, 8204);
    EXPECT_EQ(shadow.host_lpi_of(0x10, 2), 0u);
    EXPECT_EQ(phys.events.size(), before) << "no second physical MAPTI of a still-mapped EventID";
}

TEST_F(Fixture, DeviceIdsBeyondThePhysicalTablesStayVirtual) {
    phys.device_limit = 0x20;
    h.mapd(0x100);
    h.cmd(Command::mapti(0x100, 0, 8200, 0));
    h.expect_tr(0x100, 0, 0, 8200);
    EXPECT_EQ(shadow.shadow_count(), 0u);
}

TEST_F(Fixture, ResetAndBaserInvalidationDropEverything) {
    for (u32 d = 0; d < 4; ++d) {
        h.mapd(0x10 + d);
        h.cmd(Command::mapti(0x10 + d, 0, 8200 + d, d));
    }
    EXPECT_EQ(shadow.shadow_count(), 4u);
    EXPECT_EQ(shadow.device_count(), 4u);
    h.its->reset();
    EXPECT_EQ(shadow.shadow_count(), 0u);
    EXPECT_TRUE(phys.events.empty());
    EXPECT_TRUE(phys.devices.empty());
    // clear() is idempotent and safe with nothing mapped.
    shadow.clear();
    EXPECT_EQ(shadow.shadow_count(), 0u);
}

TEST_F(Fixture, ClearDropsLiveShadows) {
    h.mapd(0x10);
    h.cmd(Command::mapti(0x10, 0, 8200, 0));
    shadow.clear();
    EXPECT_EQ(shadow.shadow_count(), 0u);
    EXPECT_TRUE(phys.events.empty());
    EXPECT_TRUE(phys.devices.empty());
}

// Random command streams: the fake physical ITS must always equal the shadowable subset of the virtual ITS's
// mappings, and every host LPI must deliver to exactly the translation the virtual ITS gives.
TEST_F(Fixture, RandomCommandStreamsKeepTheShadowExact) {
    h.its->reset();
    init_shadow(64);
    std::mt19937 rng(1234);
    const u32 devs[] = {0x08, 0x10, 0x18, 0x20, kVirtualDev, 0x1008};
    for (int round = 0; round < 4000; ++round) {
        const u32 dev = devs[rng() % 6];
        const u32 ev = rng() % 40;
        const u32 icid = rng() % 6;
        switch (rng() % 8) {
            case 0:
                h.cmd(Command::mapd(dev, itstest::itt_for(dev), 5, rng() % 4 != 0));
                break;
            case 1:
            case 2:
                h.cmd(Command::mapti(dev, ev, 8192 + rng() % 2000, icid));
                break;
            case 3:
                h.cmd(Command::movi(dev, ev, icid));
                break;
            case 4:
                h.cmd(Command::event_cmd(Opcode::DISCARD, dev, ev));
                break;
            case 5:
                h.cmd(Command::mapc(icid, rng() % 4, rng() % 5 != 0));
                break;
            case 6:
                h.cmd(Command::mapi(dev, ev, icid));
                break;
            default: {
                Command junk;
                junk.dw[0] = rng() | (u64{rng()} << 32);
                junk.dw[1] = rng();
                junk.dw[2] = rng() | (u64{rng()} << 32);
                h.cmd(junk);
                break;
            }
        }
    }
    // Invariants.
    EXPECT_EQ(phys.events.size(), shadow.shadow_count());
    EXPECT_LE(shadow.shadow_count(), 64u);
    for (auto& [key, val] : phys.events) {
        const auto [dev, ev] = key;
        EXPECT_TRUE(shadow.is_passthrough(dev));
        EXPECT_EQ(shadow.host_lpi_of(dev, ev), val.first);
        auto t = h.its->translate(dev, ev);
        if (!t.ok()) {
            // Only an unmapped collection may leave a shadow without a translation.
            EXPECT_EQ(t.status(), Status::invalid_argument) << dev << "/" << ev;
            continue;
        }
        EXPECT_EQ(val.second, pcpu_of_vcpu(t.value().vcpu));
        h.sink.clear_pending();
        ASSERT_EQ(deliver(val.first), Status::ok);
        EXPECT_EQ(h.sink.pending().count({t.value().vcpu, t.value().intid}), 1u);
    }
    for (u32 ev = 0; ev < 40; ++ev)
        for (u32 dev : {0x08u, 0x10u, 0x18u, 0x20u}) {
            const bool virt = h.its->translate(dev, ev).status() != Status::not_found;
            if (!virt) {
                EXPECT_EQ(phys.events.count({dev, ev}), 0u) << "stale shadow " << dev << "/" << ev;
            }
        }
    for (auto& [dev, bits] : phys.devices) {
        bool any = false;
        for (auto& e : phys.events) any |= e.first.first == dev;
        EXPECT_TRUE(any) << "physical device " << dev << " mapped with no events";
    }
}

// docs/isolation.md: a host LPI never waits for a mapping change that is talking to the physical ITS. While a MAPTI
// is in the physical ITS (the shadow's lock held), the host-LPI path still resolves another live shadow -- if lookup()
// took that lock this would spin for ever.
TEST_F(Fixture, HostLpiLookupDoesNotWaitForAPhysicalItsCall) {
    h.mapd(0x10, 4);
    h.cmd(Command::mapti(0x10, 1, 8300, 1));
    const u32 lpi = shadow.host_lpi_of(0x10, 1);
    ASSERT_NE(lpi, 0u);
    int looked_up = 0;
    phys.during_phys_call = [&] {
        auto e = shadow.lookup(lpi);
        ASSERT_TRUE(e.ok());
        EXPECT_EQ(e.value().device_id, 0x10u);
        EXPECT_EQ(e.value().event_id, 1u);
        ++looked_up;
    };
    h.cmd(Command::mapti(0x10, 2, 8301, 1));
    phys.during_phys_call = nullptr;
    EXPECT_EQ(looked_up, 1);
    EXPECT_NE(shadow.host_lpi_of(0x10, 2), 0u);
    // An unmapped shadow is unpublished before the physical DISCARD: its LPI no longer resolves.
    h.cmd(Command::event_cmd(Opcode::DISCARD, 0x10, 1));
    EXPECT_FALSE(shadow.lookup(lpi).ok());
}

// GICv4 direct injection: the guest's mappings of passed-through devices become vLPIs of the target vCPU's vPE, and
// every guest command that changes them has its exact physical counterpart.
struct DirectFixture : Fixture {
    void SetUp() override { init_shadow(MsiShadow::kMaxShadows, true); }
};

TEST_F(DirectFixture, MaptiBecomesAVlpiOfTheTargetVcpuWithNoHostLpi) {
    h.mapd(0x10);
    h.cmd(Command::mapti(0x10, 3, 8200, 2));
    ASSERT_EQ(shadow.shadow_count(), 1u);
    ASSERT_EQ(phys.vlpis.count({0x10, 3}), 1u);
    EXPECT_EQ(phys.vlpis[std::make_pair(0x10u, 3u)], std::make_pair(8200u, 2u));  // vINTID = guest LPI, vPE = vCPU
    EXPECT_TRUE(phys.events.empty()) << "no host LPI mapping in direct mode";
    EXPECT_EQ(shadow.lookup(shadow.host_lpi_of(0x10, 3)).status(), Status::not_found);
    // Not passed through: purely virtual as before.
    h.mapd(kVirtualDev);
    h.cmd(Command::mapti(kVirtualDev, 1, 8300, 0));
    EXPECT_EQ(phys.vlpis.count({kVirtualDev, 1}), 0u);
}

TEST_F(DirectFixture, MoviAndMapcRemapAreVmovisAndAnUnmappedCollectionDropsTheVlpi) {
    h.mapd(0x10);
    h.cmd(Command::mapti(0x10, 0, 8200, 1));
    h.cmd(Command::movi(0x10, 0, 3));
    EXPECT_EQ(phys.vlpis[std::make_pair(0x10u, 0u)].second, 3u);
    EXPECT_EQ(phys.moves, 1);
    h.cmd(Command::mapc(3, 0, true));  // collection 3: vCPU 3 -> vCPU 0
    EXPECT_EQ(phys.vlpis[std::make_pair(0x10u, 0u)].second, 0u);
    EXPECT_EQ(phys.moves, 2);
    // MAPC V=0: the virtual ITS drops the event's translations, so the physical vLPI mapping must go...
    h.cmd(Command::mapc(3, 0, false));
    EXPECT_EQ(phys.vlpis.count({0x10, 0}), 0u);
    EXPECT_EQ(shadow.shadow_count(), 0u);
    // ... and come back when the collection is mapped again.
    h.cmd(Command::mapc(3, 2, true));
    ASSERT_EQ(phys.vlpis.count({0x10, 0}), 1u);
    EXPECT_EQ(phys.vlpis[std::make_pair(0x10u, 0u)], std::make_pair(8200u, 2u));
}

TEST_F(DirectFixture, IntClearInvInvallGoToThePhysicalItsAndTheModelKeepsOut) {
    h.mapd(0x10);
    h.cmd(Command::mapti(0x10, 0, 8200, 1));
    h.cmd(Command::event_cmd(Opcode::INT, 0x10, 0));
    EXPECT_EQ(h.sink.pending().count({1u, 8200u}), 0u) << "a vLPI's pending state is the physical GIC's";
    h.cmd(Command::event_cmd(Opcode::CLEAR, 0x10, 0));
    h.cmd(Command::event_cmd(Opcode::INV, 0x10, 0));
    h.cmd(Command::invall(1));
    const std::vector<std::string> want = {"INT 16/0", "CLEAR 16/0", "INV 16/0", "VINVALL 1"};
    EXPECT_EQ(phys.log, want);
    // A purely virtual event is the model's as before.
    h.mapd(kVirtualDev);
    h.cmd(Command::mapti(kVirtualDev, 1, 8300, 1));
    h.cmd(Command::event_cmd(Opcode::INT, kVirtualDev, 1));
    EXPECT_EQ(h.sink.pending().count({1u, 8300u}), 1u);
    EXPECT_EQ(phys.log.size(), want.size());
    // DISCARD and MAPD V=0 remove the vLPI mappings and the device.
    h.cmd(Command::event_cmd(Opcode::DISCARD, 0x10, 0));
    EXPECT_TRUE(phys.vlpis.empty());
    EXPECT_TRUE(phys.devices.empty());
}

TEST_F(DirectFixture, LpisAboveTheVlpiBoundTakeTheHostLpiPath) {
    h.mapd(0x10);
    h.cmd(Command::mapti(0x10, 0, 16384, 1));  // >= vlpi_limit (2^14): a host-LPI shadow
    h.cmd(Command::mapti(0x10, 1, 16383, 1));  // below: a vLPI
    ASSERT_EQ(phys.events.count({0x10, 0}), 1u);
    EXPECT_EQ(phys.vlpis.count({0x10, 0}), 0u);
    EXPECT_EQ(phys.vlpis.count({0x10, 1}), 1u);
    const u32 lpi = shadow.host_lpi_of(0x10, 0);
    ASSERT_EQ(deliver(lpi), Status::ok);
    EXPECT_EQ(h.sink.pending().count({1u, 16384u}), 1u);
    h.cmd(Command::movi(0x10, 0, 2));  // MOVI of the shadow: a physical MOVI to vCPU 2's pCPU
    EXPECT_EQ(phys.events[std::make_pair(0x10u, 0u)].second, pcpu_of_vcpu(2));
    h.cmd(Command::event_cmd(Opcode::INT, 0x10, 0));  // the model's, not forwarded
    EXPECT_EQ(h.sink.pending().count({2u, 16384u}), 1u);
    EXPECT_TRUE(phys.log.empty());
    h.cmd(Command::mapd(0x10, 0, 0, false));
    EXPECT_TRUE(phys.events.empty());
    EXPECT_TRUE(phys.vlpis.empty());
    EXPECT_TRUE(phys.devices.empty());
}

TEST_F(DirectFixture, ResetDropsEveryVlpi) {
    h.mapd(0x10);
    for (u32 ev = 0; ev < 4; ++ev) h.cmd(Command::mapti(0x10, ev, 8200 + ev, ev));
    EXPECT_EQ(phys.vlpis.size(), 4u);
    h.its->reset();
    EXPECT_TRUE(phys.vlpis.empty());
    EXPECT_TRUE(phys.devices.empty());
}

}  // namespace
