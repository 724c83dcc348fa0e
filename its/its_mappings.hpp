// The live ITS mappings, KVM-style: kept in the model's own fixed-capacity structures (not in guest RAM).
//   devices     — DeviceID -> {ITT address, EventID bits, list of its ITEs}
//   ITEs        — one shared pool; (device slot, EventID) -> {LPI INTID, collection slot}
//   collections — ICID -> target vCPU (or "unmapped" while only ITEs reference it)
// Every lookup a translation needs is an O(1) chained-hash probe. Not thread-safe: the owning Its serialises
// writers and readers (see its.hpp for the locking rules).
#pragma once

#include "lib/containers.hpp"
#include "lib/status.hpp"

namespace hv::its {

constexpr u16 kNil = 0xffff;
constexpr u32 kMaxDevices = 512;
constexpr u32 kMaxItes = 8192;
constexpr u32 kMaxCollections = 256;
constexpr u32 kUnmappedTarget = 0xffffffffu;
static_assert(kMaxItes < kNil && kMaxDevices < kNil && kMaxCollections < kNil);

// Chained hash index: u32 key -> u16 slot of a pool of Capacity entries. Buckets is a power of two.
// The keys (DeviceIDs, EventIDs, ICIDs) are the guest's choice, so the bucket function is keyed with a per-VM secret
// (set_seed, from the hardware RNG at VM build): without it a guest could pick IDs that all share one bucket and
// make every translation walk a chain of thousands (docs/isolation.md). With an unknown seed the chains stay at the
// expected length of a random hash (load <= 1).
template <usize Buckets, usize Capacity>
class HashIndex {
    static_assert(is_pow2(Buckets));

public:
    HashIndex() { clear(); }
    // Only while the index is empty (the bucket of every stored key would change).
    void set_seed(u64 seed) { seed_ = seed; }
    // Diagnostics (tests): the bucket of `key`, and how many entries a lookup of it walks.
    usize bucket_of(u32 key) const { return bucket(key); }
    usize probes(u32 key) const {
        usize n = 0;
        for (u16 i = head_[bucket(key)]; i != kNil; i = next_[i]) {
            ++n;
            if (key_[i] == key) break;
        }
        return n;
    }
    void clear() {
        for (auto& h : head_) h = kNil;
        for (auto& n : next_) n = kNil;
    }
    u16 find(u32 key) const {
        for (u16 i = head_[bucket(key)]; i != kNil; i = next_[i])
            if (key_[i] == key) return i;
        return kNil;
    }
    void insert(u32 key, u16 slot) {
        usize b = bucket(key);
        key_[slot] = key;
        next_[slot] = head_[b];
        head_[b] = slot;
    }
    void erase(u32 key, u16 slot) {
        u16* link = &head_[bucket(key)];
        for (usize guard = 0; *link != kNil && guard < Capacity; ++guard) {
            if (*link == slot) {
                *link = next_[slot];
                next_[slot] = kNil;
                return;
            }
            link = &next_[*link];
        }
    }

private:
    // A keyed 64-bit mix (two multiply-xorshift rounds, the second multiplier secret and odd): every input bit
    // reaches the top bits, which pick the bucket.
    usize bucket(u32 key) const {
        u64 h = (u64{key} ^ seed_) * 0xff51afd7ed558ccdull;
        h ^= h >> 32;
        h *= (seed_ >> 1) | 1;
        h ^= h >> 29;
        return static_cast<usize>(h >> (64 - __builtin_ctzll(Buckets)));
    }
    u64 seed_ = 0x9e3779b97f4a7c15ull;  // replaced per VM by set_seed
    u16 head_[Buckets];
    u16 next_[Capacity];
    u32 key_[Capacity] = {};
};

struct Device {
    u32 id = 0;
    u64 itt_addr = 0;
    u8 event_bits = 0;  // MAPD Size + 1
    u16 first_ite = kNil;
    u16 ite_count = 0;
    bool used = false;
    u32 event_limit() const { return 1u << event_bits; }
};

// 16 bytes, 8-aligned: `ite = Ite{}` is two stores, not a memcpy call (-mstrict-align).
struct alignas(8) Ite {
    u16 event = 0;
    u16 device = kNil;             // device slot
    u16 collection = kNil;         // collection slot
    u16 intid = 0;                 // LPI INTID (< 2^16 since GITS_TYPER.IDbits = 16)
    u16 prev = kNil, next = kNil;  // the device's list (unordered)
    bool used = false;
};

struct Collection {
    u16 icid = 0;
    u32 target = kUnmappedTarget;  // vCPU number (GITS_TYPER.PTA == 0) or kUnmappedTarget
    u32 refs = 0;                  // ITEs pointing here
    bool used = false;
    bool mapped() const { return target != kUnmappedTarget; }
};

class Mappings {
public:
    // The members' initialisers are the clear state already: only the free stack needs filling (a second pass over
    // the 8,192-slot pool and indexes was ~0.7 M instructions of every boot).
    Mappings() {
        refill_free_stack(0);
        mark_clear();
    }
    Mappings(const Mappings&) = delete;
    Mappings& operator=(const Mappings&) = delete;

