// irq_basics: the guest's GICv3 works through the runtime's driver: distributor/redistributor discovery from the
// DT, a self-SGI (ICC_SGI1R_EL1 traps to the hypervisor and comes back as a virtual SGI), the virtual timer PPI 27,
// and a software-pended SPI routed to this CPU.
//
// guest-tests: smp=1 mem=512M append="" hv_append="vcpus=1" expect=pass
#include "tests/guest/runtime/guest.hpp"

using namespace rt;

namespace {

volatile u32 g_count[1024];
volatile u64 g_timer_fired_at = 0;

void count_irq(u32 intid, void*) { g_count[intid] = g_count[intid] + 1; }

void timer_irq(u32 intid, void*) {
    g_timer_fired_at = counter();
    RT_WRITE_SYSREG(cntv_ctl_el0, 3);  // ENABLE | IMASK: the level interrupt goes away before the EOI
    isb();
    g_count[intid] = g_count[intid] + 1;
}

// Waits (IRQs unmasked) until g_count[intid] reaches `want` or `ms` pass.
bool wait_for(u32 intid, u32 want, u64 ms) {
    return run_irqs_until([&] { return g_count[intid] >= want; }, ms);
}

}  // namespace

GUEST_TEST(gic_init) {
    ASSERT_TRUE(gic::init());
    printf("  GICD 0x%llx, RD 0x%llx, %u SPIs\n", static_cast<unsigned long long>(gic::gicd_base()),
           static_cast<unsigned long long>(gic::rd_base()), gic::spi_count());
    EXPECT_GE(gic::spi_count(), 32u);
    // GICD_PIDR2.ArchRev (bits 7:4) is 3 for GICv3 (IHI0069H, GICD_PIDR2).
    EXPECT_EQ((mmio_read32(gic::gicd_base() + 0xffe8) >> 4) & 0xf, 3u);
    u64 sre = RT_READ_SYSREG(icc_sre_el1);
    EXPECT_EQ(sre & 1, 1u);
}

GUEST_TEST(sgi_to_self) {
    ASSERT_TRUE(gic::initialised());
    constexpr u32 kSgi = 5;
    ASSERT_TRUE(gic::set_handler(kSgi, count_irq));
    gic::enable(kSgi);
    gic::send_sgi_self(kSgi);
    EXPECT_TRUE(wait_for(kSgi, 1, 100));
    gic::send_sgi_self(kSgi);
    gic::send_sgi_self(kSgi);  // may merge with the previous one while pending: at least one more
    EXPECT_TRUE(wait_for(kSgi, 2, 100));
    gic::disable(kSgi);
    EXPECT_EQ(gic::unhandled_count(), 0u);
}

GUEST_TEST(virtual_timer_fires) {
    ASSERT_TRUE(gic::initialised());
    ASSERT_TRUE(gic::set_handler(gic::kVirtualTimerPpi, timer_irq));
    gic::enable(gic::kVirtualTimerPpi);
    u64 deadline = counter() + counter_frequency() / 1000;  // 1 ms
    RT_WRITE_SYSREG(cntv_cval_el0, deadline);
    RT_WRITE_SYSREG(cntv_ctl_el0, 1);  // ENABLE, not masked
    isb();
    EXPECT_TRUE(wait_for(gic::kVirtualTimerPpi, 1, 500));
    EXPECT_GE(g_timer_fired_at, deadline);
    u64 ctl = RT_READ_SYSREG(cntv_ctl_el0);
    EXPECT_EQ(ctl & 4, 4u);  // ISTATUS: the condition is met (still enabled, masked)
    RT_WRITE_SYSREG(cntv_ctl_el0, 0);
    gic::disable(gic::kVirtualTimerPpi);
    EXPECT_EQ(g_count[gic::kVirtualTimerPpi], 1u);  // masked in the handler: exactly one
}

GUEST_TEST(software_pended_spi) {
    ASSERT_TRUE(gic::initialised());
    u32 spi = gic::kFirstSpi + gic::spi_count() - 1;  // the highest SPI: no device of virt uses it
    ASSERT_TRUE(gic::set_handler(spi, count_irq));
    gic::set_edge_triggered(spi, true);
    gic::route_spi_to_self(spi);
    gic::set_pending(spi);
    EXPECT_TRUE(gic::is_pending(spi));
    gic::enable(spi);
    EXPECT_TRUE(wait_for(spi, 1, 100));
    EXPECT_FALSE(gic::is_pending(spi));
    gic::disable(spi);
}
