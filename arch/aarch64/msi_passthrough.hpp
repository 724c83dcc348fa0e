// The VM's virtual ITS and the MSI path of passed-through PCI devices (ARCHITECTURE.md §3 "MSIs",
// docs/msi-passthrough.md).
//  * One its::Its per VM (static storage) over vm.memory, delivering LPIs to the vGIC (an LpiSink), registered on
//    the VM's MmioBus at the HOST ITS address: the doorbell a guest programs into MSI-X/MSI capabilities is then
//    the physical GITS_TRANSLATER, where passed-through devices really write.
//  * Shadow mappings (core/msi_shadow) mirror the guest's mappings of passed-through DeviceIDs on the physical ITS
//    (arch/aarch64/host_its) with host LPIs; a host LPI arriving at EL2 is looked up in O(1) and signalled through
//    the virtual ITS (same DeviceID/EventID), which makes the guest's LPI pending on the right vCPU (and kicks it).
#pragma once

#include "core/irq.hpp"
#include "core/msi_shadow.hpp"
#include "core/platform.hpp"
#include "core/vm.hpp"
#include "its/its.hpp"

namespace hv::arch {

struct MsiPassthroughStats {
    u64 host_lpis = 0;      // host LPIs taken at EL2
    u64 delivered = 0;      // signalled to the guest through the virtual ITS
    u64 dropped = 0;        // no shadow, or the virtual ITS refused (disabled / unmapped collection)
    u64 host_lpis_on_pcpu[PlatformInfo::kMaxCpus] = {};  // host LPIs taken per pCPU (physical ITS collection)
};

// After the vGIC exists (sink = the vGIC) and the vCPUs are set up; before any vCPU runs. `passthrough`: the PCIe
// host bridge is passed through, so its devices' MSIs are mirrored (needs the physical ITS; without one the
// virtual ITS still works for purely virtual mappings). Returns not_found if the platform has no ITS.
[[nodiscard]] Status msi_vm_init(Vm& vm, const PlatformInfo& plat, LpiSink& sink, bool passthrough);

// The VM's virtual ITS (nullptr before msi_vm_init or without an ITS).
its::Its* vm_its();
const MsiShadow* msi_shadow();
const MsiPassthroughStats& msi_stats();
// One info line with the counters above and the shadow table's (mapped/moved/...): diagnostics at power-off/reset,
// read by tests/linux/run (a guest IRQ affinity change must show up as a physical MOVI and LPIs on the new pCPU).
void msi_log_stats();

// VM reset: the virtual ITS back to its reset state; every shadow mapping is removed from the physical ITS.
void msi_vm_reset();

}  // namespace hv::arch
