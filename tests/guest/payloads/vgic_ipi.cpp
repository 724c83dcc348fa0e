// vgic_ipi: SGIs between all vCPUs through every ICC_SGI1R_EL1 target form (IHI0069H 12.11.7): one target, several
// targets in one TargetList, Aff1 / RS naming CPUs that do not exist (nobody is interrupted), IRM = 1 (everybody but
// the sender); each CPU counts what it takes and must see exactly the expected SGIs. Then the Group 0 forms:
// ICC_SGI0R_EL1 and ICC_ASGI1R_EL1 set a Group 0 SGI pending but not a Group 1 one, and a Group 0 SGI to self is
// acknowledged through ICC_IAR0_EL1.
//
// Topology: QEMU virt (and the hypervisor) number 4 CPUs Aff0 = 0..3, Aff1 = 0, so SGIs with Aff1 != 0 or RS != 0
// can only be checked for "nobody receives it" here.
//
// guest-tests: smp=4 mem=512M append="expect_cpus=4" hv_append="vcpus=4" expect=pass timeout=120
#include "tests/guest/runtime/guest.hpp"

using namespace rt;

namespace {

constexpr u32 kCpus = 4;
constexpr u32 kSgiOne = 1, kSgiList = 2, kSgiBroadcast = 3, kSgiNobody = 4;
constexpr u32 kSgiG0 = 8, kSgiG1 = 9, kSgiG0Self = 10;

enum Op : u32 { kNone = 0, kSgi1r = 1, kExit = 99 };

struct Mailbox {
    volatile u32 op;
    volatile u64 value;
    volatile u32 ready;  // the CPU's GIC is initialised and it is polling
};

Mailbox g_mail[kCpus];
volatile u32 g_count[kCpus][16];  // [receiving CPU][SGI]
volatile u32 g_stray = 0;
u64 g_mpidr[kCpus];
u32 g_ncpus = 0;

u32 self_index() { return static_cast<u32>(RT_READ_SYSREG(mpidr_el1) & 0xff) % kCpus; }

void count_sgi(u32 intid, void*) {
    if (intid < 16)
        __atomic_fetch_add(&g_count[self_index()][intid], 1u, __ATOMIC_SEQ_CST);
    else
        __atomic_fetch_add(&g_stray, 1u, __ATOMIC_SEQ_CST);
}

void enable_sgis_here() {
    constexpr u32 kSgis[] = {kSgiOne, kSgiList, kSgiBroadcast, kSgiNobody};
    for (u32 s : kSgis) {
        (void)gic::set_handler(s, count_sgi);
        gic::enable(s);
    }
}

void secondary(u32, void*) {
    u32 me = self_index();
    if (!gic::init_cpu()) return;
    enable_sgis_here();
    g_mail[me].ready = 1;
    dsb_sy();
    u64 deadline = counter() + counter_frequency() * 100;
    irq_enable();
    while (counter() < deadline) {
        u32 op = g_mail[me].op;
        if (op == kExit) break;
        if (op == kSgi1r) {
            gic::write_sgi1r(g_mail[me].value);
            dsb_sy();
            g_mail[me].op = kNone;
        }
    }
    irq_disable();
}

// Runs `value` through ICC_SGI1R_EL1 on CPU `from` (0 = here).
void send_from(u32 from, u64 value) {
    if (from == self_index()) {
        gic::write_sgi1r(value);
        return;
    }
    g_mail[from].value = value;
    dsb_sy();
    g_mail[from].op = kSgi1r;
    u64 deadline = counter() + counter_frequency();
    while (g_mail[from].op != kNone && counter() < deadline) {
    }
}

void reset_counts() {
    for (u32 c = 0; c < kCpus; ++c)
        for (u32 s = 0; s < 16; ++s) g_count[c][s] = 0;
    dsb_sy();
}

// Waits (IRQs on) until every CPU has at least want[c] of `sgi`, then 20 ms more for stray extras; checks equality.
bool expect_counts(u32 sgi, const u32 (&want)[kCpus], const char* what, u32 from) {
    u64 hz = counter_frequency();
    u64 deadline = counter() + hz / 2;
    irq_enable();
    for (;;) {
        bool all = true;
        for (u32 c = 0; c < g_ncpus; ++c) all = all && g_count[c][sgi] >= want[c];
        if (all || counter() >= deadline) break;
    }
    u64 settle = counter() + hz / 50;
    while (counter() < settle) {
    }
    irq_disable();
    bool ok = true;
    for (u32 c = 0; c < g_ncpus; ++c) {
        if (g_count[c][sgi] != want[c]) {
            printf("  %s from CPU%u: CPU%u took SGI %u %u times, expected %u\n", what, from, c, sgi, g_count[c][sgi],
                   want[c]);
            ok = false;
        }
    }
    return ok;
}

}  // namespace

