#include "core/guest_dtb.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <string>

#include "core/fdt/reader.hpp"
#include "core/fdt/writer.hpp"
#include "core/platform.hpp"
#include "tests/unit/fdt/fdt_test_util.hpp"

using namespace hv;
using namespace hv::fdt;

namespace {

struct Host {
    std::vector<unsigned char> blob;
    Reader reader;
    std::unique_ptr<PlatformInfo> info = std::make_unique<PlatformInfo>();
};

std::unique_ptr<Host> host(const char* file = "qemu-virt-smp4.dtb") {
    auto h = std::make_unique<Host>();
    h->blob = fdttest::load_data(file);
    Result<Reader> r = Reader::open(h->blob.data(), h->blob.size());
    EXPECT_TRUE(r.ok());
    h->reader = r.value();
    EXPECT_EQ(parse_platform(h->reader, *h->info), Status::ok);
    return h;
}

GuestDtbConfig config(usize vcpus) {
    GuestDtbConfig c;
    for (usize i = 0; i < vcpus; ++i) ignore_status(c.vcpu_mpidrs.push_back(i));
    // The hypervisor owns the first 64 MiB of RAM; the guest gets the rest of the 1 GiB.
    ignore_status(c.memory.push_back({0x44000000, 0x3c000000}));
    c.bootargs = "console=ttyAMA0 earlycon";
    c.initrd_start = 0x48000000;
    c.initrd_end = 0x48100000;
    return c;
}

struct Built {
    std::vector<u8> dtb;
    Reader reader;
    std::string dts;
};

std::unique_ptr<Built> build(const Host& h, const GuestDtbConfig& c) {
    auto b = std::make_unique<Built>();
    b->dtb.assign(64 * 1024, 0);
    usize size = 0;
    Status s = build_guest_dtb(h.reader, *h.info, c, b->dtb.data(), b->dtb.size(), size);
    EXPECT_EQ(s, Status::ok) << status_name(s);
    b->dtb.resize(size);
    Result<Reader> r = Reader::open(b->dtb.data(), b->dtb.size());
    EXPECT_TRUE(r.ok());
    b->reader = r.value();
    if (fdttest::have_dtc()) {
        int rc = -1;
        b->dts = fdttest::dtc_decompile(b->dtb.data(), b->dtb.size(), rc);
        EXPECT_EQ(rc, 0) << b->dts;
    }
    return b;
}

bool has(const std::string& dts, const char* s) { return dts.find(s) != std::string::npos; }

}  // namespace

