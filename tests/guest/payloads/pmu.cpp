// pmu: the guest's PMUv3 (docs/boot.md "PMU"). It is visible (ID_AA64DFR0_EL1.PMUVer, the /pmu DT node), the
// cycle counter counts, an event counter counts instructions retired (event 0x08; QEMU only implements it with
// -icount), SW_INCR increments, an overflow raises PPI 23 through the (v)GIC and clearing it (PMOVSCLR,
// PMINTENCLR, PMCR.E = 0) withdraws a pending one, and the hypervisor's own execution never shows in the guest's
// counters: counters told to count EL2 too (NSH) add only the guest's few instructions per null hypercall,
// where the hypervisor runs hundreds (MDCR_EL2.HPMD / HCCD).
//
// guest-tests: smp=1 mem=512M append="" hv_append="vcpus=1" expect=pass timeout=60 qemu="-icount shift=0"
#include "psci/ids.hpp"
#include "tests/guest/runtime/guest.hpp"

using namespace rt;

namespace {

constexpr u32 kPmuPpi = 23;
constexpr u64 kCycle = u64{1} << 31;
// PMCR_EL0 (DDI0487 D13): E, P (event counters to 0), C (cycle counter to 0), LC, N [15:11].
constexpr u64 kPmcrE = 1, kPmcrP = 2, kPmcrC = 4, kPmcrLc = 1 << 6;
// PMEVTYPER / PMCCFILTR filters: P (not EL1), U (not EL0), NSH (EL2 too).
constexpr u64 kFilterP = u64{1} << 31, kFilterU = u64{1} << 30, kFilterNsh = u64{1} << 27;
constexpr u64 kEvSwIncr = 0x00, kEvInstRetired = 0x08;

u32 counters() { return static_cast<u32>((RT_READ_SYSREG(pmcr_el0) >> 11) & 0x1f); }

void write_evtyper(u32 n, u64 v) {
    RT_WRITE_SYSREG(pmselr_el0, n);
    isb();
    RT_WRITE_SYSREG(pmxevtyper_el0, v);
    isb();
}
void write_evcntr(u32 n, u64 v) {
    RT_WRITE_SYSREG(pmselr_el0, n);
    isb();
    RT_WRITE_SYSREG(pmxevcntr_el0, v);
    isb();
}
u64 read_evcntr(u32 n) {
    RT_WRITE_SYSREG(pmselr_el0, n);
    isb();
    return RT_READ_SYSREG(pmxevcntr_el0);
}

// Everything off and zero, then PMCR = LC (| E).
void pmu_clear(bool enable) {
    RT_WRITE_SYSREG(pmcr_el0, kPmcrLc);
    RT_WRITE_SYSREG(pmcntenclr_el0, 0xffffffffu);
    RT_WRITE_SYSREG(pmintenclr_el1, 0xffffffffu);
    RT_WRITE_SYSREG(pmovsclr_el0, 0xffffffffu);
    isb();
    RT_WRITE_SYSREG(pmcr_el0, kPmcrLc | kPmcrP | kPmcrC | (enable ? kPmcrE : 0));
    isb();
}

bool inst_retired_supported() { return (RT_READ_SYSREG(pmceid0_el0) >> kEvInstRetired) & 1; }

// `iters` rounds of a two-instruction loop, with counter `mask` enabled for exactly that stretch.
void counted_loop(u64 mask, u64 iters) {
    asm volatile(
        "msr pmcntenset_el0, %[m]\n"
        "isb\n"
        "1: subs %[n], %[n], #1\n"
        "b.ne 1b\n"
        "msr pmcntenclr_el0, %[m]\n"
        "isb\n"
        : [n] "+r"(iters)
        : [m] "r"(mask)
        : "cc", "memory");
}

volatile u32 g_fired = 0;
volatile u64 g_ovs_seen = 0;

void pmu_irq(u32, void*) {
    const u64 ovs = RT_READ_SYSREG(pmovsset_el0);
    g_ovs_seen = ovs;
    RT_WRITE_SYSREG(pmovsclr_el0, ovs);  // the level interrupt goes away before the EOI
    isb();
    g_fired = g_fired + 1;
}

// Counter 2 counts SW_INCR from 0xffffffff with its interrupt enabled: one PMSWINC overflows it (PMCR.LP = 0:
// 32-bit overflow), which raises the PMU interrupt request.
void overflow_counter2() {
    pmu_clear(true);
    write_evtyper(2, kEvSwIncr);
    write_evcntr(2, 0xffffffffu);
    RT_WRITE_SYSREG(pmintenset_el1, 1u << 2);
    RT_WRITE_SYSREG(pmcntenset_el0, 1u << 2);
    isb();
    RT_WRITE_SYSREG(pmswinc_el0, 1u << 2);
    isb();
}

bool wait_pending(bool want, u64 ms) {
    const u64 deadline = counter() + ms_ticks(ms);
    while (gic::is_pending(kPmuPpi) != want && counter() < deadline) {
    }
    return gic::is_pending(kPmuPpi) == want;
}

}  // namespace