GUEST_TEST(start_all_cpus) {
    ASSERT_TRUE(gic::init());
    g_ncpus = dt_cpu_mpidrs(g_mpidr, kCpus);
    ASSERT_EQ(g_ncpus, bootarg_u64("expect_cpus", 0));
    ASSERT_EQ(g_ncpus, kCpus);
    for (u32 i = 0; i < g_ncpus; ++i) {
        EXPECT_EQ(g_mpidr[i] & 0xff'00ff'ff00ull, 0u);  // Aff3 = Aff2 = Aff1 = 0 (see the header)
        EXPECT_EQ(g_mpidr[i] & 0xff, i);
    }
    enable_sgis_here();
    g_mail[0].ready = 1;
    for (u32 i = 1; i < g_ncpus; ++i) EXPECT_EQ(start_cpu(i, g_mpidr[i], secondary, nullptr), psci::kPsciSuccess);
    u64 deadline = counter() + counter_frequency() * 2;
    bool all = false;
    while (!all && counter() < deadline) {
        all = true;
        for (u32 i = 0; i < g_ncpus; ++i) all = all && g_mail[i].ready;
    }
    ASSERT_TRUE(all);
    for (u32 i = 0; i < g_ncpus; ++i) EXPECT_NE(gic::rd_base_of(g_mpidr[i]), 0u);
}

GUEST_TEST(sgi_single_target_every_pair) {
    ASSERT_TRUE(g_ncpus == kCpus);
    u32 bad = 0;
    for (u32 from = 0; from < g_ncpus; ++from) {
        for (u32 to = 0; to < g_ncpus; ++to) {
            reset_counts();
            send_from(from, gic::sgi_value(kSgiOne, 0, 0, 0, 0, 1u << to, false));
            u32 want[kCpus] = {};
            want[to] = 1;
            if (!expect_counts(kSgiOne, want, "single target", from)) ++bad;
        }
    }
    EXPECT_EQ(bad, 0u);
}

GUEST_TEST(sgi_target_list_several) {
    ASSERT_TRUE(g_ncpus == kCpus);
    // Every sender, two lists each: all four CPUs (itself included), and the three others.
    for (u32 from = 0; from < g_ncpus; ++from) {
        const u32 lists[] = {0xfu, 0xfu & ~(1u << from)};
        for (u32 list : lists) {
            reset_counts();
            send_from(from, gic::sgi_value(kSgiList, 0, 0, 0, 0, list, false));
            u32 want[kCpus] = {};
            for (u32 c = 0; c < kCpus; ++c) want[c] = (list >> c) & 1;
            EXPECT_TRUE(expect_counts(kSgiList, want, "target list", from));
        }
    }
}

GUEST_TEST(sgi_list_bits_beyond_cpus_ignored) {
    ASSERT_TRUE(g_ncpus == kCpus);
    // TargetList bits for Aff0 = 4..15 name no CPU: only CPU1 (bit 1) takes it.
    reset_counts();
    send_from(2, gic::sgi_value(kSgiList, 0, 0, 0, 0, 0xfff2u, false));
    u32 want[kCpus] = {0, 1, 0, 0};
    EXPECT_TRUE(expect_counts(kSgiList, want, "list with absent CPUs", 2));
}

