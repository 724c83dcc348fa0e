// GITS register offsets and field layouts (IHI0069H chapter 12.19, "The ITS register descriptions").
#pragma once

#include "lib/bits.hpp"

namespace hv::its {

// Offsets inside the 128 KiB ITS window: control frame [0, 64K), translater frame [64K, 128K).
enum class GitsReg : u32 {
    CTLR = 0x0000,     // 32 RW  GITS_CTLR
    IIDR = 0x0004,     // 32 RO  GITS_IIDR (Revision = table ABI revision; writable on restore only)
    TYPER = 0x0008,    // 64 RO  GITS_TYPER
    CBASER = 0x0080,   // 64 RW  GITS_CBASER
    CWRITER = 0x0088,  // 64 RW  GITS_CWRITER
    CREADR = 0x0090,   // 64 RO  GITS_CREADR (writable on restore only)
    BASER0 = 0x0100,   // 64 RW  GITS_BASER<n>, n = 0..7
    BASER7 = 0x0138,
    PIDR4 = 0xffd0,  // 32 RO  CoreSight-style ID registers
    PIDR0 = 0xffe0,
    PIDR1 = 0xffe4,
    PIDR2 = 0xffe8,  // ArchRev [7:4] = 3 (GICv3)
    PIDR3 = 0xffec,
    CIDR0 = 0xfff0,
    CIDR3 = 0xfffc,
    TRANSLATER = 0x10040,  // 16/32 WO GITS_TRANSLATER (translater frame + 0x40)
};
constexpr u32 reg(GitsReg r) { return static_cast<u32>(r); }
constexpr u64 kControlFrameSize = 64 * KiB;
constexpr u64 kTranslaterFrameSize = 64 * KiB;
constexpr u64 kTranslaterOffsetInFrame = 0x40;

namespace ctlr {
using Enabled = Bit<0>;
using Quiescent = Bit<31>;
}  // namespace ctlr

namespace iidr {
using Implementer = Field<11, 0>;
using Revision = Field<15, 12>;
using Variant = Field<19, 16>;
using ProductId = Field<31, 24>;
constexpr u32 kImplementerArm = 0x43b;  // JEP106 code of Arm, as KVM reports
constexpr u32 kProductId = 0x48;        // 'H': this hypervisor's virtual ITS
}  // namespace iidr

namespace typer {
using Physical = Bit<0>;
using Virtual = Bit<1>;
using ItteSize = Field<7, 4>;   // bytes per ITT entry minus one
using IdBits = Field<12, 8>;    // EventID bits minus one
using DevBits = Field<17, 13>;  // DeviceID bits minus one
using Seis = Bit<18>;
using Pta = Bit<19>;  // 0: RDbase is a processor number
using Hcc = Field<31, 24>;
using CidBits = Field<35, 32>;
using Cil = Bit<36>;
}  // namespace typer

namespace cbaser {
using Size = Field<7, 0>;  // number of 4 KiB pages minus one
using Shareability = Field<11, 10>;
using PhysicalAddress = Field<51, 12>;
using OuterCache = Field<55, 53>;
using InnerCache = Field<61, 59>;
using Valid = Bit<63>;
constexpr u64 kWritableMask = Size::field_mask | Shareability::field_mask | PhysicalAddress::field_mask |
                              OuterCache::field_mask | InnerCache::field_mask | Valid::field_mask;
}  // namespace cbaser

namespace cqueue {       // GITS_CWRITER / GITS_CREADR
using Retry = Bit<0>;    // CWRITER
using Stalled = Bit<0>;  // CREADR
using Offset = Field<19, 5>;
constexpr u64 kOffsetMask = Offset::field_mask;
}  // namespace cqueue

namespace baser {
using Size = Field<7, 0>;  // number of pages minus one
using PageSize = Field<9, 8>;
using Shareability = Field<11, 10>;
using PhysicalAddress = Field<47, 12>;
using PhysicalAddressHigh = Field<15, 12>;  // PA[51:48] when the page size is 64 KiB
using EntrySize = Field<52, 48>;            // bytes minus one (RO)
using OuterCache = Field<55, 53>;
using Type = Field<58, 56>;  // RO
using InnerCache = Field<61, 59>;
using Indirect = Bit<62>;
using Valid = Bit<63>;
enum class TableType : u8 { unimplemented = 0, devices = 1, vpes = 2, collections = 4 };
constexpr u64 kPage4K = 0, kPage16K = 1, kPage64K = 2;
}  // namespace baser

// A level-1 entry of a two-level (Indirect) table: IHI0069H 5.2.1.
namespace l1e {
using Valid = Bit<63>;
using Address = Field<51, 12>;
}  // namespace l1e

// Limits this model advertises in GITS_TYPER.
constexpr unsigned kDevBits = 16;
constexpr unsigned kIdBits = 16;  // EventID bits, and INTID bits of the LPIs this ITS produces
constexpr unsigned kIteSize = 8;  // ITT_entry_size: KVM ABI rev 0 uses 8-byte ITEs
constexpr u32 kMinLpi = 8192;
constexpr u32 kLpiLimit = 1u << kIdBits;  // exclusive

}  // namespace hv::its
