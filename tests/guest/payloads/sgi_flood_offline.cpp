// sgi_flood_offline: an adversarial guest (docs/isolation.md). CPU 1 runs once, enables an SGI and powers itself off
// (PSCI CPU_OFF); CPU 0 then floods it with 20000 SGIs. An off vCPU is woken by CPU_ON alone (DEN0022D 5.5), so its
// pCPU must stay asleep: the hypervisor counts the WFIs that returned on an off vCPU's pCPU (`off_wakes` in the
// stats line at SYSTEM_OFF), and the console check below requires fewer than 100 for vcpu1 (before the fix every SGI
// kicked the pCPU awake: off_wakes=5660, against 2 now).
// Control (the attack path works): the SGIs really reached the off vCPU's redistributor -- CPU 1's GICR_ISPENDR0
// shows the SGI pending, read from CPU 0 -- and after CPU_ON CPU 1 takes it, once; CPU_ON itself still works.
//
// guest-tests: smp=2 hv_append="vcpus=2" timeout=120 console="vcpu1 exits.* off_wakes=[0-9]{1,2}\b"
#include "tests/guest/runtime/guest.hpp"

using namespace rt;

namespace {

constexpr u32 kSgi = 7;
constexpr u32 kFlood = 20000;
constexpr u64 kSgiFrame = 0x1'0000;
constexpr u64 kIspendr0 = 0x200;

u64 g_other = 0;
volatile u32 g_taken = 0;
volatile u32 g_rounds = 0;

void on_sgi(u32, void*) { g_taken = g_taken + 1; }

void enable_and_leave(u32, void*) {
    (void)gic::init_cpu();
    gic::enable(kSgi);
    g_rounds = g_rounds + 1;
}

void take_and_leave(u32, void*) {
    g_rounds = g_rounds + 1;
    (void)run_irqs_until([] { return g_taken >= 1; }, 2000, 50);
    irq_disable();
}

}  // namespace

GUEST_TEST(setup) {
    ASSERT_TRUE(gic::init());
    g_other = dt_other_cpu();
    ASSERT_NE(g_other, ~u64{0});
    ASSERT_TRUE(gic::set_handler(kSgi, on_sgi));
    ASSERT_EQ(start_cpu(1, g_other, enable_and_leave, nullptr), 0);
    ASSERT_TRUE(wait_slot(cpu_finished, 1, 5000));
    EXPECT_EQ(g_rounds, 1u);
}

GUEST_TEST(flood_the_off_cpu) {
    // Give CPU 1 time to reach its CPU_OFF (cpu_finished is set just before the call).
    const u64 until = counter() + ms_ticks(50);
    while (counter() < until) {
    }
    for (u32 i = 0; i < kFlood; ++i) gic::send_sgi(kSgi, g_other);
    // Control: the SGI is pending on CPU 1's redistributor although CPU 1 is off.
    const u64 rd = gic::rd_base_of(g_other);
    ASSERT_NE(rd, 0u);
    EXPECT_NE(mmio_read32(rd + kSgiFrame + kIspendr0) & (1u << kSgi), 0u);
    EXPECT_EQ(g_taken, 0u);
}

GUEST_TEST(cpu_on_still_works_and_takes_the_sgi_once) {
    ASSERT_EQ(start_cpu(1, g_other, take_and_leave, nullptr), 0);
    ASSERT_TRUE(wait_slot(cpu_finished, 1, 5000));
    EXPECT_EQ(g_rounds, 2u);
    EXPECT_EQ(g_taken, 1u);  // SGIs coalesce: one pending state however many were sent
}
