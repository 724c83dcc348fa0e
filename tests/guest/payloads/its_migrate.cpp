// its_migrate: a VM with live ITS mappings and pending LPIs is migrated to a new QEMU process and still delivers
// every LPI exactly once (docs/snapshot.md "Tests"; issue 10: the ITS tables, collections and LPI pending state
// carried across, in KVM's order).
//
// Two vCPUs, two devices (DeviceID 0, reached through GITS_TRANSLATER too, and DeviceID 0x23), three collections
// (ICID 0 -> CPU0, ICID 1 -> CPU1, ICID 2 unmapped at the migration while an event still names it). Just before the
// migration five LPIs are made pending that cannot be delivered yet: three whose property byte is disabled (two on
// CPU0, one on CPU1; one of them signalled twice), one for CPU0 and one for CPU1 while each CPU has its interrupts
// masked (PSTATE.I, so the hypervisor holds them in list registers at the save). Then vCPU 0 calls the vendor
// hypercall 0xC6000041 (save for a migration): under `tools/run-guest --migratable` the VM is saved, QEMU powers off
// and run-guest resumes it in a new QEMU process, where the call returns 1. After the restore:
//   - the five pending LPIs arrive once they are enabled / unmasked, each exactly once, on the CPU it targets, and
//     nothing else arrives (the LPI pending tables and list-register state were carried);
//   - new INT commands and GITS_TRANSLATER writes through the restored mappings deliver each event's LPI once (the
//     device table, the ITTs and the collection table were restored; the command queue goes on at CWRITER);
//   - the event on the unmapped collection is still dropped until a MAPC maps it, then delivered once; a MOVI moves
//     an event to the other CPU;
//   - the ITS registers read back what they held before (CBASER, BASER0/1, CTLR) and the queue is empty.
// The payload detects the new process independently of the hypercall's answer: the physical counter restarts while
// the virtual counter continues (KVM's TIMER_CNT), so CNTPCT - CNTVCT changes.
//
// Guest bootargs: `expect_migration` -- the migration must happen (the call returns 1); without it the call answers
// NOT_SUPPORTED (-1, no snapshot disk) and the same checks run on the VM that stayed (variant `stay`: a control that
// the checks hold without a migration). `save_only` -- the plain save hypercall 0xC6000040 instead: under
// `run-guest --save FILE` the VM is kept as FILE and resumed by `--restore FILE` (tests/guest/snapshot-roundtrip
// check 7, which also corrupts the saved collection table and expects the restore to be refused).
//
// guest-tests: smp=2 mem=128M hv_append="vcpus=2" expect=pass timeout=150
// guest-tests: variant=migrate append="expect_migration" run_guest="--migratable" console="run-guest: migration 1:"
// guest-tests: variant=stay append=""
// On a GICv4 host GIC (--gic 4) DeviceIDs 0 and 0x23 are in the passed-through range, so their events are vLPIs the
// physical GIC holds pending (INT is a physical INT): the save moves that pending state into the vGIC model
// (docs/msi-passthrough.md "Save/restore with vLPIs"), the restore maps them as vLPIs again.
// clang-format off
// guest-tests: variant=migrate_gicv4 append="expect_migration" run_guest="--migratable --gic 4" console="[1-9][0-9]* pending vLPI\(s\) moved into the vGIC model"
// guest-tests: variant=stay_gicv4 append="" run_guest="--gic 4"
// clang-format on
#include "tests/guest/runtime/guest.hpp"
#include "tests/guest/runtime/its.hpp"

using namespace rt;

