#include "core/reglist/vcpu_regs.hpp"

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

constexpr u64 sr(u32 op0, u32 op1, u32 crn, u32 crm, u32 op2) { return sysreg_id(op0, op1, crn, crm, op2); }

// Sorted by ID (the order KVM's list has within the SYSREG class). Encodings: DDI0487 D19 / "System register index".
constexpr SysRegDesc kSys[kSysRegListCount - 1] = {
    {sr(2, 0, 0, 2, 2), SysReg::MDSCR_EL1, 0, false},
    {sr(3, 0, 0, 0, 5), SysReg::MPIDR_EL1, 0, false},  // reset: default_mpidr(vcpu)
    {sr(3, 0, 1, 0, 0), SysReg::SCTLR_EL1, 0x00c50078, false},
    {sr(3, 0, 1, 0, 1), SysReg::ACTLR_EL1, 0, false},
    {sr(3, 0, 1, 0, 2), SysReg::CPACR_EL1, 0, false},
    {sr(3, 0, 2, 0, 0), SysReg::TTBR0_EL1, 0, false},
    {sr(3, 0, 2, 0, 1), SysReg::TTBR1_EL1, 0, false},
    {sr(3, 0, 2, 0, 2), SysReg::TCR_EL1, 0, false},
    {sr(3, 0, 5, 1, 0), SysReg::AFSR0_EL1, 0, false},
    {sr(3, 0, 5, 1, 1), SysReg::AFSR1_EL1, 0, false},
    {sr(3, 0, 5, 2, 0), SysReg::ESR_EL1, 0, false},
    {sr(3, 0, 6, 0, 0), SysReg::FAR_EL1, 0, false},
    {sr(3, 0, 7, 4, 0), SysReg::PAR_EL1, 0, false},
    {sr(3, 0, 10, 2, 0), SysReg::MAIR_EL1, 0, false},
    {sr(3, 0, 10, 3, 0), SysReg::AMAIR_EL1, 0, false},
    {sr(3, 0, 12, 0, 0), SysReg::VBAR_EL1, 0, false},
    {sr(3, 0, 13, 0, 1), SysReg::CONTEXTIDR_EL1, 0, false},
    {sr(3, 0, 13, 0, 4), SysReg::TPIDR_EL1, 0, false},
    {sr(3, 0, 14, 1, 0), SysReg::CNTKCTL_EL1, 0, false},
    {sr(3, 2, 0, 0, 0), SysReg::CSSELR_EL1, 0, false},
    {sr(3, 3, 13, 0, 2), SysReg::TPIDR_EL0, 0, false},
    {sr(3, 3, 13, 0, 3), SysReg::TPIDRRO_EL0, 0, false},
    {kTimerCval, SysReg::CNTV_CVAL_EL0, 0, false},  // (3,3,14,0,2): KVM's TIMER_CVAL
    {kTimerCtl, SysReg::CNTV_CTL_EL0, 0, false},    // (3,3,14,3,1)
};
// TIMER_CNT (3,3,14,3,2) sorts last; it is kept apart because it is derived.
constexpr SysRegDesc kTimerCntDesc = {kTimerCnt, SysReg::CNTVOFF_EL2, 0, true};

struct SysTable {
    SysRegDesc e[kSysRegListCount];
};
constexpr SysTable make_sys_table() {
    SysTable t{};
    for (usize i = 0; i + 1 < kSysRegListCount; ++i) t.e[i] = kSys[i];
    t.e[kSysRegListCount - 1] = kTimerCntDesc;
    return t;
}
constexpr SysTable kSysTable = make_sys_table();

