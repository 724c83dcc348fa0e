// GICD frame: affinity routing only (ARE == 1), single Security state (DS == 1). IHI0069H 12.9.
#include "lib/log.hpp"
#include "vgic/irq_access.hpp"
#include "vgic/mmio_dispatch.hpp"

namespace hv::vgic {

namespace {
// PIDR4..PIDR7, PIDR0..PIDR3, CIDR0..CIDR3 (GIC-500-style identification; PIDR2.ArchRev = 3).
constexpr u8 kGicdIds[12] = {0x44, 0, 0, 0, 0x92, 0xb4, 0x3b, 0, 0x0d, 0xf0, 0x05, 0xb1};
}  // namespace

struct DistributorTable {
    using D = Distributor;
    using F = IrqField;
    using W = WriteOp;
    // clang-format off
    static constexpr RegisterRegion<D> regions[] = {
        {off(GicdReg::CTLR), 4, 0, kW32, &D::read_ctlr, &D::write_ctlr, nullptr, nullptr},
        {off(GicdReg::TYPER), 4, 0, kW32, &D::read_typer, &D::wi, nullptr, &D::restore_typer},
        {off(GicdReg::IIDR), 4, 0, kW32, &D::read_iidr, &D::wi, nullptr, &D::restore_iidr},
        {off(GicdReg::TYPER2), 4, 0, kW32, &D::raz, &D::wi, nullptr, nullptr},
        {off(GicdReg::STATUSR), 4, 0, kW32, &D::raz, &D::wi, nullptr, nullptr},
        {off(GicdReg::IGROUPR), 0x80, 1, kW32, &D::irq_read<F::group, false>, &D::irq_write<F::group, W::assign, false>,
         nullptr, nullptr},
        {off(GicdReg::ISENABLER), 0x80, 1, kW32, &D::irq_read<F::enable, false>, &D::irq_write<F::enable, W::set, false>,
         nullptr, &D::irq_write<F::enable, W::set, true>},
        {off(GicdReg::ICENABLER), 0x80, 1, kW32, &D::irq_read<F::enable, false>,
         &D::irq_write<F::enable, W::clear, false>, nullptr, &D::irq_write<F::enable, W::clear, true>},
        // Save/restore: ISPENDR reads and writes the pending latch (zeroes clear it), ICPENDR is RAZ/WI (KVM).
        {off(GicdReg::ISPENDR), 0x80, 1, kW32, &D::irq_read<F::pending, false>,
         &D::irq_write<F::pending, W::set, false>, &D::irq_read<F::pending, true>,
         &D::irq_write<F::pending, W::assign, true>},
        {off(GicdReg::ICPENDR), 0x80, 1, kW32, &D::irq_read<F::pending, false>,
         &D::irq_write<F::pending, W::clear, false>, &D::raz, &D::wi},
        {off(GicdReg::ISACTIVER), 0x80, 1, kW32, &D::irq_read<F::active, false>,
         &D::irq_write<F::active, W::set, false>, nullptr, &D::irq_write<F::active, W::set, true>},
        {off(GicdReg::ICACTIVER), 0x80, 1, kW32, &D::irq_read<F::active, false>,
         &D::irq_write<F::active, W::clear, false>, nullptr, &D::irq_write<F::active, W::clear, true>},
        {off(GicdReg::IPRIORITYR), 0x400, 8, kW8 | kW32, &D::irq_read<F::priority, false>,
         &D::irq_write<F::priority, W::assign, false>, nullptr, nullptr},
        {off(GicdReg::ICFGR), 0x100, 2, kW32, &D::irq_read<F::config, false>,
         &D::irq_write<F::config, W::assign, false>, nullptr, nullptr},
        {off(GicdReg::IGRPMODR), 0x80, 1, kW32, &D::raz, &D::wi, nullptr, nullptr},
        {off(GicdReg::IROUTER), 0x2000, 64, kW32 | kW64, &D::read_irouter, &D::write_irouter, nullptr, nullptr},
        {off(GicdReg::IDREGS), 0x30, 0, kW32, &D::read_pidr, &D::wi, nullptr, nullptr},
    };
    // clang-format on
    static_assert(regions_sorted(regions));
    static_assert(regions_word_aligned(regions));
    // O(1) register lookup (16 KiB: one byte per word of the frame up to the ID registers).
    static constexpr auto index = make_region_index<region_index_words(regions)>(regions);
    static constexpr IndexedRegions<D> map{regions, index.region, array_size(index.region)};
};

MmioResult Distributor::mmio_read(const MmioAccess& a, u64& value) {
    guest_read(*this, DistributorTable::map, a, a.offset, value, "GICD");
    return MmioResult::ok;
}

MmioResult Distributor::mmio_write(const MmioAccess& a, u64 value) {
    vgic_->mark_flush_all();  // may change enable/priority/group/routing/pending state
    guest_write(*this, DistributorTable::map, a, a.offset, value, "GICD");
    return MmioResult::ok;
}

Status Distributor::save_read(u32 vcpu, u64 offset, u8 width, u64& value) {
    const MmioAccess a{vcpu, offset, width, false};
    return uaccess_read(*this, DistributorTable::map, a, offset, value);
}

Status Distributor::restore_write(u32 vcpu, u64 offset, u8 width, u64 value) {
    vgic_->mark_flush_all();
    const MmioAccess a{vcpu, offset, width, true};
    return uaccess_write(*this, DistributorTable::map, a, offset, value, restore_status_);
}

u64 Distributor::raz(const MmioAccess&, u64) { return 0; }
void Distributor::wi(const MmioAccess&, u64, u64) {}

u64 Distributor::read_ctlr(const MmioAccess&, u64) {
    LockGuard g(vgic_->dist_lock_);
    // ARE and DS are RAO/WI; RWP is 0 because every write takes effect synchronously.
    return vgic_->dist_ctlr_.load(MemoryOrder::relaxed) | gicd_ctlr::ARE::make(1) | gicd_ctlr::DS::make(1);
}

void Distributor::write_ctlr(const MmioAccess&, u64, u64 v) {
    bool newly_enabled;
    {
        LockGuard g(vgic_->dist_lock_);
        const u32 old = vgic_->dist_ctlr_.load(MemoryOrder::relaxed);
        const u32 now = static_cast<u32>(v & (gicd_ctlr::EnableGrp0::field_mask | gicd_ctlr::EnableGrp1::field_mask));
        vgic_->dist_ctlr_.store(now, MemoryOrder::relaxed);
        newly_enabled = (now & ~old) != 0;
    }
    if (newly_enabled) {
        // Interrupts held back by the group enable may now be deliverable anywhere.
        const u32 n = vgic_->cfg_.nr_vcpus;
        vgic_->kick_all(n >= 32 ? ~0u : (1u << n) - 1);
    }
}

u64 Distributor::read_typer(const MmioAccess&, u64) {
    const u32 n = vgic_->cfg_.nr_vcpus;
    // SecurityExtn = 0 (DS == 1), MBIS = 0, ESPI = 0, DVIS = 0. No1N = 1: IRM is RAZ/WI (1-of-N not implemented).
    // CPUNumber only matters without affinity routing; it reports the vCPUs (capped at 8) for completeness.
    return gicd_typer::ITLinesNumber::make(vgic_->nr_irqs_ / 32 - 1) | gicd_typer::CPUNumber::make(min<u32>(n, 8) - 1) |
           gicd_typer::LPIS::make(1) | gicd_typer::IDbits::make(kIdBits - 1) | gicd_typer::A3V::make(1) |
           gicd_typer::No1N::make(1) | gicd_typer::RSS::make(1);
}

void Distributor::restore_typer(const MmioAccess& a, u64 ro, u64 v) {
    // Read-only, but a saved value must describe this distributor (same SPI count, same features).
    if ((v & 0xffffffffu) != read_typer(a, ro)) restore_status_ = Status::invalid_argument;
}

u64 Distributor::read_iidr(const MmioAccess&, u64) {
    return vgic_->iidr();  // read-only for the guest: no lock (Vgic::impl_rev_)
}

void Distributor::restore_iidr(const MmioAccess&, u64, u64 v) {
    // Only the implementation revision decides, and it must be one we implement (KVM's meanings: 2 = IGROUPR
    // writable, 3 = GICR_CTLR.{IR,CES}). Implementer, ProductID and Variant are not checked, so a state KVM saved
    // (ProductID 'K') restores here; KVM itself refuses another ProductID, which is why docs/vgic.md says our
    // states need their GICD_IIDR rewritten to go the other way. Reads keep reporting our own IDs.
    LockGuard g(vgic_->dist_lock_);
    const u64 rev = gic_iidr::Revision::get(v);
    if (rev < kImplRevMin || rev > kImplRevLatest) {
        restore_status_ = Status::invalid_argument;
        return;
    }
    vgic_->impl_rev_.store(static_cast<u32>(rev), MemoryOrder::relaxed);
}

u64 Distributor::read_pidr(const MmioAccess&, u64 ro) { return kGicdIds[(ro / 4) % array_size(kGicdIds)]; }

u64 Distributor::read_irouter(const MmioAccess& a, u64 ro) {
    const u32 intid = static_cast<u32>(ro / 8);
    if (intid < kNumPrivate) return 0;  // IROUTER0..31 are reserved
    LockGuard g(vgic_->dist_lock_);
    const IrqState* s = vgic_->irq(kNoVcpu, intid);
    return s == nullptr ? 0 : extract_bytes(s->route, static_cast<unsigned>(ro % 8), a.width);
}

void Distributor::write_irouter(const MmioAccess& a, u64 ro, u64 v) {
    const u32 intid = static_cast<u32>(ro / 8);
    if (intid < kNumPrivate) return;
    u32 kick_mask = 0;
    {
        LockGuard g(vgic_->dist_lock_);
        IrqState* s = vgic_->irq(kNoVcpu, intid);
        if (s == nullptr) return;
        // Either 32-bit half or the whole register; IRM and reserved bits are RAZ/WI (GICD_TYPER.No1N == 1).
        s->route = deposit_bytes(s->route, static_cast<unsigned>(ro % 8), a.width, v) & gicd_irouter::kAffMask;
        s->target = vgic_->route_target(s->route);
        vgic_->note_changed(kNoVcpu, intid, *s, kick_mask);  // requeue on the new target
    }
    vgic_->kick_all(kick_mask);
}

template <IrqField F, bool Uaccess>
u64 Distributor::irq_read(const MmioAccess& a, u64 ro) {
    constexpr u8 b = field_bits(F);
    const u32 first = first_intid(ro, b);
    if (first < kNumPrivate) return 0;  // ARE == 1: SGI/PPI state lives in the redistributors (RAZ/WI here)
    return vgic_->read_irqs<F, Uaccess>(kNoVcpu, first, a.width * 8u / b);
}

template <IrqField F, WriteOp Op, bool Uaccess>
void Distributor::irq_write(const MmioAccess& a, u64 ro, u64 v) {
    constexpr u8 b = field_bits(F);
    const u32 first = first_intid(ro, b);
    if (first < kNumPrivate) return;
    vgic_->write_irqs<F, Op, Uaccess>(kNoVcpu, first, a.width * 8u / b, v);
}

}  // namespace hv::vgic
