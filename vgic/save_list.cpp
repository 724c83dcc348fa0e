#include "vgic/save_list.hpp"

namespace hv::vgic {

namespace {
constexpr SaveReg kGicdHead[] = {{off(GicdReg::IIDR), 4}, {off(GicdReg::TYPER), 4}, {off(GicdReg::CTLR), 4}};
constexpr u32 kGicd1Bit[] = {off(GicdReg::IGROUPR), off(GicdReg::ISENABLER), off(GicdReg::ISPENDR),
                             off(GicdReg::ISACTIVER)};
constexpr SaveReg kGicr[] = {
    {off(GicrReg::PROPBASER), 8},
    {off(GicrReg::PENDBASER), 8},
    {off(GicrReg::WAKER), 4},
    {u32(kFrameSize) + off(GicrSgiReg::IGROUPR0), 4},
    {u32(kFrameSize) + off(GicrSgiReg::ISENABLER0), 4},
    {u32(kFrameSize) + off(GicrSgiReg::ISPENDR0), 4},
    {u32(kFrameSize) + off(GicrSgiReg::ISACTIVER0), 4},
    {u32(kFrameSize) + off(GicrSgiReg::IPRIORITYR) + 0x00, 4},
    {u32(kFrameSize) + off(GicrSgiReg::IPRIORITYR) + 0x04, 4},
    {u32(kFrameSize) + off(GicrSgiReg::IPRIORITYR) + 0x08, 4},
    {u32(kFrameSize) + off(GicrSgiReg::IPRIORITYR) + 0x0c, 4},
    {u32(kFrameSize) + off(GicrSgiReg::IPRIORITYR) + 0x10, 4},
    {u32(kFrameSize) + off(GicrSgiReg::IPRIORITYR) + 0x14, 4},
    {u32(kFrameSize) + off(GicrSgiReg::IPRIORITYR) + 0x18, 4},
    {u32(kFrameSize) + off(GicrSgiReg::IPRIORITYR) + 0x1c, 4},
    {off(GicrReg::CTLR), 4},
};

u32 spi_end(u32 nr_irqs) { return min(nr_irqs, kMaxSpiIntid + 1); }

bool is_set_register(u32 frame_offset) {
    return (frame_offset >= off(GicdReg::ISENABLER) && frame_offset < off(GicdReg::ICENABLER)) ||
           (frame_offset >= off(GicdReg::ISACTIVER) && frame_offset < off(GicdReg::ICACTIVER));
}
}  // namespace

usize gicd_save_count(u32 nr_irqs) {
    if (nr_irqs <= kNumPrivate) return array_size(kGicdHead);
    const u32 spis = nr_irqs - kNumPrivate;
    return array_size(kGicdHead) + array_size(kGicd1Bit) * (spis / 32) + spis / 4 + spis / 16 +
           (spi_end(nr_irqs) - kNumPrivate);
}

SaveReg gicd_save_at(u32 nr_irqs, usize i) {
    if (i < array_size(kGicdHead)) return kGicdHead[i];
    i -= array_size(kGicdHead);
    const u32 spis = nr_irqs > kNumPrivate ? nr_irqs - kNumPrivate : 0;
    const usize words1 = array_size(kGicd1Bit) * (spis / 32);
    if (i < words1) {
        const u32 word = static_cast<u32>(i / array_size(kGicd1Bit)) + 1;  // register n covers INTIDs 32n..
        return {kGicd1Bit[i % array_size(kGicd1Bit)] + word * 4, 4};
    }
    i -= words1;
    if (i < spis / 4) return {off(GicdReg::IPRIORITYR) + kNumPrivate + static_cast<u32>(i) * 4, 4};
    i -= spis / 4;
    if (i < spis / 16) return {off(GicdReg::ICFGR) + (kNumPrivate / 16 + static_cast<u32>(i)) * 4, 4};
    i -= spis / 16;
    return {off(GicdReg::IROUTER) + (kNumPrivate + static_cast<u32>(i)) * 8, 8};
}

i64 gicd_save_index(u32 nr_irqs, u32 offset) {
    for (usize i = 0; i < array_size(kGicdHead); ++i)
        if (kGicdHead[i].offset == offset) return static_cast<i64>(i);
    usize base = array_size(kGicdHead);
    const u32 spis = nr_irqs > kNumPrivate ? nr_irqs - kNumPrivate : 0;
    // The inverse of gicd_save_at, family by family (the families' offset ranges are disjoint).
    for (usize k = 0; k < array_size(kGicd1Bit); ++k) {
        if (offset < kGicd1Bit[k] + 4 || offset % 4 != 0) continue;
        const u32 word = (offset - kGicd1Bit[k]) / 4;
        if (word <= spis / 32) return static_cast<i64>(base + (word - 1) * array_size(kGicd1Bit) + k);
    }
    base += array_size(kGicd1Bit) * (spis / 32);
    const u32 prio = off(GicdReg::IPRIORITYR) + kNumPrivate;
    if (offset >= prio && offset < prio + spis && offset % 4 == 0) return static_cast<i64>(base + (offset - prio) / 4);
    base += spis / 4;
    const u32 cfg = off(GicdReg::ICFGR) + kNumPrivate / 4;
    if (offset >= cfg && offset < cfg + spis / 4 && offset % 4 == 0) return static_cast<i64>(base + (offset - cfg) / 4);
    base += spis / 16;
    const u32 route = off(GicdReg::IROUTER) + kNumPrivate * 8;
    if (offset >= route && offset < route + (spi_end(nr_irqs) - kNumPrivate) * 8 && offset % 8 == 0)
        return static_cast<i64>(base + (offset - route) / 8);
    return -1;
}

usize gicr_save_count() { return array_size(kGicr); }
SaveReg gicr_save_at(usize i) { return i < array_size(kGicr) ? kGicr[i] : SaveReg{off(GicrReg::CTLR), 4}; }

usize icc_save_count(u64 ich_vtr) {
    return 7 + 2 * ich_vtr::apr_count(ich_vtr);  // PMR BPR0 BPR1 CTLR SRE IGRPEN0 IGRPEN1 + AP0R<n> + AP1R<n>
}

IccReg icc_save_at(u64 ich_vtr, usize i) {
    const usize aprs = (icc_save_count(ich_vtr) - 7) / 2;
    // SRE and CTLR first (KVM restores them before the rest), then the priority state.
    static constexpr IccReg kHead[] = {IccReg::SRE, IccReg::CTLR, IccReg::PMR, IccReg::BPR0, IccReg::BPR1};
    if (i < array_size(kHead)) return kHead[i];
    i -= array_size(kHead);
    if (i < aprs) return static_cast<IccReg>(static_cast<u32>(IccReg::AP0R0) + i);
    i -= aprs;
    if (i < aprs) return static_cast<IccReg>(static_cast<u32>(IccReg::AP1R0) + i);
    i -= aprs;
    return i == 0 ? IccReg::IGRPEN0 : IccReg::IGRPEN1;
}

Status restore_dist_value(Vgic& vgic, u32 offset, u8 width, u64 value) {
    if (is_set_register(offset) && width == 4)
        HV_TRY(vgic.dist_restore_write(offset + 0x80, width, ~value & 0xffffffffu));  // IC* sits 0x80 above IS*
    return vgic.dist_restore_write(offset, width, value);
}

Status restore_redist_value(Vgic& vgic, u32 vcpu, u32 offset, u8 width, u64 value) {
    if (offset >= kFrameSize && is_set_register(static_cast<u32>(offset - kFrameSize)) && width == 4)
        HV_TRY(vgic.redist_restore_write(vcpu, offset + 0x80, width, ~value & 0xffffffffu));
    return vgic.redist_restore_write(vcpu, offset, width, value);
}

}  // namespace hv::vgic