namespace {

constexpr u32 kMigrateFid = 0xc600'0041;  // arch/aarch64/vm_snapshot.hpp kSnapshotMigrateFid
constexpr u32 kSaveFid = 0xc600'0040;     // kSnapshotSaveFid
constexpr u32 kCpus = 2;
constexpr u32 kIdBits = 14;  // LPIs 8192..16383
constexpr u64 kQueueBytes = 16 * 1024;
constexpr u32 kDevA = 0;     // DeviceID 0: GITS_TRANSLATER writes from a CPU carry it
constexpr u32 kDevB = 0x23;  // a second device with its own ITT

// One event: where it comes from, its LPI and the collection it is mapped to.
struct Event {
    u32 dev, ev, lpi, icid;
};
// 0..2: pending with their property byte disabled at the migration (2 targets CPU1); 3, 4: pending while CPU0 / CPU1
// has IRQs masked; 5: mapped, not pending at the migration; 6: on ICID 2, which is unmapped at the migration.
constexpr Event kEvents[] = {
    {kDevA, 0, 8200, 0}, {kDevA, 1, 8201, 0}, {kDevA, 2, 8202, 1}, {kDevB, 0, 8203, 0},
    {kDevB, 1, 8204, 1}, {kDevB, 2, 8205, 0}, {kDevB, 3, 8206, 2},
};
constexpr u32 kNumEvents = sizeof(kEvents) / sizeof(kEvents[0]);
constexpr u32 kDisabledPending[] = {0, 1, 2};
constexpr u32 kMaskedPending[] = {3, 4};
constexpr u32 kUnmappedCollectionEvent = 6;
constexpr u32 kIcidTarget[3] = {0, 1, 0};  // the CPU each ICID names while mapped

struct ItsMemory {
    alignas(65536) u8 queue[kQueueBytes];
    alignas(65536) u8 devices[65536];
    alignas(65536) u8 collections[65536];
    alignas(256) u8 itt_a[256];
    alignas(256) u8 itt_b[256];
};

alignas(65536) u8 g_pending[kCpus][65536];
alignas(4096) u8 g_prop[(1u << kIdBits) - 8192];
ItsMemory g_mem;
its::Its g_its;
bool g_ready = false;
u64 g_mpidr[kCpus];
u64 g_rd[kCpus];

volatile u32 g_cpu1_ready = 0;
volatile u32 g_cpu1_exit = 0;
volatile u32 g_cpu1_mask = 0;    // CPU1 keeps IRQs masked while set
volatile u32 g_cpu1_masked = 0;  // CPU1's answer: it has them masked now
volatile u32 g_count[kCpus][kNumEvents];
volatile u32 g_stray = 0;

// Registers before the migration, compared after it.
u64 g_cbaser, g_baser0, g_baser1;
bool g_migrated = false;
bool g_pending_armed = false;

u32 self_index() { return static_cast<u32>(RT_READ_SYSREG(mpidr_el1) & 0xff) % kCpus; }

void count_lpi(u32 intid, void*) {
    for (u32 i = 0; i < kNumEvents; ++i) {
        if (kEvents[i].lpi == intid) {
            __atomic_fetch_add(&g_count[self_index()][i], 1u, __ATOMIC_SEQ_CST);
            return;
        }
    }
    __atomic_fetch_add(&g_stray, 1u, __ATOMIC_SEQ_CST);
}

void reset_counts() {
    for (u32 c = 0; c < kCpus; ++c)
        for (u32 i = 0; i < kNumEvents; ++i) g_count[c][i] = 0;
    g_stray = 0;
    dsb_sy();
}

// CPU1: takes interrupts until told to stop; masks them while g_cpu1_mask is set (and says so).
void secondary(u32, void*) {
    if (!gic::init_cpu()) return;
    g_cpu1_ready = 1;
    dsb_sy();
    const u64 deadline = counter() + counter_frequency() * 300;
    while (!g_cpu1_exit && counter() < deadline) {
        if (g_cpu1_mask) {
            irq_disable();
            g_cpu1_masked = 1;
        } else {
            g_cpu1_masked = 0;
            irq_enable();
        }
    }
    irq_disable();
}

bool set_cpu1_mask(bool on) {
    g_cpu1_mask = on ? 1 : 0;
    dsb_sy();
    const u64 deadline = counter() + ms_ticks(2000);
    while (g_cpu1_masked != (on ? 1u : 0u) && counter() < deadline) {
    }
    return g_cpu1_masked == (on ? 1u : 0u);
}

// Commands, then SYNC, then wait for the queue to drain.
bool run(const its::Cmd* cmds, u32 n) {
    for (u32 i = 0; i < n; ++i)
        if (!g_its.put(cmds[i], false)) return false;
    if (!g_its.put(its::sync(g_its.rdbase(g_rd[0])))) return false;
    return g_its.drained() && !g_its.stalled();
}
bool run1(const its::Cmd& c) { return run(&c, 1); }

// With IRQs unmasked on CPU0 (CPU1 takes its own), waits until every event of `want` (a count per CPU and event)
// has arrived, then 50 ms more for anything extra; then the counts must equal `want` exactly and nothing stray may
// have arrived.
bool expect_counts(const u32 (&want)[kCpus][kNumEvents], const char* what) {
    const u64 deadline = counter() + ms_ticks(2000);
    auto complete = [&] {
        for (u32 c = 0; c < kCpus; ++c)
            for (u32 i = 0; i < kNumEvents; ++i)
                if (g_count[c][i] < want[c][i]) return false;
        return true;
    };
    irq_enable();
    while (!complete() && counter() < deadline) {
    }
    const u64 settle = counter() + ms_ticks(50);
    while (counter() < settle) {
    }
    irq_disable();
    bool ok = g_stray == 0;
    for (u32 c = 0; c < kCpus; ++c) {
        for (u32 i = 0; i < kNumEvents; ++i) {
            if (g_count[c][i] != want[c][i]) {
                printf("  %s: CPU%u took LPI %u (device %#x event %u) %u times, expected %u\n", what, c, kEvents[i].lpi,
                       kEvents[i].dev, kEvents[i].ev, g_count[c][i], want[c][i]);
                ok = false;
            }
        }
    }
    if (g_stray != 0) printf("  %s: %u stray interrupts\n", what, g_stray);
    return ok;
}

// `want` with one delivery of each listed event on the CPU its collection names (`target` overrides per event).
struct Want {
    u32 n[kCpus][kNumEvents] = {};
    void add(u32 event, u32 cpu) { n[cpu][event] += 1; }
};

void set_enabled_lpi(u32 event, bool on) {
    its::set_lpi_config(g_prop, kEvents[event].lpi, on);
    (void)run1(its::inv(kEvents[event].dev, kEvents[event].ev));
}

bool physical_virtual_offset_moved(u64 before) {
    isb();
    const u64 p = RT_READ_SYSREG(cntpct_el0);
    const u64 v = RT_READ_SYSREG(cntvct_el0);
    const i64 d = static_cast<i64>((p - v) - before);
    const i64 ms = static_cast<i64>(counter_frequency() / 1000);
    return d > ms || d < -ms;
}

}  // namespace

