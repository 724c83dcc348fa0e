// its_multi: a VM with two virtual ITSes (hypervisor option vits=2). The guest finds both msi-controller nodes in its
// DT, programs each with its own command queue and tables (in the payload's RAM), maps DeviceID 0 / EventID 0 to a
// different LPI on each, with the same ICID naming a different redistributor on each ITS (CPU0 on ITS A, CPU1 on
// ITS B), triggers each through its own GITS_TRANSLATER and checks that exactly the right LPI arrives, exactly once,
// on exactly the right CPU. Then commands on one ITS (DISCARD, MOVI, MAPD V=0, disable) must not change what the
// other one does, and neither queue moves when the other is written.
//
// The LPI configuration is written before the mappings, so every MAPTI is followed by an INV (IHI0069H 5.3.9:
// the redistributor may cache the property byte).
//
// guest-tests: smp=2 mem=512M append="expect_its=2" hv_append="vcpus=2 vits=2" expect=pass timeout=120
// guest-tests: variant=vits2
// guest-tests: variant=vits4 append="expect_its=4" hv_append="vcpus=2 vits=4"
#include "tests/guest/runtime/guest.hpp"
#include "tests/guest/runtime/its.hpp"

using namespace rt;

namespace {

constexpr u32 kCpus = 2;
constexpr u32 kMaxIts = 4;
constexpr u32 kIdBits = 14;  // LPIs 8192..16383
constexpr u64 kQueueBytes = 16 * 1024;

// The LPIs used (each gets a handler; counts are per receiving CPU).
constexpr u32 kLpiA = 8200;   // ITS A, DeviceID 0 / EventID 0
constexpr u32 kLpiB = 8300;   // ITS B, DeviceID 0 / EventID 0
constexpr u32 kLpiA2 = 8201;  // ITS A, re-mapped after the DISCARD
constexpr u32 kLpiB1 = 8301;  // ITS B, DeviceID 0 / EventID 1
constexpr u32 kLpis[] = {kLpiA, kLpiB, kLpiA2, kLpiB1};
constexpr u32 kNumLpis = sizeof(kLpis) / sizeof(kLpis[0]);

struct ItsMemory {
    alignas(65536) u8 queue[kQueueBytes];
    alignas(65536) u8 devices[65536];
    alignas(65536) u8 collections[65536];
    alignas(256) u8 itt[4096];
};

alignas(65536) u8 g_pending[kCpus][65536];  // one pending table per redistributor
alignas(4096) u8 g_prop[(1u << kIdBits) - 8192];
ItsMemory g_mem[2];
its::Its g_its[2];
bool g_ready = false;

u64 g_mpidr[kCpus];
u64 g_rd[kCpus];
volatile u32 g_cpu1_ready = 0;
volatile u32 g_cpu1_exit = 0;
volatile u32 g_count[kCpus][kNumLpis];
volatile u32 g_stray = 0;

u32 self_index() { return static_cast<u32>(RT_READ_SYSREG(mpidr_el1) & 0xff) % kCpus; }

void count_lpi(u32 intid, void*) {
    for (u32 i = 0; i < kNumLpis; ++i) {
        if (kLpis[i] == intid) {
            __atomic_fetch_add(&g_count[self_index()][i], 1u, __ATOMIC_SEQ_CST);
            return;
        }
    }
    __atomic_fetch_add(&g_stray, 1u, __ATOMIC_SEQ_CST);
}

u32 lpi_slot(u32 lpi) {
    for (u32 i = 0; i < kNumLpis; ++i)
        if (kLpis[i] == lpi) return i;
    return 0;
}

void reset_counts() {
    for (u32 c = 0; c < kCpus; ++c)
        for (u32 i = 0; i < kNumLpis; ++i) g_count[c][i] = 0;
    g_stray = 0;
    dsb_sy();
}

// CPU1: takes interrupts until told to stop (bounded).
void secondary(u32, void*) {
    if (!gic::init_cpu()) return;
    g_cpu1_ready = 1;
    dsb_sy();
    u64 deadline = counter() + counter_frequency() * 100;
    irq_enable();
    while (!g_cpu1_exit && counter() < deadline) {
    }
    irq_disable();
}

// Waits (IRQs on here) until `cpu` has taken `lpi` (if lpi != 0), then 20 ms more for anything extra; then checks
// that exactly that one interrupt arrived, once, on that CPU, and nothing else anywhere.
bool expect_only(u32 cpu, u32 lpi, const char* what) {
    const u64 hz = counter_frequency();
    u64 deadline = counter() + hz / 2;
    irq_enable();
    while (lpi != 0 && g_count[cpu][lpi_slot(lpi)] == 0 && counter() < deadline) {
    }
    u64 settle = counter() + hz / 50;
    while (counter() < settle) {
    }
    irq_disable();
    bool ok = g_stray == 0;
    for (u32 c = 0; c < kCpus; ++c) {
        for (u32 i = 0; i < kNumLpis; ++i) {
            const u32 want = (lpi != 0 && c == cpu && kLpis[i] == lpi) ? 1 : 0;
            if (g_count[c][i] != want) {
                printf("  %s: CPU%u took LPI %u %u times, expected %u\n", what, c, kLpis[i], g_count[c][i], want);
                ok = false;
            }
        }
    }
    if (g_stray != 0) printf("  %s: %u stray interrupts\n", what, g_stray);
    return ok;
}

// Puts commands on one ITS, ends with SYNC, waits for the queue to drain; checks the other ITS's queue did not move.
bool run(u32 which, const its::Cmd* cmds, u32 n) {
    its::Its& me = g_its[which];
    const its::Its& other = g_its[which ^ 1];
    const u64 other_creadr = other.creadr(), other_cwriter = mmio_read64(other.base() + its::kCwriter);
    for (u32 i = 0; i < n; ++i)
        if (!me.put(cmds[i], false)) return false;
    if (!me.put(its::sync(me.rdbase(g_rd[0])))) return false;
    if (!me.drained() || me.stalled()) return false;
    if (other.creadr() != other_creadr || mmio_read64(other.base() + its::kCwriter) != other_cwriter) {
        printf("  commands on ITS %c moved the queue of ITS %c\n", 'A' + which, 'A' + (which ^ 1));
        return false;
    }
    return true;
}

}  // namespace

