// (psci/: it decides what the firmware pseudo-registers may advertise.)
// What EL2 does against branch-predictor attacks from a guest (Spectre-v2 / BTI, Spectre-BHB), decided in one place
// from the CPU's ID registers, its MIDR and what the firmware offers, and what the VM's firmware pseudo-registers
// (SMCCC_ARCH_WORKAROUND_1/3, psci/firmware.hpp HostMitigations) may advertise as a consequence -- so the guest is
// never told "not required" or "available" for something EL2 does not do. arch/aarch64/hardening.cpp probes the
// inputs once at boot and applies the decision on every exit from a guest (vectors.S); docs/boot.md "EL2 hardening".
//
// The rules (facts from the Arm security notes on Spectre-v2 and Spectre-BHB, applied the way KVM reports them):
//  * Spectre-v2: not affected if ID_AA64PFR0_EL1.CSV2 >= 1 or the core is one of the in-order / unaffected Arm
//    cores (Cortex-A35, A53, A55, A510, A520). Otherwise EL2 must invalidate the branch predictor on entry; on the
//    cores concerned (A57, A72, ...) only the firmware can (SMCCC_ARCH_WORKAROUND_1). Without it: vulnerable.
//  * Spectre-BHB: not affected if ID_AA64MMFR1_EL1.ECBHB = 1, CSV2 >= 3 (CSV2_3), or the core is unaffected (as
//    above). Affected are the cores that implement CLRBHB (ID_AA64ISAR2_EL1.CLRBHB: EL2 executes it), the cores the
//    branchy loop is specified for, with their iteration count k (A57/A72/A73/A75: 8; A76/A77/N1: 24;
//    A78/A78AE/A78C/X1/X2/A710/N2/V1: 32), and any core whose firmware implements SMCCC_ARCH_WORKAROUND_3 (EL2
//    calls it); any other core is taken as not affected (as Linux and KVM do; QEMU's `max` in 7.2 has CSV2_2 and
//    no ECBHB, and is such a core).
//  * Firmware registers: WORKAROUND_1 = NOT_REQUIRED (unaffected), AVAIL (EL2 calls the firmware on entry) or
//    NOT_AVAIL; WORKAROUND_3 = NOT_REQUIRED or AVAIL (EL2 clears the history on entry by one of the means above). A
//    guest's own WORKAROUND_1/3 call traps to EL2, whose exit path has then already done the work. WORKAROUND_2
//    (speculative store bypass) is not decided here (unchanged: the FirmwareConfig default).
#pragma once

#include "lib/bits.hpp"
#include "psci/firmware.hpp"

namespace hv::mitigation {

struct CpuInputs {
    u64 midr = 0;         // MIDR_EL1
    u64 pfr0 = 0;         // ID_AA64PFR0_EL1 (CSV2 [59:56])
    u64 mmfr1 = 0;        // ID_AA64MMFR1_EL1 (ECBHB [63:60])
    u64 isar2 = 0;        // ID_AA64ISAR2_EL1 (CLRBHB [31:28])
    bool fw_wa1 = false;  // the firmware implements SMCCC_ARCH_WORKAROUND_1 (SMCCC_ARCH_FEATURES = 0)
    bool fw_wa3 = false;  // ... SMCCC_ARCH_WORKAROUND_3
};

enum class V2Action : u8 { none, firmware_wa1, vulnerable };
enum class BhbAction : u8 { none, clrbhb, loop, firmware_wa3 };

struct Decision {
    V2Action v2 = V2Action::none;
    BhbAction bhb = BhbAction::none;
    u32 loop_k = 0;              // BhbAction::loop: branch iterations
    psci::HostMitigations host;  // upper bound of the VM's workaround registers (wa2 left at its default)
};

// MIDR fields.
using MidrImplementer = Field<31, 24>;
using MidrPartNum = Field<15, 4>;
constexpr u32 kImplArm = 0x41;

// Iteration count of the BHB-clearing loop for this core, 0 if it is not a core the loop is specified for.
u32 bhb_loop_iterations(u64 midr);
// True for the Arm cores that are not affected by Spectre-v2 nor Spectre-BHB.
bool unaffected_core(u64 midr);

Decision decide(const CpuInputs& in);

const char* v2_name(V2Action a);
const char* bhb_name(BhbAction a);

}  // namespace hv::mitigation