GUEST_TEST(its_and_two_cpus) {
    ASSERT_TRUE(gic::init());
    u64 base[1] = {}, size[1] = {};
    ASSERT_EQ(its::dt_find_all(base, size, 1), 1u);
    ASSERT_EQ(dt_cpu_mpidrs(g_mpidr, kCpus), kCpus);
    ASSERT_EQ(start_cpu(1, g_mpidr[1], secondary, nullptr), psci::kPsciSuccess);
    const u64 deadline = counter() + ms_ticks(2000);
    while (!g_cpu1_ready && counter() < deadline) {
    }
    ASSERT_EQ(g_cpu1_ready, 1u);
    for (u32 c = 0; c < kCpus; ++c) {
        g_rd[c] = gic::rd_base_of(g_mpidr[c]);
        ASSERT_NE(g_rd[c], 0u);
        its::enable_lpis(g_rd[c], g_prop, kIdBits, g_pending[c]);
    }
    for (const Event& e : kEvents) {
        ASSERT_TRUE(gic::set_handler(e.lpi, count_lpi));
        its::set_lpi_config(g_prop, e.lpi, true);
    }
    ASSERT_TRUE(g_its.init(base[0], {g_mem.queue, kQueueBytes, g_mem.devices, sizeof g_mem.devices, g_mem.collections,
                                     sizeof g_mem.collections}));
    g_ready = true;
}

