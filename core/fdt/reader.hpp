// Read-only, bounds-checked view of a flattened device tree. The blob is untrusted (the host DTB comes from
// whoever loaded us; test blobs are fuzzed): open() validates the header and walks the whole structure block once
// (tokens, nesting, names, property string offsets), so later accessors can only see a well-formed tree. Every
// accessor still bounds-checks, never reads outside [blob, blob + total_size) and never loops without progress.
//
// Node handles are i32 offsets of a node's BEGIN_NODE token inside the structure block; kNoNode (< 0) means
// "none / not found". Property handles likewise point at PROP tokens.
#pragma once

#include "core/fdt/format.hpp"
#include "lib/span.hpp"
#include "lib/status.hpp"

namespace hv::fdt {

constexpr i32 kNoNode = -1;
constexpr i32 kNoProp = -1;

// A property as stored: name (NUL-terminated, in the strings block) and raw big-endian value bytes.
struct Property {
    const char* name = nullptr;
    Span<const u8> value;
};

// Iterates the NUL-separated strings of a string-list property ("compatible", "clock-names").
// A trailing fragment without NUL is ignored rather than read past.
class StringList {
public:
    constexpr StringList() = default;
    explicit StringList(Span<const u8> value) : data_(value) {}
    // Next string, or nullptr when exhausted.
    const char* next();
    // Number of complete strings.
    usize count() const;
    // True if one of the strings equals s.
    bool contains(const char* s) const;

private:
    Span<const u8> data_;
    usize pos_ = 0;
};

class Reader {
public:
    constexpr Reader() = default;

    // Validates the header (magic, version >= 16, blocks inside totalsize <= max_size, alignment) and the structure
    // block. Status::corrupt for any malformed blob, Status::unsupported for a version it cannot read.
    static Result<Reader> open(const void* blob, usize max_size);
    // open() into this Reader, in place (a Reader holds its node index, 4 KiB: the boot stack gets no copies of
    // it). On failure the Reader is not valid().
    [[nodiscard]] Status init(const void* blob, usize max_size);

    bool valid() const { return blob_ != nullptr; }
    const u8* blob() const { return blob_; }
    usize total_size() const { return total_size_; }
    u32 version() const { return version_; }
    u32 boot_cpuid_phys() const { return boot_cpuid_; }

    // --- memory reservation block ---
    usize reservation_count() const { return rsv_count_; }
    [[nodiscard]] Status reservation(usize index, u64& address, u64& size) const;

    // --- navigation ---
    i32 root() const { return valid() ? root_ : kNoNode; }
    // Absolute path ("/", "/chosen", "/intc@8000000/its@8080000"). A component without '@' also matches a node
    // whose name has a unit address ("/memory" finds "memory@40000000"). kNoNode if absent.
    i32 find_path(const char* path) const;
    i32 first_child(i32 node) const;
    // O(1) through the node index; a walk over node's subtree without it.
    i32 next_sibling(i32 node) const;
    // kNoNode for the root itself or a bad handle. O(log n) through the node index; a walk from the root without.
    i32 parent(i32 node) const;
    // Depth of node (root = 0), or -1 for a bad handle. O(log n + depth) through the node index.
    i32 depth(i32 node) const;
    // Full node name including unit address ("pl011@9000000"); "" for the root; nullptr for a bad handle.
    const char* name(i32 node) const;
    // Next node after `after` in document order (any depth); root() when after == kNoNode.
    i32 next_node(i32 after) const;
    // Child whose name equals `name` exactly, or whose name before '@' equals it when `name` has no '@'.
    i32 find_child(i32 node, const char* name) const;

    // --- properties ---
    i32 first_prop(i32 node) const;
    i32 next_prop(i32 prop) const;
    Property prop_at(i32 prop) const;
    // Value of property `name`; a Span with data() == nullptr if absent (an empty but present property has a
    // non-null data() and size() == 0: use has_prop for boolean properties such as "interrupt-controller").
    Span<const u8> prop(i32 node, const char* name) const;
    bool has_prop(i32 node, const char* name) const { return prop(node, name).data() != nullptr; }
    // Cell `index` of a u32-array property. not_found if absent, wrong_size if too short.
    Result<u32> prop_u32(i32 node, const char* name, usize index = 0) const;
    // A 64-bit value: 8-byte property (or the u64 at cell index*2); a 4-byte property is zero-extended.
    Result<u64> prop_u64(i32 node, const char* name) const;
    // String property (value ends with NUL; a list yields its first string), nullptr if absent or malformed.
    const char* prop_string(i32 node, const char* name) const;
    StringList prop_strings(i32 node, const char* name) const { return StringList(prop(node, name)); }

