// The VM's virtual GICv3 (vgic/) wired to the hardware: one Vgic per VM in static storage, its GICD/GICR frames on
// the VM's MmioBus, the ICH_* list-register load/store around every guest entry (its DeviceHooks), trapped ICC_SGI*R
// writes, the hardware-linked EL1 timers (virtual PPI 27, physical PPI 30) and PMU overflow interrupt (PPI 23), the
// maintenance interrupt (PPI 25) and vCPU kicks (physical SGI kSgiKick). See docs/boot.md "Interrupts".
#pragma once

#include "core/platform.hpp"
#include "lib/atomic.hpp"
#include "vgic/vgic.hpp"
#include "vm/vm.hpp"

namespace hv::arch {

// INTIDs the hypervisor uses on every pCPU (QEMU virt; the DT's timer / GIC "interrupts" are checked at init).
constexpr u32 kPpiMaintenance = 25;    // GIC maintenance interrupt (IHI0069H 4.8)
constexpr u32 kPpiVirtualTimer = 27;   // EL1 virtual timer: hardware-linked to the guest's PPI 27
constexpr u32 kPpiPhysicalTimer = 30;  // EL1 physical timer: hardware-linked to the guest's PPI 30
constexpr u32 kPpiPmu = 23;            // PMU overflow interrupt: hardware-linked to the guest's PPI 23 (with a PMUv3)

// Create the VM's vGIC: after vm.vcpu_count, vm.vcpus[].mpidr and vm.memory are set, before any vCPU runs.
// The vGIC's configuration from the hardware (SPIs from GICD_TYPER, list registers from ICH_VTR_EL2) and the
// physical side of its hardware-linked interrupts, for build_vm.
[[nodiscard]] Status vgic_config(const PlatformInfo& plat, vgic::VgicConfig& cfg, vgic::HwIrqControl*& hw);
// After build_vm: registers the distributor at the host GICD base and the redistributors (vcpu_count x 128 KiB) at
// the first host GICR base, links both EL1 timers' PPIs to the physical ones on every vCPU and installs the
// VM's device hooks (before_entry / after_exit / has_pending / sysreg / reset / log_stats).
[[nodiscard]] Status vgic_vm_init(Vm& vm, const PlatformInfo& plat);

// The VM's vGIC (the_vm().vgic).
vgic::Vgic& the_vgic();
bool vgic_ready();

// Drive an emulated device's interrupt line (an SPI, or a PPI of `vcpu`); no-op before vgic_vm_init.
void vgic_set_line(u32 intid, u32 vcpu, bool level);

// A passed-through device's SPI (PCIe INTx, virtio-mmio; docs/architecture.md §3): the physical SPI `intid` is
// forwarded as the same virtual SPI, hardware-linked (ICH_LR<n>_EL2.HW, pINTID = vINTID), so the guest's
// deactivation of the virtual one deactivates the physical one. Its handler latches the virtual SPI pending once per
// activation (like a GICD_ISPENDR write; the vGIC kicks the vCPU the guest routed it to) and then makes the physical
// routing follow the guest's GICD_IROUTER (taken on the boot pCPU until the first activation), so later ones arrive
// on the pCPU that runs the target vCPU. A level line still asserted after the guest's deactivation fires again (a
// resample). `what` names the device in logs. Errors: not_found before vgic_vm_init, invalid_argument for a non-SPI,
// whatever Vgic::map_hw says (e.g. already linked).
[[nodiscard]] Status vgic_forward_hw_spi(u32 intid, const char* what);

// `stats: spi forwarded=N per_pcpu=a,b,.. reroutes=M` (forwarded SPI activations taken on each pCPU, physical
// re-routes that followed the guest's GICD_IROUTER); logged at power-off with the other stats.
void vgic_log_forwarded_spi_stats();

// The exit fast path's IRQ exit for a guest timer that fires again right after the guest completed its last
// interrupt: LR 0 re-armed without the fold/flush (vgic_glue.cpp has the exact conditions). The caller has checked
// that the run loop has no entry work for `v`. Returns kRefireDone (done: resume the guest), kRefireNone (nothing
// done, nothing acknowledged: take the full path) or the ICC_IAR1_EL1 value of a different interrupt it
// acknowledged (take the full path and handle that one: gic_handle_irqs_from). A value, not an out-parameter: the
// exit fast path keeps no stack object (no stack-protector canary on every exit).
// vgic_timer_refire's first checks, on the model alone (one LR in use, a timer line up): the caller asks this first
// and checks for other entry work only then, so other IRQ exits pay little for it.
bool vgic_timer_refire_possible(const Vcpu& v);
constexpr u64 kRefireNone = ~u64{0};
constexpr u64 kRefireDone = ~u64{0} - 1;
u64 vgic_timer_refire(const Vcpu& v);
// vgic_lrs_idle: inline in vgic_glue_fast.hpp (the exit fast path asks it at every ITS and GICD/GICR write).
// The kick's IRQ exit (docs/benchmarks-exits.md "Direct flush"): the caller saw this pCPU's kick SGI as its
// highest-priority pending interrupt (ICC_HPPIR1_EL1) and found no entry work other than the vGIC's. Acknowledges and
// deactivates the kick and runs the direct flush on the LRs as the guest left them (Vgic::flush_live), without the
// device hooks' walks. Returns as vgic_timer_refire: kRefireDone, kRefireNone (nothing done), or an acknowledged IAR
// that is not the kick (the caller hands it to the IRQ handlers after the usual after_exit hooks). Inline, in
// vgic_glue_fast.hpp.
// The exit fast path's IRQ exit lets the vGIC's after_exit leave the LR fold to the entry's flush (PerCpu
// vgic.fast_irq); before anything else may look at the vCPU's interrupt state (the run loop takes over), this
// folds if it was left. Also ends the permission.
void vgic_fold_deferred(Vcpu& v);

// The exit fast path's queries of where the GICD/GICR frames are and of the hardware-linked lines: inline, in
// vgic_glue_fast.hpp (vgic_frame, vgic_lines_quiet).

// WFI support: true if the vCPU has something deliverable (call on its own pCPU after the exit's fold).
bool vgic_vcpu_has_pending(u32 vcpu);

// VM reset: every vGIC register to its reset value, hardware-linked interrupts cleaned on this pCPU.
void vgic_vm_reset();

// The vGIC glue's per-VM state, held by the anchor (anchor.hpp); only vgic_glue.cpp writes it. Its per-pCPU state
// is PerCpu::vgic (percpu.hpp). vgic_glue_fast.hpp reads it inline for the exit fast path.
struct VgicGlueState {
    Atomic<bool> ready;  // vgic_vm_init done
    u32 nr_lrs = 4;      // ICH_VTR_EL2.ListRegs + 1
    u32 nr_aprs = 1;     // implemented ICH_AP<n>R_EL2 (by PREbits)
    // Our view of each vCPU's hardware-linked lines on the vGIC: the EL1 timers (virtual, physical) and PMU overflow.
    bool timer_line[2][vgic::kMaxVcpus] = {};
    bool pmu_line[vgic::kMaxVcpus] = {};
    bool pmu_linked = false;  // the guest has a PMUv3: PPI 23 is hardware-linked
    // Where the GICD and GICR frames are on the VM's MmioBus (vgic_glue_fast.hpp vgic_frame; 0 sizes before
    // vgic_vm_init).
    u64 gicd_base = 0, gicd_size = 0, gicr_base = 0, gicr_size = 0;
    // Physical routing of the passed-through SPIs (vgic_forward_hw_spi): the pCPU index each one is routed to now
    // (gic_init_distributor routes every SPI to the boot pCPU, index 0), and the re-routes so far (`stats: spi`).
    Atomic<u8> forwarded_spi_pcpu[1020];
    Atomic<u64> forwarded_reroutes;
};

}  // namespace hv::arch
