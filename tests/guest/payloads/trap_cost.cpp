// trap_cost: the worst case (and mean) of each trap class a guest can cause, in instructions, for docs/isolation.md.
// Runs with `-icount shift=0`: QEMU advances the virtual clock by exactly 1 ns per instruction, so a CNTVCT delta
// around one trapping instruction is the number of instructions executed for it -- the hypervisor's at EL2 included
// -- with the counter's resolution (62.5 MHz: 16 instructions). Each class is measured over many repetitions with
// hostile inputs where they matter (a full ITS queue, INVALLs, random GICD/GICR offsets); output lines
// `TRAP <class> max <n> mean <n>`.
// The test asserts the bounds documented in docs/isolation.md (generous: 4x the measured values), so a change that
// makes a trap unbounded again fails here.
//
// guest-tests: smp=1 append="icount_shift=0" hv_append="vcpus=1" timeout=180 qemu="-icount shift=0"
#include "tests/guest/runtime/guest.hpp"
#include "tests/guest/runtime/its.hpp"

using namespace rt;

namespace {

u64 insns(u64 ticks) { return (ticks * 1'000'000'000ull / counter_frequency()) >> bootarg_u64("icount_shift", 0); }

struct Cost {
    u64 max = 0, total = 0, n = 0;
    void add(u64 ticks) {
        const u64 i = insns(ticks);
        max = i > max ? i : max;
        total += i;
        ++n;
    }
    u64 mean() const { return n != 0 ? total / n : 0; }
};

void report(const char* name, const Cost& c) {
    printf("TRAP %s max %llu mean %llu (n=%llu)\n", name, static_cast<unsigned long long>(c.max),
           static_cast<unsigned long long>(c.mean()), static_cast<unsigned long long>(c.n));
}

inline u64 now() {
    isb();
    const u64 t = counter();
    isb();
    return t;
}

template <typename F>
Cost measure(u32 n, F f) {
    Cost c;
    for (u32 i = 0; i < n; ++i) {
        const u64 t0 = now();
        f(i);
        c.add(now() - t0);
    }
    return c;
}

u64 g_rng = 0x1234567;
u64 rnd() {
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return g_rng;
}

bool skip_abort(ExceptionFrame& f) {
    if (EsrEc::get(f.esr) != ec::kDataAbortSameEl) return false;
    f.elr += 4;
    return true;
}

constexpr u64 kQueueBytes = 64 * 1024;  // 2048 commands
alignas(65536) u8 g_pending[65536];
alignas(65536) u8 g_prop[65536];
alignas(65536) u8 g_queue[kQueueBytes];
alignas(65536) u8 g_devices[65536];
alignas(65536) u8 g_collections[65536];
alignas(256) u8 g_itt[65536];
its::Its g_its;
u64 g_its_base = 0;

// Documented bounds (docs/isolation.md), in instructions.
constexpr u64 kBoundMmio = 20000;
constexpr u64 kBoundCwriter = 400000;
constexpr u64 kBoundInvall = 400000;
constexpr u64 kBoundCall = 20000;

}  // namespace

GUEST_TEST(setup) {
    ASSERT_TRUE(gic::init());
    set_sync_handler(skip_abort);
    u64 size = 0;
    ASSERT_EQ(its::dt_find_all(&g_its_base, &size, 1), 1u);
    its::enable_lpis(gic::rd_base(), g_prop, 16, g_pending);
    ASSERT_TRUE(g_its.init(g_its_base,
                           {g_queue, kQueueBytes, g_devices, sizeof g_devices, g_collections, sizeof g_collections}));
}

GUEST_TEST(mmio) {
    const u64 d = gic::gicd_base(), r = gic::rd_base();
    const Cost gicd_read = measure(500, [&](u32) { (void)mmio_read32(d + 0x4); });
    const Cost gicd_write = measure(500, [&](u32 i) { mmio_write32(d + 0x400 + 4 * (8 + i % 200), 0xa0a0a0a0u); });
    const Cost gicd_random = measure(500, [&](u32) {
        const u64 off = (rnd() % 0x1000) & ~u64{3};
        if (off != 0) mmio_write32(d + off, static_cast<u32>(rnd()));
    });
    const Cost gicr_write =
        measure(500, [&](u32 i) { mmio_write32(r + 0x10000 + 0x400 + 4 * (4 + i % 4), 0xa0a0a0a0u); });
    const Cost its_read = measure(500, [&](u32) { (void)mmio_read32(g_its_base + 0x8); });
    report("gicd_read", gicd_read);
    report("gicd_write", gicd_write);
    report("gicd_random_write", gicd_random);
    report("gicr_write", gicr_write);
    report("its_read", its_read);
    (void)gic::init();  // undo the random GICD writes
    const Cost* all[] = {&gicd_read, &gicd_write, &gicd_random, &gicr_write, &its_read};
    for (const Cost* c : all) EXPECT_LT(c->max, kBoundMmio);
}

GUEST_TEST(cwriter_with_a_full_queue) {
    // 2000 MAPTIs queued, then one CWRITER write: the trap runs one batch; each CREADR poll the next.
    ASSERT_TRUE(g_its.put(its::mapc(0, g_its.rdbase(gic::rd_base()), true)));
    ASSERT_TRUE(g_its.put(its::mapd(1, reinterpret_cast<u64>(g_itt), 12, true)));
    ASSERT_TRUE(g_its.drained());
    for (u32 e = 0; e < 2000; ++e) ASSERT_TRUE(g_its.put(its::mapti(1, e, 8192 + e, 0), false));
    Cost write, poll;
    u64 t0 = now();
    g_its.kick();
    write.add(now() - t0);
    for (u32 i = 0; i < 200 && (g_its.creadr() & ~u64{1}) != g_its.cwriter(); ++i) {
        t0 = now();
        (void)mmio_read64(g_its_base + its::kCreadr);
        poll.add(now() - t0);
    }
    report("its_cwriter_2000_mapti", write);
    report("its_creadr_poll_batch", poll);
    EXPECT_TRUE(g_its.drained());
    EXPECT_LT(write.max, kBoundCwriter);
    EXPECT_LT(poll.max, kBoundCwriter);
}

GUEST_TEST(invall_storm) {
    for (u32 i = 0; i < 8192; ++i) g_prop[i] = 0xa1;
    dsb_sy();
    for (u32 i = 0; i < 1000; ++i) ASSERT_TRUE(g_its.put(its::invall(0), false));
    Cost c;
    u64 t0 = now();
    g_its.kick();
    c.add(now() - t0);
    for (u32 i = 0; i < 400 && (g_its.creadr() & ~u64{1}) != g_its.cwriter(); ++i) {
        t0 = now();
        (void)mmio_read64(g_its_base + its::kCreadr);
        c.add(now() - t0);
    }
    report("its_invall_batch", c);
    EXPECT_TRUE(g_its.drained());
    EXPECT_LT(c.max, kBoundInvall);
    // GICR_INVALLR (one whole-table reload per trap).
    const Cost r = measure(50, [&](u32) { mmio_write64(gic::rd_base() + 0xb0, 0); });
    report("gicr_invallr", r);
    EXPECT_LT(r.max, kBoundInvall);
}

GUEST_TEST(calls_and_sgis) {
    constexpr u32 kSgi = 3;
    gic::disable(kSgi);
    const Cost sgi = measure(500, [&](u32) { gic::send_sgi_self(kSgi); });
    const Cost sgi_all = measure(500, [&](u32) { gic::write_sgi1r(gic::sgi_value(kSgi, 0, 0, 0, 0, 0, true)); });
    const Cost psci = measure(500, [&](u32) { (void)hvc_call(0x84000000); });              // PSCI_VERSION
    const Cost feat = measure(500, [&](u32) { (void)hvc_call(0x8400000a, 0xc4000003); });  // PSCI_FEATURES(CPU_ON)
    const Cost sdei = measure(500, [&](u32) { (void)hvc_call(0xc4000020); });              // SDEI_VERSION
    const Cost sdei_bad = measure(500, [&](u32) { (void)hvc_call(0xc4000022, rnd(), rnd(), rnd(), rnd()); });
    gic::clear_pending(kSgi);
    report("sgi_self", sgi);
    report("sgi_broadcast", sgi_all);
    report("hvc_psci_version", psci);
    report("hvc_psci_features", feat);
    report("hvc_sdei_version", sdei);
    report("hvc_sdei_register_garbage", sdei_bad);
    const Cost* all[] = {&sgi, &sgi_all, &psci, &feat, &sdei, &sdei_bad};
    for (const Cost* c : all) EXPECT_LT(c->max, kBoundCall);
}
