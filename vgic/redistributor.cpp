// GICR frames of one vCPU: RD_base (control, LPIs) and SGI_base (SGIs/PPIs). IHI0069H 12.10-12.11.
#include "lib/log.hpp"
#include "vgic/irq_access.hpp"
#include "vgic/mmio_dispatch.hpp"

namespace hv::vgic {

namespace {
constexpr u8 kGicrIds[12] = {0x44, 0, 0, 0, 0x93, 0xb4, 0x3b, 0, 0x0d, 0xf0, 0x05, 0xb1};
}  // namespace

struct RedistributorTable {
    using R = Redistributor;
    using F = IrqField;
    using W = WriteOp;
    // clang-format off
    static constexpr RegisterRegion<R> rd[] = {
        {off(GicrReg::CTLR), 4, 0, kW32, &R::read_ctlr, &R::write_ctlr, nullptr, nullptr},
        {off(GicrReg::IIDR), 4, 0, kW32, &R::read_iidr, &R::wi, nullptr, nullptr},
        {off(GicrReg::TYPER), 8, 0, kW32 | kW64, &R::read_typer, &R::wi, nullptr, nullptr},
        {off(GicrReg::STATUSR), 4, 0, kW32, &R::raz, &R::wi, nullptr, nullptr},
        {off(GicrReg::WAKER), 4, 0, kW32, &R::read_waker, &R::write_waker, nullptr, nullptr},
        {off(GicrReg::PROPBASER), 8, 0, kW32 | kW64, &R::read_propbaser, &R::write_propbaser, nullptr, nullptr},
        {off(GicrReg::PENDBASER), 8, 0, kW32 | kW64, &R::read_pendbaser, &R::write_pendbaser, nullptr, nullptr},
        {off(GicrReg::INVLPIR), 8, 0, kW32 | kW64, &R::raz, &R::write_invlpir, nullptr, &R::wi},
        {off(GicrReg::INVALLR), 8, 0, kW32 | kW64, &R::raz, &R::write_invallr, nullptr, &R::wi},
        {off(GicrReg::SYNCR), 4, 0, kW32, &R::raz, &R::wi, nullptr, nullptr},  // Busy == 0: INV* are synchronous
        {off(GicrReg::IDREGS), 0x30, 0, kW32, &R::read_pidr, &R::wi, nullptr, nullptr},
    };
    static constexpr RegisterRegion<R> sgi[] = {
        {off(GicrSgiReg::IGROUPR0), 4, 1, kW32, &R::irq_read<F::group, false>, &R::irq_write<F::group, W::assign, false>,
         nullptr, nullptr},
        {off(GicrSgiReg::ISENABLER0), 4, 1, kW32, &R::irq_read<F::enable, false>,
         &R::irq_write<F::enable, W::set, false>, nullptr, &R::irq_write<F::enable, W::set, true>},
        {off(GicrSgiReg::ICENABLER0), 4, 1, kW32, &R::irq_read<F::enable, false>,
         &R::irq_write<F::enable, W::clear, false>, nullptr, &R::irq_write<F::enable, W::clear, true>},
        {off(GicrSgiReg::ISPENDR0), 4, 1, kW32, &R::irq_read<F::pending, false>,
         &R::irq_write<F::pending, W::set, false>, &R::irq_read<F::pending, true>,
         &R::irq_write<F::pending, W::assign, true>},
        {off(GicrSgiReg::ICPENDR0), 4, 1, kW32, &R::irq_read<F::pending, false>,
         &R::irq_write<F::pending, W::clear, false>, &R::raz, &R::wi},
        {off(GicrSgiReg::ISACTIVER0), 4, 1, kW32, &R::irq_read<F::active, false>,
         &R::irq_write<F::active, W::set, false>, nullptr, &R::irq_write<F::active, W::set, true>},
        {off(GicrSgiReg::ICACTIVER0), 4, 1, kW32, &R::irq_read<F::active, false>,
         &R::irq_write<F::active, W::clear, false>, nullptr, &R::irq_write<F::active, W::clear, true>},
        {off(GicrSgiReg::IPRIORITYR), 0x20, 8, kW8 | kW32, &R::irq_read<F::priority, false>,
         &R::irq_write<F::priority, W::assign, false>, nullptr, nullptr},
        {off(GicrSgiReg::ICFGR0), 8, 2, kW32, &R::irq_read<F::config, false>,
         &R::irq_write<F::config, W::assign, false>, nullptr, nullptr},
        {off(GicrSgiReg::IGRPMODR0), 4, 1, kW32, &R::raz, &R::wi, nullptr, nullptr},  // DS == 1: RAZ/WI
        {off(GicrSgiReg::NSACR), 4, 0, kW32, &R::raz, &R::wi, nullptr, nullptr},
    };
    // clang-format on
    static_assert(regions_sorted(rd));
    static_assert(regions_sorted(sgi));
    static_assert(regions_word_aligned(rd));
    static_assert(regions_word_aligned(sgi));
    // O(1) register lookup: one byte per word of each frame up to its last register (16 KiB and 0.9 KiB).
    static constexpr auto rd_index = make_region_index<region_index_words(rd)>(rd);
    static constexpr auto sgi_index = make_region_index<region_index_words(sgi)>(sgi);
    static constexpr IndexedRegions<R> rd_map{rd, rd_index.region, array_size(rd_index.region)};
    static constexpr IndexedRegions<R> sgi_map{sgi, sgi_index.region, array_size(sgi_index.region)};
};

namespace {
const IndexedRegions<Redistributor>& frame_table(u64 offset) {
    return offset < kFrameSize ? RedistributorTable::rd_map : RedistributorTable::sgi_map;
}
}  // namespace

MmioResult Redistributor::mmio_read(const MmioAccess& a, u64& value) {
    const auto& t = frame_table(a.offset);
    guest_read(*this, t, a, a.offset % kFrameSize, value, a.offset < kFrameSize ? "GICR" : "GICR_SGI");
    return MmioResult::ok;
}

MmioResult Redistributor::mmio_write(const MmioAccess& a, u64 value) {
    vgic_->mark_flush_all();  // may change enable/priority/group/pending/LPI state
    const auto& t = frame_table(a.offset);
    guest_write(*this, t, a, a.offset % kFrameSize, value, a.offset < kFrameSize ? "GICR" : "GICR_SGI");
    return MmioResult::ok;
}

Status Redistributor::save_read(u64 offset, u8 width, u64& value) {
    value = 0;
    if (offset >= kRedistStride) return Status::not_found;
    const auto& t = frame_table(offset);
    const MmioAccess a{index_, offset, width, false};
    return uaccess_read(*this, t, a, offset % kFrameSize, value);
}

Status Redistributor::restore_write(u64 offset, u8 width, u64 value) {
    vgic_->mark_flush_all();
    if (offset >= kRedistStride) return Status::not_found;
    const auto& t = frame_table(offset);
    const MmioAccess a{index_, offset, width, true};
    return uaccess_write(*this, t, a, offset % kFrameSize, value, restore_status_);
}

u64 Redistributor::raz(const MmioAccess&, u64) { return 0; }
void Redistributor::wi(const MmioAccess&, u64, u64) {}

u64 Redistributor::read_ctlr(const MmioAccess&, u64) {
    auto& v = vgic_->vcpus_[index_];
    const u32 rev = vgic_->impl_rev_.load(MemoryOrder::relaxed);
    LockGuard g(v.lock);
    u64 r = gicr_ctlr::EnableLPIs::make(v.lpis_enabled);
    // Implementation revision 3 (KVM): EnableLPIs can be cleared (CES) and INVLPIR/INVALLR are usable (IR).
    if (rev >= 3) r |= gicr_ctlr::CES::make(1) | gicr_ctlr::IR::make(1);
    return r;
}

void Redistributor::write_ctlr(const MmioAccess&, u64, u64 val) {
    auto& v = vgic_->vcpus_[index_];
    bool kick = false;
    {
        LockGuard g(v.lock);
        const bool en = gicr_ctlr::EnableLPIs::get(val);
        if (en && !v.lpis_enabled) {
            vgic_->enable_lpis(index_);
            kick = v.lpi_pending.any();
        } else if (!en && v.lpis_enabled) {
            vgic_->disable_lpis(index_);
        }
    }
    if (kick) vgic_->kick_all(1u << index_);
}

u64 Redistributor::read_iidr(const MmioAccess&, u64) {
    return vgic_->iidr();  // no lock (Vgic::impl_rev_)
}

u64 Redistributor::read_typer(const MmioAccess& a, u64 ro) {
    const u64 m = vgic_->vcpus_[index_].mpidr;
    const u64 aff =
        (mpidr::Aff3::get(m) << 24) | (mpidr::Aff2::get(m) << 16) | (mpidr::Aff1::get(m) << 8) | mpidr::Aff0::get(m);
    // CommonLPIAff == 0: all redistributors share one LPI configuration table (as KVM, PROPBASER is VM-wide).
    const u64 r = gicr_typer::PLPIS::make(1) | gicr_typer::Last::make(index_ + 1 == vgic_->cfg_.nr_vcpus) |
                  gicr_typer::ProcessorNumber::make(index_) | gicr_typer::AffinityValue::make(aff);
    return extract_bytes(r, static_cast<unsigned>(ro), a.width);
}

u64 Redistributor::read_waker(const MmioAccess&, u64) {
    auto& v = vgic_->vcpus_[index_];
    LockGuard g(v.lock);
    // ChildrenAsleep follows ProcessorSleep immediately (there is no interface to quiesce).
    return gicr_waker::ProcessorSleep::make(v.sleep) | gicr_waker::ChildrenAsleep::make(v.sleep);
}

void Redistributor::write_waker(const MmioAccess&, u64, u64 val) {
    auto& v = vgic_->vcpus_[index_];
    LockGuard g(v.lock);
    v.sleep = gicr_waker::ProcessorSleep::get(val);
}

u64 Redistributor::read_propbaser(const MmioAccess& a, u64 ro) {
    LockGuard d(vgic_->dist_lock_);
    return extract_bytes(vgic_->propbaser_, static_cast<unsigned>(ro), a.width);
}

void Redistributor::write_propbaser(const MmioAccess& a, u64 ro, u64 val) {
    auto& v = vgic_->vcpus_[index_];
    LockGuard g(v.lock);
    // IHI0069H 12.11.31: UNPREDICTABLE while EnableLPIs == 1; ignored here (KVM).
    if (v.lpis_enabled) {
        HV_LOG_RATELIMITED(warn, "vgic: GICR%u_PROPBASER write with LPIs enabled ignored", index_);
        return;
    }
    LockGuard d(vgic_->dist_lock_);
    vgic_->set_propbaser(deposit_bytes(vgic_->propbaser_, static_cast<unsigned>(ro), a.width, val) &
                         gicr_propbaser::kWritable);
    vgic_->lpi_table_gen_.fetch_add(1, MemoryOrder::release);
}

u64 Redistributor::read_pendbaser(const MmioAccess& a, u64 ro) {
    auto& v = vgic_->vcpus_[index_];
    LockGuard g(v.lock);
    // PTZ reads as zero (KVM); it only matters at the moment EnableLPIs is set.
    return extract_bytes(v.pendbaser & ~gicr_pendbaser::PTZ::field_mask, static_cast<unsigned>(ro), a.width);
}

void Redistributor::write_pendbaser(const MmioAccess& a, u64 ro, u64 val) {
    auto& v = vgic_->vcpus_[index_];
    LockGuard g(v.lock);
    if (v.lpis_enabled) {
        HV_LOG_RATELIMITED(warn, "vgic: GICR%u_PENDBASER write with LPIs enabled ignored", index_);
        return;
    }
    v.pendbaser = deposit_bytes(v.pendbaser, static_cast<unsigned>(ro), a.width, val) & gicr_pendbaser::kWritable;
}

void Redistributor::write_invlpir(const MmioAccess&, u64 ro, u64 val) {
    if (ro != 0) return;  // the upper half (V, vPEID: GICv4.1) is ignored
    const u32 intid = static_cast<u32>(val & 0xffffffffu);
    if (intid < kLpiBase || intid >= kMaxIntid) {
        HV_LOG_RATELIMITED(warn, "vgic: GICR_INVLPIR of non-LPI %u ignored", intid);
        return;
    }
    vgic_->invalidate_lpi(index_, intid);
}

void Redistributor::write_invallr(const MmioAccess&, u64 ro, u64) {
    if (ro != 0) return;
    vgic_->invalidate_all_lpis(index_);
}

u64 Redistributor::read_pidr(const MmioAccess&, u64 ro) { return kGicrIds[(ro / 4) % array_size(kGicrIds)]; }

template <IrqField F, bool Uaccess>
u64 Redistributor::irq_read(const MmioAccess& a, u64 ro) {
    constexpr u8 b = field_bits(F);
    return vgic_->read_irqs<F, Uaccess>(index_, first_intid(ro, b), a.width * 8u / b);
}

template <IrqField F, WriteOp Op, bool Uaccess>
void Redistributor::irq_write(const MmioAccess& a, u64 ro, u64 v) {
    constexpr u8 b = field_bits(F);
    vgic_->write_irqs<F, Op, Uaccess>(index_, first_intid(ro, b), a.width * 8u / b, v);
}

// ---------------------------------------------------------------- the whole GICR region

MmioResult RedistributorRegion::mmio_read(const MmioAccess& a, u64& value) {
    value = 0;
    const u64 idx = a.offset / kRedistStride;
    if (idx >= vgic_->cfg_.nr_vcpus) return MmioResult::unhandled;
    MmioAccess b = a;
    b.offset = a.offset % kRedistStride;
    return vgic_->rdists_[idx].mmio_read(b, value);
}

MmioResult RedistributorRegion::mmio_write(const MmioAccess& a, u64 value) {
    const u64 idx = a.offset / kRedistStride;
    if (idx >= vgic_->cfg_.nr_vcpus) return MmioResult::unhandled;
    MmioAccess b = a;
    b.offset = a.offset % kRedistStride;
    return vgic_->rdists_[idx].mmio_write(b, value);
}

}  // namespace hv::vgic
