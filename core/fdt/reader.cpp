// Flattened device tree reader. Devicetree Specification v0.4 chapter 5 (header 5.2, reservation block 5.3,
// structure block 5.4, strings block 5.5).
#include "core/fdt/reader.hpp"

#include "lib/log.hpp"
#include "lib/string.hpp"

namespace hv::fdt {

namespace {

constexpr u32 kMaxStructSize = 0x7fff0000;  // node handles are i32

u32 header(const u8* blob, HeaderField f) { return load_be32(blob + static_cast<u32>(f)); }

// Length of a NUL-terminated string starting at p with at most `avail` bytes readable; -1 if no NUL inside.
i64 bounded_strlen(const u8* p, usize avail) {
    for (usize i = 0; i < avail; ++i)
        if (p[i] == 0) return static_cast<i64>(i);
    return -1;
}

bool name_matches(const char* node_name, const char* want, usize want_len) {
    // Exact match, or `want` has no unit address and equals the part of node_name before '@'.
    if (strncmp(node_name, want, want_len) != 0) return false;
    char c = node_name[want_len];
    if (c == 0) return true;
    if (c != '@') return false;
    for (usize i = 0; i < want_len; ++i)
        if (want[i] == '@') return false;
    return true;
}

}  // namespace

// ---------------------------------------------------------------- StringList

const char* StringList::next() {
    if (data_.data() == nullptr || pos_ >= data_.size()) return nullptr;
    const u8* p = data_.data() + pos_;
    i64 len = bounded_strlen(p, data_.size() - pos_);
    if (len < 0) {
        pos_ = data_.size();
        return nullptr;
    }
    pos_ += static_cast<usize>(len) + 1;
    return reinterpret_cast<const char*>(p);
}

usize StringList::count() const {
    StringList copy(data_);
    usize n = 0;
    while (copy.next() != nullptr) ++n;
    return n;
}

bool StringList::contains(const char* s) const {
    // One pass: each complete string compared in place (a trailing fragment without NUL matches nothing).
    const u8* d = data_.data();
    const usize n = data_.size();
    if (d == nullptr || s == nullptr) return false;
    for (usize i = 0; i < n;) {
        usize j = 0;
        while (i + j < n && s[j] != 0 && d[i + j] == static_cast<u8>(s[j])) ++j;
        if (i + j < n && s[j] == 0 && d[i + j] == 0) return true;
        while (i + j < n && d[i + j] != 0) ++j;  // to this string's NUL
        i += j + 1;
    }
    return false;
}

// ---------------------------------------------------------------- open / validation

namespace {

// Where the blocks are, from a header that passed check_header.
struct Layout {
    u64 total = 0;
    u32 version = 0;
    u64 off_struct = 0, size_struct = 0;
    u64 off_strings = 0, size_strings = 0;
    u64 off_rsv = 0;
};

// DT spec 5.2: the header and the block offsets/sizes inside the blob.
Status check_header(const u8* blob, usize max_size, Layout& l) {
    if (blob == nullptr || max_size < kHeaderSize) return Status::corrupt;
    if (header(blob, HeaderField::magic) != kMagic) return Status::corrupt;

    l.total = header(blob, HeaderField::totalsize);
    l.version = header(blob, HeaderField::version);
    const u32 last_comp = header(blob, HeaderField::last_comp_version);
    if (l.total < kHeaderSize || l.total > max_size) return Status::corrupt;
    // DT spec 5.2: version 17 is current, compatible back to 16. Anything whose oldest compatible version is
    // newer than 17 has a layout we do not know.
    if (l.version < 16 || last_comp > kVersion) return Status::unsupported;

    l.off_struct = header(blob, HeaderField::off_dt_struct);
    l.off_strings = header(blob, HeaderField::off_dt_strings);
    l.off_rsv = header(blob, HeaderField::off_mem_rsvmap);
    l.size_strings = header(blob, HeaderField::size_dt_strings);
    // Version 16 has no size_dt_struct: the structure block may extend to the end of the blob.
    l.size_struct = l.version >= 17 ? header(blob, HeaderField::size_dt_struct) : l.total - min(l.off_struct, l.total);
    if (l.version < 17) l.size_struct = align_down(l.size_struct, 4);

    const u64 hdr_size = l.version >= 17 ? kHeaderSize : 36;
    if (!is_aligned(l.off_struct, 4) || !is_aligned(l.size_struct, 4) || !is_aligned(l.off_rsv, 8))
        return Status::corrupt;
    if (l.off_struct < hdr_size || l.off_rsv < hdr_size || l.off_strings < hdr_size) return Status::corrupt;
    if (!range_within(l.off_struct, l.size_struct, 0, l.total) ||
        !range_within(l.off_strings, l.size_strings, 0, l.total))
        return Status::corrupt;
    if (l.size_struct < 8 || l.size_struct > kMaxStructSize || l.size_strings > kMaxStructSize) return Status::corrupt;
    return Status::ok;
}

// Reservation block: (address, size) pairs up to a (0, 0) terminator that must lie inside the blob.
Status count_reservations(const u8* blob, const Layout& l, usize& count) {
    for (u64 off = l.off_rsv;; off += kRsvEntrySize) {
        if (!range_within(off, kRsvEntrySize, 0, l.total)) return Status::corrupt;
        if (load_be64(blob + off) == 0 && load_be64(blob + off + 8) == 0) return Status::ok;
        ++count;
    }
}

// A PROP token's payload (len, nameoff, value) with `rest` bytes after the token: the value inside the block, the
// name inside the strings block and terminated. `adv` = the bytes to the next token.
Status check_prop(const u8* payload, u64 rest, const char* strings, u32 strings_size, u64& adv) {
    if (rest < 8) return Status::corrupt;
    const u64 len = load_be32(payload);
    const u64 nameoff = load_be32(payload + 4);
    if (len > rest - 8) return Status::corrupt;
    if (nameoff >= strings_size) return Status::corrupt;
    if (bounded_strlen(reinterpret_cast<const u8*>(strings) + nameoff,
                       min<usize>(strings_size - nameoff, kMaxNameLen + 1)) < 0)
        return Status::corrupt;
    adv = 12 + align_up(len, 4);
    if (adv > rest + 4) return Status::corrupt;
    return Status::ok;
}

// One complete walk of the structure block. Every step advances `off` by at least 4, so it ends within
// size_struct / 4 steps. After the root's END_NODE only NOPs and END may follow (a second BEGIN_NODE at depth 0
// and a PROP at depth 0 are rejected). `root` = the root node's offset.
Status walk_structure(const u8* st, u32 size, const char* strings, u32 strings_size, i32& root) {
    i32 off = 0;
    usize depth = 0;
    bool root_seen = false;
    for (;;) {
        if (!range_within(static_cast<u64>(off), 4, 0, size)) return Status::corrupt;
        const u32 tok = load_be32(st + off);
        const u64 rest = size - static_cast<u32>(off) - 4;
        const u8* payload = st + off + 4;
        switch (tok) {
            case static_cast<u32>(Token::begin_node): {
                if (root_seen && depth == 0) return Status::corrupt;  // a second root
                i64 len = bounded_strlen(payload, static_cast<usize>(min<u64>(rest, kMaxNameLen + 1)));
                if (len < 0) return Status::corrupt;
                if (!root_seen) root = off;
                root_seen = true;
                if (++depth > kMaxDepth) return Status::corrupt;
                off += static_cast<i32>(4 + align_up(static_cast<u64>(len) + 1, 4));
                break;
            }
            case static_cast<u32>(Token::end_node):
                if (depth == 0) return Status::corrupt;
                --depth;
                off += 4;
                break;
            case static_cast<u32>(Token::prop): {
                if (depth == 0) return Status::corrupt;
                u64 adv = 0;
                HV_TRY(check_prop(payload, rest, strings, strings_size, adv));
                off += static_cast<i32>(adv);
                break;
            }
            case static_cast<u32>(Token::nop):
                off += 4;
                break;
            case static_cast<u32>(Token::end):
                return root_seen && depth == 0 ? Status::ok : Status::corrupt;
            default:
                return Status::corrupt;
        }
    }
}

}  // namespace

Result<Reader> Reader::open(const void* blob, usize max_size) {
    Reader r;
    HV_TRY(r.init(blob, max_size));
    return r;
}

Status Reader::init(const void* blob_ptr, usize max_size) {
    blob_ = nullptr;  // not valid() until every check passed
    index_count_ = 0;
    const u8* blob = static_cast<const u8*>(blob_ptr);
    Layout l;
    HV_TRY(check_header(blob, max_size, l));
    const u8* st = blob + l.off_struct;
    const char* strings = reinterpret_cast<const char*>(blob + l.off_strings);
    usize rsv_count = 0;
    i32 root = kNoNode;
    HV_TRY(count_reservations(blob, l, rsv_count));
    HV_TRY(walk_structure(st, static_cast<u32>(l.size_struct), strings, static_cast<u32>(l.size_strings), root));
    blob_ = blob;
    total_size_ = l.total;
    version_ = l.version;
    boot_cpuid_ = header(blob, HeaderField::boot_cpuid_phys);
    struct_ = st;
    struct_size_ = static_cast<u32>(l.size_struct);
    strings_ = strings;
    strings_size_ = static_cast<u32>(l.size_strings);
    rsv_off_ = static_cast<u32>(l.off_rsv);
    rsv_count_ = rsv_count;
    root_ = root;
    build_index();
    return Status::ok;
}

void Reader::build_index() {
    index_count_ = 0;
    u16 stack[kMaxDepth + 1];       // indices of the open nodes
    u16 last_child[kMaxDepth + 2];  // last child seen so far of the node open at each depth
    last_child[0] = kNoIndex;
    usize depth = 0, count = 0;
    // The properties prop() finds are those before a node's first child (first_prop / next_prop): the node whose
    // leading properties are being read (kNoIndex once a child or END_NODE came), its first "phandle" and
    // "linux,phandle" (phandle() reads the second if the first is absent or shorter than a cell).
    u16 lead = kNoIndex;
    i32 ph = kNoProp, linux_ph = kNoProp;
    const auto cell = [this](i32 prop) -> Result<u32> {
        if (prop == kNoProp) return Status::not_found;
        const Span<const u8> v = value_at(prop);
        if (v.size() < 4) return Status::wrong_size;
        return load_be32(v.data());
    };
    const auto end_lead = [&] {
        if (lead == kNoIndex) return;
        Result<u32> v = cell(ph);
        if (!v.ok()) v = cell(linux_ph);
        index_[lead].phandle = v.value_or(0);
        lead = kNoIndex;
    };
    // The block passed walk_structure: one pass in document order (strictly advancing, ends at END).
    for (i32 off = root_; off >= 0;) {
        Token tok;
        i32 next = -1;
        const i32 at = next_token(off, tok, next);
        if (at < 0) return;
        switch (tok) {
            case Token::begin_node: {
                if (count == kIndexNodes || depth > kMaxDepth) return;  // too big: no index
                end_lead();
                const u16 i = static_cast<u16>(count++);
                index_[i] = IndexEntry{at, depth > 0 ? stack[depth - 1] : kNoIndex, kNoIndex, 0, kNoProp};
                if (last_child[depth] != kNoIndex) index_[last_child[depth]].sibling = i;
                last_child[depth] = i;
                stack[depth++] = i;
                last_child[depth] = kNoIndex;
                lead = i;
                ph = linux_ph = kNoProp;
                break;
            }
            case Token::end_node:
                if (depth == 0) return;
                end_lead();
                --depth;
                break;
            case Token::prop:
                if (lead == kNoIndex) break;
                if (index_[lead].compat == kNoProp && prop_name_is(at, "compatible")) index_[lead].compat = at;
                if (ph == kNoProp && prop_name_is(at, "phandle")) ph = at;
                if (linux_ph == kNoProp && prop_name_is(at, "linux,phandle")) linux_ph = at;
                break;
            case Token::nop:
                break;
            case Token::end:
                if (depth != 0 || count == 0) return;
                index_count_ = count;
                return;
        }
        off = next;
    }
}

i32 Reader::index_of(i32 node) const {
    // Entries are in document order: offsets strictly increase.
    usize lo = 0, hi = index_count_;
    while (lo < hi) {
        const usize mid = lo + (hi - lo) / 2;
        if (index_[mid].node == node) return static_cast<i32>(mid);
        if (index_[mid].node < node)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

Status Reader::reservation(usize index, u64& address, u64& size) const {
    if (!valid() || index >= rsv_count_) return Status::not_found;
    const u8* e = blob_ + rsv_off_ + index * kRsvEntrySize;
    address = load_be64(e);
    size = load_be64(e + 8);
    return Status::ok;
}

// ---------------------------------------------------------------- token walking

i32 Reader::next_token(i32 off, Token& tok, i32& next_off) const {
    // Skips NOPs; returns the offset of the token found (tok) and the offset after it (next_off).
    while (true) {
        if (off < 0 || !range_within(static_cast<u64>(off), 4, 0, struct_size_)) return -1;
        const u32 t = load_be32(struct_ + off);
        const u64 rest = struct_size_ - static_cast<u32>(off) - 4;
        const u8* payload = struct_ + off + 4;
        switch (t) {
            case static_cast<u32>(Token::nop):
                off += 4;
                continue;
            case static_cast<u32>(Token::begin_node): {
                i64 len = bounded_strlen(payload, static_cast<usize>(min<u64>(rest, kMaxNameLen + 1)));
                if (len < 0) return -1;
                tok = Token::begin_node;
                next_off = off + static_cast<i32>(4 + align_up(static_cast<u64>(len) + 1, 4));
                return off;
            }
            case static_cast<u32>(Token::prop): {
                if (rest < 8) return -1;
                const u64 len = load_be32(payload);
                if (len > rest - 8) return -1;
                tok = Token::prop;
                next_off = off + static_cast<i32>(12 + align_up(len, 4));
                return off;
            }
            case static_cast<u32>(Token::end_node):
                tok = Token::end_node;
                next_off = off + 4;
                return off;
            case static_cast<u32>(Token::end):
                tok = Token::end;
                next_off = off + 4;
                return off;
            default:
                return -1;
        }
    }
}

bool Reader::node_ok(i32 node) const {
    if (!valid() || node < 0 || !is_aligned(static_cast<u64>(node), 4)) return false;
    if (!range_within(static_cast<u64>(node), 4, 0, struct_size_)) return false;
    return load_be32(struct_ + node) == static_cast<u32>(Token::begin_node);
}

i32 Reader::node_body(i32 node) const {
    if (!node_ok(node)) return -1;
    Token tok;
    i32 next = -1;
    if (next_token(node, tok, next) != node) return -1;
    return next;
}

i32 Reader::skip_subtree(i32 node) const {
    i32 off = node_body(node);
    usize depth = 1;
    // Each iteration advances `off` strictly, so the loop ends within struct_size_/4 steps.
    while (off >= 0) {
        Token tok;
        i32 next = -1;
        if (next_token(off, tok, next) < 0) return -1;
        switch (tok) {
            case Token::begin_node:
                if (++depth > kMaxDepth) return -1;
                break;
            case Token::end_node:
                if (--depth == 0) return next;
                break;
            case Token::prop:
            case Token::nop:
                break;
            case Token::end:
                return -1;
        }
        off = next;
    }
    return -1;
}

// ---------------------------------------------------------------- navigation

const char* Reader::name(i32 node) const {
    if (node_body(node) < 0) return nullptr;
    return reinterpret_cast<const char*>(struct_ + node + 4);
}

i32 Reader::node_from(i32 off) const {
    while (off >= 0) {
        Token tok;
        i32 next = -1;
        i32 at = next_token(off, tok, next);
        if (at < 0) return kNoNode;
        if (tok == Token::begin_node) return at;
        if (tok != Token::prop) return kNoNode;
        off = next;
    }
    return kNoNode;
}

i32 Reader::first_child(i32 node) const { return node_from(node_body(node)); }

// Tolerates (non-conforming) properties after subnodes.
i32 Reader::next_sibling(i32 node) const {
    if (const i32 i = index_of(node); i >= 0) {
        const u16 s = index_[i].sibling;
        return s == kNoIndex ? kNoNode : index_[s].node;
    }
    return node_from(skip_subtree(node));
}

i32 Reader::next_node(i32 after) const {
    if (!valid()) return kNoNode;
    if (after == kNoNode) return root_;
    i32 off = node_body(after);
    while (off >= 0) {
        Token tok;
        i32 next = -1;
        i32 at = next_token(off, tok, next);
        if (at < 0 || tok == Token::end) return kNoNode;
        if (tok == Token::begin_node) return at;
        off = next;
    }
    return kNoNode;
}

i32 Reader::parent(i32 node) const {
    if (const i32 i = index_of(node); i >= 0) {
        const u16 p = index_[i].parent;
        return p == kNoIndex ? kNoNode : index_[p].node;
    }
    return parent_walk(node);
}

i32 Reader::parent_walk(i32 target) const {
    if (!node_ok(target) || target == root_) return kNoNode;
    i32 stack[kMaxDepth + 1];
    usize depth = 0;
    i32 off = root_;
    while (off >= 0) {
        Token tok;
        i32 next = -1;
        i32 at = next_token(off, tok, next);
        if (at < 0) return kNoNode;
        switch (tok) {
            case Token::begin_node:
                if (at == target) return depth > 0 ? stack[depth - 1] : kNoNode;
                if (depth > kMaxDepth) return kNoNode;
                stack[depth++] = at;
                break;
            case Token::end_node:
                if (depth == 0) return kNoNode;
                --depth;
                break;
            case Token::prop:
            case Token::nop:
                break;
            case Token::end:
                return kNoNode;
        }
        off = next;
    }
    return kNoNode;
}

i32 Reader::depth(i32 node) const {
    if (!node_ok(node)) return -1;
    i32 d = 0;
    if (i32 i = index_of(node); i >= 0) {
        // Parent indices are smaller than their children's: the chain ends at the root within count steps.
        for (u16 p = index_[i].parent; p != kNoIndex; p = index_[p].parent) ++d;
        return d;
    }
    for (i32 p = parent(node); p != kNoNode && d <= static_cast<i32>(kMaxDepth); p = parent(p)) ++d;
    return d;
}

i32 Reader::find_child(i32 node, const char* want) const {
    if (want == nullptr) return kNoNode;
    const usize len = strlen(want);
    for (i32 c = first_child(node); c != kNoNode; c = next_sibling(c)) {
        const char* n = name(c);
        if (n != nullptr && name_matches(n, want, len)) return c;
    }
    return kNoNode;
}

i32 Reader::find_path(const char* path) const {
    if (!valid() || path == nullptr || path[0] != '/') return kNoNode;
    i32 node = root_;
    const char* p = path;
    while (*p != 0 && node != kNoNode) {
        while (*p == '/') ++p;
        if (*p == 0) break;
        usize len = 0;
        while (p[len] != 0 && p[len] != '/') ++len;
        if (len > kMaxNameLen) return kNoNode;
        char comp[kMaxNameLen + 1];
        memcpy(comp, p, len);
        comp[len] = 0;
        node = find_child(node, comp);
        p += len;
    }
    return node;
}

// ---------------------------------------------------------------- properties

i32 Reader::first_prop(i32 node) const {
    i32 off = node_body(node);
    if (off < 0) return kNoProp;
    Token tok;
    i32 next = -1;
    i32 at = next_token(off, tok, next);
    return (at >= 0 && tok == Token::prop) ? at : kNoProp;
}

i32 Reader::next_prop(i32 prop) const {
    if (!valid() || prop < 0) return kNoProp;
    Token tok;
    i32 next = -1;
    if (next_token(prop, tok, next) != prop || tok != Token::prop) return kNoProp;
    i32 at = next_token(next, tok, next);
    return (at >= 0 && tok == Token::prop) ? at : kNoProp;
}

Span<const u8> Reader::value_at(i32 prop) const {
    if (!valid() || prop < 0 || !is_aligned(static_cast<u64>(prop), 4)) return {};
    if (!range_within(static_cast<u64>(prop), 12, 0, struct_size_)) return {};
    if (load_be32(struct_ + prop) != static_cast<u32>(Token::prop)) return {};
    const u32 len = load_be32(struct_ + prop + 4);
    if (!range_within(static_cast<u64>(prop) + 12, len, 0, struct_size_)) return {};
    return Span<const u8>(struct_ + prop + 12, len);
}

Property Reader::prop_at(i32 prop) const {
    Property p;
    if (!valid() || prop < 0 || !is_aligned(static_cast<u64>(prop), 4)) return p;
    if (!range_within(static_cast<u64>(prop), 12, 0, struct_size_)) return p;
    if (load_be32(struct_ + prop) != static_cast<u32>(Token::prop)) return p;
    const u32 len = load_be32(struct_ + prop + 4);
    const u32 nameoff = load_be32(struct_ + prop + 8);
    if (!range_within(static_cast<u64>(prop) + 12, len, 0, struct_size_)) return p;
    if (nameoff >= strings_size_) return p;
    if (bounded_strlen(reinterpret_cast<const u8*>(strings_) + nameoff, strings_size_ - nameoff) < 0) return p;
    p.name = strings_ + nameoff;
    // A present, empty property gets a non-null pointer (the position of its would-be value).
    p.value = Span<const u8>(struct_ + prop + 12, len);
    return p;
}

bool Reader::prop_name_is(i32 prop, const char* want) const {
    // `prop` is a PROP token whose 12 bytes next_token found inside the block; the name is compared in place,
    // bounded by the strings block (a name without NUL inside it matches nothing, as prop_at finds no name).
    const u32 nameoff = load_be32(struct_ + prop + 8);
    if (nameoff >= strings_size_) return false;
    const char* n = strings_ + nameoff;
    const usize avail = strings_size_ - nameoff;
    for (usize i = 0; i < avail; ++i) {
        if (n[i] != want[i]) return false;
        if (want[i] == 0) return true;
    }
    return false;
}

i32 Reader::find_prop(i32 node, const char* want) const {
    // The properties first_prop / next_prop visit, without decoding each one (prop_at) to compare its name.
    if (want == nullptr) return kNoProp;
    for (i32 off = node_body(node); off >= 0;) {
        Token tok;
        i32 next = -1;
        const i32 at = next_token(off, tok, next);
        if (at < 0 || tok != Token::prop) return kNoProp;
        if (prop_name_is(at, want)) return at;
        off = next;
    }
    return kNoProp;
}

Span<const u8> Reader::prop(i32 node, const char* want) const {
    const i32 p = find_prop(node, want);
    return p == kNoProp ? Span<const u8>{} : prop_at(p).value;
}

Result<u32> Reader::prop_u32(i32 node, const char* want, usize index) const {
    Span<const u8> v = prop(node, want);
    if (v.data() == nullptr) return Status::not_found;
    if (index >= v.size() / 4) return Status::wrong_size;
    return load_be32(v.data() + index * 4);
}

Result<u64> Reader::prop_u64(i32 node, const char* want) const {
    Span<const u8> v = prop(node, want);
    if (v.data() == nullptr) return Status::not_found;
    if (v.size() == 8) return load_be64(v.data());
    if (v.size() == 4) return u64{load_be32(v.data())};
    return Status::wrong_size;
}

const char* Reader::prop_string(i32 node, const char* want) const {
    Span<const u8> v = prop(node, want);
    // A string property ends with its NUL (DT spec 2.2.4 <string>); for a string list this yields the first one.
    if (v.data() == nullptr || v.size() == 0 || v[v.size() - 1] != 0) return nullptr;
    return reinterpret_cast<const char*>(v.data());
}

bool Reader::index_compatible(usize i, const char* compat) const {
    return index_[i].compat != kNoProp && StringList(value_at(index_[i].compat)).contains(compat);
}

bool Reader::has_compatible(i32 node, const char* compat) const {
    if (compat == nullptr) return false;
    if (const i32 i = index_of(node); i >= 0) return index_compatible(static_cast<usize>(i), compat);
    return prop_strings(node, "compatible").contains(compat);
}

i32 Reader::find_compatible(const char* compat, i32 after) const {
    // Through the index when `after` is none or one of its nodes.
    const i32 from = after == kNoNode ? -1 : index_of(after);
    if (indexed() && (after == kNoNode || from >= 0)) {
        if (compat == nullptr) return kNoNode;
        const usize start = from < 0 ? 0 : static_cast<usize>(from) + 1;
        for (usize i = start; i < index_count_; ++i)
            if (index_compatible(i, compat)) return index_[i].node;
        return kNoNode;
    }
    for (i32 n = next_node(after); n != kNoNode; n = next_node(n))
        if (has_compatible(n, compat)) return n;
    return kNoNode;
}

u32 Reader::phandle(i32 node) const {
    Result<u32> ph = prop_u32(node, "phandle");
    if (!ph.ok()) ph = prop_u32(node, "linux,phandle");
    return ph.value_or(0);
}

i32 Reader::find_phandle(u32 ph) const {
    if (ph == 0 || ph == 0xffffffffu) return kNoNode;
    if (indexed()) {
        for (usize i = 0; i < index_count_; ++i)
            if (index_[i].phandle == ph) return index_[i].node;
        return kNoNode;
    }
    for (i32 n = next_node(kNoNode); n != kNoNode; n = next_node(n))
        if (phandle(n) == ph) return n;
    return kNoNode;
}

// ---------------------------------------------------------------- addressing

u32 Reader::address_cells(i32 node) const { return prop_u32(node, "#address-cells").value_or(2); }
u32 Reader::size_cells(i32 node) const { return prop_u32(node, "#size-cells").value_or(1); }

u64 Reader::read_cells(const u8* p, u32 cells) {
    if (cells == 0) return 0;
    if (cells == 1) return load_be32(p);
    return load_be64(p);
}

usize Reader::reg_count(i32 node) const {
    i32 par = parent(node);
    if (par == kNoNode) return 0;
    const u32 ac = address_cells(par), sc = size_cells(par);
    if (ac == 0 || ac > 2 || sc > 2) return 0;
    Span<const u8> reg = prop(node, "reg");
    return reg.size() / ((ac + sc) * 4);
}

Status Reader::read_reg(i32 node, usize index, u64& address, u64& size) const {
    i32 par = parent(node);
    if (par == kNoNode) return Status::not_found;
    return read_reg_cells(node, index, address_cells(par), size_cells(par), address, size);
}

Status Reader::read_reg_cells(i32 node, usize index, u32 ac, u32 sc, u64& address, u64& size) const {
    if (ac == 0 || ac > 2 || sc > 2) return Status::invalid_argument;
    Span<const u8> reg = prop(node, "reg");
    if (reg.data() == nullptr) return Status::not_found;
    const usize entry = (ac + sc) * 4;
    if (index >= reg.size() / entry) return Status::not_found;
    const u8* e = reg.data() + index * entry;
    address = read_cells(e, ac);
    size = read_cells(e + ac * 4, sc);
    return Status::ok;
}

}  // namespace hv::fdt
