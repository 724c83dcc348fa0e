// The register catalogue of one VM: every register class (core, system registers, timer, firmware, and later the
// vGIC / ITS / SDEI classes) registers here, and enumeration, GET and SET go through it. KVM's ONE_REG API in
// spirit: get_reg_list / get_one_reg / set_one_reg, on a VM handle or a vCPU handle.
//
// Scope: a class is VM-scoped or vCPU-scoped. The VM's list holds the VM-scoped IDs once (with kScopeVm set); a
// vCPU's list holds that vCPU's registers (IDs exactly as KVM's). GET/SET of a VM-scoped register through a vCPU
// handle, with or without the scope bit, reaches the one VM copy (KVM compatibility). A vCPU-scoped ID carrying
// the scope bit, or used on the VM handle, is unknown (not_found).
//
// Errors: not_found (KVM ENOENT: unknown ID), wrong_size (KVM EINVAL: the ID's size field or the buffer does not
// match the register), invalid_argument (KVM EINVAL: a value the destination cannot honour), busy (KVM EBUSY),
// out_of_range from get_reg_list (KVM E2BIG: buffer too small, `n` holds the required count).
#pragma once

#include "core/guest_memory.hpp"
#include "core/reglist/ids.hpp"
#include "lib/containers.hpp"

namespace hv::reglist {

enum class Scope : u8 { vm, vcpu };

// Why a value was refused (RegisterClass::validate), for a message a person can act on: the register's name, the
// value this destination supports, and the reason (`feature`: the missing feature's name, when there is one).
struct Refusal {
    const char* reg = nullptr;  // register name (nullptr: print the ID)
    u64 host = 0;               // what this destination offers
    bool has_host = false;
    const char* reason = nullptr;   // e.g. "PSCI version above this hypervisor's"
    const char* feature = nullptr;  // e.g. "RNDR" -> "feature RNDR missing"
};

// Who a request is addressed to.
struct Handle {
    static constexpr u32 kVm = 0xffffffffu;
    u32 vcpu = kVm;
    static constexpr Handle vm() { return {}; }
    static constexpr Handle for_vcpu(u32 v) { return {v}; }
    constexpr bool is_vm() const { return vcpu == kVm; }
};

// A snapshot being restored, seen before anything of it is applied (RegisterClass::check_snapshot): its records
// in stream order and guest RAM as it holds it. Nothing of the VM is reachable through it.
class SnapshotImage {
public:
    class RecordVisitor {
    public:
        // `id` as in the stream (VM-scoped IDs carry kScopeVm); `h` the section the record is in.
        [[nodiscard]] virtual Status record(Handle h, u64 id, Span<const u8> value) = 0;

