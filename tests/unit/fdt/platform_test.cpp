#include "core/platform.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <memory>

#include "core/fdt/writer.hpp"
#include "tests/unit/fdt/fdt_test_util.hpp"

using namespace hv;
using namespace hv::fdt;

namespace {

std::unique_ptr<fdttest::ParsedPlatform> parse(const char* file) {
    return fdttest::parse_platform_blob(fdttest::load_data(file));
}

}  // namespace

TEST(Platform, QemuVirtSmp4) {
    auto p = parse("qemu-virt-smp4.dtb");
    ASSERT_EQ(p->status, Status::ok);
    const PlatformInfo& pi = *p->info;
    ASSERT_EQ(pi.memory.size(), 1u);
    EXPECT_EQ(pi.memory[0].base, 0x40000000u);
    EXPECT_EQ(pi.memory[0].size, 1 * GiB);
    ASSERT_EQ(pi.cpu_count(), 4u);
    for (usize i = 0; i < 4; ++i) EXPECT_EQ(pi.cpus[i].mpidr, i);
    EXPECT_EQ(pi.psci_method, PsciMethod::smc);  // virtualization=on: QEMU's firmware is at EL3 (SMC)

    EXPECT_EQ(pi.gic.gicd_base, 0x08000000u);
    EXPECT_EQ(pi.gic.gicd_size, 0x10000u);
    ASSERT_EQ(pi.gic.gicr.size(), 1u);
    EXPECT_EQ(pi.gic.gicr[0].base, 0x080a0000u);
    EXPECT_EQ(pi.gic.gicr[0].size, 0xf60000u);
    EXPECT_EQ(pi.gic.gicr_stride, 0x20000u);
    EXPECT_TRUE(pi.gic.maintenance.valid);
    EXPECT_EQ(pi.gic.maintenance.intid(), 25u);
    ASSERT_EQ(pi.gic.its.size(), 1u);
    EXPECT_EQ(pi.gic.its[0].base, 0x08080000u);
    EXPECT_EQ(pi.gic.its[0].size, 0x20000u);
    EXPECT_NE(pi.gic.its[0].phandle, 0u);

    EXPECT_EQ(pi.timer.sec_phys.intid(), 29u);
    EXPECT_EQ(pi.timer.phys.intid(), 30u);
    EXPECT_EQ(pi.timer.virt.intid(), 27u);
    EXPECT_EQ(pi.timer.hyp_phys.intid(), 26u);
    EXPECT_TRUE(pi.timer.always_on);

    ASSERT_TRUE(pi.uart.present);
    EXPECT_EQ(pi.uart.base, 0x09000000u);
    EXPECT_EQ(pi.uart.size, 0x1000u);
    EXPECT_EQ(pi.uart.irq.type, DtIrq::kSpi);
    EXPECT_EQ(pi.uart.irq.number, 1u);
    EXPECT_EQ(pi.uart.irq.intid(), 33u);
    EXPECT_EQ(pi.clock_frequency, 24000000u);

    ASSERT_TRUE(pi.pcie.present);
    EXPECT_EQ(pi.pcie.ecam_base, 0x4010000000ull);
    EXPECT_EQ(pi.pcie.ecam_size, 0x10000000u);
    EXPECT_EQ(pi.pcie.bus_start, 0u);
    EXPECT_EQ(pi.pcie.bus_end, 0xffu);
    const PciRange* io = pi.pcie.window(PciRange::Space::io);
    ASSERT_NE(io, nullptr);
    EXPECT_EQ(io->cpu_addr, 0x3eff0000u);
    EXPECT_EQ(io->size, 0x10000u);
    const PciRange* mmio = pi.pcie.window(PciRange::Space::mmio32);
    ASSERT_NE(mmio, nullptr);
    EXPECT_EQ(mmio->cpu_addr, 0x10000000u);
    EXPECT_EQ(mmio->pci_addr, 0x10000000u);
    EXPECT_EQ(mmio->size, 0x2eff0000u);
    const PciRange* mmio64 = pi.pcie.window(PciRange::Space::mmio64);
    ASSERT_NE(mmio64, nullptr);
    EXPECT_EQ(mmio64->cpu_addr, 0x8000000000ull);
    EXPECT_EQ(mmio64->size, 0x8000000000ull);
    ASSERT_EQ(pi.pcie.msi_map.size(), 1u);
    EXPECT_EQ(pi.pcie.msi_map[0].rid_base, 0u);
    EXPECT_EQ(pi.pcie.msi_map[0].phandle, pi.gic.its[0].phandle);
    EXPECT_EQ(pi.pcie.msi_map[0].msi_base, 0u);
    EXPECT_EQ(pi.pcie.msi_map[0].length, 0x10000u);
    // 4 slots x 4 pins, swizzled over SPIs 3..6.
    ASSERT_EQ(pi.pcie.intx.size(), 16u);
    EXPECT_EQ(pi.pcie.intx_mask[0], 0x1800u);
    EXPECT_EQ(pi.pcie.intx_mask[3], 7u);
    EXPECT_EQ(pi.pcie.intx[0].devfn_hi, 0u);
    EXPECT_EQ(pi.pcie.intx[0].pin, 1u);
    EXPECT_EQ(pi.pcie.intx[0].irq.intid(), 32u + 3);
    EXPECT_EQ(pi.pcie.intx[5].devfn_hi, 0x800u);  // device 1, INTB -> swizzled to SPI 5
    EXPECT_EQ(pi.pcie.intx[5].pin, 2u);
    EXPECT_EQ(pi.pcie.intx[5].irq.number, 5u);

    EXPECT_STREQ(pi.chosen.stdout_path, "/pl011@9000000");
    EXPECT_STREQ(pi.chosen.bootargs, "");
    EXPECT_TRUE(pi.chosen.modules.empty());
}

