// Flattened device tree (DTB) on-disk format constants. Devicetree Specification v0.4, chapter 5.
// All multi-byte values in a DTB are big-endian.
#pragma once

#include "lib/types.hpp"

namespace hv::fdt {

constexpr u32 kMagic = 0xd00dfeed;
constexpr u32 kVersion = 17;            // what Writer emits
constexpr u32 kLastCompatVersion = 16;  // what Writer declares, and the oldest Reader accepts
constexpr usize kHeaderSize = 40;       // version 17 header: ten u32 fields
constexpr usize kRsvEntrySize = 16;     // {u64 address, u64 size}
constexpr usize kMaxDepth = 32;         // deeper trees are rejected (bounds every walk)
constexpr usize kMaxNameLen = 255;      // node names and property names (DT spec 2.2.1: 1-31 chars, be lenient)

// Structure block tokens (DT spec 5.4.1).
enum class Token : u32 {
    begin_node = 1,
    end_node = 2,
    prop = 3,
    nop = 4,
    end = 9,
};

// Header field byte offsets (DT spec 5.2).
enum class HeaderField : u32 {
    magic = 0,
    totalsize = 4,
    off_dt_struct = 8,
    off_dt_strings = 12,
    off_mem_rsvmap = 16,
    version = 20,
    last_comp_version = 24,
    boot_cpuid_phys = 28,
    size_dt_strings = 32,
    size_dt_struct = 36,
};

constexpr u32 load_be32(const u8* p) { return (u32{p[0]} << 24) | (u32{p[1]} << 16) | (u32{p[2]} << 8) | u32{p[3]}; }
constexpr u64 load_be64(const u8* p) { return (u64{load_be32(p)} << 32) | load_be32(p + 4); }
constexpr void store_be32(u8* p, u32 v) {
    p[0] = static_cast<u8>(v >> 24);
    p[1] = static_cast<u8>(v >> 16);
    p[2] = static_cast<u8>(v >> 8);
    p[3] = static_cast<u8>(v);
}
constexpr void store_be64(u8* p, u64 v) {
    store_be32(p, static_cast<u32>(v >> 32));
    store_be32(p + 4, static_cast<u32>(v));
}

}  // namespace hv::fdt
