// vgic_mmio_fuzz: pseudo-random reads and writes (xorshift64, seed from the bootarg `seed`) to the whole distributor
// frame and both frames of this CPU's redistributor, with every access width (1, 2, 4, 8 bytes, naturally aligned),
// catching any external abort; then the GIC is scrubbed and re-initialised and must still deliver an SGI, an SPI
// and a timer interrupt exactly once. Under the hypervisor every access traps to the vGIC, which must answer with
// RAZ/WI (or an abort) and never panic.
//
// Coverage: 32-bit accesses at every 4-byte offset of the three 64 KiB frames; 1-, 2- and 8-byte accesses at every
// aligned offset of the register ranges (GICD 0x0000-0x0fff, IROUTER 0x6000-0x7fff, the ID block 0xffd0-0xffff;
// GICR RD 0x0000-0x00ff and 0xffd0-0xffff; GICR SGI 0x0000-0x0fff) and at a 1-in-16 sample of the rest.
//
// Registers deliberately not written with random values (they would break plain QEMU's real GIC, not the test):
//   GICD_CTLR      random ARE / DS / group bits could leave affinity routing (legacy mode) for good; written with
//                  the value we need instead.
//   GICR_CTLR      EnableLPIs = 1 with a garbage GICR_PROPBASER/PENDBASER makes QEMU use random RAM as LPI tables
//                  and cannot be undone (EnableLPIs may be RES1 once set); written with bit 0 cleared.
// Everything else (including GICR_WAKER, PROPBASER, PENDBASER, SETSPI, IROUTER, the ID registers) gets random data.
//
// guest-tests: smp=1 mem=512M append="seed=0x5eed1234" hv_append="vcpus=1" expect=pass timeout=120
#include "tests/guest/runtime/guest.hpp"

using namespace rt;

namespace {

constexpr u64 kFrame = 0x1'0000;
constexpr u64 kSgiFrame = 0x1'0000;

u64 g_state = 1;
u64 next_random() {  // xorshift64 (Marsaglia)
    u64 x = g_state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    g_state = x;
    return x;
}

// Single-instruction accesses: a fault handler that skips the instruction (elr + 4) lands right after them.
void raw_write(u64 addr, u32 width, u64 v) {
    switch (width) {
        case 1:
            asm volatile("strb %w1, [%0]" ::"r"(addr), "r"(v) : "memory");
            break;
        case 2:
            asm volatile("strh %w1, [%0]" ::"r"(addr), "r"(v) : "memory");
            break;
        case 4:
            asm volatile("str %w1, [%0]" ::"r"(addr), "r"(v) : "memory");
            break;
        default:
            asm volatile("str %1, [%0]" ::"r"(addr), "r"(v) : "memory");
            break;
    }
}
u64 raw_read(u64 addr, u32 width) {
    u64 v = 0;
    switch (width) {
        case 1:
            asm volatile("ldrb %w0, [%1]" : "+r"(v) : "r"(addr) : "memory");
            break;
        case 2:
            asm volatile("ldrh %w0, [%1]" : "+r"(v) : "r"(addr) : "memory");
            break;
        case 4:
            asm volatile("ldr %w0, [%1]" : "+r"(v) : "r"(addr) : "memory");
            break;
        default:
            asm volatile("ldr %0, [%1]" : "+r"(v) : "r"(addr) : "memory");
            break;
    }
    return v;
}

struct FuzzStats {
    u32 accesses = 0;
    u32 faults = 0;
    u32 odd_faults = 0;  // anything but a synchronous data abort at EL1
};

void access(u64 addr, u32 width, bool write, u64 value, FuzzStats& st) {
    expect_fault(FaultAction::skip);
    if (write)
        raw_write(addr, width, value);
    else
        (void)raw_read(addr, width);
    FaultRecord f = take_fault();
    ++st.accesses;
    if (f.taken) {
        ++st.faults;
        if (f.ec() != ec::kDataAbortSameEl || f.far != addr) {
            if (st.odd_faults < 4)
                printf("  odd fault at 0x%llx (width %u): ESR 0x%llx FAR 0x%llx\n",
                       static_cast<unsigned long long>(addr), width, static_cast<unsigned long long>(f.esr),
                       static_cast<unsigned long long>(f.far));
            ++st.odd_faults;
        }
    }
}

struct Range {
    u64 lo, hi;  // [lo, hi)
};

bool in_ranges(u64 off, const Range* r, usize n) {
    for (usize i = 0; i < n; ++i)
        if (off >= r[i].lo && off < r[i].hi) return true;
    return false;
}

// Value to write at `off` of a frame, with the protected registers fixed up. `kind`: 0 GICD, 1 GICR RD, 2 GICR SGI.
// Returns false if the access is to be skipped.
bool fix_value(u32 kind, u64 off, u32 width, u64& v) {
    u64 reg = off & ~u64{3};
    if (kind == 0 && reg == 0x0000) return false;  // GICD_CTLR: see the header
    if (kind == 1 && reg == 0x0000) v &= ~u64{1};  // GICR_CTLR: never EnableLPIs
    (void)width;
    return true;
}

void fuzz_frame(u64 base, u32 kind, const Range* full, usize nfull, FuzzStats& st) {
    const u32 widths[] = {4, 1, 2, 8};
    for (u32 width : widths) {
        for (u64 off = 0; off < kFrame; off += width) {
            if (width != 4 && !in_ranges(off, full, nfull) && (next_random() & 15) != 0) continue;
            access(base + off, width, false, 0, st);
            u64 v = next_random();
            if (!fix_value(kind, off, width, v)) continue;
            access(base + off, width, true, v, st);
        }
        printf("    width %u done: %u accesses so far, %u aborts\n", width, st.accesses, st.faults);
    }
}

// Back to a known state after the fuzzing: everything disabled, not pending, not active, Group 1, priority 0xa0;
// GICR_WAKER awake; CPU interface re-initialised by gic::init().
void scrub_bank(u64 base, u32 word) {
    mmio_write32(base + 0x180 + 4 * word, ~0u);  // ICENABLER
    mmio_write32(base + 0x280 + 4 * word, ~0u);  // ICPENDR
    mmio_write32(base + 0x380 + 4 * word, ~0u);  // ICACTIVER
    mmio_write32(base + 0x080 + 4 * word, ~0u);  // IGROUPR: Group 1
    mmio_write32(base + 0x0d00 + 4 * word, 0);   // IGRPMODR (RAZ/WI with one Security state)
    for (u32 b = 0; b < 8; ++b) mmio_write32(base + 0x400 + 32 * word + 4 * b, 0xa0a0a0a0u);  // IPRIORITYR
}

void scrub_and_reinit() {
    // SGIs/PPIs in this CPU's SGI frame, SPIs (words 1..31, RAZ/WI beyond ITLinesNumber) in the distributor.
    scrub_bank(gic::rd_base() + kSgiFrame, 0);
    for (u32 n = 1; n < 32; ++n) scrub_bank(gic::gicd_base(), n);
    mmio_write32(gic::rd_base() + 0x0000, 0);  // GICR_CTLR: EnableLPIs stays 0
}

volatile u32 g_count[1024];
void count_irq(u32 intid, void*) { g_count[intid] = g_count[intid] + 1; }
void timer_irq(u32 intid, void*) {
    RT_WRITE_SYSREG(cntv_ctl_el0, 0);
    isb();
    g_count[intid] = g_count[intid] + 1;
}

bool wait_count(u32 intid, u32 want, u64 ms) {
    (void)run_irqs_until([&] { return g_count[intid] >= want; }, ms, 20);
    return g_count[intid] == want;
}

}  // namespace