GUEST_TEST(pmu_is_visible) {
    const u64 pmuver = (RT_READ_SYSREG(id_aa64dfr0_el1) >> 8) & 0xf;
    printf("  ID_AA64DFR0_EL1.PMUVer %llu, PMCR_EL0 0x%llx, PMCEID0_EL0 0x%llx\n",
           static_cast<unsigned long long>(pmuver), static_cast<unsigned long long>(RT_READ_SYSREG(pmcr_el0)),
           static_cast<unsigned long long>(RT_READ_SYSREG(pmceid0_el0)));
    ASSERT_NE(pmuver, 0u);
    EXPECT_NE(pmuver, 0xfu);
    EXPECT_LE(pmuver, 6u);  // capped at PMUv3p5 (plain QEMU 7.2 -cpu max has exactly that)
    EXPECT_GT(counters(), 0u);
    // The DT node (Linux bindings arm/pmu.yaml): one level-high PPI 7 = INTID 23.
    const fdt::Reader& d = dt();
    const i32 node = d.find_compatible("arm,armv8-pmuv3");
    ASSERT_GE(node, 0);
    const Span<const u8> irq = d.prop(node, "interrupts");
    ASSERT_EQ(irq.size(), 12u);
    EXPECT_EQ(fdt::load_be32(irq.data()), 1u);            // PPI
    EXPECT_EQ(fdt::load_be32(irq.data() + 4), 7u);        // PPI 7 = INTID 23
    EXPECT_EQ(fdt::load_be32(irq.data() + 8) & 0xf, 4u);  // IRQ_TYPE_LEVEL_HIGH
}

GUEST_TEST(cycle_counter_counts) {
    pmu_clear(true);
    RT_WRITE_SYSREG(pmccfiltr_el0, 0);  // EL1 and EL0
    const u64 c0 = RT_READ_SYSREG(pmccntr_el0);
    counted_loop(kCycle, 10000);
    const u64 c1 = RT_READ_SYSREG(pmccntr_el0);
    counted_loop(kCycle, 10000);
    const u64 c2 = RT_READ_SYSREG(pmccntr_el0);
    printf("  PMCCNTR_EL0 %llu -> %llu -> %llu\n", static_cast<unsigned long long>(c0),
           static_cast<unsigned long long>(c1), static_cast<unsigned long long>(c2));
    EXPECT_EQ(c0, 0u);  // PMCR.C reset it and it was not enabled
    EXPECT_GT(c1, c0);
    EXPECT_GT(c2, c1);
    // Stopped while not enabled.
    const u64 c3 = RT_READ_SYSREG(pmccntr_el0);
    for (int i = 0; i < 1000; ++i) asm volatile("" ::: "memory");
    EXPECT_EQ(RT_READ_SYSREG(pmccntr_el0), c3);
    // The value is the guest's: written, read back.
    RT_WRITE_SYSREG(pmccntr_el0, 0x1234'0000'0000ull);
    isb();
    EXPECT_EQ(RT_READ_SYSREG(pmccntr_el0), 0x1234'0000'0000ull);
    pmu_clear(false);
}

GUEST_TEST(instructions_retired_are_counted) {
    if (!inst_retired_supported()) GUEST_SKIP("event 0x08 not implemented (QEMU: only with -icount)");
    ASSERT_GT(counters(), 1u);
    pmu_clear(true);
    write_evtyper(1, kEvInstRetired);  // EL1 and EL0, not EL2
    const u64 rounds[] = {1000, 5000};
    for (u64 iters : rounds) {
        write_evcntr(1, 0);
        counted_loop(1u << 1, iters);
        const u64 n = read_evcntr(1);
        printf("  %llu loop rounds: %llu instructions retired\n", static_cast<unsigned long long>(iters),
               static_cast<unsigned long long>(n));
        EXPECT_GE(n, 2 * iters);
        EXPECT_LE(n, 2 * iters + 16);
    }
    // P = 1: EL1 is filtered out, and the loop runs at EL1.
    write_evtyper(1, kEvInstRetired | kFilterP);
    write_evcntr(1, 0);
    counted_loop(1u << 1, 1000);
    EXPECT_LE(read_evcntr(1), 2u);
    pmu_clear(false);
}

