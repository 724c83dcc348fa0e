// SDEI register class (0x0805): save -> fresh model -> restore round trip, behaviour after restore, refusals.
#include "sdei/reglist_class.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <vector>

#include "core/reglist/catalogue.hpp"
#include "tests/unit/sdei/fake.hpp"

using namespace hv;
using namespace hv::sdei;
using namespace sdeitest;

namespace {

constexpr u64 kEp = kRamBase + 0x1000;
constexpr u64 kEp2 = kRamBase + 0x2000;
constexpr u64 kSpi = 40;
constexpr u64 kPpi = 23;

SdeiConfig slots() {
    SdeiConfig c;
    c.private_bind_slots = 2;
    c.shared_bind_slots = 2;
    return c;
}

struct Rig {
    explicit Rig(u32 n = 2, SdeiConfig cfg = slots()) : platform(n), ctx(n), cat(n) {
        EXPECT_EQ(mem.add_region(kRamBase, kRamSize, ram.data()), Status::ok);
        EXPECT_EQ(sdei.init(platform, mem, cfg), Status::ok);
        classes = std::make_unique<SdeiRegisterClasses>(sdei);
        EXPECT_EQ(classes->add_to(cat), Status::ok);
        for (u32 i = 0; i < n; ++i) {
            for (u32 r = 0; r < 31; ++r) ctx[i].core.x[r] = 0x1000 * (i + 1) + r;
            ctx[i].core.pc = kRamBase + 0x100 + i * 8;
            ctx[i].core.pstate = 0x5;
        }
    }
    i64 call(u32 v, u32 fid, u64 a1 = 0, u64 a2 = 0, u64 a3 = 0, u64 a4 = 0, u64 a5 = 0) {
        return sdeitest::sdei_call(sdei, ctx[v], v, fid, a1, a2, a3, a4, a5);
    }
    // (handle, id, value) of every register, VM list first then each vCPU's (enumeration order).
    struct Rec {
        reglist::Handle h;
        u64 id;
        u64 value;
    };
    std::vector<Rec> save() {
        std::vector<Rec> out;
        auto dump = [&](reglist::Handle h) {
            for (usize i = 0; i < cat.reg_count(h); ++i) {
                u64 id = 0, v = 0;
                EXPECT_EQ(cat.reg_id_at(h, i, id), Status::ok);
                EXPECT_EQ(cat.get_u64(h, id, v), Status::ok);
                out.push_back({h, id, v});
            }
        };
        dump(reglist::Handle::vm());
        for (u32 v = 0; v < cat.vcpu_count(); ++v) dump(reglist::Handle::for_vcpu(v));
        return out;
    }
    // Restore in stage order (as snapshot_restore does): stage 3 VM then vCPUs, then stage 4.
    Status restore(const std::vector<Rec>& recs) {
        for (u8 stage = 0; stage <= cat.max_restore_stage(); ++stage)
            for (const Rec& r : recs)
                if (cat.restore_stage_of(reglist::without_scope(r.id)) == stage)
                    HV_TRY(cat.set_u64(r.h, r.id, r.value));
        return Status::ok;
    }

