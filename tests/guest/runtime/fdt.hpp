// A small read-only flattened-device-tree walker for guest payloads (DTSpec v0.4 ch. 5).
// Every read is bounds-checked against the blob's totalsize and uses aligned 32-bit loads (the MMU is off, so
// memory is Device-nGnRnE and unaligned accesses fault). Node handles are offsets of FDT_BEGIN_NODE tokens in the
// structure block; -1 means "none".
#pragma once

#include "lib/types.hpp"

namespace rt {

using namespace hv;

class Fdt {
public:
    static constexpr u32 kMagic = 0xd00dfeed;

    struct Prop {
        u64 addr = 0;  // address of the value bytes
        u32 len = 0;
        u32 cell(u32 i) const;  // big-endian 32-bit cell i (0 if out of range)
        u64 cells(u32 first, u32 count) const;  // 1 or 2 cells as one number
        const char* str() const { return reinterpret_cast<const char*>(addr); }
    };

    // Validates the header; false if `blob` is not an FDT.
    bool init(u64 blob);
    bool valid() const { return base_ != 0; }
    u64 base() const { return base_; }
    u32 total_size() const { return total_; }

    int root() const { return valid() ? 0 : -1; }
    int first_child(int node) const;
    int next_sibling(int node) const;
    const char* name(int node) const;  // "memory@40000000"; "" for the root
    // "/cpus", "/chosen", "/memory" (a component without '@' matches any unit address).
    int path(const char* p) const;
    bool prop(int node, const char* name, Prop& out) const;
    bool has_prop(int node, const char* name) const;
    const char* prop_str(int node, const char* name) const;  // nullptr if absent or not NUL-terminated
    u32 prop_u32(int node, const char* name, u32 fallback) const;
    // True if the node's compatible string list contains `compat`.
    bool is_compatible(int node, const char* compat) const;
    // First node (depth-first, after `after`) compatible with `compat`, or -1.
    int find_compatible(const char* compat, int after = -1) const;
    // reg entry `index` of `node`, with #address-cells / #size-cells taken from `parent`.
    bool reg(int parent, int node, u32 index, u64& base, u64& size) const;
    u32 address_cells(int node) const { return prop_u32(node, "#address-cells", 2); }
    u32 size_cells(int node) const { return prop_u32(node, "#size-cells", 1); }

private:
    u32 be32(u64 off_in_blob) const;
    // Advances over one token at structure offset `off`; returns the next token offset or -1.
    int skip_token(int off, u32& token) const;
    int end_of_node(int node) const;  // offset just past the node's FDT_END_NODE, or -1

    u64 base_ = 0;
    u32 total_ = 0;
    u32 struct_off_ = 0;
    u32 struct_size_ = 0;
    u32 strings_off_ = 0;
    u32 strings_size_ = 0;
};

}  // namespace rt
