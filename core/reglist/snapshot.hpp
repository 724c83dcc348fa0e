// Snapshot stream skeleton: the register state of a whole VM as one versioned byte stream (guest RAM is not part
// of it yet). Layout, all little endian:
//   Header   { u64 magic "HVSNAPv1"; u32 format_version; u32 header_size; u32 vcpu_count; u32 abi_count;
//              u32 abi[kAbiSlots]; u64 payload_size }  -- abi[0] = kReglistAbi, others supplied by the caller
//              (e.g. the ITS table ABI revision)
//   Section  { u32 tag; u32 vcpu (0xffffffff for the VM section); u32 record_count; u32 reserved = 0 }
//   Record   { u64 id; value: reg_size(id) bytes, zero-padded to a multiple of 8 }
// One VM section (VM-scoped registers, IDs with the scope bit), then one section per vCPU in order, then an end
// section (tag "END!", no records). Reading validates the whole stream first (magic, version, sizes, counts, tags,
// known IDs, vCPU count) and only then applies it, VM section first; a SET error while applying is returned as is.
#pragma once

#include "core/reglist/catalogue.hpp"

namespace hv::reglist {

struct SnapshotInfo {
    static constexpr usize kAbiSlots = 4;
    static constexpr u32 kReglistAbi = 1;  // revision of the register ID/value conventions in docs/reglist.md
    u32 vcpu_count = 0;
    u32 abi[kAbiSlots] = {kReglistAbi, 0, 0, 0};
};

constexpr u64 kSnapshotMagic = 0x3176504e53564855ull;  // "UHVSNPv1" read as little-endian bytes: 55 48 56 53 ...
constexpr u32 kSnapshotFormatVersion = 1;

// Writes the catalogue's state into `out`; `used` = bytes written (or required, with out_of_range if too small).
[[nodiscard]] Status snapshot_save(RegisterCatalogue& cat, const SnapshotInfo& info, Span<u8> out, usize& used);

// Parses and validates `in` against `cat` (corrupt on any structural problem, not_found for an ID the catalogue
// does not know, invalid_argument if the vCPU count differs); fills `info` from the header.
[[nodiscard]] Status snapshot_validate(RegisterCatalogue& cat, Span<const u8> in, SnapshotInfo& info);

// snapshot_validate, then every record through set_one_reg.
[[nodiscard]] Status snapshot_restore(RegisterCatalogue& cat, Span<const u8> in, SnapshotInfo& info);

}  // namespace hv::reglist