    std::vector<u8> ram = std::vector<u8>(kRamSize);
    RegionGuestMemory mem;
    FakePlatform platform;
    std::vector<VcpuContext> ctx;
    Sdei sdei;
    reglist::RegisterCatalogue cat;
    std::unique_ptr<SdeiRegisterClasses> classes;
};

// vCPU 0 runs event 0's handler (interrupted context saved), with a shared event pending for it; vCPU 1 runs the
// shared SPI event's handler and has a bound PPI event registered-enabled and pending; masks differ.
void build_rich(Rig& r) {
    ASSERT_EQ(r.call(0, kInterruptBind, kSpi), static_cast<i64>(kSharedBoundBase));
    ASSERT_EQ(r.call(0, kInterruptBind, kSpi + 1), static_cast<i64>(kSharedBoundBase + 1));
    ASSERT_EQ(r.call(0, kInterruptBind, kPpi), static_cast<i64>(kPrivateBoundBase));
    for (u32 v = 0; v < 2; ++v) {
        ASSERT_EQ(r.call(v, kEventRegister, 0, kEp + v * 0x40, 0x1111 * (v + 1), 0, 0), kSuccess);
        ASSERT_EQ(r.call(v, kEventEnable, 0), kSuccess);
        ASSERT_EQ(r.call(v, kPeUnmask), kSuccess);
    }
    // Shared event 0x200: RM_PE to vCPU 1; 0x201: RM_ANY, registered disabled.
    ASSERT_EQ(r.call(0, kEventRegister, kSharedBoundBase, kEp2, 0xaaaa, kRoutingPe, 1), kSuccess);
    ASSERT_EQ(r.call(0, kEventEnable, kSharedBoundBase), kSuccess);
    ASSERT_EQ(r.call(0, kEventRegister, kSharedBoundBase + 1, kEp2 + 0x80, 0xbbbb, 0, 0), kSuccess);
    ASSERT_EQ(r.call(1, kEventRegister, kPrivateBoundBase, kEp + 0x400, 0xcccc, 0, 0), kSuccess);
    ASSERT_EQ(r.call(1, kEventEnable, kPrivateBoundBase), kSuccess);
    // vCPU 1 takes the SPI event; vCPU 0 takes event 0.
    ASSERT_TRUE(r.sdei.raise_interrupt(kSpi, 0));
    r.ctx[1].core.pc = kRamBase + 0x777c;
    ASSERT_TRUE(r.sdei.deliver(1, r.ctx[1]));
    ASSERT_EQ(r.ctx[1].core.x[0], kSharedBoundBase);
    ASSERT_TRUE(r.sdei.raise_interrupt(kPpi, 1));  // pending behind the running handler
    r.sdei.signal(0);
    r.ctx[0].core.pc = kRamBase + 0x555c;
    ASSERT_TRUE(r.sdei.deliver(0, r.ctx[0]));
    ASSERT_EQ(r.ctx[0].core.pc, kEp);
    // Disable event 0 on vCPU 0 while running (disabled_running) and mask vCPU 1.
    ASSERT_EQ(r.call(0, kEventDisable, 0), kSuccess);
    ASSERT_EQ(r.call(1, kPeMask), 1);
}

}  // namespace

TEST(SdeiReglist, EnumerationExact) {
    Rig r(3);
    // state + x0..x17, critical handler (4 + 18), (event 0 + 2 PPI slots) * 4 fields
    const usize per_vcpu = 5 + 18 + 4 + 18 + 3 * 4;
    EXPECT_EQ(r.cat.reg_count(reglist::Handle::for_vcpu(0)), per_vcpu);
    // LAYOUT_VERSION, 4 bind slots * 3 fields, 2 shared events * 7 fields, VALIDATE
    EXPECT_EQ(r.cat.reg_count(reglist::Handle::vm()), usize{1 + (2 + 2) * 3 + 2 * 7 + 1});
    u64 id = 0;
    EXPECT_EQ(r.cat.reg_id_at(reglist::Handle::vm(), 0, id), Status::ok);
    EXPECT_TRUE(reglist::is_vm_scoped_id(id));
    EXPECT_EQ(reglist::reg_class(id), reglist::kClassSdei);
    EXPECT_EQ(r.cat.reg_id_at(reglist::Handle::for_vcpu(2), per_vcpu - 1, id), Status::ok);
    EXPECT_EQ(id, sdei_private_id(2, reg::kFieldArg));
    EXPECT_NE(r.cat.reg_id_at(reglist::Handle::for_vcpu(3), 0, id), Status::ok);  // no vCPU 3
    Rig plain(1, SdeiConfig{});
    EXPECT_EQ(plain.cat.reg_count(reglist::Handle::vm()), usize{2});  // LAYOUT_VERSION and VALIDATE
    EXPECT_EQ(plain.cat.reg_count(reglist::Handle::for_vcpu(0)), usize{5 + 18 + 4 + 18 + 4});
}

