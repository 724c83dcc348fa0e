#include "core/reglist/snapshot.hpp"

#include "lib/log.hpp"
#include "lib/string.hpp"

namespace hv::reglist {

namespace {

constexpr u32 kTagVm = 0x204d5456;    // "VTM " little endian: 'V','T','M',' '
constexpr u32 kTagVcpu = 0x55504356;  // "VCPU"
constexpr u32 kTagEnd = 0x21444e45;   // "END!"
constexpr usize kHeaderSize = 8 + 4 * 4 + 4 * SnapshotInfo::kAbiSlots + 8;
constexpr usize kSectionSize = 16;
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

// Walk one section; with `apply`, SET every record.
Status read_section(RegisterCatalogue& cat, Reader& r, u32 want_tag, u32 want_vcpu, bool apply) {
    u32 tag = 0, vcpu = 0, count = 0, reserved = 0;
    if (!r.u32v(tag) || !r.u32v(vcpu) || !r.u32v(count) || !r.u32v(reserved)) return Status::corrupt;
    if (tag != want_tag || vcpu != want_vcpu || reserved != 0 || count > kMaxRegsPerSection) return Status::corrupt;
    const Handle h = want_vcpu == Handle::kVm ? Handle::vm() : Handle::for_vcpu(want_vcpu);
    for (u32 i = 0; i < count; ++i) {
        u64 id = 0;
        if (!r.u64v(id)) return Status::corrupt;
        const usize sz = reg_size(id);
        if (sz > 16 || r.remaining() < padded(sz)) return Status::corrupt;
        // The record must belong in this section: VM section <=> VM-scoped ID with the scope bit.
        Result<Scope> s = cat.scope_of(id);
        if (!s.ok()) return s.status();
        if ((s.value() == Scope::vm) != (want_vcpu == Handle::kVm) || is_vm_scoped_id(id) != (s.value() == Scope::vm))
            return Status::corrupt;
        const u8* value = r.here();
        for (usize k = sz; k < padded(sz); ++k)
            if (value[k] != 0) return Status::corrupt;
        if (apply) HV_TRY(cat.set_one_reg(h, id, Span<const u8>(value, sz)));
        if (!r.skip(padded(sz))) return Status::corrupt;
    }
    return Status::ok;
}

Status walk(RegisterCatalogue& cat, Span<const u8> in, SnapshotInfo& info, bool apply) {
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
    if (vcpus != cat.vcpu_count()) return Status::invalid_argument;
    HV_TRY(read_section(cat, r, kTagVm, Handle::kVm, apply));
    for (u32 v = 0; v < vcpus; ++v) HV_TRY(read_section(cat, r, kTagVcpu, v, apply));
    u32 tag = 0, vcpu = 0, count = 0, reserved = 0;
    if (!r.u32v(tag) || !r.u32v(vcpu) || !r.u32v(count) || !r.u32v(reserved)) return Status::corrupt;
    if (tag != kTagEnd || vcpu != Handle::kVm || count != 0 || reserved != 0 || r.remaining() != 0)
        return Status::corrupt;
    info = got;
    return Status::ok;
}

}  // namespace

Status snapshot_save(RegisterCatalogue& cat, const SnapshotInfo& info, Span<u8> out, usize& used) {
    Writer w(out);
    w.u64v(kSnapshotMagic);
    w.u32v(kSnapshotFormatVersion);
    w.u32v(static_cast<u32>(kHeaderSize));
    w.u32v(cat.vcpu_count());
    w.u32v(static_cast<u32>(SnapshotInfo::kAbiSlots));
    for (usize i = 0; i < SnapshotInfo::kAbiSlots; ++i) w.u32v(i == 0 ? SnapshotInfo::kReglistAbi : info.abi[i]);
    const usize payload_at = w.pos();
    w.u64v(0);  // patched below
    HV_TRY(write_section(cat, w, Handle::vm(), kTagVm));
    for (u32 v = 0; v < cat.vcpu_count(); ++v) HV_TRY(write_section(cat, w, Handle::for_vcpu(v), kTagVcpu));
    w.u32v(kTagEnd);
    w.u32v(Handle::kVm);
    w.u32v(0);
    w.u32v(0);
    used = w.pos();
    if (!w.fits()) return Status::out_of_range;
    u64 payload = used - kHeaderSize;
    memcpy(w.at(payload_at), &payload, 8);
    return Status::ok;
}

Status snapshot_validate(RegisterCatalogue& cat, Span<const u8> in, SnapshotInfo& info) {
    return walk(cat, in, info, false);
}

Status snapshot_restore(RegisterCatalogue& cat, Span<const u8> in, SnapshotInfo& info) {
    HV_TRY(walk(cat, in, info, false));
    Status s = walk(cat, in, info, true);
    if (s != Status::ok) HV_LOG_RATELIMITED(warn, "snapshot: restore failed: %s\n", status_name(s));
    return s;
}

}  // namespace hv::reglist
