// msi_edu: a passed-through PCI device's MSIs reach every vCPU. QEMU's `edu` device (-device edu, 1234:11e8) sits
// behind the passed-through PCIe host bridge; the guest enumerates it through the ECAM, gives BAR0 an address in the
// bridge's 32-bit window, points its MSI capability at GITS_TRANSLATER of the ITS the bridge's msi-map names, and
// maps (DeviceID = requester ID through msi-map, EventID 0) -> one LPI with its own ITS driver. The hypervisor
// mirrors that mapping on the physical ITS (docs/msi-passthrough.md). Then, for every vCPU in turn (several rounds),
// MOVI moves the event to that vCPU's collection and a write to edu's interrupt-raise register must deliver the LPI
// exactly once, on exactly that vCPU. Every vCPU runs on its own pCPU, so this needs the physical ITS set up with
// every pCPU's redistributor -- what a boot that raced a late secondary used to miss (docs/boot.md "Secondary
// pCPUs"). tools/msi-boot-stress boots this payload repeatedly at 4 and 8 vCPUs on a loaded host.
//
// guest-tests: smp=4 mem=512M append="expect_cpus=4" qemu="-device edu" expect=pass timeout=90
// guest-tests: variant=smp4
// guest-tests: variant=smp8 smp=8 append="expect_cpus=8"
// guest-tests: variant=late_cpu hv_append="debug_late_cpu=2:1500"
// GICv4 host GIC (docs/msi-passthrough.md "GICv4 direct injection"): the MSI is a vLPI the GIC injects itself (no
// host LPI at EL2), MOVI a physical VMOVI; the secondaries wait in WFI (wfi=1). gicv4: WFI is not trapped, the vLPI
// wakes it; gicv4_doorbell: WFI traps, the waiting vCPU's vPE is not resident and its doorbell LPI wakes it;
// gicv4_off: the shadow path on a GICv4 host (host LPIs: 3 rounds x 4 vCPUs = 12).
// clang-format off
// guest-tests: variant=gicv4 run_guest="--gic 4" append="expect_cpus=4 wfi=1" console="stats: msi host_lpis=0 .*\n.*stats: gicv4 vlpis=1 "
// guest-tests: variant=gicv4_doorbell run_guest="--gic 4" hv_append="gicv4=doorbell" append="expect_cpus=4 wfi=1" console="stats: gicv4 vlpis=1 doorbells=[1-9]"
// guest-tests: variant=gicv3_wfi append="expect_cpus=4 wfi=1"
// guest-tests: variant=gicv4_off run_guest="--gic 4" hv_append="gicv4=off" append="expect_cpus=4 wfi=1" console="direct injection off .*shadow path(.*\n)*.*stats: msi host_lpis=1[0-9] "
// clang-format on
#include "tests/guest/runtime/guest.hpp"
#include "tests/guest/runtime/its.hpp"

using namespace rt;