GUEST_TEST(sgi_aff1_nonzero_reaches_nobody) {
    ASSERT_TRUE(g_ncpus == kCpus);
    printf("  note: every CPU has Aff1 = 0 (QEMU virt puts 16 CPUs per cluster); Aff1 = 1 must reach nobody\n");
    u32 want[kCpus] = {};
    for (u32 from = 0; from < g_ncpus; ++from) {
        reset_counts();
        send_from(from, gic::sgi_value(kSgiNobody, 0, 0, 1, 0, 0xf, false));
        EXPECT_TRUE(expect_counts(kSgiNobody, want, "Aff1 = 1", from));
    }
    reset_counts();
    send_from(1, gic::sgi_value(kSgiNobody, 0, 1, 0, 0, 0xf, false));  // Aff2 = 1
    EXPECT_TRUE(expect_counts(kSgiNobody, want, "Aff2 = 1", 1));
}

GUEST_TEST(sgi_range_selector) {
    ASSERT_TRUE(g_ncpus == kCpus);
    // RS = n selects Aff0 16n..16n+15 (IHI0069H 12.11.7): no such CPU here, so nobody may take it. That only holds
    // where range selectors are supported (GICD_TYPER.RSS / ICC_CTLR_EL1.RSS = 1, the vGIC); with RSS = 0 RS is
    // RES0 and a GIC may treat it as 0 (QEMU 7.2 does), so then only RS = 0 is checked.
    u64 cpu_rss = (RT_READ_SYSREG(icc_ctlr_el1) >> 18) & 1;
    u32 dist_rss = (mmio_read32(gic::gicd_base() + 0x4) >> 26) & 1;
    printf("  ICC_CTLR_EL1.RSS = %llu, GICD_TYPER.RSS = %u\n", static_cast<unsigned long long>(cpu_rss), dist_rss);
    if (under_hypervisor()) EXPECT_EQ(dist_rss, 1u);  // docs/vgic.md: RSS = 1
    if (cpu_rss || dist_rss) {
        u32 nobody[kCpus] = {};
        constexpr u32 kRs[] = {1u, 2u, 15u};
        for (u32 rs : kRs) {
            reset_counts();
            send_from(3, gic::sgi_value(kSgiNobody, 0, 0, 0, rs, 0xf, false));
            EXPECT_TRUE(expect_counts(kSgiNobody, nobody, "RS != 0", 3));
        }
    } else {
        printf("  note: RSS = 0, RS != 0 not checked\n");
    }
    reset_counts();
    send_from(3, gic::sgi_value(kSgiNobody, 0, 0, 0, 0, 0xf, false));
    u32 all[kCpus] = {1, 1, 1, 1};
    EXPECT_TRUE(expect_counts(kSgiNobody, all, "RS = 0", 3));
}

GUEST_TEST(sgi_irm_broadcast_all_but_self) {
    ASSERT_TRUE(g_ncpus == kCpus);
    for (u32 from = 0; from < g_ncpus; ++from) {
        reset_counts();
        // IRM = 1: every PE but the sender; TargetList/Aff/RS are ignored (filled with garbage on purpose).
        send_from(from, gic::sgi_value(kSgiBroadcast, 0, 0, 7, 3, 0x1234, true));
        u32 want[kCpus] = {1, 1, 1, 1};
        want[from] = 0;
        EXPECT_TRUE(expect_counts(kSgiBroadcast, want, "IRM = 1", from));
    }
    EXPECT_EQ(g_stray, 0u);
    EXPECT_EQ(gic::unhandled_count(), 0u);
}