    bool has_compatible(i32 node, const char* compat) const;
    // First node after `after` (document order) with `compat` in its compatible list; kNoNode if none. Through
    // the node index: reads only the nodes' "compatible" values.
    i32 find_compatible(const char* compat, i32 after = kNoNode) const;
    // First node (document order) whose "phandle" (or legacy "linux,phandle") equals ph; kNoNode if none or ph
    // is 0/0xffffffff. Scans the node index's phandles (no token reads); a walk over every node without it.
    i32 find_phandle(u32 ph) const;
    u32 phandle(i32 node) const;  // 0 if it has none

    // --- addressing ---
    // #address-cells / #size-cells declared by `node` for its children (defaults 2 / 1, DT spec 2.3.5), raw.
    // read_reg only handles 1..2 address cells and 0..2 size cells.
    u32 address_cells(i32 node) const;
    u32 size_cells(i32 node) const;
    // Number of (address, size) entries in node's "reg", using the parent's cell counts.
    usize reg_count(i32 node) const;
    // Entry `index` of node's "reg". invalid_argument if the parent's cells exceed 2 (cannot fit u64),
    // not_found if absent / index too large.
    [[nodiscard]] Status read_reg(i32 node, usize index, u64& address, u64& size) const;

    // Same with explicit cell counts (for nodes whose parent omits them, e.g. QEMU's /chosen/module@... whose
    // reg follows the root's cells).
    [[nodiscard]] Status read_reg_cells(i32 node, usize index, u32 address_cells, u32 size_cells, u64& address,
                                        u64& size) const;
    // Reads `cells` (1 or 2) big-endian cells at p as a number; 0 cells -> 0.
    static u64 read_cells(const u8* p, u32 cells);

    // --- node index ---
    // open() records every node of a tree of at most kIndexNodes nodes (document order: offset, parent, next
    // sibling, phandle, "compatible"), so parent() / depth() / next_sibling() / find_phandle() / find_compatible()
    // / has_compatible() need no walk: without it a walk
    // over an n-node tree that asks each node's parent is O(n^2) token reads. Fixed size, inside the Reader (no
    // heap); a bigger tree is read without it (same answers, by walks). A handle that is not a node of the index
    // (not a BEGIN_NODE the structure walk reached) is answered by the walks too, so the answers never differ.
    static constexpr usize kIndexNodes = 256;
    bool indexed() const { return index_count_ != 0; }
    // The same reader without its index (tests compare the two).
    Reader unindexed() const {
        Reader r = *this;
        r.index_count_ = 0;
        return r;
    }

private:
    struct IndexEntry {
        i32 node;     // BEGIN_NODE offset
        u16 parent;   // index of the parent, kNoIndex for the root
        u16 sibling;  // index of the next sibling, kNoIndex for the last child
        u32 phandle;  // phandle(node)
        i32 compat;   // its first "compatible" PROP, or kNoProp
    };
    static constexpr u16 kNoIndex = 0xffff;
    static_assert(kIndexNodes < kNoIndex);
    // Fills the index from a structure block that walk_structure accepted; leaves it empty (index_count_ 0) for
    // more than kIndexNodes nodes.
    void build_index();
    // Index of node, or -1 if it is not one of the index's nodes (or there is no index).
    i32 index_of(i32 node) const;
    i32 parent_walk(i32 node) const;
    // prop_at(prop).value for a PROP of the index's nodes (their names were checked by open()): bounds-checked,
    // without the name's.
    Span<const u8> value_at(i32 prop) const;
    // Index entry i has `compat` in its compatible list.
    bool index_compatible(usize i, const char* compat) const;
    // First PROP of node named `name`, or kNoProp.
    bool prop_name_is(i32 prop, const char* name) const;
    i32 find_prop(i32 node, const char* name) const;

    const u8* struct_at(i32 off) const { return struct_ + off; }
    bool node_ok(i32 node) const;
    // Offset just past the BEGIN_NODE token + name of `node`, or -1.
    i32 node_body(i32 node) const;
    // From an offset at a token inside a node body, skip to the offset after the node's END_NODE.
    i32 skip_subtree(i32 node) const;
    // Next token offset starting at off, skipping NOPs; fills tok. -1 on error.
    i32 next_token(i32 off, Token& tok, i32& next_off) const;
    // The node whose BEGIN_NODE is the first token at or after `off` other than properties (and NOPs); kNoNode if
    // an END_NODE/END comes first or `off` < 0.
    i32 node_from(i32 off) const;

    const u8* blob_ = nullptr;
    const u8* struct_ = nullptr;
    const char* strings_ = nullptr;
    usize total_size_ = 0;
    u32 struct_size_ = 0;
    u32 strings_size_ = 0;
    u32 version_ = 0;
    u32 boot_cpuid_ = 0;
    u32 rsv_off_ = 0;
    usize rsv_count_ = 0;
    i32 root_ = kNoNode;
    usize index_count_ = 0;
    IndexEntry index_[kIndexNodes] = {};
};

}  // namespace hv::fdt
