// dma_isolation: a guest that owns a DMA-capable PCI device cannot use it against the hypervisor
// (docs/msi-passthrough.md "DMA isolation"). QEMU's `edu` device (BAR0: 0x80 src, 0x88 dst, 0x90 count, 0x98 cmd
// bit0 start / bit1 direction 1 = buffer -> RAM; its buffer at device address 0x40000) is found over ECAM, given a
// BAR in the bridge's 32-bit window, and made bus master. Then:
//  - control: DMA from the guest's own RAM into the buffer and back works (the DMA path really works);
//  - read attack: DMA from the hypervisor image's header (0x4020_0038, the arm64 Image magic "ARM\x64") into the
//    buffer and back to guest RAM: blocked (the magic never arrives; the hypervisor logs the fault);
//  - write attack: DMA from the buffer to the header's reserved res4 field (0x4020_0030): blocked (the hypervisor
//    keeps running; a later read of the field is blocked too and logs again).
// expect_dma=open (variant smmu_off: the UNSAFE `smmu=off`) and `nohv` (plain QEMU, where the payload plants the
// bytes itself) turn every attack into a control: the same DMA then really reads the magic and really writes the
// field (restored afterwards), so the blocked run cannot pass vacuously.
//
// clang-format off
// guest-tests: smp=1 mem=512M hv_append="vcpus=1" expect=pass timeout=90 qemu="-device edu,dma_mask=0xffffffffffffffff"
// guest-tests: variant=smmu append="expect_dma=blocked" console="smmu: DMA read blocked: F_TRANSLATION StreamID 0x[0-9a-f]+ \([0-9a-f:.]+\) address 0x40200038(?s:.*)smmu: DMA write blocked: F_TRANSLATION StreamID 0x[0-9a-f]+ \([0-9a-f:.]+\) address 0x40200030(?s:.*)stats: smmu active=1 stage=[12] events=[1-9][0-9]* faults=[1-9]"
// guest-tests: variant=smmu_off append="expect_dma=open" hv_append="vcpus=1 smmu=off" console="smmu=off: UNSAFE(?s:.*)stats: smmu active=0"
// clang-format on
#include "lib/string.hpp"
#include "tests/guest/runtime/guest.hpp"

using namespace rt;

