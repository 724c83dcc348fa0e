// Passing QEMU's virtio-mmio transports through to the guest (docs/device-tree.md "virtio-mmio"): each transport's
// page is mapped identity at stage 2 (Device-nGnRE, never executable), its SPI is hardware-linked to the same
// virtual SPI (vgic_forward_hw_spi) and core/guest_dtb describes it as a virtio_mmio@... node. The transports are
// the ones parse_platform kept (nothing the hypervisor owns or emulates shares their pages or SPIs). Device DMA
// targets guest-physical = physical addresses (guest RAM is identity mapped), so it works without an IOMMU -- and
// without any isolation: these devices are not behind QEMU's SMMUv3 (which fronts PCIe only) and can reach all of
// RAM, the hypervisor's included.
#pragma once

#include "core/platform.hpp"
#include "vm/vm.hpp"

namespace hv::arch {

// Stage-2 mappings and hardware-linked SPIs of every transport in `info` (after vgic_vm_init), and a VM reset hook
// that resets every transport with a device (`info` must outlive the VM: boot/main.cpp's PlatformInfo). not_found
// if there is none; otherwise the first error (the transports done before it stay passed through; the caller then
// leaves all of them out of the guest DT).
[[nodiscard]] Status virtio_mmio_passthrough(Vm& vm, const VirtioMmioInfo& info);

// virtio_mmio=empty: drops from `info` every transport whose 4 KiB page (stage 2's unit) holds a transport with a
// device, so no DMA-capable device reaches the guest; each such device is logged. Returns how many were dropped.
u32 virtio_mmio_keep_empty(VirtioMmioInfo& info);

}  // namespace hv::arch
