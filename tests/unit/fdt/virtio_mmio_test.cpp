// virtio-mmio passthrough on the model side: which host transports PlatformInfo keeps (and which it refuses because
// they share a page or an SPI with something the hypervisor owns), the guest DT nodes, the virtio_mmio= option.
#include <gtest/gtest.h>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "core/bootargs.hpp"
#include "core/fdt/reader.hpp"
#include "core/fdt/writer.hpp"
#include "core/guest_dtb.hpp"
#include "core/platform.hpp"
#include "tests/unit/fdt/fdt_test_util.hpp"
#include "tests/unit/support.hpp"

using namespace hv;
using namespace hv::fdt;

namespace {

std::unique_ptr<fdttest::ParsedPlatform> parse(std::vector<u8> blob) {
    return fdttest::parse_platform_blob(std::move(blob));
}

struct Transport {
    u64 base;
    u64 size;
    u32 type;  // DtIrq::kSpi / kPpi
    u32 number;
    bool coherent;
};

// A QEMU-virt-like tree (RAM at 1 GiB, GIC, timer, a pl011 at 0x0900_0000 on SPI 1) plus the given transports.
std::vector<u8> tree(const std::vector<Transport>& transports, bool with_smmu = false) {
    std::vector<u8> buf(16384);
    Writer w(buf.data(), buf.size());
    ignore_status(w.begin_node(""));
    ignore_status(w.prop_u32("#address-cells", 2));
    ignore_status(w.prop_u32("#size-cells", 2));
    ignore_status(w.begin_node("memory@40000000"));
    ignore_status(w.prop_string("device_type", "memory"));
    const Writer::AddrSize m{0x40000000, 0x40000000};
    ignore_status(w.prop_reg("reg", 2, 2, &m, 1));
    ignore_status(w.end_node());
    ignore_status(w.begin_node("cpus"));
    ignore_status(w.prop_u32("#address-cells", 1));
    ignore_status(w.prop_u32("#size-cells", 0));
    ignore_status(w.begin_node("cpu@0"));
    ignore_status(w.prop_string("device_type", "cpu"));
    ignore_status(w.prop_u32("reg", 0));
    ignore_status(w.end_node());
    ignore_status(w.end_node());
    ignore_status(w.begin_node("intc@8000000"));
    ignore_status(w.prop_string("compatible", "arm,gic-v3"));
    ignore_status(w.prop_u32("#interrupt-cells", 3));
    const Writer::AddrSize g[2] = {{0x08000000, 0x10000}, {0x080a0000, 0xf60000}};
    ignore_status(w.prop_reg("reg", 2, 2, g, 2));
    ignore_status(w.end_node());
    ignore_status(w.begin_node("timer"));
    ignore_status(w.prop_string("compatible", "arm,armv8-timer"));
    const u32 irqs[12] = {1, 13, 4, 1, 14, 4, 1, 11, 4, 1, 10, 4};
    ignore_status(w.prop_cells("interrupts", irqs, 12));
    ignore_status(w.end_node());
    ignore_status(w.begin_node("pl011@9000000"));
    ignore_status(w.prop_string("compatible", "arm,pl011"));
    const Writer::AddrSize u{0x09000000, 0x1000};
    ignore_status(w.prop_reg("reg", 2, 2, &u, 1));
    const u32 uirq[3] = {0, 1, 4};
    ignore_status(w.prop_cells("interrupts", uirq, 3));
    ignore_status(w.end_node());
    if (with_smmu) {  // as QEMU's iommu=smmuv3: 128 KiB at 0x0905_0000, SPIs 74..77 by name
        ignore_status(w.begin_node("smmuv3@9050000"));
        ignore_status(w.prop_string("compatible", "arm,smmu-v3"));
        const Writer::AddrSize sr{0x09050000, 0x20000};
        ignore_status(w.prop_reg("reg", 2, 2, &sr, 1));
        const u32 sirq[12] = {0, 74, 1, 0, 75, 1, 0, 76, 1, 0, 77, 1};
        ignore_status(w.prop_cells("interrupts", sirq, 12));
        static const char* const names[] = {"eventq", "priq", "cmdq-sync", "gerror"};
        ignore_status(w.prop_strings("interrupt-names", names, 4));
        ignore_status(w.end_node());
    }
    for (const Transport& t : transports) {
        char name[48];
        snprintf(name, sizeof name, "virtio_mmio@%llx", static_cast<unsigned long long>(t.base));
        ignore_status(w.begin_node(name));
        ignore_status(w.prop_string("compatible", "virtio,mmio"));
        const Writer::AddrSize r{t.base, t.size};
        ignore_status(w.prop_reg("reg", 2, 2, &r, 1));
        const u32 irq[3] = {t.type, t.number, 1};
        ignore_status(w.prop_cells("interrupts", irq, 3));
        if (t.coherent) ignore_status(w.prop_empty("dma-coherent"));
        ignore_status(w.end_node());
    }
    ignore_status(w.end_node());
    Result<usize> n = w.finish();
    EXPECT_TRUE(n.ok());
    buf.resize(n.value_or(0));
    return buf;
}

GuestDtbConfig guest_config() {
    GuestDtbConfig c;
    ignore_status(c.vcpu_mpidrs.push_back(0));
    ignore_status(c.memory.push_back({0x42000000, 0x3c000000}));
    return c;
}

std::vector<u8> build(const fdttest::ParsedPlatform& h, const GuestDtbConfig& c) {
    std::vector<u8> dtb(64 * 1024);
    usize size = 0;
    EXPECT_EQ(build_guest_dtb(h.reader, *h.info, c, dtb.data(), dtb.size(), size), Status::ok);
    dtb.resize(size);
    return dtb;
}

}  // namespace

