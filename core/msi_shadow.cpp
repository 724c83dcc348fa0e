#include "core/msi_shadow.hpp"

#include "lib/log.hpp"

namespace hv {

DeviceIdRanges passthrough_device_ids(const PcieInfo& pcie, u32 its_phandle) {
    DeviceIdRanges out;
    if (!pcie.present || pcie.bus_end < pcie.bus_start || pcie.bus_end > 0xff) return out;
    // Requester IDs of the bus range: bus << 8 | devfn (PCIe base spec 2.2.6.2).
    const u64 rid_lo = u64{pcie.bus_start} << 8;
    const u64 rid_hi = (u64{pcie.bus_end} + 1) << 8;  // exclusive
    if (!pcie.msi_map.empty()) {
        for (const PciMsiMap& m : pcie.msi_map) {
            if (m.phandle != its_phandle || m.length == 0) continue;
            const u64 lo = max<u64>(rid_lo, m.rid_base);
            const u64 hi = min<u64>(rid_hi, u64{m.rid_base} + m.length);
            if (lo >= hi) continue;
            const u64 first = u64{m.msi_base} + (lo - m.rid_base);
            if (first > 0xffffffffull) continue;
            const u64 count = min<u64>(hi - lo, 0x100000000ull - first);
            ignore_status(out.push_back(DeviceIdRange{static_cast<u32>(first), static_cast<u32>(count)}));
        }
    } else if (pcie.msi_parent != 0 && pcie.msi_parent == its_phandle) {
        ignore_status(out.push_back(DeviceIdRange{static_cast<u32>(rid_lo), static_cast<u32>(rid_hi - rid_lo)}));
    }
    return out;
}

Status MsiShadow::init(const Config& cfg, PhysicalItsOps& ops) {
    if (cfg.cap == 0 || cfg.cap > kMaxShadows || cfg.vcpu_count == 0 || cfg.vcpu_count > kMaxVcpus ||
        cfg.host_lpi_base < 8192 || cfg.host_lpi_base > 0xffffffffu - cfg.cap)
        return Status::invalid_argument;
    LockGuard g(lock_);
    cfg_ = cfg;
    ops_ = &ops;
    for (auto& h : head_) h = kNil;
    for (auto& s : slots_) s = Slot{};
    for (auto& d : devices_) d = DeviceSlot{};
    used_.reset();
    for (auto& p : published_) p.store(0);
    lookups_missed_.store(0);
    live_ = 0;
    quarantined_ = 0;
    stats_ = Stats{};
    return Status::ok;
}

bool MsiShadow::is_passthrough(u32 device_id) const {
    for (const DeviceIdRange& r : cfg_.passthrough)
        if (r.contains(device_id)) return true;
    return false;
}

u16 MsiShadow::find(u32 dev, u32 ev) const {
    usize guard = 0;
    for (u16 i = head_[bucket(dev, ev)]; i != kNil && guard < kMaxShadows; i = slots_[i].next, ++guard)
        if (slots_[i].device_id == dev && slots_[i].event_id == ev) return i;
    return kNil;
}

bool MsiShadow::is_quarantined(u32 dev, u32 ev) const {
    for (const Slot& s : slots_)
        if (s.state == SlotState::quarantined && s.device_id == dev && s.event_id == ev) return true;
    return false;
}

void MsiShadow::unlink(u16 slot) {
    u16* link = &head_[bucket(slots_[slot].device_id, slots_[slot].event_id)];
    for (usize guard = 0; *link != kNil && guard < kMaxShadows; ++guard) {
        if (*link == slot) {
            *link = slots_[slot].next;
            slots_[slot].next = kNil;
            return;
        }
        link = &slots_[*link].next;
    }
}

u32 MsiShadow::pcpu_for(u32 vcpu, u32 fallback) const {
    // kNoVcpu (collection unmapped): the virtual ITS drops the event anyway; keep the physical target.
    return vcpu < cfg_.vcpu_count ? cfg_.vcpu_pcpu[vcpu] : fallback;
}

u16 MsiShadow::device_slot(u32 dev, bool create) {
    u16 free_slot = kNil;
    for (u16 i = 0; i < kMaxDevices; ++i) {
        if (devices_[i].used && devices_[i].device_id == dev) return i;
        if (!devices_[i].used && free_slot == kNil) free_slot = i;
    }
    if (!create || free_slot == kNil) return kNil;
    if (Status s = ops_->map_device(dev, kEventBits); s != Status::ok) {
        ++stats_.phys_errors;
        HV_LOG_RATELIMITED(warn, "msi: physical MAPD of DeviceID 0x%x failed (%s): mapping stays virtual", dev,
                           status_name(s));
        return kNil;
    }
    devices_[free_slot] = DeviceSlot{dev, 0, true};
    return free_slot;
}

void MsiShadow::release_device(u16 dslot) {
    DeviceSlot& d = devices_[dslot];
    if (!d.used || d.events != 0) return;
    if (Status s = ops_->unmap_device(d.device_id); s != Status::ok) {
        // Keep the slot: the physical ITS may still hold the device; a later shadow reuses it.
        ++stats_.phys_errors;
        HV_LOG_RATELIMITED(warn, "msi: physical MAPD V=0 of DeviceID 0x%x failed (%s)", d.device_id, status_name(s));
        return;
    }
    d = DeviceSlot{};
}

void MsiShadow::remove(u16 slot) {
    Slot& s = slots_[slot];
    const u32 lpi = cfg_.host_lpi_base + slot;
    published_[slot].store(0);  // host LPIs still in flight are dropped from now on
    unlink(slot);
    --live_;
    ++stats_.unmapped;
    if (Status st = ops_->unmap_event(s.device_id, s.event_id, lpi); st != Status::ok) {
        // The physical ITS may still deliver this LPI: never hand it out again (lookup() ignores it).
        ++stats_.phys_errors;
        s.state = SlotState::quarantined;
        ++quarantined_;
        HV_LOG_RATELIMITED(warn, "msi: physical DISCARD of 0x%x/%u (host LPI %u) failed (%s): LPI quarantined",
                           s.device_id, s.event_id, lpi, status_name(st));
        return;
    }
    const u16 dslot = s.device;
    s = Slot{};
    used_.clear(slot);
    if (dslot < kMaxDevices) {  // kNil (no device) is out of range too
        if (devices_[dslot].events > 0) --devices_[dslot].events;
        release_device(dslot);
    }
}

// A new mapping's admission (lock_ held), for both modes: not a quarantined (dev, ev), an EventID the shadow can
// hold, a free slot under the per-VM cap, a physical device slot. False (counted and logged) if it stays virtual.
bool MsiShadow::admit(u32 dev, u32 ev, usize& slot_index, u16& dslot) {
    if (quarantined_ > 0 && is_quarantined(dev, ev)) {
        // Its DISCARD failed: the physical ITS may still hold (dev, ev) -> the quarantined LPI, and a second MAPTI
        // of a mapped EventID is not something to rely on (fuzz_msi_shadow found this path). Stays virtual.
        ++stats_.virtual_only;
        HV_LOG_RATELIMITED(warn, "msi: 0x%x/%u has a quarantined physical mapping: not mirrored again", dev, ev);
        return false;
    }
    if (ev >> kEventBits) {
        ++stats_.virtual_only;
        HV_LOG_RATELIMITED(warn, "msi: DeviceID 0x%x EventID %u beyond the shadow bound (%u): not mirrored", dev, ev,
                           1u << kEventBits);
        return false;
    }
    slot_index = used_.find_first_zero();
    if (live_ >= cfg_.cap || slot_index >= cfg_.cap) {
        ++stats_.virtual_only;
        ++stats_.refused_cap;
        HV_LOG_RATELIMITED(warn, "msi: per-VM shadow cap (%u) reached: DeviceID 0x%x EventID %u not mirrored", cfg_.cap,
                           dev, ev);
        return false;
    }
    dslot = device_slot(dev, true);
    if (dslot == kNil) {
        ++stats_.virtual_only;
        ++stats_.refused_cap;
        HV_LOG_RATELIMITED(warn, "msi: no physical device slot for DeviceID 0x%x: EventID %u not mirrored", dev, ev);
        return false;
    }
    return true;
}

void MsiShadow::on_map(u32 dev, u32 ev, u32 intid, u32 vcpu) {
    // Shadow mode: the guest's LPI number is the virtual ITS's business (the shadow carries (dev, ev) only); direct
    // mode: it is the vINTID the physical GIC injects.
    if (ops_ == nullptr) return;
    LockGuard g(lock_);
    if (!is_passthrough(dev)) {
        ++stats_.virtual_only;
        return;
    }
    if (cfg_.direct) {
        // A vLPI mapping stays one (and a host-LPI shadow stays one) for as long as it lives: the guest cannot change
        // a mapping's INTID without unmapping it first.
        const u16 existing = find(dev, ev);
        if (existing != kNil ? slots_[existing].vlpi : intid < cfg_.vlpi_limit) {
            on_map_direct(dev, ev, intid, vcpu);
            return;
        }
    }
    if (u16 slot = find(dev, ev); slot != kNil) {
        // Existing shadow: a target change (MOVI, MAPC remap/unmap).
        Slot& s = slots_[slot];
        const u32 pcpu = pcpu_for(vcpu, s.pcpu);
        if (pcpu == s.pcpu) return;
        if (Status st = ops_->move_event(dev, ev, pcpu); st != Status::ok) {
            // The old target still works: the virtual ITS retargets the guest LPI, the vCPU gets kicked.
            ++stats_.phys_errors;
            HV_LOG_RATELIMITED(warn, "msi: physical MOVI of 0x%x/%u to pCPU %u failed (%s)", dev, ev, pcpu,
                               status_name(st));
            return;
        }
        s.pcpu = pcpu;
        ++stats_.moved;
        return;
    }
    usize slot_index = 0;
    u16 dslot = kNil;
    if (!admit(dev, ev, slot_index, dslot)) return;
    const u16 slot = static_cast<u16>(slot_index);
    const u32 lpi = cfg_.host_lpi_base + slot;
    const u32 pcpu = pcpu_for(vcpu, cfg_.vcpu_pcpu[0]);
    if (Status st = ops_->map_event(dev, ev, lpi, pcpu); st != Status::ok) {
        ++stats_.phys_errors;
        ++stats_.virtual_only;
        HV_LOG_RATELIMITED(warn, "msi: physical MAPTI of 0x%x/%u -> host LPI %u failed (%s): mapping stays virtual",
                           dev, ev, lpi, status_name(st));
        release_device(dslot);
        return;
    }
    used_.set(slot);
    Slot& s = slots_[slot];
    s = Slot{dev, ev, pcpu, head_[bucket(dev, ev)], dslot, SlotState::live};
    head_[bucket(dev, ev)] = slot;
    published_[slot].store(kPublished | u64{ev} << 32 | dev);
    ++devices_[dslot].events;
    ++live_;
    ++stats_.mapped;
}

// GICv4 (lock_ held): the mapping as a vLPI of vCPU `vcpu`'s vPE. Same slot bookkeeping as a host-LPI shadow (the
// slot's host LPI is reserved but never programmed); `pcpu` holds the vCPU.
void MsiShadow::on_map_direct(u32 dev, u32 ev, u32 intid, u32 vcpu) {
    const bool target_ok = vcpu < cfg_.vcpu_count;
    if (u16 slot = find(dev, ev); slot != kNil) {
        Slot& s = slots_[slot];
        if (!target_ok) {  // collection unmapped: the virtual ITS drops the event, so must the physical one
            remove(slot);
            return;
        }
        if (vcpu == s.pcpu) return;
        if (Status st = ops_->move_vlpi(dev, ev, vcpu); st != Status::ok) {
            ++stats_.phys_errors;
            HV_LOG_RATELIMITED(warn, "msi: physical VMOVI of 0x%x/%u to vPE %u failed (%s)", dev, ev, vcpu,
                               status_name(st));
            return;
        }
        s.pcpu = vcpu;
        ++stats_.moved;
        return;
    }
    if (!target_ok) return;  // mirrored once MAPC maps the collection (on_map again)
    usize slot_index = 0;
    u16 dslot = kNil;
    if (!admit(dev, ev, slot_index, dslot)) return;
    const u16 slot = static_cast<u16>(slot_index);
    if (Status st = ops_->map_vlpi(dev, ev, intid, vcpu); st != Status::ok) {
        ++stats_.phys_errors;
        ++stats_.virtual_only;
        HV_LOG_RATELIMITED(warn, "msi: physical VMAPTI of 0x%x/%u -> vLPI %u of vPE %u failed (%s): stays virtual", dev,
                           ev, intid, vcpu, status_name(st));
        release_device(dslot);
        return;
    }
    used_.set(slot);
    Slot& s = slots_[slot];
    s = Slot{dev, ev, vcpu, head_[bucket(dev, ev)], dslot, SlotState::live, intid, true};
    head_[bucket(dev, ev)] = slot;
    ++devices_[dslot].events;
    ++live_;
    ++stats_.mapped;
}

void MsiShadow::for_each_vlpi(VlpiVisitor fn, void* ctx) const {
    if (!cfg_.direct) return;
    LockGuard g(lock_);
    for (const Slot& s : slots_)
        if (s.state == SlotState::live && s.vlpi) fn(ctx, s.device_id, s.event_id, s.intid, s.pcpu);
}

bool MsiShadow::on_set_pending(u32 dev, u32 ev, bool pending) {
    if (ops_ == nullptr || !cfg_.direct) return false;
    LockGuard g(lock_);
    if (const u16 slot = find(dev, ev); slot == kNil || !slots_[slot].vlpi) return false;
    ++stats_.vlpi_commands;
    if (Status st = ops_->set_vlpi_pending(dev, ev, pending); st != Status::ok) {
        ++stats_.phys_errors;
        HV_LOG_RATELIMITED(warn, "msi: physical %s of vLPI 0x%x/%u failed (%s)", pending ? "INT" : "CLEAR", dev, ev,
                           status_name(st));
    }
    return true;
}

void MsiShadow::on_invalidate(u32 dev, u32 ev) {
    if (ops_ == nullptr || !cfg_.direct) return;
    LockGuard g(lock_);
    if (const u16 slot = find(dev, ev); slot == kNil || !slots_[slot].vlpi) return;
    ++stats_.vlpi_commands;
    if (Status st = ops_->invalidate_vlpi(dev, ev); st != Status::ok) {
        ++stats_.phys_errors;
        HV_LOG_RATELIMITED(warn, "msi: physical INV of vLPI 0x%x/%u failed (%s)", dev, ev, status_name(st));
    }
}

void MsiShadow::on_invalidate_all(u32 vcpu) {
    if (ops_ == nullptr || !cfg_.direct || vcpu >= cfg_.vcpu_count) return;
    LockGuard g(lock_);
    if (live_ == 0) return;
    ++stats_.vlpi_commands;
    if (Status st = ops_->invalidate_vpe(vcpu); st != Status::ok) {
        ++stats_.phys_errors;
        HV_LOG_RATELIMITED(warn, "msi: physical VINVALL of vPE %u failed (%s)", vcpu, status_name(st));
    }
}

void MsiShadow::on_unmap(u32 dev, u32 ev, u32 intid) {
    (void)intid;
    if (ops_ == nullptr) return;
    LockGuard g(lock_);
    if (u16 slot = find(dev, ev); slot != kNil) remove(slot);
}

void MsiShadow::clear() {
    if (ops_ == nullptr) return;
    LockGuard g(lock_);
    for (u16 i = 0; i < kMaxShadows; ++i)
        if (slots_[i].state == SlotState::live) remove(i);
}

Result<MsiShadow::Event> MsiShadow::lookup(u32 host_lpi) const {
    if (host_lpi < cfg_.host_lpi_base || host_lpi - cfg_.host_lpi_base >= cfg_.cap) return Status::not_found;
    // Lock-free (see published_): a host LPI never waits for a mapping change that is talking to the physical ITS.
    const u64 p = published_[host_lpi - cfg_.host_lpi_base].load();
    if ((p & kPublished) == 0) {
        lookups_missed_.fetch_add(1);
        return Status::not_found;
    }
    return Event{static_cast<u32>(p), static_cast<u32>((p & ~kPublished) >> 32)};
}

u32 MsiShadow::device_count() const {
    LockGuard g(lock_);
    u32 n = 0;
    for (const DeviceSlot& d : devices_) n += d.used ? 1 : 0;
    return n;
}

u32 MsiShadow::host_lpi_of(u32 dev, u32 ev) const {
    LockGuard g(lock_);
    u16 slot = find(dev, ev);
    return slot == kNil ? 0 : cfg_.host_lpi_base + slot;
}

u32 MsiShadow::pcpu_of(u32 dev, u32 ev) const {
    LockGuard g(lock_);
    u16 slot = find(dev, ev);
    return slot == kNil ? kNoVcpu : slots_[slot].pcpu;
}

}  // namespace hv
