// Shadow MSI mappings: the guest's (DeviceID, EventID) mappings on its virtual ITS, mirrored on the physical ITS for
// passed-through PCI devices (docs/architecture.md §3 "MSIs", docs/msi-passthrough.md).
//
// The guest programs its virtual ITS; the its/ model reports every mapping change (ItsObserver). For a DeviceID that
// belongs to a passed-through device, MsiShadow allocates a host LPI of the hypervisor's own, maps the same
// (DeviceID, EventID) on the physical ITS to it, targeted at the pCPU that runs the vCPU the guest targets, and keeps
// the reverse index host LPI -> (DeviceID, EventID) so the host-LPI handler finds the guest's event in O(1) and
// pushes it through the virtual ITS. Everything else (non-passthrough DeviceIDs, EventIDs beyond the shadow bound,
// mappings beyond the per-VM cap) stays purely virtual and touches nothing physical.
//
// Plain C++ (host-testable): the physical ITS is behind PhysicalItsOps (arch/aarch64/host_its implements it).
//
// Locking: one spinlock. Observer calls (from the virtual ITS, its command lock held) take it and call
// PhysicalItsOps while holding it: lock order Its::cmd_lock_ -> MsiShadow::lock_ -> host ITS lock. lookup() (the
// host-LPI path, any pCPU) takes only lock_ and the caller signals the virtual ITS after it returns.
#pragma once

#include "core/platform.hpp"
#include "lib/atomic.hpp"
#include "lib/containers.hpp"
#include "lib/spinlock.hpp"
#include "lib/status.hpp"

namespace hv {

// What the shadow needs from the physical ITS. Every call is complete when it returns (the implementation waits
// for SYNC, bounded) or reports an error (Status::timeout when the ITS did not answer).
class PhysicalItsOps {
public:
    // MAPD V=1 with an ITT for 2^event_bits events. out_of_range: the DeviceID is beyond what the physical ITS
    // tables cover; no_memory: no ITT left.
    [[nodiscard]] virtual Status map_device(u32 device_id, u32 event_bits) = 0;
    // MAPD V=0 (and release the ITT).
    [[nodiscard]] virtual Status unmap_device(u32 device_id) = 0;
    // MAPTI (device_id, event_id) -> host_lpi on the collection of `pcpu`, LPI enabled in the host property table.
    [[nodiscard]] virtual Status map_event(u32 device_id, u32 event_id, u32 host_lpi, u32 pcpu) = 0;
    // DISCARD (device_id, event_id); the host LPI is disabled in the property table.
    [[nodiscard]] virtual Status unmap_event(u32 device_id, u32 event_id, u32 host_lpi) = 0;
    // MOVI (device_id, event_id) to the collection of `pcpu`.
    [[nodiscard]] virtual Status move_event(u32 device_id, u32 event_id, u32 pcpu) = 0;

