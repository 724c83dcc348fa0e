// The VM model of the snapshot fuzz target (tests/fuzz/targets/snapshot.cpp): 1 vCPU, firmware, vGIC with 32
// SPIs, one ITS, two RAM regions, wired as tests/unit/system/vm_model.hpp does. One vCPU and 32 SPIs (it was 2 and
// 64): every pass of a restore or save is per record, and this VM has 396 records where the other had 712; the
// vCPU and SPI code is the same for each (docs/fuzzing.md). In a header so that the unit test
// system/snapshot_fuzz_vm_test.cpp can show that reset() gives a VM indistinguishable from a freshly built one
// (the target resets one long-lived VM per input instead of building one: building cost a fifth of an input).
#pragma once

#include <cstdlib>
#include <cstring>
#include <optional>
#include <vector>

#include "core/reglist/catalogue.hpp"
#include "core/reglist/id_regs_class.hpp"
#include "core/reglist/pmu_regs.hpp"
#include "core/reglist/snapshot.hpp"
#include "core/reglist/vcpu_regs.hpp"
#include "its/its.hpp"
#include "its/reglist_class.hpp"
#include "psci/fw_registers.hpp"
#include "tests/fuzz/fuzz_ports.hpp"
#include "vgic/reglist_class.hpp"

namespace hvfuzz::snapshot_vm {

using namespace hv;

// Setup failures (never input-dependent): abort, which libFuzzer and GoogleTest both report.
inline void must(bool ok) {
    if (!ok) std::abort();
}

constexpr u32 kVcpus = 1;
constexpr u64 kRam0 = 0x40000000;
constexpr u64 kRam0Size = 64 * KiB;
constexpr u64 kRam1 = 0x80000000;
constexpr u64 kRam1Size = 128 * KiB;  // the ITS device and collection tables: 64 KiB pages (Page_Size is read-only)

struct Platform final : psci::FirmwarePlatform {
    u32 vcpu_count() const override { return kVcpus; }
    u64 vcpu_mpidr(u32 v) const override { return 0x80000000ull | v; }
    Status start_vcpu(u32, u64, u64) override { return Status::ok; }
    bool random64(u64& out) override {
        out = 0x1234567887654321ull;
        return true;
    }
};

struct Vm {
    Vm()
        : ids(host_ids(), 40),
          contexts(ctx, kVcpus),
          core(contexts),
          sys(contexts, clock),
          pmu(contexts, pmu::make_config(u64{6} << 8, 0x41013000)),
          fwc(fw),
          cat(kVcpus) {
        must(mem.add_region(kRam0, kRam0Size, ram0) == Status::ok);
        must(mem.add_region(kRam1, kRam1Size, ram1) == Status::ok);
        must(fw.init(platform, mem, psci::FirmwareConfig{}) == Status::ok);
        vgic::VgicConfig cfg;
        cfg.nr_vcpus = kVcpus;
        cfg.nr_spis = 32;
        must(vgic.init(cfg, mem, kicker, nullptr) == Status::ok);
        vgic_regs.emplace(vgic, cfg.ich_vtr);  // members, not heap objects: see LLVMFuzzerTestOneInput
        its.emplace(mem, vgic);
        its_regs.emplace(*its, 0);
        its_check.emplace(kVcpus);  // the dry run of the ITS tables (as build_vm)
        its_regs->set_restore_check(&*its_check);
        must(cat.add(ids) == Status::ok);  // the VM's ID registers: SET refuses features the host lacks
        must(cat.add(core) == Status::ok);
        must(cat.add(sys) == Status::ok);
        must(cat.add(pmu) == Status::ok);  // QEMU 7.2's PMU: PMUv3p5, 6 counters (SET validation)
        must(cat.add(fwc) == Status::ok);
        must(vgic_regs->add_to(cat) == Status::ok);
        must(cat.add(*its_regs) == Status::ok);
        cat.reset_all();
        for (usize i = 0; i < 2; ++i) {
            u64 v = 0;
            must(its->mmio_read(MmioAccess{0, its::reg(its::GitsReg::BASER0) + 8 * i, 8, false}, v) == MmioResult::ok);
            fresh_baser[i] = v;
        }
    }
    // Back to the state of a freshly built VM (SnapshotFuzzVm.ResetIsIndistinguishableFromFresh checks it): RAM
    // zeroed, vCPU contexts cleared, firmware, vGIC and ITS models reset (mappings, pending LPIs),
    // then every register class reset as the constructor does. The ITS restore check keeps nothing between runs
    // (it resets its scratch ITS for each).
    void reset() {
        std::memset(ram0, 0, sizeof ram0);
        std::memset(ram1, 0, sizeof ram1);
        for (VcpuContext& c : ctx) c = VcpuContext{};
        // The VM's configuration a restore can set and a VM reset keeps (as KVM): the ID registers, the firmware
        // registers (PSCI version, workaround levels, feature bitmaps): set up again as the constructor does.
        ids = reglist::IdRegisterClass(host_ids(), 40);
        must(fw.init(platform, mem, psci::FirmwareConfig{}) == Status::ok);  // (and the power states: reset)
        vgic.reset();
        // An ITS reset is KVM's CTRL_RESET: GITS_BASER<n> keep everything but Valid. A built ITS has the reset
        // values: written back (the ITS is disabled after the reset, so the writes are taken).
        its->reset();
        for (usize i = 0; i < 2; ++i) mmio(*its, its::reg(its::GitsReg::BASER0) + 8 * i, fresh_baser[i], 8);
        cat.reset_all();
    }
    std::vector<u8> save() {
        std::vector<u8> buf;
        save_into(buf);
        return buf;
    }
    // Saves into `buf`, reusing its storage (a save is ~200 KiB: a fresh allocation per save cost page faults).
    void save_into(std::vector<u8>& buf) {
        reglist::SnapshotInfo info;
        info.vcpu_count = kVcpus;
        usize used = 0;
        buf.resize(buf.capacity());
        Status s = reglist::snapshot_save(cat, info, Span<u8>(buf.data(), buf.size()), used, &mem);
        if (s == Status::out_of_range) {
            buf.resize(used);
            s = reglist::snapshot_save(cat, info, Span<u8>(buf.data(), buf.size()), used, &mem);
        }
        must(s == Status::ok && used <= buf.size());
        buf.resize(used);
    }
    void mmio(MmioHandler& h, u64 off, u64 v, u8 width = 4, u32 vcpu = 0) {
        must(h.mmio_write(MmioAccess{vcpu, off, width, true}, v) == MmioResult::ok);
    }

