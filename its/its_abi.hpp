// KVM's ITS table ABI, revision 0 (Documentation/virt/kvm/devices/arm-vgic-its.rst, "ITS Table ABI REV0"):
// 8-byte little-endian entries. The device table and each ITT are indexed by DeviceID / EventID; the collection
// table is a packed list terminated by the first entry with V == 0.
#pragma once

#include "lib/bits.hpp"

namespace hv::its::abi {

constexpr u32 kRevision = 0;   // GITS_IIDR.Revision of the only ABI this build implements
constexpr u64 kEntrySize = 8;  // DTE, ITE and CTE

// DTE: | 63 V | 62:49 next | 48:5 ITT_addr[51:8] | 4:0 Size (EventID bits - 1) |
namespace dte {
using Valid = Bit<63>;
using Next = Field<62, 49>;    // DeviceID offset to the next valid DTE, 0 = last; capped at 2^14 - 1
using IttAddr = Field<48, 5>;  // ITT address bits [51:8]
using Size = Field<4, 0>;
constexpr u64 kMaxNext = (1u << 14) - 1;
constexpr u64 make(u64 next, u64 itt_addr, u32 size_minus_one) {
    return Valid::make(1) | Next::make(next) | IttAddr::make(itt_addr >> 8) | Size::make(size_minus_one);
}
constexpr u64 itt_addr(u64 e) { return IttAddr::get(e) << 8; }
}  // namespace dte

// ITE: | 63:48 next | 47:16 pINTID | 15:0 ICID |, pINTID == 0 means invalid.
namespace ite {
using Next = Field<63, 48>;  // EventID offset to the next valid ITE, 0 = last; capped at 2^16 - 1
using PIntId = Field<47, 16>;
using Icid = Field<15, 0>;
constexpr u64 kMaxNext = (1u << 16) - 1;
constexpr u64 make(u64 next, u32 intid, u32 icid) { return Next::make(next) | PIntId::make(intid) | Icid::make(icid); }
}  // namespace ite

// CTE: | 63 V | 62:52 RES0 | 51:16 RDBase (target vCPU number) | 15:0 ICID |
namespace cte {
using Valid = Bit<63>;
using RdBase = Field<51, 16>;
using Icid = Field<15, 0>;
// KVM writes a collection that an ITE references but no MAPC maps with this RDBase (its COLLECTION_NOT_MAPPED).
constexpr u64 kNotMapped = 0xffffffffu;
constexpr u64 make(u64 rdbase, u32 icid) { return Valid::make(1) | RdBase::make(rdbase) | Icid::make(icid); }
}  // namespace cte

static_assert(dte::make(1, 0x40001000, 4) == 0x8002000008000204ull);
static_assert(ite::make(2, 8192, 3) == 0x0002000020000003ull);
static_assert(cte::make(1, 5) == 0x8000000000010005ull);

}  // namespace hv::its::abi
