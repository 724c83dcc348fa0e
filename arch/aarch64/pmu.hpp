// The guest's PMUv3 on the hardware (docs/boot.md "PMU"). vCPUs are pinned 1:1, so each guest owns the PMU of its
// pCPU outright: MDCR_EL2.HPMN = PMCR_EL0.N gives it every counter, nothing traps, HPMD/HCCD keep EL2 from being
// counted. The registers are moved between the CPU and VcpuContext::pmu only where something else needs them
// (vCPU reset, VM reset, snapshot save/restore), never at ordinary exits. The overflow interrupt (PPI 23) is
// hardware-linked to the guest's PPI 23 by arch/aarch64/vgic_glue.cpp.
#pragma once

#include "core/pmu.hpp"
#include "core/vcpu.hpp"
#include "vm/vm.hpp"

namespace hv::arch {

// The guest's PMU (ID_AA64DFR0_EL1 / PMCR_EL0 of the boot pCPU, read by pmu_init_cpu on it). Not present without a
// PMUv3 (no registers, no DT node, MDCR_EL2 = 0).
const pmu::Config& pmu_config();

// Per pCPU from hyp_init_cpu (the boot pCPU first): MDCR_EL2 for running guests, this pCPU's PMU quiesced.
void pmu_init_cpu();

// On the vCPU's own pCPU, before it runs: if ctx.pmu is newer than the hardware (Vcpu::pmu_dirty), load it.
void pmu_vcpu_load(Vcpu& v);
// On the vCPU's own pCPU, when it stops running for a while (parked for a VM reset or snapshot, powered off):
// ctx.pmu made current from the hardware (others may read or replace it now) and reloaded before the vCPU runs
// again, and the hardware stopped (PMCR_EL0.E = 0), so it neither counts nor raises its overflow interrupt.
void pmu_vcpu_put(Vcpu& v);

// With a PMUv3, the PMU as one of the VM's devices (registered first: the vGIC's before_entry reads the loaded
// PMU): pmu_vcpu_load before every entry, pmu_vcpu_put when the vCPU stops running (off, parked).
[[nodiscard]] Status pmu_vm_init(Vm& vm);

// The PMU overflow interrupt request of this pCPU's PMU right now (pmu::overflow_level of the live registers).
bool pmu_overflow_live();

}  // namespace hv::arch
