// virtio_mmio: QEMU's virtio-mmio transports passed through (docs/device-tree.md "virtio-mmio"). The guest DT
// describes all 32 as QEMU does (reg 0x200 bytes from 0x0a00_0000, SPIs 16..47 edge, dma-coherent); every
// transport's registers are reachable without a trap (MagicValue "virt" at offset 0); a virtio-rng-device on the
// highest transport is driven through the legacy (version 1) interface: its DMA writes random bytes into guest RAM
// (identity mapped) and each request raises the transport's SPI exactly once (hardware-linked: the guest's
// EOI deactivates the physical SPI, so the next request can interrupt again); routed by the guest to its second CPU,
// the SPI is taken there and only there (the hypervisor's physical routing follows). Passing a device through is
// opt-in (virtio_mmio=on, logged as UNSAFE: the transports' DMA is behind no IOMMU). Variant `default`
// (virtio_mmio=empty): only the pages whose transports have no device -- the rng's page of 8 transports is neither in
// the DT nor mapped at stage 2 (an access is an external abort), the other 24 answer with DeviceID 0. Variant `off`:
// no node in the DT and no transport mapped.
//
// guest-tests: smp=1 mem=512M hv_append="vcpus=1 virtio_mmio=on" expect=pass timeout=60
// guest-tests: qemu="-global virtio-mmio.force-legacy=on -device virtio-rng-device"
// guest-tests: console="virtio_mmio=on: UNSAFE"
// guest-tests: variant=on smp=2 hv_append="vcpus=2 virtio_mmio=on"
// clang-format off
// guest-tests: variant=default hv_append="vcpus=1" append="expect_virtio_mmio=2" console="virtio-mmio 0xa003e00: device 4 not passed through"
// guest-tests: variant=off hv_append="vcpus=1 virtio_mmio=off" append="expect_virtio_mmio=0" console="^(?!(?s:.*)virtio_mmio=on: UNSAFE)"
// clang-format on
#include "tests/guest/runtime/guest.hpp"

using namespace rt;