TEST(SdeiReglist, RoundTripRichStateAndBehaviour) {
    Rig a;
    build_rich(a);
    const auto saved = a.save();
    Rig b;
    ASSERT_EQ(b.restore(saved), Status::ok);
    const auto again = b.save();
    ASSERT_EQ(saved.size(), again.size());
    for (usize i = 0; i < saved.size(); ++i) {
        EXPECT_EQ(saved[i].id, again[i].id);
        EXPECT_EQ(saved[i].value, again[i].value) << std::hex << saved[i].id;
    }
    EXPECT_EQ(validate_restored(b.sdei), Status::ok);
    // Same behaviour on both: status, context, COMPLETE restores the right interrupted context.
    b.ctx = a.ctx;
    const HandlerContext h0 = a.sdei.vcpu_state(0).handler, h1 = a.sdei.vcpu_state(1).handler;
    ASSERT_TRUE(h0.active && h1.active);
    EXPECT_EQ(h1.pc, kRamBase + 0x777c);
    for (Rig* r : {&a, &b}) {
        EXPECT_EQ(r->call(0, kEventStatus, 0), static_cast<i64>(kStatusRegistered | kStatusRunning));
        EXPECT_EQ(r->call(1, kEventContext, 3), static_cast<i64>(h1.x[3]));  // vCPU 1's interrupted x3
        EXPECT_EQ(r->call(1, kEventComplete), static_cast<i64>(h1.x[0]));
        EXPECT_EQ(r->ctx[1].core.pc, kRamBase + 0x777c);
        EXPECT_FALSE(r->sdei.deliver(1, r->ctx[1]));  // masked: the pending PPI event waits
        EXPECT_EQ(r->call(1, kPeUnmask), kSuccess);
        EXPECT_TRUE(r->sdei.deliver(1, r->ctx[1]));
        EXPECT_EQ(r->ctx[1].core.x[0], kPrivateBoundBase);
        EXPECT_EQ(r->ctx[1].core.x[1], 0xccccu);
        EXPECT_EQ(r->ctx[1].core.pc, kEp + 0x400);
        r->call(0, kEventComplete);
        EXPECT_EQ(r->ctx[0].core.pc, kRamBase + 0x555c);
        EXPECT_EQ(r->ctx[0].core.x[17], h0.x[17]);
        EXPECT_EQ(r->ctx[0].core.x[17], 0x1011u);
    }
    EXPECT_EQ(a.ctx[0].core.pc, b.ctx[0].core.pc);
    EXPECT_EQ(a.ctx[1].core.pc, b.ctx[1].core.pc);
}

