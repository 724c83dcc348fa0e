#include <gtest/gtest.h>

#include <vector>

#include "tests/unit/sdei/fake.hpp"

using namespace hv;
using namespace hv::sdei;
using namespace sdeitest;

namespace {

constexpr u64 kEp = kRamBase + 0x1000;
constexpr u64 kEp2 = kRamBase + 0x2000;
constexpr u64 kArg = 0xa5a5'0000'1234ull;
constexpr u64 kSpi = 40;

struct Harness {
    explicit Harness(u32 n = 2, SdeiConfig cfg = {}) : platform(n), ctx(n) {
        EXPECT_EQ(mem.add_region(kRamBase, kRamSize, ram.data()), Status::ok);
        EXPECT_EQ(sdei.init(platform, mem, cfg), Status::ok);
        for (u32 i = 0; i < n; ++i) {
            for (u32 r = 0; r < 31; ++r) ctx[i].core.x[r] = 0x1000 * (i + 1) + r;
            ctx[i].core.pc = kRamBase + 0x100 + i * 8;
            ctx[i].core.pstate = 0x3c5 & ~0x3c0ull;  // EL1h, unmasked
        }
    }
    // One call from vCPU v: x0..x5 as given; returns x0.
    i64 call(u32 v, u32 fid, u64 a1 = 0, u64 a2 = 0, u64 a3 = 0, u64 a4 = 0, u64 a5 = 0) {
        return sdeitest::sdei_call(sdei, ctx[v], v, fid, a1, a2, a3, a4, a5);
    }
    bool deliver(u32 v) { return sdei.deliver(v, ctx[v]); }

    std::vector<u8> ram = std::vector<u8>(kRamSize);
    RegionGuestMemory mem;
    FakePlatform platform;
    std::vector<VcpuContext> ctx;
    Sdei sdei;
};

SdeiConfig with_slots() {
    SdeiConfig c;
    c.private_bind_slots = 2;
    c.shared_bind_slots = 2;
    return c;
}

}  // namespace

