// VMSAv8-64 translation-table builder, 4 KiB granule, for the two regimes the hypervisor programs:
//  * Regime::stage2     — a VM's IPA -> PA tables (VTTBR_EL2), with concatenated root tables where the IPA size
//                         needs them (DDI0487 D8.2.7 "Concatenated translation tables"),
//  * Regime::el2_stage1 — the hypervisor's own identity map (TTBR0_EL2).
// Tables come from an abstract PageAllocator, so the same code runs on the host (unit tests walk the result) and in
// the hypervisor (identity-mapped pool). The builder only creates mappings (the hypervisor never changes them at
// run time yet); mapping over an existing mapping is refused.
#pragma once

#include "lib/bits.hpp"
#include "lib/status.hpp"

namespace hv {

class PageAllocator {
public:
    // A zeroed, naturally aligned block of `pages` contiguous 4 KiB pages (pages is a power of two, <= 16);
    // returns its physical address, or 0 when exhausted.
    virtual u64 alloc_pages(usize pages) = 0;
    // Where the builder can read/write the table at physical address `pa`.
    virtual u64* table_ptr(u64 pa) = 0;

protected:
    ~PageAllocator() = default;
};

enum class Regime : u8 { stage2, el2_stage1 };
enum class MemType : u8 { normal, device };

struct MapAttrs {
    MemType type = MemType::normal;
    bool writable = true;
    bool executable = true;
    bool blocks = true;  // false: 4 KiB pages only, whatever the alignment
};

namespace pte {
using Valid = Bit<0>;
using Table = Bit<1>;           // at levels 0-2: table (1) or block (0); at level 3 must be 1 (page)
using AttrIndx = Field<4, 2>;   // stage 1: MAIR index
using S2MemAttr = Field<5, 2>;  // stage 2: memory attributes
using Ap = Field<7, 6>;         // stage 1 AP[2:1]; stage 2 S2AP
using Sh = Field<9, 8>;
using Af = Bit<10>;
using OutputAddr = Field<47, 12>;
using S1Xn = Bit<54>;        // EL2 regime: XN
using S2Xn = Field<54, 53>;  // stage 2: XN[1:0]

constexpr u64 kShInner = 3;
constexpr u64 kS2MemNormalWb = 0xf;  // Outer WB, Inner WB (DDI0487 D8.5.5)
constexpr u64 kS2MemDeviceNGnRE = 0x1;
constexpr u64 kS2ApReadWrite = 3;
constexpr u64 kS2ApReadOnly = 1;
constexpr u64 kS1ApEl2ReadWrite = 1;  // AP[2:1] = 0b01 (AP[1] is RES1 in the EL2 regime)
constexpr u64 kS1ApEl2ReadOnly = 3;
// MAIR_EL2 indices the stage-1 descriptors use (arch/aarch64 programs MAIR_EL2 to match).
constexpr u64 kMairIdxDevice = 0;  // Device-nGnRE  (0x04)
constexpr u64 kMairIdxNormal = 1;  // Normal WB RA WA, inner+outer (0xff)
constexpr u64 kMairValue = (u64{0x04} << (8 * kMairIdxDevice)) | (u64{0xff} << (8 * kMairIdxNormal));
}  // namespace pte

// Result of a software walk.
struct Translation {
    u64 pa = 0;
    unsigned level = 0;  // level of the leaf descriptor (1: 1 GiB block, 2: 2 MiB block, 3: 4 KiB page)
    u64 block_size = 0;
    u64 descriptor = 0;
};

class PageTable {
public:
    static constexpr u64 kPageSize = 4096;

    // Set up an empty table for `ia_bits` input-address bits (stage 2: 32..42 here; stage 1: 32..48).
    [[nodiscard]] Status init(PageAllocator& alloc, Regime regime, unsigned ia_bits);

    // Map [ia, ia+size) to [pa, pa+size) with the largest blocks alignment allows (1 GiB at level 1, 2 MiB at
    // level 2, else 4 KiB pages), or with 4 KiB pages only when !attrs.blocks. All values must be 4 KiB aligned;
    // overlapping an existing mapping is refused.
    [[nodiscard]] Status map(u64 ia, u64 pa, u64 size, MapAttrs attrs);

    // Upper bound on the table pages map(ia, ia, size, {.blocks = false}) adds below the root, for ia 4 KiB
    // aligned: one level-3 table per 2 MiB the range touches, one level-2 table per 1 GiB, one level-1 table per
    // 512 GiB (only when the walk starts at level 0).
    static u64 page_map_tables(u64 ia, u64 size);

    // Software walk; Status::not_found if `ia` is unmapped.
    [[nodiscard]] Result<Translation> translate(u64 ia) const;

    u64 root_pa() const { return root_pa_; }
    unsigned start_level() const { return start_level_; }
    unsigned ia_bits() const { return ia_bits_; }
    usize root_tables() const { return root_tables_; }  // concatenated tables at the start level (stage 2)
    Regime regime() const { return regime_; }
    usize tables_allocated() const { return tables_; }

    // The descriptor attribute bits (everything but the output address and the type bits) for a leaf.
    static u64 leaf_attrs(Regime regime, MapAttrs attrs);

    static constexpr unsigned level_shift(unsigned level) { return 12 + 9 * (3 - level); }

private:
    // The table holding `ia`'s descriptor at `leaf_level`, creating the tables above it.
    // *created: the table at leaf_level was allocated by this call (so it is all zero).
    Result<u64*> table_at(u64 ia, unsigned leaf_level, bool* created = nullptr);
    Status map_one(u64 ia, u64 pa, unsigned leaf_level, u64 attrs);
    Status map_level3_table(u64 ia, u64 pa, u64 attrs);
    u64* root_ = nullptr;
    PageAllocator* alloc_ = nullptr;
    u64 root_pa_ = 0;
    Regime regime_ = Regime::stage2;
    unsigned ia_bits_ = 0;
    unsigned start_level_ = 0;
    usize root_tables_ = 1;
    usize tables_ = 0;
};

// VTCR_EL2 for a stage-2 table built by PageTable (DDI0487 D17.2.177): T0SZ, SL0, inner-shareable WB walks, 4 KiB
// granule, PS from ID_AA64MMFR0_EL1.PARange.
u64 make_vtcr(const PageTable& table, u64 parange_field);

// Physical address bits for an ID_AA64MMFR0_EL1.PARange value (0 -> 32 ... 6 -> 52).
unsigned parange_bits(u64 parange_field);

}  // namespace hv
