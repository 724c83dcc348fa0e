// its_page_size: GITS_BASER<n>.Page_Size of the virtual ITS is read-only 64 KiB (as KVM's ITS; docs/its.md). For
// BASER0 (devices) and BASER1 (collections): the reset value says 64 KiB, and writes of 4 KiB, 16 KiB, 64 KiB and the
// reserved 0b11 (64- and 32-bit) all read back 64 KiB with the rest of the value kept (address bits [15:12] are
// PA[51:48] with 64 KiB pages: RES0 here). Then the ITS must *use* 64 KiB pages:
//  - a flat device table written with Page_Size 4 KiB and Size 0 covers 8192 DeviceIDs (one 64 KiB page), not 512;
//  - a two-level device table (if Indirect sticks) with a 64 KiB level-1 page whose entries point at 64 KiB level-2
//    pages: DeviceID 8191 is backed by level-1 entry 0 and DeviceID 8192 by entry 1 (with 4 KiB pages they would be
//    entries 15 and 16); an event of a device behind an invalid level-1 entry is not mapped.
// "Mapped" is proven by delivery: an INT command on (DeviceID, EventID) makes its LPI pending only if the MAPD was
// accepted; DeviceID 0 is also triggered through GITS_TRANSLATER from the CPU.
//
// guest-tests: smp=1 mem=512M append="" hv_append="vcpus=1" expect=pass timeout=60
#include "tests/guest/runtime/guest.hpp"
#include "tests/guest/runtime/its.hpp"

using namespace rt;

namespace {

constexpr u64 k64K = 65536;
constexpr u64 kQueueBytes = 16 * 1024;
constexpr u32 kIdBits = 14;  // LPIs 8192..16383
constexpr u64 kPageSizeMask = u64{3} << 8;
constexpr u64 kValid = u64{1} << 63;
constexpr u64 kIndirect = u64{1} << 62;

alignas(65536) u8 g_pending[65536];
alignas(4096) u8 g_prop[(1u << kIdBits) - 8192];
alignas(65536) u8 g_queue[kQueueBytes];
alignas(65536) u8 g_devices[65536];  // flat table, or the level-1 table
alignas(65536) u8 g_l2[2][65536];    // level-2 device table pages
alignas(65536) u8 g_collections[65536];
alignas(256) u8 g_itt[4][4096];

u64 g_base = 0;
its::Its g_its;
bool g_ready = false;
volatile u32 g_hits = 0;
volatile u32 g_last = 0;

void lpi_irq(u32 intid, void*) {
    g_last = intid;
    g_hits = g_hits + 1;
}

u64 baser_reg(u32 n) { return g_base + its::kBaser0 + 8 * n; }
u64 read_baser(u32 n) { return mmio_read64(baser_reg(n)); }

// Waits (bounded) for the next LPI; true if it is `lpi`.
bool took(u32 lpi) {
    const u32 before = g_hits;
    const u64 deadline = counter() + counter_frequency() / 10;
    irq_enable();
    while (g_hits == before && counter() < deadline) {
    }
    const u64 settle = counter() + counter_frequency() / 100;
    while (counter() < settle) {
    }
    irq_disable();
    return g_hits == before + 1 && g_last == lpi;
}

// MAPD dev (ITT slot), MAPTI dev/0 -> lpi on collection 0, INV, SYNC; then INT dev/0 and expect the LPI iff `mapped`.
bool map_and_int(u32 dev, u32 slot, u32 lpi, bool mapped) {
    its::set_lpi_config(g_prop, lpi, true);
    if (!g_its.put(its::mapd(dev, reinterpret_cast<u64>(g_itt[slot]), 2, true), false) ||
        !g_its.put(its::mapti(dev, 0, lpi, 0), false) || !g_its.put(its::inv(dev, 0), false) ||
        !g_its.put(its::int_(dev, 0), false) || !g_its.put(its::sync(g_its.rdbase(gic::rd_base()))) || !g_its.drained())
        return false;
    const bool got = took(lpi);
    if (got != mapped)
        printf("  DeviceID %u: LPI %u %s\n", dev, lpi, got ? "delivered (should be unmapped)" : "missing");
    return got == mapped;
}

// Disable, program CBASER + both BASERs the way `devices_baser` says, enable, MAPC collection 0 -> this CPU.
bool bring_up(u64 devices_baser) {
    if (!g_its.init(g_base, {g_queue, kQueueBytes, g_devices, sizeof g_devices, g_collections, sizeof g_collections}))
        return false;
    g_its.set_enabled(false);
    for (u32 i = 0; i < sizeof g_devices; ++i) g_devices[i] = 0;
    for (u32 p = 0; p < 2; ++p)
        for (u32 i = 0; i < sizeof g_l2[p]; ++i) g_l2[p][i] = 0;
    dsb_sy();
    mmio_write64(baser_reg(0), 0);  // Valid 1 -> 0 drops the device mappings of an earlier layout
    mmio_write64(baser_reg(0), devices_baser);
    g_its.set_enabled(true);
    if ((g_its.ctlr() & 1) == 0) return false;
    return g_its.put(its::mapc(0, g_its.rdbase(gic::rd_base()), true)) && g_its.drained();
}

}  // namespace