TEST(Sdei, VersionAndFeatures) {
    Harness h;
    EXPECT_EQ(static_cast<u64>(h.call(0, kVersion)), 0x0001'0001'0000'0000ull);
    EXPECT_EQ(h.call(0, kFeatures, kFeatureBindSlots), 0);
    EXPECT_EQ(h.call(0, kFeatures, kFeatureRelativeMode), 0);
    EXPECT_EQ(h.call(0, kFeatures, 2), kInvalidParameters);
    Harness s(2, with_slots());
    EXPECT_EQ(s.call(0, kFeatures, kFeatureBindSlots), 2 | (2 << 16));
    EXPECT_EQ(h.call(0, kFnBase + 0x1f), kNotSupported);
}

TEST(Sdei, SignalDeliversWithSpecEntryState) {
    Harness h;
    ASSERT_EQ(h.call(0, kEventRegister, 0, kEp, kArg, 0, 0), kSuccess);
    ASSERT_EQ(h.call(0, kEventEnable, 0), kSuccess);
    EXPECT_FALSE(h.deliver(0));  // masked at reset
    ASSERT_EQ(h.call(0, kPeUnmask), kSuccess);
    ASSERT_EQ(h.call(0, kEventSignal, 0, 0 /* own MPIDR */), kSuccess);
    // The interrupted context as it is at entry.
    VcpuContext before = h.ctx[0];
    for (u32 r = 4; r < 18; ++r) before.core.x[r] = h.ctx[0].core.x[r];
    before.core.pstate = 0x5;  // EL1h, DAIF clear
    h.ctx[0].core.pstate = before.core.pstate;
    EXPECT_TRUE(h.sdei.has_deliverable(0));
    ASSERT_TRUE(h.deliver(0));
    const CoreRegs& c = h.ctx[0].core;
    EXPECT_EQ(c.x[0], 0u);
    EXPECT_EQ(c.x[1], kArg);
    EXPECT_EQ(c.x[2], before.core.pc);
    EXPECT_EQ(c.x[3], before.core.pstate);
    EXPECT_EQ(c.pc, kEp);
    EXPECT_EQ(PstateMode::get(c.pstate), kModeEl1h);
    EXPECT_EQ(PstateDaif::get(c.pstate), 0xfu);
    EXPECT_EQ(PstatePan::get(c.pstate), 1u);  // SCTLR_EL1.SPAN == 0
    EXPECT_FALSE(h.deliver(0));               // one handler at a time
    EXPECT_EQ(h.call(0, kEventStatus, 0), static_cast<i64>(kStatusRegistered | kStatusEnabled | kStatusRunning));
    // EVENT_CONTEXT reads the interrupted x0..x17 (x0 = SIGNAL's SUCCESS, x1..x3 zeroed by the call).
    EXPECT_EQ(h.call(0, kEventContext, 0), 0);
    for (u64 r = 6; r < 18; ++r) EXPECT_EQ(static_cast<u64>(h.call(0, kEventContext, r)), before.core.x[r]) << r;
    EXPECT_EQ(h.call(0, kEventContext, 18), kInvalidParameters);
    // COMPLETE restores the interrupted registers, PC and PSTATE.
    h.ctx[0].core.x[17] = 0xdead;
    h.call(0, kEventComplete, kEvHandled);
    EXPECT_EQ(h.ctx[0].core.pc, before.core.pc);
    EXPECT_EQ(h.ctx[0].core.pstate, before.core.pstate);
    for (u32 r = 6; r < 18; ++r) EXPECT_EQ(h.ctx[0].core.x[r], before.core.x[r]) << r;
    EXPECT_EQ(h.call(0, kEventStatus, 0), static_cast<i64>(kStatusRegistered | kStatusEnabled));
    EXPECT_EQ(h.call(0, kEventContext, 0), kDenied);
    EXPECT_EQ(h.call(0, kEventComplete, 0), kDenied);
}

TEST(Sdei, CompleteAndResumeEmulatesAnIrq) {
    Harness h;
    h.call(0, kEventRegister, 0, kEp, kArg, 0, 0);
    h.call(0, kEventEnable, 0);
    h.call(0, kPeUnmask);
    h.call(0, kEventSignal, 0, 0);
    h.ctx[0].core.pstate = 0x5;
    const u64 pc = h.ctx[0].core.pc;
    ASSERT_TRUE(h.deliver(0));
    EXPECT_EQ(h.call(0, kEventCompleteAndResume, kRamBase + 0x4000 + 2), kInvalidParameters);  // unaligned
    EXPECT_EQ(h.call(0, kEventCompleteAndResume, 0x1000), kInvalidParameters);                 // outside RAM
    h.ctx[0].sysreg(SysReg::SCTLR_EL1) = kSctlrSpan;
    h.call(0, kEventCompleteAndResume, kRamBase + 0x4000);
    EXPECT_EQ(h.ctx[0].core.pc, kRamBase + 0x4000);
    EXPECT_EQ(h.ctx[0].core.elr_el1, pc);
    EXPECT_EQ(h.ctx[0].core.spsr[0], 0x5u);
    EXPECT_EQ(PstateDaif::get(h.ctx[0].core.pstate), 0xfu);
    EXPECT_EQ(PstateMode::get(h.ctx[0].core.pstate), kModeEl1h);
    EXPECT_EQ(PstatePan::get(h.ctx[0].core.pstate), 0u);  // SPAN = 1 and the interrupted PAN was 0
}

TEST(Sdei, MaskBlocksUntilUnmask) {
    Harness h;
    h.call(0, kEventRegister, 0, kEp, kArg, 0, 0);
    h.call(0, kEventEnable, 0);
    EXPECT_EQ(h.call(0, kPeUnmask), kSuccess);
    EXPECT_EQ(h.call(0, kPeMask), 1);  // changed the state
    EXPECT_EQ(h.call(0, kPeMask), 0);  // already masked
    h.call(0, kEventSignal, 0, 0);
    EXPECT_FALSE(h.sdei.has_deliverable(0));
    EXPECT_FALSE(h.deliver(0));
    h.call(0, kPeUnmask);
    EXPECT_TRUE(h.deliver(0));
}

TEST(Sdei, SignalOtherVcpuKicksIt) {
    Harness h(2);
    h.call(1, kEventRegister, 0, kEp, 7, 0, 0);
    h.call(1, kEventEnable, 0);
    h.call(1, kPeUnmask);
    EXPECT_EQ(h.call(0, kEventSignal, 0, 1), kSuccess);
    ASSERT_EQ(h.platform.kicks.size(), 1u);
    EXPECT_EQ(h.platform.kicks[0], 1u);
    EXPECT_FALSE(h.deliver(0));
    EXPECT_TRUE(h.deliver(1));
    EXPECT_EQ(h.ctx[1].core.x[1], 7u);
    EXPECT_EQ(h.call(0, kEventSignal, 1, 1), kInvalidParameters);           // only event 0
    EXPECT_EQ(h.call(0, kEventSignal, 0, 5), kInvalidParameters);           // no such PE
    EXPECT_EQ(h.call(0, kEventSignal, 0, 1ull << 31), kInvalidParameters);  // non-affinity bits
}

TEST(Sdei, ArgumentValidation) {
    Harness h;
    EXPECT_EQ(h.call(0, kEventRegister, 1, kEp, 0, 0, 0), kInvalidParameters);           // unknown event
    EXPECT_EQ(h.call(0, kEventRegister, 1ull << 32, kEp, 0, 0, 0), kInvalidParameters);  // not a 32-bit number
    EXPECT_EQ(h.call(0, kEventRegister, 0, 0x1000, 0, 0, 0), kInvalidParameters);        // entry outside RAM
    EXPECT_EQ(h.call(0, kEventRegister, 0, kEp + 1, 0, 0, 0), kInvalidParameters);       // unaligned entry
    EXPECT_EQ(h.call(0, kEventRegister, 0, kRamBase + kRamSize - 2, 0, 0, 0), kInvalidParameters);
    EXPECT_EQ(h.call(0, kEventRegister, 0, kEp, 0, 2, 0), kInvalidParameters);  // relative mode not offered
    EXPECT_EQ(h.call(0, kEventRegister, 0, kEp, 0, 4, 0), kInvalidParameters);  // reserved flag
    EXPECT_EQ(h.call(0, kEventEnable, 0), kDenied);                             // not registered
    EXPECT_EQ(h.call(0, kEventUnregister, 0), kDenied);
    EXPECT_EQ(h.call(0, kEventRegister, 0, kEp, 0, 1, 0xffff), kSuccess);  // routing ignored for private events
    EXPECT_EQ(h.call(0, kEventRegister, 0, kEp, 0, 0, 0), kDenied);        // double register
    EXPECT_EQ(h.call(0, kEventRoutingSet, 0, 0, 0), kInvalidParameters);   // private event
    EXPECT_EQ(h.call(0, kEventGetInfo, 0, kInfoType), 0);
    EXPECT_EQ(h.call(0, kEventGetInfo, 0, kInfoSignaled), 1);
    EXPECT_EQ(h.call(0, kEventGetInfo, 0, kInfoPriority), 0);
    EXPECT_EQ(h.call(0, kEventGetInfo, 0, kInfoRoutingMode), kInvalidParameters);
    EXPECT_EQ(h.call(0, kEventGetInfo, 0, 5), kInvalidParameters);
    EXPECT_EQ(h.call(0, kEventStatus, 3), kInvalidParameters);
    EXPECT_EQ(h.call(0, kInterruptBind, 40), kOutOfResource);  // no slots configured
    EXPECT_EQ(h.call(0, kInterruptRelease, 0), kInvalidParameters);
    VcpuContext spare{};
    spare.core.x[0] = kVersion;
    h.sdei.handle(5, spare);  // unknown vCPU
    EXPECT_EQ(static_cast<i64>(spare.core.x[0]), kNotSupported);
}

TEST(Sdei, UnregisterWhileRunningIsPending) {
    Harness h;
    h.call(0, kEventRegister, 0, kEp, 0, 0, 0);
    h.call(0, kEventEnable, 0);
    h.call(0, kPeUnmask);
    h.call(0, kEventSignal, 0, 0);
    ASSERT_TRUE(h.deliver(0));
    EXPECT_EQ(h.call(0, kEventUnregister, 0), kPending);
    EXPECT_EQ(h.call(0, kEventEnable, 0), kDenied);
    EXPECT_EQ(h.call(0, kEventStatus, 0), static_cast<i64>(kStatusRegistered | kStatusRunning));
    h.call(0, kEventComplete, 0);
    EXPECT_EQ(h.call(0, kEventStatus, 0), 0);
    EXPECT_EQ(h.call(0, kEventRegister, 0, kEp2, 0, 0, 0), kSuccess);  // can register again
}

TEST(Sdei, SignalWhileDisabledStaysPendingUntilEnable) {
    Harness h;
    h.call(0, kEventRegister, 0, kEp, 0, 0, 0);
    h.call(0, kPeUnmask);
    h.call(0, kEventSignal, 0, 0);
    EXPECT_FALSE(h.deliver(0));
    h.call(0, kEventEnable, 0);
    EXPECT_TRUE(h.deliver(0));
}

TEST(Sdei, PrivateResetAndSharedReset) {
    Harness h(2, with_slots());
    h.call(0, kEventRegister, 0, kEp, 0, 0, 0);
    const i64 ev = h.call(0, kInterruptBind, kSpi);
    ASSERT_EQ(ev, static_cast<i64>(kSharedBoundBase));
    EXPECT_EQ(h.call(0, kEventRegister, ev, kEp, 0, 0, 0), kSuccess);
    EXPECT_EQ(h.call(0, kPrivateReset), kSuccess);
    EXPECT_EQ(h.call(0, kEventStatus, 0), 0);
    EXPECT_EQ(h.call(0, kEventStatus, ev), static_cast<i64>(kStatusRegistered));
    EXPECT_EQ(h.call(1, kSharedReset), kSuccess);
    EXPECT_EQ(h.call(0, kEventStatus, ev), 0);
}

TEST(Sdei, BoundSharedInterruptRouting) {
    Harness h(2, with_slots());
    const i64 ev = h.call(0, kInterruptBind, kSpi);
    EXPECT_EQ(h.call(1, kInterruptBind, kSpi), ev);  // same interrupt, same event
    EXPECT_EQ(h.call(0, kInterruptBind, 41), static_cast<i64>(kSharedBoundBase + 1));
    EXPECT_EQ(h.call(0, kInterruptBind, 42), kOutOfResource);
    EXPECT_EQ(h.call(0, kInterruptBind, 5), kInvalidParameters);                 // SGI
    EXPECT_EQ(h.call(0, kInterruptBind, 8192), kInvalidParameters);              // LPI
    EXPECT_EQ(h.call(0, kEventRegister, ev, kEp, 3, 1, 9), kInvalidParameters);  // RM_PE to no PE
    ASSERT_EQ(h.call(0, kEventRegister, ev, kEp, 3, 1, 1), kSuccess);            // RM_PE -> vCPU 1
    EXPECT_EQ(h.call(0, kEventGetInfo, ev, kInfoType), 1);
    EXPECT_EQ(h.call(0, kEventGetInfo, ev, kInfoRoutingMode), 1);
    EXPECT_EQ(h.call(0, kEventGetInfo, ev, kInfoRoutingAff), 1);
    EXPECT_EQ(h.call(0, kEventRoutingSet, ev, 0, 0), kSuccess);  // disabled: allowed
    EXPECT_EQ(h.call(0, kEventRoutingSet, ev, 1, 1), kSuccess);
    h.call(0, kEventEnable, ev);
    EXPECT_EQ(h.call(0, kEventRoutingSet, ev, 0, 0), kDenied);  // enabled: denied
    h.call(0, kPeUnmask);
    h.call(1, kPeUnmask);
    EXPECT_TRUE(h.sdei.raise_interrupt(kSpi, 0));
    EXPECT_FALSE(h.sdei.raise_interrupt(45, 0));
    EXPECT_FALSE(h.deliver(0));
    ASSERT_TRUE(h.deliver(1));
    EXPECT_EQ(h.ctx[1].core.x[0], static_cast<u64>(ev));
    EXPECT_EQ(h.ctx[1].core.x[1], 3u);
    EXPECT_EQ(h.call(0, kEventComplete, 0), kDenied);      // vCPU 0 runs no handler
    EXPECT_EQ(h.call(0, kInterruptRelease, ev), kDenied);  // still registered
    h.call(1, kEventComplete, 0);
    EXPECT_EQ(h.call(0, kEventUnregister, ev), kSuccess);
    EXPECT_EQ(h.call(0, kInterruptRelease, ev), kSuccess);
    EXPECT_EQ(h.call(0, kEventStatus, ev), kInvalidParameters);  // gone
    EXPECT_EQ(h.sdei.validate(), Status::ok);
}

TEST(Sdei, BoundPpiIsPrivate) {
    Harness h(2, with_slots());
    const i64 ev = h.call(0, kInterruptBind, 27);
    ASSERT_EQ(ev, static_cast<i64>(kPrivateBoundBase));
    h.call(1, kEventRegister, ev, kEp, 0, 0, 0);
    h.call(1, kEventEnable, ev);
    h.call(1, kPeUnmask);
    EXPECT_TRUE(h.sdei.raise_interrupt(27, 0));  // bound: the edge is the dispatcher's, dropped (unregistered here)
    EXPECT_FALSE(h.sdei.vcpu_state(0).priv[1].pending);
    EXPECT_FALSE(h.sdei.raise_interrupt(28, 1));  // not bound: normal delivery
    EXPECT_TRUE(h.sdei.raise_interrupt(27, 1));
    EXPECT_TRUE(h.deliver(1));
    EXPECT_EQ(h.call(0, kEventGetInfo, ev, kInfoType), 0);
}

// Drive a real event through the model into every state, then apply every action and compare with the table.
namespace {

bool drive(Harness& h, u64 ev, EventState target) {
    auto& rec = h.sdei.shared_event(static_cast<u32>(ev - kSharedBoundBase));
    if (target == EventState::unregistered) return rec.state == target;
    if (h.call(0, kEventRegister, ev, kEp, 0, 1, 0) != kSuccess) return false;
    if (target == EventState::registered_disabled) return rec.state == target;
    h.call(0, kEventEnable, ev);
    if (target == EventState::registered_enabled) return rec.state == target;
    h.sdei.raise_interrupt(kSpi, 0);
    if (!h.deliver(0)) return false;
    if (target == EventState::disabled_running) h.call(0, kEventDisable, ev);
    if (target == EventState::unregister_pending) h.call(0, kEventUnregister, ev);
    return rec.state == target;
}

}  // namespace

TEST(Sdei, ModelFollowsTheTableForEveryPair) {
    for (usize s = 0; s < kEventStateCount; ++s) {
        for (usize a = 0; a < kEventActionCount; ++a) {
            Harness h(2, with_slots());
            h.call(0, kPeUnmask);
            const i64 ev = h.call(0, kInterruptBind, kSpi);
            const auto st = static_cast<EventState>(s);
            const auto ac = static_cast<EventAction>(a);
            ASSERT_TRUE(drive(h, static_cast<u64>(ev), st)) << state_name(st);
            const Transition t = transition(st, ac);
            i64 r = 0;
            switch (ac) {
                case EventAction::do_register:
                    r = h.call(0, kEventRegister, ev, kEp2, 0, 0, 0);
                    break;
                case EventAction::enable:
                    r = h.call(0, kEventEnable, ev);
                    break;
                case EventAction::disable:
                    r = h.call(0, kEventDisable, ev);
                    break;
                case EventAction::unregister:
                    r = h.call(0, kEventUnregister, ev);
                    break;
                case EventAction::routing_set:
                    r = h.call(0, kEventRoutingSet, ev, 0, 0);
                    break;
                case EventAction::dispatch:
                    h.sdei.raise_interrupt(kSpi, 0);
                    r = h.deliver(0) ? kSuccess : kDenied;
                    break;
                case EventAction::complete:
                    h.call(0, kEventComplete, 0);
                    r = is_running(st) ? kSuccess : static_cast<i64>(h.ctx[0].core.x[0]);
                    break;
                case EventAction::reset:
                    EXPECT_EQ(h.call(0, kSharedReset), kSuccess);
                    r = t.result;  // SHARED_RESET itself always succeeds
                    break;
                case EventAction::count:
                    break;
            }
            EXPECT_EQ(r, t.result) << state_name(st) << " action " << a;
            EXPECT_EQ(h.sdei.shared_event(0).state, t.next) << state_name(st) << " action " << a;
            EXPECT_EQ(h.sdei.validate(), Status::ok) << state_name(st) << " action " << a;
        }
    }
}

// The per-entry checks skip the lock while nothing is pending; once everything is drained, a new signal must still
// be seen (the pending hint is set again), round after round, and on both vCPUs.
TEST(Sdei, DeliveryAfterDrainEveryRound) {
    Harness h(2);
    for (u32 v = 0; v < 2; ++v) {
        h.call(v, kEventRegister, 0, kEp, 40 + v, 0, 0);
        h.call(v, kEventEnable, 0);
        h.call(v, kPeUnmask);
    }
    EXPECT_FALSE(h.sdei.has_deliverable(0));
    EXPECT_FALSE(h.deliver(0));
    for (u32 round = 0; round < 3; ++round) {
        const u32 v = round % 2;
        EXPECT_EQ(h.call(0, kEventSignal, 0, v), kSuccess);
        EXPECT_TRUE(h.sdei.has_deliverable(v)) << "round " << round;
        EXPECT_TRUE(h.deliver(v)) << "round " << round;
        EXPECT_EQ(h.ctx[v].core.x[1], 40u + v);
        h.call(v, kEventComplete, 0);
        EXPECT_FALSE(h.deliver(v));  // drained: clears the hint
        EXPECT_FALSE(h.deliver(1 - v));
    }
}

// ---- interrupt binding through the IrqBinder port, priorities, routing, PE reset ----

namespace {
struct BoundHarness : Harness {
    explicit BoundHarness(u32 n = 2) : Harness(n, with_slots()) { sdei.set_binder(&binder); }
    FakeBinder binder;
};
constexpr u64 kEpCrit = kRamBase + 0x3000;
}  // namespace

TEST(SdeiBind, BindAndReleaseReachTheBinder) {
    BoundHarness h;
    const i64 ev = h.call(0, kInterruptBind, kSpi);
    ASSERT_EQ(ev, static_cast<i64>(kSharedBoundBase));
    ASSERT_EQ(h.binder.calls.size(), 1u);
    EXPECT_EQ(h.binder.calls[0].intid, kSpi);
    EXPECT_TRUE(h.binder.calls[0].bound);
    EXPECT_EQ(h.call(0, kInterruptBind, kSpi), ev);  // bound already: same event, no second bind
    EXPECT_EQ(h.binder.calls.size(), 1u);
    EXPECT_EQ(h.call(0, kInterruptRelease, ev), kSuccess);
    ASSERT_EQ(h.binder.calls.size(), 2u);
    EXPECT_FALSE(h.binder.calls[1].bound);
    h.binder.unbindable = 41;
    EXPECT_EQ(h.call(0, kInterruptBind, 41), kInvalidParameters);
    EXPECT_EQ(h.call(0, kInterruptBind, 8192), kInvalidParameters);  // LPI
    EXPECT_EQ(h.call(0, kInterruptBind, u64{1} << 32 | kSpi), kInvalidParameters);
    EXPECT_EQ(h.binder.calls.size(), 2u);
}

TEST(SdeiBind, PriorityFollowsGicPriorityAtBind) {
    BoundHarness h;
    h.binder.critical_intid = 41;
    const i64 normal = h.call(0, kInterruptBind, kSpi);
    const i64 crit = h.call(0, kInterruptBind, 41);
    EXPECT_EQ(h.call(0, kEventGetInfo, normal, kInfoPriority), 0);
    EXPECT_EQ(h.call(0, kEventGetInfo, crit, kInfoPriority), 1);
    EXPECT_EQ(h.call(0, kEventGetInfo, 0, kInfoPriority), 0);
}

TEST(SdeiBind, CriticalPreemptsNormalWhichResumes) {
    BoundHarness h;
    h.binder.critical_intid = 41;
    const i64 crit = h.call(0, kInterruptBind, 41);
    ASSERT_EQ(h.call(0, kEventRegister, crit, kEpCrit, 7, kRoutingPe, 0), kSuccess);
    ASSERT_EQ(h.call(0, kEventEnable, crit), kSuccess);
    ASSERT_EQ(h.call(0, kEventRegister, 0, kEp, 1, 0, 0), kSuccess);
    ASSERT_EQ(h.call(0, kEventEnable, 0), kSuccess);
    ASSERT_EQ(h.call(0, kPeUnmask), kSuccess);
    const u64 orig_pc = h.ctx[0].core.pc;
    h.sdei.signal(0);
    ASSERT_TRUE(h.deliver(0));  // normal handler of event 0
    EXPECT_EQ(h.ctx[0].core.pc, kEp);
    h.ctx[0].core.pc = kEp + 0x40;  // the normal handler runs on
    h.ctx[0].core.x[5] = 0x5555;
    h.sdei.signal(0);
    EXPECT_FALSE(h.deliver(0));  // a normal event never preempts a normal handler
    ASSERT_TRUE(h.sdei.raise_interrupt(41, 1));
    ASSERT_TRUE(h.deliver(0));  // critical preempts
    EXPECT_EQ(h.ctx[0].core.pc, kEpCrit);
    EXPECT_EQ(h.ctx[0].core.x[0], static_cast<u64>(crit));
    EXPECT_EQ(h.ctx[0].core.x[2], kEp + 0x40);  // interrupted = the normal handler
    EXPECT_EQ(h.call(0, kEventContext, 5), 0x5555);
    EXPECT_EQ(h.call(0, kEventStatus, crit), static_cast<i64>(kStatusRegistered | kStatusEnabled | kStatusRunning));
    ASSERT_TRUE(h.sdei.raise_interrupt(41, 1));
    EXPECT_FALSE(h.deliver(0));  // nor a critical one a critical handler
    EXPECT_EQ(h.sdei.validate(), Status::ok);
    h.call(0, kEventComplete, kEvHandled);
    EXPECT_EQ(h.ctx[0].core.pc, kEp + 0x40);  // back in the normal handler
    EXPECT_EQ(h.ctx[0].core.x[5], 0x5555u);
    ASSERT_TRUE(h.deliver(0));  // the second critical edge, as soon as the critical handler completed
    h.call(0, kEventComplete, kEvHandled);
    EXPECT_EQ(h.ctx[0].core.pc, kEp + 0x40);
    h.call(0, kEventComplete, kEvHandled);
    EXPECT_EQ(h.ctx[0].core.pc, orig_pc);  // and the normal one returns to the interrupted context
    ASSERT_TRUE(h.deliver(0));             // the event 0 signalled while the first ran
    h.call(0, kEventComplete, kEvHandled);
    EXPECT_EQ(h.call(0, kEventComplete, kEvHandled), kDenied);
}

TEST(SdeiBind, RmAnyGoesToAPeThatCanTakeIt) {
    BoundHarness h(3);
    const i64 ev = h.call(0, kInterruptBind, kSpi);
    ASSERT_EQ(h.call(0, kEventRegister, ev, kEp, 0, kRoutingAny, 0), kSuccess);
    ASSERT_EQ(h.call(0, kEventEnable, ev), kSuccess);
    h.call(2, kPeUnmask);  // vCPUs 0 and 1 stay masked
    h.platform.kicks.clear();
    ASSERT_TRUE(h.sdei.raise_interrupt(kSpi, 0));
    ASSERT_EQ(h.platform.kicks.size(), 1u);
    EXPECT_EQ(h.platform.kicks[0], 2u);
    EXPECT_FALSE(h.deliver(0));
    EXPECT_TRUE(h.deliver(2));
    EXPECT_EQ(h.sdei.shared_event(0).running_on, 2u);
    // RM_PE to vCPU 1 (masked): stays pending until vCPU 1 unmasks.
    h.call(2, kEventComplete, kEvHandled);
    ASSERT_EQ(h.call(0, kEventDisable, ev), kSuccess);
    ASSERT_EQ(h.call(0, kEventRoutingSet, ev, kRoutingPe, 1), kSuccess);
    ASSERT_EQ(h.call(0, kEventEnable, ev), kSuccess);
    ASSERT_TRUE(h.sdei.raise_interrupt(kSpi, 0));
    EXPECT_FALSE(h.deliver(2));
    EXPECT_FALSE(h.deliver(1));
    h.call(1, kPeUnmask);
    EXPECT_TRUE(h.deliver(1));
    // Routing a private event: INVALID_PARAMETERS.
    EXPECT_EQ(h.call(0, kEventRoutingSet, 0, kRoutingAny, 0), kInvalidParameters);
}

TEST(SdeiBind, ResetVcpuDropsPrivateStateAndAbandonsHandlers) {
    BoundHarness h;
    const i64 ev = h.call(0, kInterruptBind, kSpi);
    ASSERT_EQ(h.call(0, kEventRegister, ev, kEp, 0, kRoutingPe, 1), kSuccess);
    ASSERT_EQ(h.call(0, kEventEnable, ev), kSuccess);
    ASSERT_EQ(h.call(1, kEventRegister, 0, kEp2, 0, 0, 0), kSuccess);
    h.call(1, kPeUnmask);
    ASSERT_TRUE(h.sdei.raise_interrupt(kSpi, 1));
    ASSERT_TRUE(h.deliver(1));
    h.sdei.reset_vcpu(1);  // CPU_OFF / CPU_ON
    EXPECT_EQ(h.sdei.vcpu_state(1).priv[0].state, EventState::unregistered);
    EXPECT_TRUE(h.sdei.vcpu_state(1).masked);
    EXPECT_FALSE(h.sdei.vcpu_state(1).handler.active);
    EXPECT_EQ(h.sdei.shared_event(0).state, EventState::registered_enabled);  // shared: kept, no longer running
    EXPECT_EQ(h.sdei.shared_event(0).running_on, kNoVcpu);
    EXPECT_EQ(h.sdei.validate(), Status::ok);
}
