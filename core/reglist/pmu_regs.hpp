// The PMUv3 registers of each vCPU as KVM lists them for a vCPU with KVM_ARM_VCPU_PMU_V3 (KVM_REG_ARM64_SYSREG
// IDs, vCPU scope): PMINTENSET/CLR_EL1, PMCR, PMCNTENSET/CLR, PMOVSCLR, PMSWINC, PMSELR, PMCCNTR, PMUSERENR,
// PMOVSSET, PMEVCNTR0..30, PMEVTYPER0..30, PMCCFILTR -- 74 registers whatever PMCR.N is (KVM's get-reg-list).
// The SET and CLR views of a bitmap are one register with value semantics (GET of either returns the bitmap, SET
// of either replaces it: KVM since 2025). SET validates against the host PMU (pmu::Config): no bit of a counter
// that does not exist, PMCR.N equal to the host's, no bit outside the fields of the advertised PMU version.
// PMSWINC_EL0 reads 0 and ignores writes. Docs: docs/reglist.md "PMU registers".
#pragma once

#include "core/pmu.hpp"
#include "core/reglist/vcpu_regs.hpp"

namespace hv::reglist {

constexpr usize kPmuRegCount = 11 + 2 * PmuRegs::kMaxEventCounters + 1;  // 74

class PmuRegisterClass final : public RegisterClass {
public:
    PmuRegisterClass(VcpuContexts& ctx, const pmu::Config& cfg) : ctx_(ctx), cfg_(cfg) {}
    const char* name() const override { return "pmu"; }
    Scope scope() const override { return Scope::vcpu; }
    // No PMU (cfg.present() false): no registers, as KVM without KVM_ARM_VCPU_PMU_V3.
    usize count(u32) const override { return cfg_.present() ? kPmuRegCount : 0; }
    u64 id_at(u32, usize i) const override;
    bool owns(u64 id) const override;
    [[nodiscard]] Status get(u32 vcpu, u64 id, Span<u8> value) override;
    [[nodiscard]] Status set(u32 vcpu, u64 id, Span<const u8> value) override;
    // Dry-run SET: the same checks against this host's PMU, nothing written.
    [[nodiscard]] Status validate(u32 vcpu, u64 id, Span<const u8> value, Refusal& why) override;
    // pmu::reset: PMCR.LC, everything else 0.
    void reset(u32 vcpu) override;

private:
    [[nodiscard]] Status check_or_set(u32 vcpu, u64 id, Span<const u8> value, bool write);
    VcpuContexts& ctx_;
    pmu::Config cfg_;
};

}  // namespace hv::reglist
