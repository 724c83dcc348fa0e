// snapshot_resume: a VM saved in one QEMU process resumes in another (docs/snapshot.md). Both vCPUs run; vCPU 0
// sets up state -- a counter in RAM, its virtual timer programmed, its physical timer set (masked), an SPI pending
// while IRQs are masked, FP/SIMD registers with known values -- while vCPU 1 keeps counting with its own FP register
// as a witness, then vCPU 0 calls the save hypercall (0xC6000040). With the hypervisor option snapshot=save:PATH the
// first QEMU powers off inside the call; tests/guest/snapshot-roundtrip starts a second QEMU with
// snapshot=restore:PATH and the call "returns" 1 there. The payload then checks that all of it survived: the
// counter, the FP registers, the physical timer's CTL/CVAL, the pending SPI is delivered, the virtual timer fires,
// vCPU 1 is still running (and its FP register intact), the ID registers read the same (the VM's, restored), and
// each vCPU's PMU registers (a SW_INCR event counter,
// PMSELR, PMUSERENR, PMCCFILTR, PMCR.E) are as they were, per vCPU.
//
// Guest bootargs: `expect_snapshot` -- the save must happen (the call must return 1, i.e. we run in the restored
// VM); without it the call must answer NOT_SUPPORTED (-1) and the same checks run on the unsaved VM (this is how
// tools/guest-tests runs the payload).
//
// guest-tests: smp=2 mem=512M append="expect_cpus=2" hv_append="vcpus=2" expect=pass timeout=60
#include "tests/guest/runtime/guest.hpp"

using namespace rt;

namespace {

constexpr u32 kSaveFid = 0xc600'0040;
constexpr i64 kResumed = 1;
constexpr u32 kSpi = 40;
constexpr u32 kTimer = gic::kVirtualTimerPpi;
constexpr u64 kMagicCounter = 0x5eed'0000'1234'5678ull;

volatile u64 g_counter = 0;
volatile u64 g_cpu1_ticks = 0;   // vCPU 1's loop count
volatile u32 g_cpu1_fp_bad = 0;  // vCPU 1 saw its FP witness change
volatile u32 g_cpu1_running = 0;
volatile u32 g_spi_taken = 0;
volatile u32 g_timer_fired = 0;
volatile u32 g_stop = 0;
volatile u32 g_cpu1_pmu_bad = 0;  // vCPU 1 saw its PMU witness (event counter 0) change

// PMU (DDI0487 D13): PMCR_EL0 E and LC; event 0 = SW_INCR. Counter n through PMSELR_EL0 + PMXEVCNTR_EL0.
constexpr u64 kPmcrE = 1, kPmcrLc = 1 << 6;
constexpr u64 kCpu1PmuWitness = 0xc1c1'0001;
void pmu_select(u64 n) {
    RT_WRITE_SYSREG(pmselr_el0, n);
    isb();
}

// CPACR_EL1.FPEN = 0b11 (DDI0487 D17.2.30): FP/SIMD at EL1 without trapping.
void enable_fp() {
    RT_WRITE_SYSREG(cpacr_el1, RT_READ_SYSREG(cpacr_el1) | (u64{3} << 20));
    isb();
}

void spi_irq(u32, void*) { g_spi_taken = g_spi_taken + 1; }
void timer_irq(u32, void*) {
    RT_WRITE_SYSREG(cntv_ctl_el0, 0);  // level interrupt: off before the EOI
    isb();
    g_timer_fired = g_timer_fired + 1;
}

// vCPU 1: v20 holds a known value for the whole run; a changed value (a bad FP restore) is counted.
void cpu1_main(u32, void*) {
    (void)gic::init_cpu();
    enable_fp();
    g_cpu1_running = 1;
    // -mgeneral-regs-only: the compiler itself never touches the FP/SIMD registers; the asm enables them locally.
    asm volatile(
        ".arch_extension fp\n .arch_extension simd\n"
        "mov x9, #0x7777\n movk x9, #0x3333, lsl #16\n fmov d20, x9\n mov v20.d[1], x9" ::
            : "x9");
    // Its own PMU: event counter 0 holds a witness value and does not count (nothing enabled).
    pmu_select(0);
    RT_WRITE_SYSREG(pmxevtyper_el0, 0);
    RT_WRITE_SYSREG(pmxevcntr_el0, kCpu1PmuWitness);
    isb();
    while (!g_stop) {
        if (RT_READ_SYSREG(pmxevcntr_el0) != kCpu1PmuWitness) g_cpu1_pmu_bad = g_cpu1_pmu_bad + 1;
        u64 got = 0;
        asm volatile(".arch_extension fp\n fmov %0, d20" : "=r"(got));
        if (got != 0x33337777ull) g_cpu1_fp_bad = g_cpu1_fp_bad + 1;
        g_cpu1_ticks = g_cpu1_ticks + 1;
        dsb_sy();
    }
}

struct FpBlock {
    u64 in[8];   // q16..q19 before the call
    u64 out[8];  // q16..q19 after the call
    u64 fpcr_in, fpcr_out;
    i64 ret;
};

// Loads q16..q19 and FPCR, makes the call, reads them back: nothing of the compiler's runs in between.
void save_call(FpBlock& b) {
    register u64 x0 asm("x0") = kSaveFid;
    register FpBlock* x1 asm("x1") = &b;
    asm volatile(
        ".arch_extension fp\n .arch_extension simd\n"
        "ldp q16, q17, [x1, #0]\n"
        "ldp q18, q19, [x1, #32]\n"
        "ldr x2, [x1, #128]\n"
        "msr fpcr, x2\n"
        "mov x19, x1\n"
        "hvc #0\n"
        "stp q16, q17, [x19, #64]\n"
        "stp q18, q19, [x19, #96]\n"
        "mrs x2, fpcr\n"
        "str x2, [x19, #136]\n"
        : "+r"(x0), "+r"(x1)
        :
        : "x2", "x3", "x4", "x5", "x6", "x7", "x8", "x9", "x10", "x11", "x12", "x13", "x14", "x15", "x16", "x17", "x19",
          "memory");
    b.ret = static_cast<i64>(x0);
}

FpBlock g_fp;
bool g_expect_saved = false;

}  // namespace