TEST(Platform, QemuVirtSmp2WithModules) {
    auto p = parse("qemu-virt-smp2-modules.dtb");
    ASSERT_EQ(p->status, Status::ok);
    const PlatformInfo& pi = *p->info;
    EXPECT_EQ(pi.cpu_count(), 2u);
    EXPECT_EQ(pi.memory[0].size, 2 * GiB);
    EXPECT_STREQ(pi.chosen.bootargs, "vcpus=2 mem=512M psci=1.0");
    ASSERT_EQ(pi.chosen.modules.size(), 2u);
    const BootModule* k = pi.chosen.module(ModuleKind::kernel);
    ASSERT_NE(k, nullptr);
    EXPECT_EQ(k->base, 0x60000000u);
    EXPECT_EQ(k->size, 0x10000u);
    EXPECT_STREQ(k->bootargs, "console=ttyAMA0 earlycon");
    const BootModule* rd = pi.chosen.module(ModuleKind::ramdisk);
    ASSERT_NE(rd, nullptr);
    EXPECT_EQ(rd->base, 0x64000000u);
    EXPECT_EQ(rd->size, 0x4000u);
    EXPECT_STREQ(rd->bootargs, "");
}

namespace {

// A minimal synthetic host tree; `omit` drops one mandatory part.
std::vector<u8> synthetic(const char* omit) {
    std::vector<u8> buf(4096);
    Writer w(buf.data(), buf.size());
    auto is = [&](const char* what) { return omit != nullptr && std::strcmp(omit, what) == 0; };
    ignore_status(w.begin_node(""));
    ignore_status(w.prop_u32("#address-cells", 2));
    ignore_status(w.prop_u32("#size-cells", 2));
    if (!is("memory")) {
        ignore_status(w.begin_node("memory@80000000"));
        ignore_status(w.prop_string("device_type", "memory"));
        const Writer::AddrSize m[2] = {{0x100000000ull, 0x1000000}, {0x80000000, 0x1000000}};
        ignore_status(w.prop_reg("reg", 2, 2, m, 2));
        ignore_status(w.end_node());
    }
    if (!is("cpus")) {
        ignore_status(w.begin_node("cpus"));
        ignore_status(w.prop_u32("#address-cells", 2));
        ignore_status(w.prop_u32("#size-cells", 0));
        for (u64 mpidr : {0x0ull, 0x100ull, 0x100000000ull}) {
            char name[32];
            snprintf(name, sizeof name, "cpu@%llx", static_cast<unsigned long long>(mpidr));
            ignore_status(w.begin_node(name));
            ignore_status(w.prop_string("device_type", "cpu"));
            ignore_status(w.prop_u64("reg", mpidr | 0xff000000ull));  // non-affinity bits are masked away
            ignore_status(w.end_node());
        }
        ignore_status(w.end_node());
    }
    if (!is("gic")) {
        ignore_status(w.begin_node("gic@2f000000"));
        ignore_status(w.prop_string("compatible", "arm,gic-v3"));
        ignore_status(w.prop_u32("#interrupt-cells", 3));
        ignore_status(w.prop_u32("#redistributor-regions", 2));
        const Writer::AddrSize g[3] = {{0x2f000000, 0x10000}, {0x2f100000, 0x40000}, {0x2f200000, 0x40000}};
        ignore_status(w.prop_reg("reg", 2, 2, g, 3));
        const u32 irq[3] = {1, 9, 4};
        ignore_status(w.prop_cells("interrupts", irq, 3));
        ignore_status(w.end_node());
    }
    if (!is("timer")) {
        ignore_status(w.begin_node("timer"));
        ignore_status(w.prop_string("compatible", "arm,armv8-timer"));
        const u32 irqs[12] = {1, 13, 8, 1, 14, 8, 1, 11, 8, 1, 10, 8};
        ignore_status(w.prop_cells("interrupts", irqs, 12));
        ignore_status(w.end_node());
    }
    ignore_status(w.end_node());
    Result<usize> n = w.finish();
    EXPECT_TRUE(n.ok());
    buf.resize(n.value_or(0));
    return buf;
}

Status parse_blob(const std::vector<u8>& blob, PlatformInfo& pi) {
    Result<Reader> r = Reader::open(blob.data(), blob.size());
    if (!r.ok()) return r.status();
    return parse_platform(r.value(), pi);
}

}  // namespace