GUEST_TEST(setup) {
    ASSERT_TRUE(gic::init());
    u64 size = 0;
    ASSERT_EQ(its::dt_find_all(&g_base, &size, 1), 1u);
    its::enable_lpis(gic::rd_base(), g_prop, kIdBits, g_pending);
    for (u32 i = 8192; i < 8192 + 16; ++i) ASSERT_TRUE(gic::set_handler(i, lpi_irq));
    irq_disable();
    g_ready = true;
}

GUEST_TEST(page_size_reads_64k_at_reset_and_after_writes) {
    ASSERT_TRUE(g_ready);
    REQUIRE_HYPERVISOR();  // QEMU's own ITS resets to 64 KiB but lets the guest change Page_Size
    mmio_write32(g_base + its::kCtlr, 0);
    for (u32 n = 0; n < 2; ++n) {
        printf("  BASER%u reset value 0x%llx\n", n, static_cast<unsigned long long>(read_baser(n)));
        EXPECT_EQ(read_baser(n) & kPageSizeMask, u64{2} << 8);
        const u64 table = reinterpret_cast<u64>(n == 0 ? g_devices : g_collections);
        for (u64 code = 0; code < 4; ++code) {
            // 64-bit write: Valid, address with bits [15:12] set too, Size 3, Page_Size `code`.
            mmio_write64(baser_reg(n), kValid | table | 0xf000 | (code << 8) | 3);
            const u64 v = read_baser(n);
            if (!EXPECT_EQ(v & kPageSizeMask, u64{2} << 8))
                printf("  BASER%u after Page_Size %llu: 0x%llx\n", n, static_cast<unsigned long long>(code),
                       static_cast<unsigned long long>(v));
            EXPECT_EQ(v & 0xf000, 0u);                   // PA[51:48]: RES0 under the guest's IPA size
            EXPECT_EQ(v & 0xffff'ffff'0000ull, table);   // the 64 KiB-aligned address is kept
            EXPECT_EQ(v & 0xff, 3u);                     // Size kept
            EXPECT_EQ(v >> 63, 1u);                      // Valid kept
            EXPECT_EQ((v >> 56) & 7, n == 0 ? 1u : 4u);  // Type: devices / collections (RO)
            EXPECT_EQ((v >> 48) & 0x1f, 7u);             // Entry_Size 8 bytes (RO)
            // 32-bit write of the low half with this Page_Size: still 64 KiB.
            mmio_write32(baser_reg(n), static_cast<u32>(table | (code << 8) | 1));
            EXPECT_EQ(read_baser(n) & kPageSizeMask, u64{2} << 8);
            EXPECT_EQ(read_baser(n) & 0xff, 1u);
        }
        mmio_write64(baser_reg(n), 0);
        EXPECT_EQ(read_baser(n) & kPageSizeMask, u64{2} << 8);  // also with Valid clear
    }
}

