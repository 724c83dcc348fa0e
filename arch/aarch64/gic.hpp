// The physical GICv3 as the hypervisor drives it: distributor (affinity routing, group 1), this pCPU's
// redistributor, and the CPU interface through ICC_*_EL1 at EL2 (system-register interface, EOImode = 1:
// ICC_EOIR1 drops priority, ICC_DIR deactivates, so a hardware-linked virtual interrupt can be deactivated by the
// guest instead; IHI0069H 4.1.1).
#pragma once

#include "arch/aarch64/sysreg.hpp"
#include "core/platform.hpp"

namespace hv::arch {

// SGIs the hypervisor uses between pCPUs.
constexpr u32 kSgiKick = 0;   // "look at your vCPU's pending state": no handler (gic_handle_irqs acks it, no call)
constexpr u32 kSgiStop = 15;  // panic: stop

// Handler for one INTID; returns true if the interrupt should be deactivated now (false: the guest deactivates it
// through a hardware-linked list register).
using IrqHandler = bool (*)(u32 intid, void* arg);

[[nodiscard]] Status gic_init_distributor(const GicInfo& gic);   // primary pCPU, once
[[nodiscard]] Status gic_init_cpu();                             // every pCPU (its redistributor + CPU interface)
void gic_set_handler(u32 intid, IrqHandler handler, void* arg);  // SGI/PPI/SPI (< 1020)
void gic_set_lpi_handler(IrqHandler handler, void* arg);         // INTIDs >= 8192
void gic_enable(u32 intid, bool enable);                         // SGI/PPI: this pCPU; SPI: distributor
void gic_set_edge(u32 intid, bool edge);                         // SPI trigger (default level), while disabled
void gic_route_spi(u32 intid, u64 mpidr);
// Acknowledge and handle every pending interrupt of this pCPU (called with IRQs masked, on an IRQ exit or after a
// WFI). Returns how many were taken (0: nothing was pending).
u32 gic_handle_irqs();
// The same, starting with an interrupt the caller already acknowledged (`iar`: the ICC_IAR1_EL1 value it read).
u32 gic_handle_irqs_from(u64 iar);
void gic_deactivate(u32 intid);
// Clear the active state through the GICR (SGI/PPI: this pCPU's) or GICD (SPI) register, whoever activated it.
void gic_clear_active(u32 intid);
// An SGI/PPI of this pCPU is pending (GICR_ISPENDR0; for a level-sensitive PPI: its line is asserted).
bool gic_ppi_pending(u32 intid);
// The ICC_SGI1R_EL1 value (INTID 0) that names the PE with affinity `mpidr` (Aff3.Aff2.Aff1.Aff0 as arm::
// mpidr_affinity keeps them): TargetList bit Aff0, Aff1..Aff3 (IHI0069H 12.2.23, RS = 0). 0 if Aff0 >= 16: not
// addressable through the TargetList without RS, which is not used here. Kept per pCPU (PerCpu::sgi_target).
constexpr u64 gic_sgi_target(u64 mpidr) {
    const u64 aff0 = mpidr & 0xff;
    if (aff0 >= 16) return 0;
    return (u64{1} << aff0) | ((mpidr >> 8) & 0xff) << 16 | ((mpidr >> 16) & 0xff) << 32 | ((mpidr >> 32) & 0xff) << 48;
}
// SGI `sgi` to the PE named by `target` (a gic_sgi_target value; 0: nothing is sent). Not ordered by the memory
// barriers the caller's writes went through: the caller makes them visible first with a DSB (the target's handler
// reads them).
inline void gic_send_sgi_to(u32 sgi, u64 target) {
    if (target == 0) return;
    write_sysreg<arm::reg::kIccSgi1rEl1>(target | u64{sgi & 0xf} << 24);
    isb();
}
void gic_send_sgi_others(u32 sgi);
u64 gic_redistributor(u32 cpu);  // RD_base of pCPU `cpu` (0 if unknown)

// The physical GIC driver's state, held by the anchor (anchor.hpp); only gic.cpp touches it. Each pCPU's
// redistributor is in its PerCpu block (percpu.hpp).
constexpr u32 kGicMaxIntid = 1020;  // SGIs, PPIs and SPIs; LPIs (>= 8192) share one handler
struct GicState {
    struct Slot {
        IrqHandler fn = nullptr;
        void* arg = nullptr;
    };
    u64 gicd = 0;
    u32 spi_lines = 0;
    GicInfo info;
    Slot handlers[kGicMaxIntid];
    Slot lpi;
};

}  // namespace hv::arch
