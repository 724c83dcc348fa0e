#include "tests/guest/runtime/fdt.hpp"

#include "lib/string.hpp"

namespace rt {
namespace {

constexpr u32 kBeginNode = 1;
constexpr u32 kEndNode = 2;
constexpr u32 kProp = 3;
constexpr u32 kNop = 4;
constexpr u32 kEnd = 9;
// Bound on any walk: a corrupt tree must not loop forever.
constexpr u32 kMaxSteps = 1u << 20;

u32 load_be32(u64 addr) {
    u32 v = *reinterpret_cast<const volatile u32*>(addr);
    return __builtin_bswap32(v);
}

usize bounded_strlen(const char* s, usize max) {
    usize n = 0;
    while (n < max && s[n]) ++n;
    return n;
}

}  // namespace

u32 Fdt::Prop::cell(u32 i) const {
    if ((i + 1) * 4 > len) return 0;
    return load_be32(addr + i * 4);
}

u64 Fdt::Prop::cells(u32 first, u32 count) const {
    u64 v = 0;
    for (u32 i = 0; i < count && i < 2; ++i) v = (v << 32) | cell(first + i);
    return v;
}

u32 Fdt::be32(u64 off) const { return off + 4 <= total_ ? load_be32(base_ + off) : 0; }

bool Fdt::init(u64 blob) {
    base_ = 0;
    if (blob == 0 || (blob & 7) != 0) return false;
    if (load_be32(blob) != kMagic) return false;
    u32 total = load_be32(blob + 4);
    u32 off_struct = load_be32(blob + 8);
    u32 off_strings = load_be32(blob + 12);
    u32 version = load_be32(blob + 20);
    u32 size_strings = load_be32(blob + 32);
    u32 size_struct = load_be32(blob + 36);
    if (version < 17 || total < 40 || total > (64u << 20)) return false;
    if (off_struct > total || size_struct > total - off_struct || (off_struct & 3)) return false;
    if (off_strings > total || size_strings > total - off_strings) return false;
    base_ = blob;
    total_ = total;
    struct_off_ = off_struct;
    struct_size_ = size_struct;
    strings_off_ = off_strings;
    strings_size_ = size_strings;
    return true;
}

int Fdt::skip_token(int off, u32& token) const {
    if (off < 0 || static_cast<u32>(off) + 4 > struct_size_) return -1;
    token = be32(struct_off_ + off);
    u32 next = static_cast<u32>(off) + 4;
    switch (token) {
        case kBeginNode: {
            const char* s = reinterpret_cast<const char*>(base_ + struct_off_ + next);
            usize n = bounded_strlen(s, struct_size_ - next);
            next = static_cast<u32>(align_up(next + n + 1, 4));
            break;
        }
        case kProp: {
            u32 len = be32(struct_off_ + next);
            next = static_cast<u32>(align_up(u64{next} + 8 + len, 4));
            break;
        }
        case kEndNode:
        case kNop:
        case kEnd: break;
        default: return -1;
    }
    return next <= struct_size_ ? static_cast<int>(next) : -1;
}

int Fdt::end_of_node(int node) const {
    u32 tok = 0;
    int depth = 0;
    int off = node;
    for (u32 steps = 0; steps < kMaxSteps && off >= 0; ++steps) {
        int next = skip_token(off, tok);
        if (next < 0 || tok == kEnd) return -1;
        if (tok == kBeginNode) ++depth;
        if (tok == kEndNode && --depth == 0) return next;
        off = next;
    }
    return -1;
}

int Fdt::first_child(int node) const {
    if (!valid() || node < 0) return -1;
    u32 tok = 0;
    int off = skip_token(node, tok);  // past BEGIN_NODE
    if (tok != kBeginNode) return -1;
    for (u32 steps = 0; steps < kMaxSteps && off >= 0; ++steps) {
        int next = skip_token(off, tok);
        if (next < 0) return -1;
        if (tok == kBeginNode) return off;
        if (tok == kEndNode || tok == kEnd) return -1;
        off = next;
    }
    return -1;
}

int Fdt::next_sibling(int node) const {
    if (!valid() || node < 0) return -1;
    int off = end_of_node(node);
    u32 tok = 0;
    for (u32 steps = 0; steps < kMaxSteps && off >= 0; ++steps) {
        int next = skip_token(off, tok);
        if (next < 0) return -1;
        if (tok == kBeginNode) return off;
        if (tok == kEndNode || tok == kEnd) return -1;
        off = next;
    }
    return -1;
}

const char* Fdt::name(int node) const {
    if (!valid() || node < 0) return "";
    return reinterpret_cast<const char*>(base_ + struct_off_ + node + 4);
}

int Fdt::path(const char* p) const {
    if (!valid() || !p || *p != '/') return -1;
    int node = root();
    while (*p == '/') ++p;
    while (*p && node >= 0) {
        usize len = 0;
        while (p[len] && p[len] != '/') ++len;
        bool want_unit = false;
        for (usize i = 0; i < len; ++i) want_unit |= p[i] == '@';
        int child = first_child(node);
        for (; child >= 0; child = next_sibling(child)) {
            const char* n = name(child);
            if (strncmp(n, p, len) == 0 && (n[len] == '\0' || (!want_unit && n[len] == '@'))) break;
        }
        node = child;
        p += len;
        while (*p == '/') ++p;
    }
    return node;
}

bool Fdt::prop(int node, const char* pname, Prop& out) const {
    if (!valid() || node < 0) return false;
    u32 tok = 0;
    int off = skip_token(node, tok);
    if (tok != kBeginNode) return false;
    for (u32 steps = 0; steps < kMaxSteps && off >= 0; ++steps) {
        int next = skip_token(off, tok);
        if (next < 0 || tok != kProp) {
            if (tok == kNop && next >= 0) {
                off = next;
                continue;
            }
            return false;  // properties come before subnodes (DTSpec 5.4.1)
        }
        u32 len = be32(struct_off_ + off + 4);
        u32 nameoff = be32(struct_off_ + off + 8);
        if (nameoff < strings_size_) {
            const char* n = reinterpret_cast<const char*>(base_ + strings_off_ + nameoff);
            usize max = strings_size_ - nameoff;
            usize nlen = bounded_strlen(n, max);
            if (nlen < max && strcmp(n, pname) == 0) {
                out.addr = base_ + struct_off_ + off + 12;
                out.len = len;
                return true;
            }
        }
        off = next;
    }
    return false;
}

bool Fdt::has_prop(int node, const char* pname) const {
    Prop p;
    return prop(node, pname, p);
}

const char* Fdt::prop_str(int node, const char* pname) const {
    Prop p;
    if (!prop(node, pname, p) || p.len == 0) return nullptr;
    if (p.str()[p.len - 1] != '\0') return nullptr;
    return p.str();
}

u32 Fdt::prop_u32(int node, const char* pname, u32 fallback) const {
    Prop p;
    if (!prop(node, pname, p) || p.len < 4) return fallback;
    return p.cell(0);
}

bool Fdt::is_compatible(int node, const char* compat) const {
    Prop p;
    if (!prop(node, "compatible", p)) return false;
    usize clen = strlen(compat);
    u32 i = 0;
    while (i < p.len) {
        const char* s = p.str() + i;
        usize n = bounded_strlen(s, p.len - i);
        if (n == clen && strncmp(s, compat, n) == 0) return true;
        i += static_cast<u32>(n) + 1;
    }
    return false;
}

int Fdt::find_compatible(const char* compat, int after) const {
    if (!valid()) return -1;
    int off = after < 0 ? 0 : after;
    u32 tok = 0;
    if (after >= 0) off = skip_token(off, tok);  // start after that node's BEGIN_NODE
    for (u32 steps = 0; steps < kMaxSteps && off >= 0; ++steps) {
        int next = skip_token(off, tok);
        if (next < 0 || tok == kEnd) return -1;
        if (tok == kBeginNode && off != after && is_compatible(off, compat)) return off;
        off = next;
    }
    return -1;
}

bool Fdt::reg(int parent, int node, u32 index, u64& rbase, u64& rsize) const {
    Prop p;
    if (!prop(node, "reg", p)) return false;
    u32 ac = address_cells(parent);
    u32 sc = size_cells(parent);
    if (ac == 0 || ac > 2 || sc > 2) return false;
    u32 per = ac + sc;
    if ((index + 1) * per * 4 > p.len) return false;
    rbase = p.cells(index * per, ac);
    rsize = sc ? p.cells(index * per + ac, sc) : 0;
    return true;
}

}  // namespace rt
