#include "core/stage2.hpp"

namespace hv {

namespace {
constexpr u64 kEntries = 512;
}  // namespace

unsigned parange_bits(u64 parange_field) {
    switch (parange_field & 0xf) {
        case 0:
            return 32;
        case 1:
            return 36;
        case 2:
            return 40;
        case 3:
            return 42;
        case 4:
            return 44;
        case 5:
            return 48;
        case 6:
            return 52;
        default:
            return 48;  // reserved encodings: treat as the largest 4K-granule size
    }
}

u64 PageTable::leaf_attrs(Regime regime, MapAttrs attrs) {
    u64 d = pte::Af::make(1);
    bool normal = attrs.type == MemType::normal;
    if (regime == Regime::stage2) {
        d |= pte::S2MemAttr::make(normal ? pte::kS2MemNormalWb : pte::kS2MemDeviceNGnRE);
        d |= pte::Ap::make(attrs.writable ? pte::kS2ApReadWrite : pte::kS2ApReadOnly);
        if (normal) d |= pte::Sh::make(pte::kShInner);
        if (!attrs.executable || !normal) d |= pte::S2Xn::make(2);  // XN[1:0] = 0b10: not executable at EL1/EL0
    } else {
        d |= pte::AttrIndx::make(normal ? pte::kMairIdxNormal : pte::kMairIdxDevice);
        d |= pte::Ap::make(attrs.writable ? pte::kS1ApEl2ReadWrite : pte::kS1ApEl2ReadOnly);
        if (normal) d |= pte::Sh::make(pte::kShInner);
        if (!attrs.executable || !normal) d |= pte::S1Xn::make(1);
    }
    return d;
}

Status PageTable::init(PageAllocator& alloc, Regime regime, unsigned ia_bits) {
    if (ia_bits < 32 || ia_bits > 48) return Status::invalid_argument;
    alloc_ = &alloc;
    regime_ = regime;
    ia_bits_ = ia_bits;
    if (regime == Regime::stage2) {
        // Start at level 1 with up to 16 concatenated tables for IPA sizes of 40..43 bits (D8.2.7); larger IPAs
        // start at level 0, smaller ones at level 1 with a partial table.
        if (ia_bits > 43) return Status::invalid_argument;
        start_level_ = 1;
        root_tables_ = ia_bits > 39 ? usize{1} << (ia_bits - 39) : 1;
    } else {
        start_level_ = ia_bits > 39 ? 0 : 1;
        root_tables_ = 1;
    }
    root_pa_ = alloc.alloc_pages(root_tables_);
    if (root_pa_ == 0) return Status::no_memory;
    root_ = alloc.table_ptr(root_pa_);
    tables_ = root_tables_;
    return Status::ok;
}

Result<u64*> PageTable::table_at(u64 ia, unsigned leaf_level, bool* created) {
    u64* table = root_;
    if (created != nullptr) *created = false;
    for (unsigned level = start_level_;; ++level) {
        if (level == leaf_level) return table;
        u64 index = ia >> level_shift(level);
        if (level != start_level_) index &= kEntries - 1;  // the root may be concatenated / partial
        u64& entry = table[index];
        if (!pte::Valid::get(entry)) {
            u64 next = alloc_->alloc_pages(1);
            if (next == 0) return Status::no_memory;
            ++tables_;
            entry = pte::OutputAddr::make(next >> 12) | pte::Table::make(1) | pte::Valid::make(1);
            if (created != nullptr && level + 1 == leaf_level) *created = true;
        } else if (!pte::Table::get(entry)) {
            return Status::busy;  // a block already covers this range
        }
        table = alloc_->table_ptr(pte::OutputAddr::get(entry) << 12);
    }
}

Status PageTable::map_one(u64 ia, u64 pa, unsigned leaf_level, u64 attrs) {
    Result<u64*> table = table_at(ia, leaf_level);
    if (!table.ok()) return table.status();
    u64 index = ia >> level_shift(leaf_level);
    if (leaf_level != start_level_) index &= kEntries - 1;
    u64& entry = table.value()[index];
    if (pte::Valid::get(entry)) return Status::busy;
    u64 type = leaf_level == 3 ? pte::Table::make(1) : 0;  // page (0b11) or block (0b01)
    entry = attrs | pte::OutputAddr::make(pa >> 12) | type | pte::Valid::make(1);
    return Status::ok;
}

// A whole level-3 table of pages: one walk for 512 descriptors (4 KiB-page mappings of guest RAM, 262,144 pages
// per GiB, would otherwise walk from the root for each).
Status PageTable::map_level3_table(u64 ia, u64 pa, u64 attrs) {
    bool created = false;
    Result<u64*> table = table_at(ia, 3, &created);
    if (!table.ok()) return table.status();
    u64* entries = table.value();
    if (!created) {  // a table from an earlier map(): all of it must still be free
        u64 any = 0;
        for (usize i = 0; i < kEntries; ++i) any |= entries[i];
        if (pte::Valid::get(any)) return Status::busy;
    }
    u64 page = attrs | pte::OutputAddr::make(pa >> 12) | pte::Table::make(1) | pte::Valid::make(1);
    for (usize i = 0; i < kEntries; i += 4, page += 4 * kPageSize) {  // unrolled: 2 STPs per 4 descriptors
        entries[i] = page;
        entries[i + 1] = page + kPageSize;
        entries[i + 2] = page + 2 * kPageSize;
        entries[i + 3] = page + 3 * kPageSize;
    }
    return Status::ok;
}

Status PageTable::map(u64 ia, u64 pa, u64 size, MapAttrs attrs) {
    if (root_ == nullptr) return Status::bad_order;
    if (!is_aligned(ia, kPageSize) || !is_aligned(pa, kPageSize) || !is_aligned(size, kPageSize) || size == 0)
        return Status::invalid_argument;
    u64 limit = u64{1} << ia_bits_;
    if (ia + size < ia || ia + size > limit || pa + size < pa || pa + size > (u64{1} << 48))
        return Status::out_of_range;
    u64 attr_bits = leaf_attrs(regime_, attrs);
    u64 done = 0;
    while (done < size) {
        u64 cur_ia = ia + done, cur_pa = pa + done, left = size - done;
        const u64 l2_span = u64{1} << level_shift(2);
        if (!attrs.blocks && is_aligned(cur_ia, l2_span) && is_aligned(cur_pa, l2_span) && left >= l2_span) {
            HV_TRY(map_level3_table(cur_ia, cur_pa, attr_bits));
            done += l2_span;
            continue;
        }
        unsigned leaf = 3;
        for (unsigned level = 1; level < 3 && attrs.blocks; ++level) {
            u64 block = u64{1} << level_shift(level);
            if (level < start_level_) continue;
            if (is_aligned(cur_ia, block) && is_aligned(cur_pa, block) && left >= block) {
                leaf = level;
                break;
            }
        }
        HV_TRY(map_one(cur_ia, cur_pa, leaf, attr_bits));
        done += u64{1} << level_shift(leaf);
    }
    return Status::ok;
}

u64 PageTable::page_map_tables(u64 ia, u64 size) {
    if (size == 0) return 0;
    u64 tables = 0;
    for (unsigned level = 1; level <= 3; ++level) {  // tables at `level` each cover 2^level_shift(level - 1) bytes
        const u64 span = u64{1} << level_shift(level - 1);
        tables += (align_up(ia + size, span) - align_down(ia, span)) / span;
    }
    return tables;
}

Result<Translation> PageTable::translate(u64 ia) const {
    if (root_ == nullptr) return Status::bad_order;
    if (ia >> ia_bits_) return Status::out_of_range;
    const u64* table = root_;
    for (unsigned level = start_level_; level <= 3; ++level) {
        u64 shift = level_shift(level);
        u64 index = ia >> shift;
        if (level != start_level_) index &= kEntries - 1;
        u64 entry = table[index];
        if (!pte::Valid::get(entry)) return Status::not_found;
        bool is_table = pte::Table::get(entry) && level < 3;
        if (!is_table) {
            if (level == 0 || (level == 3 && !pte::Table::get(entry))) return Status::corrupt;
            u64 block = u64{1} << shift;
            Translation t;
            t.level = level;
            t.block_size = block;
            t.descriptor = entry;
            t.pa = (pte::OutputAddr::get(entry) << 12 & ~(block - 1)) | (ia & (block - 1));
            return t;
        }
        table = alloc_->table_ptr(pte::OutputAddr::get(entry) << 12);
    }
    return Status::corrupt;
}

u64 make_vtcr(const PageTable& table, u64 parange_field) {
    u64 t0sz = 64 - table.ia_bits();
    // SL0 for the 4 KiB granule: 0 = start at level 2, 1 = level 1, 2 = level 0 (D17.2.177).
    u64 sl0 = table.start_level() == 0 ? 2 : table.start_level() == 1 ? 1 : 0;
    u64 ps = parange_field & 7;
    if (ps > 5) ps = 5;  // 52-bit PA needs LPA/LPA2 descriptors, which we do not use
    return Field<5, 0>::make(t0sz) | Field<7, 6>::make(sl0) | Field<9, 8>::make(1) /* IRGN0 WBWA */ |
           Field<11, 10>::make(1) /* ORGN0 WBWA */ | Field<13, 12>::make(3) /* SH0 inner */ |
           Field<15, 14>::make(0) /* TG0 4K */ | Field<18, 16>::make(ps) | Bit<31>::make(1) /* RES1 */;
}

}  // namespace hv