TEST(GuestDtb, ReparsesAsAPlatform) {
    auto h = host();
    auto b = build(*h, config(2));
    // The guest tree must itself satisfy the platform parser (what a guest kernel looks for).
    auto g = std::make_unique<PlatformInfo>();
    ASSERT_EQ(parse_platform(b->reader, *g), Status::ok);
    ASSERT_EQ(g->memory.size(), 1u);
    EXPECT_EQ(g->memory[0].base, 0x44000000u);
    EXPECT_EQ(g->memory[0].size, 0x3c000000u);
    ASSERT_EQ(g->cpu_count(), 2u);
    EXPECT_EQ(g->cpus[1].mpidr, 1u);
    EXPECT_EQ(g->psci_method, PsciMethod::hvc);
    EXPECT_EQ(g->gic.gicd_base, 0x08000000u);
    ASSERT_EQ(g->gic.gicr.size(), 1u);
    EXPECT_EQ(g->gic.gicr[0].base, 0x080a0000u);
    EXPECT_EQ(g->gic.gicr[0].size, 2 * 0x20000u);  // exactly the vCPU count
    EXPECT_EQ(g->gic.phandle, kPhandleGic);
    EXPECT_EQ(g->gic.maintenance.intid(), 25u);
    ASSERT_EQ(g->gic.its.size(), 1u);
    EXPECT_EQ(g->gic.its[0].base, 0x08080000u);
    EXPECT_EQ(g->gic.its[0].phandle, kPhandleItsBase);
    EXPECT_EQ(g->timer.virt.intid(), 27u);
    EXPECT_EQ(g->timer.phys.intid(), 30u);
    ASSERT_TRUE(g->uart.present);
    EXPECT_EQ(g->uart.base, 0x09000000u);
    EXPECT_EQ(g->uart.irq.intid(), 33u);
    EXPECT_EQ(g->clock_phandle, kPhandleClock);
    ASSERT_TRUE(g->pcie.present);
    EXPECT_EQ(g->pcie.ecam_base, h->info->pcie.ecam_base);
    ASSERT_EQ(g->pcie.ranges.size(), 3u);
    ASSERT_EQ(g->pcie.msi_map.size(), 1u);
    EXPECT_EQ(g->pcie.msi_map[0].phandle, kPhandleItsBase);  // rewritten to the guest ITS
    EXPECT_EQ(g->pcie.msi_map[0].length, 0x10000u);
    ASSERT_EQ(g->pcie.intx.size(), h->info->pcie.intx.size());
    for (usize i = 0; i < g->pcie.intx.size(); ++i) {
        EXPECT_EQ(g->pcie.intx[i].devfn_hi, h->info->pcie.intx[i].devfn_hi);
        EXPECT_EQ(g->pcie.intx[i].pin, h->info->pcie.intx[i].pin);
        EXPECT_EQ(g->pcie.intx[i].irq.number, h->info->pcie.intx[i].irq.number);
    }
    EXPECT_STREQ(g->chosen.bootargs, "console=ttyAMA0 earlycon");
    EXPECT_EQ(g->chosen.initrd_start, 0x48000000u);
    EXPECT_EQ(g->chosen.initrd_end, 0x48100000u);
    EXPECT_STREQ(g->chosen.stdout_path, "/pl011@9000000");
    // Every phandle reference resolves inside the guest tree.
    const Reader& r = b->reader;
    EXPECT_NE(r.find_phandle(r.prop_u32(r.root(), "interrupt-parent").value()), kNoNode);
    EXPECT_NE(r.find_phandle(r.prop_u32(r.find_compatible("arm,pl011"), "clocks").value()), kNoNode);
    EXPECT_EQ(r.find_phandle(h->info->gic.phandle), kNoNode);   // no host phandle (0x8005) leaked
    EXPECT_EQ(r.find_compatible("qemu,fw-cfg-mmio"), kNoNode);  // host devices not given to the guest are absent
    EXPECT_EQ(r.find_compatible("arm,pl031"), kNoNode);
    EXPECT_NE(r.find_compatible("virtio,mmio"), kNoNode);  // passed through (tests/unit/fdt/virtio_mmio_test.cpp)
}

TEST(GuestDtb, DtcTextShowsTheContract) {
    if (!fdttest::have_dtc()) GTEST_SKIP() << "dtc not installed";
    auto h = host();
    auto b = build(*h, config(4));
    const std::string& d = b->dts;
    EXPECT_TRUE(has(d, "compatible = \"arm,psci-1.0\\0arm,psci-0.2\";")) << d;
    EXPECT_TRUE(has(d, "method = \"hvc\";")) << d;
    EXPECT_TRUE(has(d, "memory@44000000 {")) << d;
    EXPECT_TRUE(has(d, "reg = <0x00 0x44000000 0x00 0x3c000000>;")) << d;
    EXPECT_TRUE(has(d, "cpu@3 {")) << d;
    EXPECT_TRUE(has(d, "enable-method = \"psci\";")) << d;
    EXPECT_TRUE(has(d, "reg = <0x00 0x8000000 0x00 0x10000 0x00 0x80a0000 0x00 0x80000>;")) << d;  // 4 x 128K
    EXPECT_TRUE(has(d, "#redistributor-regions = <0x01>;")) << d;
    EXPECT_TRUE(has(d, "msi-controller;")) << d;
    EXPECT_TRUE(has(d, "msi-map = <0x00 0x10 0x00 0x10000>;")) << d;
    EXPECT_TRUE(has(d, "interrupt-map = <0x00 0x00 0x00 0x01 0x01 0x00 0x00 0x00 0x03 0x04")) << d;
    EXPECT_TRUE(has(d, "interrupt-parent = <0x01>;")) << d;
    EXPECT_TRUE(has(d, "stdout-path = \"/pl011@9000000\";")) << d;
    EXPECT_TRUE(has(d, "linux,initrd-start = <0x00 0x48000000>;")) << d;
    EXPECT_TRUE(has(d, "interrupts = <0x01 0x0d 0x04 0x01 0x0e 0x04 0x01 0x0b 0x04 0x01 0x0a 0x04>;")) << d;
    EXPECT_TRUE(has(d, "interrupts = <0x00 0x01 0x04>;")) << d;  // pl011 SPI 1
    EXPECT_FALSE(has(d, "0x8005")) << d;                         // no host phandles
    EXPECT_FALSE(has(d, "0x8004")) << d;
}

