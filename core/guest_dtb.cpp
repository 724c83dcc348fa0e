// The guest's device tree. What goes in and why: docs/device-tree.md. Bindings: arm/psci.yaml,
// interrupt-controller/arm,gic-v3.yaml, timer/arm,arch_timer.yaml, arm/pmu.yaml, serial/pl011.yaml,
// pci/host-generic-pci.yaml, pci/pci-msi.txt, chosen.txt (linux,initrd-start/end, stdout-path).
#include "core/guest_dtb.hpp"

#include "core/fdt/writer.hpp"
#include "lib/format.hpp"
#include "lib/log.hpp"
#include "lib/string.hpp"

namespace hv {

using fdt::CopyAction;
using fdt::CopyFilter;
using fdt::kNoNode;
using fdt::Property;
using fdt::Reader;
using fdt::Writer;

namespace {

constexpr u32 kGuestAddressCells = 2;
constexpr u32 kGuestSizeCells = 2;
constexpr u32 kGicAddressCells = 2;  // the guest GIC node's own #address-cells (children: ITS; interrupt-map)

void node_name(char* buf, usize cap, const char* base, u64 addr) {
    format(buf, cap, "%s@%llx", base, static_cast<unsigned long long>(addr));
}

Status irq_prop(Writer& w, const char* name, const DtIrq* irqs, usize n) {
    u32 cells[12];
    if (n > 4) return Status::invalid_argument;
    for (usize i = 0; i < n; ++i) {
        cells[i * 3] = irqs[i].type;
        cells[i * 3 + 1] = irqs[i].number;
        cells[i * 3 + 2] = irqs[i].flags;
    }
    return w.prop_cells(name, cells, n * 3);
}

Status emit_root_props(Writer& w) {
    HV_TRY(w.prop_string("compatible", "linux,dummy-virt"));
    HV_TRY(w.prop_string("model", "hv guest (QEMU virt layout)"));
    HV_TRY(w.prop_u32("#address-cells", kGuestAddressCells));
    HV_TRY(w.prop_u32("#size-cells", kGuestSizeCells));
    return w.prop_u32("interrupt-parent", kPhandleGic);
}

// The SDEI binding (Linux Documentation/devicetree/bindings/firmware/arm,sdei.yaml): /firmware/sdei with the conduit.
Status emit_sdei(Writer& w) {
    HV_TRY(w.begin_node("firmware"));
    HV_TRY(w.begin_node("sdei"));
    HV_TRY(w.prop_string("compatible", "arm,sdei-1.0"));
    HV_TRY(w.prop_string("method", "hvc"));
    HV_TRY(w.end_node());
    return w.end_node();
}

Status emit_psci(Writer& w, PsciVersion v) {
    HV_TRY(w.begin_node("psci"));
    switch (v) {
        case PsciVersion::v0_1: {
            HV_TRY(w.prop_string("compatible", "arm,psci"));
            // PSCI 0.1 has no architected function IDs: the DT names them (arm/psci.yaml). KVM's/QEMU's values.
            HV_TRY(w.prop_u32("cpu_suspend", kPsci01CpuSuspend));
            HV_TRY(w.prop_u32("cpu_off", kPsci01CpuOff));
            HV_TRY(w.prop_u32("cpu_on", kPsci01CpuOn));
            HV_TRY(w.prop_u32("migrate", kPsci01Migrate));
            break;
        }
        case PsciVersion::v0_2:
            HV_TRY(w.prop_string("compatible", "arm,psci-0.2"));
            break;
        case PsciVersion::v1_0:
        case PsciVersion::v1_1: {
            // There is no "arm,psci-1.1" compatible: 1.1 is discovered through PSCI_VERSION.
            static const char* const compat[] = {"arm,psci-1.0", "arm,psci-0.2"};
            HV_TRY(w.prop_strings("compatible", compat, 2));
            break;
        }
    }
    HV_TRY(w.prop_string("method", "hvc"));
    return w.end_node();
}

Status emit_memory(Writer& w, const GuestDtbConfig& cfg) {
    char name[48];
    for (const MemRegion& m : cfg.memory) {
        node_name(name, sizeof name, "memory", m.base);
        HV_TRY(w.begin_node(name));
        HV_TRY(w.prop_string("device_type", "memory"));
        const Writer::AddrSize reg{m.base, m.size};
        HV_TRY(w.prop_reg("reg", kGuestAddressCells, kGuestSizeCells, &reg, 1));
        HV_TRY(w.end_node());
    }
    return Status::ok;
}

Status emit_cpus(Writer& w, const Reader& host, const PlatformInfo& plat, const GuestDtbConfig& cfg) {
    bool need64 = false;
    for (u64 mpidr : cfg.vcpu_mpidrs) need64 |= (mpidr >> 32) != 0;
    const u32 ac = need64 ? 2 : 1;
    // The vCPUs run on the host's CPU model: reuse its compatible string.
    const char* compat = plat.cpus.empty() ? nullptr : host.prop_string(plat.cpus[0].node, "compatible");
    if (compat == nullptr) compat = "arm,armv8";

    HV_TRY(w.begin_node("cpus"));
    HV_TRY(w.prop_u32("#address-cells", ac));
    HV_TRY(w.prop_u32("#size-cells", 0));
    char name[32];
    for (usize i = 0; i < cfg.vcpu_mpidrs.size(); ++i) {
        const u64 mpidr = cfg.vcpu_mpidrs[i];
        node_name(name, sizeof name, "cpu", mpidr);
        HV_TRY(w.begin_node(name));
        HV_TRY(w.prop_string("device_type", "cpu"));
        HV_TRY(w.prop_string("compatible", compat));
        if (ac == 2)
            HV_TRY(w.prop_u64("reg", mpidr));
        else
            HV_TRY(w.prop_u32("reg", static_cast<u32>(mpidr)));
        HV_TRY(w.prop_string("enable-method", "psci"));
        HV_TRY(w.prop_u32("phandle", kPhandleCpuBase + static_cast<u32>(i)));
        HV_TRY(w.end_node());
    }
    return w.end_node();
}

Status emit_its_node(Writer& w, u64 base, u64 size, u32 phandle) {
    char name[48];
    node_name(name, sizeof name, "its", base);
    HV_TRY(w.begin_node(name));
    HV_TRY(w.prop_string("compatible", "arm,gic-v3-its"));
    HV_TRY(w.prop_empty("msi-controller"));
    HV_TRY(w.prop_u32("#msi-cells", 1));
    const Writer::AddrSize its_reg{base, size};
    HV_TRY(w.prop_reg("reg", 2, 2, &its_reg, 1));
    HV_TRY(w.prop_u32("phandle", phandle));
    return w.end_node();
}

Status emit_gic(Writer& w, const Reader& host, const PlatformInfo& plat, const GuestDtbConfig& cfg, u64 gicr_base,
                u64 gicr_size) {
    const GicInfo& g = plat.gic;
    char name[48];
    node_name(name, sizeof name, "intc", g.gicd_base);
    HV_TRY(w.begin_node(name));
    HV_TRY(w.prop_string("compatible", "arm,gic-v3"));
    HV_TRY(w.prop_u32("#interrupt-cells", 3));
    HV_TRY(w.prop_u32("#address-cells", kGicAddressCells));
    HV_TRY(w.prop_u32("#size-cells", 2));
    HV_TRY(w.prop_empty("ranges"));
    HV_TRY(w.prop_empty("interrupt-controller"));
    HV_TRY(w.prop_u32("#redistributor-regions", 1));
    const Writer::AddrSize reg[2] = {{g.gicd_base, g.gicd_size}, {gicr_base, gicr_size}};
    HV_TRY(w.prop_reg("reg", kGuestAddressCells, kGuestSizeCells, reg, 2));
    if (g.maintenance.valid) HV_TRY(irq_prop(w, "interrupts", &g.maintenance, 1));
    HV_TRY(w.prop_u32("phandle", kPhandleGic));
    if (cfg.include_its) {
        for (usize i = 0; i < g.its.size(); ++i)
            HV_TRY(emit_its_node(w, g.its[i].base, g.its[i].size, kPhandleItsBase + static_cast<u32>(i)));
        if (cfg.virtual_its > 1 && !g.its.empty()) {
            // The purely virtual ITSes (vits=N): their own msi-controller nodes, no device refers to them.
            // If they cannot be placed, the hypervisor creates none either (arch/aarch64/msi_passthrough asks the
            // same function): the guest just gets ITS 0.
            VirtualItsFrames frames;
            if (virtual_its_frames(&host, plat, cfg.virtual_its, frames) != Status::ok) frames.clear();
            for (u32 i = 1; i < frames.size(); ++i)
                HV_TRY(emit_its_node(w, frames[i].base, frames[i].size, virtual_its_phandle(plat, i)));
        }
    }
    return w.end_node();
}

Status emit_uart(Writer& w, const PlatformInfo& plat, char* path, usize path_cap) {
    const UartInfo& u = plat.uart;
    // The pl011 is an AMBA primecell: Linux wants its apb_pclk (and uartclk) clock.
    HV_TRY(w.begin_node("apb-pclk"));
    HV_TRY(w.prop_string("compatible", "fixed-clock"));
    HV_TRY(w.prop_u32("#clock-cells", 0));
    HV_TRY(w.prop_u32("clock-frequency", plat.clock_frequency != 0 ? plat.clock_frequency : 24000000));
    HV_TRY(w.prop_string("clock-output-names", "clk24mhz"));
    HV_TRY(w.prop_u32("phandle", kPhandleClock));
    HV_TRY(w.end_node());

    char name[48];
    node_name(name, sizeof name, "pl011", u.base);
    format(path, path_cap, "/%s", name);
    HV_TRY(w.begin_node(name));
    static const char* const compat[] = {"arm,pl011", "arm,primecell"};
    HV_TRY(w.prop_strings("compatible", compat, 2));
    const Writer::AddrSize reg{u.base, u.size};
    HV_TRY(w.prop_reg("reg", kGuestAddressCells, kGuestSizeCells, &reg, 1));
    if (u.irq.valid) HV_TRY(irq_prop(w, "interrupts", &u.irq, 1));
    static const char* const clock_names[] = {"uartclk", "apb_pclk"};
    HV_TRY(w.prop_strings("clock-names", clock_names, 2));
    const u32 clocks[2] = {kPhandleClock, kPhandleClock};
    HV_TRY(w.prop_cells("clocks", clocks, 2));
    return w.end_node();
}

// --- the timer: copied, minus anything that names a host phandle

CopyAction timer_filter(void*, const Reader&, i32, const Property& p, Writer&) {
    if (strcmp(p.name, "interrupt-parent") == 0 || strcmp(p.name, "phandle") == 0) return CopyAction::drop;
    return CopyAction::keep;
}

// --- the PMU (Linux Documentation/devicetree/bindings/arm/pmu.yaml): one PPI for every CPU, level-high, with the
// PPI CPU mask of the timer node the guest gets (arm,gic-v3.yaml: bits [15:8], GICv2 hosts only; 0 on GICv3)

Status emit_pmu(Writer& w, const PlatformInfo& plat) {
    constexpr u32 kIrqTypeLevelHigh = 4;
    HV_TRY(w.begin_node("pmu"));
    HV_TRY(w.prop_string("compatible", "arm,armv8-pmuv3"));
    const u32 cells[3] = {DtIrq::kPpi, kPmuPpiIntid - 16, kIrqTypeLevelHigh | (plat.timer.virt.flags & 0xff00)};
    HV_TRY(w.prop_cells("interrupts", cells, 3));
    return w.end_node();
}

// --- the PCIe host bridge: copied, with phandle references rewritten to the guest's fixed phandles

struct PcieCopyCtx {
    const PlatformInfo* plat;
    const GuestDtbConfig* cfg;
};

// Host ITS phandle -> guest ITS phandle; 0 if the host phandle is not an ITS we expose.
u32 guest_its_phandle(const PcieCopyCtx& c, u32 host_ph) {
    if (!c.cfg->include_its) return 0;
    for (usize i = 0; i < c.plat->gic.its.size(); ++i)
        if (c.plat->gic.its[i].phandle == host_ph && host_ph != 0) return kPhandleItsBase + static_cast<u32>(i);
    return 0;
}

CopyAction pcie_filter(void* vctx, const Reader& r, i32 node, const Property& p, Writer& w) {
    const PcieCopyCtx& c = *static_cast<const PcieCopyCtx*>(vctx);
    if (node != c.plat->pcie.node) {
        // Child nodes of the bridge (rare in a host DT): drop references we cannot translate.
        return (strcmp(p.name, "interrupt-parent") == 0 || strcmp(p.name, "msi-parent") == 0) ? CopyAction::drop
                                                                                              : CopyAction::keep;
    }
    if (strcmp(p.name, "interrupt-parent") == 0 || strcmp(p.name, "phandle") == 0) return CopyAction::drop;
    // The SMMU belongs to the hypervisor (docs/msi-passthrough.md "DMA isolation"): the guest sees no IOMMU.
    if (strcmp(p.name, "iommu-map") == 0 || strcmp(p.name, "iommu-map-mask") == 0 || strcmp(p.name, "iommus") == 0)
        return CopyAction::drop;
    if (strcmp(p.name, "msi-parent") == 0) {
        const u32 ph = guest_its_phandle(c, c.plat->pcie.msi_parent);
        if (ph == 0) return CopyAction::drop;
        ignore_status(w.prop_u32("msi-parent", ph));  // a failure is sticky: copy_node checks w.status()
        return CopyAction::handled;
    }
    if (strcmp(p.name, "msi-map") == 0) {
        // <rid-base msi-controller msi-base length> per entry; keep only entries that target an exposed ITS.
        u32 cells[PcieInfo::kMaxMsiMaps * 4];
        usize n = 0;
        for (const PciMsiMap& m : c.plat->pcie.msi_map) {
            const u32 ph = guest_its_phandle(c, m.phandle);
            if (ph == 0) continue;
            cells[n++] = m.rid_base;
            cells[n++] = ph;
            cells[n++] = m.msi_base;
            cells[n++] = m.length;
        }
        if (n == 0) return CopyAction::drop;
        ignore_status(w.prop_cells("msi-map", cells, n));
        return CopyAction::handled;
    }
    if (strcmp(p.name, "interrupt-map") == 0) {
        // Re-encode every entry against the guest GIC: child (3 addr + 1 pin) | kPhandleGic | 2 zero address cells
        // (the guest GIC's #address-cells) | <type number flags>.
        constexpr usize kEntry = 4 + 1 + kGicAddressCells + 3;
        u32 cells[PcieInfo::kMaxIntx * kEntry];
        usize n = 0;
        const u8* raw = p.value.data();
        usize off = 0;
        for (const PciIntxRoute& route : c.plat->pcie.intx) {
            if (off + 20 > p.value.size()) break;  // `plat` was parsed from another blob: stop, never over-read
            // Child address mid/lo cells come from the host entry (parse_platform validated the layout).
            const u32 mid = fdt::load_be32(raw + off + 4), lo = fdt::load_be32(raw + off + 8);
            const i32 parent = r.find_phandle(fdt::load_be32(raw + off + 16));
            const u32 pac = r.prop_u32(parent, "#address-cells").value_or(0);
            off += (5 + pac + 3) * 4;
            cells[n++] = route.devfn_hi;
            cells[n++] = mid;
            cells[n++] = lo;
            cells[n++] = route.pin;
            cells[n++] = kPhandleGic;
            for (u32 i = 0; i < kGicAddressCells; ++i) cells[n++] = 0;
            cells[n++] = route.irq.type;
            cells[n++] = route.irq.number;
            cells[n++] = route.irq.flags;
        }
        ignore_status(w.prop_cells("interrupt-map", cells, n));
        return CopyAction::handled;
    }
    return CopyAction::keep;
}

// The passed-through virtio-mmio transports (virtio/mmio.yaml), re-described from PlatformInfo: the host's reg,
// SPI (the guest GIC through the root's interrupt-parent) and dma-coherent. Guest RAM is identity mapped, so the
// device's DMA addresses are the guest's physical addresses.
Status emit_virtio_mmio(Writer& w, const PlatformInfo& plat) {
    char name[48];
    for (const VirtioMmioDevice& d : plat.virtio_mmio.devices) {
        node_name(name, sizeof name, "virtio_mmio", d.base);
        HV_TRY(w.begin_node(name));
        HV_TRY(w.prop_string("compatible", "virtio,mmio"));
        const Writer::AddrSize reg{d.base, d.size};
        HV_TRY(w.prop_reg("reg", kGuestAddressCells, kGuestSizeCells, &reg, 1));
        HV_TRY(irq_prop(w, "interrupts", &d.irq, 1));
        if (d.dma_coherent) HV_TRY(w.prop_empty("dma-coherent"));
        HV_TRY(w.end_node());
    }
    return Status::ok;
}

Status emit_chosen(Writer& w, const GuestDtbConfig& cfg, const char* stdout_path) {
    HV_TRY(w.begin_node("chosen"));
    if (cfg.bootargs != nullptr) HV_TRY(w.prop_string("bootargs", cfg.bootargs));
    if (stdout_path != nullptr && stdout_path[0] != 0) HV_TRY(w.prop_string("stdout-path", stdout_path));
    if (cfg.initrd_end > cfg.initrd_start) {
        HV_TRY(w.prop_u64("linux,initrd-start", cfg.initrd_start));
        HV_TRY(w.prop_u64("linux,initrd-end", cfg.initrd_end));
    }
    if (cfg.boot_count != 0) {
        HV_TRY(w.prop_u32("hv,boot-count", cfg.boot_count));
        HV_TRY(w.prop_string("hv,reset-reason", cfg.reset_reason != nullptr ? cfg.reset_reason : "cold"));
    }
    return w.end_node();
}

bool overlaps(u64 a, u64 asize, u64 b, u64 bsize) { return bsize != 0 && a < b + bsize && b < a + asize; }

// The QEMU virt platform-bus window from the host DT: the node compatible "qemu,platform" with one `ranges` entry
// <child-address parent-address size> (child cells: the node's #address-cells; parent cells: its parent's; size:
// the node's #size-cells). False if absent or not decodable (the caller falls back to the default window).
bool platform_bus_window(const Reader& host, u64& base, u64& size) {
    const i32 node = host.find_compatible("qemu,platform");
    if (node == kNoNode) return false;
    const i32 parent = host.parent(node);
    if (parent == kNoNode) return false;
    const u32 cac = host.address_cells(node), pac = host.address_cells(parent), sc = host.size_cells(node);
    if (cac > 3 || pac == 0 || pac > 2 || sc == 0 || sc > 2) return false;
    const Span<const u8> r = host.prop(node, "ranges");
    if (r.data() == nullptr || r.size() != (cac + pac + sc) * 4) return false;  // exactly one entry
    const u8* p = r.data() + cac * 4;
    base = pac == 2 ? fdt::load_be64(p) : fdt::load_be32(p);
    p += pac * 4;
    size = sc == 2 ? fdt::load_be64(p) : fdt::load_be32(p);
    return size != 0 && base + size > base;
}

// True if [base, base + size) overlaps anything of the host the guest can see or that backs guest RAM.
bool overlaps_platform(const PlatformInfo& plat, u64 base, u64 size) {
    for (const MemRegion& m : plat.memory)
        if (overlaps(base, size, m.base, m.size)) return true;
    const GicInfo& g = plat.gic;
    if (overlaps(base, size, g.gicd_base, g.gicd_size)) return true;
    for (const MemRegion& r : g.gicr)
        if (overlaps(base, size, r.base, r.size)) return true;
    for (const ItsFrame& f : g.its)
        if (overlaps(base, size, f.base, f.size)) return true;
    if (plat.uart.present && overlaps(base, size, plat.uart.base, plat.uart.size)) return true;
    if (plat.pcie.present) {
        if (overlaps(base, size, plat.pcie.ecam_base, plat.pcie.ecam_size)) return true;
        for (const PciRange& r : plat.pcie.ranges)
            if (overlaps(base, size, r.cpu_addr, r.size)) return true;
    }
    for (const VirtioMmioDevice& d : plat.virtio_mmio.devices) {  // passed through in whole 4 KiB pages
        const u64 first = align_down(d.base, 4 * KiB);
        if (overlaps(base, size, first, align_up(d.base + d.size, 4 * KiB) - first)) return true;
    }
    return false;
}

}  // namespace

Status virtual_its_frames(const Reader* host, const PlatformInfo& plat, u32 count, VirtualItsFrames& out) {
    out.clear();
    if (count == 0 || count > kMaxVirtualIts) return Status::invalid_argument;
    if (plat.gic.its.empty()) return Status::not_found;
    HV_TRY(
        out.push_back({plat.gic.its[0].base, plat.gic.its[0].size != 0 ? plat.gic.its[0].size : kVirtualItsFrameSize}));
    u64 win = kDefaultPlatformBusBase, win_size = kDefaultPlatformBusSize;
    if (host != nullptr && host->valid()) {
        u64 b = 0, sz = 0;
        if (platform_bus_window(*host, b, sz)) win = b, win_size = sz;
    }
    // IHI0069H 12.19: the ITS frames are 64 KiB aligned; the window start is rounded up to keep that.
    const u64 first = align_up(win, 64 * KiB);
    for (u32 i = 1; i < count; ++i) {
        const u64 base = first + u64{i - 1} * kVirtualItsFrameSize;
        if (first < win || base + kVirtualItsFrameSize > win + win_size ||
            overlaps_platform(plat, base, kVirtualItsFrameSize)) {
            HV_LOG_WARN("virtual ITS %u: no room at 0x%llx in the window 0x%llx+0x%llx", i,
                        static_cast<unsigned long long>(base), static_cast<unsigned long long>(win),
                        static_cast<unsigned long long>(win_size));
            out.clear();
            return Status::out_of_range;
        }
        HV_TRY(out.push_back({base, kVirtualItsFrameSize}));
    }
    return Status::ok;
}

namespace {

Status validate(const PlatformInfo& plat, const GuestDtbConfig& cfg, u64& gicr_base, u64& gicr_size) {
    if (cfg.vcpu_mpidrs.empty() || cfg.memory.empty()) return Status::invalid_argument;
    for (usize i = 0; i < cfg.vcpu_mpidrs.size(); ++i)
        for (usize j = i + 1; j < cfg.vcpu_mpidrs.size(); ++j)
            if (cfg.vcpu_mpidrs[i] == cfg.vcpu_mpidrs[j]) return Status::invalid_argument;
    for (const MemRegion& m : cfg.memory)
        if (m.size == 0 || m.base + m.size < m.base) return Status::invalid_argument;
    if (plat.gic.gicd_size == 0 || plat.gic.gicr.empty()) return Status::invalid_argument;
    if (cfg.initrd_end != 0 && cfg.initrd_end < cfg.initrd_start) return Status::invalid_argument;  // 0 = none
    gicr_base = cfg.gicr_base != 0 ? cfg.gicr_base : plat.gic.gicr[0].base;
    gicr_size = cfg.vcpu_mpidrs.size() * GicInfo::kGicrFrameStride;
    // When the guest's redistributors sit in the host's region, they must fit in it.
    if (cfg.gicr_base == 0 && gicr_size > plat.gic.gicr[0].size) return Status::invalid_argument;
    if (cfg.include_uart && plat.uart.present && !plat.uart.irq.valid) return Status::invalid_argument;
    // The PCIe node is copied with its reg/ranges encoded in the host root's cell sizes; the guest root uses 2/2.
    if (cfg.include_pcie && plat.pcie.present &&
        (plat.root_address_cells != kGuestAddressCells || plat.root_size_cells != kGuestSizeCells))
        return Status::unsupported;
    return Status::ok;
}

}  // namespace

Status build_guest_dtb(const Reader& host, const PlatformInfo& plat, const GuestDtbConfig& cfg, u8* out, usize cap,
                       usize& size) {
    size = 0;
    u64 gicr_base = 0, gicr_size = 0;
    HV_TRY(validate(plat, cfg, gicr_base, gicr_size));

    Writer w(out, cap);
    HV_TRY(w.begin_node(""));
    HV_TRY(emit_root_props(w));
    HV_TRY(emit_psci(w, cfg.psci));
    if (cfg.include_sdei) HV_TRY(emit_sdei(w));
    HV_TRY(emit_memory(w, cfg));
    HV_TRY(emit_cpus(w, host, plat, cfg));
    HV_TRY(emit_gic(w, host, plat, cfg, gicr_base, gicr_size));

    if (plat.timer.node != kNoNode) {
        const CopyFilter tf{timer_filter, nullptr, nullptr};
        HV_TRY(fdt::copy_node(host, plat.timer.node, w, &tf, "timer"));
    }

    if (cfg.include_pmu) HV_TRY(emit_pmu(w, plat));

    char stdout_path[64] = {};
    if (cfg.include_uart && plat.uart.present) HV_TRY(emit_uart(w, plat, stdout_path, sizeof stdout_path));

    if (cfg.include_pcie && plat.pcie.present) {
        PcieCopyCtx ctx{&plat, &cfg};
        const CopyFilter pf{pcie_filter, nullptr, &ctx};
        HV_TRY(fdt::copy_node(host, plat.pcie.node, w, &pf));
    }
    if (cfg.include_virtio_mmio) HV_TRY(emit_virtio_mmio(w, plat));

    HV_TRY(emit_chosen(w, cfg, stdout_path));
    HV_TRY(w.end_node());
    Result<usize> total = w.finish();
    if (!total.ok()) return total.status();
    size = total.value();
    return Status::ok;
}

}  // namespace hv