    protected:
        ~RecordVisitor() = default;
    };
    // Every record, in stream order; the visitor's first error stops the walk and is returned.
    [[nodiscard]] virtual Status for_each_record(RecordVisitor& v) = 0;
    // Guest RAM as saved (the stream's RAM sections at their guest-physical addresses): reads only, writes are
    // refused (unsupported).
    virtual GuestMemory& ram() = 0;

protected:
    ~SnapshotImage() = default;
};

// A check of a whole snapshot refused one of its records: which, its value (first 8 bytes) and why.
struct ImageRefusal {
    u32 vcpu = Handle::kVm;  // the section of the record
    u64 id = 0;
    u64 saved = 0;
    Refusal why;
};

// A family of registers provided by one model. The model keeps its state; the class translates. IDs passed in and
// out never carry the scope bit. For VM-scoped classes `vcpu` is Handle::kVm.
class RegisterClass {
public:
    virtual const char* name() const = 0;
    virtual Scope scope() const = 0;
    virtual usize count(u32 vcpu) const = 0;
    virtual u64 id_at(u32 vcpu, usize index) const = 0;
    // True if `id` (exact, size field included) is one of this class's registers.
    virtual bool owns(u64 id) const = 0;
    // `value` has exactly reg_size(id) bytes (the catalogue checks), little-endian.
    [[nodiscard]] virtual Status get(u32 vcpu, u64 id, Span<u8> value) = 0;
    [[nodiscard]] virtual Status set(u32 vcpu, u64 id, Span<const u8> value) = 0;
    // A dry-run SET: the error set() would return for `value` on this destination, without changing anything
    // (snapshot restores check every record with it before applying any). `why` may be filled on refusal. Classes
    // whose values depend on other registers or on guest RAM (vGIC, ITS) check what can be checked alone and
    // leave the rest to set(). Default: nothing to check here.
    [[nodiscard]] virtual Status validate(u32 /*vcpu*/, u64 /*id*/, Span<const u8> /*value*/, Refusal& /*why*/) {
        return Status::ok;
    }
    // The rest of the dry run, once every record of a snapshot passed validate(): what depends on other records or
    // on the saved guest RAM (the ITS replays its records on a scratch ITS reading the image's tables), so a
    // snapshot whose apply would fail is refused before anything changes. Fills `refused` on refusal. Default:
    // nothing to check.
    [[nodiscard]] virtual Status check_snapshot(SnapshotImage& /*image*/, ImageRefusal& /*refused*/) {
        return Status::ok;
    }
    // Architectural / KVM reset values (VM reset, vCPU creation). Default: nothing to do.
    virtual void reset(u32 /*vcpu*/) {}
    // Restore ordering across classes (snapshot_restore): records are applied stage by stage, lowest first; within
    // a stage the VM section comes before the vCPU sections, and each class's records keep their enumeration
    // order. Stage 0: vCPU registers and firmware; 1: vGIC (GICD, line levels, GICR, ICC); 2: ITS (KVM: the
    // redistributors before the ITS). See docs/reglist.md "Restore order".
    virtual u8 restore_stage() const { return 0; }
    // Called once per class before a snapshot reads any register (vCPUs stopped): a model writes state that lives
    // in guest RAM there (vGIC: LPI pending tables; ITS: SAVE_TABLES). Default: nothing to do.
    [[nodiscard]] virtual Status before_save() { return Status::ok; }

protected:
    ~RegisterClass() = default;
};

class RegisterCatalogue {
public:
    static constexpr usize kMaxClasses = 24;

    explicit RegisterCatalogue(u32 vcpu_count = 0) : vcpu_count_(vcpu_count) {}
    void set_vcpu_count(u32 n) { vcpu_count_ = n; }
    u32 vcpu_count() const { return vcpu_count_; }

    // Adds a class. invalid_argument if it claims an ID another class already owns (checked over its
    // enumeration), no_memory when the catalogue is full.
    [[nodiscard]] Status add(RegisterClass& c);
    usize class_count() const { return classes_.size(); }

    // Writes the IDs of `h` to `out` (VM: VM-scoped IDs with kScopeVm; vCPU: its vCPU-scoped IDs). `n` is set to
    // the number of IDs in either case; out_of_range if out.size() < n (nothing meaningful written).
    [[nodiscard]] Status get_reg_list(Handle h, Span<u64> out, usize& n) const;
    // The same list one ID at a time, without a buffer: reg_count(h) IDs, reg_id_at(h, i) for i < reg_count(h)
    // (out_of_range past the end).
    usize reg_count(Handle h) const;
    [[nodiscard]] Status reg_id_at(Handle h, usize index, u64& id) const;
    [[nodiscard]] Status get_one_reg(Handle h, u64 id, Span<u8> value);
    // Every register of `h` in reg_id_at's order: fn(id, value) -> Status with the ID as reg_id_at gives it and
    // the value get_one_reg would read, through the owning class directly (no per-ID lookup: the snapshot
    // writer's loop). Stops at the first error (unsupported for a register wider than 16 bytes).
    template <typename F>
    [[nodiscard]] Status for_each_value(Handle h, F&& fn);
    [[nodiscard]] Status set_one_reg(Handle h, u64 id, Span<const u8> value);
    // Dry-run of set_one_reg (RegisterClass::validate): the same resolution errors, then the class's check.
    [[nodiscard]] Status validate_one_reg(Handle h, u64 id, Span<const u8> value, Refusal& why);
    // The snapshot code's per-record path: the class owning `id` looked up once (nullptr if none) and handed to
    // the forms below, which answer exactly as the ID-only ones (one lookup per record instead of one per call).
    RegisterClass* owner_of(u64 id) const { return find_owner(without_scope(id)); }
    [[nodiscard]] Result<Scope> scope_of(u64 id, const RegisterClass* owner) const;
    [[nodiscard]] Status validate_one_reg(Handle h, u64 id, Span<const u8> value, Refusal& why, RegisterClass* owner);
    [[nodiscard]] Status set_one_reg(Handle h, u64 id, Span<const u8> value, RegisterClass* owner);
    // A class as one byte, for code that keeps a lookup's answer per record (the snapshot restore records each
    // record's owner while validating and applies with it): class index + 1, 0 for nullptr (no owner).
    u8 slot_of(const RegisterClass* owner) const {
        for (usize i = 0; owner != nullptr && i < classes_.size(); ++i)
            if (classes_[i] == owner) return static_cast<u8>(i + 1);
        return 0;
    }
    RegisterClass* class_at_slot(u8 slot) const { return slot == 0 ? nullptr : classes_[slot - 1u]; }
    // Convenience for registers up to 64 bits.
    [[nodiscard]] Status get_u64(Handle h, u64 id, u64& value);
    [[nodiscard]] Status set_u64(Handle h, u64 id, u64 value);