TEST(GuestDtb, Psci01NamesFunctionIds) {
    auto h = host();
    GuestDtbConfig c = config(1);
    c.psci = PsciVersion::v0_1;
    auto b = build(*h, c);
    const Reader& r = b->reader;
    const i32 psci = r.find_path("/psci");
    ASSERT_NE(psci, kNoNode);
    EXPECT_TRUE(r.has_compatible(psci, "arm,psci"));
    EXPECT_FALSE(r.has_compatible(psci, "arm,psci-0.2"));
    EXPECT_EQ(r.prop_u32(psci, "cpu_suspend").value(), 0x95c1ba5eu);
    EXPECT_EQ(r.prop_u32(psci, "cpu_off").value(), 0x95c1ba5fu);
    EXPECT_EQ(r.prop_u32(psci, "cpu_on").value(), 0x95c1ba60u);
    EXPECT_EQ(r.prop_u32(psci, "migrate").value(), 0x95c1ba61u);
    EXPECT_STREQ(r.prop_string(psci, "method"), "hvc");

    c.psci = PsciVersion::v0_2;
    auto b2 = build(*h, c);
    const i32 p2 = b2->reader.find_path("/psci");
    EXPECT_TRUE(b2->reader.has_compatible(p2, "arm,psci-0.2"));
    EXPECT_FALSE(b2->reader.has_prop(p2, "cpu_on"));
}

TEST(GuestDtb, OptionalPartsCanBeLeftOut) {
    auto h = host();
    GuestDtbConfig c = config(1);
    c.include_its = false;
    c.bootargs = nullptr;
    c.initrd_end = 0;
    auto b = build(*h, c);
    const Reader& r = b->reader;
    EXPECT_EQ(r.find_compatible("arm,gic-v3-its"), kNoNode);
    const i32 pcie = r.find_compatible("pci-host-ecam-generic");
    ASSERT_NE(pcie, kNoNode);
    EXPECT_FALSE(r.has_prop(pcie, "msi-map"));  // INTx only without an ITS
    EXPECT_TRUE(r.has_prop(pcie, "interrupt-map"));
    const i32 chosen = r.find_path("/chosen");
    EXPECT_FALSE(r.has_prop(chosen, "bootargs"));
    EXPECT_FALSE(r.has_prop(chosen, "linux,initrd-start"));

    c.include_pcie = false;
    c.include_uart = false;
    auto b2 = build(*h, c);
    EXPECT_EQ(b2->reader.find_compatible("pci-host-ecam-generic"), kNoNode);
    EXPECT_EQ(b2->reader.find_compatible("arm,pl011"), kNoNode);
    EXPECT_FALSE(b2->reader.has_prop(b2->reader.find_path("/chosen"), "stdout-path"));
}

