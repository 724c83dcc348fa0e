// The host machine as described by the host DTB: everything the hypervisor needs to know about RAM, CPUs, the GIC,
// the timer, the console UART, the PCIe host bridge and the modules (guest kernel, initrd) QEMU's guest-loader left
// in /chosen. Filled once at boot by parse_platform(); plain data afterwards. Strings are copied, so the struct
// stays valid if the DTB is overwritten — but node handles (`*_node`) refer to the DTB the Reader was opened on.
#pragma once

#include "core/fdt/reader.hpp"
#include "lib/containers.hpp"

namespace hv {

struct MemRegion {
    u64 base = 0;
    u64 size = 0;
    u64 end() const { return base + size; }
};

// An interrupt specifier of the "arm,gic-v3" binding: <type number flags>, type 0 = SPI, 1 = PPI.
struct DtIrq {
    static constexpr u32 kSpi = 0;
    static constexpr u32 kPpi = 1;
    u32 type = kSpi;
    u32 number = 0;  // SPI n -> INTID 32+n, PPI n -> INTID 16+n
    u32 flags = 0;   // 1 = edge rising, 4 = level high (IRQ_TYPE_*)
    bool valid = false;
    u32 intid() const { return type == kPpi ? number + 16 : number + 32; }
};

enum class PsciMethod : u8 { none, smc, hvc };

struct ItsFrame {
    u64 base = 0;
    u64 size = 0;  // control frame + translater frame (2 x 64 KiB on QEMU)
    u32 phandle = 0;
    i32 node = fdt::kNoNode;
};

struct GicInfo {
    static constexpr usize kMaxRedistRegions = 4;
    static constexpr usize kMaxIts = 4;
    static constexpr u64 kGicrFrameStride = 2 * 64 * KiB;  // RD_base + SGI_base, GICv3 (IHI0069 12.10)
    u64 gicd_base = 0;
    u64 gicd_size = 0;
    FixedVector<MemRegion, kMaxRedistRegions> gicr;
    u64 gicr_stride = kGicrFrameStride;  // "redistributor-stride" if present, else 2 x 64 KiB
    DtIrq maintenance;                   // "interrupts" of the GIC node (PPI 9 = INTID 25 on QEMU)
    FixedVector<ItsFrame, kMaxIts> its;
    u32 phandle = 0;
    i32 node = fdt::kNoNode;
};

struct TimerInfo {
    // /timer "interrupts" in binding order: secure phys, non-secure phys, virtual, hypervisor phys.
    DtIrq sec_phys, phys, virt, hyp_phys;
    bool always_on = false;
    i32 node = fdt::kNoNode;
};

struct UartInfo {
    bool present = false;
    u64 base = 0;
    u64 size = 0;
    DtIrq irq;  // QEMU: SPI 1 = INTID 33
    i32 node = fdt::kNoNode;
};

struct PciRange {
    // Space code of phys.hi bits [25:24] (IEEE 1275 PCI binding): 1 = I/O, 2 = 32-bit MMIO, 3 = 64-bit MMIO.
    enum class Space : u8 { config = 0, io = 1, mmio32 = 2, mmio64 = 3 };
    Space space = Space::config;
    bool prefetchable = false;
    u64 pci_addr = 0;
    u64 cpu_addr = 0;
    u64 size = 0;
};

// One msi-map entry: requester IDs [rid_base, rid_base+length) -> DeviceIDs [msi_base, ...) of the ITS `phandle`.
struct PciMsiMap {
    u32 rid_base = 0;
    u32 phandle = 0;
    u32 msi_base = 0;
    u32 length = 0;
};

// One iommu-map entry (pci-iommu.txt): requester IDs [rid_base, rid_base+length) -> StreamIDs [sid_base, ...) of the
// SMMU `phandle`.
struct PciIommuMap {
    u32 rid_base = 0;
    u32 phandle = 0;
    u32 sid_base = 0;
    u32 length = 0;
};

// One interrupt-map entry (child address hi cell masked by interrupt-map-mask, INTx pin 1..4) -> GIC SPI.
struct PciIntxRoute {
    u32 devfn_hi = 0;  // phys.hi of the child unit address (device number in bits [15:11])
    u32 pin = 0;       // 1 = INTA .. 4 = INTD
    DtIrq irq;
};

struct PcieInfo {
    static constexpr usize kMaxRanges = 4;
    static constexpr usize kMaxMsiMaps = 4;
    static constexpr usize kMaxIntx = 32;
    bool present = false;
    u64 ecam_base = 0;
    u64 ecam_size = 0;
    u32 bus_start = 0;
    u32 bus_end = 0xff;
    u32 domain = 0;
    FixedVector<PciRange, kMaxRanges> ranges;
    FixedVector<PciMsiMap, kMaxMsiMaps> msi_map;
    u32 msi_parent = 0;  // "msi-parent" phandle if used instead of msi-map
    FixedVector<PciIommuMap, kMaxMsiMaps> iommu_map;
    u32 iommu_map_mask = ~0u;  // "iommu-map-mask" (applied to the requester ID first), all ones if absent
    u32 intx_mask[4] = {};     // interrupt-map-mask: 3 address cells + 1 interrupt cell
    FixedVector<PciIntxRoute, kMaxIntx> intx;
    i32 node = fdt::kNoNode;
    // Helper: the window of `space` (first one), or nullptr.
    const PciRange* window(PciRange::Space space) const;
};

// An "arm,smmu-v3" node (Linux binding iommu/arm,smmu-v3.yaml): registers and the wired interrupts by name.
struct SmmuInfo {
    bool present = false;
    u64 base = 0;
    u64 size = 0;                           // 128 KiB: page 0 + page 1
    DtIrq eventq, gerror, priq, cmdq_sync;  // "combined" fills eventq and gerror
    bool coherent = false;                  // "dma-coherent"
    u32 phandle = 0;
    i32 node = fdt::kNoNode;
};

// One "virtio,mmio" transport of the host (QEMU virt: 32 of them, 0x200 bytes each from 0x0a00_0000, SPIs 16..47).
struct VirtioMmioDevice {
    u64 base = 0;
    u64 size = 0;
    DtIrq irq;                  // an SPI
    bool dma_coherent = false;  // the host node has "dma-coherent"
    i32 node = fdt::kNoNode;
};

// The transports the guest may have (passed through: stage-2 mapped, SPIs hardware-linked; docs/device-tree.md).
// parse_platform keeps only transports that do not share a 4 KiB page with, or an SPI of, anything the hypervisor
// owns or emulates (RAM, GIC, ITS, the console UART, the PCIe bridge, the SMMU); the others are dropped with a
// warning.
struct VirtioMmioInfo {
    static constexpr usize kMaxDevices = 32;
    FixedVector<VirtioMmioDevice, kMaxDevices> devices;  // in host DT order
};

enum class ModuleKind : u8 { other, kernel, ramdisk };

struct BootModule {
    static constexpr usize kMaxBootargs = 1024;
    ModuleKind kind = ModuleKind::other;
    u64 base = 0;
    u64 size = 0;
    char bootargs[kMaxBootargs] = {};  // "" if none
};

struct ChosenInfo {
    static constexpr usize kMaxModules = 8;
    static constexpr usize kMaxBootargs = 1024;
    static constexpr usize kMaxPath = 128;
    char bootargs[kMaxBootargs] = {};  // the hypervisor's own options (-append)
    char stdout_path[kMaxPath] = {};   // as given, options after ':' stripped
    FixedVector<BootModule, kMaxModules> modules;
    u64 initrd_start = 0, initrd_end = 0;  // linux,initrd-start/end if QEMU -initrd was used
    // First module of kind k, or nullptr.
    const BootModule* module(ModuleKind k) const;
};

struct CpuInfo {
    u64 mpidr = 0;  // affinity bits from the cpu node's "reg"
    i32 node = fdt::kNoNode;
};

struct PlatformInfo {
    static constexpr usize kMaxCpus = 8;
    static constexpr usize kMaxMemRegions = 8;

