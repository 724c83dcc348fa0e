#include "vm/vm.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <string>

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
    ASSERT_EQ(vm->registers().get_one_reg(reglist::Handle::for_vcpu(1), MpStateClass::kId, Span<u8>(buf, 4)),
              Status::ok);
    EXPECT_EQ(buf[0], kMpStateStopped);
    ASSERT_EQ(vm->registers().get_one_reg(reglist::Handle::for_vcpu(0), MpStateClass::kId, Span<u8>(buf, 4)),
              Status::ok);
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

TEST(DeviceHooks, EachKindIsCalledInRegistrationOrderAndOnlyForDevicesThatHaveIt) {
    std::string log;
    static Vm vm;
    Vcpu& v = vm.vcpus[0];
    struct Recorder {
        std::string* log;
        bool pending = false;
    } a{&log}, b{&log};
    DeviceHooks da;
    da.self = &a;
    da.before_entry = [](void* s, Vcpu&) { *static_cast<decltype(a)*>(s)->log += "aE"; };
    da.reset = [](void* s, Vm&) { *static_cast<decltype(a)*>(s)->log += "aR"; };
    da.has_pending = [](void* s, Vcpu&) { return static_cast<decltype(a)*>(s)->pending; };
    DeviceHooks db;
    db.self = &b;
    db.before_entry = [](void* s, Vcpu&) { *static_cast<decltype(a)*>(s)->log += "bE"; };
    db.after_exit = [](void* s, Vcpu&) { *static_cast<decltype(a)*>(s)->log += "bX"; };
    db.put = [](void* s, Vcpu&) { *static_cast<decltype(a)*>(s)->log += "bP"; };
    db.reset = [](void* s, Vm&) { *static_cast<decltype(a)*>(s)->log += "bR"; };
    ASSERT_EQ(vm.add_device(da), Status::ok);
    ASSERT_EQ(vm.add_device(db), Status::ok);
    EXPECT_EQ(vm.devices().all().size(), 2u);

    vm.devices().before_entry(v);
    vm.devices().after_exit(v);
    vm.devices().put(v);
    vm.devices().reset(vm);
    EXPECT_EQ(log, "aEbEbXbPaRbR");

    EXPECT_TRUE(vm.devices().tracks_pending());
    EXPECT_FALSE(vm.devices().has_pending(v));
    a.pending = true;
    EXPECT_TRUE(vm.devices().has_pending(v));
}

TEST(DeviceHooks, TheFirstDeviceThatHandlesATrapOrACallWins) {
    static Vm vm;
    Vcpu& v = vm.vcpus[0];
    EXPECT_FALSE(vm.devices().tracks_pending());
    int calls[2] = {};
    DeviceHooks d0, d1;
    d0.self = &calls[0];
    d1.self = &calls[1];
    // Device 0 handles reads only; device 1 handles everything.
    d0.sysreg = [](void* s, Vcpu&, const esr::SysRegAccess& a, u64& value) {
        ++*static_cast<int*>(s);
        if (!a.read) return false;
        value = 0x11;
        return true;
    };
    d1.sysreg = [](void* s, Vcpu&, const esr::SysRegAccess&, u64& value) {
        ++*static_cast<int*>(s);
        value = 0x22;
        return true;
    };
    d1.hypercall = [](void* s, Vm&, Vcpu& vc) {
        ++*static_cast<int*>(s);
        return vc.ctx.core.x[0] == 0xc6000000;
    };
    ASSERT_EQ(vm.add_device(d0), Status::ok);
    ASSERT_EQ(vm.add_device(d1), Status::ok);

    esr::SysRegAccess rd{};
    rd.read = true;
    u64 value = 0;
    EXPECT_TRUE(vm.devices().sysreg(v, rd, value));
    EXPECT_EQ(value, 0x11u);
    EXPECT_EQ(calls[1], 0);  // never asked: device 0 handled it
    esr::SysRegAccess wr{};
    EXPECT_TRUE(vm.devices().sysreg(v, wr, value));
    EXPECT_EQ(value, 0x22u);
    EXPECT_EQ(calls[0], 2);
    EXPECT_EQ(calls[1], 1);

    v.ctx.core.x[0] = 0x84000000;
    EXPECT_FALSE(vm.devices().hypercall(vm, v));
    v.ctx.core.x[0] = 0xc6000000;
    EXPECT_TRUE(vm.devices().hypercall(vm, v));
}

TEST(DeviceHooks, HypercallClaimsFollowTheFidFilters) {
    static Vm vm;
    EXPECT_FALSE(vm.devices().claims_hypercall(0x84000000));  // no device: the firmware's alone
    auto handler = [](void*, Vm&, Vcpu&) { return false; };
    DeviceHooks sdei_like;
    sdei_like.hypercall = handler;
    sdei_like.hypercall_fid_mask = 0xffffffe0;
    sdei_like.hypercall_fid_match = 0xc4000020;
    ASSERT_EQ(vm.add_device(sdei_like), Status::ok);
    DeviceHooks no_hypercall;  // a filter without a hypercall hook claims nothing
    no_hypercall.hypercall_fid_mask = 0;
    ASSERT_EQ(vm.add_device(no_hypercall), Status::ok);
    EXPECT_TRUE(vm.devices().claims_hypercall(0xc4000020));
    EXPECT_TRUE(vm.devices().claims_hypercall(0xc400003f));
    EXPECT_FALSE(vm.devices().claims_hypercall(0xc4000040));
    EXPECT_FALSE(vm.devices().claims_hypercall(0x4b000000));
    DeviceHooks claims_all;  // the defaults: every call
    claims_all.hypercall = handler;
    ASSERT_EQ(vm.add_device(claims_all), Status::ok);
    EXPECT_TRUE(vm.devices().claims_hypercall(0x4b000000));
}