// The exit vector takes an ICC_SGI1R_EL1 write from x0-x18/x30 without saving x19-x29 (hv_fast_sgi1r: they stay in
// the CPU across the C code) and one from x19-x29 through the full save (hv_fast_exit): both forms must reach their
// target, and x19-x29 must come back unchanged either way (to another CPU the trap resumes at once, to self it goes
// through the run loop). x29 is the frame pointer: the asm keeps it in `regs[11]` meanwhile.
namespace {
// MSR ICC_SGI1R_EL1 with x19..x29 = 19..29 (x20 = `value` when `from_x20`), then x19..x29 into regs[0..10].
void sgi1r_with_marked_registers(u64 value, bool from_x20, u64 (&regs)[12]) {
    u64* r = regs;
    if (from_x20) {
        asm volatile(
            "str x29, [%[r], #88]\n mov x19, #19\n mov x20, %[v]\n mov x21, #21\n mov x22, #22\n mov x23, #23\n"
            "mov x24, #24\n mov x25, #25\n mov x26, #26\n mov x27, #27\n mov x28, #28\n mov x29, #29\n"
            "msr icc_sgi1r_el1, x20\n isb\n mov x20, #20\n"
            "stp x19, x20, [%[r]]\n stp x21, x22, [%[r], #16]\n stp x23, x24, [%[r], #32]\n"
            "stp x25, x26, [%[r], #48]\n stp x27, x28, [%[r], #64]\n str x29, [%[r], #80]\n ldr x29, [%[r], #88]"
            :
            : [v] "r"(value), [r] "r"(r)
            : "x19", "x20", "x21", "x22", "x23", "x24", "x25", "x26", "x27", "x28", "memory");
    } else {
        asm volatile(
            "str x29, [%[r], #88]\n mov x19, #19\n mov x20, #20\n mov x21, #21\n mov x22, #22\n mov x23, #23\n"
            "mov x24, #24\n mov x25, #25\n mov x26, #26\n mov x27, #27\n mov x28, #28\n mov x29, #29\n"
            "msr icc_sgi1r_el1, %[v]\n isb\n"
            "stp x19, x20, [%[r]]\n stp x21, x22, [%[r], #16]\n stp x23, x24, [%[r], #32]\n"
            "stp x25, x26, [%[r], #48]\n stp x27, x28, [%[r], #64]\n str x29, [%[r], #80]\n ldr x29, [%[r], #88]"
            :
            : [v] "r"(value), [r] "r"(r)
            : "x19", "x20", "x21", "x22", "x23", "x24", "x25", "x26", "x27", "x28", "memory");
    }
}
}  // namespace

GUEST_TEST(sgi1r_register_forms_keep_x19_x29) {
    ASSERT_TRUE(g_ncpus == kCpus);
    u32 bad = 0;
    for (u32 to = 0; to < 2; ++to) {  // CPU 1 (resumed at once), then self (the run loop)
        const u32 target = to == 0 ? 1u : self_index();
        for (int from_x20 = 0; from_x20 < 2; ++from_x20) {
            reset_counts();
            u64 regs[12] = {};
            sgi1r_with_marked_registers(gic::sgi_value(kSgiOne, 0, 0, 0, 0, 1u << target, false), from_x20 != 0, regs);
            for (u32 i = 0; i < 11; ++i) {
                if (regs[i] != 19 + i) {
                    printf("  SGI1R from %s to CPU%u: x%u = %llu after the trap\n", from_x20 ? "x20" : "a low register",
                           target, 19 + i, static_cast<unsigned long long>(regs[i]));
                    ++bad;
                }
            }
            u32 want[kCpus] = {};
            want[target] = 1;
            if (!expect_counts(kSgiOne, want, from_x20 ? "SGI1R from x20" : "SGI1R from a low register", 0)) ++bad;
        }
    }
    EXPECT_EQ(bad, 0u);
}