GUEST_TEST(software_increment) {
    ASSERT_GT(counters(), 1u);
    pmu_clear(true);
    write_evtyper(0, kEvSwIncr);
    write_evtyper(1, kEvSwIncr);
    write_evcntr(0, 100);
    RT_WRITE_SYSREG(pmcntenset_el0, 0x3u);
    isb();
    for (int i = 0; i < 10; ++i) RT_WRITE_SYSREG(pmswinc_el0, 0x1u);
    for (int i = 0; i < 3; ++i) RT_WRITE_SYSREG(pmswinc_el0, 0x3u);
    isb();
    EXPECT_EQ(read_evcntr(0), 113u);
    EXPECT_EQ(read_evcntr(1), 3u);
    // PMCR.E = 0: no increment.
    RT_WRITE_SYSREG(pmcr_el0, kPmcrLc);
    isb();
    RT_WRITE_SYSREG(pmswinc_el0, 0x3u);
    isb();
    EXPECT_EQ(read_evcntr(0), 113u);
    EXPECT_EQ(RT_READ_SYSREG(pmovsset_el0), 0u);
    pmu_clear(false);
}

GUEST_TEST(overflow_raises_ppi_23) {
    ASSERT_TRUE(gic::init());
    ASSERT_TRUE(gic::set_handler(kPmuPpi, pmu_irq));
    gic::enable(kPmuPpi);
    g_fired = 0;
    overflow_counter2();
    EXPECT_EQ(RT_READ_SYSREG(pmovsset_el0), 1u << 2);
    EXPECT_TRUE(run_irqs_until([] { return g_fired != 0; }, 200, 30));
    EXPECT_EQ(g_fired, 1u);  // cleared in the handler: exactly one
    EXPECT_EQ(g_ovs_seen, 1u << 2);
    EXPECT_FALSE(gic::is_active(kPmuPpi));
    EXPECT_FALSE(gic::is_pending(kPmuPpi));
    // Once more: the link re-arms after the guest's deactivation.
    overflow_counter2();
    EXPECT_TRUE(run_irqs_until([] { return g_fired >= 2; }, 200, 30));
    EXPECT_EQ(g_fired, 2u);
    pmu_clear(false);
}

GUEST_TEST(clearing_the_overflow_withdraws_the_interrupt) {
    ASSERT_TRUE(gic::initialised());
    g_fired = 0;
    // IRQs stay masked at the CPU: the interrupt is pending at the (v)GIC and nothing takes it.
    overflow_counter2();
    ASSERT_TRUE(wait_pending(true, 200));
    RT_WRITE_SYSREG(pmovsclr_el0, 1u << 2);
    isb();
    EXPECT_TRUE(wait_pending(false, 50));
    EXPECT_FALSE(run_irqs_until([] { return g_fired != 0; }, 30));
    // PMINTENCLR lowers the request too.
    overflow_counter2();
    ASSERT_TRUE(wait_pending(true, 200));
    RT_WRITE_SYSREG(pmintenclr_el1, 1u << 2);
    isb();
    EXPECT_TRUE(wait_pending(false, 50));
    EXPECT_FALSE(run_irqs_until([] { return g_fired != 0; }, 30));
    EXPECT_EQ(g_fired, 0u);
    // ... and setting the enable again raises it again.
    RT_WRITE_SYSREG(pmintenset_el1, 1u << 2);
    isb();
    EXPECT_TRUE(run_irqs_until([] { return g_fired != 0; }, 200, 30));
    EXPECT_EQ(g_fired, 1u);
    pmu_clear(false);
}

