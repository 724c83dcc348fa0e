// Builds a flattened device tree (version 17) sequentially into a caller-supplied buffer. No heap: property
// names are collected (deduplicated) in a fixed table inside the Writer and appended at finish(). Every call
// returns a Status; once a call fails the writer stays failed (sticky error) and finish() reports it.
//
//   Writer w(buf, sizeof buf);
//   w.add_reservation(addr, size);           // optional, before the first begin_node
//   w.begin_node("");                        // root
//   w.prop_u32("#address-cells", 2);
//   w.begin_node("memory@40000000"); ... w.end_node();
//   w.end_node();
//   Result<usize> n = w.finish();            // total size of the DTB in buf
#pragma once

#include "core/fdt/format.hpp"
#include "core/fdt/reader.hpp"
#include "lib/span.hpp"
#include "lib/status.hpp"

namespace hv::fdt {

class Writer {
public:
    static constexpr usize kMaxReservations = 8;
    static constexpr usize kStringsCapacity = 2048;

    Writer(u8* buf, usize cap);
    Writer(const Writer&) = delete;
    Writer& operator=(const Writer&) = delete;

    // Memory reservation entry; only before the first begin_node (bad_order otherwise).
    [[nodiscard]] Status add_reservation(u64 address, u64 size);
    void set_boot_cpuid(u32 id) { boot_cpuid_ = id; }

    [[nodiscard]] Status begin_node(const char* name);
    [[nodiscard]] Status end_node();

    [[nodiscard]] Status prop(const char* name, const void* data, usize len);
    [[nodiscard]] Status prop(const char* name, Span<const u8> value) { return prop(name, value.data(), value.size()); }
    [[nodiscard]] Status prop_empty(const char* name) { return prop(name, nullptr, 0); }
    [[nodiscard]] Status prop_u32(const char* name, u32 v);
    [[nodiscard]] Status prop_u64(const char* name, u64 v);  // two cells, high first
    [[nodiscard]] Status prop_cells(const char* name, const u32* cells, usize count);
    [[nodiscard]] Status prop_string(const char* name, const char* s);
    // NUL-separated string list ("compatible" with several entries).
    [[nodiscard]] Status prop_strings(const char* name, const char* const* strs, usize count);
    // A "reg"-style list of (address, size) pairs encoded with the given cell counts (each 1 or 2; size may be 0).
    struct AddrSize {
        u64 address;
        u64 size;
    };
    [[nodiscard]] Status prop_reg(const char* name, u32 address_cells, u32 size_cells, const AddrSize* entries,
                                  usize count);

    // Open nodes (0 before the root, 1 inside the root).
    usize depth() const { return depth_; }
    Status status() const { return error_; }
    // Closes the tree (all nodes must be ended), appends the strings block, writes the header.
    // Returns the total DTB size. The writer cannot be used afterwards.
    [[nodiscard]] Result<usize> finish();

private:
    Status fail(Status s);
    Status put_u32(u32 v);
    Status put_bytes(const void* data, usize len);
    Status pad4();
    Result<u32> string_offset(const char* name);
    // A PROP record's token, length and name offset, once the whole record (value padded to 4) is known to fit.
    [[nodiscard]] Status prop_header(const char* name, usize len);

    u8* buf_;
    usize cap_;
    usize pos_ = 0;           // write cursor in buf_ (structure block grows here)
    usize struct_start_ = 0;  // offset of the structure block in buf_
    usize depth_ = 0;
    bool root_done_ = false;
    bool finished_ = false;
    Status error_ = Status::ok;
    u32 boot_cpuid_ = 0;
    usize rsv_count_ = 0;
    AddrSize rsv_[kMaxReservations] = {};
    usize strings_len_ = 0;
    char strings_[kStringsCapacity] = {};
};

// Copying host nodes into a new tree. The filter sees every property before it is copied and decides.
enum class CopyAction : u8 {
    keep,     // copy the property unchanged
    drop,     // leave it out
    handled,  // the filter already emitted a replacement through the Writer
};
struct CopyFilter {
    // Called for each property of each copied node (node = host handle). May be null: keep everything.
    CopyAction (*property)(void* ctx, const Reader& r, i32 node, const Property& p, Writer& w) = nullptr;
    // Called for each child node; return false to skip that child's subtree. May be null: copy all children.
    bool (*child)(void* ctx, const Reader& r, i32 child) = nullptr;
    void* ctx = nullptr;
};
// Re-emits host node `node` (its name, properties and whole subtree) into w at w's current position.
// `rename`, if non-null, replaces the node's own name. Bounded by kMaxDepth.
[[nodiscard]] Status copy_node(const Reader& r, i32 node, Writer& w, const CopyFilter* filter = nullptr,
                               const char* rename = nullptr);

}  // namespace hv::fdt
