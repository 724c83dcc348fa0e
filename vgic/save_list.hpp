// What the register list (core/reglist/) carries for the vGIC, in restore order, and how its IDs' 16-bit index
// fields map to vGIC registers. The accessors themselves are Vgic::{dist,redist}_{save_read,restore_write},
// Vgic::icc_{read,write} and Vgic::line_level_{read,write}; see docs/vgic.md.
#pragma once

#include "vgic/vgic.hpp"

namespace hv::vgic {

struct SaveReg {
    u32 offset;  // GICD: frame offset; GICR: offset from RD_base (SGI_base registers at 0x10000 + x)
    u8 width;    // 4 or 8 bytes (the ID's size field)
};

// GICD registers for a distributor with `nr_irqs` INTIDs: IIDR, TYPER (validated on restore), CTLR, then per
// SPI IGROUPR/ISENABLER/ISPENDR/ISACTIVER, IPRIORITYR, ICFGR and IROUTER.
usize gicd_save_count(u32 nr_irqs);
SaveReg gicd_save_at(u32 nr_irqs, usize i);
// The index i with gicd_save_at(nr_irqs, i).offset == offset, or -1: O(1) (reglist lookups use it).
i64 gicd_save_index(u32 nr_irqs, u32 offset);

// GICR registers of one redistributor: PROPBASER, PENDBASER, WAKER, the SGI_base SGI/PPI registers, and
// GICR_CTLR last (setting EnableLPIs reads the LPI pending table written by Vgic::save_pending_tables()).
usize gicr_save_count();
SaveReg gicr_save_at(usize i);

// CPU-interface registers of one vCPU (AP<n>R only as many as ICH_VTR_EL2.PREbits implies).
usize icc_save_count(u64 ich_vtr);
IccReg icc_save_at(u64 ich_vtr, usize i);

// SET with value semantics, for one-register-at-a-time restores: ISENABLER/ISACTIVER first clear the complement
// through ICENABLER/ICACTIVER (KVM's user accessors are set-only), everything else is restore_write.
[[nodiscard]] Status restore_dist_value(Vgic& vgic, u32 offset, u8 width, u64 value);
[[nodiscard]] Status restore_redist_value(Vgic& vgic, u32 vcpu, u32 offset, u8 width, u64 value);

// Index layout of the register-list classes (docs/reglist.md, docs/vgic.md).
// GICD / GICR: offset / 4 (every register is word aligned; GICR offsets < 128 KiB fit in 15 bits).
constexpr u16 gic_reg_index(u32 offset) { return static_cast<u16>(offset >> 2); }
constexpr u32 gic_reg_offset(u16 index) { return u32{index} << 2; }
// ICC: KVM's system-register index op0<<14 | op1<<11 | CRn<<7 | CRm<<3 | op2 (as KVM_REG_ARM64_SYSREG).
u16 icc_index(IccReg reg);
// LINE_LEVEL (VM-scoped): [4:0] = first INTID / 32; [12:5] = vCPU for the PPI word (first INTID 0), else 0.
constexpr u16 line_level_index(u32 vcpu, u32 first_intid) {
    return static_cast<u16>((first_intid / 32) | (first_intid < 32 ? (vcpu & 0xff) << 5 : 0));
}
constexpr u32 line_level_first_intid(u16 index) { return (index & 0x1fu) * 32; }
constexpr u32 line_level_vcpu(u16 index) { return (index >> 5) & 0xffu; }

}  // namespace hv::vgic
