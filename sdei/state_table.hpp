// The SDEI event state machine (DEN0054 6.1, "Event states") as a constexpr transition table: {state, action} ->
// {allowed, next state, result}. The model never changes an event's state except through transition(); a unit test
// (tests/unit/sdei/state_table_test.cpp) walks every pair.
#pragma once

#include "sdei/ids.hpp"

namespace hv::sdei {

// Registered/enabled/running as DEN0054 names the states; "unregister pending" is the state of an event unregistered
// (or reset) while its handler runs: it stays registered until the handler completes (DEN0054 5.1.8: PENDING).
enum class EventState : u8 {
    unregistered,
    registered_disabled,
    registered_enabled,
    disabled_running,    // registered, disabled, handler running
    enabled_running,     // registered, enabled, handler running
    unregister_pending,  // handler running, unregistered at its completion
    count
};
constexpr usize kEventStateCount = static_cast<usize>(EventState::count);

// What can happen to an event: the guest's calls that act on one event, plus the dispatcher's own actions.
enum class EventAction : u8 {
    do_register,  // EVENT_REGISTER
    enable,       // EVENT_ENABLE
    disable,      // EVENT_DISABLE
    unregister,   // EVENT_UNREGISTER
    routing_set,  // EVENT_ROUTING_SET (shared events)
    dispatch,     // the dispatcher enters the handler
    complete,     // EVENT_COMPLETE / EVENT_COMPLETE_AND_RESUME of this event's handler
    reset,        // PRIVATE_RESET / SHARED_RESET
    count
};
constexpr usize kEventActionCount = static_cast<usize>(EventAction::count);

struct Transition {
    bool allowed;
    EventState next;  // == the current state when !allowed
    i64 result;       // SDEI return code of the call (kSuccess / kPending when allowed, kDenied otherwise)
};

namespace detail {
using S = EventState;
constexpr Transition ok(S next) { return {true, next, kSuccess}; }
constexpr Transition pending(S next) { return {true, next, kPending}; }
constexpr Transition denied(S stay) { return {false, stay, kDenied}; }
}  // namespace detail

// Rows: states in EventState order; columns: actions in EventAction order.
// clang-format off
constexpr Transition kTransitions[kEventStateCount][kEventActionCount] = {
    // register                              enable                           disable                              unregister                              routing_set                          dispatch                              complete                                  reset
    /* unregistered */
    {detail::ok(EventState::registered_disabled), detail::denied(EventState::unregistered), detail::denied(EventState::unregistered), detail::denied(EventState::unregistered), detail::denied(EventState::unregistered), detail::denied(EventState::unregistered), detail::denied(EventState::unregistered), detail::ok(EventState::unregistered)},
    /* registered_disabled */
    {detail::denied(EventState::registered_disabled), detail::ok(EventState::registered_enabled), detail::ok(EventState::registered_disabled), detail::ok(EventState::unregistered), detail::ok(EventState::registered_disabled), detail::denied(EventState::registered_disabled), detail::denied(EventState::registered_disabled), detail::ok(EventState::unregistered)},
    /* registered_enabled: routing may only change while disabled (DEN0054 5.1.11) */
    {detail::denied(EventState::registered_enabled), detail::ok(EventState::registered_enabled), detail::ok(EventState::registered_disabled), detail::ok(EventState::unregistered), detail::denied(EventState::registered_enabled), detail::ok(EventState::enabled_running), detail::denied(EventState::registered_enabled), detail::ok(EventState::unregistered)},
    /* disabled_running */
    {detail::denied(EventState::disabled_running), detail::ok(EventState::enabled_running), detail::ok(EventState::disabled_running), detail::pending(EventState::unregister_pending), detail::denied(EventState::disabled_running), detail::denied(EventState::disabled_running), detail::ok(EventState::registered_disabled), detail::pending(EventState::unregister_pending)},
    /* enabled_running */
    {detail::denied(EventState::enabled_running), detail::ok(EventState::enabled_running), detail::ok(EventState::disabled_running), detail::pending(EventState::unregister_pending), detail::denied(EventState::enabled_running), detail::denied(EventState::enabled_running), detail::ok(EventState::registered_enabled), detail::pending(EventState::unregister_pending)},
    /* unregister_pending: only completion (and repeated unregister/reset) make sense */
    {detail::denied(EventState::unregister_pending), detail::denied(EventState::unregister_pending), detail::denied(EventState::unregister_pending), detail::pending(EventState::unregister_pending), detail::denied(EventState::unregister_pending), detail::denied(EventState::unregister_pending), detail::ok(EventState::unregistered), detail::pending(EventState::unregister_pending)},
};
// clang-format on

constexpr Transition transition(EventState s, EventAction a) {
    const auto si = static_cast<usize>(s), ai = static_cast<usize>(a);
    if (si >= kEventStateCount || ai >= kEventActionCount) return {false, s, kDenied};
    return kTransitions[si][ai];
}

constexpr bool is_registered(EventState s) { return s != EventState::unregistered; }
constexpr bool is_enabled(EventState s) {
    return s == EventState::registered_enabled || s == EventState::enabled_running;
}
constexpr bool is_running(EventState s) {
    return s == EventState::disabled_running || s == EventState::enabled_running || s == EventState::unregister_pending;
}

// Structural properties the table must have (checked at compile time; the unit test checks behaviour pair by pair).
constexpr bool table_consistent() {
    for (usize s = 0; s < kEventStateCount; ++s)
        for (usize a = 0; a < kEventActionCount; ++a) {
            const Transition t = kTransitions[s][a];
            if (!t.allowed && (t.next != static_cast<EventState>(s) || t.result != kDenied)) return false;
            if (t.allowed && t.result != kSuccess && t.result != kPending) return false;
            // Only dispatch starts a handler; only complete / reset / unregister end or mark one.
            const bool was = is_running(static_cast<EventState>(s)), now = is_running(t.next);
            if (!was && now && static_cast<EventAction>(a) != EventAction::dispatch) return false;
            if (was && !now && static_cast<EventAction>(a) != EventAction::complete) return false;
        }
    return true;
}
static_assert(table_consistent());
static_assert(transition(EventState::registered_enabled, EventAction::dispatch).next == EventState::enabled_running);

constexpr const char* state_name(EventState s) {
    switch (s) {
        case EventState::unregistered:
            return "unregistered";
        case EventState::registered_disabled:
            return "registered_disabled";
        case EventState::registered_enabled:
            return "registered_enabled";
        case EventState::disabled_running:
            return "disabled_running";
        case EventState::enabled_running:
            return "enabled_running";
        case EventState::unregister_pending:
            return "unregister_pending";
        case EventState::count:
            break;
    }
    return "?";
}

}  // namespace hv::sdei
