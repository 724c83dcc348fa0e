// The VM's SDEI dispatcher (sdei/, Arm DEN0054) wired into the run loop: SDEI calls are taken before psci/ sees
// them (they need the whole vCPU context), and pending events are delivered at guest entry. See docs/sdei.md.
#pragma once

#include "core/vm.hpp"
#include "core/reglist/catalogue.hpp"
#include "sdei/sdei.hpp"

namespace hv::arch {

// Binds the VM's SDEI model to the vCPUs and guest memory (after the vCPU count is set) and registers its VM-reset
// hook. No interrupt is bindable yet (INTERRUPT_BIND answers OUT_OF_RESOURCE).
[[nodiscard]] Status sdei_vm_init(Vm& vm);
sdei::Sdei& vm_sdei();
// Adds the SDEI register classes (0x0805, sdei/reglist_class.hpp) to the VM's catalogue, once (after sdei_vm_init).
[[nodiscard]] Status sdei_add_registers(reglist::RegisterCatalogue& cat);
// A trapped HVC/SMC (PC already past an SMC): true if w0 was an SDEI function ID and the call was handled.
bool sdei_handle_call(Vcpu& v);
// Right before entering vCPU `v`: enter a pending event's handler if one can be taken.
void sdei_before_entry(Vcpu& v);
// True if `v` has an SDEI event it could take now (ends a WFI wait).
bool sdei_has_pending(Vcpu& v);

}  // namespace hv::arch