namespace {

constexpr u32 kIdBits = 14;  // LPIs 8192..16383
constexpr u32 kLpi = 8200;
constexpr u64 kQueueBytes = 16 * 1024;
constexpr u32 kRounds = 3;
constexpr u16 kEduVendor = 0x1234, kEduDevice = 0x11e8;
constexpr u64 kEduRaise = 0x60, kEduAck = 0x64, kEduIdent = 0x00;

alignas(65536) u8 g_pending[kMaxCpus][65536];
alignas(4096) u8 g_prop[(1u << kIdBits) - 8192];
alignas(65536) u8 g_queue[kQueueBytes];
alignas(65536) u8 g_devices[65536];
alignas(65536) u8 g_collections[65536];
alignas(256) u8 g_itt[4096];

its::Its g_its;
u32 g_cpus = 0;
u64 g_mpidr[kMaxCpus];
u64 g_rd[kMaxCpus];
volatile u32 g_up[kMaxCpus];
volatile u32 g_exit = 0;
volatile u32 g_count[kMaxCpus];
volatile u32 g_stray = 0;

u64 g_ecam = 0, g_bar = 0, g_its_base = 0;
u32 g_devid = 0;
u32 g_cfg = 0;  // ECAM offset of the edu function
bool g_ready = false;

u32 cpu_index() {
    const u64 me = self_mpidr();
    for (u32 i = 0; i < g_cpus; ++i)
        if (g_mpidr[i] == me) return i;
    return kMaxCpus;
}

void lpi_irq(u32 intid, void*) {
    const u32 c = cpu_index();
    if (intid == kLpi && c < kMaxCpus)
        __atomic_fetch_add(&g_count[c], 1u, __ATOMIC_SEQ_CST);
    else
        __atomic_fetch_add(&g_stray, 1u, __ATOMIC_SEQ_CST);
}

constexpr u32 kWakeSgi = 1;
void wake_sgi(u32, void*) {}

void secondary(u32 slot, void*) {
    if (!gic::init_cpu()) return;
    g_up[slot] = 1;
    dsb_sy();
    const u64 deadline = counter() + counter_frequency() * 120;
    const bool use_wfi = bootarg_u64("wfi", 0) != 0;  // wait for the LPI in WFI rather than spinning
    if (use_wfi) gic::enable(kWakeSgi);               // teardown's wake-up
    irq_enable();
    while (!g_exit && counter() < deadline) {
        if (use_wfi) wfi();
    }
    irq_disable();
}

u32 cfg32(u32 off) { return mmio_read32(g_ecam + g_cfg + off); }
void cfg32_write(u32 off, u32 v) { mmio_write32(g_ecam + g_cfg + off, v); }
u16 cfg16(u32 off) { return static_cast<u16>(cfg32(off & ~3u) >> (8 * (off & 2))); }
void cfg16_write(u32 off, u16 v) {
    const u32 shift = 8 * (off & 2);
    cfg32_write(off & ~3u, (cfg32(off & ~3u) & ~(0xffffu << shift)) | (u32{v} << shift));
}

u32 be32(const u8* p) { return u32{p[0]} << 24 | u32{p[1]} << 16 | u32{p[2]} << 8 | p[3]; }

// The PCIe host bridge node: ECAM (reg 0), the 32-bit memory window (ranges entry with space code 0b10), and the
// requester ID -> DeviceID translation of msi-map = <rid-base its-phandle msi-base length>.
bool find_bridge(u64& window, u64& window_size, i32& node) {
    const fdt::Reader& f = dt();
    node = f.find_compatible("pci-host-ecam-generic");
    if (node < 0) return false;
    u64 size = 0;
    if (!dt_compatible_reg("pci-host-ecam-generic", 0, g_ecam, size)) return false;
    Span<const u8> r = f.prop(node, "ranges");
    for (usize off = 0; off + 28 <= r.size(); off += 28) {  // 3 child cells, 2 parent cells, 2 size cells
        const u32 hi = be32(r.data() + off);
        if (((hi >> 24) & 3) != 2) continue;  // 32-bit memory space
        window = u64{be32(r.data() + off + 12)} << 32 | be32(r.data() + off + 16);
        window_size = u64{be32(r.data() + off + 20)} << 32 | be32(r.data() + off + 24);
        return true;
    }
    return false;
}

bool wait_on(u32 cpu, u32 want) {
    const u64 deadline = counter() + counter_frequency();  // 1 s
    while (g_count[cpu] < want && counter() < deadline) {
    }
    return g_count[cpu] >= want;
}

}  // namespace

