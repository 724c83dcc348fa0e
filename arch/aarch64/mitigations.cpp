#include "arch/aarch64/mitigations.hpp"

#include "arch/aarch64/anchor.hpp"
#include "arch/aarch64/hardening.hpp"
#include "arch/aarch64/sysreg.hpp"
#include "lib/log.hpp"

namespace hv::arch {

namespace {

using MidrImplementer = Field<31, 24>;
using MidrPartNum = Field<15, 4>;
using Csv2 = Field<59, 56>;   // ID_AA64PFR0_EL1.CSV2
using Ssbs = Field<7, 4>;     // ID_AA64PFR1_EL1.SSBS
using Ecbhb = Field<63, 60>;  // ID_AA64MMFR1_EL1.ECBHB
constexpr u64 kImplArm = 0x41;
// In-order Arm cores not affected by Spectre-v2, Spectre-BHB nor speculative store bypass: Cortex-A35, A53, A55,
// A510, A520 (Arm's security notes; the same list Linux and KVM use).
constexpr u32 kUnaffected[] = {0xd04, 0xd03, 0xd05, 0xd46, 0xd80};

bool unaffected(u64 midr) {
    if (MidrImplementer::get(midr) != kImplArm) return false;
    for (u32 p : kUnaffected)
        if (MidrPartNum::get(midr) == p) return true;
    return false;
}

MitigationState& st() { return hyp().mitigations; }

}  // namespace

psci::HostMitigations decide_host_mitigations(const MitigationInputs& in) {
    psci::HostMitigations h;
    const bool safe = unaffected(in.midr);
    const u64 csv2 = Csv2::get(in.pfr0);
    h.wa1 = (csv2 >= 1 || safe) ? psci::wa::kWa1NotRequired : psci::wa::kWa1NotAvail;
    // Spectre-BHB: the Arm cores without ECBHB or CSV2_3 are affected; other implementers' cores are taken as not
    // affected (as Linux does without a firmware WORKAROUND_3).
    const bool bhb_affected =
        MidrImplementer::get(in.midr) == kImplArm && !safe && Ecbhb::get(in.mmfr1) == 0 && csv2 < 3;
    h.wa3 = bhb_affected ? psci::wa::kWa3NotAvail : psci::wa::kWa3NotRequired;
    h.wa2 = (safe && Ssbs::get(in.pfr1) == 0) ? psci::wa::kWa2NotRequired : psci::wa::kWa2NotAvail;
    return h;
}

const psci::HostMitigations& host_mitigations() {
    if (!st().probed) {
        MitigationInputs in;
        in.midr = HV_READ_SYSREG(midr_el1);
        in.pfr0 = HV_READ_SYSREG(id_aa64pfr0_el1);
        in.pfr1 = HV_READ_SYSREG(id_aa64pfr1_el1);
        in.mmfr1 = HV_READ_SYSREG(id_aa64mmfr1_el1);
        st().levels = decide_host_mitigations(in);
        // WA1/WA3: what EL2 does on a guest exit, decided in one place (psci/mitigations.hpp, hardening.cpp).
        st().levels.wa1 = bp_mitigation().host.wa1;
        st().levels.wa3 = bp_mitigation().host.wa3;
        st().probed = true;
        HV_LOG_INFO("mitigations: MIDR %#llx: SMCCC_ARCH_WORKAROUND_1/2/3 levels %llu/%llu/%llu (KVM values)",
                    static_cast<unsigned long long>(in.midr), static_cast<unsigned long long>(st().levels.wa1),
                    static_cast<unsigned long long>(st().levels.wa2), static_cast<unsigned long long>(st().levels.wa3));
    }
    return st().levels;
}

}  // namespace hv::arch
