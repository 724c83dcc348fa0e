// Running the VM on this pCPU: EL2 trap configuration (el2_config.cpp), the world switch around hv_enter_guest
// (vectors.S) and the loop (vcpu_loop.cpp), exit handlers (exits.cpp: HVC/SMC -> firmware, stage-2 data aborts ->
// MmioBus, traps -> injection), the VM anchor and its assembly (vm_build.cpp). Choices: docs/boot.md.
// This is the API the device glue (vgic_glue, sdei_glue, msi_passthrough, ...) uses; the run loop includes none of
// them.
#pragma once

#include "core/esr.hpp"
#include "core/irq.hpp"
#include "core/pl011.hpp"
#include "core/reglist/catalogue.hpp"
#include "psci/firmware.hpp"
#include "vm/vm.hpp"

namespace hv::arch {

// The single VM of this hypervisor (the anchor: every guest-visible model lives inside it). create_vm() builds the
// empty object once, early at boot; the_vm() is valid from then on.
Vm& create_vm();
Vm& the_vm();

// Per-pCPU EL2 configuration for running guests (CPTR/MDCR/CNTHCTL/VTCR/ZCR), after mmu_init on each pCPU.
void hyp_init_cpu();
// Stage 2 of `vm`: guest RAM identity mapped with blocks; everything else unmapped. Fills vm.memory too.
[[nodiscard]] Status vm_init_memory(Vm& vm);

// After vm_init_memory and once the vCPUs are set: builds the VM's models and register catalogue (build_vm) with
// the ports this file implements (firmware platform, SDEI platform, kicker, counter clock) added to `ports`. The
// PSCI version is applied by writing KVM_REG_ARM_PSCI_VERSION through the catalogue -- the path a restore takes;
// the firmware is created 0.2-capable unless `version` is 0.1 (KVM's KVM_ARM_VCPU_PSCI_0_2).
[[nodiscard]] Status vm_build(Vm& vm, VmConfig& cfg, VmPorts ports, psci::PsciVersion version);
psci::Firmware& vm_firmware();
reglist::RegisterCatalogue& vm_registers();

// Devices plug into the run loop through the VM's hooks (vm/vm.hpp DeviceHooks, Vm::add_device): the loop calls
// vm.devices() around every entry and exit, in the wait, on trapped MSR/MRS and HVC/SMC, at VM reset and power-off.

// On `v`'s own pCPU, between exits: its whole context (the lazily switched EL1 registers included) up to date in
// memory and reloaded at the next entry -- for a device that reads or replaces it (snapshots, console commands).
VcpuContext& vcpu_context_for_write(Vcpu& v);

// Wake vCPU `i` out of a WFI / CPU_SUSPEND / off wait (and out of the guest, to EL2): a flag plus SGI kKick to its
// pCPU when that is another pCPU. Callable from any pCPU.
void kick_vcpu(u32 i);
// The same as a core/irq.hpp VcpuKicker (for the vGIC / ITS models).
VcpuKicker& vcpu_kicker();

// --- VM reset (PSCI SYSTEM_RESET / SYSTEM_RESET2; docs/boot.md "VM reset") ---
// Puts the guest's images back and builds its boot state: called once per reset, with every vCPU stopped and
// reset, vm.boot_count / vm.reset_reason already updated. Returns vCPU 0's entry point and x0.
using GuestReloader = Status (*)(Vm& vm, u64& entry, u64& arg0);
void set_guest_reloader(GuestReloader fn);
// The devices' reset hooks (DeviceHooks::reset) run in registration order during a VM reset, after the vCPUs and the
// firmware were reset and before the guest is reloaded.

// Start vCPU `i` at `entry` with x0 = context_id (EL1h, MMU off, DAIF masked) on its pinned pCPU (PSCI CPU_ON).
// busy if it is not off; invalid_argument for an unknown vCPU.
[[nodiscard]] Status start_vcpu(u32 i, u64 entry, u64 context_id);

// Runs vCPU `v` on this pCPU forever (waits in WFI while it is off, parks during a VM reset).
[[noreturn]] void vcpu_loop(Vm& vm, Vcpu& v);

// Clean the data cache to the point of coherency over [va, va + size) (identity-mapped RAM the hypervisor wrote
// and a guest with its MMU off will read), and invalidate the instruction cache.
void clean_dcache_to_poc(u64 va, u64 size);
void invalidate_icache_all();

// Power the whole machine off / reset it through the firmware below us (QEMU's PSCI over SMC).
[[noreturn]] void machine_system_off();
[[noreturn]] void machine_system_reset();

}  // namespace hv::arch