TEST(GuestDtb, PmuNodeOnlyWhenTheGuestHasAPmu) {
    auto h = host();
    GuestDtbConfig c = config(2);
    auto without = build(*h, c);
    EXPECT_EQ(without->reader.find_compatible("arm,armv8-pmuv3"), kNoNode);
    EXPECT_EQ(without->reader.find_path("/pmu"), kNoNode);

    c.include_pmu = true;
    auto b = build(*h, c);
    const Reader& r = b->reader;
    const i32 pmu = r.find_path("/pmu");
    ASSERT_NE(pmu, kNoNode);
    EXPECT_TRUE(r.has_compatible(pmu, "arm,armv8-pmuv3"));
    const Span<const u8> irq = r.prop(pmu, "interrupts");
    ASSERT_EQ(irq.size(), 12u);
    EXPECT_EQ(load_be32(irq.data()), 1u);      // PPI
    EXPECT_EQ(load_be32(irq.data() + 4), 7u);  // PPI 7 = INTID 23
    EXPECT_EQ(h->info->pmu_irq.intid(), 23u);  // the host's (QEMU virt) PMU PPI: the one the guest's is linked to
    // Level-high, with the timer node's CPU mask (none on this GICv3 host).
    EXPECT_EQ(load_be32(irq.data() + 8), 4u | (h->info->timer.virt.flags & 0xff00));
    EXPECT_FALSE(r.has_prop(pmu, "interrupt-parent"));  // the root's: the guest GIC
    if (fdttest::have_dtc()) {
        EXPECT_TRUE(has(b->dts, "compatible = \"arm,armv8-pmuv3\";")) << b->dts;
    }
}

TEST(GuestDtb, MultiAffinityMpidrsUseTwoAddressCells) {
    auto h = host();
    GuestDtbConfig c = config(0);
    ignore_status(c.vcpu_mpidrs.push_back(0));
    ignore_status(c.vcpu_mpidrs.push_back(0x100000000ull));  // Aff3 = 1
    auto b = build(*h, c);
    const Reader& r = b->reader;
    const i32 cpus = r.find_path("/cpus");
    EXPECT_EQ(r.prop_u32(cpus, "#address-cells").value(), 2u);
    auto g = std::make_unique<PlatformInfo>();
    ASSERT_EQ(parse_platform(r, *g), Status::ok);
    ASSERT_EQ(g->cpu_count(), 2u);
    EXPECT_EQ(g->cpus[1].mpidr, 0x100000000ull);
}

TEST(GuestDtb, RejectsBadConfigAndSmallBuffers) {
    auto h = host();
    std::vector<u8> out(64 * 1024);
    usize size = 123;
    GuestDtbConfig none = config(0);
    EXPECT_EQ(build_guest_dtb(h->reader, *h->info, none, out.data(), out.size(), size), Status::invalid_argument);
    EXPECT_EQ(size, 0u);
    GuestDtbConfig dup = config(2);
    dup.vcpu_mpidrs[1] = 0;
    EXPECT_EQ(build_guest_dtb(h->reader, *h->info, dup, out.data(), out.size(), size), Status::invalid_argument);
    GuestDtbConfig nomem = config(1);
    nomem.memory.clear();
    EXPECT_EQ(build_guest_dtb(h->reader, *h->info, nomem, out.data(), out.size(), size), Status::invalid_argument);
    GuestDtbConfig bad_initrd = config(1);
    bad_initrd.initrd_start = 0x50000000;
    bad_initrd.initrd_end = 0x4000000;
    EXPECT_EQ(build_guest_dtb(h->reader, *h->info, bad_initrd, out.data(), out.size(), size), Status::invalid_argument);
    GuestDtbConfig ok = config(4);
    ASSERT_EQ(build_guest_dtb(h->reader, *h->info, ok, out.data(), out.size(), size), Status::ok);
    const usize need = size;
    for (usize cap : {usize{0}, usize{64}, usize{1024}, need - 1}) {
        std::vector<u8> small(cap + 16, 0xab);
        EXPECT_EQ(build_guest_dtb(h->reader, *h->info, ok, small.data(), cap, size), Status::no_memory) << cap;
        for (usize i = cap; i < small.size(); ++i) ASSERT_EQ(small[i], 0xab) << "overrun at cap " << cap;
    }
}

// --- several virtual ITSes (vits=N) --------------------------------------------------------------------------