    void clear();
    // Keys the hash indexes with a per-VM secret (see HashIndex). Only while nothing is mapped: returns false (and
    // changes nothing) otherwise.
    bool set_hash_seed(u64 seed);

    u16 find_device(u32 device_id) const { return devices_index_.find(device_id); }
    [[nodiscard]] Result<u16> add_device(u32 device_id, u64 itt_addr, u8 event_bits);
    void remove_device(u16 slot);  // the device must have no ITEs left
    Device& device(u16 slot) { return devices_[slot]; }
    const Device& device(u16 slot) const { return devices_[slot]; }

    u16 find_collection(u32 icid) const { return collections_index_.find(icid); }
    // The slot of `icid`, created unmapped if it does not exist yet.
    [[nodiscard]] Result<u16> get_or_add_collection(u32 icid);
    // Frees the slot if it is unmapped and no ITE refers to it.
    void release_collection_if_unused(u16 slot);
    Collection& collection(u16 slot) { return collections_[slot]; }
    const Collection& collection(u16 slot) const { return collections_[slot]; }

    u16 find_ite(u16 device_slot, u32 event) const {
        return event > 0xffff ? kNil : ites_index_.find(ite_key(device_slot, event));
    }
    [[nodiscard]] Result<u16> add_ite(u16 device_slot, u32 event, u32 intid, u16 collection_slot);
    void remove_ite(u16 slot);
    void set_ite_collection(u16 slot, u16 collection_slot);
    Ite& ite(u16 slot) { return ites_[slot]; }
    const Ite& ite(u16 slot) const { return ites_[slot]; }

    usize device_count() const { return n_devices_; }
    usize ite_count() const { return n_ites_; }
    usize collection_count() const { return n_collections_; }

    // Pool iteration (slot order); ids of free slots are skipped by the callers via `used`.
    static constexpr u16 device_slots() { return kMaxDevices; }
    static constexpr u16 ite_slots() { return kMaxItes; }
    static constexpr u16 collection_slots() { return kMaxCollections; }
    // Every used device / ITE slot is below these (high-water marks since the last clear()): pool walks stop there.
    u16 device_slot_end() const { return device_hw_; }
    u16 ite_slot_end() const { return static_cast<u16>(kMaxItes - min_free_ites_); }

private:
    static u32 ite_key(u16 device_slot, u32 event) { return (u32{device_slot} << 16) | (event & 0xffff); }
    // Free ITE slots as a stack, slot 0 on top: allocation and release are O(1) whatever the guest freed before.
    // Entries below `from` are left as they are.
    void refill_free_stack(u32 from) {
        for (u32 i = from; i < kMaxItes; ++i) free_ites_[i] = static_cast<u16>(kMaxItes - 1 - i);
    }
    void mark_clear();

    Device devices_[kMaxDevices];
    Ite ites_[kMaxItes];
    Collection collections_[kMaxCollections];
    HashIndex<1024, kMaxDevices> devices_index_;
    HashIndex<8192, kMaxItes> ites_index_;
    HashIndex<512, kMaxCollections> collections_index_;
    usize n_devices_ = 0, n_ites_ = 0, n_collections_ = 0;
    u16 free_ites_[kMaxItes];  // stack of free ITE slots
    u32 n_free_ites_ = 0;
    // Since the last clear(): the lowest depth of the free ITE stack, and one past the highest device / collection
    // slot used (what clear() has to undo).
    u32 min_free_ites_ = 0;
    u16 device_hw_ = kMaxDevices, collection_hw_ = kMaxCollections;
    // Nothing added since clear(): every slot, index and the free stack are as clear() left them.
    bool pristine_ =
        false;  // nothing added since clear(): every slot, index and the free stack are as clear() left them
};

}  // namespace hv::its