TEST(Platform, SyntheticTreeWithoutOptionalDevices) {
    auto pi = std::make_unique<PlatformInfo>();
    ASSERT_EQ(parse_blob(synthetic(nullptr), *pi), Status::ok);
    ASSERT_EQ(pi->memory.size(), 2u);
    EXPECT_EQ(pi->memory[0].base, 0x80000000u);  // sorted
    EXPECT_EQ(pi->memory[1].base, 0x100000000ull);
    ASSERT_EQ(pi->cpu_count(), 3u);
    EXPECT_EQ(pi->cpus[1].mpidr, 0x100u);
    EXPECT_EQ(pi->cpus[2].mpidr, 0x100000000ull);
    ASSERT_EQ(pi->gic.gicr.size(), 2u);
    EXPECT_EQ(pi->gic.gicr[1].base, 0x2f200000u);
    EXPECT_TRUE(pi->gic.its.empty());
    EXPECT_FALSE(pi->uart.present);
    EXPECT_FALSE(pi->pcie.present);
    EXPECT_EQ(pi->psci_method, PsciMethod::none);
    EXPECT_EQ(pi->timer.virt.intid(), 27u);
}

TEST(Platform, MissingMandatoryNodesAreErrors) {
    for (const char* what : {"memory", "cpus", "gic", "timer"}) {
        auto pi = std::make_unique<PlatformInfo>();
        EXPECT_EQ(parse_blob(synthetic(what), *pi), Status::not_found) << what;
    }
}

TEST(Platform, ParsesEveryTruncationWithoutCrashing) {
    // Shrinking totalsize makes open() fail; parse_platform must never be reached with a bad Reader, and
    // an unopened Reader is rejected.
    auto pi = std::make_unique<PlatformInfo>();
    Reader none;
    EXPECT_EQ(parse_platform(none, *pi), Status::invalid_argument);
}

TEST(Platform, QemuVirtSmmuv3AndIommuMap) {
    auto p = parse("qemu-virt-smmuv3.dtb");
    ASSERT_EQ(p->status, Status::ok);
    const PlatformInfo& pi = *p->info;
    ASSERT_TRUE(pi.smmu.present);
    EXPECT_EQ(pi.smmu.base, 0x09050000u);
    EXPECT_EQ(pi.smmu.size, 0x20000u);
    EXPECT_TRUE(pi.smmu.coherent);
    EXPECT_NE(pi.smmu.phandle, 0u);
    // interrupt-names = "eventq", "priq", "cmdq-sync", "gerror": SPIs 74..77, edge rising.
    EXPECT_TRUE(pi.smmu.eventq.valid);
    EXPECT_EQ(pi.smmu.eventq.intid(), 106u);
    EXPECT_EQ(pi.smmu.eventq.flags, 1u);
    EXPECT_EQ(pi.smmu.priq.intid(), 107u);
    EXPECT_EQ(pi.smmu.cmdq_sync.intid(), 108u);
    EXPECT_EQ(pi.smmu.gerror.intid(), 109u);
    ASSERT_TRUE(pi.pcie.present);
    ASSERT_EQ(pi.pcie.iommu_map.size(), 1u);  // <0 &smmu 0 0x10000>: StreamID = requester ID
    EXPECT_EQ(pi.pcie.iommu_map[0].rid_base, 0u);
    EXPECT_EQ(pi.pcie.iommu_map[0].phandle, pi.smmu.phandle);
    EXPECT_EQ(pi.pcie.iommu_map[0].sid_base, 0u);
    EXPECT_EQ(pi.pcie.iommu_map[0].length, 0x10000u);
    EXPECT_EQ(pi.pcie.iommu_map_mask, ~0u);

    auto plain = parse("qemu-virt-smp4.dtb");
    ASSERT_EQ(plain->status, Status::ok);
    EXPECT_FALSE(plain->info->smmu.present);
    EXPECT_TRUE(plain->info->pcie.iommu_map.empty());
}
