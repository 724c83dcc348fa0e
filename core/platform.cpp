// Host platform description from the host DTB. Bindings used: Devicetree Specification v0.4 (memory, cpus,
// chosen), Linux bindings arm/psci.yaml, interrupt-controller/arm,gic-v3.yaml, timer/arm,arch_timer.yaml,
// pci/host-generic-pci.yaml + pci/pci-msi.txt (msi-map) + pci/pci-iommu.txt (iommu-map), iommu/arm,smmu-v3.yaml,
// and Xen's multiboot module binding (QEMU guest-loader).
#include "core/platform.hpp"

#include "core/arm_defs.hpp"
#include "lib/log.hpp"
#include "lib/string.hpp"

namespace hv {

using fdt::kNoNode;
using fdt::Reader;

namespace {

// Reset value, constant-initialised so that resetting `out` does not put a ~10 KiB temporary on the stack.
constinit const PlatformInfo kEmptyPlatform{};

void copy_string(char* dst, usize cap, const char* src) {
    usize n = 0;
    if (src != nullptr)
        for (; n + 1 < cap && src[n] != 0; ++n) dst[n] = src[n];
    dst[n] = 0;
}

bool is_memory_node(const Reader& r, i32 n) {
    const char* dt = r.prop_string(n, "device_type");
    return dt != nullptr && strcmp(dt, "memory") == 0;
}

// Decodes the idx-th <type number flags> triple of an "interrupts" property (GICv3 #interrupt-cells = 3).
DtIrq irq_at(const Reader& r, i32 node, usize idx) {
    DtIrq irq;
    Span<const u8> v = r.prop(node, "interrupts");
    if (v.data() == nullptr || (idx + 1) * 12 > v.size()) return irq;
    const u8* p = v.data() + idx * 12;
    irq.type = fdt::load_be32(p);
    irq.number = fdt::load_be32(p + 4);
    irq.flags = fdt::load_be32(p + 8);
    // SPIs 0..987 (INTID 32..1019), PPIs 0..15 (extended ranges are not used on virt).
    irq.valid = (irq.type == DtIrq::kSpi && irq.number < 988) || (irq.type == DtIrq::kPpi && irq.number < 16);
    return irq;
}

void insert_sorted(FixedVector<MemRegion, PlatformInfo::kMaxMemRegions>& v, MemRegion m, Status& st) {
    usize i = 0;
    while (i < v.size() && v[i].base < m.base) ++i;
    Status s = v.insert(i, m);
    if (s != Status::ok && st == Status::ok) st = s;
}

Status parse_memory(const Reader& r, PlatformInfo& out) {
    Status st = Status::ok;
    const u32 ac = out.root_address_cells, sc = out.root_size_cells;
    for (i32 n = r.first_child(r.root()); n != kNoNode; n = r.next_sibling(n)) {
        if (!is_memory_node(r, n)) continue;
        u64 base = 0, size = 0;
        for (usize i = 0; r.read_reg_cells(n, i, ac, sc, base, size) == Status::ok; ++i) {
            if (size == 0) continue;
            if (base + size < base) return Status::corrupt;
            insert_sorted(out.memory, {base, size}, st);
        }
    }
    if (st != Status::ok) return st;
    if (out.memory.empty()) {
        HV_LOG_ERROR("dtb: no /memory");
        return Status::not_found;
    }
    for (usize i = 0; i < r.reservation_count(); ++i) {
        u64 base = 0, size = 0;
        if (r.reservation(i, base, size) == Status::ok && size != 0) insert_sorted(out.reserved, {base, size}, st);
    }
    const i32 rm = r.find_path("/reserved-memory");
    if (rm != kNoNode) {
        const u32 rac = r.address_cells(rm), rsc = r.size_cells(rm);
        for (i32 c = r.first_child(rm); c != kNoNode; c = r.next_sibling(c)) {
            u64 base = 0, size = 0;
            for (usize i = 0; r.read_reg_cells(c, i, rac, rsc, base, size) == Status::ok; ++i)
                if (size != 0) insert_sorted(out.reserved, {base, size}, st);
        }
    }
    return st;
}

Status parse_cpus(const Reader& r, PlatformInfo& out) {
    const i32 cpus = r.find_path("/cpus");
    if (cpus == kNoNode) {
        HV_LOG_ERROR("dtb: no /cpus");
        return Status::not_found;
    }
    const u32 ac = r.address_cells(cpus);
    if (ac == 0 || ac > 2) return Status::corrupt;
    for (i32 c = r.first_child(cpus); c != kNoNode; c = r.next_sibling(c)) {
        const char* dt = r.prop_string(c, "device_type");
        if (dt == nullptr || strcmp(dt, "cpu") != 0) continue;  // skips cpu-map
        u64 mpidr = 0, unused = 0;
        if (r.read_reg_cells(c, 0, ac, 0, mpidr, unused) != Status::ok) return Status::corrupt;
        if (out.cpus.full()) {
            HV_LOG_WARN("dtb: more than %zu CPUs, ignoring %s", PlatformInfo::kMaxCpus, r.name(c));
            continue;
        }
        ignore_status(out.cpus.push_back({arm::mpidr_affinity(mpidr), c}));
    }
    if (out.cpus.empty()) {
        HV_LOG_ERROR("dtb: no cpu nodes");
        return Status::not_found;
    }
    return Status::ok;
}

void parse_psci(const Reader& r, PlatformInfo& out) {
    i32 n = r.find_compatible("arm,psci-1.0");
    if (n == kNoNode) n = r.find_compatible("arm,psci-0.2");
    if (n == kNoNode) n = r.find_compatible("arm,psci");
    if (n == kNoNode) return;
    const char* m = r.prop_string(n, "method");
    if (m == nullptr) return;
    if (strcmp(m, "smc") == 0)
        out.psci_method = PsciMethod::smc;
    else if (strcmp(m, "hvc") == 0)
        out.psci_method = PsciMethod::hvc;
}

Status parse_gic(const Reader& r, PlatformInfo& out) {
    GicInfo& g = out.gic;
    const i32 n = r.find_compatible("arm,gic-v3");
    if (n == kNoNode) {
        HV_LOG_ERROR("dtb: no arm,gic-v3 node");
        return Status::not_found;
    }
    g.node = n;
    g.phandle = r.phandle(n);
    if (r.read_reg(n, 0, g.gicd_base, g.gicd_size) != Status::ok || g.gicd_size == 0) return Status::corrupt;
    // arm,gic-v3 binding: reg = GICD, then #redistributor-regions GICR regions, then optional GICC/GICH/GICV.
    const u32 nregions = r.prop_u32(n, "#redistributor-regions").value_or(1);
    if (nregions == 0 || nregions > GicInfo::kMaxRedistRegions) return Status::corrupt;
    for (u32 i = 0; i < nregions; ++i) {
        MemRegion m;
        if (r.read_reg(n, 1 + i, m.base, m.size) != Status::ok || m.size == 0) return Status::corrupt;
        ignore_status(g.gicr.push_back(m));
    }
    Result<u64> stride = r.prop_u64(n, "redistributor-stride");
    if (stride.ok()) {
        if (stride.value() == 0 || !is_aligned(stride.value(), 64 * KiB)) return Status::corrupt;
        g.gicr_stride = stride.value();
    }
    g.maintenance = irq_at(r, n, 0);
    // ITS frames: any "arm,gic-v3-its" node (normally children of the GIC node).
    for (i32 its = r.find_compatible("arm,gic-v3-its"); its != kNoNode;
         its = r.find_compatible("arm,gic-v3-its", its)) {
        ItsFrame f;
        f.node = its;
        f.phandle = r.phandle(its);
        if (r.read_reg(its, 0, f.base, f.size) != Status::ok || f.size == 0) return Status::corrupt;
        if (g.its.push_back(f) != Status::ok) {
            HV_LOG_WARN("dtb: more than %zu ITSes, ignoring the rest", GicInfo::kMaxIts);
            break;
        }
    }
    return Status::ok;
}

Status parse_timer(const Reader& r, PlatformInfo& out) {
    i32 n = r.find_compatible("arm,armv8-timer");
    if (n == kNoNode) n = r.find_compatible("arm,armv7-timer");
    if (n == kNoNode) {
        HV_LOG_ERROR("dtb: no arm,armv8-timer node");
        return Status::not_found;
    }
    TimerInfo& t = out.timer;
    t.node = n;
    t.sec_phys = irq_at(r, n, 0);
    t.phys = irq_at(r, n, 1);
    t.virt = irq_at(r, n, 2);
    t.hyp_phys = irq_at(r, n, 3);
    t.always_on = r.has_prop(n, "always-on");
    if (!t.phys.valid || !t.virt.valid || t.phys.type != DtIrq::kPpi || t.virt.type != DtIrq::kPpi)
        return Status::corrupt;
    return Status::ok;
}

// Optional: the PMU's overflow interrupt (Linux bindings arm/pmu.yaml: one PPI for all CPUs, or one SPI per CPU).
void parse_pmu(const Reader& r, PlatformInfo& out) {
    const i32 n = r.find_compatible("arm,armv8-pmuv3");
    if (n == kNoNode) return;
    out.pmu_irq = irq_at(r, n, 0);
}

// Resolves /chosen/stdout-path (absolute path or /aliases entry, ":options" stripped) to a node.
i32 stdout_node(const Reader& r, const char* path) {
    if (path == nullptr || path[0] == 0) return kNoNode;
    char buf[ChosenInfo::kMaxPath];
    copy_string(buf, sizeof buf, path);
    for (char* p = buf; *p != 0; ++p)
        if (*p == ':') *p = 0;
    if (buf[0] == '/') return r.find_path(buf);
    const i32 aliases = r.find_path("/aliases");
    const char* target = aliases != kNoNode ? r.prop_string(aliases, buf) : nullptr;
    return (target != nullptr && target[0] == '/') ? r.find_path(target) : kNoNode;
}

Status parse_uart(const Reader& r, PlatformInfo& out) {
    i32 n = stdout_node(r, out.chosen.stdout_path);
    if (n != kNoNode && !r.has_compatible(n, "arm,pl011")) n = kNoNode;
    if (n == kNoNode) n = r.find_compatible("arm,pl011");
    if (n == kNoNode) return Status::ok;  // optional
    UartInfo& u = out.uart;
    u.node = n;
    if (r.read_reg(n, 0, u.base, u.size) != Status::ok || u.size == 0) return Status::corrupt;
    u.irq = irq_at(r, n, 0);
    u.present = true;
    // The clock (apb_pclk / uartclk): first phandle of "clocks".
    Result<u32> clk = r.prop_u32(n, "clocks");
    if (clk.ok()) {
        const i32 c = r.find_phandle(clk.value());
        if (c != kNoNode) {
            out.clock_phandle = clk.value();
            out.clock_frequency = r.prop_u32(c, "clock-frequency").value_or(0);
        }
    }
    return Status::ok;
}

// reg (the ECAM window), bus-range, linux,pci-domain.
Status parse_pcie_ecam(const Reader& r, i32 n, PcieInfo& p) {
    if (r.read_reg(n, 0, p.ecam_base, p.ecam_size) != Status::ok || p.ecam_size == 0) return Status::corrupt;
    Result<u32> b0 = r.prop_u32(n, "bus-range", 0), b1 = r.prop_u32(n, "bus-range", 1);
    if (b0.ok() && b1.ok()) {
        if (b0.value() > b1.value() || b1.value() > 0xff) return Status::corrupt;
        p.bus_start = b0.value();
        p.bus_end = b1.value();
    }
    // ECAM: 1 MiB of configuration space per bus (PCIe base spec 7.2.2).
    if (static_cast<u64>(p.bus_end - p.bus_start + 1) * MiB > p.ecam_size) return Status::corrupt;
    p.domain = r.prop_u32(n, "linux,pci-domain").value_or(0);
    return Status::ok;
}

// ranges: <phys.hi phys.mid phys.lo> <parent address> <size (#size-cells of the bridge)>.
Status parse_pcie_ranges(const Reader& r, i32 n, u32 root_address_cells, PcieInfo& p) {
    const u32 cac = r.address_cells(n), csc = r.size_cells(n), pac = root_address_cells;
    if (cac != 3 || csc == 0 || csc > 2 || pac == 0 || pac > 2) return Status::corrupt;
    Span<const u8> ranges = r.prop(n, "ranges");
    const usize rentry = (cac + pac + csc) * 4;
    for (usize off = 0; ranges.data() != nullptr && off + rentry <= ranges.size(); off += rentry) {
        const u8* e = ranges.data() + off;
        const u32 hi = fdt::load_be32(e);
        PciRange rg;
        rg.space = static_cast<PciRange::Space>((hi >> 24) & 3);
        rg.prefetchable = (hi >> 30) & 1;
        rg.pci_addr = fdt::load_be64(e + 4);
        rg.cpu_addr = Reader::read_cells(e + 12, pac);
        rg.size = Reader::read_cells(e + 12 + pac * 4, csc);
        if (rg.cpu_addr + rg.size < rg.cpu_addr) return Status::corrupt;
        if (p.ranges.push_back(rg) != Status::ok) return Status::no_memory;
    }
    return Status::ok;
}

// msi-map / msi-parent (pci-msi.txt) and iommu-map / iommu-map-mask (pci-iommu.txt): four cells per entry,
// <rid-base controller base length> with #msi-cells = #iommu-cells = 1.
Status parse_pcie_maps(const Reader& r, i32 n, PcieInfo& p) {
    Span<const u8> mm = r.prop(n, "msi-map");
    for (usize off = 0; mm.data() != nullptr && off + 16 <= mm.size(); off += 16) {
        PciMsiMap m{fdt::load_be32(mm.data() + off), fdt::load_be32(mm.data() + off + 4),
                    fdt::load_be32(mm.data() + off + 8), fdt::load_be32(mm.data() + off + 12)};
        if (p.msi_map.push_back(m) != Status::ok) return Status::no_memory;
    }
    p.msi_parent = r.prop_u32(n, "msi-parent").value_or(0);

    Span<const u8> im_map = r.prop(n, "iommu-map");
    if (im_map.data() != nullptr && im_map.size() % 16 != 0) return Status::corrupt;
    for (usize off = 0; im_map.data() != nullptr && off + 16 <= im_map.size(); off += 16) {
        const u8* e = im_map.data() + off;
        PciIommuMap m{fdt::load_be32(e), fdt::load_be32(e + 4), fdt::load_be32(e + 8), fdt::load_be32(e + 12)};
        if (p.iommu_map.push_back(m) != Status::ok) return Status::no_memory;
    }
    p.iommu_map_mask = r.prop_u32(n, "iommu-map-mask").value_or(~0u);
    return Status::ok;
}

// interrupt-map-mask / interrupt-map (DT spec 2.4.3) with #interrupt-cells = 1: child specifier = 3 address cells
// + 1 interrupt cell; the parent's specifier is its #address-cells (0 if absent, 2.4.3.1) + 3 GIC cells.
Status parse_pcie_intx(const Reader& r, i32 n, PcieInfo& p) {
    for (usize i = 0; i < 4; ++i) p.intx_mask[i] = r.prop_u32(n, "interrupt-map-mask", i).value_or(~0u);
    Span<const u8> im = r.prop(n, "interrupt-map");
    usize off = 0;
    while (im.data() != nullptr && off + 4 * 5 <= im.size()) {
        const u8* e = im.data() + off;
        PciIntxRoute route;
        route.devfn_hi = fdt::load_be32(e);
        route.pin = fdt::load_be32(e + 12);
        const u32 ph = fdt::load_be32(e + 16);
        const i32 parent = r.find_phandle(ph);
        if (parent == kNoNode) return Status::corrupt;
        const u32 pac2 = r.prop_u32(parent, "#address-cells").value_or(0);
        const u32 pic = r.prop_u32(parent, "#interrupt-cells").value_or(0);
        if (pac2 > 3 || pic != 3) return Status::corrupt;
        const usize len = (5 + pac2 + pic) * 4;
        if (off + len > im.size()) return Status::corrupt;
        const u8* spec = e + (5 + pac2) * 4;
        route.irq.type = fdt::load_be32(spec);
        route.irq.number = fdt::load_be32(spec + 4);
        route.irq.flags = fdt::load_be32(spec + 8);
        route.irq.valid = route.irq.type == DtIrq::kSpi && route.irq.number < 988;
        if (p.intx.push_back(route) != Status::ok) return Status::no_memory;
        off += len;
    }
    return Status::ok;
}

Status parse_pcie(const Reader& r, PlatformInfo& out) {
    const i32 n = r.find_compatible("pci-host-ecam-generic");
    if (n == kNoNode) return Status::ok;  // optional
    PcieInfo& p = out.pcie;
    p.node = n;
    HV_TRY(parse_pcie_ecam(r, n, p));
    HV_TRY(parse_pcie_ranges(r, n, out.root_address_cells, p));
    HV_TRY(parse_pcie_maps(r, n, p));
    // A bridge whose INTx specifier is not one cell: corrupt with an interrupt-map, else left out (not present).
    if (r.prop_u32(n, "#interrupt-cells").value_or(1) != 1)
        return r.has_prop(n, "interrupt-map") ? Status::corrupt : Status::ok;
    HV_TRY(parse_pcie_intx(r, n, p));
    p.present = true;
    return Status::ok;
}

// The SMMUv3 (Linux binding iommu/arm,smmu-v3.yaml): reg, interrupts named "eventq", "gerror", "priq",
// "cmdq-sync" (or one "combined"), dma-coherent. Prefers the node the PCIe iommu-map names.
Status parse_smmu(const Reader& r, PlatformInfo& out) {
    i32 n = kNoNode;
    if (!out.pcie.iommu_map.empty()) {
        const i32 target = r.find_phandle(out.pcie.iommu_map[0].phandle);
        if (target != kNoNode && r.has_compatible(target, "arm,smmu-v3")) n = target;
    }
    if (n == kNoNode) n = r.find_compatible("arm,smmu-v3");
    if (n == kNoNode) return Status::ok;  // optional
    SmmuInfo& s = out.smmu;
    s.node = n;
    s.phandle = r.phandle(n);
    if (r.read_reg(n, 0, s.base, s.size) != Status::ok || s.size == 0) return Status::corrupt;
    s.coherent = r.has_prop(n, "dma-coherent");
    fdt::StringList names(r.prop(n, "interrupt-names"));
    usize idx = 0;
    for (const char* name = names.next(); name != nullptr; name = names.next(), ++idx) {
        const DtIrq irq = irq_at(r, n, idx);
        if (strcmp(name, "eventq") == 0)
            s.eventq = irq;
        else if (strcmp(name, "gerror") == 0)
            s.gerror = irq;
        else if (strcmp(name, "priq") == 0)
            s.priq = irq;
        else if (strcmp(name, "cmdq-sync") == 0)
            s.cmdq_sync = irq;
        else if (strcmp(name, "combined") == 0)
            s.eventq = s.gerror = irq;
    }
    s.present = true;
    return Status::ok;
}

// --- virtio-mmio transports (Linux binding virtio/mmio.yaml: compatible "virtio,mmio", reg, interrupts) -------------

constexpr u64 kPage = 4 * KiB;  // stage 2 maps whole 4 KiB pages: a transport shares its page with its neighbours

bool ranges_overlap(u64 a, u64 asize, u64 b, u64 bsize) {
    return asize != 0 && bsize != 0 && a < b + bsize && b < a + asize;
}

// Why the transport's pages [base, base + size) cannot go to the guest, or nullptr: they hold something the
// hypervisor owns or emulates (RAM and with it the hypervisor's own region and module store, the GIC frames the vGIC
// emulates, the ITS frames, the console UART, the PCIe bridge's ECAM and windows, the SMMU).
const char* page_conflict(const PlatformInfo& p, u64 base, u64 size) {
    for (const MemRegion& m : p.memory)
        if (ranges_overlap(base, size, m.base, m.size)) return "RAM";
    for (const MemRegion& m : p.reserved)
        if (ranges_overlap(base, size, m.base, m.size)) return "a reserved range";
    const GicInfo& g = p.gic;
    if (ranges_overlap(base, size, g.gicd_base, g.gicd_size)) return "the GIC distributor";
    for (const MemRegion& m : g.gicr)
        if (ranges_overlap(base, size, m.base, m.size)) return "a GIC redistributor";
    for (const ItsFrame& f : g.its)
        if (ranges_overlap(base, size, f.base, f.size)) return "an ITS";
    if (p.uart.present && ranges_overlap(base, size, align_down(p.uart.base, kPage),
                                         align_up(p.uart.base + p.uart.size, kPage) - align_down(p.uart.base, kPage)))
        return "the console UART";
    if (p.pcie.present) {
        if (ranges_overlap(base, size, p.pcie.ecam_base, p.pcie.ecam_size)) return "the PCIe ECAM";
        for (const PciRange& r : p.pcie.ranges)
            if (ranges_overlap(base, size, r.cpu_addr, r.size)) return "a PCIe window";
    }
    if (p.smmu.present && ranges_overlap(base, size, p.smmu.base, p.smmu.size)) return "the SMMU";
    return nullptr;
}

// Why the transport's SPI cannot be hardware-linked to the guest, or nullptr: it is the UART's, the SMMU's, a PCIe
// INTx line (forwarded already) or another transport's.
const char* irq_conflict(const PlatformInfo& p, u32 intid) {
    if (p.uart.present && p.uart.irq.valid && p.uart.irq.intid() == intid) return "the console UART's SPI";
    const DtIrq smmu_irqs[] = {p.smmu.eventq, p.smmu.gerror, p.smmu.priq, p.smmu.cmdq_sync};
    for (const DtIrq& i : smmu_irqs)
        if (p.smmu.present && i.valid && i.intid() == intid) return "an SMMU SPI";
    for (const PciIntxRoute& r : p.pcie.intx)
        if (r.irq.valid && r.irq.intid() == intid) return "a PCIe INTx SPI";
    for (const VirtioMmioDevice& d : p.virtio_mmio.devices)
        if (d.irq.intid() == intid) return "another transport's SPI";
    return nullptr;
}

// Optional and never fatal: a transport that is malformed or conflicts is left out with a warning (the guest just
// does not get it); the rest of the platform is unaffected.
void parse_virtio_mmio(const Reader& r, PlatformInfo& out) {
    VirtioMmioInfo& v = out.virtio_mmio;
    for (i32 n = r.find_compatible("virtio,mmio"); n != kNoNode; n = r.find_compatible("virtio,mmio", n)) {
        VirtioMmioDevice d;
        d.node = n;
        if (r.read_reg(n, 0, d.base, d.size) != Status::ok || d.size == 0 || d.base + d.size < d.base) {
            HV_LOG_WARN("dtb: %s: bad reg, not passed through", r.name(n));
            continue;
        }
        d.irq = irq_at(r, n, 0);
        if (!d.irq.valid || d.irq.type != DtIrq::kSpi) {
            HV_LOG_WARN("dtb: %s: no SPI in interrupts, not passed through", r.name(n));
            continue;
        }
        d.dma_coherent = r.has_prop(n, "dma-coherent");
        const u64 first = align_down(d.base, kPage);
        const u64 last = align_up(d.base + d.size, kPage);
        const char* why = last > first ? page_conflict(out, first, last - first) : "its reg wraps";
        if (why == nullptr) why = irq_conflict(out, d.irq.intid());
        if (why != nullptr) {
            HV_LOG_WARN("dtb: %s: shares %s, not passed through", r.name(n), why);
            continue;
        }
        if (v.devices.push_back(d) != Status::ok) {
            HV_LOG_WARN("dtb: more than %zu virtio-mmio transports, ignoring the rest", VirtioMmioInfo::kMaxDevices);
            return;
        }
    }
}

Status parse_chosen(const Reader& r, PlatformInfo& out) {
    ChosenInfo& c = out.chosen;
    const i32 n = r.find_path("/chosen");
    if (n == kNoNode) return Status::ok;
    const char* ba = r.prop_string(n, "bootargs");
    if (ba != nullptr && strlen(ba) >= ChosenInfo::kMaxBootargs) return Status::no_memory;
    copy_string(c.bootargs, sizeof c.bootargs, ba);
    const char* sp = r.prop_string(n, "stdout-path");
    if (sp == nullptr) sp = r.prop_string(n, "linux,stdout-path");
    copy_string(c.stdout_path, sizeof c.stdout_path, sp);
    for (char* p = c.stdout_path; *p != 0; ++p)
        if (*p == ':') *p = 0;
    Result<u64> is = r.prop_u64(n, "linux,initrd-start"), ie = r.prop_u64(n, "linux,initrd-end");
    if (is.ok() && ie.ok() && ie.value() >= is.value()) {
        c.initrd_start = is.value();
        c.initrd_end = ie.value();
    }
    // QEMU's guest-loader writes module reg with the root's cell counts and no #address-cells on /chosen; Xen's
    // binding puts #address-cells/#size-cells on /chosen. Honour them if present, else use the root's.
    const u32 ac = r.prop_u32(n, "#address-cells").value_or(out.root_address_cells);
    const u32 sc = r.prop_u32(n, "#size-cells").value_or(out.root_size_cells);
    for (i32 m = r.first_child(n); m != kNoNode; m = r.next_sibling(m)) {
        const bool kernel = r.has_compatible(m, "multiboot,kernel");
        const bool ramdisk = r.has_compatible(m, "multiboot,ramdisk");
        if (!kernel && !ramdisk && !r.has_compatible(m, "multiboot,module")) continue;
        BootModule bm;
        bm.kind = kernel ? ModuleKind::kernel : ramdisk ? ModuleKind::ramdisk : ModuleKind::other;
        if (r.read_reg_cells(m, 0, ac, sc, bm.base, bm.size) != Status::ok) return Status::corrupt;
        if (bm.base + bm.size < bm.base) return Status::corrupt;
        const char* mba = r.prop_string(m, "bootargs");
        if (mba != nullptr && strlen(mba) >= BootModule::kMaxBootargs) return Status::no_memory;
        copy_string(bm.bootargs, sizeof bm.bootargs, mba);
        if (c.modules.push_back(bm) != Status::ok) return Status::no_memory;
    }
    return Status::ok;
}

}  // namespace

const PciRange* PcieInfo::window(PciRange::Space space) const {
    for (const PciRange& r : ranges)
        if (r.space == space) return &r;
    return nullptr;
}

const BootModule* ChosenInfo::module(ModuleKind k) const {
    for (const BootModule& m : modules)
        if (m.kind == k) return &m;
    return nullptr;
}

Status parse_platform(const Reader& r, PlatformInfo& out) {
    out = kEmptyPlatform;
    if (!r.valid()) return Status::invalid_argument;
    const i32 root = r.root();
    out.root_address_cells = r.address_cells(root);
    out.root_size_cells = r.size_cells(root);
    if (out.root_address_cells == 0 || out.root_address_cells > 2 || out.root_size_cells > 2) return Status::corrupt;
    HV_TRY(parse_chosen(r, out));  // first: the UART is chosen by stdout-path
    HV_TRY(parse_memory(r, out));
    HV_TRY(parse_cpus(r, out));
    parse_psci(r, out);
    HV_TRY(parse_gic(r, out));
    HV_TRY(parse_timer(r, out));
    parse_pmu(r, out);
    HV_TRY(parse_uart(r, out));
    HV_TRY(parse_pcie(r, out));
    HV_TRY(parse_smmu(r, out));
    parse_virtio_mmio(r, out);  // last: checked against everything above
    return Status::ok;
}

}  // namespace hv
