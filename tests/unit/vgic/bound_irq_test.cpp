// Bound interrupts (core/irq.hpp IrqBinder / BoundIrqSink, SDEI INTERRUPT_BIND): a bound INTID's pending edge goes to
// the sink and never into a list register; release restores normal delivery.
#include <vector>

#include "tests/unit/vgic/vgic_fixture.hpp"

using namespace vgictest;

namespace {

struct FakeSink final : BoundIrqSink {
    bool bound_irq_fired(u32 intid, u32 vcpu) override {
        fired.push_back({intid, vcpu});
        return owns;
    }
    struct Hit {
        u32 intid, vcpu;
    };
    std::vector<Hit> fired;
    bool owns = true;
};

class BoundIrqTest : public VgicTest {
protected:
    void SetUp() override {
        VgicTest::SetUp();
        vgic->set_bound_sink(&sink);
        enable_all(0);
        enable_all(1);
    }
    u32 flush_count(u32 vcpu) {
        VcpuIfState& s = vgic->cpu_if(vcpu);
        vgic->flush(vcpu, s);
        const u32 n = s.used_lrs;
        vgic->fold(vcpu, s);
        return n;
    }
    FakeSink sink;
};

constexpr u32 kSpi = 40;
constexpr u32 kPpi = 23;

}  // namespace

TEST_F(BoundIrqTest, BindableRange) {
    EXPECT_FALSE(vgic->bindable(3));        // SGI
    EXPECT_TRUE(vgic->bindable(kPpi));      // PPI
    EXPECT_TRUE(vgic->bindable(kSpi));      // implemented SPI
    EXPECT_FALSE(vgic->bindable(32 + 64));  // beyond nr_spis
    EXPECT_FALSE(vgic->bindable(8192));     // LPI
    EXPECT_EQ(vgic->set_bound(3, true), Status::invalid_argument);
    ASSERT_EQ(vgic->map_hw(0, 27, 27), Status::ok);
    EXPECT_FALSE(vgic->bindable(27));  // hardware-linked (the timer)
}

TEST_F(BoundIrqTest, BoundSpiGoesToSinkNotLrsAndReleaseRestores) {
    gicd_write(0x100 + (kSpi / 32) * 4, 1u << (kSpi % 32));  // ISENABLER
    ASSERT_EQ(vgic->set_bound(kSpi, true), Status::ok);
    EXPECT_TRUE(vgic->is_bound(kSpi, 0));
    gicd_write(0x200 + (kSpi / 32) * 4, 1u << (kSpi % 32));  // ISPENDR: the guest makes it pending
    ASSERT_EQ(sink.fired.size(), 1u);
    EXPECT_EQ(sink.fired[0].intid, kSpi);
    EXPECT_EQ(flush_count(0), 0u);                                            // never in an LR
    EXPECT_EQ(gicd_read(0x200 + (kSpi / 32) * 4) & (1u << (kSpi % 32)), 0u);  // the edge was consumed
    EXPECT_FALSE(vgic->has_pending_for_wakeup(0));
    // Release: the next edge is an ordinary interrupt again.
    ASSERT_EQ(vgic->set_bound(kSpi, false), Status::ok);
    gicd_write(0x200 + (kSpi / 32) * 4, 1u << (kSpi % 32));
    EXPECT_EQ(sink.fired.size(), 1u);
    EXPECT_EQ(flush_count(0), 1u);
}

TEST_F(BoundIrqTest, BoundPpiPerVcpuBank) {
    ASSERT_EQ(vgic->set_bound(kPpi, true), Status::ok);
    gicr_write(1, kSgi + 0x200, 1u << kPpi);  // GICR_ISPENDR0 of vCPU 1
    ASSERT_EQ(sink.fired.size(), 1u);
    EXPECT_EQ(sink.fired[0].vcpu, 1u);
    EXPECT_EQ(flush_count(1), 0u);
    ASSERT_EQ(vgic->set_level(kPpi, 0, true), Status::ok);  // a level line on vCPU 0
    ASSERT_EQ(sink.fired.size(), 2u);
    EXPECT_EQ(sink.fired[1].vcpu, 0u);
}

TEST_F(BoundIrqTest, PendingWhenBoundIsRaisedAtOnce) {
    gicd_write(0x200 + (kSpi / 32) * 4, 1u << (kSpi % 32));
    EXPECT_TRUE(sink.fired.empty());
    ASSERT_EQ(vgic->set_bound(kSpi, true), Status::ok);
    EXPECT_EQ(sink.fired.size(), 1u);
}

TEST_F(BoundIrqTest, SinkDisownsIsDeliveredNormally) {
    sink.owns = false;  // a BIND/RELEASE race: the dispatcher no longer has it
    gicd_write(0x100 + (kSpi / 32) * 4, 1u << (kSpi % 32));
    ASSERT_EQ(vgic->set_bound(kSpi, true), Status::ok);
    gicd_write(0x200 + (kSpi / 32) * 4, 1u << (kSpi % 32));
    EXPECT_EQ(sink.fired.size(), 1u);
    EXPECT_EQ(flush_count(0), 1u);
}

TEST_F(BoundIrqTest, ResetUnbinds) {
    ASSERT_EQ(vgic->set_bound(kSpi, true), Status::ok);
    vgic->reset();
    EXPECT_FALSE(vgic->is_bound(kSpi, 0));
}