    // GICv4 direct injection (MsiShadow::Config::direct only; the vPE of vCPU v is vPEID v, its doorbell the
    // implementation's). VMAPTI (device_id, event_id) -> vLPI `vintid` of vCPU `vcpu`'s vPE; VMOVI to another vPE;
    // INT / CLEAR of a vLPI; INV of one; VINVALL of a vPE. unmap_event (DISCARD) removes a vLPI mapping too.
    [[nodiscard]] virtual Status map_vlpi(u32 /*device_id*/, u32 /*event_id*/, u32 /*vintid*/, u32 /*vcpu*/) {
        return Status::unsupported;
    }
    [[nodiscard]] virtual Status move_vlpi(u32 /*device_id*/, u32 /*event_id*/, u32 /*vcpu*/) {
        return Status::unsupported;
    }
    [[nodiscard]] virtual Status set_vlpi_pending(u32 /*device_id*/, u32 /*event_id*/, bool /*pending*/) {
        return Status::unsupported;
    }
    [[nodiscard]] virtual Status invalidate_vlpi(u32 /*device_id*/, u32 /*event_id*/) { return Status::unsupported; }
    [[nodiscard]] virtual Status invalidate_vpe(u32 /*vcpu*/) { return Status::unsupported; }

protected:
    ~PhysicalItsOps() = default;
};

// DeviceIDs [first, first + count) that belong to passed-through devices.
struct DeviceIdRange {
    u32 first = 0;
    u32 count = 0;
    bool contains(u32 id) const { return id >= first && id - first < count; }
};

constexpr usize kMaxPassthroughRanges = PcieInfo::kMaxMsiMaps + 1;
using DeviceIdRanges = FixedVector<DeviceIdRange, kMaxPassthroughRanges>;

// The DeviceIDs the host PCIe bus's requester IDs (bus_start..bus_end) map to on the ITS `its_phandle`, from the
// host bridge's msi-map (IEEE 1275 / pci-msi.txt: DeviceID = msi_base + (rid - rid_base)), or the identity
// (DeviceID = requester ID) when the bridge uses msi-parent. Empty if the bridge has no MSI route to that ITS.
DeviceIdRanges passthrough_device_ids(const PcieInfo& pcie, u32 its_phandle);

class MsiShadow {
public:
    static constexpr u32 kMaxShadows = 1024;  // host LPIs per VM (hard maximum of the cap)
    static constexpr u32 kMaxDevices = 32;    // physical devices with at least one shadow
    static constexpr u32 kEventBits = 8;      // shadowed EventIDs are < 2^kEventBits (MSI-X vectors)
    static constexpr u32 kMaxVcpus = PlatformInfo::kMaxCpus;
    static constexpr u32 kNoVcpu = 0xffffffffu;  // ItsObserver::kNoVcpu
    static_assert(kMaxShadows < 0xffff);

    struct Config {
        DeviceIdRanges passthrough;  // DeviceIDs that are mirrored
        u32 host_lpi_base = 8192;    // host LPIs [base, base + cap) belong to this VM
        u32 cap = kMaxShadows;       // per-VM limit on shadow mappings (<= kMaxShadows)
        u32 vcpu_count = 1;
        u32 vcpu_pcpu[kMaxVcpus] = {};  // vCPU i runs on pCPU vcpu_pcpu[i]
        // GICv4: mirror mappings as vLPIs of the target vCPU's vPE (map_vlpi/move_vlpi) instead of host LPIs; the
        // physical GIC then injects them without the hypervisor. Mappings whose collection is unmapped are not
        // mirrored (the GIC would deliver what the virtual ITS drops) until MAPC maps it again.
        bool direct = false;
        // Direct mode: only guest LPIs below this bound become vLPIs; a mapping of a higher one takes the shadow path
        // (host LPI + list register) instead. Lets the vPEs' GICR_VPROPBASER.IDbits stay small (the GIC scans that
        // much of the virtual pending table for the next vLPI; QEMU does so on every acknowledge).
        u32 vlpi_limit = 1u << 16;
    };

    struct Event {
        u32 device_id = 0;
        u32 event_id = 0;
    };

    struct Stats {
        u64 mapped = 0;          // shadows created
        u64 unmapped = 0;        // shadows removed
        u64 moved = 0;           // MOVI issued
        u64 virtual_only = 0;    // mappings not mirrored (not passthrough / event bound / cap)
        u64 refused_cap = 0;     // of which: the per-VM cap or a pool was exhausted
        u64 phys_errors = 0;     // physical ITS calls that failed
        u64 lookups_missed = 0;  // host LPIs with no live shadow
        u64 vlpi_commands = 0;   // direct mode: INT/CLEAR/INV/VINVALL forwarded to the physical ITS
    };

    [[nodiscard]] Status init(const Config& cfg, PhysicalItsOps& ops);

