// Walks every (state, action) pair of the SDEI transition table (sdei/state_table.hpp) and checks it against the
// rules of DEN0054 6.1 written out independently here, and drives the model through every pair.
#include "sdei/state_table.hpp"

#include <gtest/gtest.h>

using namespace hv;
using namespace hv::sdei;

namespace {

// The expected outcome of each pair, spelled out from the spec's prose rather than from the table.
Transition expected(EventState s, EventAction a) {
    const bool reg = s != EventState::unregistered;
    const bool run =
        s == EventState::disabled_running || s == EventState::enabled_running || s == EventState::unregister_pending;
    const bool enabled = s == EventState::registered_enabled || s == EventState::enabled_running;
    auto ok = [](EventState n) { return Transition{true, n, kSuccess}; };
    auto denied = [&] { return Transition{false, s, kDenied}; };
    switch (a) {
        case EventAction::do_register:  // 5.1.2: only an unregistered event can be registered
            return reg ? denied() : ok(EventState::registered_disabled);
        case EventAction::enable:
        case EventAction::disable: {
            if (!reg || s == EventState::unregister_pending) return denied();
            const bool en = a == EventAction::enable;
            if (run) return ok(en ? EventState::enabled_running : EventState::disabled_running);
            return ok(en ? EventState::registered_enabled : EventState::registered_disabled);
        }
        case EventAction::unregister:  // 5.1.8: PENDING while the handler runs
            if (!reg) return denied();
            if (run) return Transition{true, EventState::unregister_pending, kPending};
            return ok(EventState::unregistered);
        case EventAction::routing_set:  // 5.1.11: registered and disabled, not running
            return s == EventState::registered_disabled ? ok(s) : denied();
        case EventAction::dispatch:  // only a registered, enabled, idle event is dispatched
            return enabled && !run ? ok(EventState::enabled_running) : denied();
        case EventAction::complete:
            if (!run) return denied();
            if (s == EventState::unregister_pending) return ok(EventState::unregistered);
            return ok(enabled ? EventState::registered_enabled : EventState::registered_disabled);
        case EventAction::reset:  // PRIVATE_RESET / SHARED_RESET behave like unregister on every event
            if (run) return Transition{true, EventState::unregister_pending, kPending};
            return ok(EventState::unregistered);
        case EventAction::count:
            break;
    }
    return denied();
}

}  // namespace

TEST(SdeiStateTable, EveryPairMatchesTheSpec) {
    unsigned pairs = 0;
    for (usize s = 0; s < kEventStateCount; ++s) {
        for (usize a = 0; a < kEventActionCount; ++a) {
            const auto st = static_cast<EventState>(s);
            const auto ac = static_cast<EventAction>(a);
            const Transition got = transition(st, ac), want = expected(st, ac);
            EXPECT_EQ(got.allowed, want.allowed) << state_name(st) << " action " << a;
            EXPECT_EQ(got.next, want.next) << state_name(st) << " action " << a;
            EXPECT_EQ(got.result, want.result) << state_name(st) << " action " << a;
            ++pairs;
        }
    }
    EXPECT_EQ(pairs, kEventStateCount * kEventActionCount);
}

TEST(SdeiStateTable, EveryStateIsReachableFromUnregistered) {
    bool seen[kEventStateCount] = {};
    EventState queue[kEventStateCount];
    usize head = 0, tail = 0;
    queue[tail++] = EventState::unregistered;
    seen[0] = true;
    while (head < tail) {
        const EventState s = queue[head++];
        for (usize a = 0; a < kEventActionCount; ++a) {
            const Transition t = transition(s, static_cast<EventAction>(a));
            if (t.allowed && !seen[static_cast<usize>(t.next)]) {
                seen[static_cast<usize>(t.next)] = true;
                queue[tail++] = t.next;
            }
        }
    }
    for (usize s = 0; s < kEventStateCount; ++s) EXPECT_TRUE(seen[s]) << state_name(static_cast<EventState>(s));
}

TEST(SdeiStateTable, OutOfRangeIsDenied) {
    const Transition t = transition(EventState::count, EventAction::enable);
    EXPECT_FALSE(t.allowed);
    EXPECT_EQ(t.result, kDenied);
    EXPECT_FALSE(transition(EventState::registered_enabled, EventAction::count).allowed);
}
