#include "its/its_mappings.hpp"

namespace hv::its {

bool Mappings::set_hash_seed(u64 seed) {
    if (n_devices_ != 0 || n_ites_ != 0 || n_collections_ != 0) return false;
    devices_index_.set_seed(seed);
    ites_index_.set_seed(seed * 0x9e3779b97f4a7c15ull + 1);
    collections_index_.set_seed(seed ^ 0xd1b54a32d192ed03ull);
    return true;
}

void Mappings::clear() {
    // Nothing was added since the last clear: already clear (an ITS reset and RESTORE_TABLES both clear; a VM
    // reset of an ITS that never mapped anything costs nothing).
    if (pristine_) return;
    // Only the slots used since the last clear can differ from a fresh pool: devices and collections below their
    // high-water marks, ITEs on the part of the free stack that was ever popped (slot 0 is on top, so these are the
    // slots below kMaxItes - lowest stack depth). A reset or RESTORE_TABLES of an ITS with a handful of mappings
    // costs that handful, not a rewrite of the 8192-slot pool and indexes.
    const u32 ite_hw = kMaxItes - min_free_ites_;
    if (ite_hw <= kMaxItes / 8) {
        for (u16 s = 0; s < device_hw_; ++s) {
            if (devices_[s].used) devices_index_.erase(devices_[s].id, s);
            devices_[s] = Device{};
        }
        for (u16 s = 0; s < ite_hw; ++s) {
            if (ites_[s].used) ites_index_.erase(ite_key(ites_[s].device, ites_[s].event), s);
            ites_[s] = Ite{};
        }
        for (u16 s = 0; s < collection_hw_; ++s) {
            if (collections_[s].used) collections_index_.erase(collections_[s].icid, s);
            collections_[s] = Collection{};
        }
        refill_free_stack(min_free_ites_);
    } else {
        for (auto& d : devices_) d = Device{};
        for (auto& i : ites_) i = Ite{};
        for (auto& c : collections_) c = Collection{};
        devices_index_.clear();
        ites_index_.clear();
        collections_index_.clear();
        refill_free_stack(0);
    }
    mark_clear();
}

void Mappings::mark_clear() {
    n_devices_ = n_ites_ = n_collections_ = 0;
    n_free_ites_ = min_free_ites_ = kMaxItes;
    device_hw_ = collection_hw_ = 0;
    pristine_ = true;
}

Result<u16> Mappings::add_device(u32 device_id, u64 itt_addr, u8 event_bits) {
    if (find_device(device_id) != kNil) return Status::busy;
    pristine_ = false;
    for (u16 s = 0; s < kMaxDevices; ++s) {
        if (devices_[s].used) continue;
        devices_[s] = Device{device_id, itt_addr, event_bits, kNil, 0, true};
        devices_index_.insert(device_id, s);
        device_hw_ = max<u16>(device_hw_, s + 1);
        ++n_devices_;
        return s;
    }
    return Status::no_memory;
}

void Mappings::remove_device(u16 slot) {
    if (slot >= kMaxDevices || !devices_[slot].used) return;
    devices_index_.erase(devices_[slot].id, slot);
    devices_[slot] = Device{};
    --n_devices_;
}

Result<u16> Mappings::get_or_add_collection(u32 icid) {
    u16 s = find_collection(icid);
    if (s != kNil) return s;
    pristine_ = false;
    for (s = 0; s < kMaxCollections; ++s) {
        if (collections_[s].used) continue;
        collections_[s] = Collection{static_cast<u16>(icid), kUnmappedTarget, 0, true};
        collections_index_.insert(icid, s);
        collection_hw_ = max<u16>(collection_hw_, s + 1);
        ++n_collections_;
        return s;
    }
    return Status::no_memory;
}

void Mappings::release_collection_if_unused(u16 slot) {
    if (slot >= kMaxCollections) return;
    Collection& c = collections_[slot];
    if (!c.used || c.mapped() || c.refs != 0) return;
    collections_index_.erase(c.icid, slot);
    c = Collection{};
    --n_collections_;
}

Result<u16> Mappings::add_ite(u16 device_slot, u32 event, u32 intid, u16 collection_slot) {
    if (device_slot >= kMaxDevices || !devices_[device_slot].used || event > 0xffff || intid > 0xffff ||
        collection_slot >= kMaxCollections || !collections_[collection_slot].used)
        return Status::invalid_argument;
    if (find_ite(device_slot, event) != kNil) return Status::busy;
    if (n_free_ites_ == 0) return Status::no_memory;
    pristine_ = false;
    const u16 slot = free_ites_[--n_free_ites_];
    min_free_ites_ = min(min_free_ites_, n_free_ites_);

    Device& d = devices_[device_slot];
    Ite& e = ites_[slot];
    // O(1): the device's list is unordered (save_itt sorts by EventID when it needs the order). A sorted insertion
    // cost O(events of the device) per MAPTI, which a guest could make 8192 steps (docs/isolation.md).
    e = Ite{static_cast<u16>(event), device_slot, collection_slot, static_cast<u16>(intid), kNil, d.first_ite, true};
    if (d.first_ite != kNil) ites_[d.first_ite].prev = slot;
    d.first_ite = slot;
    ++d.ite_count;

    ites_index_.insert(ite_key(device_slot, event), slot);
    ++collections_[collection_slot].refs;
    ++n_ites_;
    return slot;
}

void Mappings::remove_ite(u16 slot) {
    if (slot >= kMaxItes || !ites_[slot].used) return;
    Ite& e = ites_[slot];
    Device& d = devices_[e.device];
    if (e.prev == kNil)
        d.first_ite = e.next;
    else
        ites_[e.prev].next = e.next;
    if (e.next != kNil) ites_[e.next].prev = e.prev;
    --d.ite_count;
    ites_index_.erase(ite_key(e.device, e.event), slot);
    u16 coll = e.collection;
    --collections_[coll].refs;
    e = Ite{};
    --n_ites_;
    free_ites_[n_free_ites_++] = slot;
    release_collection_if_unused(coll);
}

void Mappings::set_ite_collection(u16 slot, u16 collection_slot) {
    if (slot >= kMaxItes || !ites_[slot].used || collection_slot >= kMaxCollections) return;
    Ite& e = ites_[slot];
    u16 old = e.collection;
    if (old == collection_slot) return;
    ++collections_[collection_slot].refs;
    e.collection = collection_slot;
    --collections_[old].refs;
    release_collection_if_unused(old);
}

}  // namespace hv::its
