#include "vgic/reglist_class.hpp"

#include "lib/log.hpp"
#include "lib/string.hpp"

namespace hv::vgic {

using reglist::kArchArm64;
using reglist::kClassGicd;
using reglist::kClassGicr;
using reglist::kClassIcc;
using reglist::kClassLineLevel;
using reglist::kSizeU64;

namespace {

u64 load(Span<const u8> v) {
    u64 x = 0;
    memcpy(&x, v.data(), min<usize>(v.size(), 8));
    return x;
}
void store(Span<u8> out, u64 x) { memcpy(out.data(), &x, min<usize>(out.size(), 8)); }

constexpr u32 offset_of(u64 id) { return gic_reg_offset(static_cast<u16>(id & 0xffff)); }
constexpr u8 width_of(u64 id) { return static_cast<u8>(reglist::reg_size(id)); }

}  // namespace

u64 icc_id(IccReg reg) { return kArchArm64 | kSizeU64 | kClassIcc | icc_index(reg); }

// ---- GICD ----

u64 GicdRegisterClass::id_at(u32, usize i) const {
    if (i >= count(0)) return 0;
    SaveReg r = gicd_save_at(vgic_.nr_irqs(), i);
    return gicd_id(r.offset, r.width);
}

bool GicdRegisterClass::owns(u64 id) const {
    if (reglist::reg_class(id) != kClassGicd) return false;
    // O(1): a snapshot save/restore looks up every register (a linear scan made it quadratic in the SPI count).
    const i64 i = gicd_save_index(vgic_.nr_irqs(), offset_of(id));
    return i >= 0 && id_at(0, static_cast<usize>(i)) == id;
}

Status GicdRegisterClass::get(u32, u64 id, Span<u8> value) {
    if (!owns(id)) return Status::not_found;
    u64 v = 0;
    HV_TRY(vgic_.dist_save_read(offset_of(id), width_of(id), v));
    store(value, v);
    return Status::ok;
}

Status GicdRegisterClass::validate(u32, u64 id, Span<const u8> value, reglist::Refusal& why) {
    if (!owns(id)) return Status::not_found;
    const u64 v = load(value);
    if (offset_of(id) == off(GicdReg::IIDR)) {
        // Only the implementation revision decides (restore_iidr): one this vGIC implements.
        const u64 rev = gic_iidr::Revision::get(v);
        if (rev >= kImplRevMin && rev <= kImplRevLatest) return Status::ok;
        why.reg = "GICD_IIDR";
        u64 ours = 0;
        if (vgic_.dist_save_read(off(GicdReg::IIDR), 4, ours) == Status::ok) why.host = ours, why.has_host = true;
        why.reason = "implementation revision not implemented by this vGIC (2..3)";
        return Status::invalid_argument;
    }
    if (offset_of(id) == off(GicdReg::TYPER)) {
        u64 ours = 0;
        HV_TRY(vgic_.dist_save_read(off(GicdReg::TYPER), 4, ours));
        if ((v & 0xffffffffu) == ours) return Status::ok;
        why.reg = "GICD_TYPER";
        why.host = ours;
        why.has_host = true;
        why.reason = "another distributor (SPI count, ID bits, features)";
        return Status::invalid_argument;
    }
    return Status::ok;
}

Status GicdRegisterClass::set(u32, u64 id, Span<const u8> value) {
    if (!owns(id)) return Status::not_found;
    Status s = restore_dist_value(vgic_, offset_of(id), width_of(id), load(value));
    if (s != Status::ok) HV_LOG_RATELIMITED(warn, "reglist: GICD %#x refused: %s", offset_of(id), status_name(s));
    return s;
}

// ---- GICR ----

u64 GicrRegisterClass::id_at(u32, usize i) const {
    if (i >= gicr_save_count()) return 0;
    SaveReg r = gicr_save_at(i);
    return gicr_id(r.offset, r.width);
}

bool GicrRegisterClass::owns(u64 id) const {
    if (reglist::reg_class(id) != kClassGicr) return false;
    for (usize i = 0; i < gicr_save_count(); ++i)
        if (id_at(0, i) == id) return true;
    return false;
}

Status GicrRegisterClass::get(u32 vcpu, u64 id, Span<u8> value) {
    if (!owns(id) || vcpu >= vgic_.vcpu_count()) return Status::not_found;
    u64 v = 0;
    HV_TRY(vgic_.redist_save_read(vcpu, offset_of(id), width_of(id), v));
    store(value, v);
    return Status::ok;
}

Status GicrRegisterClass::set(u32 vcpu, u64 id, Span<const u8> value) {
    if (!owns(id) || vcpu >= vgic_.vcpu_count()) return Status::not_found;
    Status s = restore_redist_value(vgic_, vcpu, offset_of(id), width_of(id), load(value));
    if (s != Status::ok)
        HV_LOG_RATELIMITED(warn, "reglist: GICR%u %#x refused: %s", vcpu, offset_of(id), status_name(s));
    return s;
}

// ---- ICC ----

u64 IccRegisterClass::id_at(u32, usize i) const {
    return i < icc_save_count(ich_vtr_) ? icc_id(icc_save_at(ich_vtr_, i)) : 0;
}

Result<IccReg> IccRegisterClass::find(u64 id) const {
    if (reglist::reg_class(id) != kClassIcc) return Status::not_found;
    for (usize i = 0, n = icc_save_count(ich_vtr_); i < n; ++i) {
        IccReg r = icc_save_at(ich_vtr_, i);
        if (icc_id(r) == id) return r;
    }
    return Status::not_found;
}

bool IccRegisterClass::owns(u64 id) const { return find(id).ok(); }

Status IccRegisterClass::get(u32 vcpu, u64 id, Span<u8> value) {
    Result<IccReg> r = find(id);
    if (!r.ok() || vcpu >= vgic_.vcpu_count()) return Status::not_found;
    u64 v = 0;
    HV_TRY(vgic_.icc_read(vcpu, r.value(), v));
    store(value, v);
    return Status::ok;
}

Status IccRegisterClass::set(u32 vcpu, u64 id, Span<const u8> value) {
    Result<IccReg> r = find(id);
    if (!r.ok() || vcpu >= vgic_.vcpu_count()) return Status::not_found;
    Status s = vgic_.icc_write(vcpu, r.value(), load(value));
    if (s != Status::ok)
        HV_LOG_RATELIMITED(warn, "reglist: ICC %#llx of vCPU %u refused: %s",
                           static_cast<unsigned long long>(id & 0xffff), vcpu, status_name(s));
    return s;
}

Status IccRegisterClass::validate(u32 vcpu, u64 id, Span<const u8> value, reglist::Refusal& why) {
    Result<IccReg> r = find(id);
    if (!r.ok() || vcpu >= vgic_.vcpu_count()) return Status::not_found;
    const Status s = vgic_.icc_check(vcpu, r.value(), load(value));
    if (s != Status::ok) {
        why.reg = r.value() == IccReg::SRE    ? "ICC_SRE_EL1"
                  : r.value() == IccReg::CTLR ? "ICC_CTLR_EL1"
                                              : "ICC_AP<n>R<m>_EL1";
        why.reason = r.value() == IccReg::SRE ? "system-register interface only (SRE 1)"
                     : r.value() == IccReg::CTLR
                         ? "CPU interface capabilities (PRIbits, IDbits, SEIS, A3V) differ from this host's"
                         : "active-priority register not implemented with this host's PRIbits";
    }
    return s;
}

// ---- line levels ----

u64 LineLevelRegisterClass::id_at(u32, usize i) const {
    const u32 n = vgic_.vcpu_count();
    if (i < n) return line_level_id(static_cast<u32>(i), 0);
    if (i >= count(0)) return 0;
    return line_level_id(0, kNumPrivate + static_cast<u32>(i - n) * 32);
}

bool LineLevelRegisterClass::owns(u64 id) const {
    if ((id & ~u64{0xffff}) != (kArchArm64 | reglist::kSizeU32 | kClassLineLevel)) return false;
    const u16 index = static_cast<u16>(id & 0xffff);
    if (index >> 13) return false;  // [15:13] unused
    const u32 first = line_level_first_intid(index);
    if (first == 0) return line_level_vcpu(index) < vgic_.vcpu_count();
    return line_level_vcpu(index) == 0 && first < vgic_.nr_irqs();
}

Status LineLevelRegisterClass::get(u32, u64 id, Span<u8> value) {
    if (!owns(id)) return Status::not_found;
    const u16 index = static_cast<u16>(id & 0xffff);
    u32 bits = 0;
    HV_TRY(vgic_.line_level_read(line_level_vcpu(index), line_level_first_intid(index), bits));
    store(value, bits);
    return Status::ok;
}

Status LineLevelRegisterClass::set(u32, u64 id, Span<const u8> value) {
    if (!owns(id)) return Status::not_found;
    const u16 index = static_cast<u16>(id & 0xffff);
    return vgic_.line_level_write(line_level_vcpu(index), line_level_first_intid(index), static_cast<u32>(load(value)));
}

}  // namespace hv::vgic
