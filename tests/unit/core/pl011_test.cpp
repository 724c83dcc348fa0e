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
    EXPECT_EQ(rd(u, 0x800), 0u);          // hole
    EXPECT_EQ(rd(u, 0x000, 8), 0u);       // 64-bit access not allowed
    wr(u, 0x018, 0xff);                   // FR is read-only
    wr(u, 0x031, 0xff, 1);                // sub-word write to a non-zero lane
    EXPECT_EQ(rd(u, 0x030), 0x300u);
    EXPECT_EQ(b.out, "");
    EXPECT_NE(hvtest::captured_log().find("pl011"), std::string::npos);
}
