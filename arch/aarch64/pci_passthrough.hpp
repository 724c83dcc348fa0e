// Passing the host PCIe host bridge through to the guest: the ECAM and the MMIO (32/64-bit) and I/O windows are
// mapped identity at stage 2 with device attributes, so the guest's PCI core enumerates and drives the real
// devices; the guest DT keeps the bridge node with msi-map -> the virtual ITS (core/guest_dtb). Guest RAM is identity
// mapped (IPA == PA), so the devices' bus addresses are guest-physical addresses; their DMA is confined to guest RAM
// and the ITS doorbell by the hypervisor's SMMU (arch/aarch64/smmu). MSIs: arch/aarch64/msi_passthrough. INTx: the
// interrupt-map SPIs become hardware-linked virtual SPIs.
#pragma once

#include "core/platform.hpp"
#include "vm/vm.hpp"

namespace hv::arch {

// Stage-2 mappings of the bridge's ECAM and windows. not_found if the host has no PCIe bridge; invalid_argument if
// a window overlaps guest RAM or is not page aligned; whatever the stage-2 builder returns otherwise.
[[nodiscard]] Status pci_passthrough_map(Vm& vm, const PcieInfo& pcie);

// INTx: each SPI of the interrupt-map is forwarded to the guest as a hardware-linked virtual SPI (after the vGIC).
[[nodiscard]] Status pci_passthrough_intx(Vm& vm, const PcieInfo& pcie);

}  // namespace hv::arch
