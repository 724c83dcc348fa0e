// gic_storm: an adversarial guest (docs/isolation.md). Four vCPUs at once write random values to every 4-byte offset
// of the register blocks of every GIC frame (and every 64th word of the reserved rest; `sparse=1`: every word) -- the
// distributor, the RD_base and SGI_base frames of their own redistributor and of the next CPU's (`others=3`: every
// redistributor), both ITS frames -- then
// the ITS gets thousands of random commands. Afterwards the GIC is scrubbed and every vCPU must still take an SGI from
// CPU 0 and answer with one (the round trip), and the ITS must still deliver an LPI.
//
// What it guards: no trap keeps a pCPU in EL2 for ever, and nothing the storm leaves behind livelocks a vCPU (the
// first version of this guest hung one vCPU in an endless maintenance-interrupt loop: its LRs held only active and
// pending+active interrupts while a pending-only one waited outside, so ICH_HCR_EL2.NPIE fired at every entry).
// Control (so the test cannot pass vacuously): the storm really changed state -- GICD_IPRIORITYR and GICR
// IPRIORITYR words read back what was written (masked to the 5 implemented priority bits) and the number of
// write/read-back matches is asserted.
//
// Protected registers, as in vgic_mmio_fuzz (they would break plain QEMU's GIC, not the test): GICD_CTLR is not
// written; GICR_CTLR never gets EnableLPIs.
//
// guest-tests: smp=4 mem=512M append="expect_cpus=4" hv_append="vcpus=4" expect=pass timeout=600
#include "tests/guest/runtime/guest.hpp"
#include "tests/guest/runtime/its.hpp"

using namespace rt;

namespace {

constexpr u32 kCpus = 4;
constexpr u64 kFrame = 0x1'0000;
constexpr u64 kSgiFrame = 0x1'0000;
constexpr u32 kPingSgi = 5, kPongSgi = 6;

u64 g_mpidr[kCpus];
u64 g_rd[kCpus];
u64 g_its_base = 0;
u32 g_ncpus = 0;

volatile u32 g_phase = 0;       // 1: storm, 2: scrub + answer pings, 3: exit
volatile u32 g_stormed[kCpus];  // CPU i finished its storm
volatile u32 g_ready[kCpus];    // CPU i scrubbed its GIC and waits for pings
volatile u32 g_pings[kCpus];    // SGIs taken by CPU i
volatile u32 g_pongs[kCpus];    // answers CPU 0 took from CPU i
volatile u32 g_aborts = 0;      // external aborts taken during the storm (skipped)
volatile u32 g_matches = 0;     // control: priority writes that read back

u32 self_index() { return static_cast<u32>(RT_READ_SYSREG(mpidr_el1) & 0xff) % kCpus; }

u64 xorshift(u64& x) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return x;
}

// A data abort on a GIC access (RAZ/WI with an abort is allowed) is skipped, from any CPU.
bool skip_abort(ExceptionFrame& f) {
    if (EsrEc::get(f.esr) != ec::kDataAbortSameEl) return false;
    __atomic_fetch_add(&g_aborts, 1u, __ATOMIC_RELAXED);
    f.elr += 4;
    return true;
}

void store32(u64 addr, u32 v) { asm volatile("str %w1, [%0]" ::"r"(addr), "r"(v) : "memory"); }
u32 load32(u64 addr) {
    u32 v = 0;
    asm volatile("ldr %w0, [%1]" : "+r"(v) : "r"(addr) : "memory");
    return v;
}

