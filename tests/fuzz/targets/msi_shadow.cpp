// fuzz_msi_shadow: core/msi_shadow (the guest's virtual-ITS mappings mirrored on the physical ITS for passed-through
// devices) against a fake physical ITS that keeps the device and event tables a real ITS would and checks every
// command the shadow issues against them. The input picks the configuration (passthrough DeviceID ranges, host LPI
// base, cap, vCPU -> pCPU), then guest-driven observer calls (map / remap / unmap of arbitrary DeviceID, EventID,
// vCPU), VM-reset clears, host-LPI lookups and physical command failures (timeouts, no ITT memory) injected per call.
// The physical driver itself (arch/aarch64/host_its.cpp: command queue, CWRITER/CREADR, tables in the image's BSS,
// MMIO) is not host-compilable and is not fuzzed here; this target covers the decisions made above it.
// Invariants (checked by the fake at every command, and over the whole state after every step): MAPTI only on a
// mapped device, with an EventID inside its ITT, a host LPI in [base, base + cap) that nothing else holds, never twice
// for one (DeviceID, EventID); MOVI / DISCARD only on live physical mappings; MAPD V=0 only of a device without
// physical events; every live shadow has exactly its physical mapping (same LPI and pCPU) and lookup() answers it;
// a host LPI whose DISCARD failed (quarantined) is never handed out again; shadow_count <= cap.
// Direct mode (GICv4, Config::direct, picked by the input, with a vLPI INTID bound): VMAPTI only on a mapped device
// with an EventID inside its ITT and a vCPU that exists, never twice for one event; VMOVI / INT / CLEAR / INV only on
// live vLPI mappings; every live vLPI shadow has exactly its vLPI mapping (same vCPU); mappings above the bound are
// host-LPI shadows with the invariants above.
#include "core/msi_shadow.hpp"

#include <map>
#include <set>
#include <utility>

#include "tests/fuzz/fuzz_support.hpp"

using namespace hv;
using hvfuzz::ByteStream;

namespace {

struct FakeIts final : PhysicalItsOps {
    ByteStream* in = nullptr;
    std::map<u32, u32> devices;                                 // DeviceID -> event bits
    std::map<std::pair<u32, u32>, std::pair<u32, u32>> events;  // (dev, ev) -> (host LPI, pCPU)
    std::set<u32> lpis;                                         // host LPIs mapped physically
    u32 lpi_base = 0, cap = 0, pcpus = 1;

