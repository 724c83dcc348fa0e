// The VM anchor (the one Vm of this hypervisor, built in place at boot) and its assembly: build_vm with the ports
// arch/ implements, the SDEI start and the PSCI version written through the register catalogue.
#include "arch/aarch64/anchor.hpp"
#include "arch/aarch64/firmware_port.hpp"
#include "arch/aarch64/mitigations.hpp"
#include "arch/aarch64/pmu.hpp"
#include "arch/aarch64/sdei_glue.hpp"
#include "arch/aarch64/vcpu_internal.hpp"
#include "arch/aarch64/vm_run.hpp"
#include "psci/fw_registers.hpp"

namespace hv::arch {

Vm& the_vm() { return *hyp().vm; }
Vm& create_vm() { return hyp().vm.construct(); }
psci::Firmware& vm_firmware() { return hyp().vm->firmware; }
reglist::RegisterCatalogue& vm_registers() { return hyp().vm->registers(); }

Status vm_build(Vm& vm, VmConfig& cfg, VmPorts ports, psci::PsciVersion version) {
    // KVM creates a VM's vCPUs with or without KVM_ARM_VCPU_PSCI_0_2; the exact version is then a register write.
    // The option is also the highest version offered: a snapshot of a VM that saw a newer one is refused.
    cfg.firmware.psci_version = version;
    // What the host promises the VM: the mitigation levels (arch/aarch64/mitigations) and the ID registers.
    cfg.firmware.host = host_mitigations();
    cfg.host_ids = host_id_regs();
    cfg.ipa_bits = guest_ipa_bits();
    cfg.firmware.boot_vcpu = 0;
    cfg.pmu = pmu_config();  // no PMU registers without a PMUv3
    ports.firmware = &firmware_platform();
    ports.sdei = &sdei_platform();
    ports.kicker = &vcpu_kicker();
    ports.clock = &counter_clock();
    HV_TRY(build_vm(vm, cfg, ports));
    // The first devices of the run loop, in this order: the PMU (loads a replaced context before the vGIC reads its
    // overflow line), SDEI. boot/ adds the vGIC, UART, ITSes, SMMU, virtio-mmio and snapshots.
    HV_TRY(pmu_vm_init(vm));
    HV_TRY(sdei_vm_init(vm));
    // The same path a restore takes (docs/reglist.md): KVM_REG_ARM_PSCI_VERSION on the VM handle.
    return vm.registers().set_u64(reglist::Handle::vm(), psci::fwreg::kPsciVersion | reglist::kScopeVm,
                                  static_cast<u64>(version));
}

}  // namespace hv::arch
