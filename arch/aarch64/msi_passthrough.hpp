// The VM's virtual ITS and the MSI path of passed-through PCI devices (docs/architecture.md §3 "MSIs",
// docs/msi-passthrough.md).
//  * The VM's its::Its instances (vm/vm.hpp) over vm.memory, delivering LPIs to the vGIC, the first registered on
//    the VM's MmioBus at the HOST ITS address: the doorbell a guest programs into MSI-X/MSI capabilities is then
//    the physical GITS_TRANSLATER, where passed-through devices really write.
//  * Shadow mappings (core/msi_shadow) mirror the guest's mappings of passed-through DeviceIDs on the physical ITS
//    (arch/aarch64/host_its) with host LPIs; a host LPI arriving at EL2 is looked up in O(1) and signalled through
//    the virtual ITS (same DeviceID/EventID), which makes the guest's LPI pending on the right vCPU (and kicks it).
//  * vits=N (N <= kMaxVirtualIts): virtual ITS 1..N-1 are purely virtual, each its own its::Its (own registers,
//    tables, command queue) at core/guest_dtb's virtual_its_frames() address, no shadow mappings. Every instance
//    has its register class (its/reglist_class, instance number = index bits [15:12]) in the VM's catalogue.
#pragma once

#include "arch/aarch64/percpu.hpp"
#include "core/fdt/reader.hpp"
#include "core/guest_dtb.hpp"
#include "core/irq.hpp"
#include "core/msi_shadow.hpp"
#include "core/platform.hpp"
#include "its/its.hpp"
#include "vm/vm.hpp"

namespace hv::arch {

struct MsiPassthroughStats {
    Atomic<u64> host_lpis;  // host LPIs taken at EL2
    Atomic<u64> delivered;  // signalled to the guest through the virtual ITS
    Atomic<u64> dropped;    // no shadow, or the virtual ITS refused (disabled / unmapped collection)
    Atomic<u64> host_lpis_on_pcpu[PlatformInfo::kMaxCpus];  // host LPIs taken per pCPU (physical ITS collection)
    // GICv4 direct injection: doorbells taken (a vLPI for a non-resident vPE), vPE loads / puts, puts that found a
    // vLPI pending (GICR_VPENDBASER.PendingLast: the WFI did not block).
    Atomic<u64> doorbells;
    Atomic<u64> vpe_loads;
    Atomic<u64> vpe_puts;
    Atomic<u64> pending_last;
};

// The guest-physical frames of the VM's virtual ITSes, before build_vm sizes the VM by them: ITS 0 at the host ITS
// address, then `vits` - 1 purely virtual ones where core/guest_dtb's virtual_its_frames() places them (`host`, may
// be nullptr, is the host DT with the platform-bus window). If the extra instances cannot be placed, only ITS 0
// (logged). not_found if the platform has no ITS.
[[nodiscard]] Status msi_its_frames(const PlatformInfo& plat, u32 vits, const fdt::Reader* host,
                                    VirtualItsFrames& frames);

// After build_vm (one ITS per frame); before any vCPU runs: registers the ITS frames on the VM's MmioBus. An error
// if ITS 0 cannot be registered (the guest DT would describe an ITS that is not there: boot/main.cpp refuses to
// start the VM); the extra instances are logged and left out if they cannot be.
[[nodiscard]] Status msi_vm_init(Vm& vm, const PlatformInfo& plat, const VirtualItsFrames& frames);

// The MSI path of passed-through devices, after msi_vm_init and once every pCPU that runs a vCPU is ready
// (online_cpus(): their redistributors are known): the physical ITS (LPIs on those redistributors, tables, one
// collection per pCPU), the VM's host LPI range and the shadow table, wired to virtual ITS 0. Any error means
// passed-through devices would get no MSIs; it is returned (and logged with the reason) and nothing is half-wired:
// boot/main.cpp then refuses to start the VM unless pci=off.
// `mode` (option gicv4=, default on): on a GICv4 host GIC the mappings become vLPIs the GIC injects directly
// (docs/msi-passthrough.md "GICv4 direct injection"); otherwise, or if the vPEs cannot be set up, the shadow path.
// doorbell: direct injection with the guest's WFI trapped (a waiting vCPU's vPE leaves, its doorbell wakes it).
enum class DirectMode : u8 { off, on, doorbell };
[[nodiscard]] Status msi_passthrough_init(Vm& vm, const PlatformInfo& plat, DirectMode mode = DirectMode::on);
// Direct injection is in use (the VM's passed-through MSIs are vLPIs).
bool msi_direct();
// ... and a guest WFI need not trap (the vPE stays resident and a vLPI wakes the WFI itself): mode `on`.
bool msi_direct_native_wfi();

const MsiShadow* msi_shadow();
const MsiPassthroughStats& msi_stats();
// One info line with the counters above and the shadow table's (mapped/moved/...): diagnostics at power-off/reset,
// read by tests/linux/run (a guest IRQ affinity change must show up as a physical MOVI and LPIs on the new pCPU).
void msi_log_stats();

// VM reset: every virtual ITS back to its reset state; every shadow mapping is removed from the physical ITS.
void msi_vm_reset();

// Snapshot save with GICv4 direct injection (every vCPU stopped): the pending state of the VM's vLPIs moves from
// the physical GIC into the vGIC model -- each vPE leaves its redistributor, each pending vLPI is CLEARed on the
// physical ITS and made pending in the model -- so the saved LPI pending tables carry it. At restore the virtual
// ITS's mappings become vLPIs again and those LPIs are delivered through list registers. Returns how many moved.
u32 msi_vlpis_to_model(Vm& vm);

// The MSI path's state, held by the anchor (anchor.hpp); only msi_passthrough.cpp touches it.
struct MsiState {
    MsiShadow shadow;
    bool shadow_ready = false;
    MsiPassthroughStats stats;
    // GICv4: the residency of each vCPU's vPE, touched only on the vCPU's own pCPU.
    struct Vpe {
        bool resident = false;
        bool wanted = false;  // the guest's redistributor has LPIs on and a usable property table
        u32 seen_gen = ~0u;   // Vgic::lpi_table_generation() when `wanted`/`vprop` were computed
        u64 vprop = 0;        // GICR_VPROPBASER for it
    };
    Vpe vpes[PlatformInfo::kMaxCpus];
    bool native_wfi = false;  // DirectMode::on
    // The VM's ITSes (msi_vm_init), for the entry hook that runs at every guest entry: no VM lookup on the way.
    its::Its* its[kMaxVirtualIts] = {};
    u32 its_count = 0;
    // The exit vector's GITS_CREADR poll of its[0] (every PerCpu::its_poll points here once its frame is mapped).
    ItsPoll poll;
};

}  // namespace hv::arch