GUEST_TEST(finds_every_its_in_the_dt) {
    ASSERT_TRUE(gic::init());
    u64 base[kMaxIts] = {}, size[kMaxIts] = {};
    const u32 n = its::dt_find_all(base, size, kMaxIts);
    printf("  %u ITS node(s):", n);
    for (u32 i = 0; i < n; ++i) printf(" 0x%llx", static_cast<unsigned long long>(base[i]));
    printf("\n");
    ASSERT_GE(n, 1u);
    // Each node: a distinct msi-controller under the GIC node, its own 128 KiB frame, its own phandle.
    const fdt::Reader& f = dt();
    const i32 gic_node = f.find_compatible("arm,gic-v3");
    u32 phandles[kMaxIts] = {};
    u32 i = 0;
    for (i32 node = f.find_compatible("arm,gic-v3-its"); node >= 0 && i < n;
         node = f.find_compatible("arm,gic-v3-its", node), ++i) {
        EXPECT_EQ(f.parent(node), gic_node);
        EXPECT_TRUE(f.has_prop(node, "msi-controller"));
        phandles[i] = f.phandle(node);
        EXPECT_NE(phandles[i], 0u);
        EXPECT_EQ(size[i], 0x20000u);
        EXPECT_EQ(base[i] % 0x10000, 0u);
    }
    for (u32 a = 0; a < n; ++a) {
        for (u32 b = a + 1; b < n; ++b) {
            EXPECT_NE(phandles[a], phandles[b]);
            EXPECT_TRUE(base[a] + size[a] <= base[b] || base[b] + size[b] <= base[a]);  // frames do not overlap
        }
    }
    // Both respond as GICv3 ITSes (PIDR2.ArchRev 3, GITS_TYPER.Physical).
    for (u32 k = 0; k < n; ++k) {
        EXPECT_EQ((mmio_read32(base[k] + its::kPidr2) >> 4) & 0xf, 3u);
        EXPECT_EQ(mmio_read64(base[k] + its::kTyper) & 1, 1u);
    }
    if (!under_hypervisor()) {
        printf("  plain QEMU (nohv) has one ITS: the two-ITS tests are skipped\n");
        return;
    }
    ASSERT_EQ(n, bootarg_u64("expect_its", 2));
    // Program two: ITS A = the first node (the host ITS address), ITS B = the last one (with vits=4 the fourth).
    const u64 use[2] = {base[0], base[n - 1]};
    for (u32 k = 0; k < 2; ++k) {
        ItsMemory& m = g_mem[k];
        ASSERT_TRUE(g_its[k].init(
            use[k], {m.queue, kQueueBytes, m.devices, sizeof m.devices, m.collections, sizeof m.collections}));
    }
    printf("  ITS A at 0x%llx, ITS B at 0x%llx\n", static_cast<unsigned long long>(use[0]),
           static_cast<unsigned long long>(use[1]));
    g_ready = true;
}