GUEST_TEST(map_devices_collections_and_events) {
    if (!g_ready) GUEST_SKIP("no ITS");
    its::Cmd c[3 + 2 + kNumEvents * 2];
    u32 n = 0;
    c[n++] = its::mapd(kDevA, reinterpret_cast<u64>(g_mem.itt_a), 4, true);
    c[n++] = its::mapd(kDevB, reinterpret_cast<u64>(g_mem.itt_b), 4, true);
    for (u32 icid = 0; icid < 3; ++icid) c[n++] = its::mapc(icid, g_its.rdbase(g_rd[kIcidTarget[icid]]), true);
    for (const Event& e : kEvents) c[n++] = its::mapti(e.dev, e.ev, e.lpi, e.icid);
    for (const Event& e : kEvents) c[n++] = its::inv(e.dev, e.ev);
    ASSERT_TRUE(run(c, n));
    // Baseline: every event delivered once where its collection points (the expectations can fail).
    reset_counts();
    Want w;
    for (u32 i = 0; i < kNumEvents; ++i) {
        EXPECT_TRUE(run1(its::int_(kEvents[i].dev, kEvents[i].ev)));
        w.add(i, kIcidTarget[kEvents[i].icid]);
    }
    EXPECT_TRUE(expect_counts(w.n, "before the migration"));
    // ICID 2 unmapped while event 6 still names it (KVM's its-migrate-unmapped-collection): its INT is dropped.
    EXPECT_TRUE(run1(its::mapc(2, 0, false)));
    reset_counts();
    EXPECT_TRUE(run1(its::int_(kEvents[kUnmappedCollectionEvent].dev, kEvents[kUnmappedCollectionEvent].ev)));
    const Want none;
    EXPECT_TRUE(expect_counts(none.n, "event on the unmapped collection"));
}

GUEST_TEST(pending_lpis_survive_the_migration) {
    if (!g_ready) GUEST_SKIP("no ITS");
    const bool expect = bootarg_flag("expect_migration");
    reset_counts();
    // Disabled but pending: property Enable = 0 (+ INV), then INT (event 1 twice: one pending state).
    for (u32 i : kDisabledPending) set_enabled_lpi(i, false);
    for (u32 i : kDisabledPending) EXPECT_TRUE(run1(its::int_(kEvents[i].dev, kEvents[i].ev)));
    EXPECT_TRUE(run1(its::int_(kEvents[1].dev, kEvents[1].ev)));
    // Enabled, but the target CPU has IRQs masked (CPU0 runs this test with IRQs masked).
    ASSERT_TRUE(set_cpu1_mask(true));
    for (u32 i : kMaskedPending) EXPECT_TRUE(run1(its::int_(kEvents[i].dev, kEvents[i].ev)));
    delay_us(5000);
    bool nothing_yet = true;
    for (u32 c = 0; c < kCpus; ++c)
        for (u32 i = 0; i < kNumEvents; ++i) nothing_yet = nothing_yet && g_count[c][i] == 0;
    EXPECT_TRUE(nothing_yet && g_stray == 0);
    g_cbaser = mmio_read64(g_its.base() + its::kCbaser);
    g_baser0 = mmio_read64(g_its.base() + its::kBaser0);
    g_baser1 = mmio_read64(g_its.base() + its::kBaser0 + 8);
    g_pending_armed = true;

    isb();
    const u64 offset_before = RT_READ_SYSREG(cntpct_el0) - RT_READ_SYSREG(cntvct_el0);
    i64 r = -1;
    if (under_hypervisor()) {
        const u32 fid = bootarg_flag("save_only") ? kSaveFid : kMigrateFid;
        printf("  migrating (vendor hypercall %#x)\n", fid);
        r = hvc_call(fid).status();  // powers off here when saving; returns 1 in the new process
    }
    g_migrated = physical_virtual_offset_moved(offset_before);
    printf("  hypercall returned %lld; new QEMU process: %s\n", static_cast<long long>(r), g_migrated ? "yes" : "no");
    if (expect) {
        EXPECT_EQ(r, 1);
        EXPECT_TRUE(g_migrated);
    } else {
        EXPECT_EQ(r, -1);  // NOT_SUPPORTED: no snapshot disk
    }
    // Still nothing delivered: CPU0 and CPU1 have IRQs masked, three LPIs are disabled.
    for (u32 c = 0; c < kCpus; ++c)
        for (u32 i = 0; i < kNumEvents; ++i) EXPECT_EQ(g_count[c][i], 0u);
    // Now let them in: enable the three, unmask CPU1, then CPU0 (expect_counts): each exactly once.
    for (u32 i : kDisabledPending) set_enabled_lpi(i, true);
    ASSERT_TRUE(set_cpu1_mask(false));
    Want w;
    for (u32 i : kDisabledPending) w.add(i, kIcidTarget[kEvents[i].icid]);
    for (u32 i : kMaskedPending) w.add(i, kIcidTarget[kEvents[i].icid]);
    EXPECT_TRUE(expect_counts(w.n, "pending LPIs after the migration"));
}

