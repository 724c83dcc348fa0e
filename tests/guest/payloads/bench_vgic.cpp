// bench_vgic: the cost of the (virtual) GIC in guest-visible time, meant to run with `-icount shift=0`, where QEMU
// advances the virtual clock by exactly 1 ns per instruction executed, so CNTVCT deltas convert to instruction counts:
// insns = ticks * 1e9 / CNTFRQ (the hypervisor's own instructions at EL2 count too, which is the point).
//   (a) a GICD_TYPER read (trapped and emulated under the hypervisor), mean of 1000, and the same loop reading RAM;
//   (b) an SGI round trip: vCPU0 sends an SGI to vCPU1, whose handler answers with an SGI back; mean of 1000.
// Both CPUs wait in WFI: with -icount QEMU runs the vCPUs round-robin on one thread and only switches to the other
// vCPU early when the running one halts, so a busy-waiting receiver would measure QEMU's scheduling slice.
// Output lines: `BENCH <name> <value>` (value with two decimals), parsed by tests/bench/vgic-costs.
//
// clang-format off
// guest-tests: smp=2 mem=512M append="expect_cpus=2 icount_shift=0" hv_append="vcpus=2" expect=pass timeout=120 qemu="-icount shift=0"
// clang-format on
#include "tests/guest/runtime/guest.hpp"

using namespace rt;

namespace {

constexpr u32 kIterations = 1000;
constexpr u32 kWarmup = 20;
constexpr u32 kPing = 1, kPong = 2, kReady = 3;

volatile u32 g_pings = 0;  // taken by CPU1
volatile u32 g_pongs = 0;  // taken by CPU0
volatile u32 g_stop = 0;
volatile u32 g_ready = 0;
u64 g_cpu0 = 0, g_cpu1 = 0;  // MPIDRs
volatile u32 g_sink = 0;

// Mean instructions per iteration (x100, i.e. two decimals) from a CNTVCT delta, assuming -icount shift=0.
u64 insns_x100(u64 ticks, u32 n) {
    u64 shift = bootarg_u64("icount_shift", 0);
    return ticks * 1'000'000'000ull * 100 / counter_frequency() / n >> shift;
}

void print_bench(const char* name, u64 x100) {
    printf("BENCH %s %llu.%02llu\n", name, static_cast<unsigned long long>(x100 / 100),
           static_cast<unsigned long long>(x100 % 100));
}

void ping_irq(u32, void*) {
    g_pings = g_pings + 1;
    gic::send_sgi(kPong, g_cpu0);
}
void pong_irq(u32, void*) { g_pongs = g_pongs + 1; }
void ready_irq(u32, void*) {}
void timer_irq(u32, void*) {
    RT_WRITE_SYSREG(cntv_ctl_el0, 0);  // the backstop of a WFI wait went off
    isb();
}

// Waits in WFI (never busy: see the header) until *flag, with the virtual timer as a backstop `ms` ahead.
bool wfi_wait(volatile u32* flag, u64 ms) {
    u64 deadline = counter() + counter_frequency() / 1000 * ms;
    RT_WRITE_SYSREG(cntv_cval_el0, deadline);
    RT_WRITE_SYSREG(cntv_ctl_el0, 1);
    isb();
    while (!*flag && counter() < deadline) {
        wfi();
        irq_enable();
        isb();
        irq_disable();
    }
    RT_WRITE_SYSREG(cntv_ctl_el0, 0);
    isb();
    return *flag != 0;
}

void responder(u32, void*) {
    if (!gic::init_cpu()) return;
    (void)gic::set_handler(kPing, ping_irq);
    gic::enable(kPing);
    g_ready = 1;
    dsb_sy();
    gic::send_sgi(kReady, g_cpu0);
    // WFI with IRQs masked wakes on a pending interrupt; it is then taken in the short unmasked window.
    while (!g_stop) {
        wfi();
        irq_enable();
        isb();
        irq_disable();
    }
}

// One SGI to CPU1 and wait (in WFI) for its answer; bounded by `deadline`.
bool round_trip(u32 want, u64 deadline) {
    gic::send_sgi(kPing, g_cpu1);
    while (g_pongs < want) {
        if (counter() > deadline) return false;
        wfi();
        irq_enable();
        isb();
        irq_disable();
    }
    return true;
}

}  // namespace