namespace {

// A minimal host tree holding only a QEMU-style platform-bus node with one `ranges` entry <0 parent-addr size>.
std::vector<u8> platform_bus_tree(u64 parent_addr, u32 size) {
    std::vector<u8> blob(4096, 0);
    Writer w(blob.data(), blob.size());
    EXPECT_EQ(w.begin_node(""), Status::ok);
    EXPECT_EQ(w.prop_u32("#address-cells", 2), Status::ok);
    EXPECT_EQ(w.prop_u32("#size-cells", 2), Status::ok);
    EXPECT_EQ(w.begin_node("platform-bus"), Status::ok);
    static const char* const compat[] = {"qemu,platform", "simple-bus"};
    EXPECT_EQ(w.prop_strings("compatible", compat, 2), Status::ok);
    EXPECT_EQ(w.prop_u32("#address-cells", 1), Status::ok);
    EXPECT_EQ(w.prop_u32("#size-cells", 1), Status::ok);
    const u32 ranges[4] = {0, static_cast<u32>(parent_addr >> 32), static_cast<u32>(parent_addr), size};
    EXPECT_EQ(w.prop_cells("ranges", ranges, 4), Status::ok);
    EXPECT_EQ(w.end_node(), Status::ok);
    EXPECT_EQ(w.end_node(), Status::ok);
    Result<usize> n = w.finish();
    EXPECT_TRUE(n.ok());
    blob.resize(n.ok() ? n.value() : 0);
    return blob;
}

}  // namespace

TEST(VirtualIts, FramesFollowTheHostPlatformBusWindow) {
    auto h = host();
    VirtualItsFrames f;
    ASSERT_EQ(virtual_its_frames(&h->reader, *h->info, 4, f), Status::ok);
    ASSERT_EQ(f.size(), 4u);
    EXPECT_EQ(f[0].base, h->info->gic.its[0].base);  // ITS 0: the host ITS (passthrough doorbell)
    EXPECT_EQ(f[0].size, 0x20000u);
    // The QEMU virt platform-bus window is 0x0c000000 + 32 MiB in the checked-in host DTB.
    for (u32 i = 1; i < 4; ++i) {
        EXPECT_EQ(f[i].base, 0x0c000000u + (i - 1) * kVirtualItsFrameSize) << i;
        EXPECT_EQ(f[i].size, kVirtualItsFrameSize);
        EXPECT_EQ(f[i].base % (64 * KiB), 0u);
    }
    // Without a host tree: the documented default window, same result for QEMU virt.
    VirtualItsFrames d;
    ASSERT_EQ(virtual_its_frames(nullptr, *h->info, 4, d), Status::ok);
    for (u32 i = 0; i < 4; ++i) EXPECT_EQ(d[i].base, f[i].base);
    // One instance: only the host ITS.
    ASSERT_EQ(virtual_its_frames(&h->reader, *h->info, 1, f), Status::ok);
    EXPECT_EQ(f.size(), 1u);
}

TEST(VirtualIts, WindowIsReadFromTheTreeAndBoundsAreChecked) {
    auto h = host();
    // A window of 256 KiB at 0x0d000000 holds exactly two extra ITSes.
    std::vector<u8> blob = platform_bus_tree(0x0d000000, 0x40000);
    Result<Reader> r = Reader::open(blob.data(), blob.size());
    ASSERT_TRUE(r.ok());
    VirtualItsFrames f;
    ASSERT_EQ(virtual_its_frames(&r.value(), *h->info, 3, f), Status::ok);
    ASSERT_EQ(f.size(), 3u);
    EXPECT_EQ(f[1].base, 0x0d000000u);
    EXPECT_EQ(f[2].base, 0x0d020000u);
    EXPECT_EQ(virtual_its_frames(&r.value(), *h->info, 4, f), Status::out_of_range);
    EXPECT_TRUE(f.empty());
    // A window over guest RAM / over the GIC is refused rather than overlapping.
    std::vector<u8> ram = platform_bus_tree(0x40000000, 0x1000000);
    Result<Reader> rr = Reader::open(ram.data(), ram.size());
    ASSERT_TRUE(rr.ok());
    EXPECT_EQ(virtual_its_frames(&rr.value(), *h->info, 2, f), Status::out_of_range);
    std::vector<u8> gic = platform_bus_tree(0x08000000, 0x1000000);
    Result<Reader> rg = Reader::open(gic.data(), gic.size());
    ASSERT_TRUE(rg.ok());
    EXPECT_EQ(virtual_its_frames(&rg.value(), *h->info, 2, f), Status::out_of_range);
    // Bad counts; no host ITS.
    EXPECT_EQ(virtual_its_frames(&h->reader, *h->info, 0, f), Status::invalid_argument);
    EXPECT_EQ(virtual_its_frames(&h->reader, *h->info, kMaxVirtualIts + 1, f), Status::invalid_argument);
    auto no_its = std::make_unique<PlatformInfo>(*h->info);
    no_its->gic.its.clear();
    EXPECT_EQ(virtual_its_frames(&h->reader, *no_its, 2, f), Status::not_found);
}