constexpr bool sys_sorted() {
    for (usize i = 1; i < kSysRegListCount; ++i)
        if (kSysTable.e[i - 1].id >= kSysTable.e[i].id) return false;
    return true;
}
static_assert(sys_sorted(), "sysreg table must be sorted by ID");
// Every SysReg slot except CNTVOFF_EL2 (which backs TIMER_CNT) appears exactly once.
constexpr bool sys_covers_context() {
    for (usize s = 0; s < kSysRegCount; ++s) {
        usize hits = 0;
        for (const SysRegDesc& d : kSysTable.e)
            if (static_cast<usize>(d.slot) == s) ++hits;
        if (hits != 1) return false;
    }
    return true;
}
static_assert(sys_covers_context(), "every VcpuContext system register must be in the list exactly once");

const SysRegDesc* find_sys(u64 id) {
    usize lo = 0, hi = kSysRegListCount;
    while (lo < hi) {
        usize mid = (lo + hi) / 2;
        if (kSysTable.e[mid].id == id) return &kSysTable.e[mid];
        if (kSysTable.e[mid].id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return nullptr;
}

const CoreRegDesc* find_core(u64 id) {
    for (const CoreRegDesc& d : kCore.e)
        if (d.id == id) return &d;
    return nullptr;
}

}  // namespace

const CoreRegDesc* core_reg_table() { return kCore.e; }
const SysRegDesc* sysreg_table() { return kSysTable.e; }

// ---- core ----

bool CoreRegisterClass::owns(u64 id) const { return find_core(id) != nullptr; }

Status CoreRegisterClass::get(u32 vcpu, u64 id, Span<u8> value) {
    const CoreRegDesc* d = find_core(id);
    VcpuContext* c = ctx_.context(vcpu);
    if (d == nullptr || c == nullptr) return Status::not_found;
    memcpy(value.data(), reinterpret_cast<const u8*>(&c->core) + d->offset, reg_size(id));
    return Status::ok;
}

Status CoreRegisterClass::set(u32 vcpu, u64 id, Span<const u8> value) {
    const CoreRegDesc* d = find_core(id);
    VcpuContext* c = ctx_.context(vcpu);
    if (d == nullptr || c == nullptr) return Status::not_found;
    if (d->offset == kPstateOffset) {
        u64 v = 0;
        memcpy(&v, value.data(), 8);
        // M[4] (AArch32) is refused; of the AArch64 modes only EL0t, EL1t and EL1h exist for an EL1 guest.
        const u64 mode = v & 0x1f;
        if (mode != 0x0 && mode != 0x4 && mode != 0x5) {
            HV_LOG_RATELIMITED(warn, "reglist: PSTATE mode %#llx refused", static_cast<unsigned long long>(mode));
            return Status::invalid_argument;
        }
    }
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
    u64 v = d->counter ? clock_.now() - c->sysreg(SysReg::CNTVOFF_EL2) : c->sysreg(d->slot);
    memcpy(value.data(), &v, 8);
    return Status::ok;
}

Status SysRegisterClass::set(u32 vcpu, u64 id, Span<const u8> value) {
    const SysRegDesc* d = find_sys(id);
    VcpuContext* c = ctx_.context(vcpu);
    if (d == nullptr || c == nullptr) return Status::not_found;
    u64 v = 0;
    memcpy(&v, value.data(), 8);
    if (d->counter) {
        // CNTVCT = CNTPCT - CNTVOFF: choose the offset that makes the guest read `v` now.
        c->sysreg(SysReg::CNTVOFF_EL2) = clock_.now() - v;
    } else {
        c->sysreg(d->slot) = v;
    }
    return Status::ok;
}

void SysRegisterClass::reset(u32 vcpu) {
    VcpuContext* c = ctx_.context(vcpu);
    if (c == nullptr) return;
    for (usize i = 0; i < kSysRegListCount; ++i) {
        const SysRegDesc& d = kSysTable.e[i];
        if (!d.counter) c->sysreg(d.slot) = d.reset;
    }
    c->sysreg(SysReg::MPIDR_EL1) = default_mpidr(vcpu);
    c->sysreg(SysReg::CNTVOFF_EL2) = clock_.now();  // the virtual counter starts at 0
}

}  // namespace hv::reglist
