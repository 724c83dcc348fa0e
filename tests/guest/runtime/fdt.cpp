#include "tests/guest/runtime/fdt.hpp"

#include "lib/string.hpp"

namespace rt {
namespace {

// Upper bound handed to the reader: the real size is the header's totalsize, checked against this.
constexpr usize kMaxDtbSize = 2u << 20;

fdt::Reader g_dt;
u64 g_dtb = 0;

}  // namespace

bool dt_open(u64 addr) {
    if (addr == 0 || (addr & 7) != 0) return false;  // DTSpec 5.2: the blob is 8-byte aligned
    Result<fdt::Reader> r = fdt::Reader::open(reinterpret_cast<const void*>(addr), kMaxDtbSize);
    if (!r.ok()) return false;
    g_dt = r.value();
    g_dtb = addr;
    return true;
}

const fdt::Reader& dt() { return g_dt; }
u64 dtb_address() { return g_dtb; }

u32 dt_memory_ranges(MemRange* out, u32 cap) {
    const fdt::Reader& f = g_dt;
    u32 n = 0;
    for (i32 node = f.first_child(f.root()); node >= 0 && n < cap; node = f.next_sibling(node)) {
        const char* type = f.prop_string(node, "device_type");
        if (!type || strcmp(type, "memory") != 0) continue;
        MemRange r;
        for (usize i = 0; n < cap && f.read_reg(node, i, r.base, r.size) == Status::ok; ++i) out[n++] = r;
    }
    return n;
}

u64 dt_ram_end() {
    constexpr u32 kMaxRanges = 16;
    MemRange ranges[kMaxRanges];
    u32 n = dt_memory_ranges(ranges, kMaxRanges);
    u64 end = 0;
    for (u32 i = 0; i < n; ++i) end = max(end, ranges[i].base + ranges[i].size);
    return end;
}

bool dt_compatible_reg(const char* compat, u32 index, u64& base, u64& size) {
    i32 node = g_dt.find_compatible(compat);
    return node >= 0 && g_dt.read_reg(node, index, base, size) == Status::ok;
}

}  // namespace rt