GUEST_TEST(both_vcpus_run_and_state_is_set_up) {
    g_expect_saved = bootarg_flag("expect_snapshot");
    EXPECT_TRUE(gic::init());
    EXPECT_TRUE(gic::set_handler(kSpi, spi_irq));
    EXPECT_TRUE(gic::set_handler(kTimer, timer_irq));
    u64 mpidrs[2] = {};
    EXPECT_EQ(dt_cpu_mpidrs(mpidrs, 2), 2u);
    EXPECT_EQ(start_cpu(1, mpidrs[1], cpu1_main, nullptr), psci::kPsciSuccess);
    for (u64 deadline = counter() + counter_frequency() * 5; !g_cpu1_running && counter() < deadline;) {
    }
    EXPECT_EQ(g_cpu1_running, 1u);
    g_counter = kMagicCounter;
}

GUEST_TEST(save_and_resume) {
    REQUIRE_HYPERVISOR();
    enable_fp();
    irq_disable();
    // A pending SPI (level of the latch: set-pending) that cannot be taken before the save.
    gic::route_spi_to_self(kSpi);
    gic::enable(kSpi);
    gic::set_pending(kSpi);
    EXPECT_TRUE(gic::is_pending(kSpi));
    // The virtual timer, 300 ms ahead of the virtual counter (which the snapshot carries on, KVM's TIMER_CNT).
    gic::enable(kTimer);
    RT_WRITE_SYSREG(cntv_cval_el0, counter() + counter_frequency() * 3 / 10);
    RT_WRITE_SYSREG(cntv_ctl_el0, 1);
    // The EL1 physical timer, enabled but masked, with a compare value far ahead: carried as it is (PTIMER_CTL /
    // PTIMER_CVAL), never firing.
    constexpr u64 kPtimerCval = 0x7fff'0000'1234'5678ull;
    RT_WRITE_SYSREG(cntp_cval_el0, kPtimerCval);
    RT_WRITE_SYSREG(cntp_ctl_el0, 3);  // ENABLE | IMASK
    isb();
    // vCPU 0's PMU: counting on, event counter 1 counts SW_INCR from 0x7000, a selection and filters set.
    RT_WRITE_SYSREG(pmcr_el0, kPmcrLc | kPmcrE);
    pmu_select(1);
    RT_WRITE_SYSREG(pmxevtyper_el0, 0);  // SW_INCR, EL0 and EL1
    RT_WRITE_SYSREG(pmxevcntr_el0, 0x7000);
    RT_WRITE_SYSREG(pmcntenset_el0, 1u << 1);
    RT_WRITE_SYSREG(pmccfiltr_el0, u64{1} << 31);  // P: the cycle counter would not count EL1
    RT_WRITE_SYSREG(pmuserenr_el0, 0x3);
    pmu_select(3);
    // The ID registers this VM was promised (the VM's, carried by the snapshot): the same after a restore on
    // another CPU model (tests/guest/snapshot-roundtrip saves on cortex-a72 and restores on max).
    const u64 id_before[] = {RT_READ_SYSREG(id_aa64pfr0_el1), RT_READ_SYSREG(id_aa64isar0_el1),
                             RT_READ_SYSREG(id_aa64isar1_el1), RT_READ_SYSREG(id_aa64mmfr0_el1),
                             RT_READ_SYSREG(id_aa64dfr0_el1)};
    const u64 ticks_before = g_cpu1_ticks;
    for (u32 i = 0; i < 8; ++i) g_fp.in[i] = 0x0123'4567'89ab'cdefull * (i + 1) ^ (u64{i} << 56);
    g_fp.fpcr_in = 0x0300'0000ull;  // RMode = round towards zero (FPCR[23:22]) -- not the reset value
    save_call(g_fp);
    if (g_expect_saved) {
        EXPECT_EQ(g_fp.ret, kResumed);
    } else {
        EXPECT_EQ(g_fp.ret, -1);  // NOT_SUPPORTED without snapshot=save:PATH
    }
    for (u32 i = 0; i < 8; ++i) EXPECT_EQ(g_fp.out[i], g_fp.in[i]);
    const u64 id_after[] = {RT_READ_SYSREG(id_aa64pfr0_el1), RT_READ_SYSREG(id_aa64isar0_el1),
                            RT_READ_SYSREG(id_aa64isar1_el1), RT_READ_SYSREG(id_aa64mmfr0_el1),
                            RT_READ_SYSREG(id_aa64dfr0_el1)};
    for (u32 i = 0; i < 5; ++i) EXPECT_EQ(id_after[i], id_before[i]);
    EXPECT_EQ(g_fp.fpcr_out & 0x0fc0'0000ull, g_fp.fpcr_in);
    EXPECT_EQ(g_counter, kMagicCounter);
    EXPECT_EQ(RT_READ_SYSREG(cntp_cval_el0), kPtimerCval);
    EXPECT_EQ(RT_READ_SYSREG(cntp_ctl_el0), 3u);  // ENABLE | IMASK, ISTATUS clear
    RT_WRITE_SYSREG(cntp_ctl_el0, 0);
    isb();
    EXPECT_EQ(RT_READ_SYSREG(pmselr_el0), 3u);
    EXPECT_EQ(RT_READ_SYSREG(pmuserenr_el0), 0x3u);
    EXPECT_EQ(RT_READ_SYSREG(pmccfiltr_el0), u64{1} << 31);
    EXPECT_EQ(RT_READ_SYSREG(pmcr_el0) & 0xff, kPmcrLc | kPmcrE);
    EXPECT_EQ(RT_READ_SYSREG(pmcntenset_el0), 1u << 1);
    pmu_select(1);
    EXPECT_EQ(RT_READ_SYSREG(pmxevcntr_el0), 0x7000u);
    RT_WRITE_SYSREG(pmswinc_el0, 1u << 1);  // and it still counts
    isb();
    EXPECT_EQ(RT_READ_SYSREG(pmxevcntr_el0), 0x7001u);
    RT_WRITE_SYSREG(pmcr_el0, kPmcrLc);
    RT_WRITE_SYSREG(pmuserenr_el0, 0);
    // vCPU 1 counts on (after a restore it may start a little after vCPU 0: wait for it, bounded).
    for (u64 deadline = counter() + 5 * counter_frequency(); g_cpu1_ticks == ticks_before && counter() < deadline;) {
    }
    EXPECT_GT(g_cpu1_ticks, ticks_before);
    EXPECT_TRUE(gic::is_pending(kSpi));
    EXPECT_EQ(g_spi_taken, 0u);
}

GUEST_TEST(pending_spi_is_delivered) {
    REQUIRE_HYPERVISOR();
    irq_enable();
    for (u64 deadline = counter() + counter_frequency(); !g_spi_taken && counter() < deadline;) {
    }
    EXPECT_EQ(g_spi_taken, 1u);
    EXPECT_FALSE(gic::is_pending(kSpi));
}

GUEST_TEST(timer_fires) {
    REQUIRE_HYPERVISOR();
    for (u64 deadline = counter() + counter_frequency() * 3; !g_timer_fired && counter() < deadline;) wfi();
    EXPECT_EQ(g_timer_fired, 1u);
}

GUEST_TEST(vcpu1_still_running) {
    const u64 t0 = g_cpu1_ticks;
    for (u64 deadline = counter() + 5 * counter_frequency(); g_cpu1_ticks == t0 && counter() < deadline;) {
    }
    EXPECT_GT(g_cpu1_ticks, t0);
    EXPECT_EQ(g_cpu1_fp_bad, 0u);
    EXPECT_EQ(g_cpu1_pmu_bad, 0u);
    EXPECT_EQ(g_counter, kMagicCounter);
    g_stop = 1;
    dsb_sy();
    for (u64 deadline = counter() + counter_frequency() * 2; !cpu_finished(1) && counter() < deadline;) {
    }
    EXPECT_TRUE(cpu_finished(1));
}
