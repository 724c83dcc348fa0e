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
constexpr SysRegDesc plain(u64 id, SysReg slot, u64 reset = 0) { return {id, slot, reset, SysRegKind::plain}; }
constexpr SysRegDesc kSys[kSysRegListCount] = {
    plain(sr(2, 0, 0, 2, 2), SysReg::MDSCR_EL1),
    plain(sr(3, 0, 0, 0, 5), SysReg::MPIDR_EL1),  // reset: default_mpidr(vcpu)
    plain(sr(3, 0, 1, 0, 0), SysReg::SCTLR_EL1, 0x00c50078),
    plain(sr(3, 0, 1, 0, 1), SysReg::ACTLR_EL1),
    plain(sr(3, 0, 1, 0, 2), SysReg::CPACR_EL1),
    plain(sr(3, 0, 2, 0, 0), SysReg::TTBR0_EL1),
    plain(sr(3, 0, 2, 0, 1), SysReg::TTBR1_EL1),
    plain(sr(3, 0, 2, 0, 2), SysReg::TCR_EL1),
    plain(sr(3, 0, 5, 1, 0), SysReg::AFSR0_EL1),
    plain(sr(3, 0, 5, 1, 1), SysReg::AFSR1_EL1),
    plain(sr(3, 0, 5, 2, 0), SysReg::ESR_EL1),
    plain(sr(3, 0, 6, 0, 0), SysReg::FAR_EL1),
    plain(sr(3, 0, 7, 4, 0), SysReg::PAR_EL1),
    plain(sr(3, 0, 10, 2, 0), SysReg::MAIR_EL1),
    plain(sr(3, 0, 10, 3, 0), SysReg::AMAIR_EL1),
    plain(sr(3, 0, 12, 0, 0), SysReg::VBAR_EL1),
    plain(sr(3, 0, 13, 0, 1), SysReg::CONTEXTIDR_EL1),
    plain(sr(3, 0, 13, 0, 4), SysReg::TPIDR_EL1),
    plain(sr(3, 0, 14, 1, 0), SysReg::CNTKCTL_EL1),
    plain(sr(3, 2, 0, 0, 0), SysReg::CSSELR_EL1),
    plain(sr(3, 3, 13, 0, 2), SysReg::TPIDR_EL0),
    plain(sr(3, 3, 13, 0, 3), SysReg::TPIDRRO_EL0),
    {kPtimerCnt, SysReg::count, 0, SysRegKind::physical_count},      // (3,3,14,0,1): CNTPCT_EL0
    plain(kTimerCval, SysReg::CNTV_CVAL_EL0),                        // (3,3,14,0,2): KVM's TIMER_CVAL
    plain(kPtimerCtl, SysReg::CNTP_CTL_EL0),                         // (3,3,14,2,1)
    plain(kPtimerCval, SysReg::CNTP_CVAL_EL0),                       // (3,3,14,2,2)
    plain(kTimerCtl, SysReg::CNTV_CTL_EL0),                          // (3,3,14,3,1)
    {kTimerCnt, SysReg::CNTVOFF_EL2, 0, SysRegKind::virtual_count},  // (3,3,14,3,2): KVM's TIMER_CNT
};

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

const SysRegDesc* find_sys(u64 id) {
    usize lo = 0, hi = kSysRegListCount;
    while (lo < hi) {
        usize mid = (lo + hi) / 2;
        if (kSys[mid].id == id) return &kSys[mid];
        if (kSys[mid].id < id)
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
    for (usize i = 0; i < kSysRegListCount; ++i) {
        const SysRegDesc& d = kSys[i];
        if (d.kind == SysRegKind::plain) c->sysreg(d.slot) = d.reset;
    }
    c->sysreg(SysReg::MPIDR_EL1) = default_mpidr(vcpu);
    c->sysreg(SysReg::CNTVOFF_EL2) = clock_.now();  // the virtual counter starts at 0
}

}  // namespace hv::reglist
