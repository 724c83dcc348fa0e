// The VM's SDEI dispatcher (sdei/, Arm DEN0054) wired into the run loop: SDEI calls are taken before psci/ sees
// them (they need the whole vCPU context), and pending events are delivered at guest entry. See docs/sdei.md.
#pragma once

#include "sdei/sdei.hpp"
#include "vm/vm.hpp"

namespace hv::arch {

// The platform side of SDEI for build_vm: vCPU affinities and kicks.
sdei::SdeiPlatform& sdei_platform();

// After build_vm: plugs SDEI into the run loop as one of the VM's devices (vm/vm.hpp DeviceHooks): SDEI calls are
// taken before the firmware sees them, pending events are delivered at guest entry and end a WFI wait, and a VM
// reset resets it. No interrupt is bindable yet (INTERRUPT_BIND answers OUT_OF_RESOURCE).
[[nodiscard]] Status sdei_vm_init(Vm& vm);

}  // namespace hv::arch