GUEST_TEST(flat_table_written_as_4k_is_one_64k_page) {
    ASSERT_TRUE(g_ready);
    REQUIRE_HYPERVISOR();
    // Page_Size 4 KiB, Size 0: a 64 KiB page of 8-byte DTEs = DeviceIDs 0..8191.
    ASSERT_TRUE(bring_up(kValid | reinterpret_cast<u64>(g_devices) | (u64{0} << 8) | 0));
    EXPECT_EQ(read_baser(0) & kPageSizeMask, u64{2} << 8);
    EXPECT_TRUE(map_and_int(1000, 0, 8193, true));   // beyond 512: a 4 KiB table would not back it
    EXPECT_TRUE(map_and_int(8191, 1, 8194, true));   // the last DTE of the 64 KiB page
    EXPECT_TRUE(map_and_int(8192, 2, 8195, false));  // one past it: not backed, MAPD ignored
    // DeviceID 0 from the CPU through GITS_TRANSLATER.
    its::set_lpi_config(g_prop, 8196, true);
    ASSERT_TRUE(g_its.put(its::mapd(0, reinterpret_cast<u64>(g_itt[3]), 2, true), false));
    ASSERT_TRUE(g_its.put(its::mapti(0, 1, 8196, 0), false));
    ASSERT_TRUE(g_its.put(its::inv(0, 1)));
    ASSERT_TRUE(g_its.drained());
    g_its.signal(1);
    EXPECT_TRUE(took(8196));
}

GUEST_TEST(two_level_device_table_with_64k_pages) {
    ASSERT_TRUE(g_ready);
    mmio_write32(g_base + its::kCtlr, 0);
    // Does the ITS implement Indirect for the device table?
    mmio_write64(baser_reg(0), kIndirect | reinterpret_cast<u64>(g_devices) | (u64{2} << 8));
    if ((read_baser(0) & kIndirect) == 0) GUEST_SKIP("GITS_BASER0.Indirect is RAZ/WI: no two-level tables");
    const u64 code = under_hypervisor() ? 0 : 2;  // under the hypervisor, ask for 4 KiB: 64 KiB must be used anyway
    ASSERT_TRUE(bring_up(kValid | kIndirect | reinterpret_cast<u64>(g_devices) | (code << 8) | 0));
    ASSERT_EQ(its::baser_page_bytes(read_baser(0)), k64K);
    // Level-1 entries (IHI0069H 5.2.1: Valid | level-2 page address): entry 0 -> g_l2[0] (DeviceIDs 0..8191), entry 1
    // -> g_l2[1] (8192..16383), entry 2 invalid (16384..24575).
    volatile u64* l1 = reinterpret_cast<volatile u64*>(g_devices);
    l1[0] = kValid | reinterpret_cast<u64>(g_l2[0]);
    l1[1] = kValid | reinterpret_cast<u64>(g_l2[1]);
    l1[2] = 0;
    dsb_sy();
    EXPECT_TRUE(map_and_int(5, 0, 8197, true));
    EXPECT_TRUE(map_and_int(8191, 1, 8198, true));           // last entry of level-2 page 0 (offset 64 KiB - 8)
    EXPECT_TRUE(map_and_int(8192, 2, 8199, true));           // first entry of level-2 page 1
    EXPECT_TRUE(map_and_int(2 * 8192 + 3, 3, 8200, false));  // behind the invalid level-1 entry 2
}

GUEST_TEST(teardown) {
    ASSERT_TRUE(g_ready);
    g_its.set_enabled(false);
    EXPECT_EQ(g_its.ctlr() & 1, 0u);
}