namespace {

constexpr u16 kEduVendor = 0x1234;
constexpr u16 kEduDevice = 0x11e8;
constexpr u64 kEduBuffer = 0x40000;  // device address of the edu DMA buffer (4 KiB)
constexpr u64 kEduDmaSrc = 0x80, kEduDmaDst = 0x88, kEduDmaCount = 0x90, kEduDmaCmd = 0x98;
constexpr u64 kEduCmdStart = 1, kEduCmdToRam = 2;

constexpr u64 kHvMagicAddr = 0x4020'0038;  // the hypervisor Image header's magic, "ARM\x64"
constexpr u64 kHvRes4Addr = 0x4020'0030;   // its res4 field (0, unused after boot)
constexpr u32 kImageMagic = 0x644d'5241;   // "ARM\x64" little endian

// PCI configuration header (PCI Local Bus 3.0 6.1).
constexpr u64 kCfgId = 0x00, kCfgCommand = 0x04, kCfgBar0 = 0x10;
constexpr u32 kCmdMemory = 1u << 1, kCmdBusMaster = 1u << 2;

struct Edu {
    u64 cfg = 0;   // ECAM address of its configuration space
    u64 bar0 = 0;  // where its registers were placed
    bool ok = false;
};
Edu g_edu;

// DMA staging buffers in guest RAM (the MMU is off: Device memory, no cache maintenance needed).
alignas(64) volatile u64 g_src[8];
alignas(64) volatile u64 g_dst[8];

bool open_mode() {
    const char* v = nullptr;
    usize len = 0;
    if (bootarg_flag("nohv")) return true;
    return bootarg("expect_dma", v, len) && len == 4 && memcmp(v, "open", 4) == 0;
}

// The 32-bit MMIO window of the host bridge: the first `ranges` entry with space code 2 (IEEE 1275 PCI binding).
bool mmio32_window(u64& base, u64& size) {
    const i32 n = dt().find_compatible("pci-host-ecam-generic");
    if (n < 0) return false;
    Span<const u8> r = dt().prop(n, "ranges");
    for (usize off = 0; r.data() != nullptr && off + 28 <= r.size(); off += 28) {
        const u8* e = r.data() + off;
        if (((fdt::load_be32(e) >> 24) & 3) != 2) continue;
        base = fdt::load_be64(e + 12);
        size = fdt::load_be64(e + 20);
        return true;
    }
    return false;
}

Edu find_edu() {
    Edu edu;
    u64 ecam = 0, ecam_size = 0, win = 0, win_size = 0;
    if (!dt_compatible_reg("pci-host-ecam-generic", 0, ecam, ecam_size) || !mmio32_window(win, win_size)) return edu;
    for (u32 dev = 0; dev < 32; ++dev) {
        const u64 cfg = ecam + (u64{dev} << 15);  // bus 0, function 0: ECAM offset = dev << 15
        const u32 id = mmio_read32(cfg + kCfgId);
        if ((id & 0xffff) != kEduVendor || (id >> 16) != kEduDevice) continue;
        // Size BAR0 (32-bit memory BAR), place it at the start of the window, decode memory, master DMA.
        mmio_write32(cfg + kCfgBar0, 0xffff'ffff);
        const u32 bar_mask = mmio_read32(cfg + kCfgBar0) & ~0xfu;
        const u64 bar_size = bar_mask == 0 ? 0 : (~u64{bar_mask} + 1) & 0xffff'ffffull;
        if (bar_size == 0 || bar_size > win_size) return edu;
        const u64 bar = (win + bar_size - 1) & ~(bar_size - 1);
        mmio_write32(cfg + kCfgBar0, static_cast<u32>(bar));
        mmio_write32(cfg + kCfgCommand, mmio_read32(cfg + kCfgCommand) | kCmdMemory | kCmdBusMaster);
        printf("  edu at 00:%02x.0 (requester ID 0x%x), BAR0 0x%llx (%llu KiB)\n", dev, dev << 3,
               static_cast<unsigned long long>(bar), static_cast<unsigned long long>(bar_size / 1024));
        edu.cfg = cfg;
        edu.bar0 = bar;
        edu.ok = true;
        return edu;
    }
    return edu;
}

// One edu DMA; false if the engine did not finish within 2 s (it takes ~100 ms of virtual time per transfer).
bool dma(u64 src, u64 dst, u64 count, bool to_ram) {
    mmio_write64(g_edu.bar0 + kEduDmaSrc, src);
    mmio_write64(g_edu.bar0 + kEduDmaDst, dst);
    mmio_write64(g_edu.bar0 + kEduDmaCount, count);
    mmio_write64(g_edu.bar0 + kEduDmaCmd, kEduCmdStart | (to_ram ? kEduCmdToRam : 0));
    const u64 deadline = counter() + ms_ticks(2000);
    while (counter() < deadline)
        if ((mmio_read64(g_edu.bar0 + kEduDmaCmd) & kEduCmdStart) == 0) return true;
    return false;
}

// RAM -> buffer -> g_dst: the 8 bytes the device reads at `addr`, as seen through its buffer. The buffer is first
// filled with `fill` from guest RAM, so a blocked read shows up as "not the target's bytes".
bool dma_peek(u64 addr, u64 fill, u64& out) {
    g_src[0] = fill;
    g_dst[0] = 0;
    if (!dma(reinterpret_cast<u64>(&g_src[0]), kEduBuffer, 8, false)) return false;
    if (!dma(addr, kEduBuffer, 8, false)) return false;
    if (!dma(kEduBuffer, reinterpret_cast<u64>(&g_dst[0]), 8, true)) return false;
    out = g_dst[0];
    return true;
}

// g_src -> buffer -> `addr`.
bool dma_poke(u64 addr, u64 value) {
    g_src[0] = value;
    if (!dma(reinterpret_cast<u64>(&g_src[0]), kEduBuffer, 8, false)) return false;
    return dma(kEduBuffer, addr, 8, true);
}

}  // namespace

GUEST_TEST(edu_found_and_bus_master) {
    g_edu = find_edu();
    if (!g_edu.ok) abort_run("no edu device on bus 0 (QEMU needs -device edu,dma_mask=0xffffffffffffffff)");
    // Identification register 0x00 = 0x010000ed; 0x04 returns the inverse of what was written (a live device).
    EXPECT_EQ(mmio_read32(g_edu.bar0) & 0xff, 0xedu);
    mmio_write32(g_edu.bar0 + 4, 0x1234'5678);
    EXPECT_EQ(mmio_read32(g_edu.bar0 + 4), ~0x1234'5678u);
    printf("  mode: %s\n", open_mode() ? "open (attacks must succeed: the control)" : "blocked (SMMU on)");
}

GUEST_TEST(control_dma_from_own_ram_works) {
    for (u64 i = 0; i < 8; ++i) g_src[i] = 0x1111'2222'3333'0000ull + i;
    for (u64 i = 0; i < 8; ++i) g_dst[i] = 0;
    ASSERT_TRUE(dma(reinterpret_cast<u64>(&g_src[0]), kEduBuffer, sizeof g_src, false));
    ASSERT_TRUE(dma(kEduBuffer, reinterpret_cast<u64>(&g_dst[0]), sizeof g_dst, true));
    for (u64 i = 0; i < 8; ++i) EXPECT_EQ(g_dst[i], 0x1111'2222'3333'0000ull + i);
}

GUEST_TEST(dma_read_of_hypervisor_image) {
    if (!under_hypervisor()) mmio_write32(kHvMagicAddr, kImageMagic);  // plain QEMU: plant the target bytes
    u64 got = 0;
    ASSERT_TRUE(dma_peek(kHvMagicAddr, 0x5a5a'5a5a'5a5a'5a5aull, got));
    printf("  8 bytes read by DMA at 0x%llx: 0x%016llx\n", static_cast<unsigned long long>(kHvMagicAddr),
           static_cast<unsigned long long>(got));
    if (open_mode())
        EXPECT_EQ(got & 0xffff'ffff, kImageMagic);  // the attack is real: the device reads the hypervisor's bytes
    else
        EXPECT_NE(got & 0xffff'ffff, kImageMagic);  // blocked: the hypervisor's bytes never reach the device
}

GUEST_TEST(dma_write_to_hypervisor_image) {
    constexpr u64 kPattern = 0xbad0'dead'beef'f00dull;
    if (!under_hypervisor()) mmio_write64(kHvRes4Addr, 0);  // plain QEMU: the target holds what the header holds
    u64 before = 0;
    ASSERT_TRUE(dma_peek(kHvRes4Addr, 0x7777'7777'7777'7777ull, before));
    ASSERT_TRUE(dma_poke(kHvRes4Addr, kPattern));
    u64 after = 0;
    ASSERT_TRUE(dma_peek(kHvRes4Addr, 0x6666'6666'6666'6666ull, after));
    printf("  res4 by DMA: before 0x%016llx, after writing 0x%016llx: 0x%016llx\n",
           static_cast<unsigned long long>(before), static_cast<unsigned long long>(kPattern),
           static_cast<unsigned long long>(after));
    if (open_mode()) {
        EXPECT_EQ(before, 0u);                       // the header's res4 really was read
        EXPECT_EQ(after, kPattern);                  // and really was overwritten
        EXPECT_TRUE(dma_poke(kHvRes4Addr, before));  // put it back
    } else {
        EXPECT_NE(after, kPattern);  // the write did not land (the read-back is blocked as well)
    }
}

GUEST_TEST(device_still_works_after_the_attacks) {
    // The faults did not wedge the device or the hypervisor: DMA to the guest's own RAM still works.
    for (u64 i = 0; i < 8; ++i) g_src[i] = 0xabcd'0000ull + i;
    for (u64 i = 0; i < 8; ++i) g_dst[i] = 0;
    ASSERT_TRUE(dma(reinterpret_cast<u64>(&g_src[0]), kEduBuffer, sizeof g_src, false));
    ASSERT_TRUE(dma(kEduBuffer, reinterpret_cast<u64>(&g_dst[0]), sizeof g_dst, true));
    for (u64 i = 0; i < 8; ++i) EXPECT_EQ(g_dst[i], 0xabcd'0000ull + i);
}
