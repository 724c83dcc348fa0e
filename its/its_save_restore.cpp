// SAVE_TABLES / RESTORE_TABLES / RESET with KVM's table ABI rev 0 (its_abi.hpp) and error classes:
//   guest RAM access fails (a table, level-2 page or ITT outside guest RAM) -> Status::out_of_range  (KVM EFAULT)
//   content invalid (bad INTID, event beyond the DTE size, unknown / duplicate / out-of-table ICID,
//     collection target beyond the vCPUs, a next chain running off its table, EventID bits too wide)
//                                                                        -> Status::corrupt       (KVM EINVAL)
//   more devices / ITEs / collections than this model holds              -> Status::no_memory     (KVM ENOMEM)
//   a mapped device no longer backed by GITS_BASER0 at save time         -> Status::invalid_argument (KVM EINVAL)
//   tables, level-2 pages or ITTs overlapping (restore and save)         -> Status::invalid_argument (KVM EINVAL)
//   ITS enabled                                                          -> Status::busy          (KVM EBUSY)
//   step out of the documented order                                     -> Status::bad_order
#include "its/its.hpp"
#include "its/its_abi.hpp"
#include "lib/format.hpp"
#include "lib/log.hpp"
#include "lib/string.hpp"

namespace hv::its {

namespace {

// Reads a table's 8-byte entries through a small window: a scan of a mostly empty device table or ITT makes one
// guest-memory access per kEntries entries, not one per entry. Forward scans only; the caller has checked that
// the whole table is in guest RAM (contains()), so a window never straddles regions. EL2 stack: the DTE window
// (512 bytes: a 64 KiB level-2 page is 8192 DTEs) and an ITT window (256 bytes) nest.
template <u64 kEntries>
class EntryWindow {
    static_assert(kEntries % 8 == 0);

public:
    EntryWindow(GuestMemory& mem, u64 base, u64 count) : mem_(mem), base_(base), count_(count) {}
    [[nodiscard]] Status get(u64 i, u64& v) {
        if (i >= count_) return Status::out_of_range;
        if (i < first_ || i >= first_ + n_) {
            first_ = i;
            n_ = min<u64>(count_ - i, kEntries);
            if (mem_.read(base_ + i * abi::kEntrySize, buf_, n_ * abi::kEntrySize) != Status::ok) {
                n_ = 0;
                return Status::out_of_range;
            }
        }
        v = buf_[i - first_];
        return Status::ok;
    }
    // The first entry at or after `i` with a bit of `mask` set (count if none): all-zero windows are passed over
    // with a guest-memory read and a memcmp each, so a mostly empty 64 KiB table page costs 128 steps, not 8192
    // entry checks. An unreadable window stops the skip (the caller's get() reports it).
    u64 skip_clear(u64 i, u64 mask) {
        while (i < count_ && count_ - i >= kEntries) {
            n_ = 0;
            if (mem_.read(base_ + i * abi::kEntrySize, buf_, sizeof buf_) != Status::ok) return i;
            first_ = i;
            n_ = kEntries;
            if (memcmp(buf_, kZeros, sizeof buf_) != 0) break;  // something there: look entry by entry
            i += kEntries;
        }
        u64 v = 0;
        while (i < count_ && get(i, v) == Status::ok && (v & mask) == 0) ++i;
        return i;
    }

private:
    static constexpr u8 kZeros[kEntries * abi::kEntrySize] = {};
    GuestMemory& mem_;
    u64 base_, count_;
    u64 first_ = 0, n_ = 0;
    u64 buf_[kEntries];
};

const char* range_kind(TableRange::Kind k) {
    switch (k) {
        case TableRange::Kind::device_table:
            return "device table";
        case TableRange::Kind::level1_table:
            return "level-1 device table";
        case TableRange::Kind::level2_page:
            return "level-2 device table page";
        case TableRange::Kind::collection_table:
            return "collection table";
        case TableRange::Kind::itt:
            return "ITT of DeviceID";
    }
    return "?";
}

void describe(const TableRange& r, char (&buf)[96]) {
    const bool numbered = r.kind == TableRange::Kind::level2_page || r.kind == TableRange::Kind::itt;
    const auto lo = static_cast<unsigned long long>(r.base), hi = static_cast<unsigned long long>(r.end);
    if (numbered)
        format(buf, sizeof buf, "%s %u [%#llx, %#llx)", range_kind(r.kind), r.id, lo, hi);
    else
        format(buf, sizeof buf, "%s [%#llx, %#llx)", range_kind(r.kind), lo, hi);
}

// Inserts `r` into ranges[0, n) -- sorted by base and pairwise disjoint -- keeping both properties (insertion
// sort). If `r` overlaps one, nothing is inserted and that one is returned: with disjoint sorted ranges only the
// neighbours `r` would get can overlap it (any earlier range ends before its predecessor begins; any later one
// begins after its successor does).
const TableRange* insert_disjoint(TableRange* ranges, u32& n, const TableRange& r) {
    u32 i = n;
    while (i > 0 && ranges[i - 1].base > r.base) --i;
    if (i > 0 && ranges[i - 1].end > r.base) return &ranges[i - 1];
    if (i < n && r.end > ranges[i].base) return &ranges[i];
    for (u32 j = n; j > i; --j) ranges[j] = ranges[j - 1];
    ranges[i] = r;
    ++n;
    return nullptr;
}

}  // namespace

// IHI0069H 5.2 / 12.19.1: the tables and ITTs are memory software gives the ITS, and overlapping them is
// UNPREDICTABLE. Here it would make SAVE_TABLES write one over another, an image no restore accepts (or one that
// restores differently), so neither direction accepts it.
Status Its::check_tables_disjoint(const char* op) {
    u32 n = 0;
    const TableRange* hit = nullptr;
    bool full = false;
    TableRange r;
    auto add = [&](u64 base, u64 len, TableRange::Kind kind, u32 id) {
        if (hit != nullptr || full || len == 0) return;
        full = n == kMaxTableRanges;  // cannot happen (bounded by the device pool and DevBits): refuse, never skip
        if (full) return;
        r = TableRange{base, base + len, kind, id};
        hit = insert_disjoint(ranges_, n, r);
    };
    const TableGeometry dt = device_table();
    const TableGeometry ct = collection_table();
    // As save_collections / save_devices: a table that is not valid is not written (and then holds nothing).
    if (ct.valid) add(ct.base, ct.id_limit * abi::kEntrySize, TableRange::Kind::collection_table, 0);
    if (dt.valid && !dt.indirect) add(dt.base, dt.id_limit * abi::kEntrySize, TableRange::Kind::device_table, 0);
    if (dt.valid && dt.indirect) {
        // The level-1 entries save_devices reads (not writes): a level-2 page or ITT over them would change which
        // pages the rest of the save and the restore find.
        const u64 l1_used = min(dt.l1_entries(), (dt.id_limit + dt.ids_per_page() - 1) / dt.ids_per_page());
        add(dt.base, l1_used * 8, TableRange::Kind::level1_table, 0);
        for (u64 i = 0; i < l1_used && hit == nullptr && !full; ++i) {
            u64 l1 = 0;
            if (mem_.read_obj(dt.base + i * 8, l1) != Status::ok) return Status::out_of_range;
            if (l1e::Valid::get(l1))
                add((l1e::Address::get(l1) << 12) & ~(dt.page_size - 1), dt.page_size, TableRange::Kind::level2_page,
                    static_cast<u32>(i));
        }
    }
    for (u16 s = 0; s < map_.device_slot_end() && hit == nullptr && !full; ++s) {
        const Device& d = map_.device(s);
        if (d.used) add(d.itt_addr, u64{d.event_limit()} * abi::kEntrySize, TableRange::Kind::itt, d.id);
    }
    if (full) return Status::no_memory;
    if (hit == nullptr) return Status::ok;
    char a[96], b[96];
    describe(r, a);
    describe(*hit, b);
    HV_LOG_RATELIMITED(warn, "its: %s refused: %s overlaps %s", op, a, b);
    return Status::invalid_argument;
}

void Its::reset() {
    LockGuard g(cmd_lock_);
    unmap_all();
    {
        LockGuard m(map_lock_);
        enabled_.store(false, MemoryOrder::release);
    }
    // KVM "ITS Reset State": CTLR.Enabled = 0, CBASER/CREADR/CWRITER = 0, BASER<n>.Valid = 0, caches empty;
    // the ABI revision is kept.
    cbaser_ = creadr_ = cwriter_ = 0;
    stalled_ = false;
    baser_[0] &= ~baser::Valid::field_mask;
    baser_[1] &= ~baser::Valid::field_mask;
    phase_ = RestorePhase::idle;
    iidr_restored_ = false;
    baser_restored_[0] = baser_restored_[1] = false;
    update_backlog();
}

// ---------------------------------------------------------------- save

Status Its::save_collections() {
    TableGeometry ct = collection_table();
    // MAPC needs a valid table, but the guest may clear GITS_BASER1.Valid afterwards (allowed while the ITS is
    // disabled, IHI0069H 12.19.1): the ITS still holds the collections then, and a save with nowhere to put them
    // would write ITEs naming ICIDs that no restore can find. Fail the save instead, as for a table too small.
    if (!ct.valid) return map_.collection_count() == 0 ? Status::ok : Status::invalid_argument;
    // Packed, in ascending ICID order, terminated by an entry with V == 0 if there is room (KVM).
    u64 index = 0;
    i64 last = -1;
    for (usize n = 0; n < map_.collection_count(); ++n) {
        u16 best = kNil;
        for (u16 s = 0; s < Mappings::collection_slots(); ++s) {
            const Collection& c = map_.collection(s);
            if (c.used && c.icid > last && (best == kNil || c.icid < map_.collection(best).icid)) best = s;
        }
        if (best == kNil) break;
        const Collection& c = map_.collection(best);
        last = c.icid;
        if ((index + 1) * abi::kEntrySize > ct.bytes) return Status::invalid_argument;
        u64 rd = c.mapped() ? c.target : abi::cte::kNotMapped;
        HV_TRY(mem_.write_obj(ct.base + index * abi::kEntrySize, abi::cte::make(rd, c.icid)));
        ++index;
    }
    if ((index + 1) * abi::kEntrySize <= ct.bytes) HV_TRY(mem_.write_obj(ct.base + index * abi::kEntrySize, u64{0}));
    return Status::ok;
}

Status Its::save_itt(const Device& d) {
    // The whole ITT is rewritten: gaps are zero so stale entries of an earlier save cannot come back.
    HV_TRY(zero_guest(mem_, d.itt_addr, u64{d.event_limit()} * abi::kEntrySize));
    // The device's list is unordered; `next` needs EventID order: heap sort of its slots (O(n log n), save only).
    u32 n = 0;
    for (u16 e = d.first_ite; e != kNil && n < kMaxItes; e = map_.ite(e).next) save_order_[n++] = e;
    auto ev = [&](u32 i) { return map_.ite(save_order_[i]).event; };
    auto sift = [&](u32 root, u32 end) {
        for (u32 child; (child = 2 * root + 1) < end; root = child) {
            if (child + 1 < end && ev(child + 1) > ev(child)) ++child;
            if (ev(root) >= ev(child)) return;
            const u16 t = save_order_[root];
            save_order_[root] = save_order_[child];
            save_order_[child] = t;
        }
    };
    for (u32 i = n / 2; i-- > 0;) sift(i, n);
    for (u32 end = n; end > 1; --end) {
        const u16 t = save_order_[0];
        save_order_[0] = save_order_[end - 1];
        save_order_[end - 1] = t;
        sift(0, end - 1);
    }
    for (u32 i = 0; i < n; ++i) {
        const Ite& ite = map_.ite(save_order_[i]);
        u64 next = i + 1 == n ? 0 : min<u64>(ev(i + 1) - ite.event, abi::ite::kMaxNext);
        u64 v = abi::ite::make(next, ite.intid, map_.collection(ite.collection).icid);
        HV_TRY(mem_.write_obj(d.itt_addr + u64{ite.event} * abi::kEntrySize, v));
    }
    return Status::ok;
}

Status Its::save_devices() {
    TableGeometry dt = device_table();
    if (!dt.valid) return map_.device_count() == 0 ? Status::ok : Status::invalid_argument;  // as collections
    // Rewrite the device table (flat) or every valid level-2 page (two-level) so gaps read back as invalid.
    if (!dt.indirect) {
        HV_TRY(zero_guest(mem_, dt.base, dt.id_limit * abi::kEntrySize));
    } else {
        for (u64 i = 0; i < dt.l1_entries() && i * dt.ids_per_page() < dt.id_limit; ++i) {
            u64 l1 = 0;
            HV_TRY(mem_.read_obj(dt.base + i * 8, l1));
            if (!l1e::Valid::get(l1)) continue;
            HV_TRY(zero_guest(mem_, (l1e::Address::get(l1) << 12) & ~(dt.page_size - 1), dt.page_size));
        }
    }
    // Devices in ascending DeviceID order, each DTE's next pointing at the following one.
    i64 last = -1;
    u16 cur = kNil;
    for (usize n = 0; n <= map_.device_count(); ++n) {
        u16 best = kNil;
        for (u16 s = 0; s < map_.device_slot_end(); ++s) {
            const Device& d = map_.device(s);
            if (d.used && i64{d.id} > last && (best == kNil || d.id < map_.device(best).id)) best = s;
        }
        if (cur != kNil) {
            const Device& d = map_.device(cur);
            Result<u64> gpa = locate_entry(mem_, dt, d.id);
            if (!gpa.ok())
                return gpa.status() == Status::out_of_range ? Status::out_of_range : Status::invalid_argument;
            HV_TRY(save_itt(d));
            u64 next = best == kNil ? 0 : min<u64>(map_.device(best).id - d.id, abi::dte::kMaxNext);
            HV_TRY(mem_.write_obj(gpa.value(), abi::dte::make(next, d.itt_addr, d.event_bits - 1u)));
        }
        if (best == kNil) break;
        cur = best;
        last = map_.device(best).id;
    }
    return Status::ok;
}

Status Its::save_tables() {
    LockGuard g(cmd_lock_);
    if (abi_revision_ != abi::kRevision) return Status::unsupported;
    // Nothing is written unless everything the save writes is disjoint (a live guest can build overlapping tables).
    Status s = check_tables_disjoint("SAVE_TABLES");
    if (s == Status::ok) s = save_collections();
    if (s == Status::ok) s = save_devices();
    if (s != Status::ok) HV_LOG_WARN("its: SAVE_TABLES failed: %s", status_name(s));
    return s;
}

// ---------------------------------------------------------------- restore

Status Its::restore_collections() {
    TableGeometry ct = collection_table();
    if (!ct.valid) return Status::ok;
    const u64 entries = min<u64>(ct.bytes / abi::kEntrySize, u64{1} << 16);
    for (u64 i = 0; i < entries; ++i) {
        u64 v = 0;
        if (mem_.read_obj(ct.base + i * abi::kEntrySize, v) != Status::ok) return Status::out_of_range;
        if (!abi::cte::Valid::get(v)) return Status::ok;      // the first invalid entry ends the table
        if ((v & mask(62, 52)) != 0) return Status::corrupt;  // RES0
        const u32 icid = static_cast<u32>(abi::cte::Icid::get(v));
        const u64 rd = abi::cte::RdBase::get(v);
        if (icid >= ct.id_limit) return Status::corrupt;                                     // ICID beyond table
        if (rd != abi::cte::kNotMapped && rd >= sink_.vcpu_count()) return Status::corrupt;  // no such vCPU
        if (map_.find_collection(icid) != kNil) return Status::corrupt;                      // duplicate (KVM EEXIST)
        LockGuard g(map_lock_);
        Result<u16> s = map_.get_or_add_collection(icid);
        if (!s.ok()) return s.status();
        map_.collection(s.value()).target = rd == abi::cte::kNotMapped ? kUnmappedTarget : static_cast<u32>(rd);
    }
    return Status::ok;
}

Status Its::restore_device(u32 id, u64 dte) {
    const u32 event_bits = static_cast<u32>(abi::dte::Size::get(dte)) + 1;
    const u64 itt = abi::dte::itt_addr(dte);
    if (event_bits > kIdBits) return Status::corrupt;
    const u64 events = u64{1} << event_bits;
    if (!mem_.contains(itt, events * abi::kEntrySize)) return Status::out_of_range;
    if (map_.find_device(id) != kNil) return Status::corrupt;
    u16 d;
    {
        LockGuard g(map_lock_);
        Result<u16> r = map_.add_device(id, itt, static_cast<u8>(event_bits));
        if (!r.ok()) return r.status();
        d = r.value();
    }
    EntryWindow<32> ites(mem_, itt, events);
    u64 ev = 0;
    while (ev < events) {
        ev = ites.skip_clear(ev, abi::ite::PIntId::field_mask);
        if (ev >= events) break;
        u64 v = 0;
        if (ites.get(ev, v) != Status::ok) return Status::out_of_range;
        const u64 intid = abi::ite::PIntId::get(v);
        if (intid == 0) {  // invalid entry: step to the next one
            ++ev;
            continue;
        }
        if (intid < kMinLpi || intid >= kLpiLimit) return Status::corrupt;
        u16 coll = map_.find_collection(static_cast<u32>(abi::ite::Icid::get(v)));
        if (coll == kNil) return Status::corrupt;  // unknown ICID
        {
            LockGuard g(map_lock_);
            Result<u16> e = map_.add_ite(d, static_cast<u32>(ev), static_cast<u32>(intid), coll);
            if (!e.ok()) return e.status() == Status::no_memory ? Status::no_memory : Status::corrupt;
        }
        const u64 next = abi::ite::Next::get(v);
        if (next == 0) return Status::ok;
        ev += next;
        if (ev >= events) return Status::corrupt;  // next chain runs beyond the DTE's EventID range
    }
    return Status::ok;
}

// Scans `count` DTEs at `gpa` (IDs first_id...). A valid DTE with next == 0 ends the whole table (`done`).
Status Its::restore_dte_run(u64 gpa, u64 first_id, u64 count, u64 id_limit, bool& done) {
    EntryWindow<64> dtes(mem_, gpa, count);
    u64 i = 0;
    while (i < count) {
        i = dtes.skip_clear(i, abi::dte::Valid::field_mask);
        if (i >= count) break;
        u64 v = 0;
        if (dtes.get(i, v) != Status::ok) return Status::out_of_range;
        if (!abi::dte::Valid::get(v)) {
            ++i;
            continue;
        }
        HV_TRY(restore_device(static_cast<u32>(first_id + i), v));
        const u64 next = abi::dte::Next::get(v);
        if (next == 0) {
            done = true;
            return Status::ok;
        }
        i += next;
        if (first_id + i >= id_limit) return Status::corrupt;  // next chain runs off the table
        // In a two-level table the chain may continue in a later level-2 page: that page's own scan finds it.
    }
    return Status::ok;
}

Status Its::restore_devices() {
    TableGeometry dt = device_table();
    if (!dt.valid) return Status::ok;
    bool done = false;
    if (!dt.indirect) {
        if (!mem_.contains(dt.base, dt.id_limit * abi::kEntrySize)) return Status::out_of_range;
        return restore_dte_run(dt.base, 0, dt.id_limit, dt.id_limit, done);
    }
    for (u64 i = 0; i < dt.l1_entries() && i * dt.ids_per_page() < dt.id_limit && !done; ++i) {
        u64 l1 = 0;
        if (mem_.read_obj(dt.base + i * 8, l1) != Status::ok) return Status::out_of_range;
        if (!l1e::Valid::get(l1)) continue;
        const u64 page = (l1e::Address::get(l1) << 12) & ~(dt.page_size - 1);
        if (!mem_.contains(page, dt.page_size)) return Status::out_of_range;
        const u64 first = i * dt.ids_per_page();
        HV_TRY(restore_dte_run(page, first, min(dt.ids_per_page(), dt.id_limit - first), dt.id_limit, done));
    }
    return Status::ok;
}

Status Its::restore_tables() {
    LockGuard g(cmd_lock_);
    if (enabled_.load(MemoryOrder::relaxed)) return Status::busy;
    if (!iidr_restored_ || !baser_restored_[0] || !baser_restored_[1]) return Status::bad_order;
    if (abi_revision_ != abi::kRevision) return Status::unsupported;  // refused before anything is read
    unmap_all();
    Status s = restore_collections();
    if (s == Status::ok) s = restore_devices();
    // Tables read in, the same rule as the save: a state whose save would write its tables over each other is
    // refused here, so the snapshot dry run (ItsRestoreCheck) refuses it before anything changes.
    if (s == Status::ok) s = check_tables_disjoint("RESTORE_TABLES");
    if (s != Status::ok) {
        // Never half-restored: drop everything read so far (the observer has not been told about any of it).
        LockGuard m(map_lock_);
        map_.clear();
        HV_LOG_WARN("its: RESTORE_TABLES failed: %s", status_name(s));
        return s;
    }
    phase_ = RestorePhase::tables_restored;
    if (observer_) {
        for (u16 e = 0; e < map_.ite_slot_end(); ++e) {  // slot order, up to the last slot used
            const Ite& ite = map_.ite(e);
            if (ite.used)
                observer_->on_map(map_.device(ite.device).id, ite.event, ite.intid,
                                  map_.collection(ite.collection).target);
        }
    }
    return Status::ok;
}

}  // namespace hv::its
