// sdei_snapshot: a VM saved while vCPU 2 runs the handler of a bound shared SDEI event resumes into that handler,
// and EVENT_COMPLETE then returns vCPU 2 to the context the event interrupted (docs/sdei.md "Snapshots").
// vCPU 0 binds SPI 40, registers its shared event RM_PE to vCPU 2 and makes the SPI pending (GICD_ISPENDR); vCPU 2's
// handler records EVENT_CONTEXT and waits; vCPU 0 calls the save hypercall (0xC6000040). Under
// tests/guest/snapshot-roundtrip the first QEMU powers off inside the call and a second one restores the VM, where
// the call returns 1; then vCPU 0 lets the handler go on: EVENT_CONTEXT is unchanged, EVENT_STATUS says running,
// COMPLETE lands vCPU 2 back in its loop (which goes on counting and ends normally) and the event is idle again.
//
// Guest bootargs: `expect_snapshot` -- the save must happen (the call returns 1); without it the call answers
// NOT_SUPPORTED (-1) and the same checks run on the unsaved VM (this is how tools/guest-tests runs the payload).
//
// guest-tests: smp=3 mem=512M append="expect_cpus=3" hv_append="vcpus=3" expect=pass timeout=60
#include "sdei/ids.hpp"
#include "tests/guest/runtime/guest.hpp"
#include "tests/guest/runtime/sdei.hpp"

using namespace rt;

namespace sd = hv::sdei;

extern "C" {
volatile u64 g_in_handler, g_release, g_handler_done, g_handler_cpu, g_handler_ev;
volatile i64 g_ctx_before[18], g_ctx_after[18], g_status_in_handler;
volatile u64 g_loop_ticks, g_loop_ticks_at_complete, g_loop_stop, g_loop_witness_bad;
u64 sdei_snap_c(u64 ev, u64 arg, u64 pc, u64 pstate);
}

namespace {

constexpr u32 kSaveFid = 0xc600'0040;
constexpr u32 kSpi = 40;
constexpr u64 kWitness = 0x5d5d'0000'2222'0000ull;

i64 call(u32 fid, u64 a1 = 0, u64 a2 = 0, u64 a3 = 0, u64 a4 = 0, u64 a5 = 0) {
    return hvc_call(fid, a1, a2, a3, a4, a5).status();
}

bool wait_for(volatile u64& flag, u64 ms) {
    const u64 deadline = counter() + counter_frequency() / 1000 * ms;
    while (flag == 0 && counter() < deadline) {
    }
    return flag != 0;
}

// vCPU 2: unmask, then count with a witness in a callee-saved register until told to stop. The SDEI handler
// interrupts this loop; COMPLETE must bring it back with every register intact.
void interrupted_loop(u32, void*) {
    (void)call(sd::kPeUnmask);
    register u64 witness asm("x20") = kWitness;
    while (g_loop_stop == 0) {
        asm volatile("" : "+r"(witness));
        g_loop_ticks = g_loop_ticks + 1;
    }
    if (witness != kWitness) g_loop_witness_bad = 1;
}

}  // namespace

extern "C" u64 sdei_snap_c(u64 ev, u64, u64, u64) {
    g_handler_ev = ev;
    g_handler_cpu = self_mpidr() & 0xff;
    for (u64 i = 0; i < 18; ++i) g_ctx_before[i] = call(sd::kEventContext, i);
    g_in_handler = 1;
    dsb_sy();
    while (g_release == 0) {  // the snapshot is taken (and restored) while we wait here
    }
    for (u64 i = 0; i < 18; ++i) g_ctx_after[i] = call(sd::kEventContext, i);
    g_status_in_handler = call(sd::kEventStatus, ev);
    g_loop_ticks_at_complete = g_loop_ticks;
    g_handler_done = 1;
    dsb_sy();
    return 0;  // EVENT_COMPLETE
}

GUEST_TEST(snapshot_inside_a_bound_shared_handler) {
    REQUIRE_HYPERVISOR();
    const bool expect_saved = bootarg_flag("expect_snapshot");
    u64 cpus[kMaxCpus];
    const u32 n = dt_cpu_mpidrs(cpus, kMaxCpus);
    if (n < 3) GUEST_SKIP("needs 3 CPUs");
    const u64 target = cpus[2];
    ASSERT_TRUE(gic::init());
    gic::set_priority(kSpi, 0xa0);
    const i64 ev = call(sd::kInterruptBind, kSpi);
    ASSERT_EQ(ev, static_cast<i64>(sd::kSharedBoundBase));
    ASSERT_EQ(call(sd::kEventRegister, static_cast<u64>(ev), rt::sdei::entry_point(&sdei_snap_c), 0x5a, sd::kRoutingPe,
                   target),
              sd::kSuccess);
    ASSERT_EQ(call(sd::kEventEnable, static_cast<u64>(ev)), sd::kSuccess);
    ASSERT_EQ(start_cpu(2, target, interrupted_loop, nullptr), psci::kPsciSuccess);
    ASSERT_TRUE(wait_slot(cpu_started, 2, 1000));
    delay_us(2000);  // vCPU 2 unmasked and counting
    gic::set_pending(kSpi);
    ASSERT_TRUE(wait_for(g_in_handler, 2000));
    EXPECT_EQ(g_handler_cpu, target & 0xff);

    const i64 r = hvc_call(kSaveFid).status();  // powers off here when saving; returns 1 in the restored VM
    if (expect_saved) {
        EXPECT_EQ(r, 1);
    } else {
        EXPECT_EQ(r, -1);  // NOT_SUPPORTED without a snapshot disk
    }
    EXPECT_EQ(g_handler_done, 0u);  // still inside the handler on vCPU 2
    EXPECT_EQ(call(sd::kEventStatus, static_cast<u64>(ev)),
              static_cast<i64>(sd::kStatusRegistered | sd::kStatusEnabled | sd::kStatusRunning));
    g_release = 1;
    dsb_sy();
    ASSERT_TRUE(wait_for(g_handler_done, 2000));
    EXPECT_EQ(g_handler_ev, static_cast<u64>(ev));
    for (u32 i = 0; i < 18; ++i) EXPECT_EQ(g_ctx_after[i], g_ctx_before[i]);
    EXPECT_EQ(g_status_in_handler, static_cast<i64>(sd::kStatusRegistered | sd::kStatusEnabled | sd::kStatusRunning));
    // COMPLETE returned vCPU 2 to its loop: it goes on counting, then ends normally with its witness intact.
    const u64 deadline = counter() + counter_frequency();
    while (g_loop_ticks <= g_loop_ticks_at_complete + 1000 && counter() < deadline) {
    }
    EXPECT_GT(g_loop_ticks, g_loop_ticks_at_complete + 1000);
    g_loop_stop = 1;
    EXPECT_TRUE(wait_slot(cpu_finished, 2, 2000));
    EXPECT_EQ(g_loop_witness_bad, 0u);
    EXPECT_EQ(call(sd::kEventStatus, static_cast<u64>(ev)),
              static_cast<i64>(sd::kStatusRegistered | sd::kStatusEnabled));  // idle again
    EXPECT_EQ(call(sd::kEventUnregister, static_cast<u64>(ev)), sd::kSuccess);
    EXPECT_EQ(call(sd::kInterruptRelease, static_cast<u64>(ev)), sd::kSuccess);
}
