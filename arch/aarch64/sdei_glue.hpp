// The VM's SDEI dispatcher (sdei/, Arm DEN0054) wired into the run loop: SDEI calls are taken before psci/ sees
// them (they need the whole vCPU context), and pending events are delivered at guest entry. See docs/sdei.md.
#pragma once

#include "sdei/sdei.hpp"
#include "vm/vm.hpp"

namespace hv::arch {

// The platform side of SDEI for build_vm: vCPU affinities and kicks.
sdei::SdeiPlatform& sdei_platform();

// After build_vm: registers SDEI's VM-reset hook and starts delivery. No interrupt is bindable yet
// (INTERRUPT_BIND answers OUT_OF_RESOURCE).
[[nodiscard]] Status sdei_vm_init(Vm& vm);

// A trapped HVC/SMC (PC already past an SMC): true if w0 was an SDEI function ID and the call was handled.
bool sdei_handle_call(Vcpu& v);
// Right before entering vCPU `v`: enter a pending event's handler if one can be taken.
void sdei_before_entry(Vcpu& v);
// True if `v` has an SDEI event it could take now (ends a WFI wait).
bool sdei_has_pending(Vcpu& v);

}  // namespace hv::arch
