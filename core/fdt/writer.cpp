// Flattened device tree writer (DT spec v0.4 chapter 5). Layout of the finished blob:
//   header (40) | reservation block ((n+1) x 16, 8-aligned) | structure block | strings block
// While building, the structure block is written after room for kMaxReservations entries and moved down by
// finish() once the number of entries is known.
#include "core/fdt/writer.hpp"

#include "lib/string.hpp"

namespace hv::fdt {

namespace {
constexpr usize kRsvArea = (Writer::kMaxReservations + 1) * kRsvEntrySize;
}

Writer::Writer(u8* buf, usize cap) : buf_(buf), cap_(cap) {
    struct_start_ = kHeaderSize + kRsvArea;
    pos_ = struct_start_;
    if (buf_ == nullptr || cap_ < struct_start_ + 8 || cap_ > 0x7fff0000) error_ = Status::no_memory;
}

Status Writer::fail(Status s) {
    if (error_ == Status::ok) error_ = s;
    return error_;
}

Status Writer::put_bytes(const void* data, usize len) {
    if (error_ != Status::ok) return error_;
    if (len > cap_ - pos_) return fail(Status::no_memory);
    if (len != 0) memcpy(buf_ + pos_, data, len);
    pos_ += len;
    return Status::ok;
}

Status Writer::put_u32(u32 v) {
    u8 b[4];
    store_be32(b, v);
    return put_bytes(b, 4);
}

Status Writer::pad4() {
    static constexpr u8 zeros[4] = {};
    const usize pad = align_up(pos_, 4) - pos_;
    return put_bytes(zeros, pad);
}

Status Writer::add_reservation(u64 address, u64 size) {
    if (error_ != Status::ok) return error_;
    if (depth_ != 0 || root_done_ || pos_ != struct_start_) return fail(Status::bad_order);
    if (size == 0) return Status::ok;  // a (x, 0) entry would read as the terminator when x == 0; skip empties
    if (rsv_count_ >= kMaxReservations) return fail(Status::no_memory);
    rsv_[rsv_count_++] = {address, size};
    return Status::ok;
}

Status Writer::begin_node(const char* name) {
    if (error_ != Status::ok) return error_;
    if (finished_ || (depth_ == 0 && root_done_)) return fail(Status::bad_order);
    if (name == nullptr) return fail(Status::invalid_argument);
    const usize len = strlen(name);
    if (len > kMaxNameLen || (depth_ > 0 && len == 0)) return fail(Status::invalid_argument);
    if (depth_ >= kMaxDepth) return fail(Status::out_of_range);
    HV_TRY(put_u32(static_cast<u32>(Token::begin_node)));
    HV_TRY(put_bytes(name, len + 1));
    HV_TRY(pad4());
    ++depth_;
    return Status::ok;
}

Status Writer::end_node() {
    if (error_ != Status::ok) return error_;
    if (depth_ == 0) return fail(Status::bad_order);
    HV_TRY(put_u32(static_cast<u32>(Token::end_node)));
    if (--depth_ == 0) root_done_ = true;
    return Status::ok;
}

Result<u32> Writer::string_offset(const char* name) {
    const usize len = strlen(name);
    if (len == 0 || len > kMaxNameLen) return fail(Status::invalid_argument);
    // Reuse an existing entry (whole-string match).
    for (usize off = 0; off < strings_len_;) {
        const usize l = strlen(strings_ + off);
        if (l == len && memcmp(strings_ + off, name, len) == 0) return static_cast<u32>(off);
        off += l + 1;
    }
    if (len + 1 > kStringsCapacity - strings_len_) return fail(Status::no_memory);
    const u32 off = static_cast<u32>(strings_len_);
    memcpy(strings_ + strings_len_, name, len + 1);
    strings_len_ += len + 1;
    return off;
}

Status Writer::prop_header(const char* name, usize len) {
    if (depth_ == 0) return fail(Status::bad_order);
    if (name == nullptr || len > 0x7fff0000) return fail(Status::invalid_argument);
    Result<u32> nameoff = string_offset(name);
    if (!nameoff.ok()) return nameoff.status();
    // Check the whole record fits before writing any of it.
    if (12 + align_up(len, 4) > cap_ - pos_) return fail(Status::no_memory);
    HV_TRY(put_u32(static_cast<u32>(Token::prop)));
    HV_TRY(put_u32(static_cast<u32>(len)));
    return put_u32(nameoff.value());
}

Status Writer::prop(const char* name, const void* data, usize len) {
    if (error_ != Status::ok) return error_;
    if (depth_ == 0) return fail(Status::bad_order);
    if (data == nullptr && len != 0) return fail(Status::invalid_argument);
    HV_TRY(prop_header(name, len));
    HV_TRY(put_bytes(data, len));
    return pad4();
}

Status Writer::prop_u32(const char* name, u32 v) {
    u8 b[4];
    store_be32(b, v);
    return prop(name, b, sizeof b);
}

Status Writer::prop_u64(const char* name, u64 v) {
    u8 b[8];
    store_be64(b, v);
    return prop(name, b, sizeof b);
}

Status Writer::prop_cells(const char* name, const u32* cells, usize count) {
    if (error_ != Status::ok) return error_;
    if (cells == nullptr && count != 0) return fail(Status::invalid_argument);
    // Encode in bounded chunks directly into the output: reserve the record, then fill the value.
    if (count > 0x1fff0000 / 4) return fail(Status::invalid_argument);
    HV_TRY(prop_header(name, count * 4));
    for (usize i = 0; i < count; ++i) HV_TRY(put_u32(cells[i]));
    return Status::ok;
}

Status Writer::prop_string(const char* name, const char* s) {
    if (s == nullptr) return fail(Status::invalid_argument);
    return prop(name, s, strlen(s) + 1);
}

Status Writer::prop_strings(const char* name, const char* const* strs, usize count) {
    if (error_ != Status::ok) return error_;
    if (strs == nullptr || count == 0) return fail(Status::invalid_argument);
    usize len = 0;
    for (usize i = 0; i < count; ++i) {
        if (strs[i] == nullptr) return fail(Status::invalid_argument);
        len += strlen(strs[i]) + 1;
    }
    HV_TRY(prop_header(name, len));
    for (usize i = 0; i < count; ++i) HV_TRY(put_bytes(strs[i], strlen(strs[i]) + 1));
    return pad4();
}

Status Writer::prop_reg(const char* name, u32 address_cells, u32 size_cells, const AddrSize* entries, usize count) {
    if (error_ != Status::ok) return error_;
    if (address_cells == 0 || address_cells > 2 || size_cells > 2 || (entries == nullptr && count != 0))
        return fail(Status::invalid_argument);
    constexpr usize kMaxEntries = 16;
    if (count > kMaxEntries) return fail(Status::invalid_argument);
    u32 cells[kMaxEntries * 4];
    usize n = 0;
    for (usize i = 0; i < count; ++i) {
        const u64 a = entries[i].address, s = entries[i].size;
        if ((address_cells == 1 && a > 0xffffffffu) || (size_cells == 1 && s > 0xffffffffu))
            return fail(Status::out_of_range);
        if (address_cells == 2) cells[n++] = static_cast<u32>(a >> 32);
        cells[n++] = static_cast<u32>(a);
        if (size_cells == 2) cells[n++] = static_cast<u32>(s >> 32);
        if (size_cells >= 1) cells[n++] = static_cast<u32>(s);
    }
    return prop_cells(name, cells, n);
}

Result<usize> Writer::finish() {
    if (error_ != Status::ok) return error_;
    if (finished_) return fail(Status::bad_order);
    if (!root_done_ || depth_ != 0) return fail(Status::bad_order);
    HV_TRY(put_u32(static_cast<u32>(Token::end)));

    const usize rsv_off = kHeaderSize;
    const usize rsv_size = (rsv_count_ + 1) * kRsvEntrySize;
    const usize struct_off = rsv_off + rsv_size;
    const usize struct_size = pos_ - struct_start_;
    const usize strings_off = struct_off + struct_size;
    const usize total = strings_off + strings_len_;
    if (total > cap_) return fail(Status::no_memory);

    memmove(buf_ + struct_off, buf_ + struct_start_, struct_size);
    memcpy(buf_ + strings_off, strings_, strings_len_);
    for (usize i = 0; i < rsv_count_; ++i) {
        store_be64(buf_ + rsv_off + i * kRsvEntrySize, rsv_[i].address);
        store_be64(buf_ + rsv_off + i * kRsvEntrySize + 8, rsv_[i].size);
    }
    memset(buf_ + rsv_off + rsv_count_ * kRsvEntrySize, 0, kRsvEntrySize);

    auto set = [&](HeaderField f, usize v) { store_be32(buf_ + static_cast<u32>(f), static_cast<u32>(v)); };
    set(HeaderField::magic, kMagic);
    set(HeaderField::totalsize, total);
    set(HeaderField::off_dt_struct, struct_off);
    set(HeaderField::off_dt_strings, strings_off);
    set(HeaderField::off_mem_rsvmap, rsv_off);
    set(HeaderField::version, kVersion);
    set(HeaderField::last_comp_version, kLastCompatVersion);
    set(HeaderField::boot_cpuid_phys, boot_cpuid_);
    set(HeaderField::size_dt_strings, strings_len_);
    set(HeaderField::size_dt_struct, struct_size);
    finished_ = true;
    return total;
}

// ---------------------------------------------------------------- subtree copy

Status copy_node(const Reader& r, i32 node, Writer& w, const CopyFilter* filter, const char* rename) {
    const char* nm = r.name(node);
    if (nm == nullptr) return Status::invalid_argument;
    // Iterative depth-first copy: `stack` holds the host node whose children are being visited.
    i32 stack[kMaxDepth + 1];
    usize depth = 0;
    i32 cur = node;
    const char* cur_name = rename != nullptr ? rename : nm;
    while (true) {
        // Enter `cur`: emit it and its properties.
        HV_TRY(w.begin_node(cur_name));
        for (i32 p = r.first_prop(cur); p != kNoProp; p = r.next_prop(p)) {
            Property pr = r.prop_at(p);
            if (pr.name == nullptr) return Status::corrupt;
            CopyAction act = CopyAction::keep;
            if (filter != nullptr && filter->property != nullptr) act = filter->property(filter->ctx, r, cur, pr, w);
            if (act == CopyAction::keep) HV_TRY(w.prop(pr.name, pr.value));
            HV_TRY(w.status());
        }
        if (depth >= kMaxDepth) return Status::out_of_range;
        stack[depth++] = cur;
        // Find the next node to enter: first accepted child of cur, else an accepted sibling up the stack.
        i32 next = r.first_child(cur);
        while (true) {
            while (next != kNoNode && filter != nullptr && filter->child != nullptr &&
                   !filter->child(filter->ctx, r, next))
                next = r.next_sibling(next);
            if (next != kNoNode) break;
            // No (more) children: close the innermost open node, then continue with its next sibling.
            HV_TRY(w.end_node());
            const i32 done = stack[--depth];
            if (depth == 0) return Status::ok;  // closed the copied node itself; its siblings are not ours
            next = r.next_sibling(done);
        }
        cur = next;
        cur_name = r.name(cur);
        if (cur_name == nullptr) return Status::corrupt;
    }
}

}  // namespace hv::fdt
