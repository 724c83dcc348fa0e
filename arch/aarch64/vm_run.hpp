// Running the VM on this pCPU: EL2 trap configuration, the world switch around hv_enter_guest (vectors.S), and the
// exit handlers (HVC/SMC -> firmware, stage-2 data aborts -> MmioBus, traps -> injection). Choices: docs/boot.md.
#pragma once

#include "core/esr.hpp"
#include "core/pl011.hpp"
#include "core/vm.hpp"
#include "psci/firmware.hpp"

namespace hv::arch {

// The single VM of this hypervisor.
Vm& the_vm();

// Per-pCPU EL2 configuration for running guests (CPTR/MDCR/CNTHCTL/VTCR/ZCR), after mmu_init on each pCPU.
void hyp_init_cpu();
// Stage 2 of `vm`: guest RAM identity mapped with blocks; everything else unmapped. Fills vm.memory too.
[[nodiscard]] Status vm_init_memory(Vm& vm);

// The VM's firmware (psci::Firmware behind HVC #0 / SMC #0), bound to vm.memory; after vm_init_memory.
[[nodiscard]] Status vm_init_firmware(Vm& vm, psci::PsciVersion version);
psci::Firmware& vm_firmware();

// Hooks the vGIC / device work installs (all optional; nullptr = default behaviour).
struct VcpuHooks {
    void (*before_entry)(Vcpu& v) = nullptr;  // e.g. flush pending virtual interrupts into the list registers
    void (*after_exit)(Vcpu& v) = nullptr;    // e.g. fold the list registers back
    // A trapped MSR/MRS: return true if handled (for reads, put the result in `value`).
    bool (*sysreg)(Vcpu& v, const esr::SysRegAccess& access, u64& value) = nullptr;
};
VcpuHooks& vcpu_hooks();

// Start vCPU `i` at `entry` with x0 = context_id (EL1h, MMU off, DAIF masked) on its pinned pCPU (PSCI CPU_ON).
// busy if it is not off; invalid_argument for an unknown vCPU.
[[nodiscard]] Status start_vcpu(u32 i, u64 entry, u64 context_id);

// Runs vCPU `v` on this pCPU forever (waits while it is off).
[[noreturn]] void vcpu_loop(Vm& vm, Vcpu& v);

// The guest's emulated UART: console input is forwarded to it (polled on vCPU 0 exits).
void set_guest_uart(Pl011* uart);

// Power the whole machine off / reset it through the firmware below us (QEMU's PSCI over SMC).
[[noreturn]] void machine_system_off();
[[noreturn]] void machine_system_reset();

}  // namespace hv::arch