GUEST_TEST(second_cpu_and_lpis_on_both_redistributors) {
    if (!g_ready) GUEST_SKIP("needs two ITSes");
    ASSERT_EQ(dt_cpu_mpidrs(g_mpidr, kCpus), kCpus);
    ASSERT_EQ(start_cpu(1, g_mpidr[1], secondary, nullptr), psci::kPsciSuccess);
    u64 deadline = counter() + counter_frequency() * 2;
    while (!g_cpu1_ready && counter() < deadline) {
    }
    ASSERT_EQ(g_cpu1_ready, 1u);
    for (u32 c = 0; c < kCpus; ++c) {
        g_rd[c] = gic::rd_base_of(g_mpidr[c]);
        ASSERT_NE(g_rd[c], 0u);
        its::enable_lpis(g_rd[c], g_prop, kIdBits, g_pending[c]);  // one property table, a pending table each
        EXPECT_EQ(mmio_read32(g_rd[c]) & 1, 1u);                   // GICR_CTLR.EnableLPIs
    }
    for (u32 lpi : kLpis) {
        ASSERT_TRUE(gic::set_handler(lpi, count_lpi));
        its::set_lpi_config(g_prop, lpi, true);
    }
    // The two redistributors have different RDbase values on both ITSes.
    EXPECT_NE(g_its[0].rdbase(g_rd[0]), g_its[0].rdbase(g_rd[1]));
    EXPECT_EQ(g_its[0].rdbase(g_rd[1]), g_its[1].rdbase(g_rd[1]));
}

GUEST_TEST(same_ids_map_independently_on_each_its) {
    if (!g_ready) GUEST_SKIP("needs two ITSes");
    // Same DeviceID, EventID and ICID on both; ICID 0 is CPU0 on A and CPU1 on B.
    const its::Cmd a[] = {its::mapd(0, reinterpret_cast<u64>(g_mem[0].itt), 4, true),
                          its::mapc(0, g_its[0].rdbase(g_rd[0]), true), its::mapti(0, 0, kLpiA, 0), its::inv(0, 0)};
    const its::Cmd b[] = {its::mapd(0, reinterpret_cast<u64>(g_mem[1].itt), 4, true),
                          its::mapc(0, g_its[1].rdbase(g_rd[1]), true),
                          its::mapti(0, 0, kLpiB, 0),
                          its::mapti(0, 1, kLpiB1, 0),
                          its::inv(0, 0),
                          its::inv(0, 1)};
    EXPECT_TRUE(run(0, a, 4));
    EXPECT_TRUE(run(1, b, 6));
    EXPECT_EQ(g_its[0].creadr(), g_its[0].cwriter());
    EXPECT_EQ(g_its[1].creadr(), g_its[1].cwriter());
}

GUEST_TEST(each_translater_delivers_only_its_own_lpi) {
    if (!g_ready) GUEST_SKIP("needs two ITSes");
    for (u32 round = 0; round < 3; ++round) {
        reset_counts();
        g_its[0].signal(0);
        EXPECT_TRUE(expect_only(0, kLpiA, "ITS A event 0"));
        reset_counts();
        g_its[1].signal(0);
        EXPECT_TRUE(expect_only(1, kLpiB, "ITS B event 0"));
    }
    reset_counts();
    g_its[1].signal(1);
    EXPECT_TRUE(expect_only(1, kLpiB1, "ITS B event 1"));
    // ITS A has no EventID 1: nothing at all.
    reset_counts();
    g_its[0].signal(1);
    EXPECT_TRUE(expect_only(0, 0, "ITS A event 1 (unmapped)"));
}