// Register blocks of each frame kind, written at every 4-byte offset; the rest of the frame (reserved, RAZ/WI) at
// every `sparse`-th word. kind: 0 GICD, 1 GICR RD_base, 2 GICR SGI_base, 3 ITS control frame, 4 ITS translater.
struct Block {
    u64 lo, hi;
};
constexpr Block kBlocks[5][3] = {
    {{0x0000, 0x1000}, {0x6000, 0x7000}, {0xffd0, 0x10000}},
    {{0x0000, 0x0100}, {0xffd0, 0x10000}, {0, 0}},
    {{0x0000, 0x1000}, {0xffd0, 0x10000}, {0, 0}},
    {{0x0000, 0x0200}, {0xffd0, 0x10000}, {0, 0}},
    {{0x0000, 0x0100}, {0, 0}, {0, 0}},
};
u64 g_sparse = 64;
u32 g_frames_of = 2;  // redistributors each CPU storms: its own and the next CPU's (so every GICR gets two)

bool dense(u32 kind, u64 off) {
    for (const Block& b : kBlocks[kind])
        if (off >= b.lo && off < b.hi) return true;
    return false;
}

void storm_frame(u64 base, u32 kind, u64& rng) {
    for (u64 off = 0; off < kFrame; off += 4) {
        u32 v = static_cast<u32>(xorshift(rng));
        if (!dense(kind, off) && (off / 4) % g_sparse != 0) continue;
        if (kind == 0 && off == 0x0000) continue;  // GICD_CTLR
        if (kind == 1 && off == 0x0000) v &= ~1u;  // GICR_CTLR: never EnableLPIs
        store32(base + off, v);
        // Control: IPRIORITYR (GICD 0x400.., GICR SGI_base 0x400..0x41f) keeps the implemented priority bits.
        const bool prio = (kind == 0 && off >= 0x420 && off < 0x7f8) || (kind == 2 && off >= 0x400 && off < 0x420);
        if (prio && (load32(base + off) & 0xf8f8f8f8u) == (v & 0xf8f8f8f8u))
            __atomic_fetch_add(&g_matches, 1u, __ATOMIC_RELAXED);
    }
}

void storm(u32 me) {
    u64 rng = 0x9e3779b97f4a7c15ull * (me + 1);
    storm_frame(gic::gicd_base(), 0, rng);
    if (me == 0) printf("  CPU 0: GICD done\n");
    for (u32 k = 0; k < g_ncpus && k < g_frames_of; ++k) {
        const u32 c = (me + k) % g_ncpus;  // its own frames, then the next CPU's (`others=N`: N more)
        storm_frame(g_rd[c], 1, rng);
        storm_frame(g_rd[c] + kSgiFrame, 2, rng);
        if (me == 0) printf("  CPU 0: GICR of CPU %u done\n", c);
    }
    if (g_its_base != 0) {
        storm_frame(g_its_base, 3, rng);
        storm_frame(g_its_base + kFrame, 4, rng);
    }
}

// Back to a known state: this CPU's SGIs/PPIs disabled, not pending, not active, Group 1, priority 0xa0.
// (gic::rd_base() names CPU 0's redistributor until init_cpu() ran on a secondary: the caller passes its own.)
void scrub_own_bank(u64 rd) {
    const u64 sgi = rd + kSgiFrame;
    store32(sgi + 0x180, ~0u);
    store32(sgi + 0x280, ~0u);
    store32(sgi + 0x380, ~0u);
    store32(sgi + 0x080, ~0u);
    for (u32 b = 0; b < 8; ++b) store32(sgi + 0x400 + 4 * b, 0xa0a0a0a0u);
    store32(rd, 0);
    RT_WRITE_SYSREG(cntv_ctl_el0, 0);
    RT_WRITE_SYSREG(cntp_ctl_el0, 0);
    isb();
}

void on_ping(u32, void*) {
    const u32 me = self_index();
    g_pings[me] = g_pings[me] + 1;
    gic::send_sgi(kPongSgi, g_mpidr[0]);
}

void secondary(u32 slot, void*) {
    const u32 me = self_index();
    (void)slot;
    while (g_phase < 1) {
    }
    storm(me);
    g_stormed[me] = 1;
    while (g_phase < 2) {
    }
    scrub_own_bank(g_rd[me]);
    if (!gic::init_cpu()) return;
    gic::enable(kPingSgi);
    g_ready[me] = 1;
    irq_enable();
    while (g_phase < 3) asm volatile("wfi");
    irq_disable();
}