namespace {

// virtio v1.2 4.2.2 (MMIO device register layout) and 4.2.4 (legacy interface).
constexpr u64 kMagicValue = 0x000, kVersion = 0x004, kDeviceId = 0x008, kVendorId = 0x00c;
constexpr u64 kGuestFeatures = 0x020, kGuestFeaturesSel = 0x024, kGuestPageSize = 0x028;
constexpr u64 kQueueSel = 0x030, kQueueNumMax = 0x034, kQueueNum = 0x038, kQueueAlign = 0x03c, kQueuePfn = 0x040;
constexpr u64 kQueueNotify = 0x050, kInterruptStatus = 0x060, kInterruptAck = 0x064, kStatus = 0x070;
constexpr u32 kMagic = 0x74726976;       // "virt"
constexpr u32 kVendorQemu = 0x554d4551;  // "QEMU"
constexpr u32 kDeviceEntropy = 4;
constexpr u32 kStatusAck = 1, kStatusDriver = 2, kStatusDriverOk = 4;
constexpr u16 kDescWrite = 2;  // VRING_DESC_F_WRITE: the device writes the buffer

constexpr u32 kMaxTransports = 64;
constexpr u32 kQueueSize = 8;
constexpr u32 kRequests = 3;
constexpr u32 kBufBytes = 64;

struct Transport {
    u64 base = 0;
    u64 size = 0;
    u32 intid = 0;
    bool coherent = false;
};
Transport g_t[kMaxTransports];
u32 g_count = 0;

// The legacy split virtqueue in one 8 KiB page pair (virtio 1.2 2.7 / 4.2.4): descriptors, then the available
// ring, then (at the next QueueAlign = 4 KiB boundary) the used ring.
struct alignas(16) Desc {
    u64 addr;
    u32 len;
    u16 flags;
    u16 next;
};
struct alignas(4096) Vring {
    Desc desc[kQueueSize];
    u16 avail_flags;
    u16 avail_idx;
    u16 avail_ring[kQueueSize];
    u16 used_event;
    u8 pad[4096 - sizeof(Desc) * kQueueSize - 2 * (3 + kQueueSize)];
    u16 used_flags;
    u16 used_idx;
    struct {
        u32 id;
        u32 len;
    } used_ring[kQueueSize];
    u16 avail_event;
};
static_assert(__builtin_offsetof(Vring, used_flags) == 4096);
static_assert(2 * kRequests <= kQueueSize);
Vring g_ring;
alignas(64) u8 g_buf[kQueueSize][kBufBytes];  // one per descriptor

volatile u32 g_irqs = 0;
volatile u32 g_irqs_on_other = 0;  // taken on the second CPU
volatile u32 g_isr_bits = 0;
u64 g_rng = 0;
u32 g_rng_intid = 0;
u64 g_other_cpu = ~0ull;
volatile u32 g_other_ready = 0, g_other_stop = 0;

void rng_irq(u32, void*) {
    // Acknowledge at the device first: its (level) line drops before the EOI, so it does not fire again.
    const u32 isr = mmio_read32(g_rng + kInterruptStatus);
    mmio_write32(g_rng + kInterruptAck, isr);
    g_isr_bits = g_isr_bits | isr;
    if (self_mpidr() == g_other_cpu) g_irqs_on_other = g_irqs_on_other + 1;
    g_irqs = g_irqs + 1;
}

u16 volatile_read16(const u16* p) { return *static_cast<const volatile u16*>(p); }

// Request `r` (descriptor and avail slot r, a fresh buffer), QueueNotify, then wait (IRQs unmasked here) for exactly
// one interrupt and check what the device's DMA left in the used ring and the buffer.
void rng_request(u32 r) {
    if (r >= kQueueSize) return;
    for (u32 i = 0; i < kBufBytes; ++i) g_buf[r][i] = 0;
    g_ring.desc[r] = Desc{reinterpret_cast<u64>(g_buf[r]), kBufBytes, kDescWrite, 0};
    g_ring.avail_ring[r] = static_cast<u16>(r);
    dsb_sy();
    *static_cast<volatile u16*>(&g_ring.avail_idx) = static_cast<u16>(r + 1);
    dsb_sy();
    const u32 irqs_before = g_irqs;
    mmio_write32(g_rng + kQueueNotify, 0);
    // One interrupt per request, and no second one while the guest has it active (settle 20 ms).
    EXPECT_TRUE(run_irqs_until([&] { return g_irqs != irqs_before; }, 2000, 20));
    EXPECT_EQ(g_irqs, irqs_before + 1);
    dsb_sy();
    EXPECT_EQ(volatile_read16(&g_ring.used_idx), r + 1);
    EXPECT_EQ(g_ring.used_ring[r].id, r);
    EXPECT_GT(g_ring.used_ring[r].len, 0u);
    u32 nonzero = 0;
    for (u32 i = 0; i < g_ring.used_ring[r].len && i < kBufBytes; ++i) nonzero += g_buf[r][i] != 0;
    EXPECT_GT(nonzero, 0u);  // the device's DMA reached guest RAM at the guest-physical address
}

// The second CPU: its redistributor and CPU interface, the rng's SPI routed to itself, then IRQs open until told.
void other_cpu(u32, void*) {
    if (!gic::init_cpu()) return;
    gic::route_spi_to_self(g_rng_intid);
    g_other_ready = 1;
    run_irqs_until([] { return g_other_stop != 0; }, 20000);
}

// expect_virtio_mmio=: 1 every transport (virtio_mmio=on, plain QEMU), 0 none, 2 only the pages without a device.
constexpr u64 kExpectNone = 0, kExpectAll = 1, kExpectEmpty = 2;
u64 expected() { return under_hypervisor() ? bootarg_u64("expect_virtio_mmio", kExpectAll) : kExpectAll; }
bool expect_passthrough() { return expected() == kExpectAll; }
constexpr u64 kRngPage = 0x0a003000;  // -device fills the highest transport (0x0a003e00) first: its page

}  // namespace