GUEST_TEST(sgi0r_and_asgi1r_group_rules) {
    ASSERT_TRUE(g_ncpus == kCpus);
    // On CPU1's redistributor (written from here): SGI 8 Group 0, SGI 9 Group 1, both disabled so that nothing is
    // taken and the pending bits stay visible in GICR_ISPENDR0.
    u64 rd1 = gic::rd_base_of(g_mpidr[1]);
    ASSERT_NE(rd1, 0u);
    constexpr u64 kSgiBase = 0x1'0000, kIgroupr0 = 0x80, kIcenabler0 = 0x180, kIcpendr0 = 0x280;
    mmio_write32(rd1 + kSgiBase + kIcenabler0, (1u << kSgiG0) | (1u << kSgiG1));
    u32 grp = mmio_read32(rd1 + kSgiBase + kIgroupr0);
    mmio_write32(rd1 + kSgiBase + kIgroupr0, (grp & ~(1u << kSgiG0)) | (1u << kSgiG1));
    gic::set_group_enable(0, true);
    auto clear = [&] { mmio_write32(rd1 + kSgiBase + kIcpendr0, (1u << kSgiG0) | (1u << kSgiG1)); };
    auto settle = [] { delay_us(2000); };
    clear();
    settle();
    EXPECT_FALSE(gic::is_pending_on(rd1, kSgiG0));
    EXPECT_FALSE(gic::is_pending_on(rd1, kSgiG1));

    // ICC_SGI0R_EL1 generates Group 0 SGIs: the Group 0 one is forwarded, the Group 1 one is not (IHI0069H 12.11,
    // SGI forwarding rules with GICD_CTLR.DS = 1).
    gic::write_sgi0r(gic::sgi_value(kSgiG0, 0, 0, 0, 0, 1u << 1, false));
    gic::write_sgi0r(gic::sgi_value(kSgiG1, 0, 0, 0, 0, 1u << 1, false));
    settle();
    EXPECT_TRUE(gic::is_pending_on(rd1, kSgiG0));
    EXPECT_FALSE(gic::is_pending_on(rd1, kSgiG1));
    clear();

    // ICC_ASGI1R_EL1 (the "other Security state's" Group 1): with one Security state it does not reach a Group 1
    // SGI; a Group 0 SGI is forwarded (QEMU and KVM agree on this part).
    gic::write_asgi1r(gic::sgi_value(kSgiG1, 0, 0, 0, 0, 1u << 1, false));
    settle();
    EXPECT_FALSE(gic::is_pending_on(rd1, kSgiG1));
    gic::write_asgi1r(gic::sgi_value(kSgiG0, 0, 0, 0, 0, 1u << 1, false));
    settle();
    EXPECT_TRUE(gic::is_pending_on(rd1, kSgiG0));
    clear();

    // ICC_SGI1R_EL1 reaches the Group 1 SGI.
    gic::write_sgi1r(gic::sgi_value(kSgiG1, 0, 0, 0, 0, 1u << 1, false));
    settle();
    EXPECT_TRUE(gic::is_pending_on(rd1, kSgiG1));
    clear();
    settle();
    EXPECT_FALSE(gic::is_pending_on(rd1, kSgiG0));
    EXPECT_FALSE(gic::is_pending_on(rd1, kSgiG1));
    mmio_write32(rd1 + kSgiBase + kIgroupr0, grp);
}

GUEST_TEST(group0_sgi_to_self_through_iar0) {
    ASSERT_TRUE(gic::initialised());
    // A Group 0 SGI to self with FIQs masked (PSTATE.F stays set): ICC_IAR0_EL1 returns it, ICC_IAR1_EL1 does not.
    gic::set_group(kSgiG0Self, 0);
    gic::set_group_enable(0, true);
    gic::enable(kSgiG0Self, 0x80);
    RT_WRITE_SYSREG(icc_igrpen0_el1, 1);
    isb();
    gic::write_sgi0r(gic::sgi_value(kSgiG0Self, 0, 0, 0, 0, 1u << self_index(), false));
    u32 got = gic::kSpurious;
    u64 deadline = counter() + counter_frequency() / 10;
    while (counter() < deadline) {
        got = gic::ack0();
        if (got != gic::kSpurious) break;
    }
    EXPECT_EQ(got, kSgiG0Self);
    if (got < gic::kSpurious) gic::eoi0(got);
    EXPECT_FALSE(gic::is_pending(kSgiG0Self));
    EXPECT_FALSE(gic::is_active(kSgiG0Self));
    RT_WRITE_SYSREG(icc_igrpen0_el1, 0);
    isb();
    gic::disable(kSgiG0Self);
    gic::set_group(kSgiG0Self, 1);
}

GUEST_TEST(stop_secondaries) {
    for (u32 i = 1; i < g_ncpus; ++i) g_mail[i].op = kExit;
    dsb_sy();
    u64 deadline = counter() + counter_frequency();
    bool all = false;
    while (!all && counter() < deadline) {
        all = true;
        for (u32 i = 1; i < g_ncpus; ++i) all = all && cpu_finished(i);
    }
    EXPECT_TRUE(all);
    EXPECT_EQ(g_stray, 0u);
}