    alignas(4096) u8 ram0[kRam0Size] = {};
    alignas(4096) u8 ram1[kRam1Size] = {};
    RegionGuestMemory mem;
    Platform platform;
    psci::Firmware fw;
    FixedClock clock;
    static idreg::HostIdRegs host_ids() {
        idreg::HostIdRegs h;
        h[idreg::HostReg::isar0] = 0x1221111110212120ull;  // QEMU 7.2 -cpu max
        h[idreg::HostReg::pfr0] = 0x0100000001000011ull;
        h[idreg::HostReg::mmfr0] = 0x5;
        return h;
    }
    reglist::IdRegisterClass ids;
    VcpuContext ctx[kVcpus];
    reglist::ArrayVcpuContexts contexts;
    reglist::CoreRegisterClass core;
    reglist::SysRegisterClass sys;
    reglist::PmuRegisterClass pmu;
    psci::FirmwareRegisterClass fwc;
    NullKicker kicker;
    vgic::Vgic vgic;
    std::optional<vgic::VgicRegisterClasses> vgic_regs;
    std::optional<its::Its> its;
    std::optional<its::ItsRegisterClass> its_regs;
    std::optional<its::ItsRestoreCheck> its_check;
    reglist::RegisterCatalogue cat;
    u64 fresh_baser[2] = {};  // GITS_BASER0/1 of the ITS as built (reset() writes them back)
};

// A VM with state in every class: registers, distributor/redistributor settings, LPIs on, an ITS with a
// device, events and collections (so a save carries ITS tables and pending tables in RAM). The fuzz target's
// reference snapshot is this VM's save.
inline void make_live(Vm& vm) {
    vm.ctx[0].core.x[0] = 0x1122334455667788ull;
    vm.ctx[0].core.pc = 0x40001000;
    auto& d = vm.vgic.distributor();
    auto& r = vm.vgic.redistributors();
    vm.mmio(d, 0x0, 0x13);              // GICD_CTLR: ARE, both groups
    vm.mmio(d, 0x104, 0xff00ff);        // ISENABLER1
    vm.mmio(d, 0x204, 0x10001);         // ISPENDR1
    vm.mmio(d, 0x420, 0xa0a0a0a0);      // IPRIORITYR8
    vm.mmio(d, 0x6100 + 33 * 8, 0, 8);  // IROUTER33 -> vCPU 0
    for (u32 c = 0; c < kVcpus; ++c) {
        const u64 rd = c * vgic::kRedistStride;
        vm.mmio(r, rd + 0x14, 0);                                 // GICR_WAKER: awake
        vm.mmio(r, rd + 0x70, (kRam0 + 0x8000) | 13, 8);          // PROPBASER: IDbits 14
        vm.mmio(r, rd + 0x78, (kRam0 + 0xa000 + c * 0x1000), 8);  // PENDBASER
        vm.mmio(r, rd + 0x10100, 0x8000ffff);                     // ISENABLER0
        vm.mmio(r, rd + 0x0, 1);                                  // EnableLPIs
    }
    std::memset(vm.ram0 + 0x8000, 0xa1, 64);  // LPI 8192..8255 enabled, priority 0xa0
    its::Its& its = *vm.its;
    vm.mmio(its, its::reg(its::GitsReg::CBASER), its::cbaser::Valid::make(1) | kRam0, 8);
    const u64 page64k = its::baser::PageSize::make(its::baser::kPage64K);
    vm.mmio(its, its::reg(its::GitsReg::BASER0),
            its::baser::Valid::make(1) | page64k | its::baser::PhysicalAddress::make(kRam1 >> 12), 8);
    vm.mmio(its, its::reg(its::GitsReg::BASER0) + 8,
            its::baser::Valid::make(1) | page64k | its::baser::PhysicalAddress::make((kRam1 + 0x10000) >> 12), 8);
    vm.mmio(its, its::reg(its::GitsReg::CTLR), 1);
    const its::Command cmds[] = {its::Command::mapc(0, 0, true),
                                 its::Command::mapc(1, 0, true),
                                 its::Command::mapd(3, kRam0 + 0x3000, 3, true),
                                 its::Command::mapti(3, 0, 8192, 0),
                                 its::Command::mapti(3, 5, 8200, 1),
                                 its::Command::event_cmd(its::Opcode::INT, 3, 5)};
    std::memcpy(vm.ram0, cmds, sizeof cmds);
    vm.mmio(its, its::reg(its::GitsReg::CWRITER), sizeof cmds, 8);
    must(its.ite_count() == 2);
}

}  // namespace hvfuzz::snapshot_vm