TEST(VirtioMmio, QemuVirtHasThirtyTwoTransports) {
    auto p = parse(fdttest::load_data("qemu-virt-smp4.dtb"));
    ASSERT_EQ(p->status, Status::ok);
    const auto& devs = p->info->virtio_mmio.devices;
    ASSERT_EQ(devs.size(), 32u);
    for (usize i = 0; i < devs.size(); ++i) {
        // QEMU writes them lowest address first: 0x200 bytes each from 0x0a00_0000 on SPIs 16.. (INTIDs 48..79),
        // edge-rising in the DT, DMA-coherent.
        EXPECT_EQ(devs[i].base, 0x0a000000u + 0x200u * i) << i;
        EXPECT_EQ(devs[i].size, 0x200u) << i;
        EXPECT_EQ(devs[i].irq.type, DtIrq::kSpi) << i;
        EXPECT_EQ(devs[i].irq.intid(), 48u + i) << i;
        EXPECT_EQ(devs[i].irq.flags, 1u) << i;
        EXPECT_TRUE(devs[i].dma_coherent) << i;
        EXPECT_NE(devs[i].node, kNoNode) << i;
    }
}

TEST(VirtioMmio, KeptWithTheHostSmmu) {
    // -M virt,iommu=smmuv3 (what tools/run-guest boots): the SMMU (0x0905_0000, SPIs 74..77) is the hypervisor's and
    // shares neither a page nor an SPI with a transport, so all 32 stay.
    auto p = parse(fdttest::load_data("qemu-virt-smmuv3.dtb"));
    ASSERT_EQ(p->status, Status::ok);
    ASSERT_TRUE(p->info->smmu.present);
    ASSERT_EQ(p->info->virtio_mmio.devices.size(), 32u);
}

TEST(VirtioMmio, SmmuPageAndSpisAreRefused) {
    hvtest::install_log_capture();
    hvtest::captured_log().clear();
    auto p = parse(tree({{0x0a000000, 0x200, DtIrq::kSpi, 16, true},
                         {0x09050e00, 0x200, DtIrq::kSpi, 17, true},   // in the SMMU's frame
                         {0x0a000200, 0x200, DtIrq::kSpi, 77, true}},  // the SMMU's gerror SPI
                        true));
    ASSERT_EQ(p->status, Status::ok);
    ASSERT_TRUE(p->info->smmu.present);
    ASSERT_EQ(p->info->virtio_mmio.devices.size(), 1u);
    EXPECT_EQ(p->info->virtio_mmio.devices[0].base, 0x0a000000u);
    const std::string& log = hvtest::captured_log();
    EXPECT_NE(log.find("virtio_mmio@9050e00: shares the SMMU"), std::string::npos) << log;
    EXPECT_NE(log.find("virtio_mmio@a000200: shares an SMMU SPI"), std::string::npos) << log;
}

