// GITS register emulation, MMIO dispatch and translation. Commands: its_commands.cpp; save/restore:
// its_save_restore.cpp.
#include "its/its.hpp"

#include "its/its_abi.hpp"
#include "lib/log.hpp"

namespace hv::its {

namespace {

using Region = RegisterRegion<Its>;

// IHI0069H 12.19: GITS registers. 64-bit registers also accept 32-bit accesses to either half (IHI0069H 12.1.3).
constexpr Region kRegions[] = {
    {reg(GitsReg::CTLR), 4, 0, kW32, &Its::read_ctlr, &Its::write_ctlr, nullptr, &Its::restore_ctlr},
    {reg(GitsReg::IIDR), 4, 0, kW32, &Its::read_iidr, &Its::write_wi, nullptr, &Its::restore_iidr},
    {reg(GitsReg::TYPER), 8, 0, kW32 | kW64, &Its::read_typer, &Its::write_wi, nullptr, &Its::restore_typer},
    {reg(GitsReg::CBASER), 8, 0, kW32 | kW64, &Its::read_cbaser, &Its::write_cbaser, nullptr, &Its::restore_cbaser},
    {reg(GitsReg::CWRITER), 8, 0, kW32 | kW64, &Its::read_cwriter, &Its::write_cwriter, nullptr, &Its::restore_cwriter},
    {reg(GitsReg::CREADR), 8, 0, kW32 | kW64, &Its::read_creadr, &Its::write_wi, nullptr, &Its::restore_creadr},
    {reg(GitsReg::BASER0), 0x40, 0, kW32 | kW64, &Its::read_baser, &Its::write_baser, nullptr, &Its::restore_baser},
    {reg(GitsReg::PIDR4), 0x30, 0, kW32, &Its::read_idreg, &Its::write_wi, nullptr, &Its::restore_idreg},
    {reg(GitsReg::TRANSLATER), 4, 0, kW16 | kW32, &Its::read_raz, &Its::write_translater, nullptr, nullptr},
};
static_assert(regions_sorted(kRegions));
constexpr usize kRegionCount = array_size(kRegions);

bool is_64bit(const Region& r) { return (r.widths & kW64) != 0; }

// Checks width, natural alignment and containment of a guest access in its region.
bool access_ok(const Region& r, const MmioAccess& a) {
    return (r.widths & width_bit(a.width)) != 0 && a.offset % a.width == 0 &&
           a.offset + a.width <= u64{r.offset} + r.length;
}

}  // namespace

Its::Its(GuestMemory& mem, LpiSink& sink, ItsObserver* observer)
    : mem_(mem), sink_(sink), observer_(observer), observer_pending_(observer != nullptr) {
    baser_[0] = sanitize_baser(0, 0);
    baser_[1] = sanitize_baser(1, 0);
}

void Its::set_observer(ItsObserver* observer, bool pending_calls) {
    LockGuard g(cmd_lock_);
    observer_ = observer;
    observer_pending_ = observer != nullptr && pending_calls;
}

bool Its::set_hash_seed(u64 seed) {
    LockGuard g(cmd_lock_);
    LockGuard m(map_lock_);
    return map_.set_hash_seed(seed);
}

u64 Its::typer() const {
    return typer::Physical::make(1) | typer::ItteSize::make(kIteSize - 1) | typer::IdBits::make(kIdBits - 1) |
           typer::DevBits::make(kDevBits - 1) | typer::Pta::make(0) | typer::Hcc::make(0) | typer::CidBits::make(0) |
           typer::Cil::make(0);
}

u32 Its::iidr() const {
    return static_cast<u32>(iidr::ProductId::make(iidr::kProductId) | iidr::Revision::make(abi_revision_) |
                            iidr::Implementer::make(iidr::kImplementerArm));
}

// ---------------------------------------------------------------- MMIO dispatch

MmioResult Its::mmio_read_table(const MmioAccess& a, u64& value) {
    value = 0;
    const Region* r = find_region(kRegions, kRegionCount, a.offset);
    if (r == nullptr) {
        HV_LOG_RATELIMITED(warn, "its: read of reserved offset %#llx (RAZ)", static_cast<unsigned long long>(a.offset));
        return MmioResult::ok;
    }
    if (!access_ok(*r, a)) {
        HV_LOG_RATELIMITED(warn, "its: bad %u-byte read at %#llx (RAZ)", a.width,
                           static_cast<unsigned long long>(a.offset));
        return MmioResult::ok;
    }
    if (r->write == &Its::write_translater) return MmioResult::ok;  // GITS_TRANSLATER is write-only: RAZ
    LockGuard g(cmd_lock_);
    // A driver polls CREADR (or CTLR.Quiescent) for completion: each poll moves the queue on by one batch.
    // (Nothing queued -- the CWRITER write usually finished it -- and nothing to move on: no call.)
    if ((r->read == &Its::read_creadr || r->read == &Its::read_ctlr) && creadr_ != cwriter_)
        process_queue(kCommandsPerTrap);
    value = (this->*r->read)(a, a.offset - r->offset);
    return MmioResult::ok;
}

MmioResult Its::mmio_write_table(const MmioAccess& a, u64 value) {
    const Region* r = find_region(kRegions, kRegionCount, a.offset);
    if (r == nullptr) {
        HV_LOG_RATELIMITED(warn, "its: write to reserved offset %#llx (WI)", static_cast<unsigned long long>(a.offset));
        return MmioResult::ok;
    }
    if (!access_ok(*r, a)) {
        HV_LOG_RATELIMITED(warn, "its: bad %u-byte write at %#llx (WI)", a.width,
                           static_cast<unsigned long long>(a.offset));
        return MmioResult::ok;
    }
    if (r->write == &Its::write_translater) {  // MSIs never wait for the command lock
        write_translater(a, a.offset - r->offset, value);
        return MmioResult::ok;
    }
    LockGuard g(cmd_lock_);
    (this->*r->write)(a, a.offset - r->offset, value);
    update_backlog();
    return MmioResult::ok;
}

MmioResult Its::TranslaterFrame::mmio_read(const MmioAccess& a, u64& value) {
    MmioAccess b = a;
    b.offset += kControlFrameSize;
    return its_.mmio_read(b, value);
}

MmioResult Its::TranslaterFrame::mmio_write(const MmioAccess& a, u64 value) {
    MmioAccess b = a;
    b.offset += kControlFrameSize;
    return its_.mmio_write(b, value);
}

// ---------------------------------------------------------------- registers

u64 Its::read_raz(const MmioAccess&, u64) { return 0; }
void Its::write_wi(const MmioAccess& a, u64, u64) {
    HV_LOG_RATELIMITED(warn, "its: write to read-only register %#llx ignored",
                       static_cast<unsigned long long>(a.offset));
}

u64 Its::read_ctlr(const MmioAccess&, u64) {
    // KVM reports Quiescent whenever the queue is drained; this model has no other in-flight work.
    u64 v = ctlr::Enabled::make(enabled_.load(MemoryOrder::relaxed));
    if (creadr_ == cwriter_) v |= ctlr::Quiescent::make(1);
    return v;
}

void Its::set_enabled(bool on, bool process) {
    if (on && !enabled_.load(MemoryOrder::relaxed)) {
        // IHI0069H 12.19.4: enabling with an invalid CBASER or device/collection BASER is UNPREDICTABLE.
        // Choice (KVM): the enable is ignored.
        if (!cbaser::Valid::get(cbaser_) || !baser::Valid::get(baser_[0]) || !baser::Valid::get(baser_[1])) {
            HV_LOG_RATELIMITED(warn, "its: enable with invalid CBASER/BASER ignored");
            return;
        }
    }
    {
        LockGuard g(map_lock_);
        enabled_.store(on, MemoryOrder::release);
    }
    if (on && process) process_queue_batch(kCommandsPerTrap);  // the caller (mmio_write) publishes
}

void Its::write_ctlr(const MmioAccess&, u64, u64 v) { set_enabled(ctlr::Enabled::get(v) != 0, true); }

void Its::restore_ctlr(const MmioAccess&, u64, u64 v) {
    if (phase_ != RestorePhase::tables_restored) {
        uaccess_status_ = Status::bad_order;  // GITS_CTLR is restored last (after RESTORE_TABLES)
        return;
    }
    // The queue is restored as saved: commands still waiting (a save between two batches, its.hpp kCommandsPerTrap)
    // are left to the backlog the first guest entries work through, as they would have been in the saved VM. A
    // restore that ran a batch here would save a different GITS_CREADR than it restored (restore + save not a fixed
    // point; found by the snapshot fuzz target).
    set_enabled(ctlr::Enabled::get(v) != 0, false);
    phase_ = RestorePhase::idle;
    iidr_restored_ = false;
    baser_restored_[0] = baser_restored_[1] = false;
}

u64 Its::read_iidr(const MmioAccess&, u64) { return iidr(); }

void Its::restore_iidr(const MmioAccess&, u64, u64 v) {
    if (enabled_.load(MemoryOrder::relaxed)) {
        uaccess_status_ = Status::busy;
        return;
    }
    // As KVM (vgic-its.c, IIDR uaccess write): only Revision decides -- it names the table ABI the saved tables
    // use, and it must be one this build implements. Implementer, ProductID and Variant are not checked, so a state
    // KVM saved (ProductID 'K') restores here as one of ours does ('H'); reads keep reporting our own IDs.
    if (iidr::Revision::get(v) != abi::kRevision) {
        uaccess_status_ = Status::invalid_argument;
        return;
    }
    abi_revision_ = static_cast<u32>(iidr::Revision::get(v));
    iidr_restored_ = true;
}

u64 Its::read_typer(const MmioAccess& a, u64 off) { return extract_bytes(typer(), off & 7, a.width); }

void Its::restore_typer(const MmioAccess&, u64, u64 v) {
    if (v != typer()) uaccess_status_ = Status::invalid_argument;  // features we do not have
}

u64 Its::read_cbaser(const MmioAccess& a, u64 off) { return extract_bytes(cbaser_, off & 7, a.width); }

void Its::set_cbaser(u64 v) {
    cbaser_ = v & cbaser::kWritableMask;
    // IHI0069H 12.19.2: writing GITS_CBASER resets GITS_CREADR to 0; KVM also resets GITS_CWRITER.
    creadr_ = 0;
    cwriter_ = 0;
    stalled_ = false;
}

void Its::write_cbaser(const MmioAccess& a, u64 off, u64 v) {
    if (enabled_.load(MemoryOrder::relaxed)) {  // UNPREDICTABLE while enabled (IHI0069H 12.19.2); choice (KVM): ignored
        HV_LOG_RATELIMITED(warn, "its: GITS_CBASER write while enabled ignored");
        return;
    }
    set_cbaser(deposit_bytes(cbaser_, off & 7, a.width, v));
}

void Its::restore_cbaser(const MmioAccess&, u64, u64 v) {
    if (enabled_.load(MemoryOrder::relaxed)) {
        uaccess_status_ = Status::busy;
        return;
    }
    set_cbaser(v);
    if (phase_ == RestorePhase::idle) phase_ = RestorePhase::registers;
}

u64 Its::read_cwriter(const MmioAccess& a, u64 off) { return extract_bytes(cwriter_, off & 7, a.width); }

void Its::write_cwriter(const MmioAccess& a, u64 off, u64 v) {
    set_cwriter(deposit_bytes(cwriter_, off & 7, a.width, v));
}

void Its::restore_cwriter(const MmioAccess&, u64, u64 v) {
    if (enabled_.load(MemoryOrder::relaxed)) {
        uaccess_status_ = Status::busy;
        return;
    }
    u64 offset = v & cqueue::kOffsetMask;
    if (offset >= queue_bytes()) {
        uaccess_status_ = Status::invalid_argument;
        return;
    }
    cwriter_ = offset;
}

u64 Its::read_creadr(const MmioAccess& a, u64 off) {
    return extract_bytes(creadr_ | cqueue::Stalled::make(stalled_), off & 7, a.width);
}

void Its::restore_creadr(const MmioAccess&, u64, u64 v) {
    if (phase_ == RestorePhase::idle) {  // CBASER first: writing CBASER resets CREADR
        uaccess_status_ = Status::bad_order;
        return;
    }
    if (enabled_.load(MemoryOrder::relaxed)) {
        uaccess_status_ = Status::busy;
        return;
    }
    u64 offset = v & cqueue::kOffsetMask;
    if ((v & ~(cqueue::kOffsetMask | cqueue::Stalled::field_mask)) != 0 || offset >= queue_bytes()) {
        uaccess_status_ = Status::invalid_argument;
        return;
    }
    creadr_ = offset;
    stalled_ = cqueue::Stalled::get(v) != 0;
}

u64 Its::sanitize_baser(unsigned n, u64 v) const {
    if (n >= 2) return 0;  // GITS_BASER2..7: RAZ/WI (no table of that type)
    u64 keep = baser::Valid::field_mask | baser::InnerCache::field_mask | baser::OuterCache::field_mask |
               baser::PhysicalAddress::field_mask | baser::Shareability::field_mask | baser::PageSize::field_mask |
               baser::Size::field_mask;
    if (n == 0) keep |= baser::Indirect::field_mask;  // two-level tables: devices only (collections RAZ/WI)
    v &= keep;
    // Page_Size is read-only 64 KiB, as KVM's ITS (QEMU's resets to 64 KiB but lets the guest change it); guests
    // (Linux, kvm-unit-tests) keep what reads back. With 64 KiB pages, PA[51:48] live in bits [15:12] (IHI0069H
    // 12.19.1); the 40-bit IPA leaves them 0 and they stay RES0. docs/its.md "Page_Size".
    v = baser::PageSize::set(v, baser::kPage64K) & ~mask(15, 12);
    auto type = n == 0 ? baser::TableType::devices : baser::TableType::collections;
    return v | baser::Type::make(static_cast<u64>(type)) | baser::EntrySize::make(abi::kEntrySize - 1);
}

void Its::set_baser(unsigned n, u64 v) {
    if (n >= 2) return;
    u64 old = baser_[n];
    baser_[n] = sanitize_baser(n, v);
    if (baser::Valid::get(old) && !baser::Valid::get(baser_[n])) {
        // Invalidating a table drops what it described (KVM frees its device / collection list).
        if (n == 0) {
            for (u16 s = 0; s < map_.device_slot_end(); ++s)
                if (map_.device(s).used) {
                    unmap_device_events(s);
                    LockGuard g(map_lock_);
                    map_.remove_device(s);
                }
        } else {
            for (u16 s = 0; s < Mappings::collection_slots(); ++s) {
                if (!map_.collection(s).used || !map_.collection(s).mapped()) continue;
                {
                    LockGuard g(map_lock_);
                    map_.collection(s).target = kUnmappedTarget;
                }
                notify_collection(s);
                LockGuard g(map_lock_);
                map_.release_collection_if_unused(s);
            }
        }
    }
}

u64 Its::read_baser(const MmioAccess& a, u64 off) {
    unsigned n = static_cast<unsigned>(off / 8);
    return n < 2 ? extract_bytes(baser_[n], off & 7, a.width) : 0;
}

void Its::write_baser(const MmioAccess& a, u64 off, u64 v) {
    unsigned n = static_cast<unsigned>(off / 8);
    if (n >= 2) return;                         // RAZ/WI
    if (enabled_.load(MemoryOrder::relaxed)) {  // UNPREDICTABLE while enabled (IHI0069H 12.19.1); choice (KVM): ignored
        HV_LOG_RATELIMITED(warn, "its: GITS_BASER%u write while enabled ignored", n);
        return;
    }
    set_baser(n, deposit_bytes(baser_[n], off & 7, a.width, v));
}

void Its::restore_baser(const MmioAccess&, u64 off, u64 v) {
    unsigned n = static_cast<unsigned>(off / 8);
    if (enabled_.load(MemoryOrder::relaxed)) {
        uaccess_status_ = Status::busy;
        return;
    }
    if (n >= 2) return;
    set_baser(n, v);
    baser_restored_[n] = true;
}

u64 Its::read_idreg(const MmioAccess&, u64 off) {
    switch (reg(GitsReg::PIDR4) + off) {
        case reg(GitsReg::PIDR4):
            return 0x44;  // 64 KiB frame (SIZE = 4), JEP106 continuation 4
        case reg(GitsReg::PIDR0):
            return iidr::kProductId;
        case reg(GitsReg::PIDR1):
            return 0xb0;  // JEP106 identity bits [3:0] = 0xb
        case reg(GitsReg::PIDR2):
            return 0x3b;  // ArchRev [7:4] = 3 (GICv3), JEDEC, JEP106 [6:4] = 3
        case reg(GitsReg::PIDR3):
            return 0x00;
        case reg(GitsReg::CIDR0):
            return 0x0d;  // component preamble
        case reg(GitsReg::CIDR0) + 4:
            return 0xf0;
        case reg(GitsReg::CIDR0) + 8:
            return 0x05;
        case reg(GitsReg::CIDR3):
            return 0xb1;
        default:
            return 0;  // PIDR5..7: reserved, RAZ
    }
}

void Its::restore_idreg(const MmioAccess& a, u64 off, u64 v) {
    if (v != read_idreg(a, off)) uaccess_status_ = Status::invalid_argument;
}

void Its::write_translater(const MmioAccess& a, u64, u64 v) {
    // IHI0069H 12.19.8: 16- and 32-bit writes; the EventID is the written value (zero-extended).
    u32 event = static_cast<u32>(a.width == 2 ? (v & 0xffff) : (v & 0xffffffff));
    Status s = signal_msi(kCpuRequesterId, event);
    if (s != Status::ok) HV_LOG_RATELIMITED(debug, "its: GITS_TRANSLATER event %u dropped (%s)", event, status_name(s));
}

// ---------------------------------------------------------------- translation

Result<Translation> Its::translate(u32 device_id, u32 event_id) const {
    LockGuard g(map_lock_);
    if (!enabled_.load(MemoryOrder::relaxed))
        return Status::busy;  // IHI0069H 5.1: a disabled ITS drops translation requests
    u16 d = map_.find_device(device_id);
    if (d == kNil) return Status::not_found;
    u16 e = map_.find_ite(d, event_id);
    if (e == kNil) return Status::not_found;
    const Collection& c = map_.collection(map_.ite(e).collection);
    if (!c.mapped()) return Status::invalid_argument;
    return Translation{c.target, map_.ite(e).intid};
}

Status Its::signal_msi(u32 device_id, u32 event_id) {
    Result<Translation> t = translate(device_id, event_id);
    if (!t.ok()) return t.status();
    sink_.set_lpi_pending(t.value().vcpu, t.value().intid, true);  // no ITS lock held here
    return Status::ok;
}

// ---------------------------------------------------------------- save/restore register access

Status Its::access_for_uaccess(u64 offset, u8 width, bool write, u64& value) {
    const Region* r = find_region(kRegions, kRegionCount, offset);
    if (r == nullptr || r->write == &Its::write_translater) return Status::not_found;
    u8 reg_width = is_64bit(*r) ? 8 : 4;
    if ((offset - r->offset) % reg_width != 0) return Status::not_found;
    if (width != reg_width) return Status::wrong_size;
    MmioAccess a{0, offset, reg_width, write};
    LockGuard g(cmd_lock_);
    if (!write) {
        value = (this->*(r->save_read ? r->save_read : r->read))(a, offset - r->offset);
        return Status::ok;
    }
    uaccess_status_ = Status::ok;
    (this->*(r->restore_write ? r->restore_write : r->write))(a, offset - r->offset, value);
    update_backlog();
    return uaccess_status_;
}

Status Its::save_read(u64 offset, u8 width, u64& value) {
    value = 0;
    return access_for_uaccess(offset, width, false, value);
}

Status Its::restore_write(u64 offset, u8 width, u64 value) { return access_for_uaccess(offset, width, true, value); }

}  // namespace hv::its