GUEST_TEST(setup) {
    ASSERT_TRUE(gic::init());
    g_state = bootarg_u64("seed", 0x5eed1234);
    if (g_state == 0) g_state = 1;
    printf("  seed 0x%llx\n", static_cast<unsigned long long>(g_state));
}

GUEST_TEST(fuzz_distributor) {
    ASSERT_TRUE(gic::initialised());
    const Range full[] = {{0x0000, 0x1000}, {0x6000, 0x8000}, {0xffd0, 0x10000}};
    FuzzStats st;
    fuzz_frame(gic::gicd_base(), 0, full, 3, st);
    printf("  GICD: %u accesses, %u external aborts\n", st.accesses, st.faults);
    EXPECT_EQ(st.odd_faults, 0u);
    EXPECT_GT(st.accesses, 16384u);
}

GUEST_TEST(fuzz_redistributor_rd_frame) {
    ASSERT_TRUE(gic::initialised());
    const Range full[] = {{0x0000, 0x0100}, {0xffd0, 0x10000}};
    FuzzStats st;
    fuzz_frame(gic::rd_base(), 1, full, 2, st);
    printf("  GICR RD_base: %u accesses, %u external aborts\n", st.accesses, st.faults);
    EXPECT_EQ(st.odd_faults, 0u);
    // The guard held: LPIs were never enabled.
    EXPECT_EQ(mmio_read32(gic::rd_base()) & 1, 0u);
}

GUEST_TEST(fuzz_redistributor_sgi_frame) {
    ASSERT_TRUE(gic::initialised());
    const Range full[] = {{0x0000, 0x1000}};
    FuzzStats st;
    fuzz_frame(gic::rd_base() + kSgiFrame, 2, full, 1, st);
    printf("  GICR SGI_base: %u accesses, %u external aborts\n", st.accesses, st.faults);
    EXPECT_EQ(st.odd_faults, 0u);
}

GUEST_TEST(gic_still_works_after_fuzzing) {
    scrub_and_reinit();
    ASSERT_TRUE(gic::init());
    EXPECT_EQ(mmio_read32(gic::gicd_base()) & 0x12, 0x12u);  // ARE + EnableGrp1 (IHI0069H, GICD_CTLR)
    // Reads that must not have changed: GICD_PIDR2.ArchRev, GICD_TYPER.ITLinesNumber.
    EXPECT_EQ((mmio_read32(gic::gicd_base() + 0xffe8) >> 4) & 0xf, 3u);

    constexpr u32 kSgi = 3;
    ASSERT_TRUE(gic::set_handler(kSgi, count_irq));
    gic::enable(kSgi);
    gic::send_sgi_self(kSgi);
    EXPECT_TRUE(wait_count(kSgi, 1, 200));

    u32 spi = gic::kFirstSpi + gic::spi_count() - 1;
    ASSERT_TRUE(gic::set_handler(spi, count_irq));
    gic::set_edge_triggered(spi, true);
    gic::route_spi_to_self(spi);
    gic::enable(spi);
    gic::set_pending(spi);
    EXPECT_TRUE(wait_count(spi, 1, 200));

    ASSERT_TRUE(gic::set_handler(gic::kVirtualTimerPpi, timer_irq));
    gic::enable(gic::kVirtualTimerPpi);
    u64 cval = counter() + counter_frequency() / 1000;
    RT_WRITE_SYSREG(cntv_cval_el0, cval);
    RT_WRITE_SYSREG(cntv_ctl_el0, 1);
    isb();
    EXPECT_TRUE(wait_count(gic::kVirtualTimerPpi, 1, 500));
    RT_WRITE_SYSREG(cntv_ctl_el0, 0);
    isb();
    EXPECT_EQ(gic::unhandled_count(), 0u);
}