    bool fail() { return in->below(16) == 0; }
    Status map_device(u32 dev, u32 bits) override {
        FUZZ_CHECK(bits > 0 && bits <= 16);
        if (fail()) return in->below(2) ? Status::timeout : Status::no_memory;
        devices[dev] = bits;  // MAPD V=1 over a mapped device replaces its ITT (the shadow should not do that)
        return Status::ok;
    }
    Status unmap_device(u32 dev) override {
        FUZZ_CHECK(devices.count(dev) == 1);
        for (auto& e : events) FUZZ_CHECK(e.first.first != dev);
        for (auto& e : vlpis) FUZZ_CHECK(e.first.first != dev);
        if (fail()) return Status::timeout;
        devices.erase(dev);
        return Status::ok;
    }
    Status map_event(u32 dev, u32 ev, u32 lpi, u32 pcpu) override {
        FUZZ_CHECK(devices.count(dev) == 1);
        FUZZ_CHECK((ev >> devices[dev]) == 0);
        FUZZ_CHECK(lpi >= lpi_base && lpi - lpi_base < cap);
        FUZZ_CHECK(lpis.count(lpi) == 0);
        FUZZ_CHECK(events.count({dev, ev}) == 0 && vlpis.count({dev, ev}) == 0);
        FUZZ_CHECK(pcpu < pcpus);
        if (fail()) return Status::timeout;
        events[{dev, ev}] = {lpi, pcpu};
        lpis.insert(lpi);
        return Status::ok;
    }
    Status unmap_event(u32 dev, u32 ev, u32 lpi) override {
        if (auto v = vlpis.find({dev, ev}); v != vlpis.end()) {  // DISCARD of a vLPI (direct mode)
            FUZZ_CHECK(direct && events.count({dev, ev}) == 0);
            if (fail()) return Status::timeout;
            vlpis.erase(v);
            return Status::ok;
        }
        auto it = events.find({dev, ev});
        FUZZ_CHECK(it != events.end() && it->second.first == lpi);
        if (fail()) return Status::timeout;  // the mapping stays: the shadow must quarantine the LPI
        events.erase(it);
        lpis.erase(lpi);
        return Status::ok;
    }
    Status move_event(u32 dev, u32 ev, u32 pcpu) override {
        auto it = events.find({dev, ev});
        FUZZ_CHECK(it != events.end());
        FUZZ_CHECK(pcpu < pcpus);
        if (fail()) return Status::timeout;
        it->second.second = pcpu;
        return Status::ok;
    }
    // GICv4 direct mode.
    bool direct = false;
    u32 vcpus = 0;
    std::map<std::pair<u32, u32>, std::pair<u32, u32>> vlpis;  // (dev, ev) -> (vINTID, vCPU)
    Status map_vlpi(u32 dev, u32 ev, u32 vintid, u32 vcpu) override {
        FUZZ_CHECK(direct);
        FUZZ_CHECK(devices.count(dev) == 1);
        FUZZ_CHECK((ev >> devices[dev]) == 0);
        FUZZ_CHECK(vlpis.count({dev, ev}) == 0 && events.count({dev, ev}) == 0);
        FUZZ_CHECK(vcpu < vcpus);
        if (fail()) return Status::timeout;
        vlpis[{dev, ev}] = {vintid, vcpu};
        return Status::ok;
    }
    Status move_vlpi(u32 dev, u32 ev, u32 vcpu) override {
        auto it = vlpis.find({dev, ev});
        FUZZ_CHECK(direct && it != vlpis.end() && vcpu < vcpus && it->second.second != vcpu);
        if (fail()) return Status::timeout;
        it->second.second = vcpu;
        return Status::ok;
    }
    Status set_vlpi_pending(u32 dev, u32 ev, bool) override {
        FUZZ_CHECK(direct && vlpis.count({dev, ev}) == 1);
        return fail() ? Status::timeout : Status::ok;
    }
    Status invalidate_vlpi(u32 dev, u32 ev) override {
        FUZZ_CHECK(direct && vlpis.count({dev, ev}) == 1);
        return fail() ? Status::timeout : Status::ok;
    }
    Status invalidate_vpe(u32 vcpu) override {
        FUZZ_CHECK(direct && vcpu < vcpus);
        return fail() ? Status::timeout : Status::ok;
    }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    hvfuzz::install_log_sink();
    ByteStream in(data, size);
    static MsiShadow shadow;  // large (slot arrays): one instance, re-initialised per input
    FakeIts its;
    its.in = &in;
    MsiShadow::Config cfg;
    u32 nranges = in.below(4);
    for (u32 i = 0; i < nranges; ++i) {
        DeviceIdRange r{in.below(2) ? in.u8() : in.u32(), in.below(2) ? in.below(16) : in.u32()};
        (void)cfg.passthrough.push_back(r);
    }
    cfg.host_lpi_base = 8192 + (in.below(4) == 0 ? in.u32() : in.u16());
    cfg.cap = in.below(4) == 0 ? in.u16() : 1 + in.below(16);
    cfg.vcpu_count = in.below(MsiShadow::kMaxVcpus + 1);
    its.pcpus = 1 + in.below(8);
    for (u32 i = 0; i < MsiShadow::kMaxVcpus; ++i) cfg.vcpu_pcpu[i] = in.below(its.pcpus);
    cfg.direct = in.below(2) == 0;
    cfg.vlpi_limit = 8192 + in.below(1u << 14);  // mappings of higher INTIDs take the host-LPI path
    its.direct = cfg.direct;
    its.vcpus = cfg.vcpu_count;
    Status init = shadow.init(cfg, its);
    bool valid = cfg.cap > 0 && cfg.cap <= MsiShadow::kMaxShadows && cfg.vcpu_count > 0 &&
                 cfg.vcpu_count <= MsiShadow::kMaxVcpus && cfg.host_lpi_base >= 8192 &&
                 cfg.host_lpi_base <= 0xffffffffu - cfg.cap;
    FUZZ_CHECK((init == Status::ok) == valid);
    if (init != Status::ok) return 0;
    its.lpi_base = cfg.host_lpi_base;
    its.cap = cfg.cap;
    std::set<u32> quarantined;

