// Geometry of the guest's device / collection tables as GITS_BASER<n> describes them (IHI0069H 12.19.1), and
// the lookup of one entry, flat or two-level. Only the location is computed here; entries are read and written
// by the save/restore code, and level-1 entries by MAPD validation, always through GuestMemory.
#pragma once

#include "core/guest_memory.hpp"
#include "its/its_regs.hpp"

namespace hv::its {

struct TableGeometry {
    bool valid = false;
    bool indirect = false;
    u64 base = 0;  // table (flat) or level-1 table (indirect)
    u64 page_size = 4096;
    u64 bytes = 0;     // size of the flat table / of the level-1 table
    u64 id_limit = 0;  // exclusive bound on the IDs this table can hold (also capped by the architected bits)

    u64 ids_per_page() const { return page_size / 8; }
    u64 l1_entries() const { return bytes / 8; }
};

constexpr u64 baser_page_size(u64 baser) {
    switch (baser::PageSize::get(baser)) {
        case baser::kPage4K:
            return 4 * KiB;
        case baser::kPage16K:
            return 16 * KiB;
        default:
            return 64 * KiB;  // 0b11 is reserved; write_baser never stores it
    }
}

constexpr u64 baser_address(u64 baser) {
    u64 page = baser_page_size(baser);
    u64 pa = (baser::PhysicalAddress::get(baser) << 12) & ~(page - 1);
    if (page == 64 * KiB) pa |= baser::PhysicalAddressHigh::get(baser) << 48;  // IHI0069H 12.19.1: PA[51:48]
    return pa;
}

// `id_bits`: DevBits for the device table, 16 for collections (GITS_TYPER.CIL == 0).
TableGeometry decode_baser(u64 baser, unsigned id_bits);

// The guest-physical address of entry `id`. Errors: invalid_argument (id beyond the table or table invalid),
// not_found (indirect: the level-1 entry is not valid), out_of_range (a level-1 entry or level-2 page outside
// guest RAM).
[[nodiscard]] Result<u64> locate_entry(GuestMemory& mem, const TableGeometry& t, u64 id);

// One guest-RAM range SAVE_TABLES writes, or reads while writing (a two-level table's level-1 entries): [base, end)
// and what it is, for the log line naming two overlapping ones (Its::check_tables_disjoint).
struct TableRange {
    enum class Kind : u8 { device_table, level1_table, level2_page, collection_table, itt };
    u64 base = 0, end = 0;
    Kind kind = Kind::device_table;
    u32 id = 0;  // level2_page: its level-1 index; itt: the DeviceID
};

// Writes `len` zero bytes at `gpa` (in bounded chunks).
[[nodiscard]] Status zero_guest(GuestMemory& mem, u64 gpa, u64 len);

}  // namespace hv::its
