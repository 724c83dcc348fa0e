// Builds the device tree handed to a guest in x0. Content and rationale: docs/device-tree.md.
// Phandles are fixed (kPhandle*), so device models and tests can rely on them; every interrupt specifier in the
// guest tree refers to the guest GIC through the root's interrupt-parent or the GIC phandle explicitly.
#pragma once

#include "core/fdt/reader.hpp"
#include "core/platform.hpp"

namespace hv {

enum class PsciVersion : u8 { v0_1, v0_2, v1_0, v1_1 };

constexpr u32 kPhandleGic = 1;
constexpr u32 kPhandleClock = 2;
constexpr u32 kPhandleItsBase = 0x10;  // ITS i gets kPhandleItsBase + i
constexpr u32 kPhandleCpuBase = 0x20;  // cpu i gets kPhandleCpuBase + i

// The PMU overflow interrupt the guest is given: PPI 7 = INTID 23 (Arm BSA's recommended PMU PPI, QEMU virt's
// VIRTUAL_PMU_IRQ, what KVM users configure), hardware-linked to the physical PMU PPI (arch/aarch64/vgic_glue).
constexpr u32 kPmuPpiIntid = 23;

// PSCI 0.1 function IDs as used by KVM and QEMU (KVM_PSCI_FN_BASE + n); PSCI 0.1 had no standard IDs.
constexpr u32 kPsci01CpuSuspend = 0x95c1ba5e;
constexpr u32 kPsci01CpuOff = 0x95c1ba5f;
constexpr u32 kPsci01CpuOn = 0x95c1ba60;
constexpr u32 kPsci01Migrate = 0x95c1ba61;

// --- Several virtual ITSes per VM (bootargs vits=N; docs/its.md "Several virtual ITSes per VM") ---------------
// Virtual ITS 0 sits at the host's first ITS (so passed-through devices' doorbell is the physical GITS_TRANSLATER);
// virtual ITS i >= 1 is purely virtual, at window + (i - 1) x 128 KiB, where the window is the QEMU virt
// platform-bus window: the host DT's node compatible "qemu,platform" (its `ranges`), else the default below
// (QEMU hw/arm/virt.c VIRT_PLATFORM_BUS). The guest sees nothing of the host there: the hypervisor's guest DT has
// no platform-bus node and stage 2 maps nothing in it, so the window is free guest-physical space below RAM and
// outside the PCIe windows. Every frame is checked against RAM, GIC, UART, host ITS and PCIe regions anyway.
constexpr u32 kMaxVirtualIts = 4;
constexpr u64 kVirtualItsFrameSize = 128 * KiB;  // control frame + translater frame (IHI0069H 5.1, 12.19)
constexpr u64 kDefaultPlatformBusBase = 0x0c00'0000;
constexpr u64 kDefaultPlatformBusSize = 0x0200'0000;

using VirtualItsFrames = FixedVector<MemRegion, kMaxVirtualIts>;
static_assert(kPhandleItsBase + GicInfo::kMaxIts + kMaxVirtualIts - 1 <= kPhandleCpuBase,
              "ITS phandles must not run into the CPU phandles");

// The guest-physical frames of `count` virtual ITSes: out[0] = the host's first ITS frame, out[i] (i >= 1) the
// purely virtual ones. `host` (may be nullptr) is searched for the platform-bus window. Errors: invalid_argument
// (count 0 or above kMaxVirtualIts), not_found (the host has no ITS), out_of_range (a frame would not fit the
// window or overlaps a host region the guest can see: RAM, GICD/GICR, an ITS, the UART, PCIe ECAM/windows).
[[nodiscard]] Status virtual_its_frames(const fdt::Reader* host, const PlatformInfo& platform, u32 count,
                                        VirtualItsFrames& out);

// Guest phandle of virtual ITS `index` >= 1 (after the host ITS nodes, which keep kPhandleItsBase + i).
constexpr u32 virtual_its_phandle(const PlatformInfo& platform, u32 index) {
    return kPhandleItsBase + static_cast<u32>(platform.gic.its.size()) + index - 1;
}

struct GuestDtbConfig {
    static constexpr usize kMaxVcpus = PlatformInfo::kMaxCpus;
    static constexpr usize kMaxMemRegions = 8;

    FixedVector<u64, kMaxVcpus> vcpu_mpidrs;        // vCPU i has MPIDR affinity vcpu_mpidrs[i]
    FixedVector<MemRegion, kMaxMemRegions> memory;  // guest RAM (the hypervisor's region excluded)
    PsciVersion psci = PsciVersion::v1_1;
    const char* bootargs = nullptr;        // /chosen/bootargs (nullptr: none)
    u64 initrd_start = 0, initrd_end = 0;  // linux,initrd-start/end if end > start
    bool include_its = true;               // emit the ITS node(s) as msi-controller
    // Virtual ITS instances (vits=): 1 = the host ITS node(s) only; N > 1 adds N - 1 purely virtual ITS nodes at
    // virtual_its_frames() (only with include_its and a host ITS). The PCIe msi-map keeps pointing at ITS 0.
    u32 virtual_its = 1;
    bool include_pcie = true;         // keep the host PCIe node (with msi-map -> our ITS)
    bool include_uart = true;         // the pl011 (emulated) + stdout-path
    bool include_virtio_mmio = true;  // PlatformInfo::virtio_mmio transports as virtio_mmio@... nodes
    bool include_sdei = true;         // /firmware/sdei ("arm,sdei-1.0", method "hvc"): docs/sdei.md
    bool include_pmu = false;         // /pmu ("arm,armv8-pmuv3", PPI 7 = INTID 23): the guest has a PMUv3
    // GIC redistributor base for vCPU 0; 0 = the host's first GICR region base. The region emitted is exactly
    // vcpu count x 128 KiB.
    u64 gicr_base = 0;
    // VM reset bookkeeping for the guest (docs/boot.md "VM reset"): /chosen "hv,boot-count" (u32) and
    // "hv,reset-reason" ("cold" | "system-reset" | "system-reset2"). Omitted when boot_count is 0.
    u32 boot_count = 0;
    const char* reset_reason = nullptr;
};

// Writes the guest DTB into out[0, cap) and sets size. Errors: invalid_argument (no vCPUs / no memory / a
// vCPU count above the GIC's capacity), no_memory (cap too small), whatever the host tree yields when copied.
[[nodiscard]] Status build_guest_dtb(const fdt::Reader& host, const PlatformInfo& platform, const GuestDtbConfig& cfg,
                                     u8* out, usize cap, usize& size);

}  // namespace hv
