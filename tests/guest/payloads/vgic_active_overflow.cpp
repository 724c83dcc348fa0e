// vgic_active_overflow: more interrupts active than the hypervisor has list registers. Eight SPIs made active through
// GICD_ISACTIVER (a guest may do that, e.g. when restoring state) must not stop a ninth, pending and enabled one from
// being delivered: the active state of other interrupts does not change the running priority, only acknowledgement
// does (IHI0069H 4.8). Plain QEMU delivers it. Kept apart from vgic_spi_ppi because the vGIC's "active first" LR
// policy (docs/vgic.md, as KVM) fills all 4 LRs with the active ones and the pending one is starved.
//
// guest-tests: smp=1 mem=512M append="" hv_append="vcpus=1" expect=pass timeout=60
#include "tests/guest/runtime/guest.hpp"

using namespace rt;

namespace {

volatile u32 g_count[1024];
void count_irq(u32 intid, void*) { g_count[intid] = g_count[intid] + 1; }

void prepare_spi(u32 spi, u8 prio) {
    (void)gic::set_handler(spi, count_irq);
    gic::set_edge_triggered(spi, true);
    gic::route_spi_to_self(spi);
    gic::clear_pending(spi);
    gic::enable(spi, prio);
}

}  // namespace

GUEST_TEST(setup) { ASSERT_TRUE(gic::init()); }

GUEST_TEST(many_active_interrupts_do_not_block_a_pending_one) {
    ASSERT_TRUE(gic::initialised());
    constexpr u32 kActive = 8;
    u32 first = gic::kFirstSpi + gic::spi_count() - 16;
    u32 pend = first + kActive;
    for (u32 i = 0; i < kActive; ++i) prepare_spi(first + i, 0xa0);
    prepare_spi(pend, 0x80);
    for (u32 i = 0; i < kActive; ++i)
        mmio_write32(gic::gicd_base() + 0x300 + 4 * ((first + i) / 32), 1u << ((first + i) % 32));  // ISACTIVER
    u32 active = 0;
    for (u32 i = 0; i < kActive; ++i) active += gic::is_active(first + i) ? 1 : 0;
    EXPECT_EQ(active, kActive);
    gic::set_pending(pend);
    EXPECT_TRUE(run_irqs_until([&] { return g_count[pend] >= 1; }, 500, 20));
    EXPECT_EQ(g_count[pend], 1u);
    u32 taken = 0;
    for (u32 i = 0; i < kActive; ++i) taken += g_count[first + i];
    EXPECT_EQ(taken, 0u);  // active, not pending: nothing to take
    for (u32 i = 0; i < kActive; ++i) {
        gic::clear_active(first + i);
        gic::disable(first + i);
    }
    active = 0;
    for (u32 i = 0; i < kActive; ++i) active += gic::is_active(first + i) ? 1 : 0;
    EXPECT_EQ(active, 0u);
    // With the active ones gone it must arrive (if it was starved above) and still only once.
    EXPECT_TRUE(run_irqs_until([&] { return g_count[pend] >= 1; }, 200, 20));
    EXPECT_EQ(g_count[pend], 1u);
    gic::disable(pend);
}