GUEST_TEST(pmcr_e_gates_the_interrupt) {
    // DDI0487 D13 (CheckForPMUOverflow): the request needs PMCR_EL0.E. Plain QEMU 7.2 keeps its PMU interrupt
    // line up after PMCR.E = 0 (it only re-evaluates it on overflow and PMOVS/PMINTEN writes); the hypervisor
    // gives the guest the architectural level, and notices the request coming back at its next exit.
    REQUIRE_HYPERVISOR();
    ASSERT_TRUE(gic::initialised());
    g_fired = 0;
    overflow_counter2();
    ASSERT_TRUE(wait_pending(true, 200));
    RT_WRITE_SYSREG(pmcr_el0, kPmcrLc);
    isb();
    EXPECT_TRUE(wait_pending(false, 50));
    EXPECT_FALSE(run_irqs_until([] { return g_fired != 0; }, 30));
    RT_WRITE_SYSREG(pmcr_el0, kPmcrLc | kPmcrE);
    isb();
    // Each is_pending() read is an MMIO exit.
    EXPECT_TRUE(run_irqs_until([] { return g_fired != 0 || (gic::is_pending(kPmuPpi) && false); }, 200, 30));
    EXPECT_EQ(g_fired, 1u);
    EXPECT_EQ(g_ovs_seen, 1u << 2);
    pmu_clear(false);
}

GUEST_TEST(el2_is_never_counted) {
    // Counters asked to count EL2 as well (NSH = 1; P = U = 0 keep EL1 and EL0): while the hypervisor handles a
    // null hypercall, MDCR_EL2.HPMD (event counters) and HCCD (cycle counter) prohibit counting, so each call adds
    // only the guest's own instructions -- a few dozen, where the hypervisor runs hundreds.
    if (!inst_retired_supported()) GUEST_SKIP("event 0x08 not implemented (QEMU: only with -icount)");
    constexpr u64 kCalls = 100;
    pmu_clear(true);
    write_evtyper(3, kEvInstRetired | kFilterNsh);
    write_evtyper(4, kEvInstRetired);  // EL1/EL0 only (P/U filtering), the reference
    RT_WRITE_SYSREG(pmccfiltr_el0, kFilterNsh);
    RT_WRITE_SYSREG(pmcntenset_el0, kCycle | (1u << 3) | (1u << 4));
    isb();
    for (u64 i = 0; i < kCalls; ++i) (void)hvc_call(psci::kSmcccVersion);
    RT_WRITE_SYSREG(pmcntenclr_el0, kCycle | (1u << 3) | (1u << 4));
    isb();
    const u64 with_el2 = read_evcntr(3), el1_only = read_evcntr(4), cycles = RT_READ_SYSREG(pmccntr_el0);
    printf("  %llu null hypercalls: %llu instructions (NSH), %llu (EL1/EL0 only), %llu cycles (NSH)\n",
           static_cast<unsigned long long>(kCalls), static_cast<unsigned long long>(with_el2),
           static_cast<unsigned long long>(el1_only), static_cast<unsigned long long>(cycles));
    EXPECT_GT(el1_only, kCalls * 5);  // the guest's side of each call was counted
    EXPECT_LT(el1_only, kCalls * 80);
    EXPECT_LE(with_el2, el1_only + 8);  // NSH added nothing: EL2 was prohibited
    // -icount shift=0: one cycle per instruction of any exception level; EL2 adds none.
    EXPECT_LT(cycles, kCalls * 150);
    pmu_clear(false);
}

GUEST_TEST(state_survives_exits) {
    // The guest owns the PMU: traps and hypercalls in between leave every register as the guest left it.
    ASSERT_GT(counters(), 1u);
    pmu_clear(false);
    write_evtyper(1, kEvInstRetired | kFilterU);
    write_evcntr(1, 0xabcd);
    RT_WRITE_SYSREG(pmuserenr_el0, 0x5);
    RT_WRITE_SYSREG(pmintenset_el1, 0x2);
    RT_WRITE_SYSREG(pmselr_el0, 1);
    isb();
    for (int i = 0; i < 20; ++i) {
        (void)hvc_call(psci::kSmcccVersion);
        (void)gic::is_pending(kPmuPpi);  // an MMIO trap
    }
    EXPECT_EQ(RT_READ_SYSREG(pmselr_el0), 1u);
    EXPECT_EQ(RT_READ_SYSREG(pmxevtyper_el0) & 0xffffffffu, kEvInstRetired | kFilterU);
    EXPECT_EQ(RT_READ_SYSREG(pmxevcntr_el0), 0xabcdu);
    EXPECT_EQ(RT_READ_SYSREG(pmuserenr_el0), 0x5u);
    EXPECT_EQ(RT_READ_SYSREG(pmintenset_el1), 0x2u);
    RT_WRITE_SYSREG(pmuserenr_el0, 0);
    pmu_clear(false);
}
