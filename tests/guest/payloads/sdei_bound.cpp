// sdei_bound: SDEI 1.1 (Arm DEN0054) bound interrupts and everything around them, through the running hypervisor:
// FEATURES' real bind slots; INTERRUPT_BIND / RELEASE of a PPI (private event) and of SPIs (shared events) made
// pending by the guest itself (GICR_ISPENDR0 / GICD_ISPENDR) -- the interrupt never reaches the IRQ path while
// bound and is an ordinary interrupt again once released; EVENT_GET_INFO (type, priority, routing); ROUTING_SET
// with RM_ANY and RM_PE (delivery to another vCPU that can take the event); a critical event (bound while its GIC
// priority is below 0x80) preempting a running normal handler, which then resumes; EVENT_CONTEXT, COMPLETE,
// COMPLETE_AND_RESUME; UNREGISTER of a running shared event (PENDING); PE_MASK / PE_UNMASK holding a bound event
// back; PRIVATE_RESET / SHARED_RESET; CPU_OFF / CPU_ON resetting a PE's private events; and every error code
// DEN0054 defines (NOT_SUPPORTED, INVALID_PARAMETERS, DENIED, PENDING, OUT_OF_RESOURCE) for bad arguments.
//
// guest-tests: mem=512M expect=pass timeout=60
// guest-tests: variant=smp1 smp=1 hv_append="vcpus=1"
// guest-tests: variant=smp4 smp=4 hv_append="vcpus=4"
#include "sdei/ids.hpp"
#include "tests/guest/runtime/guest.hpp"
#include "tests/guest/runtime/sdei.hpp"

using namespace rt;

namespace sd = hv::sdei;

extern "C" {
// Per-CPU handler bookkeeping, indexed by Aff0.
volatile u64 g_count[kMaxCpus];
volatile u64 g_last_ev[kMaxCpus];
volatile u64 g_last_arg[kMaxCpus];
volatile u64 g_last_pc[kMaxCpus];
// What the handler does, chosen by the event's entry-point argument.
volatile u64 g_action;      // kAct* below
volatile u64 g_nest_intid;  // kActNest: make this INTID pending from inside the handler
volatile u64 g_nest_seen;   // kActNest: the nested handler's count as seen right after the MMIO write
volatile u64 g_order[8];    // enter/exit order of nested handlers
volatile u64 g_order_n;
volatile i64 g_in_handler[4];  // results of calls made inside the handler
volatile u64 g_resume_to;      // non-zero: complete with COMPLETE_AND_RESUME here
volatile u64 g_landed;         // the resume address was reached
void sdei_bound_landing();

u64 sdei_bound_c(u64 ev, u64 arg, u64 pc, u64 pstate);
}

namespace {

constexpr u64 kActNone = 0, kActNest = 1, kActUnregister = 2, kActErrors = 3;
constexpr u32 kSpi = 40, kSpiCrit = 41, kPpi = 21;  // PPI 21: not hardware-linked (23 PMU, 27/30 timers)

i64 call(u32 fid, u64 a1 = 0, u64 a2 = 0, u64 a3 = 0, u64 a4 = 0, u64 a5 = 0) {
    return hvc_call(fid, a1, a2, a3, a4, a5).status();
}
u32 self_index() { return static_cast<u32>(self_mpidr() & 0xff) % kMaxCpus; }
u64 entry() { return rt::sdei::entry_point(&sdei_bound_c); }
void order(u64 v) {
    if (g_order_n < 8) g_order[g_order_n] = v;
    g_order_n = g_order_n + 1;
}
bool wait_count(u32 cpu, u64 want, u64 ms) {
    const u64 deadline = counter() + counter_frequency() / 1000 * ms;
    while (g_count[cpu] < want && counter() < deadline) {
    }
    return g_count[cpu] >= want;
}
// Binds `intid` with GIC priority `prio` (below 0x80: a critical event); returns the event number or the error.
i64 bind(u32 intid, u8 prio = 0xa0) {
    if (!gic::initialised() && !gic::init()) return -100;
    gic::set_priority(intid, prio);
    return call(sd::kInterruptBind, intid);
}
i64 register_on(i64 ev, u64 arg, u64 routing = sd::kRoutingAny, u64 aff = 0) {
    return call(sd::kEventRegister, static_cast<u64>(ev), entry(), arg, routing, aff);
}
// Unregister (if registered) and release an event; SUCCESS expected.
void drop(i64 ev) {
    (void)call(sd::kEventUnregister, static_cast<u64>(ev));
    EXPECT_EQ(call(sd::kInterruptRelease, static_cast<u64>(ev)), sd::kSuccess);
}

}  // namespace

