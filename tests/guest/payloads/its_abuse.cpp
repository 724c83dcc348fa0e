// its_abuse: a guest that misuses the virtual ITS -- maps DeviceIDs/EventIDs that are not its own (passed-through
// requester IDs, which the hypervisor mirrors on the physical ITS, and huge EventIDs), floods the command queue with
// thousands of valid and garbage commands across many CWRITER wraparounds -- and checks the hypervisor survives and a
// normal mapping (DeviceID 0 through GITS_TRANSLATER from the CPU) still delivers an LPI afterwards.
// The ITS driver is the runtime's (tests/guest/runtime/its.hpp).
//
// guest-tests: smp=1 mem=512M append="" hv_append="vcpus=1" expect=pass timeout=120
#include "tests/guest/runtime/guest.hpp"
#include "tests/guest/runtime/its.hpp"

using namespace rt;

namespace {

constexpr u64 kQueueBytes = 16 * 1024;  // 4 pages: 512 commands
alignas(65536) u8 g_pending[65536];     // LPI pending table (64 KiB aligned)
alignas(4096) u8 g_prop[8192];          // LPI properties for INTIDs 8192..16383
alignas(65536) u8 g_queue[kQueueBytes];
alignas(65536) u8 g_devices[65536];  // flat device table
alignas(65536) u8 g_collections[65536];
alignas(256) u8 g_itt[4][8192];  // ITTs

its::Its g_its;
bool g_its_ready = false;
volatile u32 g_lpi_hits = 0;
volatile u32 g_last_lpi = 0;
u32 g_rng = 12345;

u32 rnd() {
    g_rng = g_rng * 1103515245u + 12345u;
    return g_rng;
}

void lpi_irq(u32 intid, void*) {
    g_last_lpi = intid;
    g_lpi_hits = g_lpi_hits + 1;
}

using its::Cmd;
using its::discard;
using its::inv;
using its::mapc;
using its::mapd;
using its::mapti;
using its::movi;
using its::sync;

u64 creadr() { return g_its.creadr(); }
bool put(const Cmd& c, bool kick = true) { return g_its.put(c, kick); }
bool drained() { return g_its.drained(); }

bool wait_lpi(u32 want) {
    u64 deadline = counter() + counter_frequency() / 10;
    irq_enable();
    while (g_lpi_hits < want && counter() < deadline) {
    }
    irq_disable();
    return g_lpi_hits >= want;
}

// The normal path: DeviceID 0, EventID `ev` -> LPI `lpi` on collection 0, then a CPU write to GITS_TRANSLATER.
bool deliver_through_translater(u32 ev, u32 lpi) {
    its::set_lpi_config(g_prop, lpi, true);
    if (!put(mapd(0, reinterpret_cast<u64>(g_itt[0]), 8, true)) || !put(mapc(0, 0, true)) ||
        !put(mapti(0, ev, lpi, 0)) || !put(inv(0, ev)) || !put(sync(0)) || !drained())
        return false;
    u32 before = g_lpi_hits;
    g_its.signal(ev);
    return wait_lpi(before + 1) && g_last_lpi == lpi;
}

}  // namespace

GUEST_TEST(its_setup) {
    ASSERT_TRUE(gic::init());
    u64 base = 0, size = 0;
    ASSERT_EQ(its::dt_find_all(&base, &size, 1), 1u);
    // Redistributor LPIs: PROPBASER (IDbits 14: INTIDs < 16384), PENDBASER, EnableLPIs (IHI0069H 12.11).
    its::enable_lpis(gic::rd_base(), g_prop, 14, g_pending);
    ASSERT_TRUE(
        g_its.init(base, {g_queue, kQueueBytes, g_devices, sizeof g_devices, g_collections, sizeof g_collections}));
    printf("  ITS at 0x%llx, TYPER 0x%llx\n", static_cast<unsigned long long>(base),
           static_cast<unsigned long long>(g_its.typer()));
    EXPECT_EQ(g_its.ctlr() & 1, 1u);
    g_its_ready = true;
    for (u32 i = 8192; i < 8192 + 64; ++i) ASSERT_TRUE(gic::set_handler(i, lpi_irq));
    irq_disable();
}