GUEST_TEST(cpus_up_with_lpis) {
    ASSERT_TRUE(gic::init());
    g_cpus = dt_cpu_mpidrs(g_mpidr, kMaxCpus);
    ASSERT_EQ(g_cpus, bootarg_u64("expect_cpus", g_cpus));
    g_up[0] = 1;
    for (u32 c = 1; c < g_cpus; ++c) ASSERT_EQ(start_cpu(c, g_mpidr[c], secondary, nullptr), psci::kPsciSuccess);
    const u64 deadline = counter() + counter_frequency() * 5;
    for (u32 c = 1; c < g_cpus; ++c) {
        while (!g_up[c] && counter() < deadline) {
        }
        ASSERT_EQ(g_up[c], 1u);
    }
    for (u32 c = 0; c < g_cpus; ++c) {
        g_rd[c] = gic::rd_base_of(g_mpidr[c]);
        ASSERT_NE(g_rd[c], 0u);
        its::enable_lpis(g_rd[c], g_prop, kIdBits, g_pending[c]);
        EXPECT_EQ(mmio_read32(g_rd[c]) & 1, 1u);  // GICR_CTLR.EnableLPIs
    }
    ASSERT_TRUE(gic::set_handler(kLpi, lpi_irq));
    ASSERT_TRUE(gic::set_handler(kWakeSgi, wake_sgi));
    printf("  %u CPUs up, LPIs on every redistributor\n", g_cpus);
}

GUEST_TEST(edu_found_and_msi_programmed) {
    u64 window = 0, window_size = 0;
    i32 bridge = -1;
    ASSERT_TRUE(find_bridge(window, window_size, bridge));
    // Bus 0 only (the edu device is plugged into the root bus).
    bool found = false;
    for (u32 dev = 0; dev < 32 && !found; ++dev) {
        g_cfg = dev << 15;
        const u32 id = cfg32(0);
        if ((id & 0xffff) == kEduVendor && (id >> 16) == kEduDevice) found = true;
    }
    ASSERT_TRUE(found);
    const u32 rid = g_cfg >> 12;  // bus 0: device << 3 | function
    // msi-map = <rid-base its-phandle msi-base length>: the DeviceID the ITS sees and which ITS.
    const fdt::Reader& f = dt();
    Span<const u8> m = f.prop(bridge, "msi-map");
    ASSERT_GE(m.size(), 16u);
    const u32 rid_base = be32(m.data()), ph = be32(m.data() + 4), msi_base = be32(m.data() + 8),
              len = be32(m.data() + 12);
    ASSERT_TRUE(rid >= rid_base && rid - rid_base < len);
    g_devid = msi_base + (rid - rid_base);
    const i32 its_node = f.find_phandle(ph);
    ASSERT_GE(its_node, 0);
    u64 bases[4] = {}, sizes[4] = {};
    const u32 n = its::dt_find_all(bases, sizes, 4);
    for (u32 i = 0, node = static_cast<u32>(f.find_compatible("arm,gic-v3-its")); i < n;
         ++i, node = static_cast<u32>(f.find_compatible("arm,gic-v3-its", static_cast<i32>(node))))
        if (static_cast<i32>(node) == its_node) g_its_base = bases[i];
    ASSERT_NE(g_its_base, 0u);
    printf("  edu at 00:%02x.0 (requester ID 0x%x -> DeviceID 0x%x), ITS 0x%llx, window 0x%llx+0x%llx\n", rid >> 3, rid,
           g_devid, static_cast<unsigned long long>(g_its_base), static_cast<unsigned long long>(window),
           static_cast<unsigned long long>(window_size));

    // BAR0: 1 MiB of 32-bit memory; put it at the window's first 1 MiB-aligned address.
    cfg16_write(0x04, 0);  // decoding off while the BAR moves
    cfg32_write(0x10, 0xffffffff);
    const u32 bar_mask = cfg32(0x10) & ~0xfu;
    ASSERT_NE(bar_mask, 0u);
    const u64 bar_size = u64{~bar_mask} + 1;
    g_bar = (window + bar_size - 1) & ~(bar_size - 1);
    ASSERT_LE(g_bar + bar_size, window + window_size);
    cfg32_write(0x10, static_cast<u32>(g_bar));
    // Command: memory space, bus master (MSIs are memory writes), INTx disabled.
    cfg16_write(0x04, (1u << 1) | (1u << 2) | (1u << 10));
    ASSERT_EQ(mmio_read32(g_bar + kEduIdent) & 0xff, 0xedu);

    // MSI capability (ID 5): address = GITS_TRANSLATER, data = EventID 0, one vector, enabled.
    ASSERT_NE(cfg16(0x06) & (1u << 4), 0u);  // capability list present
    u32 cap = cfg32(0x34) & 0xfc;
    for (u32 hops = 0; cap != 0 && hops < 48 && (cfg32(cap) & 0xff) != 0x05; ++hops) cap = (cfg32(cap) >> 8) & 0xfc;
    ASSERT_NE(cap, 0u);
    const u16 ctl = cfg16(cap + 2);
    const bool is64 = (ctl & (1u << 7)) != 0;
    const u64 doorbell = g_its_base + its::kTranslater;
    cfg32_write(cap + 4, static_cast<u32>(doorbell));
    if (is64) cfg32_write(cap + 8, static_cast<u32>(doorbell >> 32));
    cfg16_write(cap + (is64 ? 0xc : 0x8), 0);                        // data: EventID 0
    cfg16_write(cap + 2, static_cast<u16>((ctl & ~(7u << 4)) | 1));  // MME = 1 vector, MSI Enable
    EXPECT_EQ(cfg16(cap + 2) & 1, 1u);

    // The ITS: one collection per CPU (ICID = CPU index), the edu's event on collection 0.
    ASSERT_TRUE(g_its.init(g_its_base,
                           {g_queue, kQueueBytes, g_devices, sizeof g_devices, g_collections, sizeof g_collections}));
    for (u32 c = 0; c < g_cpus; ++c) ASSERT_TRUE(g_its.put(its::mapc(c, g_its.rdbase(g_rd[c]), true), false));
    its::set_lpi_config(g_prop, kLpi, true);
    ASSERT_TRUE(g_its.put(its::mapd(g_devid, reinterpret_cast<u64>(g_itt), 1, true), false));
    ASSERT_TRUE(g_its.put(its::mapti(g_devid, 0, kLpi, 0), false));
    ASSERT_TRUE(g_its.put(its::inv(g_devid, 0), false));
    ASSERT_TRUE(g_its.put(its::sync(g_its.rdbase(g_rd[0]))));
    ASSERT_TRUE(g_its.drained());
    g_ready = true;
}

