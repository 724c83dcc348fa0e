#include "core/pl011.hpp"

#include "lib/log.hpp"

namespace hv {

namespace {

using Region = RegisterRegion<Pl011>;
constexpr u8 kWidths = kW8 | kW16 | kW32;

// Sorted register map (DDI0183G 3.2 "Summary of registers").
constexpr Region kRegions[] = {
    {0x000, 4, 0, kWidths, &Pl011::read_dr, &Pl011::write_dr, nullptr, nullptr},
    {0x004, 4, 0, kWidths, &Pl011::read_rsr, &Pl011::write_rsr, nullptr, nullptr},
    {0x018, 4, 0, kWidths, &Pl011::read_fr, &Pl011::write_ignore, nullptr, nullptr},
    {0x020, 0x1c, 0, kWidths, &Pl011::read_simple, &Pl011::write_simple, nullptr, nullptr},  // ILPR..IMSC
    {0x03c, 4, 0, kWidths, &Pl011::read_ris, &Pl011::write_ignore, nullptr, nullptr},
    {0x040, 4, 0, kWidths, &Pl011::read_mis, &Pl011::write_ignore, nullptr, nullptr},
    {0x044, 4, 0, kWidths, &Pl011::read_raz, &Pl011::write_icr, nullptr, nullptr},
    {0x048, 4, 0, kWidths, &Pl011::read_simple, &Pl011::write_simple, nullptr, nullptr},
    {0xfe0, 0x20, 0, kWidths, &Pl011::read_id, &Pl011::write_ignore, nullptr, nullptr},
};
static_assert(regions_sorted(kRegions));

// PeriphID0..3 (part 0x011, designer 0x41 'A', revision r1p5) and PrimeCell ID 0xB105F00D, as the AMBA bus reads
// them (DDI0183G 3.3.14-15).
constexpr u8 kIds[8] = {0x11, 0x10, 0x34, 0x00, 0x0d, 0xf0, 0x05, 0xb1};

}  // namespace

void Pl011::reset() {
    rx_head_ = rx_count_ = 0;
    rsr_ = ilpr_ = ibrd_ = fbrd_ = lcr_h_ = ifls_ = imsc_ = ris_ = dmacr_ = 0;
    cr_ = 0x300;   // TXE | RXE (reset value)
    ifls_ = 0x12;  // 1/2 full (reset value)
    if (last_level_) backend_.uart_irq(false);
    last_level_ = false;
    if (rx_source_ != nullptr) set_rx_source_irq(true);  // the FIFO is empty: accept input again
}

Pl011State Pl011::state() const {
    Pl011State s;
    s.rsr = rsr_;
    s.ilpr = ilpr_;
    s.ibrd = ibrd_;
    s.fbrd = fbrd_;
    s.lcr_h = lcr_h_;
    s.cr = cr_;
    s.ifls = ifls_;
    s.imsc = imsc_;
    s.ris = ris_;
    s.dmacr = dmacr_;
    s.rx_count = static_cast<u32>(rx_count_);
    for (usize i = 0; i < kRxFifo; ++i) s.rx[i] = static_cast<u8>(rx_[(rx_head_ + i) % kRxFifo]);
    return s;
}

Status Pl011::set_state(const Pl011State& s) {
    static_assert(sizeof(s.rx) == kRxFifo);
    // Field widths (DDI0183G 3.3): RSR 4 bits, ILPR 8, IBRD 16, FBRD 6, LCR_H 8, CR 16, IFLS 6, IMSC/RIS 11, DMACR 3.
    if (s.rx_count > kRxFifo || s.rsr > 0xf || s.ilpr > 0xff || s.ibrd > 0xffff || s.fbrd > 0x3f || s.lcr_h > 0xff ||
        s.cr > 0xffff || s.ifls > 0x3f || s.imsc > kIntAll || s.ris > kIntAll || s.dmacr > 0x7)
        return Status::invalid_argument;
    rsr_ = s.rsr;
    ilpr_ = s.ilpr;
    ibrd_ = s.ibrd;
    fbrd_ = s.fbrd;
    lcr_h_ = s.lcr_h;
    cr_ = s.cr;
    ifls_ = s.ifls;
    imsc_ = s.imsc;
    ris_ = s.ris;
    dmacr_ = s.dmacr;
    rx_head_ = 0;
    rx_count_ = s.rx_count;
    for (usize i = 0; i < kRxFifo; ++i) rx_[i] = static_cast<char>(s.rx[i]);
    update_irq();
    if (rx_source_ != nullptr) set_rx_source_irq(!rx_full());
    return Status::ok;
}

void Pl011::set_rx_source_irq(bool on) {
    if (rx_source_ == nullptr || on == rx_source_irq_on_) return;
    rx_source_irq_on_ = on;
    rx_source_->rx_irq_enable(on);
}

void Pl011::attach_rx_source(Pl011RxSource* source) {
    rx_source_ = source;
    rx_source_irq_on_ = false;
    if (source == nullptr) return;
    source->rx_irq_enable(false);  // a known state before pull_rx decides
    (void)pull_rx();
}

usize Pl011::pull_rx() {
    if (rx_source_ == nullptr) return 0;
    usize moved = 0;
    // Bounded by the FIFO size: each iteration either stops or fills one slot.
    while (!rx_full()) {
        int c = rx_source_->rx_getc();
        if (c < 0) break;
        (void)push_rx(static_cast<char>(c));
        ++moved;
    }
    set_rx_source_irq(!rx_full());
    return moved;
}

void Pl011::update_irq() {
    bool level = irq_level();
    if (level != last_level_) {
        last_level_ = level;
        backend_.uart_irq(level);
    }
}

bool Pl011::push_rx(char c) {
    if (rx_count_ == kRxFifo) return false;
    rx_[(rx_head_ + rx_count_) % kRxFifo] = c;
    ++rx_count_;
    ris_ |= kIntRx | kIntRt;
    update_irq();
    return true;
}

u64 Pl011::read_dr(const MmioAccess&, u64) {
    if (rx_count_ == 0) return 0;
    u64 c = static_cast<u8>(rx_[rx_head_]);
    rx_head_ = (rx_head_ + 1) % kRxFifo;
    if (--rx_count_ == 0) ris_ &= ~(kIntRx | kIntRt);
    // The source was held back while the FIFO was full: take what now fits (this may raise RX again).
    if (rx_source_ != nullptr && !rx_source_irq_on_) (void)pull_rx();
    update_irq();
    return c;
}

void Pl011::write_dr(const MmioAccess&, u64, u64 v) {
    backend_.uart_tx(static_cast<char>(v & 0xff));
    // Transmission is instantaneous: the FIFO is at once below any trigger level (DDI0183G 3.4.3, UARTTXINTR).
    ris_ |= kIntTx;
    update_irq();
}

u64 Pl011::read_fr(const MmioAccess&, u64) {
    u32 fr = kFrTxfe;
    if (rx_count_ == 0) fr |= kFrRxfe;
    if (rx_count_ == kRxFifo) fr |= kFrRxff;
    return fr;
}

u64 Pl011::read_simple(const MmioAccess&, u64 reg_offset) {
    switch (static_cast<Pl011Reg>(reg_offset)) {
        case Pl011Reg::ILPR:
            return ilpr_;
        case Pl011Reg::IBRD:
            return ibrd_;
        case Pl011Reg::FBRD:
            return fbrd_;
        case Pl011Reg::LCR_H:
            return lcr_h_;
        case Pl011Reg::CR:
            return cr_;
        case Pl011Reg::IFLS:
            return ifls_;
        case Pl011Reg::IMSC:
            return imsc_;
        case Pl011Reg::DMACR:
            return dmacr_;
        case Pl011Reg::DR:
        case Pl011Reg::RSR:
        case Pl011Reg::FR:
        case Pl011Reg::RIS:
        case Pl011Reg::MIS:
        case Pl011Reg::ICR:
        case Pl011Reg::PERIPH_ID0:
            break;
    }
    return 0;  // reserved offsets inside the region: RAZ
}

void Pl011::write_simple(const MmioAccess&, u64 reg_offset, u64 v) {
    u32 v32 = static_cast<u32>(v);
    switch (static_cast<Pl011Reg>(reg_offset)) {
        case Pl011Reg::ILPR:
            ilpr_ = v32 & 0xff;
            break;
        case Pl011Reg::IBRD:
            ibrd_ = v32 & 0xffff;
            break;
        case Pl011Reg::FBRD:
            fbrd_ = v32 & 0x3f;
            break;
        case Pl011Reg::LCR_H:
            lcr_h_ = v32 & 0xff;
            break;
        case Pl011Reg::CR:
            cr_ = v32 & 0xff87;
            break;
        case Pl011Reg::IFLS:
            ifls_ = v32 & 0x3f;
            break;
        case Pl011Reg::IMSC:
            write_imsc({}, reg_offset, v);
            break;
        case Pl011Reg::DMACR:
            dmacr_ = 0;
            break;  // no DMA: the enable bits read as zero
        case Pl011Reg::DR:
        case Pl011Reg::RSR:
        case Pl011Reg::FR:
        case Pl011Reg::RIS:
        case Pl011Reg::MIS:
        case Pl011Reg::ICR:
        case Pl011Reg::PERIPH_ID0:
            break;
    }
}

void Pl011::write_imsc(const MmioAccess&, u64, u64 v) {
    imsc_ = static_cast<u32>(v) & kIntAll;
    update_irq();
}

void Pl011::write_icr(const MmioAccess&, u64, u64 v) {
    u32 clear = static_cast<u32>(v) & kIntAll;
    // Receive interrupts stay raised while data is waiting (level-sensitive on FIFO state).
    if (rx_count_ != 0) clear &= ~(kIntRx | kIntRt);
    ris_ &= ~clear;
    update_irq();
}

u64 Pl011::read_id(const MmioAccess&, u64 reg_offset) {
    u64 i = (reg_offset - static_cast<u64>(Pl011Reg::PERIPH_ID0)) / 4;
    return i < 8 ? kIds[i] : 0;
}

void Pl011::write_ignore(const MmioAccess& a, u64 reg_offset, u64) {
    HV_LOG_RATELIMITED(warn, "pl011: vcpu%u write to read-only register 0x%03llx ignored", a.vcpu,
                       static_cast<unsigned long long>(reg_offset));
}

MmioResult Pl011::mmio_read(const MmioAccess& a, u64& value) {
    value = 0;
    const Region* r = find_region(kRegions, array_size(kRegions), a.offset & ~u64{3});
    if (r == nullptr || (width_bit(a.width) & r->widths) == 0 || (a.offset & 3) + a.width > 4) {
        HV_LOG_RATELIMITED(warn, "pl011: vcpu%u bad read offset 0x%llx width %u: RAZ", a.vcpu,
                           static_cast<unsigned long long>(a.offset), a.width);
        return MmioResult::ok;
    }
    u64 reg_offset = a.offset & ~u64{3};
    if ((a.offset & 3) != 0 && reg_offset == static_cast<u64>(Pl011Reg::DR)) return MmioResult::ok;  // no pop
    u64 full = (this->*(r->read))(a, reg_offset);
    value = extract_bytes(full, static_cast<unsigned>(a.offset & 3), a.width);
    return MmioResult::ok;
}

MmioResult Pl011::mmio_write(const MmioAccess& a, u64 value) {
    const Region* r = find_region(kRegions, array_size(kRegions), a.offset & ~u64{3});
    if (r == nullptr || (width_bit(a.width) & r->widths) == 0 || (a.offset & 3) != 0) {
        HV_LOG_RATELIMITED(warn, "pl011: vcpu%u bad write offset 0x%llx width %u: ignored", a.vcpu,
                           static_cast<unsigned long long>(a.offset), a.width);
        return MmioResult::ok;
    }
    (this->*(r->write))(a, a.offset, value & (a.width >= 4 ? 0xffffffffull : (u64{1} << (a.width * 8)) - 1));
    return MmioResult::ok;
}

}  // namespace hv
