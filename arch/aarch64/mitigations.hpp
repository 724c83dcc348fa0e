// What the host promises a VM against speculation attacks: the SMCCC_ARCH_WORKAROUND_1/2/3 levels of its firmware
// pseudo-registers (psci::HostMitigations, KVM's values), probed once at boot from MIDR_EL1, ID_AA64PFR0_EL1.CSV2
// / CSV3, ID_AA64PFR1_EL1.SSBS, ID_AA64MMFR1_EL1.ECBHB and from what EL2 itself does on a guest exit. They are the
// upper bound of what a restored VM may have been told (psci/firmware_regs: a higher saved level is refused).
//
// WA1/WA3 come from the one place that says what EL2 does on a guest exit: mitigation::decide (psci/mitigations.hpp,
// applied by arch/aarch64/hardening.cpp bp_mitigation_init at boot, before the first use here); the wa1/wa3 of
// decide_host_mitigations are only its fallback view without the firmware probe.
// WA2 (speculative store bypass), as KVM: NOT_AVAIL if the CPU has SSBS (the guest uses PSTATE.SSBS itself) or is
// vulnerable (this hypervisor has no firmware SSBD call to offer), NOT_REQUIRED on the unaffected cores.
#pragma once

#include "psci/firmware.hpp"

namespace hv::arch {

struct MitigationInputs {
    u64 midr = 0, pfr0 = 0, pfr1 = 0, mmfr1 = 0;
};
// The levels for these inputs (pure).
psci::HostMitigations decide_host_mitigations(const MitigationInputs& in);
// The boot pCPU's levels (probed on first use).
const psci::HostMitigations& host_mitigations();

// The host's mitigation levels once probed, held by the anchor (anchor.hpp); only mitigations.cpp touches them.
struct MitigationState {
    psci::HostMitigations levels;
    bool probed = false;
};

}  // namespace hv::arch
