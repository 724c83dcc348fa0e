// The vCPU register classes KVM defines: core registers (KVM_REG_ARM_CORE, struct kvm_regs offsets), the EL1
// system registers our world switch carries (KVM_REG_ARM64_SYSREG), the virtual timer (KVM's TIMER_CTL /
// TIMER_CVAL / TIMER_CNT IDs) and the EL1 physical timer (PTIMER_CTL / PTIMER_CVAL / PTIMER_CNT). Both read and
// write a VcpuContext.
#pragma once

#include "core/irq.hpp"
#include "core/reglist/catalogue.hpp"
#include "core/vcpu_context.hpp"

namespace hv::reglist {

// Where the classes find vCPU contexts (arch: its Vcpu array; tests: a plain array).
class VcpuContexts {
public:
    virtual u32 count() const = 0;
    virtual VcpuContext* context(u32 vcpu) = 0;

protected:
    ~VcpuContexts() = default;
};

// VcpuContexts over a caller-owned array.
class ArrayVcpuContexts final : public VcpuContexts {
public:
    ArrayVcpuContexts(VcpuContext* ctx, u32 n) : ctx_(ctx), n_(n) {}
    u32 count() const override { return n_; }
    VcpuContext* context(u32 vcpu) override { return vcpu < n_ ? &ctx_[vcpu] : nullptr; }

private:
    VcpuContext* ctx_;
    u32 n_;
};

// One entry of the core-register table: KVM ID and the field's byte offset in CoreRegs (== struct kvm_regs).
struct CoreRegDesc {
    u64 id;
    u16 offset;
};
constexpr usize kCoreRegCount =
    31 + 3 + 2 + 5 + 32 + 2;  // x0-x30 sp pc pstate, sp_el1 elr_el1, spsr[5], v0-v31, fpsr fpcr
const CoreRegDesc* core_reg_table();

class CoreRegisterClass final : public RegisterClass {
public:
    explicit CoreRegisterClass(VcpuContexts& ctx) : ctx_(ctx) {}
    const char* name() const override { return "core"; }
    Scope scope() const override { return Scope::vcpu; }
    usize count(u32) const override { return kCoreRegCount; }
    u64 id_at(u32, usize i) const override { return i < kCoreRegCount ? core_reg_table()[i].id : 0; }
    bool owns(u64 id) const override;
    [[nodiscard]] Status get(u32 vcpu, u64 id, Span<u8> value) override;
    // PSTATE: only AArch64 EL0t/EL1t/EL1h (M[4] = 0, M[3:0] in {0, 4, 5}) -- KVM's rule for an AArch64-only VM.
    [[nodiscard]] Status set(u32 vcpu, u64 id, Span<const u8> value) override;
    // The same PSTATE rule as set(), as a dry run (a snapshot restore refuses before it applies anything).
    [[nodiscard]] Status validate(u32 vcpu, u64 id, Span<const u8> value, Refusal& why) override;
    // Everything 0, PSTATE = EL1h with DAIF masked (KVM's reset state).
    void reset(u32 vcpu) override;

private:
    VcpuContexts& ctx_;
};

// System registers and the timers. TIMER_CNT is CNTVCT_EL0 = clock - CNTVOFF: reading it computes, writing it
// moves this vCPU's CNTVOFF_EL2. PTIMER_CNT is CNTPCT_EL0 = the clock: the guest reads the physical counter
// directly (CNTHCTL_EL2.EL1PCTEN) and there is no physical offset without FEAT_ECV, so a write is accepted and
// ignored (a restore must not fail on it).
enum class SysRegKind : u8 {
    plain,           // the value of `slot`
    virtual_count,   // TIMER_CNT: derived from CNTVOFF_EL2 (its slot) and the clock
    physical_count,  // PTIMER_CNT: the clock; no slot
};
struct SysRegDesc {
    u64 id;
    SysReg slot;  // SysReg::count for PTIMER_CNT
    SysRegKind kind;
};
constexpr usize kSysRegListCount = el1::kKvmCount + 2;  // the table's KVM registers, TIMER_CNT, PTIMER_CNT
const SysRegDesc* sysreg_table();

// MPIDR_EL1 KVM gives vCPU `n` at reset (RES1 bit 31, Aff0 = n[3:0], Aff1 = n[11:4], Aff2 = n[19:12]).
constexpr u64 default_mpidr(u32 n) {
    return (u64{1} << 31) | (u64{n} & 0xf) | (((u64{n} >> 4) & 0xff) << 8) | (((u64{n} >> 12) & 0xff) << 16);
}

class SysRegisterClass final : public RegisterClass {
public:
    SysRegisterClass(VcpuContexts& ctx, const Clock& clock) : ctx_(ctx), clock_(clock) {}
    const char* name() const override { return "sysreg"; }
    Scope scope() const override { return Scope::vcpu; }
    usize count(u32) const override { return kSysRegListCount; }
    u64 id_at(u32, usize i) const override { return i < kSysRegListCount ? sysreg_table()[i].id : 0; }
    bool owns(u64 id) const override;
    [[nodiscard]] Status get(u32 vcpu, u64 id, Span<u8> value) override;
    [[nodiscard]] Status set(u32 vcpu, u64 id, Span<const u8> value) override;
    // The EL1 table's reset values (KVM's: SCTLR_EL1 = 0x00c50078, MPIDR_EL1 = default_mpidr, both timers off with CVAL
    // 0), virtual counter restarts at 0.
    void reset(u32 vcpu) override;

private:
    VcpuContexts& ctx_;
    const Clock& clock_;
};

}  // namespace hv::reglist