TEST(SdeiReglist, RefusalsApplyNothing) {
    Rig r;
    build_rich(r);
    const auto before = r.save();
    const auto vc = reglist::Handle::for_vcpu(0);
    const auto vm = reglist::Handle::vm();
    EXPECT_EQ(r.cat.set_u64(vc, sdei_reg_id(0x1fff), 0), Status::not_found);
    EXPECT_EQ(r.cat.set_u64(vc, sdei_private_id(3, 0), 0), Status::not_found);  // only 2 PPI slots
    EXPECT_EQ(r.cat.set_u64(vm, sdei_shared_id(2, 0) | reglist::kScopeVm, 0), Status::not_found);
    EXPECT_EQ(r.cat.set_u64(vc, sdei_reg_id(0x1000) | reglist::kScopeVm, 0), Status::not_found);
    u32 four = 0;
    const u64 id32 = (sdei_private_id(0, reg::kFieldEp) & ~reglist::kSizeMask) | reglist::kSizeU32;
    EXPECT_NE(r.cat.set_one_reg(vc, id32, Span<const u8>(reinterpret_cast<const u8*>(&four), 4)), Status::ok);
    EXPECT_EQ(r.cat.set_u64(vc, sdei_private_id(0, reg::kFieldState), 6), Status::invalid_argument);
    EXPECT_EQ(r.cat.set_u64(vc, sdei_private_id(0, reg::kFieldPending), 2), Status::invalid_argument);
    EXPECT_EQ(r.cat.set_u64(vc, sdei_private_id(0, reg::kFieldEp), kEp + 2), Status::invalid_argument);
    EXPECT_EQ(r.cat.set_u64(vc, sdei_private_id(0, reg::kFieldEp), kRamBase + kRamSize), Status::invalid_argument);
    EXPECT_EQ(r.cat.set_u64(vc, sdei_reg_id(reg::kVcpuEvent), 0x300), Status::invalid_argument);
    EXPECT_EQ(r.cat.set_u64(vc, sdei_reg_id(reg::kVcpuEvent), kPrivateBoundBase + 2), Status::invalid_argument);
    EXPECT_EQ(r.cat.set_u64(vc, sdei_reg_id(reg::kVcpuPstate), 0x9), Status::invalid_argument);  // EL2h
    EXPECT_EQ(r.cat.set_u64(vc, sdei_reg_id(reg::kVcpuMasked), 3), Status::invalid_argument);
    EXPECT_EQ(r.cat.set_u64(vm, sdei_shared_id(0, reg::kFieldRouting) | reglist::kScopeVm, 2),
              Status::invalid_argument);
    EXPECT_EQ(r.cat.set_u64(vm, sdei_shared_id(0, reg::kFieldAffinity) | reglist::kScopeVm, u64{1} << 60),
              Status::invalid_argument);
    EXPECT_EQ(r.cat.set_u64(vm, sdei_shared_id(0, reg::kFieldRunningOn) | reglist::kScopeVm, 2),
              Status::invalid_argument);
    EXPECT_EQ(r.cat.set_u64(vm, sdei_bind_id(true, 0, reg::kBindIntid) | reglist::kScopeVm, kPpi),
              Status::invalid_argument);
    EXPECT_EQ(r.cat.set_u64(vm, sdei_bind_id(false, 0, reg::kBindIntid) | reglist::kScopeVm, kSpi),
              Status::invalid_argument);
    EXPECT_EQ(r.cat.set_u64(vm, sdei_reg_id(reg::kValidate) | reglist::kScopeVm, 1), Status::invalid_argument);
    const auto after = r.save();
    ASSERT_EQ(before.size(), after.size());
    for (usize i = 0; i < before.size(); ++i) EXPECT_EQ(before[i].value, after[i].value) << std::hex << before[i].id;
    EXPECT_EQ(r.cat.set_u64(vm, sdei_reg_id(reg::kValidate) | reglist::kScopeVm, 0), Status::ok);
}

TEST(SdeiReglist, InconsistentImageRefusedAndReset) {
    Rig a;
    build_rich(a);
    auto saved = a.save();
    // Handler context active on vCPU 0 but event 0 claimed not running: each value alone is fine, the whole is not.
    for (auto& rec : saved)
        if (!rec.h.is_vm() && rec.h.vcpu == 0 && rec.id == sdei_private_id(0, reg::kFieldState))
            rec.value = static_cast<u64>(EventState::registered_enabled);
    Rig b;
    EXPECT_EQ(b.restore(saved), Status::invalid_argument);
    EXPECT_EQ(b.sdei.vcpu_state(0).priv[0].state, EventState::unregistered);  // reset, nothing half-restored
    EXPECT_FALSE(b.sdei.vcpu_state(1).handler.active);
    // Handler event names another event than the one running.
    saved = a.save();
    for (auto& rec : saved)
        if (!rec.h.is_vm() && rec.h.vcpu == 1 && rec.id == sdei_reg_id(reg::kVcpuEvent)) rec.value = 0;
    Rig c;
    EXPECT_EQ(c.restore(saved), Status::invalid_argument);
    // Registered event with entry point 0.
    saved = a.save();
    for (auto& rec : saved)
        if (!rec.h.is_vm() && rec.h.vcpu == 1 && rec.id == sdei_private_id(0, reg::kFieldEp)) rec.value = 0;
    Rig d;
    EXPECT_EQ(d.restore(saved), Status::invalid_argument);
}

