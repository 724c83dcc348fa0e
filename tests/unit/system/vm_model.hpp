// A whole VM on the host, built by the same builder as the hypervisor's (vm/vm.hpp build_vm): vCPU contexts,
// firmware, SDEI, vGIC, N ITS instances, the emulated UART (the shipped VM has one whenever the host has a PL011, as
// QEMU virt always does) and the register catalogue holding every class, over host-backed guest RAM and fake ports.
// Shared by tests/unit/system (whole-VM snapshot tests) and tests/unit/reglist (golden lists).
#pragma once

#include <functional>
#include <memory>
#include <vector>

#include "core/reglist/snapshot.hpp"
#include "tests/unit/psci/fake_platform.hpp"
#include "vm/vm.hpp"

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

struct NullUartBackend final : Pl011Backend {
    void uart_tx(char) override {}
    void uart_irq(bool) override {}
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

// The host's ID registers (the standard VM): ID_AA64ISAR0_EL1 of QEMU 7.2 -cpu max (AES, SHA1/2/3, CRC32, atomics,
// RDM, SM3/SM4, DP, FHM, TS, TLB, RNDR) and an ID_AA64PFR0_EL1 with FP/AdvSIMD, GICv3 system registers and CSV2.
constexpr u64 kHostIsar0 = 0x1221111110212120ull;
constexpr u64 kHostPfr0 = 0x0100000001000011ull | (u64{1} << 56);

constexpr u64 kRam0 = 0x40000000;
constexpr u64 kRam0Size = 2 * 1024 * 1024;
constexpr u64 kRam1 = 0x80000000;  // a second, small RAM region (the snapshot carries every region)
constexpr u64 kRam1Size = 64 * 1024;

// vm.ctx[i]: vCPU i's register context inside the VM object.
class ContextView {
public:
    explicit ContextView(Vm& vm) : vm_(vm) {}
    VcpuContext& operator[](u32 i) { return vm_.vcpus[i].ctx; }
    usize size() const { return vm_.vcpu_count; }

private:
    Vm& vm_;
};

struct VmModel {
    explicit VmModel(u32 n = 2, u32 n_its = 1, u32 nr_spis = 64, const std::function<void(VmConfig&)>& tweak = {})
        : vcpus(n),
          machine(std::make_unique<Vm>()),
          platform(n),
          sdei_platform(n),
          mem(machine->memory),
          fw(machine->firmware),
          ctx(*machine) {
        EXPECT_EQ(mem.add_region(kRam0, kRam0Size, ram0.data()), Status::ok);
        EXPECT_EQ(mem.add_region(kRam1, kRam1Size, ram1.data()), Status::ok);
        VmConfig cfg;
        cfg.vcpu_count = n;
        machine->vcpu_count = n;
        for (u32 i = 0; i < n; ++i) {
            cfg.mpidr[i] = i;
            machine->vcpus[i].id = i;
            machine->vcpus[i].mpidr = i;
        }
        cfg.vgic.nr_spis = nr_spis;
        cfg.its_count = n_its;
        cfg.uart = true;
        cfg.pmu = pmu::make_config(kHostDfr0, kHostPmcr);
        cfg.host_ids[idreg::HostReg::isar0] = kHostIsar0;
        cfg.host_ids[idreg::HostReg::pfr0] = kHostPfr0;
        cfg.host_ids[idreg::HostReg::dfr0] = kHostDfr0;
        if (tweak) tweak(cfg);
        VmPorts ports;
        ports.firmware = &platform;
        ports.sdei = &sdei_platform;
        ports.kicker = &kicker;
        ports.clock = &clock;
        ports.uart_backend = cfg.uart ? &uart_backend : nullptr;
        EXPECT_EQ(build_vm(*machine, cfg, ports), Status::ok);
        vgic = &machine->vgic;
        sdei = &machine->sdei;
        for (u32 i = 0; i < machine->its_count; ++i) its.push_back(&machine->its[i].get());
        machine->registers().reset_all();
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
    std::unique_ptr<Vm> machine;
    std::vector<u8> ram0 = std::vector<u8>(kRam0Size);
    std::vector<u8> ram1 = std::vector<u8>(kRam1Size);
    hvtest::FakeFirmwarePlatform platform;
    ModelSdeiPlatform sdei_platform;
    FixedClock clock;
    NullKicker kicker;
    NullUartBackend uart_backend;
    RegionGuestMemory& mem;
    psci::Firmware& fw;
    ContextView ctx;
    reglist::RegisterCatalogue& cat = machine->registers();
    vgic::Vgic* vgic = nullptr;
    std::vector<its::Its*> its;
    sdei::Sdei* sdei = nullptr;
};

}  // namespace hvsys
