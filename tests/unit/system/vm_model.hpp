// A whole VM's models on the host, wired the way the hypervisor wires them: vCPU contexts, firmware, vGIC and
// N ITS instances over one RegionGuestMemory, and a register catalogue holding every class. Shared by
// tests/unit/system (whole-VM snapshot tests) and tests/unit/reglist (golden lists of the standard VM).
#pragma once

#include <memory>
#include <vector>

#include "core/reglist/catalogue.hpp"
#include "core/reglist/pmu_regs.hpp"
#include "core/reglist/snapshot.hpp"
#include "core/reglist/vcpu_regs.hpp"
#include "its/its.hpp"
#include "its/reglist_class.hpp"
#include "psci/fw_registers.hpp"
#include "sdei/reglist_class.hpp"
#include "tests/unit/psci/fake_platform.hpp"
#include "vgic/reglist_class.hpp"

namespace hvsys {

using namespace hv;

class FixedClock final : public Clock {
public:
    u64 now() const override { return t; }
    u64 frequency() const override { return 62500000; }
    u64 t = 7000000;
};

struct NullKicker final : VcpuKicker {
    void kick(u32) override {}
};

// SDEI platform: MPIDR = vCPU index in Aff0 (as the VM model's vCPUs), kicks ignored.
class ModelSdeiPlatform final : public sdei::SdeiPlatform {
public:
    explicit ModelSdeiPlatform(u32 n) : n_(n) {}
    u32 vcpu_count() const override { return n_; }
    u64 vcpu_mpidr(u32 v) const override { return v; }
    void kick(u32) override {}

private:
    u32 n_;
};

// The host PMU of QEMU 7.2 -cpu max: PMUv3p5 (ID_AA64DFR0_EL1.PMUVer 6), PMCR_EL0 IMP 'A', IDCODE 1, N = 6.
constexpr u64 kHostDfr0 = u64{6} << 8;
constexpr u64 kHostPmcr = 0x41013000;

constexpr u64 kRam0 = 0x40000000;
constexpr u64 kRam0Size = 2 * 1024 * 1024;
constexpr u64 kRam1 = 0x80000000;  // a second, small RAM region (the snapshot carries every region)
constexpr u64 kRam1Size = 64 * 1024;

struct VmModel {
    explicit VmModel(u32 n = 2, u32 n_its = 1, u32 nr_spis = 64)
        : vcpus(n), platform(n), sdei_platform(n), ctx(n), contexts(ctx.data(), n), core(contexts), sys(contexts, clock),
          pmu(contexts, pmu::make_config(kHostDfr0, kHostPmcr)), fwc(fw),
          cat(n) {
        EXPECT_EQ(mem.add_region(kRam0, kRam0Size, ram0.data()), Status::ok);
        EXPECT_EQ(mem.add_region(kRam1, kRam1Size, ram1.data()), Status::ok);
        EXPECT_EQ(fw.init(platform, mem, psci::FirmwareConfig{}), Status::ok);
        vgic::VgicConfig cfg;
        cfg.nr_vcpus = n;
        cfg.nr_spis = nr_spis;
        vgic = std::make_unique<vgic::Vgic>();
        EXPECT_EQ(vgic->init(cfg, mem, kicker, nullptr), Status::ok);
        vgic_regs = std::make_unique<vgic::VgicRegisterClasses>(*vgic, cfg.ich_vtr);
        EXPECT_EQ(cat.add(core), Status::ok);
        EXPECT_EQ(cat.add(sys), Status::ok);
        EXPECT_EQ(cat.add(pmu), Status::ok);
        EXPECT_EQ(cat.add(fwc), Status::ok);
        EXPECT_EQ(vgic_regs->add_to(cat), Status::ok);
        for (u32 i = 0; i < n_its; ++i) {
            its.push_back(std::make_unique<its::Its>(mem, *vgic));
            its_regs.push_back(std::make_unique<its::ItsRegisterClass>(*its.back(), i));
            EXPECT_EQ(cat.add(*its_regs.back()), Status::ok);
        }
        // SDEI as the hypervisor configures it (sdei_glue: default SdeiConfig).
        sdei = std::make_unique<sdei::Sdei>();
        EXPECT_EQ(sdei->init(sdei_platform, mem, sdei::SdeiConfig{}), Status::ok);
        sdei_regs = std::make_unique<sdei::SdeiRegisterClasses>(*sdei);
        EXPECT_EQ(sdei_regs->add_to(cat), Status::ok);
        cat.reset_all();
    }
    std::vector<u64> list(reglist::Handle h) const {
        usize n = 0;
        (void)cat.get_reg_list(h, Span<u64>(), n);
        std::vector<u64> ids(n);
        EXPECT_EQ(cat.get_reg_list(h, Span<u64>(ids.data(), ids.size()), n), Status::ok);
        return ids;
    }
    std::vector<u8> save(usize* used_out = nullptr) {
        reglist::SnapshotInfo info;
        info.vcpu_count = vcpus;
        std::vector<u8> buf;
        usize used = 0;
        EXPECT_EQ(reglist::snapshot_save(cat, info, Span<u8>(), used, &mem), Status::out_of_range);
        buf.resize(used);
        EXPECT_EQ(reglist::snapshot_save(cat, info, Span<u8>(buf.data(), buf.size()), used, &mem), Status::ok);
        if (used_out) *used_out = used;
        return buf;
    }
    Status restore(const std::vector<u8>& s) {
        reglist::SnapshotInfo info;
        return reglist::snapshot_restore(cat, Span<const u8>(s.data(), s.size()), info, &mem);
    }

    u32 vcpus;
    std::vector<u8> ram0 = std::vector<u8>(kRam0Size);
    std::vector<u8> ram1 = std::vector<u8>(kRam1Size);
    RegionGuestMemory mem;
    hvtest::FakeFirmwarePlatform platform;
    ModelSdeiPlatform sdei_platform;
    psci::Firmware fw;
    FixedClock clock;
    std::vector<VcpuContext> ctx;
    reglist::ArrayVcpuContexts contexts;
    reglist::CoreRegisterClass core;
    reglist::SysRegisterClass sys;
    reglist::PmuRegisterClass pmu;
    psci::FirmwareRegisterClass fwc;
    NullKicker kicker;
    std::unique_ptr<vgic::Vgic> vgic;
    std::unique_ptr<vgic::VgicRegisterClasses> vgic_regs;
    std::vector<std::unique_ptr<its::Its>> its;
    std::vector<std::unique_ptr<its::ItsRegisterClass>> its_regs;
    std::unique_ptr<sdei::Sdei> sdei;
    std::unique_ptr<sdei::SdeiRegisterClasses> sdei_regs;
    reglist::RegisterCatalogue cat;
};

}  // namespace hvsys
