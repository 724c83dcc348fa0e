#include "core/reglist/catalogue.hpp"

#include "lib/string.hpp"

namespace hv::reglist {

RegisterClass* RegisterCatalogue::find_owner(u64 id) const {
    // The index holds every ID a class enumerated when added: one probe sequence, then that class confirms.
    for (usize i = index_slot(id);; i = (i + 1) & (kIndexSlots - 1)) {
        const u8 c = index_cls_[i];
        if (c == 0) break;
        if (index_id_[i] == id) {
            if (classes_[c - 1u]->owns(id)) return classes_[c - 1u];
            break;
        }
    }
    return scan_owner(id);
}

void RegisterCatalogue::index_insert(u64 id, u8 cls) {
    if (index_used_ >= kIndexMax) return;  // the rest are found by the scan
    usize i = index_slot(id);
    while (index_cls_[i] != 0) {
        if (index_id_[i] == id) return;
        i = (i + 1) & (kIndexSlots - 1);
    }
    index_id_[i] = id;
    index_cls_[i] = cls;
    ++index_used_;
}

RegisterClass* RegisterCatalogue::scan_owner(u64 id) const {
    // An ID has one owner (add() refuses a class claiming an ID another owns), so the order the classes are asked
    // in does not change the answer: first those whose IDs carry the same class field (KVM's coproc group: core,
    // sysreg, fw, or one of ours), then the rest -- an unknown ID still asks every class. With ~10 classes, each
    // owns() a search, this is most of a snapshot restore's per-record cost.
    const u64 k = reg_class(id);
    for (usize i = 0; i < classes_.size(); ++i)
        if (hint_[i] == k && classes_[i]->owns(id)) return classes_[i];
    for (usize i = 0; i < classes_.size(); ++i)
        if (hint_[i] != k && classes_[i]->owns(id)) return classes_[i];
    return nullptr;
}

Status RegisterCatalogue::add(RegisterClass& c) {
    if (classes_.full()) return Status::no_memory;
    // No two classes may own one ID. Enumerate the newcomer's IDs (VM target, or vCPU 0 as representative).
    const u32 v = c.scope() == Scope::vm ? Handle::kVm : 0;
    u64 hint = kNoHint;
    if (c.scope() == Scope::vm || vcpu_count_ > 0) {
        for (usize i = 0; i < c.count(v); ++i) {
            const u64 id = c.id_at(v, i);
            if (find_owner(id) != nullptr) return Status::invalid_argument;
            if (i == 0) hint = reg_class(id);
        }
        static_assert(kMaxClasses < 255, "index_cls_ holds class index + 1 in a u8");
        for (usize i = 0; i < c.count(v); ++i) index_insert(c.id_at(v, i), static_cast<u8>(classes_.size() + 1));
    }
    hint_[classes_.size()] = hint;
    return classes_.push_back(&c);
}

Status RegisterCatalogue::get_reg_list(Handle h, Span<u64> out, usize& n) const {
    if (!h.is_vm() && h.vcpu >= vcpu_count_) return Status::not_found;
    const Scope want = h.is_vm() ? Scope::vm : Scope::vcpu;
    usize total = 0;
    for (RegisterClass* c : classes_)
        if (c->scope() == want) total += c->count(h.vcpu);
    n = total;
    if (out.size() < total) return Status::out_of_range;
    usize k = 0;
    for (RegisterClass* c : classes_) {
        if (c->scope() != want) continue;
        for (usize i = 0, cnt = c->count(h.vcpu); i < cnt; ++i) {
            u64 id = c->id_at(h.vcpu, i);
            out[k++] = want == Scope::vm ? (id | kScopeVm) : id;
        }
    }
    return Status::ok;
}

usize RegisterCatalogue::reg_count(Handle h) const {
    if (!h.is_vm() && h.vcpu >= vcpu_count_) return 0;
    const Scope want = h.is_vm() ? Scope::vm : Scope::vcpu;
    usize total = 0;
    for (RegisterClass* c : classes_)
        if (c->scope() == want) total += c->count(h.vcpu);
    return total;
}

Status RegisterCatalogue::reg_id_at(Handle h, usize index, u64& id) const {
    if (!h.is_vm() && h.vcpu >= vcpu_count_) return Status::not_found;
    const Scope want = h.is_vm() ? Scope::vm : Scope::vcpu;
    for (RegisterClass* c : classes_) {
        if (c->scope() != want) continue;
        const usize cnt = c->count(h.vcpu);
        if (index < cnt) {
            id = c->id_at(h.vcpu, index);
            if (want == Scope::vm) id |= kScopeVm;
            return Status::ok;
        }
        index -= cnt;
    }
    return Status::out_of_range;
}

Status RegisterCatalogue::resolve(Handle h, u64 id, usize value_size, RegisterClass*& cls, u32& vcpu,
                                  RegisterClass* owner) const {
    if (!h.is_vm() && h.vcpu >= vcpu_count_) return Status::not_found;
    const u64 canonical = without_scope(id);
    cls = owner != nullptr ? owner : find_owner(canonical);
    if (cls == nullptr) {
        // Known register with another size field? That is a size error (KVM: EINVAL), not an unknown ID.
        static constexpr u64 kSizes[] = {kSizeU8, kSizeU16, kSizeU32, kSizeU64, kSizeU128};
        for (u64 size : kSizes) {
            u64 alt = (canonical & ~kSizeMask) | size;
            if (alt != canonical && find_owner(alt) != nullptr) return Status::wrong_size;
        }
        return Status::not_found;
    }
    if (cls->scope() == Scope::vm) {
        vcpu = Handle::kVm;  // VM copy, whichever handle asked
    } else {
        if (is_vm_scoped_id(id) || h.is_vm()) return Status::not_found;
        vcpu = h.vcpu;
    }
    if (value_size != reg_size(id)) return Status::wrong_size;
    return Status::ok;
}

Status RegisterCatalogue::get_one_reg(Handle h, u64 id, Span<u8> value) {
    RegisterClass* c = nullptr;
    u32 v = 0;
    HV_TRY(resolve(h, id, value.size(), c, v));
    return c->get(v, without_scope(id), value);
}

Status RegisterCatalogue::set_one_reg(Handle h, u64 id, Span<const u8> value) {
    RegisterClass* c = nullptr;
    u32 v = 0;
    HV_TRY(resolve(h, id, value.size(), c, v));
    return c->set(v, without_scope(id), value);
}

Status RegisterCatalogue::validate_one_reg(Handle h, u64 id, Span<const u8> value, Refusal& why) {
    return validate_one_reg(h, id, value, why, nullptr);
}

Status RegisterCatalogue::validate_one_reg(Handle h, u64 id, Span<const u8> value, Refusal& why, RegisterClass* owner) {
    RegisterClass* c = nullptr;
    u32 v = 0;
    HV_TRY(resolve(h, id, value.size(), c, v, owner));
    return c->validate(v, without_scope(id), value, why);
}

Status RegisterCatalogue::set_one_reg(Handle h, u64 id, Span<const u8> value, RegisterClass* owner) {
    RegisterClass* c = nullptr;
    u32 v = 0;
    HV_TRY(resolve(h, id, value.size(), c, v, owner));
    return c->set(v, without_scope(id), value);
}

Status RegisterCatalogue::get_u64(Handle h, u64 id, u64& value) {
    u8 buf[8] = {};
    const usize sz = reg_size(id);
    if (sz > 8) return Status::wrong_size;
    HV_TRY(get_one_reg(h, id, Span<u8>(buf, sz)));
    value = 0;
    memcpy(&value, buf, sz);
    return Status::ok;
}

Status RegisterCatalogue::set_u64(Handle h, u64 id, u64 value) {
    const usize sz = reg_size(id);
    if (sz > 8) return Status::wrong_size;
    u8 buf[8];
    memcpy(buf, &value, 8);
    return set_one_reg(h, id, Span<const u8>(buf, sz));
}

void RegisterCatalogue::reset_all() {
    for (RegisterClass* c : classes_) {
        if (c->scope() == Scope::vm) {
            c->reset(Handle::kVm);
        } else {
            for (u32 v = 0; v < vcpu_count_; ++v) c->reset(v);
        }
    }
}

void RegisterCatalogue::reset_vcpu(u32 vcpu) {
    if (vcpu >= vcpu_count_) return;
    for (RegisterClass* c : classes_)
        if (c->scope() == Scope::vcpu) c->reset(vcpu);
}

Result<Scope> RegisterCatalogue::scope_of(u64 id) const { return scope_of(id, find_owner(without_scope(id))); }

Result<Scope> RegisterCatalogue::scope_of(u64 id, const RegisterClass* c) const {
    if (c == nullptr) return Status::not_found;
    if (c->scope() == Scope::vcpu && is_vm_scoped_id(id)) return Status::not_found;
    return c->scope();
}

u8 RegisterCatalogue::restore_stage_of(u64 id) const {
    RegisterClass* c = find_owner(without_scope(id));
    return c == nullptr ? 0 : c->restore_stage();
}

u8 RegisterCatalogue::max_restore_stage() const {
    u8 m = 0;
    for (RegisterClass* c : classes_) m = max(m, c->restore_stage());
    return m;
}

Status RegisterCatalogue::check_snapshot(SnapshotImage& image, ImageRefusal& refused) {
    for (RegisterClass* c : classes_) HV_TRY(c->check_snapshot(image, refused));
    return Status::ok;
}

Status RegisterCatalogue::prepare_save() {
    for (RegisterClass* c : classes_) HV_TRY(c->before_save());
    return Status::ok;
}

}  // namespace hv::reglist