volatile u32 g_pong_from_any = 0;
void on_pong(u32, void*) { g_pong_from_any = g_pong_from_any + 1; }

u32 g_rng32 = 777;
u32 rnd() {
    g_rng32 = g_rng32 * 1103515245u + 12345u;
    return g_rng32 >> 1 ^ g_rng32 << 17;
}

constexpr u64 kQueueBytes = 16 * 1024;
alignas(65536) u8 g_pending[65536];
alignas(4096) u8 g_prop[8192];
alignas(65536) u8 g_queue[kQueueBytes];
alignas(65536) u8 g_devices[65536];
alignas(65536) u8 g_collections[65536];
alignas(256) u8 g_itt[2][8192];
its::Its g_its;
volatile u32 g_lpi_hits = 0;
void on_lpi(u32, void*) { g_lpi_hits = g_lpi_hits + 1; }

bool wait_all(volatile u32* flags, u64 ms) {
    const u64 deadline = counter() + ms_ticks(ms);
    for (;;) {
        bool all = true;
        for (u32 i = 1; i < g_ncpus; ++i) all = all && flags[i] != 0;
        if (all) return true;
        if (counter() > deadline) return false;
    }
}

}  // namespace

GUEST_TEST(setup) {
    ASSERT_TRUE(gic::init());
    g_ncpus = dt_cpu_mpidrs(g_mpidr, kCpus);
    ASSERT_EQ(g_ncpus, static_cast<u32>(bootarg_u64("expect_cpus", kCpus)));
    for (u32 i = 0; i < g_ncpus; ++i) {
        g_rd[i] = gic::rd_base_of(g_mpidr[i]);
        ASSERT_NE(g_rd[i], 0u);
    }
    u64 size = 0;
    (void)its::dt_find_all(&g_its_base, &size, 1);
    set_sync_handler(skip_abort);
    g_sparse = bootarg_u64("sparse", 64);
    g_frames_of = 1 + static_cast<u32>(bootarg_u64("others", 1));
    if (g_sparse == 0) g_sparse = 1;
    for (u32 i = 1; i < g_ncpus; ++i) ASSERT_EQ(start_cpu(i, g_mpidr[i], secondary, nullptr), 0);
}

GUEST_TEST(storm_every_frame_from_every_cpu) {
    const u64 t0 = counter();
    g_phase = 1;
    storm(0);
    EXPECT_TRUE(wait_all(g_stormed, 240000));
    const u64 ms = (counter() - t0) * 1000 / counter_frequency();
    printf("  %u CPUs stormed %u frames each in %llu ms: %u aborts, %u priority writes read back\n", g_ncpus,
           1 + 2 * (g_frames_of < g_ncpus ? g_frames_of : g_ncpus) + (g_its_base != 0 ? 2 : 0),
           static_cast<unsigned long long>(ms), g_aborts, g_matches);
    // Control: the writes reached the GIC (GICD: the IPRIORITYR words of the implemented SPIs, 56 with 224 SPIs; GICR:
    // 8 per frame), each read back right after the write. Some lose a race with another CPU's write to the same word.
    EXPECT_GT(g_matches, g_ncpus * 30);
}

