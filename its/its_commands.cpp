// ITS command queue processing (IHI0069H 5.3). Runs with cmd_lock_ held; every mutation of the mappings takes
// map_lock_ briefly; LpiSink and ItsObserver are called with map_lock_ released.
//
// Error policy. IHI0069H 5.3.2 lets an ITS either ignore a command that fails its checks or stall the queue
// (GITS_CREADR.Stalled). Choices, written next to each check below:
//  * every parameter error (IDs out of range, unmapped device/event/collection, bad INTID, pool exhaustion)
//    ignores the command and moves on, as KVM does (vgic-its.c returns an error code and advances CREADR) and as
//    QEMU does for parameter errors;
//  * a command that cannot be read from guest RAM stalls the queue, as QEMU does for memory errors; the guest
//    can fix GITS_CBASER and retry with GITS_CWRITER.Retry.
#include "its/its.hpp"
#include "lib/log.hpp"

namespace hv::its {

void Its::process_queue(u32 budget) {
    process_queue_batch(budget);
    update_backlog();
}

const u8* Its::lookup_queue_host() {
    queue_cbaser_ = cbaser_;
    queue_map_gen_ = mem_.map_generation();
    const u8* p = mem_.direct(queue_base(), queue_bytes());
    // Commands are read as doublewords (-mstrict-align): an unaligned host mapping (a test buffer) uses read().
    queue_host_ = (reinterpret_cast<uptr>(p) & 7) == 0 ? p : nullptr;
    return queue_host_;
}

void Its::process_backlog() {
    LockGuard g(cmd_lock_);
    process_queue(kCommandsPerTrap);
}

[[gnu::always_inline]] inline bool Its::int_last_event(u64 dw0, u64 dw1) {
    // lookup_event's first check (exact, see there) and cmd_int_clear_inv's INT, for a mapped collection; the rest --
    // another event, an unmapped collection (logged) -- is left to them.
    if (last_ite_ == kNil) return false;
    const Ite& i = map_.ite(last_ite_);
    const u32 dev = static_cast<u32>(Command::DeviceIdF::get(dw0));
    const u32 ev = static_cast<u32>(Command::EventIdF::get(dw1));
    if (!i.used || i.event != ev) return false;
    const Device& d = map_.device(i.device);
    if (!d.used || d.id != dev) return false;
    const u32 target = map_.collection(i.collection).target, intid = i.intid;
    if (target == kUnmappedTarget) return false;
    // A directly injected vLPI (GICv4) has its pending state in the physical GIC: the observer sets it.
    if (observer_pending_ && observer_->on_set_pending(dev, ev, true)) return true;
    sink_.set_lpi_pending(target, intid, true);
    return true;
}

[[gnu::always_inline]] inline void Its::process_queue_batch_body(u32 budget) {
    if (!enabled_.load(MemoryOrder::relaxed) || stalled_ || !cbaser::Valid::get(cbaser_)) return;
    const u64 size = queue_bytes();
    if (creadr_ >= size || cwriter_ >= size) {  // cannot happen through the register paths; be safe anyway
        stalled_ = true;
        return;
    }
    // Bounded: at most `budget` commands per call (kCommandsPerTrap from a guest trap, docs/its.md "Batching"); the
    // rest waits for the next CWRITER write or CREADR / CTLR read, as a real ITS works through its queue
    // asynchronously while the driver polls GITS_CREADR (IHI0069H 5.3: commands complete when CREADR passes them).
    // INVALL and MOVALL walk every LPI (the property table, the pending bitmap): they count kHeavyCommandCost.
    // The queue lies in one region of guest RAM (the usual case): each command is copied straight from there. The
    // guest may rewrite it meanwhile: the copy is what gets validated and executed (each word is read once).
    // An INT of the event found last (int_last_event: a driver's INTs come in runs) is done from the words read,
    // without the copy and execute's dispatch.
    const u8* const host = queue_host();
    // The driver's usual doorbell: one command, an INT of the event found last -- done without the loop. Anything
    // else goes to the loop, which reads the command again and executes what it reads then (nothing was done with
    // this read: int_last_event changes nothing when it answers false).
    if (const u64 next = creadr_ + kCommandSize == size ? 0 : creadr_ + kCommandSize;
        host != nullptr && next == cwriter_ && budget != 0) {
        const volatile u64* src = reinterpret_cast<const volatile u64*>(host + creadr_);
        if (const u64 dw0 = src[0];
            Command::OpcodeF::get(dw0) == static_cast<u8>(Opcode::INT) && int_last_event(dw0, src[1])) {
            creadr_ = next;
            return;
        }
    }
    Command& c = cmd_;
    budget = static_cast<u32>(min<u64>(budget, size / kCommandSize));  // each command counts at least 1
    for (u32 work = 0; creadr_ != cwriter_ && work < budget;) {
        const u64 next = creadr_ + kCommandSize == size ? 0 : creadr_ + kCommandSize;  // both 32-aligned
        if (host != nullptr) {
            const volatile u64* src = reinterpret_cast<const volatile u64*>(host + creadr_);
            const u64 dw0 = src[0], dw1 = src[1];
            if (Command::OpcodeF::get(dw0) == static_cast<u8>(Opcode::INT) && int_last_event(dw0, dw1)) {
                ++work;
                creadr_ = next;
                continue;
            }
            c.dw[0] = dw0;
            c.dw[1] = dw1;
            c.dw[2] = src[2];
            c.dw[3] = src[3];
        } else if (mem_.read(queue_base() + creadr_, &c, sizeof c) != Status::ok) {
            HV_LOG_RATELIMITED(warn, "its: command at %#llx outside guest RAM: queue stalled",
                               static_cast<unsigned long long>(queue_base() + creadr_));
            stalled_ = true;
            return;
        }
        if (execute(c) == CmdResult::stall) {
            stalled_ = true;
            return;
        }
        const bool heavy =
            c.raw_opcode() == static_cast<u8>(Opcode::INVALL) || c.raw_opcode() == static_cast<u8>(Opcode::MOVALL);
        work += heavy ? kHeavyCommandCost : 1;
        creadr_ = next;
    }
}

// GITS_CWRITER (IHI0069H 12.19.5): a guest write of the whole register; cmd_lock_ held, the caller publishes with
// update_backlog().
[[gnu::always_inline]] inline void Its::set_cwriter_body(u64 full) {
    u64 offset = full & cqueue::kOffsetMask;  // bits [4:1] are RES0: a misaligned offset cannot be expressed
    if (offset >= queue_bytes()) {
        // IHI0069H 12.19.5: an offset beyond the queue is UNPREDICTABLE. Choice (KVM): the write is ignored.
        HV_LOG_RATELIMITED(warn, "its: GITS_CWRITER %#llx beyond the %llu-byte queue ignored",
                           static_cast<unsigned long long>(offset), static_cast<unsigned long long>(queue_bytes()));
        return;
    }
    cwriter_ = offset;
    // Retry: restart a stalled queue at GITS_CREADR (IHI0069H 12.19.5).
    if (cqueue::Retry::get(full) && stalled_) stalled_ = false;
    process_queue_batch_body(kCommandsPerTrap);
}

void Its::set_cwriter(u64 full) { set_cwriter_body(full); }

// The driver's doorbell, every command batch (its.hpp mmio_write): one function from the lock to update_backlog().
void Its::write_cwriter_locked(u64 value) {
    LockGuard g(cmd_lock_);
    set_cwriter_body(value);
    update_backlog();
}

void Its::process_queue_batch(u32 budget) { process_queue_batch_body(budget); }

CmdResult Its::execute(const Command& c) {
    if (!is_known_opcode(c.raw_opcode())) {
        // Unknown / GICv4-only opcodes: command error, ignored (KVM and QEMU).
        HV_LOG_RATELIMITED(warn, "its: unknown command opcode %#x ignored", c.raw_opcode());
        return CmdResult::next;
    }
    switch (c.opcode()) {
        case Opcode::MAPD:
            return cmd_mapd(c);
        case Opcode::MAPC:
            return cmd_mapc(c);
        case Opcode::MAPTI:
            return cmd_mapti(c, c.pintid());
        case Opcode::MAPI:
            return cmd_mapti(c, c.event_id());  // MAPI: pINTID = EventID (IHI0069H 5.3.10)
        case Opcode::MOVI:
            return cmd_movi(c);
        case Opcode::DISCARD:
            return cmd_discard(c);
        case Opcode::INT:
        case Opcode::CLEAR:
        case Opcode::INV:
            return cmd_int_clear_inv(c);
        case Opcode::INVALL:
            return cmd_invall(c);
        case Opcode::SYNC:
            return cmd_sync(c);
        case Opcode::MOVALL:
            return cmd_movall(c);
    }
    return CmdResult::next;
}

void Its::unmap_device_events(u16 device_slot) {
    // One ITE at a time so translations are never blocked for long; bounded by the pool size.
    for (u32 guard = 0; guard <= kMaxItes; ++guard) {
        u16 e = map_.device(device_slot).first_ite;
        if (e == kNil) return;
        u32 dev = map_.device(device_slot).id, ev = map_.ite(e).event, intid = map_.ite(e).intid;
        {
            LockGuard g(map_lock_);
            map_.remove_ite(e);
        }
        if (observer_) observer_->on_unmap(dev, ev, intid);
    }
}

void Its::unmap_all() {
    for (u16 s = 0; s < map_.device_slot_end(); ++s)
        if (map_.device(s).used) unmap_device_events(s);
    LockGuard g(map_lock_);
    map_.clear();
}

void Its::notify_collection(u16 collection_slot) {
    if (observer_ == nullptr) return;
    u32 target = map_.collection(collection_slot).target;
    // Slot order; the scan stops at the last of the collection's `refs` ITEs (not every slot of the pool per MAPC).
    u32 left = map_.collection(collection_slot).refs;
    for (u16 e = 0; e < map_.ite_slot_end() && left != 0; ++e) {
        const Ite& ite = map_.ite(e);
        if (!ite.used || ite.collection != collection_slot) continue;
        --left;
        observer_->on_map(map_.device(ite.device).id, ite.event, ite.intid, target);
    }
}

// MAPD DeviceID, ITT_addr, Size, V (IHI0069H 5.3.8)
CmdResult Its::cmd_mapd(const Command& c) {
    const u32 dev = c.device_id();
    TableGeometry dt = device_table();
    // DeviceID beyond GITS_TYPER.Devbits or beyond what GITS_BASER0 provisions (including an invalid level-1
    // entry of a two-level table): command error, ignored (KVM: E_ITS_MAPD_DEVICE_OOR).
    Result<u64> dte = locate_entry(mem_, dt, dev);
    if (!dte.ok()) {
        HV_LOG_RATELIMITED(warn, "its: MAPD device %#x not backed by the device table (%s): ignored", dev,
                           status_name(dte.status()));
        return CmdResult::next;
    }
    const u32 event_bits = c.size() + 1;
    if (c.valid()) {
        if (event_bits > kIdBits) {  // Size beyond GITS_TYPER.ID_bits: ignored (KVM: E_ITS_MAPD_ITTSIZE_OOR)
            HV_LOG_RATELIMITED(warn, "its: MAPD device %#x with %u EventID bits: ignored", dev, event_bits);
            return CmdResult::next;
        }
        // An ITT outside guest RAM is UNPREDICTABLE (IHI0069H 5.2.3); choice: the MAPD is ignored, so no later
        // save can fault on it.
        const u64 itt_bytes = (u64{1} << event_bits) * kIteSize;
        if (!mem_.contains(c.itt_addr(), itt_bytes)) {
            HV_LOG_RATELIMITED(warn, "its: MAPD device %#x ITT %#llx+%#llx outside guest RAM: ignored", dev,
                               static_cast<unsigned long long>(c.itt_addr()),
                               static_cast<unsigned long long>(itt_bytes));
            return CmdResult::next;
        }
    }
    // Remapping a mapped DeviceID (V=1) or unmapping it (V=0) discards its interrupt mappings, as KVM does.
    // Choice: the LPIs' pending state stays in the redistributors (it belongs to their pending tables).
    u16 slot = map_.find_device(dev);
    if (slot != kNil) {
        unmap_device_events(slot);
        LockGuard g(map_lock_);
        map_.remove_device(slot);
    }
    if (!c.valid()) return CmdResult::next;
    Result<u16> added = [&]() {
        LockGuard g(map_lock_);
        return map_.add_device(dev, c.itt_addr(), static_cast<u8>(event_bits));
    }();
    if (!added.ok())  // model capacity (kMaxDevices) exhausted: ignored like KVM's -ENOMEM
        HV_LOG_RATELIMITED(warn, "its: MAPD device %#x: device pool exhausted, ignored", dev);
    return CmdResult::next;
}

// MAPC ICID, RDbase, V (IHI0069H 5.3.7)
CmdResult Its::cmd_mapc(const Command& c) {
    const u32 icid = c.icid();
    if (icid >= collection_table().id_limit) {  // ICID beyond GITS_BASER1: ignored (KVM)
        HV_LOG_RATELIMITED(warn, "its: MAPC ICID %u beyond the collection table: ignored", icid);
        return CmdResult::next;
    }
    if (!c.valid()) {
        u16 s = map_.find_collection(icid);
        if (s == kNil || !map_.collection(s).mapped()) return CmdResult::next;
        {
            LockGuard g(map_lock_);
            map_.collection(s).target = kUnmappedTarget;  // ITEs keep their ICID; their translations drop
        }
        notify_collection(s);
        LockGuard g(map_lock_);
        map_.release_collection_if_unused(s);
        return CmdResult::next;
    }
    if (!valid_rdbase(c.rdbase())) {  // RDbase beyond the vCPUs (PTA == 0): ignored (KVM)
        HV_LOG_RATELIMITED(warn, "its: MAPC ICID %u to RDbase %llu (no such vCPU): ignored", icid,
                           static_cast<unsigned long long>(c.rdbase()));
        return CmdResult::next;
    }
    const u32 target = static_cast<u32>(c.rdbase());
    u16 s;
    {
        LockGuard g(map_lock_);
        Result<u16> r = map_.get_or_add_collection(icid);
        if (!r.ok()) {
            HV_LOG_RATELIMITED(warn, "its: MAPC ICID %u: collection pool exhausted, ignored", icid);
            return CmdResult::next;
        }
        s = r.value();
        if (map_.collection(s).target == target) return CmdResult::next;
        // Remapping a mapped collection retargets its interrupts (KVM). Choice: LPIs already pending stay on the
        // old redistributor (software is expected to MOVALL first, IHI0069H 5.3.7).
        map_.collection(s).target = target;
    }
    notify_collection(s);
    return CmdResult::next;
}

u16 Its::lookup_event(const Command& c) const {
    // The commands of one event come in runs (INT after INT, INV after INV): the last ITE found is checked first. The
    // check is exact, not a cache that could go stale: a used ITE slot whose event is EventID and whose device slot is
    // used with DeviceID is (DeviceID, EventID)'s one ITE -- a device slot has one ID, a (device slot, event) one ITE.
    if (last_ite_ != kNil) {
        const Ite& i = map_.ite(last_ite_);
        if (i.used && i.event == c.event_id() && map_.device(i.device).used &&
            map_.device(i.device).id == c.device_id())
            return last_ite_;
    }
    u16 d = map_.find_device(c.device_id());
    if (d == kNil) {  // unmapped DeviceID: ignored (KVM E_ITS_*_UNMAPPED_INTERRUPT)
        HV_LOG_RATELIMITED(warn, "its: %s device %#x not mapped: ignored", opcode_name(c.opcode()), c.device_id());
        return kNil;
    }
    u16 e = map_.find_ite(d, c.event_id());
    if (e == kNil)
        HV_LOG_RATELIMITED(warn, "its: %s device %#x event %u not mapped: ignored", opcode_name(c.opcode()),
                           c.device_id(), c.event_id());
    else
        last_ite_ = e;
    return e;
}

// MAPTI DeviceID, EventID, pINTID, ICID / MAPI DeviceID, EventID, ICID (IHI0069H 5.3.9, 5.3.10)
CmdResult Its::cmd_mapti(const Command& c, u32 intid) {
    const u32 dev = c.device_id(), ev = c.event_id(), icid = c.icid();
    u16 d = map_.find_device(dev);
    if (d == kNil) {
        HV_LOG_RATELIMITED(warn, "its: MAPTI device %#x not mapped: ignored", dev);
        return CmdResult::next;
    }
    if (ev >= map_.device(d).event_limit()) {  // EventID beyond the ITT size: ignored (KVM)
        HV_LOG_RATELIMITED(warn, "its: MAPTI device %#x event %u beyond its ITT: ignored", dev, ev);
        return CmdResult::next;
    }
    if (intid < kMinLpi || intid >= kLpiLimit) {  // not an LPI this ITS can produce: ignored (KVM)
        HV_LOG_RATELIMITED(warn, "its: MAPTI device %#x event %u INTID %u out of range: ignored", dev, ev, intid);
        return CmdResult::next;
    }
    if (icid >= collection_table().id_limit) {  // ICID beyond GITS_BASER1: ignored (KVM)
        HV_LOG_RATELIMITED(warn, "its: MAPTI ICID %u beyond the collection table: ignored", icid);
        return CmdResult::next;
    }
    if (map_.find_ite(d, ev) != kNil) {
        // Mapping an already mapped EventID is UNPREDICTABLE; choice (KVM): ignored, the old mapping stays.
        HV_LOG_RATELIMITED(warn, "its: MAPTI device %#x event %u already mapped: ignored", dev, ev);
        return CmdResult::next;
    }
    u32 target;
    {
        LockGuard g(map_lock_);
        Result<u16> coll = map_.get_or_add_collection(icid);  // an unmapped collection may be referenced
        if (!coll.ok()) {
            HV_LOG_RATELIMITED(warn, "its: MAPTI ICID %u: collection pool exhausted, ignored", icid);
            return CmdResult::next;
        }
        Result<u16> e = map_.add_ite(d, ev, intid, coll.value());
        if (!e.ok()) {
            map_.release_collection_if_unused(coll.value());
            HV_LOG_RATELIMITED(warn, "its: MAPTI device %#x event %u: ITE pool exhausted, ignored", dev, ev);
            return CmdResult::next;
        }
        target = map_.collection(coll.value()).target;
    }
    if (observer_) observer_->on_map(dev, ev, intid, target);
    return CmdResult::next;
}

// MOVI DeviceID, EventID, ICID (IHI0069H 5.3.13)
CmdResult Its::cmd_movi(const Command& c) {
    u16 e = lookup_event(c);
    if (e == kNil) return CmdResult::next;
    const u32 icid = c.icid();
    u16 to = icid < collection_table().id_limit ? map_.find_collection(icid) : kNil;
    if (to == kNil || !map_.collection(to).mapped() || !map_.collection(map_.ite(e).collection).mapped()) {
        // Unmapped (or out-of-range) source or destination collection: ignored (KVM E_ITS_MOVI_UNMAPPED_COLLECTION)
        HV_LOG_RATELIMITED(warn, "its: MOVI to ICID %u with an unmapped collection: ignored", icid);
        return CmdResult::next;
    }
    const u32 old_target = ite_target(e), new_target = map_.collection(to).target;
    const u32 intid = map_.ite(e).intid;
    {
        LockGuard g(map_lock_);
        map_.set_ite_collection(e, to);
    }
    // The pending state moves with the interrupt (IHI0069H 5.3.13).
    if (old_target != new_target && sink_.lpi_pending(old_target, intid)) {
        sink_.set_lpi_pending(old_target, intid, false);
        sink_.set_lpi_pending(new_target, intid, true);
    }
    if (observer_) observer_->on_map(c.device_id(), c.event_id(), intid, new_target);
    return CmdResult::next;
}

// DISCARD DeviceID, EventID (IHI0069H 5.3.4)
CmdResult Its::cmd_discard(const Command& c) {
    u16 e = lookup_event(c);
    if (e == kNil) return CmdResult::next;
    if (!map_.collection(map_.ite(e).collection).mapped()) {
        // Choice (KVM and QEMU): a DISCARD whose collection is unmapped is ignored.
        HV_LOG_RATELIMITED(warn, "its: DISCARD device %#x event %u: collection unmapped, ignored", c.device_id(),
                           c.event_id());
        return CmdResult::next;
    }
    const u32 target = ite_target(e), intid = map_.ite(e).intid;
    {
        LockGuard g(map_lock_);
        map_.remove_ite(e);
    }
    sink_.set_lpi_pending(target, intid, false);  // DISCARD also removes the pending state
    if (observer_) observer_->on_unmap(c.device_id(), c.event_id(), intid);
    return CmdResult::next;
}

// INT / CLEAR / INV DeviceID, EventID (IHI0069H 5.3.6, 5.3.3, 5.3.11)
CmdResult Its::cmd_int_clear_inv(const Command& c) {
    u16 e = lookup_event(c);
    if (e == kNil) return CmdResult::next;
    if (!map_.collection(map_.ite(e).collection).mapped()) {  // unmapped collection: ignored (KVM)
        HV_LOG_RATELIMITED(warn, "its: %s device %#x event %u: collection unmapped, ignored", opcode_name(c.opcode()),
                           c.device_id(), c.event_id());
        return CmdResult::next;
    }
    const u32 target = ite_target(e), intid = map_.ite(e).intid;
    if (c.opcode() == Opcode::INV) {
        sink_.invalidate_lpi(target, intid);
        if (observer_) observer_->on_invalidate(c.device_id(), c.event_id());
        return CmdResult::next;
    }
    const bool set = c.opcode() == Opcode::INT;
    // A directly injected vLPI (GICv4) has its pending state in the physical GIC: the observer sets or clears it.
    if (observer_pending_ && observer_->on_set_pending(c.device_id(), c.event_id(), set)) return CmdResult::next;
    sink_.set_lpi_pending(target, intid, set);
    return CmdResult::next;
}

// INVALL ICID (IHI0069H 5.3.12)
CmdResult Its::cmd_invall(const Command& c) {
    u16 s = c.icid() < collection_table().id_limit ? map_.find_collection(c.icid()) : kNil;
    if (s == kNil || !map_.collection(s).mapped()) {  // unmapped collection: ignored (KVM)
        HV_LOG_RATELIMITED(warn, "its: INVALL ICID %u not mapped: ignored", c.icid());
        return CmdResult::next;
    }
    sink_.invalidate_all_lpis(map_.collection(s).target);
    if (observer_) observer_->on_invalidate_all(map_.collection(s).target);
    return CmdResult::next;
}

// SYNC RDbase (IHI0069H 5.3.20): every effect of earlier commands is already visible in this synchronous model.
CmdResult Its::cmd_sync(const Command& c) {
    if (!valid_rdbase(c.rdbase()))  // RDbase beyond the vCPUs: ignored
        HV_LOG_RATELIMITED(warn, "its: SYNC RDbase %llu (no such vCPU): ignored",
                           static_cast<unsigned long long>(c.rdbase()));
    return CmdResult::next;
}

// MOVALL RDbase1, RDbase2 (IHI0069H 5.3.14)
CmdResult Its::cmd_movall(const Command& c) {
    if (!valid_rdbase(c.rdbase()) || !valid_rdbase(c.rdbase2())) {  // ignored (KVM)
        HV_LOG_RATELIMITED(warn, "its: MOVALL %llu -> %llu (no such vCPU): ignored",
                           static_cast<unsigned long long>(c.rdbase()), static_cast<unsigned long long>(c.rdbase2()));
        return CmdResult::next;
    }
    if (c.rdbase() != c.rdbase2()) sink_.move_all_lpis(static_cast<u32>(c.rdbase()), static_cast<u32>(c.rdbase2()));
    return CmdResult::next;
}

}  // namespace hv::its