extern "C" u64 sdei_bound_c(u64 ev, u64 arg, u64 pc, u64) {
    const u32 cpu = self_index();
    g_last_ev[cpu] = ev;
    g_last_arg[cpu] = arg;
    g_last_pc[cpu] = pc;
    order(0x100 | ev);
    if (arg == kActNest && g_nest_intid != 0) {
        const u64 before = g_count[cpu];
        const u32 intid = static_cast<u32>(g_nest_intid);
        g_nest_intid = 0;         // once
        gic::set_pending(intid);  // a trapped MMIO write: delivery is checked on return
        g_nest_seen = g_count[cpu] - before;
    } else if (arg == kActUnregister) {
        g_in_handler[0] = call(sd::kEventUnregister, ev);
        g_in_handler[1] = call(sd::kEventStatus, ev);
    } else if (arg == kActErrors) {
        g_in_handler[0] = call(sd::kEventContext, sd::kContextRegs);           // x18 is not saved
        g_in_handler[1] = call(sd::kEventCompleteAndResume, 0x1000);           // not in RAM: handler keeps running
        g_in_handler[2] = call(sd::kEventCompleteAndResume, entry() + 2);      // misaligned
        g_in_handler[3] = call(sd::kEventRoutingSet, ev, sd::kRoutingAny, 0);  // running: DENIED
    }
    order(0x200 | ev);
    g_count[cpu] = g_count[cpu] + 1;
    dsb_sy();
    return g_resume_to;
}