    // ItsObserver-shaped entry points (the arch glue forwards its::ItsObserver to these).
    void on_map(u32 device_id, u32 event_id, u32 intid, u32 vcpu);
    void on_unmap(u32 device_id, u32 event_id, u32 intid);
    // Direct mode (Config::direct): INT / CLEAR / INV of a mirrored event go to the physical ITS (true: done there,
    // the virtual ITS leaves its own pending state alone); INVALL of a collection -> VINVALL of the vCPU's vPE.
    bool on_set_pending(u32 device_id, u32 event_id, bool pending);
    void on_invalidate(u32 device_id, u32 event_id);
    void on_invalidate_all(u32 vcpu);
    bool direct() const { return cfg_.direct; }
    // Direct mode: every live vLPI mapping (DeviceID, EventID, vINTID, vCPU), for the save path (the pending state
    // of vLPIs lives in the physical GIC). `fn` runs with the shadow's lock held and must not call back into it.
    using VlpiVisitor = void (*)(void* ctx, u32 device_id, u32 event_id, u32 vintid, u32 vcpu);
    void for_each_vlpi(VlpiVisitor fn, void* ctx) const;
    // Drops every shadow (VM reset, ITS reset already reports unmaps; this is the belt-and-braces path).
    void clear();

    // The host-LPI path: the guest event a host LPI stands for. not_found if none (stale or foreign LPI). O(1).
    [[nodiscard]] Result<Event> lookup(u32 host_lpi) const;

    bool is_passthrough(u32 device_id) const;
    // Introspection (tests, diagnostics).
    u32 shadow_count() const { return live_; }
    u32 device_count() const;
    // Host LPI of a live shadow (0 if none), and the pCPU it targets.
    u32 host_lpi_of(u32 device_id, u32 event_id) const;
    u32 pcpu_of(u32 device_id, u32 event_id) const;
    Stats stats() const {
        Stats s = stats_;
        s.lookups_missed = lookups_missed_.load(MemoryOrder::relaxed);
        return s;
    }

private:
    static constexpr u16 kNil = 0xffff;
    static constexpr usize kBuckets = 512;
    enum class SlotState : u8 { free, live, quarantined };
    struct Slot {
        u32 device_id = 0;
        u32 event_id = 0;
        u32 pcpu = 0;     // the physical target: a pCPU (shadow mode) or the vCPU whose vPE holds the vLPI (direct)
        u16 next = kNil;  // hash chain
        u16 device = kNil;
        SlotState state = SlotState::free;
        u32 intid = 0;      // direct mode: the vINTID
        bool vlpi = false;  // a vLPI mapping (direct mode); else a host-LPI shadow
    };
    struct DeviceSlot {
        u32 device_id = 0;
        u32 events = 0;  // live + quarantined shadows on it
        bool used = false;
    };

    static usize bucket(u32 dev, u32 ev) { return ((dev * 0x9e3779b1u) ^ (ev * 0x85ebca6bu)) % kBuckets; }
    u16 find(u32 dev, u32 ev) const;
    bool is_quarantined(u32 dev, u32 ev) const;  // a slot whose physical DISCARD failed still names (dev, ev)
    void unlink(u16 slot);
    u32 pcpu_for(u32 vcpu, u32 fallback) const;
    void on_map_direct(u32 dev, u32 ev, u32 intid, u32 vcpu);
    bool admit(u32 dev, u32 ev, usize& slot_index, u16& dslot);
    u16 device_slot(u32 dev, bool create);
    void release_device(u16 dslot);
    void remove(u16 slot);

    PhysicalItsOps* ops_ = nullptr;
    Config cfg_;
    mutable Spinlock lock_;
    // What lookup() reads, without lock_: per host LPI, kPublished | EventID << 32 | DeviceID while the shadow is
    // live, else 0. on_map/on_unmap call the physical ITS (bounded waits on its command queue) with lock_ held, and
    // the host-LPI handler (any pCPU, IRQs masked) must never wait for that (docs/isolation.md).
    static constexpr u64 kPublished = u64{1} << 63;
    static_assert(kEventBits < 31);
    Atomic<u64> published_[kMaxShadows];
    mutable Atomic<u64> lookups_missed_;
    Slot slots_[kMaxShadows];
    u16 head_[kBuckets] = {};
    Bitmap<kMaxShadows> used_;  // live or quarantined host LPIs
    DeviceSlot devices_[kMaxDevices];
    u32 live_ = 0;
    u32 quarantined_ = 0;  // slots in SlotState::quarantined (never freed until init)
    mutable Stats stats_;
};

}  // namespace hv
