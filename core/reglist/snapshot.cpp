#include "core/reglist/snapshot.hpp"

#include "lib/log.hpp"
#include "lib/string.hpp"

namespace hv::reglist {

namespace {

constexpr usize kHeaderSize = kSnapshotHeaderSize;
static_assert(kHeaderSize == 8 + 4 * 4 + 4 * SnapshotInfo::kAbiSlots + 8);
constexpr usize kMaxRegsPerSection = 65536;  // sanity bound on a section's record count

// Typed puts shared by the buffer writer and the streaming writer (each provides `put(const void*, usize)`).
template <typename Derived>
class PutHelpers {
public:
    void u32v(u32 v) { self().put(&v, 4); }
    void u64v(u64 v) { self().put(&v, 8); }
    void zeros(usize n) {
        static constexpr u8 z[16] = {};
        while (n > 0) {
            usize k = min<usize>(n, sizeof z);
            self().put(z, k);
            n -= k;
        }
    }

private:
    Derived& self() { return static_cast<Derived&>(*this); }
};

class Writer : public PutHelpers<Writer> {
public:
    explicit Writer(Span<u8> out) : out_(out) {}
    void put(const void* p, usize n) {
        if (pos_ + n <= out_.size()) memcpy(out_.data() + pos_, p, n);
        pos_ += n;
    }
    usize pos() const { return pos_; }
    bool fits() const { return pos_ <= out_.size(); }
    u8* at(usize off) { return out_.data() + off; }

private:
    Span<u8> out_;
    usize pos_ = 0;
};

class Reader {
public:
    static constexpr bool kHasSpan = true;
    explicit Reader(Span<const u8> in) : in_(in) {}
    u64 pos() const { return pos_; }
    bool get(void* p, usize n) {
        if (n > in_.size() - pos_) return false;
        memcpy(p, in_.data() + pos_, n);
        pos_ += n;
        return true;
    }
    bool u32v(u32& v) { return get(&v, 4); }
    bool u64v(u64& v) { return get(&v, 8); }
    const u8* here() const { return in_.data() + pos_; }
    bool skip(usize n) {
        if (n > in_.size() - pos_) return false;
        pos_ += n;
        return true;
    }
    usize remaining() const { return in_.size() - pos_; }

private:
    Span<const u8> in_;
    usize pos_ = 0;
};

// Writer into a SnapshotSink through a small buffer; the first error sticks.
class SinkWriter : public PutHelpers<SinkWriter> {
public:
    explicit SinkWriter(SnapshotSink* sink) : sink_(sink) {}
    void put(const void* p, usize n) {
        const u8* b = static_cast<const u8*>(p);
        pos_ += n;
        if (sink_ == nullptr) return;  // counting only
        while (n > 0 && status_ == Status::ok) {
            if (used_ == sizeof buf_) flush();
            const usize k = min(n, sizeof buf_ - used_);
            memcpy(buf_ + used_, b, k);
            used_ += k;
            b += k;
            n -= k;
        }
    }
    // Large blocks (guest RAM) bypass the buffer, in bounded chunks.
    void put_direct(const u8* p, u64 n) {
        if (sink_ == nullptr) {
            pos_ += n;
            return;
        }
        flush();
        constexpr u64 kChunk = 1 * MiB;
        while (n > 0 && status_ == Status::ok) {
            const usize k = static_cast<usize>(min(n, kChunk));
            status_ = sink_->write(p, k);
            p += k;
            n -= k;
            pos_ += k;
        }
    }
    void flush() {
        if (sink_ != nullptr && used_ > 0 && status_ == Status::ok) status_ = sink_->write(buf_, used_);
        used_ = 0;
    }
    u64 pos() const { return pos_; }
    Status status() const { return status_; }

private:
    SnapshotSink* sink_;
    u8 buf_[512] = {};
    usize used_ = 0;
    u64 pos_ = 0;
    Status status_ = Status::ok;
};

// Reader over a SnapshotSource with a small read-ahead window (records are read a few bytes at a time).
class SourceReader {
public:
    static constexpr bool kHasSpan = false;
    explicit SourceReader(SnapshotSource& src) : src_(src), size_(src.size()) {}
    bool get(void* p, usize n) {
        if (n > size_ - pos_) return false;
        if (pos_ >= win_at_ && pos_ - win_at_ < win_len_ && n <= win_len_ - (pos_ - win_at_)) {
            memcpy(p, win_ + (pos_ - win_at_), n);  // within the window (most reads: records are a few bytes)
            pos_ += n;
            return true;
        }
        u8* out = static_cast<u8*>(p);
        while (n > 0) {
            if (pos_ < win_at_ || pos_ >= win_at_ + win_len_) {
                win_at_ = pos_;
                win_len_ = static_cast<usize>(min<u64>(sizeof win_, size_ - pos_));
                if (src_.read(win_at_, win_, win_len_) != Status::ok) {
                    win_len_ = 0;
                    return false;
                }
            }
            const usize off = static_cast<usize>(pos_ - win_at_);
            const usize k = min(n, win_len_ - off);
            memcpy(out, win_ + off, k);
            out += k;
            pos_ += k;
            n -= k;
        }
        return true;
    }
    bool u32v(u32& v) { return get(&v, 4); }
    bool u64v(u64& v) { return get(&v, 8); }
    bool skip(u64 n) {
        if (n > size_ - pos_) return false;
        pos_ += n;
        return true;
    }
    u64 remaining() const { return size_ - pos_; }
    u64 pos() const { return pos_; }
    const u8* here() const { return nullptr; }

private:
    SnapshotSource& src_;
    u64 size_;
    u64 pos_ = 0;
    u8 win_[512] = {};
    u64 win_at_ = 0;
    usize win_len_ = 0;
};

constexpr usize padded(usize n) { return align_up(n, 8); }

bool all_zero(const u8* p, usize n) {
    for (usize i = 0; i < n; ++i)
        if (p[i] != 0) return false;
    return true;
}

template <typename W>
Status write_section(RegisterCatalogue& cat, W& w, Handle h, u32 tag) {
    const usize n = cat.reg_count(h);
    if (n > kMaxRegsPerSection) return Status::unsupported;
    w.u32v(tag);
    w.u32v(h.vcpu);
    w.u32v(static_cast<u32>(n));
    w.u32v(0);
    usize written = 0;
    HV_TRY(cat.for_each_value(h, [&](u64 id, Span<const u8> value) {
        if (written++ == n) return Status::out_of_range;  // the list grew under us: the count is written
        w.u64v(id);
        w.put(value.data(), value.size());
        w.zeros(padded(value.size()) - value.size());
        return Status::ok;
    }));
    return written == n ? Status::ok : Status::out_of_range;
}

template <typename R>
Status read_section(R& r, u32 want_tag, u32 want_vcpu, SnapshotVisitor& v) {
    u32 tag = 0, vcpu = 0, count = 0, reserved = 0;
    if (!r.u32v(tag) || !r.u32v(vcpu) || !r.u32v(count) || !r.u32v(reserved)) return Status::corrupt;
    if (tag != want_tag || vcpu != want_vcpu || reserved != 0 || count > kMaxRegsPerSection) return Status::corrupt;
    HV_TRY(v.section(vcpu, count));
    for (u32 i = 0; i < count; ++i) {
        u64 id = 0;
        if (!r.u64v(id)) return Status::corrupt;
        const usize sz = reg_size(id);
        u8 value[16] = {};
        if (sz > 16 || r.remaining() < padded(sz) || !r.get(value, padded(sz))) return Status::corrupt;
        if (!all_zero(value + sz, padded(sz) - sz)) return Status::corrupt;
        HV_TRY(v.record(vcpu, id, Span<const u8>(value, sz)));
    }
    return Status::ok;
}

// ---- catalogue-aware visitors ----

// Every record's ID must be known and sit in the section of its scope, and its value must be one this destination
// accepts (a dry-run SET: RegisterCatalogue::validate_one_reg); RAM must match the destination. Optionally keeps
// every record (RecordStore) and the RAM sections' offsets, so a restore applies what was checked without reading
// the stream again.
class CheckVisitor final : public SnapshotVisitor {
public:
    CheckVisitor(RegisterCatalogue& cat, const RegionGuestMemory* ram, SnapshotRefusal* why,
                 RecordStore* store = nullptr, Span<u8> owners = {})
        : cat_(cat), ram_(ram), why_(why), store_(store), owners_(owners) {}
    Status header(const SnapshotInfo& info) override {
        return info.vcpu_count == cat_.vcpu_count() ? Status::ok : Status::invalid_argument;
    }
    Status record(u32 vcpu, u64 id, Span<const u8> value) override {
        RegisterClass* const owner = cat_.owner_of(id);
        Result<Scope> s = cat_.scope_of(id, owner);
        if (!s.ok()) return s.status();
        if ((s.value() == Scope::vm) != (vcpu == kSnapshotVmSection) || is_vm_scoped_id(id) != (s.value() == Scope::vm))
            return Status::corrupt;
        const Handle h = vcpu == kSnapshotVmSection ? Handle::vm() : Handle::for_vcpu(vcpu);
        Refusal why;
        const Status v = cat_.validate_one_reg(h, id, value, why, owner);
        if (v != Status::ok) {
            if (why_ != nullptr) {
                why_->vcpu = vcpu;
                why_->id = id;
                why_->saved = 0;
                memcpy(&why_->saved, value.data(), min<usize>(value.size(), 8));
                why_->why = why;
            }
            return v;
        }
        // The owner found here is kept for the apply (its stage and its set()): looking it up once more per
        // stage was most of an apply.
        const u8 slot = cat_.slot_of(owner);
        if (records_ < owners_.size()) owners_[records_] = slot;
        ++records_;
        if (store_ != nullptr) HV_TRY(store_->add(vcpu, id, value, slot));
        return Status::ok;
    }
    Status ram_region(u32 index, u64 gpa, u64 size, u64 offset) override {
        if (ram_ == nullptr || index >= ram_->regions().size()) return Status::invalid_argument;
        const RegionGuestMemory::Region& reg = ram_->regions()[index];
        if (reg.gpa != gpa || reg.size != size) return Status::invalid_argument;
        if (store_ != nullptr) HV_TRY(store_->add_ram(gpa, size, offset));
        if (ram_sections >= RecordStore::kMaxRam) return Status::no_memory;
        sections[ram_sections++] = {gpa, size, offset};
        return Status::ok;
    }
    u32 ram_sections = 0;
    RecordStore::Ram sections[RecordStore::kMaxRam] = {};  // where each RAM section's bytes are in the stream

private:
    RegisterCatalogue& cat_;
    const RegionGuestMemory* ram_;
    SnapshotRefusal* why_;
    RecordStore* store_;
    Span<u8> owners_;  // owners_[i]: the slot of record i's class (records past its size are not kept)
    usize records_ = 0;
};

// A SET that failed while applying: which record (the refusal then has `applying` set).
void note_apply_failure(SnapshotRefusal* why, u32 vcpu, u64 id, Span<const u8> value, Status s) {
    HV_LOG_RATELIMITED(warn, "snapshot: SET %#llx failed: %s", static_cast<unsigned long long>(id), status_name(s));
    if (why == nullptr) return;
    why->vcpu = vcpu;
    why->id = id;
    why->saved = 0;
    memcpy(&why->saved, value.data(), min<usize>(value.size(), 8));
}

class StageApplyVisitor final : public SnapshotVisitor {
public:
    StageApplyVisitor(RegisterCatalogue& cat, u8 stage, SnapshotRefusal* why, Span<const u8> owners)
        : cat_(cat), stage_(stage), why_(why), owners_(owners) {}
    Status record(u32 vcpu, u64 id, Span<const u8> value) override {
        // The owner the check found for this record (the same stream, parsed the same way: record i is the same
        // record), else looked up again.
        const usize i = records_++;
        RegisterClass* const owner = i < owners_.size() ? cat_.class_at_slot(owners_[i]) : cat_.owner_of(id);
        if ((owner != nullptr ? owner->restore_stage() : 0) != stage_) return Status::ok;
        const Handle h = vcpu == kSnapshotVmSection ? Handle::vm() : Handle::for_vcpu(vcpu);
        Status s = cat_.set_one_reg(h, id, value, owner);
        if (s != Status::ok) note_apply_failure(why_, vcpu, id, value, s);
        return s;
    }

private:
    RegisterCatalogue& cat_;
    u8 stage_;
    SnapshotRefusal* why_;
    Span<const u8> owners_;
    usize records_ = 0;
};

class InfoVisitor final : public SnapshotVisitor {
public:
    Status header(const SnapshotInfo& info) override {
        got = info;
        return Status::ok;
    }
    SnapshotInfo got;
};

// Forwards to two visitors (the first's error wins).
class PairVisitor final : public SnapshotVisitor {
public:
    PairVisitor(SnapshotVisitor& a, SnapshotVisitor& b) : a_(a), b_(b) {}
    Status header(const SnapshotInfo& i) override {
        HV_TRY(a_.header(i));
        return b_.header(i);
    }
    Status section(u32 v, u32 n) override {
        HV_TRY(a_.section(v, n));
        return b_.section(v, n);
    }
    Status record(u32 v, u64 id, Span<const u8> val) override {
        HV_TRY(a_.record(v, id, val));
        return b_.record(v, id, val);
    }
    Status ram(u32 i, u64 gpa, Span<const u8> bytes) override {
        HV_TRY(a_.ram(i, gpa, bytes));
        return b_.ram(i, gpa, bytes);
    }
    Status ram_region(u32 i, u64 gpa, u64 size, u64 offset) override {
        HV_TRY(a_.ram_region(i, gpa, size, offset));
        return b_.ram_region(i, gpa, size, offset);
    }

private:
    SnapshotVisitor& a_;
    SnapshotVisitor& b_;
};

// A SnapshotSource over a buffer (the buffer form's image checks read it like a stream).
class SpanSource final : public SnapshotSource {
public:
    explicit SpanSource(Span<const u8> in) : in_(in) {}
    u64 size() const override { return in_.size(); }
    Status read(u64 offset, void* buf, usize n) override {
        if (offset > in_.size() || n > in_.size() - offset) return Status::out_of_range;
        memcpy(buf, in_.data() + offset, n);
        return Status::ok;
    }

private:
    Span<const u8> in_;
};

// Guest RAM as a snapshot holds it: each RAM section's bytes read from the stream, by guest-physical address.
// Read-only (an image check must not change anything, not even the image).
class ImageRam final : public GuestMemory {
public:
    ImageRam(SnapshotSource& src, Span<const RecordStore::Ram> sections) : src_(src), sections_(sections) {}
    Status read(u64 gpa, void* dst, usize len) override {
        const RecordStore::Ram* s = find(gpa, len);
        if (s == nullptr) return Status::out_of_range;
        // Table walks read 8 bytes at a time: through a one-window cache (a disk source answers in sectors).
        u8* out = static_cast<u8*>(dst);
        for (u64 at = s->offset + (gpa - s->gpa); len > 0;) {
            const u64 base = at & ~u64{kWindow - 1};
            if (!cached_ || base != window_at_) {
                const usize n = static_cast<usize>(min<u64>(kWindow, src_.size() - base));
                HV_TRY(src_.read(base, window_, n));
                cached_ = true;
                window_at_ = base;
                window_len_ = n;
            }
            if (at - base >= window_len_) return Status::out_of_range;
            const usize k = min<usize>(len, window_len_ - static_cast<usize>(at - base));
            memcpy(out, window_ + (at - base), k);
            out += k;
            at += k;
            len -= k;
        }
        return Status::ok;
    }
    Status write(u64, const void*, usize) override { return Status::unsupported; }
    bool contains(u64 gpa, usize len) const override { return find(gpa, len) != nullptr; }

private:
    const RecordStore::Ram* find(u64 gpa, usize len) const {
        for (const RecordStore::Ram& s : sections_)
            if (gpa >= s.gpa && len <= s.size && gpa - s.gpa <= s.size - len) return &s;
        return nullptr;
    }
    static constexpr usize kWindow = 512;
    SnapshotSource& src_;
    Span<const RecordStore::Ram> sections_;
    u8 window_[kWindow] = {};
    u64 window_at_ = 0;
    usize window_len_ = 0;
    bool cached_ = false;
};

// Forwards a stream's records to an image's record visitor.
class RecordForwarder final : public SnapshotVisitor {
public:
    explicit RecordForwarder(SnapshotImage::RecordVisitor& v) : v_(v) {}
    Status record(u32 vcpu, u64 id, Span<const u8> value) override {
        return v_.record(vcpu == kSnapshotVmSection ? Handle::vm() : Handle::for_vcpu(vcpu), id, value);
    }

private:
    SnapshotImage::RecordVisitor& v_;
};

// The snapshot as RegisterClass::check_snapshot sees it: records from the kept store (the streaming restore: the
// stream is not read again) or by walking the source once more (validation only), RAM from the source.
class SourceImage final : public SnapshotImage {
public:
    SourceImage(SnapshotSource& src, Span<const RecordStore::Ram> sections, const RecordStore* store, Span<const u8> in)
        : src_(src), ram_(src, sections), store_(store), in_(in) {}
    Status for_each_record(RecordVisitor& v) override {
        if (store_ != nullptr) {
            for (usize i = 0; i < store_->count(); ++i) {
                const RecordStore::Entry e = store_->at(i);
                HV_TRY(v.record(e.vcpu == kSnapshotVmSection ? Handle::vm() : Handle::for_vcpu(e.vcpu), e.id, e.value));
            }
            return Status::ok;
        }
        RecordForwarder f(v);
        return in_.data() != nullptr ? snapshot_parse(in_, f) : snapshot_parse_stream(src_, f);
    }
    GuestMemory& ram() override { return ram_; }

private:
    SnapshotSource& src_;
    ImageRam ram_;
    const RecordStore* store_;
    Span<const u8> in_;  // the buffer `src_` reads, if the snapshot is one (parsed directly)
};

// The whole-snapshot checks (RegisterCatalogue::check_snapshot), after every record passed on its own.
Status check_image(RegisterCatalogue& cat, SnapshotSource& src, const CheckVisitor& check, const RecordStore* store,
                   SnapshotRefusal* why, Span<const u8> in = {}) {
    SourceImage image(src, Span<const RecordStore::Ram>(check.sections, check.ram_sections), store, in);
    ImageRefusal refused;
    const Status s = cat.check_snapshot(image, refused);
    if (s != Status::ok && why != nullptr) {
        why->vcpu = refused.vcpu == Handle::kVm ? kSnapshotVmSection : refused.vcpu;
        why->id = refused.id;
        why->saved = refused.saved;
        why->why = refused.why;
    }
    return s;
}

}  // namespace

namespace {

template <typename R>
Status parse_impl(R& r, SnapshotVisitor& v) {
    u64 magic = 0, payload = 0;
    u32 version = 0, header_size = 0, vcpus = 0, abi_count = 0;
    if (!r.u64v(magic) || !r.u32v(version) || !r.u32v(header_size) || !r.u32v(vcpus) || !r.u32v(abi_count))
        return Status::corrupt;
    if (magic != kSnapshotMagic || version != kSnapshotFormatVersion || header_size != kHeaderSize ||
        abi_count != SnapshotInfo::kAbiSlots)
        return Status::corrupt;
    SnapshotInfo got;
    got.vcpu_count = vcpus;
    for (usize i = 0; i < SnapshotInfo::kAbiSlots; ++i)
        if (!r.u32v(got.abi[i])) return Status::corrupt;
    if (!r.u64v(payload) || payload != r.remaining()) return Status::corrupt;
    if (got.abi[0] != SnapshotInfo::kReglistAbi) return Status::corrupt;
    if (vcpus > kMaxRegsPerSection) return Status::corrupt;
    HV_TRY(v.header(got));
    HV_TRY(read_section(r, kSnapshotTagVm, kSnapshotVmSection, v));
    for (u32 c = 0; c < vcpus; ++c) HV_TRY(read_section(r, kSnapshotTagVcpu, c, v));
    for (u32 index = 0;; ++index) {
        u32 tag = 0, a = 0, b = 0, c = 0;
        if (!r.u32v(tag) || !r.u32v(a) || !r.u32v(b) || !r.u32v(c)) return Status::corrupt;
        if (tag == kSnapshotTagEnd) {
            if (a != kSnapshotVmSection || b != 0 || c != 0 || r.remaining() != 0) return Status::corrupt;
            return Status::ok;
        }
        if (tag != kSnapshotTagRam || a != index || b != 0 || c != 0) return Status::corrupt;
        u64 gpa = 0, size = 0;
        if (!r.u64v(gpa) || !r.u64v(size)) return Status::corrupt;
        if (size == 0 || size > r.remaining() || align_up(size, u64{8}) > r.remaining() || gpa + size < gpa)
            return Status::corrupt;
        HV_TRY(v.ram_region(index, gpa, size, r.pos()));
        if constexpr (R::kHasSpan) {
            const u8* bytes = r.here();
            if (!all_zero(bytes + size, align_up(size, u64{8}) - size)) return Status::corrupt;
            HV_TRY(v.ram(index, gpa, Span<const u8>(bytes, static_cast<usize>(size))));
            if (!r.skip(align_up(size, u64{8}))) return Status::corrupt;
        } else {
            u8 pad[8] = {};
            const usize npad = static_cast<usize>(align_up(size, u64{8}) - size);
            if (!r.skip(size) || !r.get(pad, npad) || !all_zero(pad, npad)) return Status::corrupt;
        }
    }
}

template <typename W>
void write_header(W& w, u32 vcpus, const SnapshotInfo& info, u64 payload) {
    w.u64v(kSnapshotMagic);
    w.u32v(kSnapshotFormatVersion);
    w.u32v(static_cast<u32>(kHeaderSize));
    w.u32v(vcpus);
    w.u32v(static_cast<u32>(SnapshotInfo::kAbiSlots));
    for (usize i = 0; i < SnapshotInfo::kAbiSlots; ++i) w.u32v(i == 0 ? SnapshotInfo::kReglistAbi : info.abi[i]);
    w.u64v(payload);
}

template <typename W>
void write_ram_header(W& w, u32 index, const RegionGuestMemory::Region& reg) {
    w.u32v(kSnapshotTagRam);
    w.u32v(index);
    w.u32v(0);
    w.u32v(0);
    w.u64v(reg.gpa);
    w.u64v(reg.size);
}

template <typename W>
void write_end(W& w) {
    w.u32v(kSnapshotTagEnd);
    w.u32v(kSnapshotVmSection);
    w.u32v(0);
    w.u32v(0);
}

// Everything after the header, through a SinkWriter (sink = nullptr: counting only).
Status write_body(RegisterCatalogue& cat, SinkWriter& w, const RegionGuestMemory* ram) {
    HV_TRY(write_section(cat, w, Handle::vm(), kSnapshotTagVm));
    for (u32 v = 0; v < cat.vcpu_count(); ++v) HV_TRY(write_section(cat, w, Handle::for_vcpu(v), kSnapshotTagVcpu));
    if (ram != nullptr) {
        u32 index = 0;
        for (const RegionGuestMemory::Region& reg : ram->regions()) {
            write_ram_header(w, index++, reg);
            w.put_direct(reg.host, reg.size);
            w.zeros(static_cast<usize>(align_up(reg.size, u64{8}) - reg.size));
        }
    }
    write_end(w);
    w.flush();
    return w.status();
}

}  // namespace

Status snapshot_parse(Span<const u8> in, SnapshotVisitor& v) {
    Reader r(in);
    return parse_impl(r, v);
}

Status snapshot_parse_stream(SnapshotSource& src, SnapshotVisitor& v) {
    SourceReader r(src);
    return parse_impl(r, v);
}

Status snapshot_stream_size(RegisterCatalogue& cat, const RegionGuestMemory* ram, u64& size) {
    SinkWriter count(nullptr);
    HV_TRY(write_body(cat, count, ram));
    size = kHeaderSize + count.pos();
    return Status::ok;
}

Status snapshot_save_stream(RegisterCatalogue& cat, const SnapshotInfo& info, SnapshotSink& sink,
                            const RegionGuestMemory* ram, u64& written) {
    written = 0;
    HV_TRY(cat.prepare_save());
    u64 total = 0;
    HV_TRY(snapshot_stream_size(cat, ram, total));
    SinkWriter w(&sink);
    write_header(w, cat.vcpu_count(), info, total - kHeaderSize);
    HV_TRY(write_body(cat, w, ram));
    written = w.pos();
    // The registers were read twice (size, then bytes): they must not have moved in between.
    return written == total ? Status::ok : Status::corrupt;
}

Status snapshot_save(RegisterCatalogue& cat, const SnapshotInfo& info, Span<u8> out, usize& used,
                     const RegionGuestMemory* ram) {
    HV_TRY(cat.prepare_save());
    Writer w(out);
    write_header(w, cat.vcpu_count(), info, 0);
    const usize payload_at = w.pos() - 8;  // patched below
    HV_TRY(write_section(cat, w, Handle::vm(), kSnapshotTagVm));
    for (u32 v = 0; v < cat.vcpu_count(); ++v) HV_TRY(write_section(cat, w, Handle::for_vcpu(v), kSnapshotTagVcpu));
    if (ram != nullptr) {
        u32 index = 0;
        for (const RegionGuestMemory::Region& reg : ram->regions()) {
            w.u32v(kSnapshotTagRam);
            w.u32v(index++);
            w.u32v(0);
            w.u32v(0);
            w.u64v(reg.gpa);
            w.u64v(reg.size);
            w.put(reg.host, reg.size);
            w.zeros(padded(reg.size) - reg.size);
        }
    }
    w.u32v(kSnapshotTagEnd);
    w.u32v(kSnapshotVmSection);
    w.u32v(0);
    w.u32v(0);
    used = w.pos();
    if (!w.fits()) return Status::out_of_range;
    u64 payload = used - kHeaderSize;
    memcpy(w.at(payload_at), &payload, 8);
    return Status::ok;
}

Status snapshot_validate(RegisterCatalogue& cat, Span<const u8> in, SnapshotInfo& info, const RegionGuestMemory* ram,
                         SnapshotRefusal* why) {
    InfoVisitor iv;
    CheckVisitor check(cat, ram, why);
    PairVisitor both(iv, check);
    HV_TRY(snapshot_parse(in, both));
    SpanSource src(in);
    HV_TRY(check_image(cat, src, check, nullptr, why, in));
    info = iv.got;
    return Status::ok;
}

Status snapshot_validate_stream(RegisterCatalogue& cat, SnapshotSource& src, SnapshotInfo& info,
                                const RegionGuestMemory* ram, SnapshotRefusal* why) {
    InfoVisitor iv;
    CheckVisitor check(cat, ram, why);
    PairVisitor both(iv, check);
    HV_TRY(snapshot_parse_stream(src, both));
    HV_TRY(check_image(cat, src, check, nullptr, why));
    info = iv.got;
    return Status::ok;
}

Status RecordStore::add(u32 vcpu, u64 id, Span<const u8> value, u8 owner) {
    if (value.size() > 16) return Status::unsupported;
    if ((count_ + 1) * kEntrySize > buf_.size()) return Status::no_memory;
    u8* e = buf_.data() + count_ * kEntrySize;
    memset(e, 0, kEntrySize);
    memcpy(e, &vcpu, 4);
    e[4] = static_cast<u8>(value.size());
    e[5] = owner;
    memcpy(e + 8, &id, 8);
    memcpy(e + 16, value.data(), value.size());
    ++count_;
    return Status::ok;
}

Status RecordStore::add_ram(u64 gpa, u64 size, u64 offset) {
    if (ram_count_ == kMaxRam) return Status::no_memory;
    ram_[ram_count_++] = {gpa, size, offset};
    return Status::ok;
}

RecordStore::Entry RecordStore::at(usize i) const {
    Entry e;
    const u8* p = buf_.data() + i * kEntrySize;
    memcpy(&e.vcpu, p, 4);
    memcpy(&e.id, p + 8, 8);
    e.value = Span<const u8>(p + 16, p[4]);
    e.owner = p[5];
    return e;
}

Status snapshot_restore_stream(RegisterCatalogue& cat, SnapshotSource& src, SnapshotInfo& info, RegionGuestMemory* ram,
                               Span<u8> scratch, SnapshotRefusal* why) {
    // 1. One pass over the stream: structure, IDs, scopes, RAM layout, every value against the catalogue; the
    //    records are kept in `scratch`. Nothing changes on any error (no_memory if `scratch` is too small).
    RecordStore store(scratch);
    {
        InfoVisitor iv;
        CheckVisitor check(cat, ram, why, &store);
        PairVisitor both(iv, check);
        HV_TRY(snapshot_parse_stream(src, both));
        // What depends on several records or on the saved RAM (the ITS tables): from the kept records, the RAM
        // image read at its offsets in the source.
        HV_TRY(check_image(cat, src, check, &store, why));
        info = iv.got;
    }
    // 2. RAM, read straight into each region (the only read of those bytes), then the kept records stage by
    //    stage: what is applied is exactly what was checked, whatever happens to the source meanwhile.
    if (why != nullptr) why->applying = true;
    Status s = Status::ok;
    for (usize r = 0; s == Status::ok && r < store.ram_count(); ++r) {
        const RecordStore::Ram& sec = store.ram(r);
        u8* host = ram != nullptr ? ram->host_ptr(sec.gpa, static_cast<usize>(sec.size)) : nullptr;
        if (host == nullptr) {
            s = Status::out_of_range;
            break;
        }
        constexpr u64 kChunk = 1 * MiB;
        for (u64 done = 0; s == Status::ok && done < sec.size;) {
            const usize k = static_cast<usize>(min(sec.size - done, kChunk));
            s = src.read(sec.offset + done, host + done, k);
            done += k;
        }
    }
    for (u8 stage = 0; s == Status::ok && stage <= cat.max_restore_stage(); ++stage) {
        for (usize i = 0; s == Status::ok && i < store.count(); ++i) {
            const RecordStore::Entry e = store.at(i);
            RegisterClass* const owner = cat.class_at_slot(e.owner);  // as the check found it
            if ((owner != nullptr ? owner->restore_stage() : 0) != stage) continue;
            const Handle h = e.vcpu == kSnapshotVmSection ? Handle::vm() : Handle::for_vcpu(e.vcpu);
            s = cat.set_one_reg(h, e.id, e.value, owner);
            if (s != Status::ok) note_apply_failure(why, e.vcpu, e.id, e.value, s);
        }
    }
    if (s != Status::ok) HV_LOG_RATELIMITED(warn, "snapshot: restore failed: %s", status_name(s));
    return s;
}

Status snapshot_restore(RegisterCatalogue& cat, Span<const u8> in, SnapshotInfo& info, RegionGuestMemory* ram,
                        SnapshotRefusal* why) {
    // snapshot_validate, keeping the owner the check found for each of the first kOwnerCache records (a byte
    // each, on the stack: a VM's ~1 000 records fit), which the stage passes reuse instead of looking every record
    // up once per stage.
    constexpr usize kOwnerCache = 1024;
    u8 owners[kOwnerCache];
    InfoVisitor iv;
    CheckVisitor check(cat, ram, why, nullptr, Span<u8>(owners, kOwnerCache));
    {
        PairVisitor both(iv, check);
        HV_TRY(snapshot_parse(in, both));
        SpanSource src(in);
        HV_TRY(check_image(cat, src, check, nullptr, why, in));
        info = iv.got;
    }
    if (why != nullptr) why->applying = true;
    // RAM from where the check found each section (its bounds and padding checked by that parse): no parse again.
    Status s = Status::ok;
    for (u32 r = 0; s == Status::ok && r < check.ram_sections; ++r) {
        const RecordStore::Ram& sec = check.sections[r];
        s = ram != nullptr ? ram->write(sec.gpa, in.data() + sec.offset, static_cast<usize>(sec.size))
                           : Status::invalid_argument;
    }
    for (u8 stage = 0; s == Status::ok && stage <= cat.max_restore_stage(); ++stage) {
        StageApplyVisitor apply(cat, stage, why, Span<const u8>(owners, kOwnerCache));
        s = snapshot_parse(in, apply);
    }
    if (s != Status::ok) HV_LOG_RATELIMITED(warn, "snapshot: restore failed: %s", status_name(s));
    return s;
}

}  // namespace hv::reglist
