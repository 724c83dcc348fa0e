#include "core/pl011.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/unit/support.hpp"

using namespace hv;

namespace {

struct Backend final : Pl011Backend {
    std::string out;
    std::vector<bool> irq_changes;
    void uart_tx(char c) override { out.push_back(c); }
    void uart_irq(bool level) override { irq_changes.push_back(level); }
};

u64 rd(Pl011& u, u64 off, u8 width = 4) {
    u64 v = ~u64{0};
    EXPECT_EQ(u.mmio_read(MmioAccess{0, off, width, false}, v), MmioResult::ok);
    return v;
}
void wr(Pl011& u, u64 off, u64 v, u8 width = 4) {
    EXPECT_EQ(u.mmio_write(MmioAccess{0, off, width, true}, v), MmioResult::ok);
}

}  // namespace

TEST(Pl011, TransmitsBytesAndReportsEmptyFifos) {
    Backend b;
    Pl011 u(b);
    wr(u, 0x000, 'h');
    wr(u, 0x000, 0x169, 1);  // only the low byte is data
    EXPECT_EQ(b.out, "hi");
    u64 fr = rd(u, 0x018);
    EXPECT_TRUE(fr & Pl011::kFrTxfe);
    EXPECT_TRUE(fr & Pl011::kFrRxfe);
    EXPECT_FALSE(fr & Pl011::kFrTxff);
}

TEST(Pl011, PrimeCellIdentification) {
    Backend b;
    Pl011 u(b);
    u32 periph = 0, cell = 0;
    for (int i = 0; i < 4; ++i) {
        periph |= static_cast<u32>(rd(u, 0xfe0 + 4 * i)) << (8 * i);
        cell |= static_cast<u32>(rd(u, 0xff0 + 4 * i)) << (8 * i);
    }
    EXPECT_EQ(periph & 0x000fffff, 0x00041011u);  // part 0x011, designer 0x41 (ARM)
    EXPECT_EQ(cell, 0xb105f00du);
}

TEST(Pl011, ControlRegistersReadBack) {
    Backend b;
    Pl011 u(b);
    EXPECT_EQ(rd(u, 0x030), 0x300u);  // reset: TXE | RXE
    wr(u, 0x024, 0x27);
    wr(u, 0x028, 0x04);
    wr(u, 0x02c, 0x70);
    wr(u, 0x030, 0x301);
    EXPECT_EQ(rd(u, 0x024), 0x27u);
    EXPECT_EQ(rd(u, 0x028), 0x04u);
    EXPECT_EQ(rd(u, 0x02c), 0x70u);
    EXPECT_EQ(rd(u, 0x030), 0x301u);
    EXPECT_EQ(rd(u, 0x02c, 1), 0x70u);
    EXPECT_EQ(rd(u, 0x02d, 1), 0x00u);
}

TEST(Pl011, TransmitInterruptRaisedMaskedAndCleared) {
    Backend b;
    Pl011 u(b);
    wr(u, 0x000, 'x');
    EXPECT_TRUE(rd(u, 0x03c) & Pl011::kIntTx);  // raw status set
    EXPECT_EQ(rd(u, 0x040), 0u);                // but masked
    EXPECT_FALSE(u.irq_level());
    wr(u, 0x038, Pl011::kIntTx);
    EXPECT_TRUE(u.irq_level());
    EXPECT_EQ(rd(u, 0x040), Pl011::kIntTx);
    wr(u, 0x044, Pl011::kIntTx);
    EXPECT_FALSE(u.irq_level());
    ASSERT_EQ(b.irq_changes.size(), 2u);
    EXPECT_TRUE(b.irq_changes[0]);
    EXPECT_FALSE(b.irq_changes[1]);
}