GUEST_TEST(guest_dt_has_the_transports) {
    const fdt::Reader& r = dt();
    ASSERT_TRUE(r.valid());
    for (i32 n = r.find_compatible("virtio,mmio"); n != fdt::kNoNode; n = r.find_compatible("virtio,mmio", n)) {
        if (g_count >= kMaxTransports) break;
        Transport& t = g_t[g_count++];
        EXPECT_EQ(r.read_reg(n, 0, t.base, t.size), Status::ok);
        Span<const u8> irq = r.prop(n, "interrupts");
        ASSERT_EQ(irq.size(), 12u);
        EXPECT_EQ(fdt::load_be32(irq.data()), 0u);  // SPI
        t.intid = 32 + fdt::load_be32(irq.data() + 4);
        EXPECT_EQ(fdt::load_be32(irq.data() + 8), 1u);  // edge rising, as QEMU describes them
        t.coherent = r.has_prop(n, "dma-coherent");
        EXPECT_TRUE(t.coherent);
    }
    if (expected() == kExpectNone) {
        EXPECT_EQ(g_count, 0u);  // virtio_mmio=off (plain QEMU, nohv, has its own nodes: checked below)
        return;
    }
    // QEMU virt: 32 transports of 0x200 bytes from 0x0a00_0000 on SPIs 16..47 (INTIDs 48..79); virtio_mmio=empty
    // leaves out the rng's page (8 transports).
    EXPECT_EQ(g_count, expected() == kExpectEmpty ? 24u : 32u);
    for (u32 i = 0; i < g_count && expected() == kExpectEmpty; ++i) EXPECT_LT(g_t[i].base, kRngPage);
    u32 lowest = 0;
    for (u32 i = 0; i < g_count; ++i) {
        EXPECT_EQ(g_t[i].size, 0x200u);
        EXPECT_EQ((g_t[i].base - 0x0a000000) / 0x200 + 48, u64{g_t[i].intid});
        if (g_t[i].base < g_t[lowest].base) lowest = i;
    }
    if (g_count != 0) EXPECT_EQ(g_t[lowest].base, 0x0a000000u);
}

GUEST_TEST(every_transport_answers) {
    if (!expect_passthrough()) {
        REQUIRE_HYPERVISOR();
        // QEMU's first transport (virtio_mmio=off) / the rng's (empty): not mapped at stage 2
        ProbeResult m = probe_read32(expected() == kExpectEmpty ? kRngPage + 0xe00 : 0x0a000000);
        EXPECT_TRUE(m.fault.taken);
        EXPECT_EQ(m.fault.ec(), ec::kDataAbortSameEl);
        EXPECT_EQ(m.fault.dfsc(), kDfscSyncExternalAbort);
        for (u32 i = 0; i < g_count; ++i) {  // empty: the transports given are device-less ones
            EXPECT_EQ(mmio_read32(g_t[i].base + kMagicValue), kMagic);
            EXPECT_EQ(mmio_read32(g_t[i].base + kDeviceId), 0u);
        }
        return;
    }
    ASSERT_GT(g_count, 0u);
    u32 entropy = 0;
    for (u32 i = 0; i < g_count; ++i) {
        const u64 b = g_t[i].base;
        ProbeResult m = probe_read32(b + kMagicValue);  // a stage-2 fault would come back as an external abort
        ASSERT_FALSE(m.fault.taken);
        EXPECT_EQ(m.value, kMagic);
        const u32 version = mmio_read32(b + kVersion);
        EXPECT_EQ(version, 1u);  // force-legacy=on (QEMU 7.2's default too)
        EXPECT_EQ(mmio_read32(b + kVendorId), kVendorQemu);
        const u32 id = mmio_read32(b + kDeviceId);  // 0: no device behind this transport
        if (id == kDeviceEntropy) {
            ++entropy;
            g_rng = b;
            g_rng_intid = g_t[i].intid;
            ASSERT_TRUE(gic::init());
            ASSERT_TRUE(gic::set_handler(g_t[i].intid, rng_irq));
            gic::route_spi_to_self(g_t[i].intid);
            gic::enable(g_t[i].intid);
            printf("  virtio-rng on the transport at 0x%llx, INTID %u\n", static_cast<unsigned long long>(b),
                   g_t[i].intid);
        } else {
            EXPECT_EQ(id, 0u);
        }
    }
    EXPECT_EQ(entropy, 1u);  // the one -device virtio-rng-device of this payload's QEMU line
}