    auto pick_dev = [&]() -> u32 {
        if (!cfg.passthrough.empty() && in.below(4) != 0) {
            const DeviceIdRange& r = cfg.passthrough[in.below(cfg.passthrough.size())];
            return r.first + (r.count ? in.below(r.count < 256 ? r.count : 256) : 0);
        }
        return in.below(2) ? in.u8() : in.u32();
    };
    for (int ops = 0; ops < 512 && !in.empty(); ++ops) {
        u32 dev = pick_dev();
        u32 ev = in.below(8) == 0 ? in.u32() : in.below(300);
        switch (in.u8() % 7) {
            case 0:
            case 1:
                shadow.on_map(dev, ev, 8192 + in.u16(), in.below(4) == 0 ? MsiShadow::kNoVcpu : in.below(10));
                break;
            case 2:
                shadow.on_unmap(dev, ev, 0);
                break;
            case 3:
                if (in.below(8) == 0) shadow.clear();
                break;
            case 4: {
                u32 lpi = cfg.host_lpi_base + in.below(cfg.cap + 2) - (in.below(4) == 0 ? 1 : 0);
                auto r = shadow.lookup(lpi);
                if (r.ok()) {
                    auto it = its.events.find({r.value().device_id, r.value().event_id});
                    FUZZ_CHECK(it != its.events.end() && it->second.first == lpi);
                }
                break;
            }
            case 5:
                (void)shadow.is_passthrough(dev);
                break;
            case 6: {  // the guest's INT / CLEAR / INV / INVALL (forwarded only for live vLPIs in direct mode)
                const u32 what = in.below(4);
                if (what == 0 || what == 1) {
                    const bool handled = shadow.on_set_pending(dev, ev, what == 0);
                    FUZZ_CHECK(handled == (cfg.direct && its.vlpis.count({dev, ev}) == 1 &&
                                           shadow.pcpu_of(dev, ev) != MsiShadow::kNoVcpu));
                } else if (what == 2) {
                    shadow.on_invalidate(dev, ev);
                } else {
                    shadow.on_invalidate_all(in.below(10));
                }
                break;
            }
        }
        // Whole-state invariants.
        FUZZ_CHECK(shadow.shadow_count() <= cfg.cap);
        u32 live = 0;
        for (auto& e : its.events) {
            u32 lpi = shadow.host_lpi_of(e.first.first, e.first.second);
            if (lpi == 0) {  // a physical mapping without a shadow: its DISCARD failed (quarantined)
                quarantined.insert(e.second.first);
                FUZZ_CHECK(!shadow.lookup(e.second.first).ok());
                continue;
            }
            ++live;
            FUZZ_CHECK(lpi == e.second.first);
            FUZZ_CHECK(shadow.pcpu_of(e.first.first, e.first.second) == e.second.second);
            auto r = shadow.lookup(lpi);
            FUZZ_CHECK(r.ok() && r.value().device_id == e.first.first && r.value().event_id == e.first.second);
            FUZZ_CHECK(its.devices.count(e.first.first) == 1);
        }
        for (auto& e : its.vlpis) {
            if (shadow.pcpu_of(e.first.first, e.first.second) == MsiShadow::kNoVcpu) continue;  // DISCARD failed
            ++live;
            FUZZ_CHECK(shadow.pcpu_of(e.first.first, e.first.second) == e.second.second);
            FUZZ_CHECK(its.devices.count(e.first.first) == 1);
        }
        FUZZ_CHECK(live == shadow.shadow_count());
        FUZZ_CHECK(shadow.device_count() <= MsiShadow::kMaxDevices);
    }
    return 0;
}