TEST(Pl011, ReceiveFifoAndInterruptFollowData) {
    Backend b;
    Pl011 u(b);
    wr(u, 0x038, Pl011::kIntRx);
    EXPECT_TRUE(u.push_rx('a'));
    EXPECT_TRUE(u.push_rx('b'));
    EXPECT_TRUE(u.irq_level());
    EXPECT_FALSE(rd(u, 0x018) & Pl011::kFrRxfe);
    wr(u, 0x044, Pl011::kIntRx);  // cannot clear while data waits
    EXPECT_TRUE(u.irq_level());
    EXPECT_EQ(rd(u, 0x000), u64{'a'});
    EXPECT_EQ(rd(u, 0x000), u64{'b'});
    EXPECT_FALSE(u.irq_level());
    EXPECT_TRUE(rd(u, 0x018) & Pl011::kFrRxfe);
    EXPECT_EQ(rd(u, 0x000), 0u);  // empty FIFO reads zero
    for (usize i = 0; i < Pl011::kRxFifo; ++i) EXPECT_TRUE(u.push_rx('z'));
    EXPECT_FALSE(u.push_rx('!'));
    EXPECT_TRUE(rd(u, 0x018) & Pl011::kFrRxff);
}

TEST(Pl011, BadAccessesAreRazWiAndLogged) {
    hvtest::install_log_capture();
    hvtest::captured_log().clear();
    Backend b;
    Pl011 u(b);
    EXPECT_EQ(rd(u, 0x800), 0u);     // hole
    EXPECT_EQ(rd(u, 0x000, 8), 0u);  // 64-bit access not allowed
    wr(u, 0x018, 0xff);              // FR is read-only
    wr(u, 0x031, 0xff, 1);           // sub-word write to a non-zero lane
    EXPECT_EQ(rd(u, 0x030), 0x300u);
    EXPECT_EQ(b.out, "");
    EXPECT_NE(hvtest::captured_log().find("pl011"), std::string::npos);
}

namespace {

// A physical UART holding `pending` (what the host has received but not handed over yet), with its receive
// interrupt mask as the model last set it.
struct FakeSource final : Pl011RxSource {
    std::string pending;
    size_t next = 0;
    bool irq_on = false;
    int irq_writes = 0;
    int rx_getc() override { return next < pending.size() ? static_cast<unsigned char>(pending[next++]) : -1; }
    void rx_irq_enable(bool on) override {
        irq_on = on;
        ++irq_writes;
    }
    size_t left() const { return pending.size() - next; }
};

// Drains the guest FIFO through DR like a driver: read while FR.RXFE is clear.
std::string guest_read_all(Pl011& u) {
    std::string got;
    for (int guard = 0; guard < 100000 && (rd(u, 0x018) & Pl011::kFrRxfe) == 0; ++guard)
        got.push_back(static_cast<char>(rd(u, 0x000)));
    return got;
}

}  // namespace

TEST(Pl011BackPressure, IdleSourceKeepsItsInterruptEnabled) {
    Backend b;
    Pl011 u(b);
    FakeSource src;
    u.attach_rx_source(&src);
    EXPECT_TRUE(src.irq_on);
    EXPECT_TRUE(u.rx_source_irq_enabled());
    EXPECT_EQ(u.rx_count(), 0u);
    EXPECT_EQ(u.pull_rx(), 0u);  // an interrupt with nothing to read changes nothing
    EXPECT_TRUE(src.irq_on);
}

TEST(Pl011BackPressure, FullFifoMasksTheSourceAndLeavesTheRestThere) {
    Backend b;
    Pl011 u(b);
    FakeSource src;
    u.attach_rx_source(&src);
    src.pending = std::string(Pl011::kRxFifo + 10, 'x');
    EXPECT_EQ(u.pull_rx(), Pl011::kRxFifo);  // the physical receive interrupt: what fits
    EXPECT_TRUE(u.rx_full());
    EXPECT_TRUE(rd(u, 0x018) & Pl011::kFrRxff);
    EXPECT_FALSE(src.irq_on);  // masked: the source keeps the rest
    EXPECT_EQ(src.left(), 10u);
    EXPECT_EQ(u.pull_rx(), 0u);  // a further (late) interrupt takes nothing more and stays masked
    EXPECT_FALSE(src.irq_on);
    EXPECT_EQ(src.left(), 10u);
}

