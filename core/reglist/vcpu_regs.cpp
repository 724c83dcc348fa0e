#include "core/reglist/vcpu_regs.hpp"

#include "core/reglist/id_index.hpp"
#include "lib/log.hpp"
#include "lib/string.hpp"

namespace hv::reglist {

namespace {

struct CoreTable {
    CoreRegDesc e[kCoreRegCount];
};

constexpr CoreTable make_core_table() {
    CoreTable t{};
    usize k = 0;
    for (u16 i = 0; i < 31; ++i) t.e[k++] = {core_id(kSizeU64, 8u * i), static_cast<u16>(8 * i)};
    t.e[k++] = {core_id(kSizeU64, 0xf8), 0xf8};    // sp (SP_EL0)
    t.e[k++] = {core_id(kSizeU64, 0x100), 0x100};  // pc
    t.e[k++] = {core_id(kSizeU64, 0x108), 0x108};  // pstate
    t.e[k++] = {core_id(kSizeU64, 0x110), 0x110};  // sp_el1
    t.e[k++] = {core_id(kSizeU64, 0x118), 0x118};  // elr_el1
    for (u16 i = 0; i < 5; ++i) t.e[k++] = {core_id(kSizeU64, 0x120u + 8u * i), static_cast<u16>(0x120 + 8 * i)};
    for (u16 i = 0; i < 32; ++i) t.e[k++] = {core_id(kSizeU128, 0x150u + 16u * i), static_cast<u16>(0x150 + 16 * i)};
    t.e[k++] = {core_id(kSizeU32, 0x350), 0x350};  // fpsr
    t.e[k++] = {core_id(kSizeU32, 0x354), 0x354};  // fpcr
    return t;
}
constexpr CoreTable kCore = make_core_table();
static_assert(kCore.e[kCoreRegCount - 1].id == 0x60200000001000d5ull);  // fpcr, as KVM numbers it
static_assert(kCore.e[32].id == 0x6030000000100040ull);                 // pc

constexpr u32 kPstateOffset = 0x108;

// The KVM_REG_ARM64_SYSREG class: every register of the EL1 table KVM lists (core/el1_regs.hpp) plus the two counts
// KVM exposes as registers (TIMER_CNT, PTIMER_CNT), sorted by ID (the order KVM's list has within the class).
struct SysTable {
    SysRegDesc e[kSysRegListCount];
};
constexpr SysTable make_sys_table() {
    SysTable t{};
    usize k = 0;
    for (const el1::Reg& r : el1::kRegs)
        if (el1::has_kvm_id(r)) t.e[k++] = {sysreg_key_id(el1::kvm_key(r)), r.index, SysRegKind::plain};
    t.e[k++] = {kTimerCnt, SysReg::CNTVOFF_EL2, SysRegKind::virtual_count};
    t.e[k++] = {kPtimerCnt, SysReg::count, SysRegKind::physical_count};
    for (usize i = 1; i < k; ++i)  // insertion sort by ID
        for (usize j = i; j > 0 && t.e[j - 1].id > t.e[j].id; --j) {
            const SysRegDesc tmp = t.e[j];
            t.e[j] = t.e[j - 1];
            t.e[j - 1] = tmp;
        }
    return t;
}
constexpr SysTable kSysTable = make_sys_table();
constexpr const SysRegDesc (&kSys)[kSysRegListCount] = kSysTable.e;
// KVM's timer IDs (ids.hpp, the uapi swap included) come out of the table.
constexpr u64 id_of(SysReg r) {
    for (const SysRegDesc& d : kSys)
        if (d.slot == r && d.kind == SysRegKind::plain) return d.id;
    return 0;
}
static_assert(id_of(SysReg::CNTV_CTL_EL0) == kTimerCtl && id_of(SysReg::CNTV_CVAL_EL0) == kTimerCval);
static_assert(id_of(SysReg::CNTP_CTL_EL0) == kPtimerCtl && id_of(SysReg::CNTP_CVAL_EL0) == kPtimerCval);
static_assert(id_of(SysReg::SCTLR_EL1) == 0x603000000013c080ull && kSys[0].id == 0x6030000000138004ull);  // DBGBVR0_EL1

constexpr bool sys_sorted() {
    for (usize i = 1; i < kSysRegListCount; ++i)
        if (kSys[i - 1].id >= kSys[i].id) return false;
    return true;
}
static_assert(sys_sorted(), "sysreg table must be sorted by ID");
// Every SysReg slot appears exactly once (CNTVOFF_EL2 as the slot behind TIMER_CNT); only PTIMER_CNT has none.
constexpr bool sys_covers_context() {
    for (usize s = 0; s < kSysRegCount; ++s) {
        usize hits = 0;
        for (const SysRegDesc& d : kSys)
            if (static_cast<usize>(d.slot) == s) ++hits;
        if (hits != 1) return false;
    }
    for (const SysRegDesc& d : kSys)
        if ((d.slot == SysReg::count) != (d.kind == SysRegKind::physical_count)) return false;
    return true;
}
static_assert(sys_covers_context(), "every VcpuContext system register must be in the list exactly once");

constexpr IdIndex<9> kSysIndex(kSys, kSysRegListCount);  // 512 slots for the ~170 IDs
static_assert(kSysRegListCount * 2 <= decltype(kSysIndex)::kSlots);

const SysRegDesc* find_sys(u64 id) {
    const int i = kSysIndex.find(kSys, id);
    return i < 0 ? nullptr : &kSys[i];
}

constexpr bool core_all_in_class() {
    for (const CoreRegDesc& d : kCore.e)
        if ((d.id & kClassMask) != kClassCore) return false;
    return true;
}
static_assert(core_all_in_class(), "find_core filters on KVM_REG_ARM_CORE first");

// KVM_REG_ARM_CORE_REG: the low 16 bits are the offset in struct kvm_regs / 4; the table is in offset order.
constexpr u64 core_index(u64 id) { return id & 0xffff; }
constexpr bool core_sorted() {
    for (usize i = 1; i < kCoreRegCount; ++i)
        if (core_index(kCore.e[i - 1].id) >= core_index(kCore.e[i].id)) return false;
    return true;
}
static_assert(core_sorted(), "one register per offset (find_core's slot table)");

// Table index + 1 of the register at each offset (0: none), so a lookup is one load instead of a search.
constexpr usize kCoreOffsets = [] {
    u64 m = 0;
    for (const CoreRegDesc& d : kCore.e) m = core_index(d.id) > m ? core_index(d.id) : m;
    return static_cast<usize>(m) + 1;
}();
struct CoreSlots {
    u8 e[kCoreOffsets] = {};
};
static_assert(kCoreRegCount < 255);
constexpr CoreSlots kCoreSlot = [] {
    CoreSlots t;
    for (usize i = 0; i < kCoreRegCount; ++i) t.e[core_index(kCore.e[i].id)] = static_cast<u8>(i + 1);
    return t;
}();

const CoreRegDesc* find_core(u64 id) {
    // Every catalogue lookup may ask each class in turn: IDs of other classes leave before the lookup.
    if ((id & kClassMask) != kClassCore || core_index(id) >= kCoreOffsets) return nullptr;
    const u8 s = kCoreSlot.e[core_index(id)];
    return s != 0 && kCore.e[s - 1u].id == id ? &kCore.e[s - 1u] : nullptr;
}

}  // namespace

const CoreRegDesc* core_reg_table() { return kCore.e; }
const SysRegDesc* sysreg_table() { return kSys; }

// ---- core ----

bool CoreRegisterClass::owns(u64 id) const { return find_core(id) != nullptr; }

Status CoreRegisterClass::get(u32 vcpu, u64 id, Span<u8> value) {
    const CoreRegDesc* d = find_core(id);
    VcpuContext* c = ctx_.context(vcpu);
    if (d == nullptr || c == nullptr) return Status::not_found;
    memcpy(value.data(), reinterpret_cast<const u8*>(&c->core) + d->offset, reg_size(id));
    return Status::ok;
}

namespace {

// M[4] (AArch32) is refused; of the AArch64 modes only EL0t, EL1t and EL1h exist for an EL1 guest.
bool pstate_mode_ok(const CoreRegDesc& d, Span<const u8> value) {
    if (d.offset != kPstateOffset) return true;
    u64 v = 0;
    memcpy(&v, value.data(), 8);
    const u64 mode = v & 0x1f;
    if (mode == 0x0 || mode == 0x4 || mode == 0x5) return true;
    HV_LOG_RATELIMITED(warn, "reglist: PSTATE mode %#llx refused", static_cast<unsigned long long>(mode));
    return false;
}

}  // namespace

Status CoreRegisterClass::validate(u32 vcpu, u64 id, Span<const u8> value, Refusal& why) {
    const CoreRegDesc* d = find_core(id);
    if (d == nullptr || ctx_.context(vcpu) == nullptr) return Status::not_found;
    if (pstate_mode_ok(*d, value)) return Status::ok;
    why.reason = "PSTATE mode other than EL0t, EL1t or EL1h";
    return Status::invalid_argument;
}

Status CoreRegisterClass::set(u32 vcpu, u64 id, Span<const u8> value) {
    const CoreRegDesc* d = find_core(id);
    VcpuContext* c = ctx_.context(vcpu);
    if (d == nullptr || c == nullptr) return Status::not_found;
    if (!pstate_mode_ok(*d, value)) return Status::invalid_argument;
    memcpy(reinterpret_cast<u8*>(&c->core) + d->offset, value.data(), reg_size(id));
    return Status::ok;
}

void CoreRegisterClass::reset(u32 vcpu) {
    VcpuContext* c = ctx_.context(vcpu);
    if (c == nullptr) return;
    c->core = CoreRegs{};
    c->core.pstate = 0x3c5;  // EL1h, DAIF masked
}

// ---- system registers and timer ----

bool SysRegisterClass::owns(u64 id) const { return find_sys(id) != nullptr; }

Status SysRegisterClass::get(u32 vcpu, u64 id, Span<u8> value) {
    const SysRegDesc* d = find_sys(id);
    VcpuContext* c = ctx_.context(vcpu);
    if (d == nullptr || c == nullptr) return Status::not_found;
    u64 v = 0;
    switch (d->kind) {
        case SysRegKind::plain:
            v = c->sysreg(d->slot);
            break;
        case SysRegKind::virtual_count:
            v = clock_.now() - c->sysreg(SysReg::CNTVOFF_EL2);
            break;
        case SysRegKind::physical_count:
            v = clock_.now();
            break;
    }
    memcpy(value.data(), &v, 8);
    return Status::ok;
}

Status SysRegisterClass::set(u32 vcpu, u64 id, Span<const u8> value) {
    const SysRegDesc* d = find_sys(id);
    VcpuContext* c = ctx_.context(vcpu);
    if (d == nullptr || c == nullptr) return Status::not_found;
    u64 v = 0;
    memcpy(&v, value.data(), 8);
    switch (d->kind) {
        case SysRegKind::plain:
            c->sysreg(d->slot) = v;
            break;
        case SysRegKind::virtual_count:
            // CNTVCT = CNTPCT - CNTVOFF: choose the offset that makes the guest read `v` now.
            c->sysreg(SysReg::CNTVOFF_EL2) = clock_.now() - v;
            break;
        case SysRegKind::physical_count:
            // The guest reads CNTPCT_EL0 untrapped and nothing can offset it (CNTPOFF_EL2 needs FEAT_ECV): the
            // physical counter is the machine's. Accepted and ignored, so a snapshot taken elsewhere restores.
            break;
    }
    return Status::ok;
}

void SysRegisterClass::reset(u32 vcpu) {
    VcpuContext* c = ctx_.context(vcpu);
    if (c == nullptr) return;
    el1::reset(c->sys, default_mpidr(vcpu));        // the table's reset values, as vcpu_reset
    c->sysreg(SysReg::CNTVOFF_EL2) = clock_.now();  // a new VM: the virtual counter starts at 0
}

}  // namespace hv::reglist
