#include "psci/mitigations.hpp"

namespace hv::mitigation {

namespace {
using Csv2 = Field<59, 56>;    // ID_AA64PFR0_EL1.CSV2
using Ecbhb = Field<63, 60>;   // ID_AA64MMFR1_EL1.ECBHB
using Clrbhb = Field<31, 28>;  // ID_AA64ISAR2_EL1.CLRBHB

struct Part {
    u32 part;
    u32 k;  // 0: unaffected core
};
// Arm Ltd part numbers (MIDR_EL1.PartNum) and their BHB loop count.
constexpr Part kArmParts[] = {
    {0xd04, 0},  {0xd03, 0},  {0xd05, 0},  {0xd46, 0},  {0xd80, 0},   // A35, A53, A55, A510, A520
    {0xd07, 8},  {0xd08, 8},  {0xd09, 8},  {0xd0a, 8},                // A57, A72, A73, A75
    {0xd0b, 24}, {0xd0d, 24}, {0xd0c, 24},                            // A76, A77, Neoverse N1
    {0xd41, 32}, {0xd42, 32}, {0xd4b, 32}, {0xd44, 32}, {0xd48, 32},  // A78, A78AE, A78C, X1, X2
    {0xd47, 32}, {0xd49, 32}, {0xd40, 32},                            // A710, Neoverse N2, V1
};

const Part* find(u64 midr) {
    if (MidrImplementer::get(midr) != kImplArm) return nullptr;
    const u32 part = static_cast<u32>(MidrPartNum::get(midr));
    for (const Part& p : kArmParts)
        if (p.part == part) return &p;
    return nullptr;
}
}  // namespace

u32 bhb_loop_iterations(u64 midr) {
    const Part* p = find(midr);
    return p ? p->k : 0;
}

bool unaffected_core(u64 midr) {
    const Part* p = find(midr);
    return p != nullptr && p->k == 0;
}

Decision decide(const CpuInputs& in) {
    Decision d;
    const u64 csv2 = Csv2::get(in.pfr0);
    const bool safe_core = unaffected_core(in.midr);

    if (csv2 >= 1 || safe_core)
        d.v2 = V2Action::none;
    else if (in.fw_wa1)
        d.v2 = V2Action::firmware_wa1;
    else
        d.v2 = V2Action::vulnerable;

    const u32 k = bhb_loop_iterations(in.midr);
    if (Ecbhb::get(in.mmfr1) >= 1 || csv2 >= 3 || safe_core)
        d.bhb = BhbAction::none;
    else if (Clrbhb::get(in.isar2) >= 1)
        d.bhb = BhbAction::clrbhb;
    else if (k != 0)
        d.bhb = BhbAction::loop, d.loop_k = k;
    else if (in.fw_wa3)
        d.bhb = BhbAction::firmware_wa3;
    else
        d.bhb = BhbAction::none;  // not a core known to be affected, and the firmware does not say otherwise

    d.host.wa1 = d.v2 == V2Action::none           ? psci::wa::kWa1NotRequired
                 : d.v2 == V2Action::firmware_wa1 ? psci::wa::kWa1Avail
                                                  : psci::wa::kWa1NotAvail;
    d.host.wa3 = d.bhb == BhbAction::none ? psci::wa::kWa3NotRequired : psci::wa::kWa3Avail;
    return d;
}

const char* v2_name(V2Action a) {
    switch (a) {
        case V2Action::none:
            return "not affected";
        case V2Action::firmware_wa1:
            return "SMCCC_ARCH_WORKAROUND_1 on entry";
        case V2Action::vulnerable:
            return "VULNERABLE (no firmware SMCCC_ARCH_WORKAROUND_1)";
    }
    return "?";
}

const char* bhb_name(BhbAction a) {
    switch (a) {
        case BhbAction::none:
            return "not affected";
        case BhbAction::clrbhb:
            return "CLRBHB on entry";
        case BhbAction::loop:
            return "BHB-clearing loop on entry";
        case BhbAction::firmware_wa3:
            return "SMCCC_ARCH_WORKAROUND_3 on entry";
    }
    return "?";
}

}  // namespace hv::mitigation