GUEST_TEST(normal_mapping_delivers) {
    ASSERT_TRUE(g_its_ready);
    EXPECT_TRUE(deliver_through_translater(3, 8200));
}

GUEST_TEST(foreign_device_ids_and_events) {
    ASSERT_TRUE(g_its_ready);
    // Requester IDs of the host bus (passed-through range): the hypervisor mirrors these on the physical ITS.
    for (u32 dev = 0x08; dev < 0x108; dev += 8) {
        EXPECT_TRUE(put(mapd(dev, reinterpret_cast<u64>(g_itt[1 + dev % 3]), 12, true), false));
        for (u32 ev = 0; ev < 40; ++ev) EXPECT_TRUE(put(mapti(dev, ev * 7, 8192 + (ev % 64), 0), false));
        EXPECT_TRUE(put(movi(dev, 0, 0)));
    }
    // Events beyond any reasonable MSI-X table, DeviceIDs beyond the table, LPIs out of range.
    EXPECT_TRUE(put(mapti(0x10, 4000, 8201, 0)));
    EXPECT_TRUE(put(mapd(0xfffff, reinterpret_cast<u64>(g_itt[1]), 30, true)));
    EXPECT_TRUE(put(mapti(0x10, 1, 5, 0)));
    EXPECT_TRUE(put(mapti(0x10, 2, 0xffffff, 0)));
    EXPECT_TRUE(put(sync(0)));
    EXPECT_TRUE(drained());
    EXPECT_EQ(creadr() & 1, 0u);  // not stalled
    // Unmap half of them again (DISCARD, MAPD V=0).
    for (u32 dev = 0x08; dev < 0x108; dev += 16) {
        EXPECT_TRUE(put(discard(dev, 0), false));
        EXPECT_TRUE(put(mapd(dev, 0, 1, false)));
    }
    EXPECT_TRUE(drained());
}

GUEST_TEST(command_flood_with_garbage_and_wraparound) {
    ASSERT_TRUE(g_its_ready);
    u32 wraps = 0;
    u64 last = g_its.cwriter();
    for (u32 i = 0; i < 6000; ++i) {
        Cmd c;
        switch (rnd() % 6) {
            case 0:
                c = mapti(0x08 + (rnd() % 64), rnd() % 300, 8192 + rnd() % 4096, rnd() % 4);
                break;
            case 1:
                c = discard(rnd() % 0x200, rnd() % 300);
                break;
            case 2:
                c = mapd(rnd() % 0x200, reinterpret_cast<u64>(g_itt[1 + rnd() % 3]), 1 + rnd() % 12, rnd() & 1);
                break;
            case 3:
                c = movi(rnd() % 0x200, rnd() % 300, rnd() % 8);
                break;
            default:
                c = Cmd{{u64{rnd()} << 32 | rnd(), u64{rnd()} << 32 | rnd(), u64{rnd()} << 32 | rnd(), rnd()}};
                break;
        }
        if (!put(c, (i % 7) == 0)) {
            EXPECT_TRUE(false);
            break;
        }
        if (g_its.cwriter() < last) ++wraps;
        last = g_its.cwriter();
    }
    g_its.kick();
    EXPECT_TRUE(drained());
    EXPECT_GE(wraps, 10u);
    printf("  6000 commands, %u CWRITER wraparounds, CREADR 0x%llx\n", wraps,
           static_cast<unsigned long long>(creadr()));
    // A CWRITER beyond the queue is ignored; reading registers still works.
    mmio_write64(g_its.base() + its::kCwriter, kQueueBytes + 0x1000);
    EXPECT_EQ(g_its.ctlr() & 1, 1u);
    g_its.kick();
}