GUEST_TEST(setup) {
    ASSERT_TRUE(gic::init());
    u64 mpidrs[2];
    ASSERT_EQ(dt_cpu_mpidrs(mpidrs, 2), 2u);
    u64 self = RT_READ_SYSREG(mpidr_el1) & 0xff'00ff'ffffull;
    g_cpu0 = self;
    g_cpu1 = mpidrs[0] == self ? mpidrs[1] : mpidrs[0];
    ASSERT_TRUE(gic::set_handler(kPong, pong_irq));
    ASSERT_TRUE(gic::set_handler(kReady, ready_irq));
    ASSERT_TRUE(gic::set_handler(gic::kVirtualTimerPpi, timer_irq));
    gic::enable(kPong);
    gic::enable(kReady);
    gic::enable(gic::kVirtualTimerPpi);
    irq_disable();
    ASSERT_EQ(start_cpu(1, g_cpu1, responder, nullptr), psci::kPsciSuccess);
    ASSERT_TRUE(wfi_wait(&g_ready, 5000));
    printf("  CNTFRQ %llu Hz, icount_shift %llu (1 tick = %llu ns)\n",
           static_cast<unsigned long long>(counter_frequency()),
           static_cast<unsigned long long>(bootarg_u64("icount_shift", 0)),
           static_cast<unsigned long long>(1'000'000'000ull / counter_frequency()));
}

GUEST_TEST(gicd_typer_read_cost) {
    ASSERT_TRUE(gic::initialised());
    u64 typer_addr = gic::gicd_base() + 0x4;
    u32 first = mmio_read32(typer_addr);
    u32 differ = 0;
    for (u32 i = 0; i < kWarmup; ++i) differ += mmio_read32(typer_addr) != first;
    u64 t0 = counter();
    for (u32 i = 0; i < kIterations; ++i) differ += mmio_read32(typer_addr) != first;
    u64 t1 = counter();
    // The same loop over RAM: the loop's own instructions.
    volatile u32* ram = &g_sink;
    u64 t2 = counter();
    for (u32 i = 0; i < kIterations; ++i) differ += *ram != 0;
    u64 t3 = counter();
    EXPECT_EQ(differ, 0u);  // GICD_TYPER is constant
    EXPECT_GT(t1, t0);
    u64 mmio = insns_x100(t1 - t0, kIterations), ram_loop = insns_x100(t3 - t2, kIterations);
    print_bench("gicd_typer_read_insns", mmio);
    print_bench("ram_read_loop_insns", ram_loop);
    print_bench("gicd_typer_read_minus_loop_insns", mmio > ram_loop ? mmio - ram_loop : 0);
}

GUEST_TEST(sgi_round_trip_cost) {
    ASSERT_TRUE(g_ready);
    irq_disable();
    u64 deadline = counter() + counter_frequency() * 60;
    bool ok = true;
    for (u32 i = 1; i <= kWarmup && ok; ++i) ok = round_trip(i, deadline);
    ASSERT_TRUE(ok);
    u64 t0 = counter();
    for (u32 i = kWarmup + 1; i <= kWarmup + kIterations && ok; ++i) ok = round_trip(i, deadline);
    u64 t1 = counter();
    EXPECT_TRUE(ok);
    EXPECT_EQ(g_pongs, kWarmup + kIterations);
    EXPECT_EQ(g_pings, kWarmup + kIterations);
    if (ok) print_bench("sgi_round_trip_insns", insns_x100(t1 - t0, kIterations));
    // Stop the responder with one more (unmeasured) round trip. Not waiting for its CPU_OFF: a busy-waiting vCPU0
    // would hold QEMU's single icount thread; SYSTEM_OFF ends both anyway.
    g_stop = 1;
    dsb_sy();
    EXPECT_TRUE(round_trip(kWarmup + kIterations + 1, counter() + counter_frequency()));
    EXPECT_EQ(gic::unhandled_count(), 0u);
}