GUEST_TEST(discard_on_one_its_leaves_the_other_alone) {
    if (!g_ready) GUEST_SKIP("needs two ITSes");
    const its::Cmd d[] = {its::discard(0, 0)};
    EXPECT_TRUE(run(0, d, 1));
    reset_counts();
    g_its[0].signal(0);
    EXPECT_TRUE(expect_only(0, 0, "ITS A after DISCARD"));
    reset_counts();
    g_its[1].signal(0);
    EXPECT_TRUE(expect_only(1, kLpiB, "ITS B after DISCARD on A"));
    // Re-map on A to another LPI; B's mapping of the same IDs is unchanged.
    const its::Cmd m[] = {its::mapti(0, 0, kLpiA2, 0), its::inv(0, 0)};
    EXPECT_TRUE(run(0, m, 2));
    reset_counts();
    g_its[0].signal(0);
    EXPECT_TRUE(expect_only(0, kLpiA2, "ITS A re-mapped"));
    reset_counts();
    g_its[1].signal(0);
    EXPECT_TRUE(expect_only(1, kLpiB, "ITS B still"));
}

GUEST_TEST(movi_on_one_its_moves_only_its_event) {
    if (!g_ready) GUEST_SKIP("needs two ITSes");
    // B: collection 1 -> CPU0, event 0 moved there. A's collection 1 does not exist; A's event keeps CPU0.
    const its::Cmd b[] = {its::mapc(1, g_its[1].rdbase(g_rd[0]), true), its::movi(0, 0, 1)};
    EXPECT_TRUE(run(1, b, 2));
    reset_counts();
    g_its[1].signal(0);
    EXPECT_TRUE(expect_only(0, kLpiB, "ITS B event 0 after MOVI to CPU0"));
    reset_counts();
    g_its[1].signal(1);
    EXPECT_TRUE(expect_only(1, kLpiB1, "ITS B event 1 (not moved)"));
    reset_counts();
    g_its[0].signal(0);
    EXPECT_TRUE(expect_only(0, kLpiA2, "ITS A unchanged"));
    // A: move its event to CPU1 through its own ICID 1; B's event 0 stays on CPU0.
    const its::Cmd a[] = {its::mapc(1, g_its[0].rdbase(g_rd[1]), true), its::movi(0, 0, 1)};
    EXPECT_TRUE(run(0, a, 2));
    reset_counts();
    g_its[0].signal(0);
    EXPECT_TRUE(expect_only(1, kLpiA2, "ITS A event 0 after MOVI to CPU1"));
    reset_counts();
    g_its[1].signal(0);
    EXPECT_TRUE(expect_only(0, kLpiB, "ITS B event 0 still on CPU0"));
}

GUEST_TEST(disable_and_unmap_on_one_its_leave_the_other_alone) {
    if (!g_ready) GUEST_SKIP("needs two ITSes");
    // A disabled ITS translates nothing (IHI0069H 12.19.4 GITS_CTLR.Enabled); the other keeps working.
    g_its[1].set_enabled(false);
    EXPECT_EQ(g_its[1].ctlr() & 1, 0u);
    EXPECT_EQ(g_its[0].ctlr() & 1, 1u);
    reset_counts();
    g_its[1].signal(0);
    EXPECT_TRUE(expect_only(0, 0, "ITS B disabled"));
    reset_counts();
    g_its[0].signal(0);
    EXPECT_TRUE(expect_only(1, kLpiA2, "ITS A while B is disabled"));
    g_its[1].set_enabled(true);
    reset_counts();
    g_its[1].signal(0);
    EXPECT_TRUE(expect_only(0, kLpiB, "ITS B enabled again"));
    // MAPD V=0 on A drops A's device 0 only.
    const its::Cmd u[] = {its::mapd(0, 0, 1, false)};
    EXPECT_TRUE(run(0, u, 1));
    reset_counts();
    g_its[0].signal(0);
    EXPECT_TRUE(expect_only(0, 0, "ITS A device unmapped"));
    reset_counts();
    g_its[1].signal(1);
    EXPECT_TRUE(expect_only(1, kLpiB1, "ITS B after MAPD V=0 on A"));
}

GUEST_TEST(stop_second_cpu) {
    if (!g_ready) GUEST_SKIP("needs two ITSes");
    g_cpu1_exit = 1;
    dsb_sy();
    u64 deadline = counter() + counter_frequency() * 2;
    while (!cpu_finished(1) && counter() < deadline) {
    }
    EXPECT_TRUE(cpu_finished(1));
}