TEST(DeviceHooks, EntryNeedsContextIfAnyDeviceSaysSo) {
    static Vm vm;
    Vcpu& v = vm.vcpus[1];
    EXPECT_FALSE(vm.devices().entry_needs_context(v));  // no device asks
    DeviceHooks quiet, busy_on_vcpu1;
    quiet.entry_needs_context = [](void*, Vcpu&) { return false; };
    busy_on_vcpu1.entry_needs_context = [](void*, Vcpu& vc) { return vc.id == 1; };
    ASSERT_EQ(vm.add_device(quiet), Status::ok);
    EXPECT_FALSE(vm.devices().entry_needs_context(v));
    ASSERT_EQ(vm.add_device(busy_on_vcpu1), Status::ok);
    v.id = 1;
    EXPECT_TRUE(vm.devices().entry_needs_context(v));
    vm.vcpus[0].id = 0;
    EXPECT_FALSE(vm.devices().entry_needs_context(vm.vcpus[0]));
}

TEST(DeviceHooks, RegistrationStopsAtCapacity) {
    static Vm vm;
    for (u32 i = 0; i < Vm::kMaxDevices; ++i) ASSERT_EQ(vm.add_device(DeviceHooks{}), Status::ok);
    EXPECT_EQ(vm.add_device(DeviceHooks{}), Status::no_memory);
    EXPECT_EQ(vm.devices().all().size(), Vm::kMaxDevices);
}

namespace {

struct NullUart final : Pl011Backend {
    void uart_tx(char) override {}
    void uart_irq(bool level) override { line = level; }
    bool line = false;
};

}  // namespace

TEST(UartClass, StateAndFifoGoThroughTheCatalogueIntoAFreshVm) {
    Ports ports;
    NullUart be_a, be_b;
    VmConfig cfg;
    cfg.uart = true;
    auto a = two_vcpu_vm(cfg);
    VmPorts pa = ports.all();
    pa.uart_backend = &be_a;
    ASSERT_EQ(build_vm(*a, cfg, pa), Status::ok);
    auto b = two_vcpu_vm(cfg);
    VmPorts pb = ports.all();
    pb.uart_backend = &be_b;
    ASSERT_EQ(build_vm(*b, cfg, pb), Status::ok);

    // A: programmed, three characters waiting (one read already: the FIFO head is not slot 0), RX interrupt on.
    a->uart->locked([&](Pl011& u) {
        (void)u.mmio_write(MmioAccess{0, 0x024, 4, true}, 0x27);           // IBRD
        (void)u.mmio_write(MmioAccess{0, 0x02c, 4, true}, 0x70);           // LCR_H: 8 bits, FIFOs
        (void)u.mmio_write(MmioAccess{0, 0x038, 4, true}, Pl011::kIntRx);  // IMSC
        for (char c : std::string("xabc")) (void)u.push_rx(c);
        u64 v = 0;
        (void)u.mmio_read(MmioAccess{0, 0x000, 4, false}, v);  // takes 'x'
        EXPECT_EQ(v, u64{'x'});
    });
    EXPECT_TRUE(be_a.line);

    // Copy every UART register of A's catalogue into B's, in enumeration order (the restore's order).
    reglist::RegisterCatalogue& ca = a->registers();
    reglist::RegisterCatalogue& cb = b->registers();
    u32 copied = 0;
    for (usize i = 0, n = ca.reg_count(reglist::Handle::vm()); i < n; ++i) {
        u64 id = 0;
        ASSERT_EQ(ca.reg_id_at(reglist::Handle::vm(), i, id), Status::ok);
        if (reglist::reg_class(id) != reglist::kClassUart) continue;
        u64 v = 0;
        ASSERT_EQ(ca.get_u64(reglist::Handle::vm(), id, v), Status::ok);
        ASSERT_EQ(cb.set_u64(reglist::Handle::vm(), id, v), Status::ok) << std::hex << id;
        ++copied;
    }
    EXPECT_EQ(copied, UartRegisterClass::kRegs + 1 + UartRegisterClass::kRxSlots);
    EXPECT_TRUE(be_b.line);  // RIS & IMSC restored: the line is up
    std::string got;
    b->uart->locked([&](Pl011& u) {
        EXPECT_EQ(u.rx_count(), 3u);
        u64 v = 0;
        (void)u.mmio_read(MmioAccess{0, 0x024, 4, false}, v);
        EXPECT_EQ(v, 0x27u);
        (void)u.mmio_read(MmioAccess{0, 0x02c, 4, false}, v);
        EXPECT_EQ(v, 0x70u);
        for (int k = 0; k < 3; ++k) {
            (void)u.mmio_read(MmioAccess{0, 0x000, 4, false}, v);
            got.push_back(static_cast<char>(v & 0xff));
        }
    });
    EXPECT_EQ(got, "abc");
    EXPECT_FALSE(be_b.line);  // FIFO drained

    // Refusals change nothing: a count above 32, a value outside a field.
    EXPECT_EQ(cb.set_u64(reglist::Handle::vm(), UartRegisterClass::id(UartRegisterClass::kRxCount), 33),
              Status::invalid_argument);
    EXPECT_EQ(cb.set_u64(reglist::Handle::vm(), UartRegisterClass::id(2), 0x10000), Status::invalid_argument);
    u64 ibrd = 0;
    ASSERT_EQ(cb.get_u64(reglist::Handle::vm(), UartRegisterClass::id(2), ibrd), Status::ok);
    EXPECT_EQ(ibrd, 0x27u);
    EXPECT_EQ(cb.set_u64(reglist::Handle::vm(), UartRegisterClass::id(0x0b), 0), Status::not_found);
}
