// Shared fixture for the vGIC unit tests: fake guest RAM, kicker and hardware-IRQ control.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include "core/guest_memory.hpp"
#include "tests/unit/support.hpp"
#include "vgic/vgic.hpp"

namespace vgictest {

using namespace hv;
using namespace hv::vgic;

struct FakeKicker final : VcpuKicker {
    std::vector<u32> kicks;
    std::mutex lock;  // kicks arrive from several threads in the concurrency test
    void kick(u32 vcpu) override {
        std::lock_guard<std::mutex> g(lock);
        kicks.push_back(vcpu);
    }
    bool kicked(u32 vcpu) const {
        for (u32 k : kicks)
            if (k == vcpu) return true;
        return false;
    }
};

struct FakeHw final : HwIrqControl {
    std::vector<std::pair<u32, bool>> masks;
    std::vector<u32> deactivations;
    void set_physical_masked(u32 pintid, bool masked) override { masks.emplace_back(pintid, masked); }
    void deactivate_physical(u32 pintid) override { deactivations.push_back(pintid); }
};

constexpr u64 kRamBase = 0x40000000;
constexpr u64 kRamSize = 1 * 1024 * 1024;

class VgicTest : public ::testing::Test {
protected:
    void SetUp() override {
        hvtest::install_log_capture();
        hvtest::captured_log().clear();
        ram.assign(kRamSize, 0);
        ASSERT_EQ(mem.add_region(kRamBase, kRamSize, ram.data()), Status::ok);
        make(4, 64);
    }

    void make(u32 nr_vcpus, u32 nr_spis, const u64* mpidrs = nullptr, u64 vtr = kDefaultIchVtr) {
        VgicConfig cfg;
        cfg.nr_vcpus = nr_vcpus;
        cfg.nr_spis = nr_spis;
        cfg.ich_vtr = vtr;
        if (mpidrs)
            for (u32 i = 0; i < nr_vcpus; ++i) cfg.mpidr[i] = mpidrs[i];
        vgic = std::make_unique<Vgic>();
        ASSERT_EQ(vgic->init(cfg, mem, kicker, &hw), Status::ok);
        vgic->set_check_incremental(true);  // every incremental flush is checked against the full scan
        kicker.kicks.clear();
    }

    u64 gicd_read(u64 off, u8 width = 4, u32 vcpu = 0) {
        u64 v = 0xdeadbeef;
        EXPECT_EQ(vgic->distributor().mmio_read(MmioAccess{vcpu, off, width, false}, v), MmioResult::ok);
        return v;
    }
    void gicd_write(u64 off, u64 val, u8 width = 4, u32 vcpu = 0) {
        EXPECT_EQ(vgic->distributor().mmio_write(MmioAccess{vcpu, off, width, true}, val), MmioResult::ok);
    }
    // `off` is relative to the redistributor's RD_base; SGI_base registers are at off + 0x10000.
    u64 gicr_read(u32 rd, u64 off, u8 width = 4, u32 vcpu = 0) {
        u64 v = 0xdeadbeef;
        EXPECT_EQ(vgic->redistributors().mmio_read(MmioAccess{vcpu, rd * kRedistStride + off, width, false}, v),
                  MmioResult::ok);
        return v;
    }
    void gicr_write(u32 rd, u64 off, u64 val, u8 width = 4, u32 vcpu = 0) {
        EXPECT_EQ(vgic->redistributors().mmio_write(MmioAccess{vcpu, rd * kRedistStride + off, width, true}, val),
                  MmioResult::ok);
    }
    static constexpr u64 kSgi = 0x10000;

    // Enable both groups in GICD_CTLR and the CPU interface (PMR fully open).
    void enable_all(u32 vcpu) {
        gicd_write(0x0, 3);
        auto& s = vgic->cpu_if(vcpu);
        s.vmcr = ich_vmcr::VENG0::make(1) | ich_vmcr::VENG1::make(1) | ich_vmcr::VPMR::make(0xf8);
    }

    std::vector<u8> ram;
    RegionGuestMemory mem;
    FakeKicker kicker;
    FakeHw hw;
    std::unique_ptr<Vgic> vgic;
};

inline u32 lr_intid(u64 lr) { return static_cast<u32>(ich_lr::vINTID::get(lr)); }
inline u64 lr_state(u64 lr) { return ich_lr::State::get(lr); }

}  // namespace vgictest