GUEST_TEST(normal_mapping_still_delivers_afterwards) {
    ASSERT_TRUE(g_its_ready);
    EXPECT_TRUE(deliver_through_translater(5, 8210));
    // And again after a disable / re-enable of the ITS.
    g_its.set_enabled(false);
    g_its.set_enabled(true);
    EXPECT_TRUE(deliver_through_translater(6, 8211));
}

// docs/isolation.md: tables pointed at the hypervisor's own memory (its image at 0x40200000, below guest RAM) are
// refused or ignored -- the ITS never reads commands from there, the redistributor never takes LPI properties from
// there nor writes pending bits there -- and the hypervisor keeps working. Each step has its control: the same
// register pointed at guest RAM does work, so the path the attack uses is live.
GUEST_TEST(tables_in_hypervisor_memory_are_refused) {
    REQUIRE_HYPERVISOR();
    ASSERT_TRUE(g_its_ready);
    constexpr u64 kHyp = 0x40200000;
    const u64 base = g_its.base();
    // 1. Command queue in hypervisor memory: nothing is read from it, the queue stalls (CREADR.Stalled).
    g_its.set_enabled(false);
    mmio_write64(base + its::kCbaser, (u64{1} << 63) | kHyp);  // Valid, one 4 KiB page
    g_its.set_enabled(true);
    mmio_write64(base + its::kCwriter, 4 * 32);
    EXPECT_EQ(g_its.creadr() & 1, 1u);  // stalled at the first command
    EXPECT_EQ(g_its.creadr() & ~u64{1}, 0u);
    // Control: the queue back in guest RAM runs commands and delivers.
    ASSERT_TRUE(
        g_its.init(base, {g_queue, kQueueBytes, g_devices, sizeof g_devices, g_collections, sizeof g_collections}));
    EXPECT_TRUE(deliver_through_translater(7, 8212));

    // 2. LPI property and pending tables in hypervisor memory: the properties read as "disabled" (the LPI is not
    // delivered), and clearing EnableLPIs (which writes pending bits back to PENDBASER) writes nothing there.
    const u64 rd = gic::rd_base();
    mmio_write32(rd, mmio_read32(rd) & ~1u);  // EnableLPIs = 0 (GICR_CTLR.CES = 1 here)
    mmio_write64(rd + 0x70, kHyp | 13);       // PROPBASER: IDbits 14
    mmio_write64(rd + 0x78, kHyp + 0x10000);  // PENDBASER
    mmio_write32(rd, mmio_read32(rd) | 1);
    const u32 before = g_lpi_hits;
    g_its.signal(7);  // LPI 8212: pending, but its property (unreadable) says disabled
    EXPECT_FALSE(wait_lpi(before + 1));
    mmio_write32(rd, mmio_read32(rd) & ~1u);  // writes the pending LPI back: refused (outside guest RAM)
    // Control: the tables back in guest RAM, a mapped LPI comes through again.
    its::set_lpi_config(g_prop, 8212, false);
    its::enable_lpis(rd, g_prop, 14, g_pending);
    EXPECT_TRUE(deliver_through_translater(8, 8213));
    // 3. The device and collection tables in hypervisor memory: the model keeps its mappings itself and never
    // writes them during operation (only SAVE_TABLES, a host operation, would: refused there too).
    g_its.set_enabled(false);
    const u64 pa_mask = ((u64{1} << 48) - 1) & ~u64{0xfff};
    mmio_write64(base + its::kBaser0, (mmio_read64(base + its::kBaser0) & ~pa_mask) | kHyp);
    g_its.set_enabled(true);
    EXPECT_EQ(g_its.ctlr() & 1, 1u);  // the enable took: nothing about BASER0 is read at enable
    ASSERT_TRUE(
        g_its.init(base, {g_queue, kQueueBytes, g_devices, sizeof g_devices, g_collections, sizeof g_collections}));
    EXPECT_TRUE(deliver_through_translater(9, 8214));
}
