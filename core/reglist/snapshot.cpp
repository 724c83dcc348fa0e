#include "core/reglist/snapshot.hpp"

#include "lib/log.hpp"
#include "lib/string.hpp"

namespace hv::reglist {

namespace {

constexpr usize kHeaderSize = kSnapshotHeaderSize;
static_assert(kHeaderSize == 8 + 4 * 4 + 4 * SnapshotInfo::kAbiSlots + 8);
constexpr usize kMaxRegsPerSection = 65536;  // sanity bound on a section's record count

class Writer {
public:
    explicit Writer(Span<u8> out) : out_(out) {}
    void put(const void* p, usize n) {
        if (pos_ + n <= out_.size()) memcpy(out_.data() + pos_, p, n);
        pos_ += n;
    }
    void u32v(u32 v) { put(&v, 4); }
    void u64v(u64 v) { put(&v, 8); }
    void zeros(usize n) {
        static constexpr u8 z[16] = {};
        while (n > 0) {
            usize k = min<usize>(n, sizeof z);
            put(z, k);
            n -= k;
        }
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
    explicit Reader(Span<const u8> in) : in_(in) {}
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

constexpr usize padded(usize n) { return align_up(n, 8); }

bool all_zero(const u8* p, usize n) {
    for (usize i = 0; i < n; ++i)
        if (p[i] != 0) return false;
    return true;
}

Status write_section(RegisterCatalogue& cat, Writer& w, Handle h, u32 tag) {
    const usize n = cat.reg_count(h);
    if (n > kMaxRegsPerSection) return Status::unsupported;
    w.u32v(tag);
    w.u32v(h.vcpu);
    w.u32v(static_cast<u32>(n));
    w.u32v(0);
    for (usize i = 0; i < n; ++i) {
        u8 buf[16] = {};
        u64 id = 0;
        HV_TRY(cat.reg_id_at(h, i, id));
        const usize sz = reg_size(id);
        if (sz > sizeof buf) return Status::unsupported;
        HV_TRY(cat.get_one_reg(h, id, Span<u8>(buf, sz)));
        w.u64v(id);
        w.put(buf, sz);
        w.zeros(padded(sz) - sz);
    }
    return Status::ok;
}

Status read_section(Reader& r, u32 want_tag, u32 want_vcpu, SnapshotVisitor& v) {
    u32 tag = 0, vcpu = 0, count = 0, reserved = 0;
    if (!r.u32v(tag) || !r.u32v(vcpu) || !r.u32v(count) || !r.u32v(reserved)) return Status::corrupt;
    if (tag != want_tag || vcpu != want_vcpu || reserved != 0 || count > kMaxRegsPerSection) return Status::corrupt;
    HV_TRY(v.section(vcpu, count));
    for (u32 i = 0; i < count; ++i) {
        u64 id = 0;
        if (!r.u64v(id)) return Status::corrupt;
        const usize sz = reg_size(id);
        if (sz > 16 || r.remaining() < padded(sz)) return Status::corrupt;
        const u8* value = r.here();
        if (!all_zero(value + sz, padded(sz) - sz)) return Status::corrupt;
        HV_TRY(v.record(vcpu, id, Span<const u8>(value, sz)));
        if (!r.skip(padded(sz))) return Status::corrupt;
    }
    return Status::ok;
}

// ---- catalogue-aware visitors ----

// Every record's ID must be known and sit in the section of its scope; RAM must match the destination.
class CheckVisitor final : public SnapshotVisitor {
public:
    CheckVisitor(RegisterCatalogue& cat, const RegionGuestMemory* ram) : cat_(cat), ram_(ram) {}
    Status header(const SnapshotInfo& info) override {
        return info.vcpu_count == cat_.vcpu_count() ? Status::ok : Status::invalid_argument;
    }
    Status record(u32 vcpu, u64 id, Span<const u8>) override {
        Result<Scope> s = cat_.scope_of(id);
        if (!s.ok()) return s.status();
        if ((s.value() == Scope::vm) != (vcpu == kSnapshotVmSection) || is_vm_scoped_id(id) != (s.value() == Scope::vm))
            return Status::corrupt;
        return Status::ok;
    }
    Status ram(u32 index, u64 gpa, Span<const u8> bytes) override {
        if (ram_ == nullptr || index >= ram_->regions().size()) return Status::invalid_argument;
        const RegionGuestMemory::Region& reg = ram_->regions()[index];
        return reg.gpa == gpa && reg.size == bytes.size() ? Status::ok : Status::invalid_argument;
    }

private:
    RegisterCatalogue& cat_;
    const RegionGuestMemory* ram_;
};

class RamApplyVisitor final : public SnapshotVisitor {
public:
    explicit RamApplyVisitor(RegionGuestMemory* ram) : ram_(ram) {}
    Status ram(u32, u64 gpa, Span<const u8> bytes) override {
        if (ram_ == nullptr) return Status::invalid_argument;
        return ram_->write(gpa, bytes.data(), bytes.size());
    }

private:
    RegionGuestMemory* ram_;
};

class StageApplyVisitor final : public SnapshotVisitor {
public:
    StageApplyVisitor(RegisterCatalogue& cat, u8 stage) : cat_(cat), stage_(stage) {}
    Status record(u32 vcpu, u64 id, Span<const u8> value) override {
        if (cat_.restore_stage_of(id) != stage_) return Status::ok;
        const Handle h = vcpu == kSnapshotVmSection ? Handle::vm() : Handle::for_vcpu(vcpu);
        Status s = cat_.set_one_reg(h, id, value);
        if (s != Status::ok)
            HV_LOG_RATELIMITED(warn, "snapshot: SET %#llx failed: %s\n", static_cast<unsigned long long>(id),
                               status_name(s));
        return s;
    }

private:
    RegisterCatalogue& cat_;
    u8 stage_;
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

private:
    SnapshotVisitor& a_;
    SnapshotVisitor& b_;
};

}  // namespace

Status snapshot_parse(Span<const u8> in, SnapshotVisitor& v) {
    Reader r(in);
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
    if (!r.u64v(payload) || payload != in.size() - kHeaderSize) return Status::corrupt;
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
        if (size == 0 || size > r.remaining() || padded(size) > r.remaining() || gpa + size < gpa)
            return Status::corrupt;
        const u8* bytes = r.here();
        if (!all_zero(bytes + size, padded(size) - size)) return Status::corrupt;
        HV_TRY(v.ram(index, gpa, Span<const u8>(bytes, size)));
        if (!r.skip(padded(size))) return Status::corrupt;
    }
}

Status snapshot_save(RegisterCatalogue& cat, const SnapshotInfo& info, Span<u8> out, usize& used,
                     const RegionGuestMemory* ram) {
    HV_TRY(cat.prepare_save());
    Writer w(out);
    w.u64v(kSnapshotMagic);
    w.u32v(kSnapshotFormatVersion);
    w.u32v(static_cast<u32>(kHeaderSize));
    w.u32v(cat.vcpu_count());
    w.u32v(static_cast<u32>(SnapshotInfo::kAbiSlots));
    for (usize i = 0; i < SnapshotInfo::kAbiSlots; ++i) w.u32v(i == 0 ? SnapshotInfo::kReglistAbi : info.abi[i]);
    const usize payload_at = w.pos();
    w.u64v(0);  // patched below
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

Status snapshot_validate(RegisterCatalogue& cat, Span<const u8> in, SnapshotInfo& info,
                         const RegionGuestMemory* ram) {
    InfoVisitor iv;
    CheckVisitor check(cat, ram);
    PairVisitor both(iv, check);
    HV_TRY(snapshot_parse(in, both));
    info = iv.got;
    return Status::ok;
}

Status snapshot_restore(RegisterCatalogue& cat, Span<const u8> in, SnapshotInfo& info, RegionGuestMemory* ram) {
    HV_TRY(snapshot_validate(cat, in, info, ram));
    RamApplyVisitor ram_apply(ram);
    Status s = snapshot_parse(in, ram_apply);
    for (u8 stage = 0; s == Status::ok && stage <= cat.max_restore_stage(); ++stage) {
        StageApplyVisitor apply(cat, stage);
        s = snapshot_parse(in, apply);
    }
    if (s != Status::ok) HV_LOG_RATELIMITED(warn, "snapshot: restore failed: %s\n", status_name(s));
    return s;
}

}  // namespace hv::reglist