TEST(Pl011BackPressure, GuestReadsRefillFromTheSourceAndUnmaskWhenItIsEmpty) {
    Backend b;
    Pl011 u(b);
    FakeSource src;
    u.attach_rx_source(&src);
    EXPECT_EQ(rd(u, 0x000), 0u);  // an empty read with the source unmasked pulls nothing
    EXPECT_EQ(rd(u, 0x018) & Pl011::kFrRxfe, Pl011::kFrRxfe);
    src.pending = std::string(Pl011::kRxFifo + 3, 'y');
    (void)u.pull_rx();
    ASSERT_FALSE(src.irq_on);
    // Each DR read frees a slot, which the model refills at once while the source still has data.
    EXPECT_EQ(rd(u, 0x000), u64{'y'});
    EXPECT_TRUE(u.rx_full());
    EXPECT_EQ(src.left(), 2u);
    EXPECT_FALSE(src.irq_on);
    EXPECT_EQ(rd(u, 0x000), u64{'y'});
    EXPECT_EQ(rd(u, 0x000), u64{'y'});
    EXPECT_EQ(src.left(), 0u);
    EXPECT_TRUE(u.rx_full());
    EXPECT_FALSE(src.irq_on);           // not known to be empty yet
    EXPECT_EQ(rd(u, 0x000), u64{'y'});  // the refill finds the source empty: unmasked again
    EXPECT_FALSE(u.rx_full());
    EXPECT_TRUE(src.irq_on);
}

TEST(Pl011BackPressure, PastedTextLargerThanTheFifoArrivesWholeAndInOrder) {
    Backend b;
    Pl011 u(b);
    FakeSource src;
    u.attach_rx_source(&src);
    wr(u, 0x038, Pl011::kIntRx | Pl011::kIntRt);
    std::string paste;
    for (int i = 0; i < 1000; ++i) paste.push_back(static_cast<char>('!' + i % 90));
    src.pending = paste;
    // The host's interrupt fires once; the guest's driver then reads on each of its interrupts.
    (void)u.pull_rx();
    std::string got;
    for (int irq = 0; irq < 1000 && got.size() < paste.size(); ++irq) {
        ASSERT_TRUE(u.irq_level());  // data waits: the guest's line is up
        got += guest_read_all(u);
        if (src.irq_on) (void)u.pull_rx();  // a host interrupt can only come while unmasked
    }
    EXPECT_EQ(got, paste);
    EXPECT_EQ(src.left(), 0u);
    EXPECT_TRUE(src.irq_on);
    EXPECT_FALSE(u.irq_level());
}

TEST(Pl011BackPressure, ResetEmptiesTheFifoAndUnmasksTheSource) {
    Backend b;
    Pl011 u(b);
    FakeSource src;
    u.attach_rx_source(&src);
    src.pending = std::string(Pl011::kRxFifo * 2, 'r');
    (void)u.pull_rx();
    ASSERT_FALSE(src.irq_on);
    u.reset();
    EXPECT_EQ(u.rx_count(), 0u);
    EXPECT_TRUE(src.irq_on);  // the rest is taken on the next physical interrupt
    EXPECT_EQ(u.pull_rx(), Pl011::kRxFifo);
    EXPECT_FALSE(src.irq_on);
}

TEST(Pl011BackPressure, UnmaskingIsWrittenOnlyOnChange) {
    Backend b;
    Pl011 u(b);
    FakeSource src;
    u.attach_rx_source(&src);
    const int after_attach = src.irq_writes;
    src.pending = "abc";
    (void)u.pull_rx();
    EXPECT_EQ(guest_read_all(u), "abc");
    EXPECT_EQ(src.irq_writes, after_attach);  // never full: the mask was never touched
}