GUEST_TEST(restored_mappings_translate_new_events) {
    if (!g_pending_armed) GUEST_SKIP("the migration test did not run");
    EXPECT_EQ(mmio_read64(g_its.base() + its::kCbaser), g_cbaser);
    EXPECT_EQ(mmio_read64(g_its.base() + its::kBaser0), g_baser0);
    EXPECT_EQ(mmio_read64(g_its.base() + its::kBaser0 + 8), g_baser1);
    EXPECT_EQ(g_its.ctlr() & 1, 1u);  // GITS_CTLR.Enabled
    EXPECT_EQ(g_its.creadr(), g_its.cwriter());
    // INT of every event through the command queue: once each, where it was mapped (event 6: dropped).
    reset_counts();
    Want w;
    for (u32 i = 0; i < kNumEvents; ++i) {
        EXPECT_TRUE(run1(its::int_(kEvents[i].dev, kEvents[i].ev)));
        if (i != kUnmappedCollectionEvent) w.add(i, kIcidTarget[kEvents[i].icid]);
    }
    EXPECT_TRUE(expect_counts(w.n, "INT after the migration"));
    // GITS_TRANSLATER (DeviceID 0) reaches device A's events.
    reset_counts();
    Want t;
    for (u32 i = 0; i < kNumEvents; ++i) {
        if (kEvents[i].dev != kDevA) continue;
        g_its.signal(kEvents[i].ev);
        t.add(i, kIcidTarget[kEvents[i].icid]);
    }
    EXPECT_TRUE(expect_counts(t.n, "GITS_TRANSLATER after the migration"));
}

GUEST_TEST(restored_collections_remap_and_move) {
    if (!g_pending_armed) GUEST_SKIP("the migration test did not run");
    // The unmapped collection restored as unmapped-but-referenced: mapping it to CPU1 makes event 6 deliverable.
    EXPECT_TRUE(run1(its::mapc(2, g_its.rdbase(g_rd[1]), true)));
    reset_counts();
    EXPECT_TRUE(run1(its::int_(kEvents[kUnmappedCollectionEvent].dev, kEvents[kUnmappedCollectionEvent].ev)));
    Want w6;
    w6.add(kUnmappedCollectionEvent, 1);
    EXPECT_TRUE(expect_counts(w6.n, "event 6 after MAPC of its collection"));
    // MOVI of event 0 (ICID 0, CPU0) to ICID 1 (CPU1).
    EXPECT_TRUE(run1(its::movi(kEvents[0].dev, kEvents[0].ev, 1)));
    reset_counts();
    EXPECT_TRUE(run1(its::int_(kEvents[0].dev, kEvents[0].ev)));
    Want w0;
    w0.add(0, 1);
    EXPECT_TRUE(expect_counts(w0.n, "event 0 after MOVI to CPU1"));
}

GUEST_TEST(stop_second_cpu) {
    if (!g_ready) GUEST_SKIP("no ITS");
    g_cpu1_exit = 1;
    dsb_sy();
    EXPECT_TRUE(wait_slot(cpu_finished, 1, 2000));
}
