#include <gtest/gtest.h>

#include <memory>

#include "vm/vm.hpp"

using namespace hv;

TEST(Vm, VcpuLookupByMpidr) {
    static Vm vm;
    vm.vcpu_count = 2;
    vm.vcpus[0].mpidr = 0x0;
    vm.vcpus[1].mpidr = 0x1;
    EXPECT_EQ(vm.vcpu_by_mpidr(0x80000001), &vm.vcpus[1]);  // RES1 bit 31 ignored
    EXPECT_EQ(vm.vcpu_by_mpidr(0x2), nullptr);
    EXPECT_EQ(vm.vcpu(2), nullptr);
}

namespace {

struct Ports {
    class Platform final : public psci::FirmwarePlatform {
    public:
        u32 vcpu_count() const override { return 2; }
        u64 vcpu_mpidr(u32 v) const override { return v; }
        Status start_vcpu(u32, u64, u64) override { return Status::ok; }
        bool random64(u64&) override { return false; }
    } firmware;
    class Sdei final : public sdei::SdeiPlatform {
    public:
        u32 vcpu_count() const override { return 2; }
        u64 vcpu_mpidr(u32 v) const override { return v; }
        void kick(u32) override {}
    } sdei;
    struct Kicker final : VcpuKicker {
        void kick(u32) override {}
    } kicker;
    class FixedClock final : public Clock {
    public:
        u64 now() const override { return 1000; }
        u64 frequency() const override { return 62500000; }
    } clock;
    VmPorts all() {
        VmPorts p;
        p.firmware = &firmware;
        p.sdei = &sdei;
        p.kicker = &kicker;
        p.clock = &clock;
        return p;
    }
};

std::unique_ptr<Vm> two_vcpu_vm(VmConfig& cfg) {
    auto vm = std::make_unique<Vm>();
    vm->vcpu_count = 2;
    cfg.vcpu_count = 2;
    for (u32 i = 0; i < 2; ++i) {
        vm->vcpus[i].id = i;
        vm->vcpus[i].mpidr = cfg.mpidr[i] = i;
    }
    return vm;
}

}  // namespace

TEST(BuildVm, AssemblesEveryModelAndOneCatalogue) {
    Ports ports;
    VmConfig cfg;
    cfg.its_count = 2;
    auto vm = two_vcpu_vm(cfg);
    ASSERT_EQ(build_vm(*vm, cfg, ports.all()), Status::ok);
    EXPECT_EQ(vm->its_count, 2u);
    EXPECT_TRUE(vm->its[1].built());
    EXPECT_FALSE(vm->its[2].built());
    EXPECT_FALSE(vm->uart.built());
    // The catalogue answers for the MP state of each vCPU, and its value follows the firmware (vCPU 0 boots on).
    u8 buf[4] = {};
    ASSERT_EQ(vm->registers().get_one_reg(reglist::Handle::for_vcpu(1), MpStateClass::kId, Span<u8>(buf, 4)), Status::ok);
    EXPECT_EQ(buf[0], kMpStateStopped);
    ASSERT_EQ(vm->registers().get_one_reg(reglist::Handle::for_vcpu(0), MpStateClass::kId, Span<u8>(buf, 4)), Status::ok);
    EXPECT_EQ(buf[0], kMpStateRunnable);
    // Built once.
    EXPECT_EQ(build_vm(*vm, cfg, ports.all()), Status::busy);
}

TEST(BuildVm, RefusesMissingPortsAndBadCounts) {
    Ports ports;
    {
        VmConfig cfg;
        auto vm = two_vcpu_vm(cfg);
        VmPorts p = ports.all();
        p.clock = nullptr;
        EXPECT_EQ(build_vm(*vm, cfg, p), Status::invalid_argument);
    }
    {
        VmConfig cfg;
        auto vm = two_vcpu_vm(cfg);
        cfg.its_count = Vm::kMaxIts + 1;
        EXPECT_EQ(build_vm(*vm, cfg, ports.all()), Status::invalid_argument);
    }
    {
        VmConfig cfg;
        auto vm = two_vcpu_vm(cfg);
        cfg.uart = true;  // without a backend
        EXPECT_EQ(build_vm(*vm, cfg, ports.all()), Status::invalid_argument);
    }
    {
        VmConfig cfg;
        auto vm = two_vcpu_vm(cfg);
        cfg.vcpu_count = 3;  // disagrees with the VM's vCPUs
        EXPECT_EQ(build_vm(*vm, cfg, ports.all()), Status::invalid_argument);
    }
}