GUEST_TEST(msi_reaches_every_cpu) {
    ASSERT_TRUE(g_ready);
    u32 delivered = 0;
    for (u32 round = 0; round < kRounds; ++round) {
        for (u32 c = 0; c < g_cpus; ++c) {
            ASSERT_TRUE(g_its.put(its::movi(g_devid, 0, c), false));
            ASSERT_TRUE(g_its.put(its::sync(g_its.rdbase(g_rd[c]))));
            ASSERT_TRUE(g_its.drained());
            for (u32 k = 0; k < g_cpus; ++k) g_count[k] = 0;
            g_stray = 0;
            dsb_sy();
            mmio_write32(g_bar + kEduRaise, 1u << c);  // the device sends its MSI
            if (c == 0) irq_enable();
            const bool got = wait_on(c, 1);
            const u64 settle = counter() + counter_frequency() / 200;  // 5 ms for a duplicate or a stray
            while (counter() < settle) {
            }
            if (c == 0) irq_disable();
            mmio_write32(g_bar + kEduAck, 1u << c);
            bool ok = got && g_stray == 0;
            for (u32 k = 0; k < g_cpus; ++k) ok = ok && g_count[k] == (k == c ? 1u : 0u);
            if (!ok) {
                printf("  round %u, CPU%u: counts", round, c);
                for (u32 k = 0; k < g_cpus; ++k) printf(" %u", g_count[k]);
                printf(", %u stray\n", g_stray);
            }
            EXPECT_TRUE(ok);
            delivered += ok ? 1 : 0;
        }
    }
    printf("  %u of %u MSIs delivered to the right CPU\n", delivered, kRounds * g_cpus);
}

GUEST_TEST(teardown) {
    g_exit = 1;
    dsb_sy();
    for (u32 c = 1; c < g_cpus; ++c) gic::send_sgi(kWakeSgi, g_mpidr[c]);  // secondaries waiting in WFI (wfi=1)
    for (u32 c = 1; c < g_cpus; ++c) EXPECT_TRUE(wait_slot(cpu_finished, c, 2000));
}