TEST(SdeiReglist, LayoutVersionRefusesNewerAcceptsOlder) {
    Rig r;
    u64 id = 0;
    ASSERT_EQ(r.cat.reg_id_at(reglist::Handle::vm(), 0, id), Status::ok);
    EXPECT_EQ(id & ~reglist::kScopeVm, kSdeiLayoutVersionId);  // first in the list
    u64 v = 0;
    ASSERT_EQ(r.cat.get_u64(reglist::Handle::vm(), id, v), Status::ok);
    EXPECT_EQ(v, kLayoutVersion);
    EXPECT_EQ(kLayoutVersion, 2u);
    EXPECT_EQ(r.cat.set_u64(reglist::Handle::vm(), id, kLayoutVersion), Status::ok);
    EXPECT_EQ(r.cat.set_u64(reglist::Handle::vm(), id, 1), Status::ok);  // the first layout: a subset
    EXPECT_EQ(r.cat.set_u64(reglist::Handle::vm(), id, 0), Status::ok);
    EXPECT_EQ(r.cat.set_u64(reglist::Handle::vm(), id, kLayoutVersion + 1), Status::invalid_argument);
    EXPECT_EQ(r.cat.set_u64(reglist::Handle::vm(), id, ~u64{0}), Status::invalid_argument);
    ASSERT_EQ(r.cat.get_u64(reglist::Handle::vm(), id, v), Status::ok);
    EXPECT_EQ(v, kLayoutVersion);  // GET always answers this build's layout
}

TEST(SdeiReglist, CriticalContextAndBindPriorityRoundTrip) {
    Rig a;
    FakeBinder binder;
    binder.critical_intid = kSpi;
    a.sdei.set_binder(&binder);
    const i64 ev = a.call(0, kInterruptBind, kSpi);
    ASSERT_EQ(a.call(0, kEventRegister, ev, kEp2, 3, kRoutingPe, 0), kSuccess);
    ASSERT_EQ(a.call(0, kEventEnable, ev), kSuccess);
    ASSERT_EQ(a.call(0, kEventRegister, 0, kEp, 1, 0, 0), kSuccess);
    ASSERT_EQ(a.call(0, kEventEnable, 0), kSuccess);
    ASSERT_EQ(a.call(0, kPeUnmask), kSuccess);
    a.sdei.signal(0);
    ASSERT_TRUE(a.sdei.deliver(0, a.ctx[0]));
    a.ctx[0].core.pc = kEp + 0x20;
    ASSERT_TRUE(a.sdei.raise_interrupt(kSpi, 0));
    ASSERT_TRUE(a.sdei.deliver(0, a.ctx[0]));  // critical over normal
    const auto saved = a.save();
    Rig b;
    FakeBinder binder_b;
    b.sdei.set_binder(&binder_b);
    ASSERT_EQ(b.restore(saved), Status::ok);
    EXPECT_TRUE(b.sdei.vcpu_state(0).critical.active);
    EXPECT_EQ(b.sdei.vcpu_state(0).critical.pc, kEp + 0x20);
    EXPECT_EQ(b.sdei.shared_binding(0).priority, kPriorityCritical);
    ASSERT_EQ(binder_b.calls.size(), 1u);  // the restored binding reaches the vGIC again
    EXPECT_EQ(binder_b.calls[0].intid, kSpi);
    b.ctx[0] = a.ctx[0];
    b.call(0, kEventComplete, kEvHandled);
    EXPECT_EQ(b.ctx[0].core.pc, kEp + 0x20);  // into the normal handler
}