GUEST_TEST(sgi_round_trip_on_every_cpu_after_the_storm) {
    scrub_own_bank(g_rd[0]);
    for (u32 n = 1; n < 32; ++n) {
        const u64 d = gic::gicd_base();
        store32(d + 0x180 + 4 * n, ~0u);
        store32(d + 0x280 + 4 * n, ~0u);
        store32(d + 0x380 + 4 * n, ~0u);
    }
    ASSERT_TRUE(gic::init());
    ASSERT_TRUE(gic::set_handler(kPingSgi, on_ping));
    ASSERT_TRUE(gic::set_handler(kPongSgi, on_pong));
    gic::enable(kPongSgi);
    g_phase = 2;
    ASSERT_TRUE(wait_all(g_ready, 20000));
    for (u32 i = 1; i < g_ncpus; ++i) {
        const u32 before = g_pong_from_any;
        gic::send_sgi(kPingSgi, g_mpidr[i]);
        if (!EXPECT_TRUE(run_irqs_until([&] { return g_pong_from_any > before; }, 2000))) {
            const u64 sgi = g_rd[i] + kSgiFrame;
            printf("  CPU %u: WAKER %#x CTLR %#x IGROUPR0 %#x ISENABLER0 %#x ISPENDR0 %#x ISACTIVER0 %#x PRIO1 %#x\n",
                   i, load32(g_rd[i] + 0x14), load32(g_rd[i]), load32(sgi + 0x80), load32(sgi + 0x100),
                   load32(sgi + 0x200), load32(sgi + 0x300), load32(sgi + 0x404));
        }
        EXPECT_EQ(g_pings[i], 1u);
        irq_disable();
    }
    // And CPU 0 itself.
    gic::enable(kPingSgi);
    const u32 before = g_pong_from_any;
    gic::send_sgi_self(kPingSgi);
    EXPECT_TRUE(run_irqs_until([&] { return g_pong_from_any > before; }, 2000));
    irq_disable();
}

GUEST_TEST(its_random_commands_then_an_lpi) {
    if (g_its_base == 0) GUEST_SKIP("no ITS");
    its::enable_lpis(gic::rd_base(), g_prop, 14, g_pending);
    ASSERT_TRUE(g_its.init(g_its_base,
                           {g_queue, kQueueBytes, g_devices, sizeof g_devices, g_collections, sizeof g_collections}));
    for (u32 i = 0; i < 4000; ++i) {
        its::Cmd c;
        switch (rnd() % 5) {
            case 0:
                c = its::mapti(rnd() % 64, rnd() % 300, 8192 + rnd() % 8192, rnd() % 4);
                break;
            case 1:
                c = its::mapd(rnd() % 64, reinterpret_cast<u64>(g_itt[1]), 1 + rnd() % 8, rnd() & 1);
                break;
            case 2:
                c = its::invall(rnd() % 8);
                break;
            case 3:
                c = its::mapc(rnd() % 8, rnd() % 8, rnd() & 1);
                break;
            default:
                c = {{u64{rnd()} << 32 | rnd(), u64{rnd()} << 32 | rnd(), u64{rnd()} << 32 | rnd(), rnd()}};
                break;
        }
        if (!g_its.put(c, (i % 13) == 0)) {
            EXPECT_TRUE(false);
            break;
        }
    }
    g_its.kick();
    EXPECT_TRUE(g_its.drained());
    // The normal path still works: DeviceID 0 / EventID 7 -> LPI 8300 on this CPU.
    ASSERT_TRUE(gic::set_handler(8300, on_lpi));
    its::set_lpi_config(g_prop, 8300, true);
    ASSERT_TRUE(g_its.put(its::mapd(0, reinterpret_cast<u64>(g_itt[0]), 8, true)));
    ASSERT_TRUE(g_its.put(its::mapc(0, g_its.rdbase(gic::rd_base()), true)));
    ASSERT_TRUE(g_its.put(its::mapti(0, 7, 8300, 0)));
    ASSERT_TRUE(g_its.put(its::inv(0, 7)));
    ASSERT_TRUE(g_its.put(its::sync(g_its.rdbase(gic::rd_base()))));
    ASSERT_TRUE(g_its.drained());
    g_its.signal(7);
    EXPECT_TRUE(run_irqs_until([&] { return g_lpi_hits >= 1; }, 2000));
    irq_disable();
    EXPECT_EQ(g_lpi_hits, 1u);
    g_phase = 3;
    for (u32 i = 1; i < g_ncpus; ++i) gic::send_sgi(kPingSgi, g_mpidr[i]);  // out of their WFI
    for (u32 i = 1; i < g_ncpus; ++i) EXPECT_TRUE(wait_slot(cpu_finished, i, 5000));
}
