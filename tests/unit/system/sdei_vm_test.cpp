// SDEI through the whole VM object (vm/vm.cpp build_vm wiring): INTERRUPT_BIND diverts the interrupt in the vGIC,
// a guest's GICD_ISPENDR write raises the shared event, CPU_OFF resets the PE's private events, a snapshot taken
// while a bound shared event's handler runs resumes into it, and a newer SDEI layout version is refused.
#include <gtest/gtest.h>

#include <cstring>

#include "tests/unit/sdei/fake.hpp"
#include "tests/unit/support.hpp"
#include "tests/unit/system/vm_model.hpp"

using namespace hv;
using namespace hvsys;
using namespace hv::reglist;

namespace {

constexpr u32 kSpi = 40;
constexpr u32 kPpi = 23;
constexpr u64 kEp = kRam0 + 0x4000;

i64 call(VmModel& vm, u32 v, u32 fid, u64 a1 = 0, u64 a2 = 0, u64 a3 = 0, u64 a4 = 0, u64 a5 = 0) {
    return sdeitest::sdei_call(*vm.sdei, vm.ctx[v], v, fid, a1, a2, a3, a4, a5);
}

void gicd_write(VmModel& vm, u64 off, u64 val) {
    ASSERT_EQ(vm.vgic->distributor().mmio_write(MmioAccess{0, off, 4, true}, val), MmioResult::ok);
}
void set_pending(VmModel& vm, u32 intid) { gicd_write(vm, 0x200 + (intid / 32) * 4, 1u << (intid % 32)); }

u32 lrs_after_flush(VmModel& vm, u32 v) {
    vgic::VcpuIfState& s = vm.vgic->cpu_if(v);
    vm.vgic->flush(v, s);
    const u32 n = s.used_lrs;
    vm.vgic->fold(v, s);
    return n;
}

// vCPU `v` takes the bound SPI's shared event (RM_PE to v).
void run_shared_handler(VmModel& vm, u32 v) {
    const i64 ev = call(vm, 0, sdei::kInterruptBind, kSpi);
    ASSERT_EQ(ev, static_cast<i64>(sdei::kSharedBoundBase));
    ASSERT_EQ(call(vm, 0, sdei::kEventRegister, ev, kEp, 0xa4, sdei::kRoutingPe, v), 0);
    ASSERT_EQ(call(vm, 0, sdei::kEventEnable, ev), 0);
    ASSERT_EQ(call(vm, v, sdei::kPeUnmask), 0);
    vm.ctx[v].core.pc = kRam0 + 0x888;
    vm.ctx[v].core.pstate = 0x5;
    vm.ctx[v].core.x[9] = 0x9999;
    gicd_write(vm, 0x0, 3);
    set_pending(vm, kSpi);
    ASSERT_TRUE(vm.sdei->deliver(v, vm.ctx[v]));
    ASSERT_EQ(vm.ctx[v].core.pc, kEp);
}

}  // namespace

TEST(SdeiVm, FeaturesReportEveryBindSlot) {
    VmModel vm(2);
    EXPECT_EQ(call(vm, 0, sdei::kFeatures, sdei::kFeatureBindSlots),
              static_cast<i64>(sdei::kMaxPrivateBound | sdei::kMaxSharedBound << 16));
}

TEST(SdeiVm, BindDivertsAndReleaseRestores) {
    VmModel vm(2);
    gicd_write(vm, 0x0, 3);
    gicd_write(vm, 0x100 + (kSpi / 32) * 4, 1u << (kSpi % 32));  // enabled, as a guest driver would have it
    const i64 ev = call(vm, 0, sdei::kInterruptBind, kSpi);
    ASSERT_EQ(ev, static_cast<i64>(sdei::kSharedBoundBase));
    EXPECT_TRUE(vm.vgic->is_bound(kSpi, 0));
    ASSERT_EQ(call(vm, 0, sdei::kEventRegister, ev, kEp, 0, sdei::kRoutingAny, 0), 0);
    ASSERT_EQ(call(vm, 0, sdei::kEventEnable, ev), 0);
    ASSERT_EQ(call(vm, 1, sdei::kPeUnmask), 0);
    set_pending(vm, kSpi);
    EXPECT_EQ(lrs_after_flush(vm, 0), 0u);         // not through the list registers
    EXPECT_FALSE(vm.sdei->deliver(0, vm.ctx[0]));  // vCPU 0 is masked: RM_ANY picks vCPU 1
    ASSERT_TRUE(vm.sdei->deliver(1, vm.ctx[1]));
    EXPECT_EQ(vm.ctx[1].core.x[0], static_cast<u64>(ev));
    call(vm, 1, sdei::kEventComplete, 0);
    ASSERT_EQ(call(vm, 0, sdei::kEventUnregister, ev), 0);
    ASSERT_EQ(call(vm, 0, sdei::kInterruptRelease, ev), 0);
    EXPECT_FALSE(vm.vgic->is_bound(kSpi, 0));
    set_pending(vm, kSpi);
    EXPECT_EQ(lrs_after_flush(vm, 0), 1u);  // an ordinary SPI again
    // Hardware-linked interrupts (the timer) cannot be bound; SGIs neither.
    ASSERT_EQ(vm.vgic->map_hw(0, 27, 27), Status::ok);
    EXPECT_EQ(call(vm, 0, sdei::kInterruptBind, 27), sdei::kInvalidParameters);
    EXPECT_EQ(call(vm, 0, sdei::kInterruptBind, 5), sdei::kInvalidParameters);
}

