// GICv3 register offsets and bit fields used by the virtual GIC (IHI 0069H, chapter 12).
// Offsets are `enum class` values; fields are `Field<hi, lo>` / `Bit<n>` (lib/bits.hpp).
#pragma once

#include "lib/bits.hpp"

namespace hv::vgic {

// ---- Distributor (GICD), 64 KiB frame. IHI0069H 12.8 ----
enum class GicdReg : u32 {
    CTLR = 0x0000,        // RW  control
    TYPER = 0x0004,       // RO  type
    IIDR = 0x0008,        // RO  implementer (revision writable on the restore path, as KVM)
    TYPER2 = 0x000c,      // RO  type 2
    STATUSR = 0x0010,     // RW  error reporting (RAZ/WI here)
    IGROUPR = 0x0080,     // RW  group, 1 bit per INTID
    ISENABLER = 0x0100,   // RW  set-enable
    ICENABLER = 0x0180,   // RW  clear-enable
    ISPENDR = 0x0200,     // RW  set-pending
    ICPENDR = 0x0280,     // RW  clear-pending
    ISACTIVER = 0x0300,   // RW  set-active
    ICACTIVER = 0x0380,   // RW  clear-active
    IPRIORITYR = 0x0400,  // RW  priority, 8 bits per INTID, byte accessible
    ICFGR = 0x0c00,       // RW  config, 2 bits per INTID
    IGRPMODR = 0x0d00,    // RAZ/WI when DS == 1 (IHI0069H 12.9.15)
    IROUTER = 0x6000,     // RW  64-bit routing per SPI (IROUTER<n> at 0x6000 + 8n, n >= 32)
    IDREGS = 0xffd0,      // RO  PIDR4..PIDR7, PIDR0..PIDR3, CIDR0..CIDR3
    PIDR2 = 0xffe8,       // RO  ArchRev in [7:4]
};
constexpr u32 off(GicdReg r) { return static_cast<u32>(r); }

namespace gicd_ctlr {
using EnableGrp0 = Bit<0>;
using EnableGrp1 = Bit<1>;
using ARE = Bit<4>;  // DS == 1 layout: ARE at bit 4 (IHI0069H 12.9.4)
using DS = Bit<6>;
using E1NWF = Bit<7>;
using RWP = Bit<31>;
}  // namespace gicd_ctlr

namespace gicd_typer {
using ITLinesNumber = Field<4, 0>;
using CPUNumber = Field<7, 5>;
using ESPI = Bit<8>;
using SecurityExtn = Bit<10>;
using MBIS = Bit<16>;
using LPIS = Bit<17>;
using DVIS = Bit<18>;
using IDbits = Field<23, 19>;
using A3V = Bit<24>;
using No1N = Bit<25>;
using RSS = Bit<26>;
}  // namespace gicd_typer

namespace gic_iidr {
using Implementer = Field<11, 0>;
using Revision = Field<15, 12>;
using Variant = Field<19, 16>;
using ProductID = Field<31, 24>;
}  // namespace gic_iidr

namespace gicd_irouter {
using Aff0 = Field<7, 0>;
using Aff1 = Field<15, 8>;
using Aff2 = Field<23, 16>;
using IRM = Bit<31>;
using Aff3 = Field<39, 32>;
constexpr u64 kAffMask = Aff0::field_mask | Aff1::field_mask | Aff2::field_mask | Aff3::field_mask;
}  // namespace gicd_irouter

// ---- Redistributor RD_base frame. IHI0069H 12.10 ----
enum class GicrReg : u32 {
    CTLR = 0x0000,       // RW  EnableLPIs, CES/IR (RO), RWP
    IIDR = 0x0004,       // RO
    TYPER = 0x0008,      // RO  64-bit
    STATUSR = 0x0010,    // RAZ/WI
    WAKER = 0x0014,      // RW  ProcessorSleep / ChildrenAsleep
    PROPBASER = 0x0070,  // RW  64-bit LPI configuration table
    PENDBASER = 0x0078,  // RW  64-bit LPI pending table
    INVLPIR = 0x00a0,    // WO  64-bit invalidate one LPI
    INVALLR = 0x00b0,    // WO  64-bit invalidate all LPIs
    SYNCR = 0x00c0,      // RO  Busy
    IDREGS = 0xffd0,     // RO
};
constexpr u32 off(GicrReg r) { return static_cast<u32>(r); }

// ---- Redistributor SGI_base frame (second 64 KiB). IHI0069H 12.10 ----
enum class GicrSgiReg : u32 {
    IGROUPR0 = 0x0080,
    ISENABLER0 = 0x0100,
    ICENABLER0 = 0x0180,
    ISPENDR0 = 0x0200,
    ICPENDR0 = 0x0280,
    ISACTIVER0 = 0x0300,
    ICACTIVER0 = 0x0380,
    IPRIORITYR = 0x0400,  // 8 registers
    ICFGR0 = 0x0c00,      // SGIs: RO, all edge
    ICFGR1 = 0x0c04,      // PPIs
    IGRPMODR0 = 0x0d00,   // RAZ/WI when DS == 1
    NSACR = 0x0e00,       // RAZ/WI when DS == 1
};
constexpr u32 off(GicrSgiReg r) { return static_cast<u32>(r); }

constexpr u64 kFrameSize = 64 * KiB;
constexpr u64 kRedistStride = 2 * kFrameSize;  // RD_base + SGI_base per vCPU

namespace gicr_ctlr {
using EnableLPIs = Bit<0>;
using CES = Bit<1>;
using IR = Bit<2>;
using RWP = Bit<3>;
using UWP = Bit<31>;
}  // namespace gicr_ctlr

namespace gicr_typer {
using PLPIS = Bit<0>;
using VLPIS = Bit<1>;
using DirectLPI = Bit<3>;
using Last = Bit<4>;
using ProcessorNumber = Field<23, 8>;
using CommonLPIAff = Field<25, 24>;
using AffinityValue = Field<63, 32>;
}  // namespace gicr_typer

namespace gicr_waker {
using ProcessorSleep = Bit<1>;
using ChildrenAsleep = Bit<2>;
}  // namespace gicr_waker

namespace gicr_propbaser {
using IDbits = Field<4, 0>;
using InnerCache = Field<9, 7>;
using Shareability = Field<11, 10>;
using PA = Field<51, 12>;
using OuterCache = Field<58, 56>;
constexpr u64 kWritable =
    IDbits::field_mask | InnerCache::field_mask | Shareability::field_mask | PA::field_mask | OuterCache::field_mask;
}  // namespace gicr_propbaser

namespace gicr_pendbaser {
using InnerCache = Field<9, 7>;
using Shareability = Field<11, 10>;
using PA = Field<51, 16>;
using OuterCache = Field<58, 56>;
using PTZ = Bit<62>;
constexpr u64 kWritable =
    InnerCache::field_mask | Shareability::field_mask | PA::field_mask | OuterCache::field_mask | PTZ::field_mask;
}  // namespace gicr_pendbaser

// LPI configuration table entry (one byte per LPI). IHI0069H 5.1.1
namespace lpi_prop {
using Enable = Bit<0>;
using Priority = Field<7, 2>;
}  // namespace lpi_prop

// ---- CPU interface / EL2 virtualization registers (Arm ARM D19, IHI0069H 12.4-12.5) ----
namespace ich_lr {
using vINTID = Field<31, 0>;
using pINTID = Field<44, 32>;
using EOI = Bit<41>;  // HW == 0: maintenance interrupt on EOI (level-sensitive resampling)
using Priority = Field<55, 48>;
using Group = Bit<60>;
using HW = Bit<61>;
using State = Field<63, 62>;
constexpr u64 kStatePending = 1;
constexpr u64 kStateActive = 2;
}  // namespace ich_lr

namespace ich_hcr {
using En = Bit<0>;
using UIE = Bit<1>;
using LRENPIE = Bit<2>;
using NPIE = Bit<3>;
using EOIcount = Field<31, 27>;
}  // namespace ich_hcr

namespace ich_vmcr {
using VENG0 = Bit<0>;
using VENG1 = Bit<1>;
using VAckCtl = Bit<2>;
using VFIQEn = Bit<3>;
using VCBPR = Bit<4>;
using VEOIM = Bit<9>;
using VBPR1 = Field<20, 18>;
using VBPR0 = Field<23, 21>;
using VPMR = Field<31, 24>;
}  // namespace ich_vmcr

namespace ich_vtr {
using ListRegs = Field<4, 0>;
using A3V = Bit<21>;
using SEIS = Bit<22>;
using IDbits = Field<25, 23>;
using PREbits = Field<28, 26>;
using PRIbits = Field<31, 29>;
// The implemented list registers (ListRegs + 1) and ICH_AP{0,1}R<n>_EL2 pairs (IHI0069H 12.4.1: 5 preemption bits
// -> 1, 6 -> 2, 7 -> 4).
constexpr u32 list_regs(u64 vtr) { return static_cast<u32>(ListRegs::get(vtr)) + 1; }
constexpr u32 apr_count(u64 vtr) {
    const u32 pre = static_cast<u32>(PREbits::get(vtr)) + 1;
    return pre <= 5 ? 1 : (pre == 6 ? 2 : 4);
}
}  // namespace ich_vtr

namespace icc_ctlr {
using CBPR = Bit<0>;
using EOImode = Bit<1>;
using PRIbits = Field<10, 8>;
using IDbits = Field<13, 11>;
using SEIS = Bit<14>;
using A3V = Bit<15>;
}  // namespace icc_ctlr

namespace icc_sre {
using SRE = Bit<0>;
using DFB = Bit<1>;
using DIB = Bit<2>;
}  // namespace icc_sre

// ICC_SGI1R_EL1 / ICC_ASGI1R_EL1 / ICC_SGI0R_EL1 layout. IHI0069H 12.2.23
namespace icc_sgir {
using TargetList = Field<15, 0>;
using Aff1 = Field<23, 16>;
using INTID = Field<27, 24>;
using Aff2 = Field<39, 32>;
using IRM = Bit<40>;
using RS = Field<47, 44>;
using Aff3 = Field<55, 48>;
}  // namespace icc_sgir

// MPIDR_EL1 affinity fields.
namespace mpidr {
using Aff0 = Field<7, 0>;
using Aff1 = Field<15, 8>;
using Aff2 = Field<23, 16>;
using Aff3 = Field<39, 32>;
constexpr u64 kAffMask = Aff0::field_mask | Aff1::field_mask | Aff2::field_mask | Aff3::field_mask;
}  // namespace mpidr

}  // namespace hv::vgic