TEST(VirtioMmio, TransportsNextToHypervisorDevicesAreRefused) {
    hvtest::install_log_capture();
    hvtest::captured_log().clear();
    auto p = parse(tree({
        {0x0a000000, 0x200, DtIrq::kSpi, 16, true},              // kept
        {0x0a000200, 0x200, DtIrq::kSpi, 17, false},             // kept (same page as the first), not coherent
        {0x09000e00, 0x200, DtIrq::kSpi, 18, true},              // in the console UART's page
        {0x0a000400, 0x200, DtIrq::kSpi, 1, true},               // the UART's SPI
        {0x0a000600, 0x200, DtIrq::kSpi, 16, true},              // another transport's SPI
        {0x0a000800, 0x200, DtIrq::kPpi, 4, true},               // not an SPI
        {0x0a000a00, 0, DtIrq::kSpi, 20, true},                  // empty reg
        {0x41000000, 0x200, DtIrq::kSpi, 21, true},              // in RAM (the hypervisor's region)
        {0x08010000, 0x200, DtIrq::kSpi, 22, true},              // next to the GIC distributor: its page is outside it
        {0x080a0000, 0x200, DtIrq::kSpi, 23, true},              // inside the redistributor region
        {0xfffffffffffff000ull, 0x2000, DtIrq::kSpi, 24, true},  // wraps
    }));
    ASSERT_EQ(p->status, Status::ok);  // never fatal
    const auto& devs = p->info->virtio_mmio.devices;
    ASSERT_EQ(devs.size(), 3u);
    EXPECT_EQ(devs[0].base, 0x0a000000u);
    EXPECT_TRUE(devs[0].dma_coherent);
    EXPECT_EQ(devs[1].base, 0x0a000200u);
    EXPECT_FALSE(devs[1].dma_coherent);
    EXPECT_EQ(devs[2].base, 0x08010000u);
    const std::string& log = hvtest::captured_log();
    EXPECT_NE(log.find("virtio_mmio@9000e00: shares the console UART"), std::string::npos) << log;
    EXPECT_NE(log.find("virtio_mmio@a000400: shares the console UART's SPI"), std::string::npos) << log;
    EXPECT_NE(log.find("virtio_mmio@a000600: shares another transport's SPI"), std::string::npos) << log;
    EXPECT_NE(log.find("virtio_mmio@a000800: no SPI"), std::string::npos) << log;
    EXPECT_NE(log.find("virtio_mmio@a000a00: bad reg"), std::string::npos) << log;
    EXPECT_NE(log.find("virtio_mmio@41000000: shares RAM"), std::string::npos) << log;
    EXPECT_NE(log.find("virtio_mmio@80a0000: shares a GIC redistributor"), std::string::npos) << log;
    EXPECT_NE(log.find("virtio_mmio@fffffffffffff000: bad reg"), std::string::npos) << log;
}

TEST(VirtioMmio, AtMostThirtyTwoAreKept) {
    std::vector<Transport> t;
    for (u32 i = 0; i < 40; ++i) t.push_back({0x0a000000u + 0x200u * i, 0x200, DtIrq::kSpi, 16 + i, true});
    auto p = parse(tree(t));
    ASSERT_EQ(p->status, Status::ok);
    ASSERT_EQ(p->info->virtio_mmio.devices.size(), VirtioMmioInfo::kMaxDevices);
    EXPECT_EQ(p->info->virtio_mmio.devices[31].irq.number, 16u + 31);
}