TEST(SdeiVm, BoundPpiRaisesThePrivateEventOfItsVcpu) {
    VmModel vm(2);
    const i64 ev = call(vm, 0, sdei::kInterruptBind, kPpi);
    ASSERT_EQ(ev, static_cast<i64>(sdei::kPrivateBoundBase));
    ASSERT_EQ(call(vm, 1, sdei::kEventRegister, ev, kEp, 0, 0, 0), 0);
    ASSERT_EQ(call(vm, 1, sdei::kEventEnable, ev), 0);
    ASSERT_EQ(call(vm, 1, sdei::kPeUnmask), 0);
    ASSERT_EQ(vm.vgic->redistributors().mmio_write(MmioAccess{1, vgic::kRedistStride + 0x10200, 4, true}, 1u << kPpi),
              MmioResult::ok);  // GICR_ISPENDR0 of vCPU 1
    EXPECT_TRUE(vm.sdei->deliver(1, vm.ctx[1]));
    EXPECT_EQ(vm.ctx[1].core.x[0], static_cast<u64>(ev));
}

TEST(SdeiVm, CpuOffResetsThePrivateEvents) {
    VmModel vm(2);
    ASSERT_EQ(call(vm, 1, sdei::kEventRegister, 0, kEp, 0, 0, 0), 0);
    ASSERT_EQ(call(vm, 1, sdei::kPeUnmask), 0);
    psci::FirmwareCall c{};
    c.x[0] = 0x84000002;  // PSCI CPU_OFF
    EXPECT_EQ(vm.fw.handle(1, c), psci::FirmwareExit::vcpu_off);
    EXPECT_EQ(call(vm, 1, sdei::kEventStatus, 0), 0);  // unregistered
    EXPECT_TRUE(vm.sdei->vcpu_state(1).masked);
    ASSERT_EQ(call(vm, 1, sdei::kEventRegister, 0, kEp, 0, 0, 0), 0);
    c = {};
    c.x[0] = 0xC4000003;  // CPU_ON (SMC64) of vCPU 1
    c.x[1] = 1;
    c.x[2] = kRam0;
    EXPECT_EQ(vm.fw.handle(0, c), psci::FirmwareExit::resume);
    EXPECT_EQ(static_cast<i64>(c.x[0]), 0);
    EXPECT_EQ(call(vm, 1, sdei::kEventStatus, 0), 0);  // reset again as the PE came out of reset
}

TEST(SdeiVm, SnapshotInsideABoundSharedHandlerResumesIntoIt) {
    VmModel a(3);
    run_shared_handler(a, 2);
    const auto image = a.save();
    VmModel b(3);
    ASSERT_EQ(b.restore(image), Status::ok) << hvtest::captured_log();
    EXPECT_TRUE(b.vgic->is_bound(kSpi, 0));  // the binding reaches the vGIC again
    EXPECT_EQ(b.sdei->shared_event(0).running_on, 2u);
    EXPECT_EQ(b.ctx[2].core.pc, kEp);
    EXPECT_EQ(call(b, 2, sdei::kEventContext, 9), 0x9999);
    call(b, 2, sdei::kEventComplete, 0);
    EXPECT_EQ(b.ctx[2].core.pc, kRam0 + 0x888);  // the interrupted context
    EXPECT_EQ(b.ctx[2].core.x[9], 0x9999u);
    // The restored binding still diverts: a new edge is the event again, on vCPU 2.
    set_pending(b, kSpi);
    EXPECT_TRUE(b.sdei->deliver(2, b.ctx[2]));
}

