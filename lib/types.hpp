// Fixed-width types and small freestanding utilities shared by every layer.
#pragma once

#include <stddef.h>
#include <stdint.h>

namespace hv {

using u8 = uint8_t;
using u16 = uint16_t;
using u32 = uint32_t;
using u64 = uint64_t;
using i8 = int8_t;
using i16 = int16_t;
using i32 = int32_t;
using i64 = int64_t;
using usize = size_t;
using uptr = uintptr_t;

template <typename T>
constexpr T min(T a, T b) {
    return a < b ? a : b;
}
template <typename T>
constexpr T max(T a, T b) {
    return a > b ? a : b;
}

constexpr u64 KiB = 1024;
constexpr u64 MiB = 1024 * KiB;
constexpr u64 GiB = 1024 * MiB;

constexpr bool is_aligned(u64 v, u64 align) { return (v & (align - 1)) == 0; }
constexpr u64 align_down(u64 v, u64 align) { return v & ~(align - 1); }
constexpr u64 align_up(u64 v, u64 align) { return (v + align - 1) & ~(align - 1); }
constexpr bool is_pow2(u64 v) { return v != 0 && (v & (v - 1)) == 0; }

// True if [base, base+size) lies inside [lo, lo+len) without wrap-around.
constexpr bool range_within(u64 base, u64 size, u64 lo, u64 len) {
    if (base + size < base || lo + len < lo) return false;
    return base >= lo && base + size <= lo + len;
}

template <typename T, usize N>
constexpr usize array_size(const T (&)[N]) {
    return N;
}

// `p` unchanged, with how it was computed hidden from the optimizer: a pointer derived from an index (&array[i] of a
// large element) is then computed once and its members addressed from it, instead of being rematerialised from the
// index at every use (GCC does, under register pressure). For hot paths only (vgic.cpp sgi_write).
template <typename T>
[[gnu::always_inline]] inline T* opaque(T* p) {
    asm("" : "+r"(p));
    return p;
}

}  // namespace hv
