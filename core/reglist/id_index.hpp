// Constant-time lookup of a register ID in a constant descriptor table. A snapshot restore asks a class about
// every record several times (owns, validate, set, get): a binary search of the 168 system-register IDs per ask
// was a good part of a restore. Open addressing with linear probing, built at compile time from the table; a slot
// holds table index + 1 (0: empty).
#pragma once

#include "lib/types.hpp"

namespace hv::reglist {

template <usize Bits>
class IdIndex {
public:
    static constexpr usize kSlots = usize{1} << Bits;

    // `table[i].id` for i < n, all distinct; n must leave the index at most half full.
    template <typename Table>
    constexpr IdIndex(const Table& table, usize n) {
        for (usize i = 0; i < n; ++i) {
            usize s = slot_of(table[i].id);
            while (slot_[s] != 0) s = (s + 1) & (kSlots - 1);
            slot_[s] = static_cast<u16>(i + 1);
        }
    }
    // Index of `id` in `table` (the one the index was built from), -1 if absent.
    template <typename Table>
    constexpr int find(const Table& table, u64 id) const {
        for (usize s = slot_of(id);; s = (s + 1) & (kSlots - 1)) {
            const u16 v = slot_[s];
            if (v == 0) return -1;
            if (table[v - 1u].id == id) return static_cast<int>(v - 1u);
        }
    }

private:
    static constexpr usize slot_of(u64 id) { return static_cast<usize>((id * 0x9e3779b97f4a7c15ull) >> (64 - Bits)); }
    u16 slot_[kSlots] = {};
};

}  // namespace hv::reglist