TEST(SdeiVm, NewerLayoutVersionIsRefused) {
    hvtest::install_log_capture();
    VmModel a(2);
    run_shared_handler(a, 1);
    std::vector<u8> image = a.save();
    // Find the LAYOUT_VERSION record (ID then value, both 8 bytes) and raise the version.
    const u64 id = sdei::kSdeiLayoutVersionId | kScopeVm;
    usize at = 0;
    for (usize i = 0; i + 16 <= image.size(); i += 8) {
        u64 x = 0;
        std::memcpy(&x, &image[i], 8);
        if (x == id) at = i + 8;
    }
    ASSERT_NE(at, 0u);
    u64 v = 0;
    std::memcpy(&v, &image[at], 8);
    EXPECT_EQ(v, sdei::kLayoutVersion);
    const u64 older = 1, newer = sdei::kLayoutVersion + 1;
    std::memcpy(&image[at], &older, 8);
    VmModel ok(2);
    EXPECT_EQ(ok.restore(image), Status::ok);  // an older layout is accepted
    std::memcpy(&image[at], &newer, 8);
    VmModel b(2);
    hvtest::captured_log().clear();
    EXPECT_EQ(b.restore(image), Status::invalid_argument);
    EXPECT_NE(hvtest::captured_log().find("newer hypervisor"), std::string::npos) << hvtest::captured_log();
    EXPECT_FALSE(b.sdei->vcpu_state(1).handler.active);  // no SDEI state was written
}

// The SDEI commit (VALIDATE, restore stage 4) checks the whole restored model; it used to run only while applying,
// after RAM and every other record were written. The dry run replays the SDEI records on a scratch model first: a
// handler context naming an event that is not running on its vCPU is refused before anything changes.
TEST(SdeiVm, InconsistentHandlerStateIsRefusedBeforeAnythingChanges) {
    hvtest::install_log_capture();
    VmModel a(3);
    run_shared_handler(a, 2);
    a.ram0[0x40] = 0x77;
    std::vector<u8> image = a.save();
    // vCPU 2's "event the handler runs" record (0x1002, or 0x1102 for a critical handler: the SPI's GIC priority
    // 0 made the bound event critical): the bound shared event -> event 0 (not running there).
    usize at = 0;
    u64 ev = 0;
    for (u64 id : {sdei::sdei_reg_id(sdei::reg::kVcpuEvent),
                   sdei::sdei_reg_id(sdei::reg::kVcpuEvent + sdei::reg::kCriticalOffset)}) {
        for (usize i = 0; i + 16 <= image.size(); i += 8) {
            u64 x = 0;
            std::memcpy(&x, &image[i], 8);
            if (x == id) at = i + 8;  // the last one: vCPU 2's section
        }
        ASSERT_NE(at, 0u);
        std::memcpy(&ev, &image[at], 8);
        if (ev != 0) break;
    }
    ASSERT_EQ(ev, static_cast<u64>(sdei::kSharedBoundBase));
    const u64 zero = 0;
    std::memcpy(&image[at], &zero, 8);

    VmModel b(3);
    b.ram0[0x40] = 0x11;
    const std::vector<u8> before = b.save();
    SnapshotInfo info;
    SnapshotRefusal why;
    EXPECT_EQ(snapshot_restore(b.cat, Span<const u8>(image.data(), image.size()), info, &b.mem, &why), Status::corrupt);
    EXPECT_FALSE(why.applying);
    EXPECT_EQ(why.id, sdei::sdei_reg_id(sdei::reg::kValidate) | kScopeVm);
    EXPECT_STREQ(why.why.reg, "SDEI VALIDATE");
    EXPECT_EQ(b.ram0[0x40], 0x11);
    EXPECT_TRUE(b.save() == before);
    EXPECT_FALSE(b.sdei->vcpu_state(2).handler.active);
    // The unpatched image still restores (the check is not over-eager).
    std::memcpy(&image[at], &ev, 8);
    VmModel c(3);
    ASSERT_EQ(c.restore(image), Status::ok) << hvtest::captured_log();
    EXPECT_EQ(c.sdei->shared_event(0).running_on, 2u);
}
