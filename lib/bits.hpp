// Bit-field helpers for architectural register layouts (no C bit-fields).
#pragma once

#include "lib/types.hpp"

namespace hv {

constexpr u64 bit(unsigned n) { return u64{1} << n; }

constexpr u64 mask(unsigned hi, unsigned lo) {
    return (hi - lo + 1 >= 64) ? ~u64{0} : (((u64{1} << (hi - lo + 1)) - 1) << lo);
}

// Field<hi, lo>: a named bit range of a register value.
template <unsigned Hi, unsigned Lo>
struct Field {
    static_assert(Hi >= Lo && Hi < 64, "bad field");
    static constexpr unsigned hi = Hi;
    static constexpr unsigned lo = Lo;
    static constexpr unsigned width = Hi - Lo + 1;
    static constexpr u64 field_mask = mask(Hi, Lo);

    static constexpr u64 get(u64 reg) { return (reg & field_mask) >> Lo; }
    static constexpr u64 set(u64 reg, u64 v) { return (reg & ~field_mask) | ((v << Lo) & field_mask); }
    static constexpr u64 make(u64 v) { return (v << Lo) & field_mask; }
    static constexpr bool fits(u64 v) { return width >= 64 || v < (u64{1} << width); }
};

template <unsigned N>
using Bit = Field<N, N>;

static_assert(Field<7, 4>::get(0xab) == 0xa);
static_assert(Field<7, 4>::set(0xab, 0x3) == 0x3b);
static_assert(Bit<63>::make(1) == 0x8000000000000000ull);
static_assert(mask(63, 0) == ~u64{0});

// Extract / insert a sub-word of `width` bytes at byte `offset` of a 64-bit value (little endian).
constexpr u64 extract_bytes(u64 reg, unsigned offset, unsigned width) {
    u64 v = reg >> (offset * 8);
    return width >= 8 ? v : v & ((u64{1} << (width * 8)) - 1);
}
constexpr u64 deposit_bytes(u64 reg, unsigned offset, unsigned width, u64 val) {
    u64 m = (width >= 8 ? ~u64{0} : ((u64{1} << (width * 8)) - 1)) << (offset * 8);
    return (reg & ~m) | ((val << (offset * 8)) & m);
}
static_assert(extract_bytes(0x1122334455667788ull, 4, 4) == 0x11223344);
static_assert(deposit_bytes(0x1122334455667788ull, 0, 4, 0xaabbccdd) == 0x11223344aabbccddull);

constexpr unsigned popcount(u64 v) { return static_cast<unsigned>(__builtin_popcountll(v)); }
constexpr unsigned ctz(u64 v) { return static_cast<unsigned>(__builtin_ctzll(v)); }
constexpr unsigned clz(u64 v) { return static_cast<unsigned>(__builtin_clzll(v)); }

}  // namespace hv
