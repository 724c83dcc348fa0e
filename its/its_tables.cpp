#include "its/its_tables.hpp"

namespace hv::its {

TableGeometry decode_baser(u64 baser, unsigned id_bits) {
    TableGeometry t;
    t.valid = baser::Valid::get(baser) != 0;
    t.indirect = baser::Indirect::get(baser) != 0;
    t.page_size = baser_page_size(baser);
    t.base = baser_address(baser);
    t.bytes = (baser::Size::get(baser) + 1) * t.page_size;
    u64 arch_limit = u64{1} << id_bits;
    u64 ids = t.indirect ? t.l1_entries() * t.ids_per_page() : t.bytes / 8;
    t.id_limit = t.valid ? min(ids, arch_limit) : 0;
    return t;
}

Result<u64> locate_entry(GuestMemory& mem, const TableGeometry& t, u64 id) {
    if (!t.valid || id >= t.id_limit) return Status::invalid_argument;
    if (!t.indirect) {
        u64 gpa = t.base + id * 8;
        if (!mem.contains(gpa, 8)) return Status::out_of_range;
        return gpa;
    }
    // IHI0069H 5.2.1: a two-level table's level-1 entries are 8 bytes, Valid in bit 63, each pointing to one
    // page of level-2 entries.
    u64 l1_gpa = t.base + (id / t.ids_per_page()) * 8;
    u64 l1 = 0;
    if (mem.read_obj(l1_gpa, l1) != Status::ok) return Status::out_of_range;
    if (!l1e::Valid::get(l1)) return Status::not_found;
    u64 page = (l1e::Address::get(l1) << 12) & ~(t.page_size - 1);
    if (!mem.contains(page, t.page_size)) return Status::out_of_range;
    return page + (id % t.ids_per_page()) * 8;
}

Status zero_guest(GuestMemory& mem, u64 gpa, u64 len) {
    static constexpr u8 kZeros[4096] = {};  // read-only data: 16 writes per 64 KiB table page
    while (len > 0) {
        usize n = static_cast<usize>(min<u64>(len, sizeof kZeros));
        HV_TRY(mem.write(gpa, kZeros, n));
        gpa += n;
        len -= n;
    }
    return Status::ok;
}

}  // namespace hv::its