TEST(VirtioMmio, GuestTreeDescribesEveryTransportAsTheHostDoes) {
    auto h = parse(fdttest::load_data("qemu-virt-smp4.dtb"));
    ASSERT_EQ(h->status, Status::ok);
    std::vector<u8> dtb = build(*h, guest_config());
    auto g = parse(dtb);
    ASSERT_EQ(g->status, Status::ok);
    const auto& hd = h->info->virtio_mmio.devices;
    const auto& gd = g->info->virtio_mmio.devices;
    ASSERT_EQ(gd.size(), hd.size());
    for (usize i = 0; i < gd.size(); ++i) {
        EXPECT_EQ(gd[i].base, hd[i].base) << i;
        EXPECT_EQ(gd[i].size, hd[i].size) << i;
        EXPECT_EQ(gd[i].irq.type, hd[i].irq.type) << i;
        EXPECT_EQ(gd[i].irq.number, hd[i].irq.number) << i;
        EXPECT_EQ(gd[i].irq.flags, hd[i].irq.flags) << i;
        EXPECT_EQ(gd[i].dma_coherent, hd[i].dma_coherent) << i;
        // No host phandle: the interrupts go to the guest GIC through the root's interrupt-parent.
        EXPECT_FALSE(g->reader.has_prop(gd[i].node, "interrupt-parent")) << i;
        char name[48];
        snprintf(name, sizeof name, "virtio_mmio@%llx", static_cast<unsigned long long>(hd[i].base));
        EXPECT_STREQ(g->reader.name(gd[i].node), name) << i;
    }
    EXPECT_EQ(g->reader.prop_u32(g->reader.root(), "interrupt-parent").value_or(0), kPhandleGic);
    if (fdttest::have_dtc()) {
        int rc = -1;
        std::string dts = fdttest::dtc_decompile(dtb.data(), dtb.size(), rc);
        EXPECT_EQ(rc, 0) << dts;
        EXPECT_NE(dts.find("virtio_mmio@a003e00 {"), std::string::npos) << dts;
        EXPECT_NE(dts.find("interrupts = <0x00 0x2f 0x01>;"), std::string::npos) << dts;  // SPI 47
        EXPECT_NE(dts.find("reg = <0x00 0xa003e00 0x00 0x200>;"), std::string::npos) << dts;
        EXPECT_NE(dts.find("dma-coherent;"), std::string::npos) << dts;
    }

    GuestDtbConfig off = guest_config();
    off.include_virtio_mmio = false;
    std::vector<u8> dtb2 = build(*h, off);
    auto g2 = parse(dtb2);
    ASSERT_EQ(g2->status, Status::ok);
    EXPECT_TRUE(g2->info->virtio_mmio.devices.empty());
    EXPECT_EQ(g2->reader.find_compatible("virtio,mmio"), kNoNode);
}

TEST(VirtioMmio, VirtualItsFramesAvoidTransports) {
    // A platform-bus window that starts on the transports: the purely virtual ITS frames must not land there.
    auto h = parse(fdttest::load_data("qemu-virt-smp4.dtb"));
    ASSERT_EQ(h->status, Status::ok);
    VirtualItsFrames frames;
    EXPECT_EQ(virtual_its_frames(&h->reader, *h->info, 2, frames), Status::ok);  // QEMU's window is elsewhere
    ASSERT_EQ(frames.size(), 2u);
    EXPECT_TRUE(frames[1].base >= 0x0a004000u || frames[1].base + frames[1].size <= 0x0a000000u);
    PlatformInfo moved = *h->info;
    moved.virtio_mmio.devices[0].base = frames[1].base + 0x1000;  // pretend a transport sits in that frame
    EXPECT_EQ(virtual_its_frames(&h->reader, moved, 2, frames), Status::out_of_range);
}

TEST(VirtioMmio, BootOption) {
    HvOptions o;
    EXPECT_EQ(o.virtio_mmio, VirtioMmioMode::empty);  // devices on them are behind no IOMMU: not by default
    ASSERT_EQ(parse_bootargs("virtio_mmio=off", o), Status::ok);
    EXPECT_EQ(o.virtio_mmio, VirtioMmioMode::off);
    ASSERT_EQ(parse_bootargs("virtio_mmio=on", o), Status::ok);
    EXPECT_EQ(o.virtio_mmio, VirtioMmioMode::on);
    ASSERT_EQ(parse_bootargs("virtio_mmio=empty", o), Status::ok);
    EXPECT_EQ(o.virtio_mmio, VirtioMmioMode::empty);
    HvOptions p;
    ASSERT_EQ(parse_bootargs("virtio_mmio=perhaps", p), Status::ok);
    EXPECT_EQ(p.virtio_mmio, VirtioMmioMode::empty);
    EXPECT_EQ(p.invalid_count, 1u);
}