    FixedVector<MemRegion, kMaxMemRegions> memory;    // /memory reg entries, sorted by base
    FixedVector<MemRegion, kMaxMemRegions> reserved;  // DTB reservation block + /reserved-memory children
    FixedVector<CpuInfo, kMaxCpus> cpus;              // in DTB order
    PsciMethod psci_method = PsciMethod::none;
    GicInfo gic;
    TimerInfo timer;
    DtIrq pmu_irq;  // "arm,armv8-pmuv3" first interrupt (QEMU virt: PPI 7 = INTID 23); invalid if no PMU node
    UartInfo uart;
    PcieInfo pcie;
    SmmuInfo smmu;  // the first "arm,smmu-v3" node (the one the PCIe iommu-map names, on QEMU virt)
    VirtioMmioInfo virtio_mmio;
    ChosenInfo chosen;
    u32 root_address_cells = 2;
    u32 root_size_cells = 2;
    u32 clock_phandle = 0;    // the fixed-clock used by the UART ("apb_pclk"), 0 if none
    u32 clock_frequency = 0;  // its clock-frequency

    usize cpu_count() const { return cpus.size(); }
};

// Parses the host DTB. Mandatory: /memory (>= 1 region), /cpus (>= 1 cpu), an "arm,gic-v3" node with GICD and at
// least one GICR region, /timer ("arm,armv8-timer"). Optional: ITS, UART, PCIe, SMMUv3, /chosen, PSCI, PMU. A missing
// mandatory node -> Status::not_found; malformed values -> Status::corrupt; more items than the fixed maxima ->
// Status::no_memory (CPUs beyond kMaxCpus are ignored with a warning instead). Never crashes on a bad blob.
// least one GICR region, /timer ("arm,armv8-timer"). Optional: ITS, UART, PCIe, virtio-mmio (never fatal: a bad or
// conflicting transport is dropped with a warning), /chosen, PSCI. A missing mandatory node -> Status::not_found;
// malformed values -> Status::corrupt; more items than the fixed maxima -> Status::no_memory (CPUs beyond kMaxCpus
// are ignored with a warning instead). Never crashes on a bad blob.
[[nodiscard]] Status parse_platform(const fdt::Reader& dtb, PlatformInfo& out);

}  // namespace hv