    // Reset every register to its reset value: VM-scoped classes once, vCPU classes for every vCPU.
    void reset_all();
    void reset_vcpu(u32 vcpu);

    // The scope an ID resolves to (not_found if unknown), for tools and the snapshot writer.
    [[nodiscard]] Result<Scope> scope_of(u64 id) const;
    // Restore stage of the class owning `id` (0 if unknown) and the highest stage of any class.
    u8 restore_stage_of(u64 id) const;
    u8 max_restore_stage() const;
    // RegisterClass::check_snapshot() of every class, in the order they were added; stops at the first refusal.
    [[nodiscard]] Status check_snapshot(SnapshotImage& image, ImageRefusal& refused);
    // RegisterClass::before_save() of every class, in the order they were added; stops at the first error.
    [[nodiscard]] Status prepare_save();

private:
    // Resolve (handle, id) to a class and the vCPU argument to pass; Status on failure.
    // `owner`: the class owner_of(id) gave, if the caller has it (nullptr: look it up).
    [[nodiscard]] Status resolve(Handle h, u64 id, usize value_size, RegisterClass*& cls, u32& vcpu,
                                 RegisterClass* owner = nullptr) const;
    RegisterClass* find_owner(u64 canonical_id) const;
    RegisterClass* scan_owner(u64 canonical_id) const;
    void index_insert(u64 canonical_id, u8 cls);

    FixedVector<RegisterClass*, kMaxClasses> classes_;
    // Per class, the ID class field (reg_class) of the first ID it enumerated when added, kNoHint if none: the
    // classes whose hint matches an ID are asked first (IDs of the other fields skip their owns() searches).
    static constexpr u64 kNoHint = ~u64{0};
    u64 hint_[kMaxClasses] = {};
    // ID index (filled by add() from each class's enumeration): open addressing, linear probing, at most 3/4
    // full (IDs past that are found by the scan). A hit is confirmed by the class's owns() and a miss falls back
    // to scan_owner(), so a class whose ID list changes after add() (the vGIC's SPI count, vCPUs added later) is
    // answered exactly as before; the index only spares asking ~10 classes in turn for every record.
    static constexpr usize kIndexBits = 12;
    static constexpr usize kIndexSlots = usize{1} << kIndexBits;
    static constexpr usize kIndexMax = kIndexSlots / 4 * 3;
    static constexpr usize index_slot(u64 id) {
        return static_cast<usize>((id * 0x9e3779b97f4a7c15ull) >> (64 - kIndexBits));
    }
    u64 index_id_[kIndexSlots] = {};
    u8 index_cls_[kIndexSlots] = {};  // class index + 1; 0: empty slot
    usize index_used_ = 0;
    u32 vcpu_count_;
};

template <typename F>
Status RegisterCatalogue::for_each_value(Handle h, F&& fn) {
    if (!h.is_vm() && h.vcpu >= vcpu_count_) return Status::not_found;
    const Scope want = h.is_vm() ? Scope::vm : Scope::vcpu;
    for (RegisterClass* c : classes_) {
        if (c->scope() != want) continue;
        for (usize i = 0, n = c->count(h.vcpu); i < n; ++i) {
            const u64 id = c->id_at(h.vcpu, i);
            const usize sz = reg_size(id);
            u8 buf[16] = {};
            if (sz > sizeof buf) return Status::unsupported;
            HV_TRY(c->get(h.vcpu, id, Span<u8>(buf, sz)));
            HV_TRY(fn(want == Scope::vm ? (id | kScopeVm) : id, Span<const u8>(buf, sz)));
        }
    }
    return Status::ok;
}

}  // namespace hv::reglist