TEST(VirtualIts, GuestTreeHasOneMsiControllerPerInstance) {
    auto h = host();
    GuestDtbConfig c = config(2);
    c.virtual_its = 3;
    auto b = build(*h, c);
    auto g = std::make_unique<PlatformInfo>();
    ASSERT_EQ(parse_platform(b->reader, *g), Status::ok);
    ASSERT_EQ(g->gic.its.size(), 3u);
    EXPECT_EQ(g->gic.its[0].base, 0x08080000u);
    EXPECT_EQ(g->gic.its[1].base, 0x0c000000u);
    EXPECT_EQ(g->gic.its[2].base, 0x0c020000u);
    for (u32 i = 0; i < 3; ++i) {
        EXPECT_EQ(g->gic.its[i].size, 0x20000u);
        EXPECT_EQ(g->gic.its[i].phandle, kPhandleItsBase + i);
        EXPECT_TRUE(b->reader.has_prop(g->gic.its[i].node, "msi-controller"));
        EXPECT_EQ(b->reader.prop_u32(g->gic.its[i].node, "#msi-cells").value_or(0), 1u);
    }
    EXPECT_EQ(virtual_its_phandle(*h->info, 2), kPhandleItsBase + 2);
    // PCI devices keep sending their MSIs to ITS 0 (the passthrough doorbell).
    ASSERT_EQ(g->pcie.msi_map.size(), 1u);
    EXPECT_EQ(g->pcie.msi_map[0].phandle, kPhandleItsBase);
    if (fdttest::have_dtc()) {
        EXPECT_TRUE(has(b->dts, "its@c020000")) << b->dts;
    }

    // Without an ITS (its=off) the extra ones are not emitted either.
    c.include_its = false;
    auto none = build(*h, c);
    EXPECT_EQ(none->reader.find_compatible("arm,gic-v3-its"), kNoNode);
    // A count that cannot be honoured: only the host ITS, the tree still builds.
    c.include_its = true;
    c.virtual_its = kMaxVirtualIts + 1;
    auto one = build(*h, c);
    auto g1 = std::make_unique<PlatformInfo>();
    ASSERT_EQ(parse_platform(one->reader, *g1), Status::ok);
    EXPECT_EQ(g1->gic.its.size(), 1u);
}

TEST(GuestDtb, TheSmmuStaysTheHypervisors) {
    // The host has an SMMUv3 in front of the root complex; the guest sees neither the SMMU nor an iommu-map (its
    // devices' DMA is translated by the hypervisor's SMMU configuration, docs/msi-passthrough.md).
    auto h = host("qemu-virt-smmuv3.dtb");
    ASSERT_TRUE(h->info->smmu.present);
    auto b = build(*h, config(2));
    EXPECT_EQ(b->reader.find_compatible("arm,smmu-v3"), kNoNode);
    const i32 pci = b->reader.find_compatible("pci-host-ecam-generic");
    ASSERT_NE(pci, kNoNode);
    EXPECT_FALSE(b->reader.has_prop(pci, "iommu-map"));
    EXPECT_FALSE(b->reader.has_prop(pci, "iommu-map-mask"));
    EXPECT_TRUE(b->reader.has_prop(pci, "msi-map"));  // MSIs still go to the (virtual) ITS
    PlatformInfo again;
    ASSERT_EQ(parse_platform(b->reader, again), Status::ok);
    EXPECT_FALSE(again.smmu.present);
    EXPECT_TRUE(again.pcie.iommu_map.empty());
}