GUEST_TEST(rng_dma_and_interrupt) {
    if (!expect_passthrough()) GUEST_SKIP("no device passed through");
    ASSERT_NE(g_rng, 0u);
    const u64 b = g_rng;
    // Legacy initialisation (virtio 1.2 4.2.4 / 3.1.2): reset, ACK, DRIVER, features, queue 0, DRIVER_OK.
    mmio_write32(b + kStatus, 0);
    EXPECT_EQ(mmio_read32(b + kStatus), 0u);
    mmio_write32(b + kStatus, kStatusAck);
    mmio_write32(b + kStatus, kStatusAck | kStatusDriver);
    mmio_write32(b + kGuestFeaturesSel, 0);
    mmio_write32(b + kGuestFeatures, 0);
    mmio_write32(b + kGuestPageSize, 4096);
    mmio_write32(b + kQueueSel, 0);
    ASSERT_GE(mmio_read32(b + kQueueNumMax), kQueueSize);
    EXPECT_EQ(mmio_read32(b + kQueuePfn), 0u);  // not in use yet
    mmio_write32(b + kQueueNum, kQueueSize);
    mmio_write32(b + kQueueAlign, 4096);
    mmio_write32(b + kQueuePfn, static_cast<u32>(reinterpret_cast<u64>(&g_ring) >> 12));
    mmio_write32(b + kStatus, kStatusAck | kStatusDriver | kStatusDriverOk);

    for (u32 r = 0; r < kRequests; ++r) rng_request(r);
    EXPECT_EQ(g_irqs, kRequests);
    EXPECT_EQ(g_isr_bits & 1, 1u);  // "used buffer" interrupts
}

// The guest routes the SPI to its second CPU (GICD_IROUTER): every interrupt is taken there. Under the hypervisor the
// physical SPI follows the virtual route (the first one is taken on the boot pCPU and kicked over, the rest arrive
// on the second pCPU directly); either way the guest must see them on the CPU it chose, none on the first.
GUEST_TEST(rng_interrupt_follows_the_route) {
    if (!expect_passthrough()) GUEST_SKIP("no device passed through");
    ASSERT_NE(g_rng, 0u);
    ASSERT_EQ(g_irqs, kRequests);  // the device is set up (previous test)
    g_other_cpu = dt_other_cpu();
    if (g_other_cpu == ~0ull) GUEST_SKIP("needs a second CPU");
    ASSERT_EQ(start_cpu(1, g_other_cpu, other_cpu, nullptr), 0);
    ASSERT_TRUE(run_irqs_until([] { return g_other_ready != 0; }, 2000));
    for (u32 r = kRequests; r < 2 * kRequests; ++r) rng_request(r);
    EXPECT_EQ(g_irqs, 2 * kRequests);
    EXPECT_EQ(g_irqs_on_other, kRequests);  // all on the second CPU
    g_other_stop = 1;
    EXPECT_TRUE(wait_slot(cpu_finished, 1, 2000));
    mmio_write32(g_rng + kStatus, 0);  // reset the device: it forgets the queue
    EXPECT_EQ(mmio_read32(g_rng + kQueuePfn), 0u);
}