// Where COMPLETE_AND_RESUME lands: note it, return to the interrupted context (ELR_EL1/SPSR_EL1).
asm(R"(
    .text
    .balign 4
    .global sdei_bound_landing
sdei_bound_landing:
    stp x0, x1, [sp, #-16]!
    adrp x0, g_landed
    add x0, x0, :lo12:g_landed
    mov x1, #1
    str x1, [x0]
    ldp x0, x1, [sp], #16
    eret
)");

GUEST_TEST(features_and_bind_errors) {
    REQUIRE_HYPERVISOR();
    EXPECT_EQ(call(sd::kFeatures, sd::kFeatureBindSlots), 4 | 8 << 16);
    EXPECT_EQ(call(sd::kInterruptBind, 5), sd::kInvalidParameters);     // SGI
    EXPECT_EQ(call(sd::kInterruptBind, 27), sd::kInvalidParameters);    // virtual timer: hw-linked
    EXPECT_EQ(call(sd::kInterruptBind, 1020), sd::kInvalidParameters);  // special INTID
    EXPECT_EQ(call(sd::kInterruptBind, 8192), sd::kInvalidParameters);  // LPI
    EXPECT_EQ(call(sd::kInterruptBind, (u64{1} << 32) | kSpi), sd::kInvalidParameters);
    EXPECT_EQ(call(sd::kInterruptRelease, 0), sd::kInvalidParameters);                         // event 0 is not bound
    EXPECT_EQ(call(sd::kInterruptRelease, sd::kSharedBoundBase + 3), sd::kInvalidParameters);  // free slot
    // Eight SPI slots, then OUT_OF_RESOURCE; binding a bound SPI again answers the same event.
    i64 ev[8];
    for (u32 i = 0; i < 8; ++i) {
        ev[i] = bind(kSpi + i);
        EXPECT_EQ(ev[i], static_cast<i64>(sd::kSharedBoundBase + i));
    }
    EXPECT_EQ(bind(kSpi - 1), sd::kOutOfResource);  // (SPIs 48.. are virtio-mmio's, hardware-linked)
    EXPECT_EQ(bind(kSpi + 2), ev[2]);
    ASSERT_EQ(register_on(ev[1], kActNone), sd::kSuccess);
    EXPECT_EQ(call(sd::kInterruptRelease, static_cast<u64>(ev[1])), sd::kDenied);  // registered
    for (u32 i = 0; i < 8; ++i) drop(ev[i]);
    // Four PPI slots.
    i64 pev[4];
    for (u32 i = 0; i < 4; ++i) EXPECT_EQ(pev[i] = bind(16 + i), static_cast<i64>(sd::kPrivateBoundBase + i));
    EXPECT_EQ(bind(20), sd::kOutOfResource);
    for (u32 i = 0; i < 4; ++i) drop(pev[i]);
}

GUEST_TEST(register_and_call_errors) {
    REQUIRE_HYPERVISOR();
    const i64 ev = bind(kSpi);
    ASSERT_EQ(ev, static_cast<i64>(sd::kSharedBoundBase));
    for (u32 fn = sd::kFnLast + 1 - sd::kFnBase; fn < 0x20; ++fn)
        EXPECT_EQ(call(sd::kFnBase + fn), sd::kNotSupported);                              // unknown IDs
    EXPECT_EQ(call(sd::kEventRegister, 0x999, entry(), 0, 0, 0), sd::kInvalidParameters);  // no such event
    EXPECT_EQ(call(sd::kEventRegister, sd::kSharedBoundBase + 5, entry(), 0, 0, 0), sd::kInvalidParameters);
    EXPECT_EQ(call(sd::kEventRegister, ev, 0x1000, 0, 0, 0), sd::kInvalidParameters);                   // not guest RAM
    EXPECT_EQ(call(sd::kEventRegister, ev, entry() + 2, 0, 0, 0), sd::kInvalidParameters);              // misaligned
    EXPECT_EQ(call(sd::kEventRegister, ev, entry(), 0, 2, 0), sd::kInvalidParameters);                  // relative mode
    EXPECT_EQ(call(sd::kEventRegister, ev, entry(), 0, 4, 0), sd::kInvalidParameters);                  // reserved flag
    EXPECT_EQ(call(sd::kEventRegister, ev, entry(), 0, sd::kRoutingPe, 0x77), sd::kInvalidParameters);  // no PE
    EXPECT_EQ(call(sd::kEventGetInfo, ev, sd::kInfoRoutingMode), sd::kDenied);  // not registered
    EXPECT_EQ(call(sd::kEventEnable, ev), sd::kDenied);
    ASSERT_EQ(register_on(ev, kActNone), sd::kSuccess);
    EXPECT_EQ(register_on(ev, kActNone), sd::kDenied);                                     // twice
    EXPECT_EQ(call(sd::kEventGetInfo, ev, 5), sd::kInvalidParameters);                     // no such info
    EXPECT_EQ(call(sd::kEventGetInfo, ev, sd::kInfoRoutingAff), sd::kInvalidParameters);   // RM_ANY: no aff
    EXPECT_EQ(call(sd::kEventRoutingSet, 0, sd::kRoutingAny, 0), sd::kInvalidParameters);  // private event
    EXPECT_EQ(call(sd::kEventRoutingSet, ev, 2, 0), sd::kInvalidParameters);               // bad mode
    EXPECT_EQ(call(sd::kEventRoutingSet, ev, sd::kRoutingPe, 0xff00ffffffull), sd::kInvalidParameters);
    ASSERT_EQ(call(sd::kEventEnable, ev), sd::kSuccess);
    EXPECT_EQ(call(sd::kEventRoutingSet, ev, sd::kRoutingPe, self_mpidr()), sd::kDenied);  // enabled
    EXPECT_EQ(call(sd::kEventSignal, ev, self_mpidr()), sd::kInvalidParameters);           // only event 0
    EXPECT_EQ(call(sd::kEventContext, 0), sd::kDenied);                                    // no handler
    EXPECT_EQ(call(sd::kEventComplete, 0), sd::kDenied);
    EXPECT_EQ(call(sd::kEventCompleteAndResume, entry()), sd::kDenied);
    EXPECT_EQ(call(sd::kFeatures, 7), sd::kInvalidParameters);
    drop(ev);
}

GUEST_TEST(bound_spi_runs_its_shared_event_and_release_restores_the_irq) {
    REQUIRE_HYPERVISOR();
    const u32 me = self_index();
    gic::set_group_enable(1, true);
    gic::enable(kSpi);
    const i64 ev = bind(kSpi);
    ASSERT_EQ(ev, static_cast<i64>(sd::kSharedBoundBase));
    ASSERT_EQ(register_on(ev, kActNone, sd::kRoutingPe, self_mpidr()), sd::kSuccess);
    EXPECT_EQ(call(sd::kEventGetInfo, ev, sd::kInfoType), 1);  // shared
    EXPECT_EQ(call(sd::kEventGetInfo, ev, sd::kInfoPriority), 0);
    EXPECT_EQ(call(sd::kEventGetInfo, ev, sd::kInfoSignaled), 0);
    EXPECT_EQ(call(sd::kEventGetInfo, ev, sd::kInfoRoutingMode), static_cast<i64>(sd::kRoutingPe));
    EXPECT_EQ(call(sd::kEventGetInfo, ev, sd::kInfoRoutingAff), static_cast<i64>(self_mpidr()));
    ASSERT_EQ(call(sd::kEventEnable, ev), sd::kSuccess);
    (void)call(sd::kPeUnmask);
    const u64 before = g_count[me];
    gic::set_pending(kSpi);  // GICD_ISPENDR: the handler runs on the way back from this write
    EXPECT_EQ(g_count[me], before + 1);
    EXPECT_EQ(g_last_ev[me], static_cast<u64>(ev));
    EXPECT_FALSE(gic::is_pending(kSpi));  // the edge went to the event, not to the IRQ path
    EXPECT_EQ(call(sd::kEventStatus, ev), static_cast<i64>(sd::kStatusRegistered | sd::kStatusEnabled));
    // Disabled: the edge is held as the event's pending state, delivered once enabled again.
    ASSERT_EQ(call(sd::kEventDisable, ev), sd::kSuccess);
    gic::set_pending(kSpi);
    EXPECT_EQ(g_count[me], before + 1);
    ASSERT_EQ(call(sd::kEventEnable, ev), sd::kSuccess);
    EXPECT_EQ(g_count[me], before + 2);
    drop(ev);
    gic::set_pending(kSpi);  // released: an ordinary pending SPI again
    EXPECT_TRUE(gic::is_pending(kSpi));
    EXPECT_EQ(g_count[me], before + 2);
    gic::clear_pending(kSpi);
    gic::disable(kSpi);
}

GUEST_TEST(bound_ppi_runs_its_private_event) {
    REQUIRE_HYPERVISOR();
    const u32 me = self_index();
    const i64 ev = bind(kPpi);
    ASSERT_EQ(ev, static_cast<i64>(sd::kPrivateBoundBase));
    ASSERT_EQ(register_on(ev, kActNone), sd::kSuccess);
    EXPECT_EQ(call(sd::kEventGetInfo, ev, sd::kInfoType), 0);  // private
    EXPECT_EQ(call(sd::kEventGetInfo, ev, sd::kInfoRoutingMode), sd::kInvalidParameters);
    EXPECT_EQ(call(sd::kEventRoutingSet, ev, sd::kRoutingAny, 0), sd::kInvalidParameters);  // routing a private one
    ASSERT_EQ(call(sd::kEventEnable, ev), sd::kSuccess);
    (void)call(sd::kPeUnmask);
    const u64 before = g_count[me];
    gic::set_pending(kPpi);  // this CPU's GICR_ISPENDR0
    EXPECT_EQ(g_count[me], before + 1);
    EXPECT_EQ(g_last_ev[me], static_cast<u64>(ev));
    EXPECT_FALSE(gic::is_pending(kPpi));
    // PE_MASK holds it back; PE_UNMASK lets it in.
    EXPECT_EQ(call(sd::kPeMask), 1);
    gic::set_pending(kPpi);
    delay_us(500);
    EXPECT_EQ(g_count[me], before + 1);
    EXPECT_EQ(call(sd::kPeUnmask), sd::kSuccess);
    EXPECT_EQ(g_count[me], before + 2);
    drop(ev);
}

GUEST_TEST(critical_preempts_normal_which_resumes) {
    REQUIRE_HYPERVISOR();
    const u32 me = self_index();
    const i64 crit = bind(kSpiCrit, 0x40);  // urgent GIC priority at bind: critical
    const i64 norm = bind(kSpi, 0xa0);
    ASSERT_GE(crit, 0);
    ASSERT_GE(norm, 0);
    EXPECT_EQ(call(sd::kEventGetInfo, crit, sd::kInfoPriority), 1);
    EXPECT_EQ(call(sd::kEventGetInfo, norm, sd::kInfoPriority), 0);
    ASSERT_EQ(register_on(crit, kActNone, sd::kRoutingPe, self_mpidr()), sd::kSuccess);
    ASSERT_EQ(register_on(norm, kActNest, sd::kRoutingPe, self_mpidr()), sd::kSuccess);
    ASSERT_EQ(call(sd::kEventEnable, crit), sd::kSuccess);
    ASSERT_EQ(call(sd::kEventEnable, norm), sd::kSuccess);
    (void)call(sd::kPeUnmask);
    // The normal handler makes the critical SPI pending: the critical handler runs inside it.
    g_order_n = 0;
    g_nest_intid = kSpiCrit;
    g_nest_seen = 0;
    const u64 before = g_count[me];
    gic::set_pending(kSpi);
    EXPECT_EQ(g_count[me], before + 2);
    EXPECT_EQ(g_nest_seen, 1u);  // the critical one completed before the normal handler went on
    ASSERT_EQ(g_order_n, 4u);
    EXPECT_EQ(g_order[0], 0x100 | static_cast<u64>(norm));
    EXPECT_EQ(g_order[1], 0x100 | static_cast<u64>(crit));
    EXPECT_EQ(g_order[2], 0x200 | static_cast<u64>(crit));
    EXPECT_EQ(g_order[3], 0x200 | static_cast<u64>(norm));
    // A normal event does not preempt a normal handler: event 0 signalled from inside waits for COMPLETE.
    ASSERT_EQ(call(sd::kEventRegister, 0, entry(), kActNone, 0, 0), sd::kSuccess);
    ASSERT_EQ(call(sd::kEventEnable, 0), sd::kSuccess);
    ASSERT_EQ(call(sd::kEventDisable, crit), sd::kSuccess);
    ASSERT_EQ(call(sd::kEventUnregister, norm), sd::kSuccess);
    ASSERT_EQ(register_on(norm, kActNest, sd::kRoutingPe, self_mpidr()), sd::kSuccess);
    ASSERT_EQ(call(sd::kEventEnable, norm), sd::kSuccess);
    g_order_n = 0;
    g_nest_intid = kSpi;  // a second edge of its own SPI: pending, not nested
    gic::set_pending(kSpi);
    EXPECT_EQ(g_nest_seen, 0u);
    EXPECT_EQ(g_count[me], before + 4);  // both ran, one after the other
    EXPECT_EQ(g_order[1], 0x200 | static_cast<u64>(norm));
    (void)call(sd::kEventUnregister, 0);
    drop(crit);
    drop(norm);
}

GUEST_TEST(unregister_running_shared_is_pending_and_complete_and_resume) {
    REQUIRE_HYPERVISOR();
    const u32 me = self_index();
    const i64 ev = bind(kSpi);
    ASSERT_GE(ev, 0);
    ASSERT_EQ(register_on(ev, kActUnregister, sd::kRoutingPe, self_mpidr()), sd::kSuccess);
    ASSERT_EQ(call(sd::kEventEnable, ev), sd::kSuccess);
    (void)call(sd::kPeUnmask);
    g_landed = 0;
    g_resume_to = reinterpret_cast<u64>(&sdei_bound_landing);
    const u64 before = g_count[me];
    gic::set_pending(kSpi);
    g_resume_to = 0;
    EXPECT_EQ(g_count[me], before + 1);
    EXPECT_EQ(g_landed, 1u);  // COMPLETE_AND_RESUME went through the resume address, then back here
    EXPECT_EQ(g_in_handler[0], sd::kPending);
    EXPECT_EQ(g_in_handler[1], static_cast<i64>(sd::kStatusRegistered | sd::kStatusRunning));
    EXPECT_EQ(call(sd::kEventStatus, ev), 0);  // unregistered at completion
    // Errors from inside a handler: EVENT_CONTEXT(18), COMPLETE_AND_RESUME to a bad address, ROUTING_SET running.
    ASSERT_EQ(register_on(ev, kActErrors, sd::kRoutingPe, self_mpidr()), sd::kSuccess);
    ASSERT_EQ(call(sd::kEventEnable, ev), sd::kSuccess);
    gic::set_pending(kSpi);
    EXPECT_EQ(g_count[me], before + 2);
    EXPECT_EQ(g_in_handler[0], sd::kInvalidParameters);
    EXPECT_EQ(g_in_handler[1], sd::kInvalidParameters);
    EXPECT_EQ(g_in_handler[2], sd::kInvalidParameters);
    EXPECT_EQ(g_in_handler[3], sd::kDenied);
    drop(ev);
}

GUEST_TEST(private_and_shared_reset) {
    REQUIRE_HYPERVISOR();
    const i64 sev = bind(kSpi);
    const i64 pev = bind(kPpi);
    ASSERT_EQ(register_on(sev, kActNone), sd::kSuccess);
    ASSERT_EQ(register_on(pev, kActNone), sd::kSuccess);
    ASSERT_EQ(call(sd::kEventRegister, 0, entry(), 0, 0, 0), sd::kSuccess);
    ASSERT_EQ(call(sd::kEventEnable, 0), sd::kSuccess);
    EXPECT_EQ(call(sd::kPrivateReset), sd::kSuccess);
    EXPECT_EQ(call(sd::kEventStatus, 0), 0);
    EXPECT_EQ(call(sd::kEventStatus, pev), 0);
    EXPECT_EQ(call(sd::kEventStatus, sev), static_cast<i64>(sd::kStatusRegistered));  // shared: untouched
    EXPECT_EQ(call(sd::kSharedReset), sd::kSuccess);
    EXPECT_EQ(call(sd::kEventStatus, sev), 0);
    drop(sev);  // the bindings themselves survive the resets
    drop(pev);
}

namespace {
volatile u32 g_spin_stop = 0;
volatile u32 g_ready[kMaxCpus];
volatile i64 g_after_on[2];
// A secondary that takes shared events: unmask, then spin until told to stop.
void taker(u32, void*) {
    (void)call(sd::kPeUnmask);
    g_ready[self_index()] = 1;
    dsb_sy();
    const u64 deadline = counter() + counter_frequency() * 5;
    while (!g_spin_stop && counter() < deadline) {
    }
}
// Registers event 0 on this PE and unmasks, then returns (the runtime calls CPU_OFF).
void register_then_off(u32, void*) {
    (void)call(sd::kEventRegister, 0, entry(), 0, 0, 0);
    (void)call(sd::kEventEnable, 0);
    (void)call(sd::kPeUnmask);
    g_ready[self_index()] = 1;
}
// After CPU_ON: what is left of the private state.
void check_after_on(u32, void*) {
    g_after_on[0] = call(sd::kEventStatus, 0);
    g_after_on[1] = call(sd::kPeMask);  // 0: already masked (reset state)
    g_ready[self_index()] = 1;
}
bool wait_ready(u32 idx, u64 ms) {
    const u64 deadline = counter() + counter_frequency() / 1000 * ms;
    while (!g_ready[idx] && counter() < deadline) {
    }
    return g_ready[idx] != 0;
}
}  // namespace

GUEST_TEST(rm_any_and_rm_pe_reach_other_vcpus) {
    REQUIRE_HYPERVISOR();
    u64 others[kMaxCpus];
    const u32 n = dt_other_cpus(others, kMaxCpus);
    if (n == 0) GUEST_SKIP("needs more than one CPU");
    g_spin_stop = 0;
    for (u32 i = 0; i < n; ++i) {
        g_ready[others[i] & 0xff] = 0;
        ASSERT_EQ(start_cpu(1 + i, others[i], taker, nullptr), psci::kPsciSuccess);
        ASSERT_TRUE(wait_ready(static_cast<u32>(others[i] & 0xff), 1000));
    }
    const i64 ev = bind(kSpi);
    ASSERT_GE(ev, 0);
    // RM_ANY with this PE masked: a PE that can take it does.
    EXPECT_EQ(call(sd::kPeMask) >= 0, true);
    ASSERT_EQ(register_on(ev, kActNone, sd::kRoutingAny, 0), sd::kSuccess);
    ASSERT_EQ(call(sd::kEventEnable, ev), sd::kSuccess);
    u64 total_before = 0;
    for (u32 i = 0; i < n; ++i) total_before += g_count[others[i] & 0xff];
    gic::set_pending(kSpi);
    const u64 deadline = counter() + counter_frequency();
    u64 total = total_before;
    while (total == total_before && counter() < deadline) {
        total = 0;
        for (u32 i = 0; i < n; ++i) total += g_count[others[i] & 0xff];
    }
    EXPECT_EQ(total, total_before + 1);
    EXPECT_EQ(g_count[self_index()], g_count[self_index()]);
    // RM_PE to the last CPU.
    const u32 last = static_cast<u32>(others[n - 1] & 0xff);
    ASSERT_EQ(call(sd::kEventDisable, ev), sd::kSuccess);
    ASSERT_EQ(call(sd::kEventRoutingSet, ev, sd::kRoutingPe, others[n - 1]), sd::kSuccess);
    EXPECT_EQ(call(sd::kEventGetInfo, ev, sd::kInfoRoutingAff), static_cast<i64>(others[n - 1]));
    ASSERT_EQ(call(sd::kEventEnable, ev), sd::kSuccess);
    const u64 before = g_count[last];
    gic::set_pending(kSpi);
    EXPECT_TRUE(wait_count(last, before + 1, 1000));
    EXPECT_EQ(g_last_ev[last], static_cast<u64>(ev));
    g_spin_stop = 1;
    for (u32 i = 0; i < n; ++i) EXPECT_TRUE(wait_slot(cpu_finished, 1 + i, 2000));
    (void)call(sd::kPeUnmask);
    drop(ev);
}

GUEST_TEST(cpu_off_and_on_reset_private_events) {
    REQUIRE_HYPERVISOR();
    const u64 other = dt_other_cpu();
    if (other == ~u64{0}) GUEST_SKIP("needs more than one CPU");
    const u32 idx = static_cast<u32>(other & 0xff);
    g_ready[idx] = 0;
    ASSERT_EQ(start_cpu(5, other, register_then_off, nullptr), psci::kPsciSuccess);
    ASSERT_TRUE(wait_ready(idx, 1000));
    ASSERT_TRUE(wait_slot(cpu_finished, 5, 2000));
    // CPU_OFF: until the runtime's CPU_OFF is through, AFFINITY_INFO says ON.
    u64 deadline = counter() + counter_frequency();
    while (hvc_call(0xC4000004, other, 0).status() != 1 && counter() < deadline) {
    }
    const u64 before = g_count[idx];
    EXPECT_EQ(call(sd::kEventSignal, 0, other), sd::kSuccess);  // dropped: event 0 is gone on that PE
    g_ready[idx] = 0;
    g_after_on[0] = -100;
    g_after_on[1] = -100;
    ASSERT_EQ(start_cpu(6, other, check_after_on, nullptr), psci::kPsciSuccess);
    ASSERT_TRUE(wait_ready(idx, 1000));
    EXPECT_EQ(g_after_on[0], 0);  // unregistered
    EXPECT_EQ(g_after_on[1], 0);  // masked, as out of reset
    EXPECT_EQ(g_count[idx], before);
    EXPECT_TRUE(wait_slot(cpu_finished, 6, 2000));
}
