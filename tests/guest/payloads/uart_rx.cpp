// uart_rx: the receive side of the guest's PL011 (core/pl011, arch/aarch64/guest_uart) fed from tools/run-guest's
// stdin. Without input the FIFO reads empty (FR.RXFE, RIS.RXRIS clear, a DR read gives 0).
// With `rx_bytes=N` the harness pipes tests/guest/data/uart_rx_input.bin into run-guest (header item `stdin=`):
// N bytes, every value 0x00..0xff first (Ctrl-A 0x01, Ctrl-C 0x03, CR, XON/XOFF, DEL, 0xff: nothing on the way
// may eat or translate a byte; 0x1d is doubled in the file, the console escape's quoting), then a fixed LCG sequence
// (RxExpected below); the payload waits 300 ms without reading, so the input piles up far beyond the 32-entry FIFO,
// then must read every byte, in order, and the checksum of what it read must match. The hypervisor applies
// back-pressure (the rest waits in the host UART while the emulated FIFO is full) instead of dropping what does not
// fit. With `paste=N` the same for N letters (variant `text`: 26 through the header's stdin_text; by hand:
// `tools/run-guest ... < /tmp/paste.txt`) made by
//   python3 -c "import sys; sys.stdout.write(''.join(chr(97 + i * 7 % 26) for i in range(N)))" > /tmp/paste.txt
//
// guest-tests: smp=1 mem=512M append="" hv_append="vcpus=1" expect=pass
// guest-tests: variant=idle
// guest-tests: variant=piped append="rx_bytes=4096" stdin=tests/guest/data/uart_rx_input.bin
// guest-tests: variant=text append="paste=26" stdin_text="ahovcjqxelszgnubipwdkryfmt"
#include "tests/guest/runtime/guest.hpp"

using namespace rt;

namespace {

// DDI0183G 3.2: DR, FR (RXFE bit 4), RIS (RXRIS bit 4).
constexpr u64 kDr = 0x000, kFr = 0x018, kRis = 0x03c;
constexpr u32 kFrRxfe = 1u << 4, kIntRx = 1u << 4;

u64 uart() {
    u64 base = 0, size = 0;
    return dt_compatible_reg("arm,pl011", 0, base, size) ? base : 0x0900'0000;
}

char expected(u64 i) { return static_cast<char>('a' + i * 7 % 26); }

// Byte i of tests/guest/data/uart_rx_input.bin: i for the first 256, then the top byte of an LCG
// (x = x * 1103515245 + 12345 mod 2^32, starting at 0x2545f491, stepped once per byte). Regenerate the file with
//   python3 -c "import sys; x=0x2545f491; b=bytearray(range(256))
//   for _ in range(3840): x=(x*1103515245+12345)%2**32; b.append(x>>24)
//   sys.stdout.buffer.write(bytes(b).replace(b"\x1d", b"\x1d\x1d"))" > tests/guest/data/uart_rx_input.bin
// The file doubles every 0x1d: Ctrl-] is the hypervisor console's escape, and Ctrl-] Ctrl-] is how one 0x1d
// reaches the guest (docs/snapshot.md "Console escape"); the guest still reads the N bytes above.
struct RxExpected {
    u64 index = 0;
    u32 x = 0x2545'f491;
    u8 next() {
        const u64 i = index++;
        if (i < 256) return static_cast<u8>(i);
        x = x * 1103515245u + 12345u;
        return static_cast<u8>(x >> 24);
    }
};

// Fletcher-16 over the bytes (RFC 1146), order-sensitive.
struct Fletcher16 {
    u32 a = 0, b = 0;
    void add(u8 v) {
        a = (a + v) % 255;
        b = (b + a) % 255;
    }
    u32 value() const { return b << 8 | a; }
};

}  // namespace

GUEST_TEST(receive_fifo_is_empty_without_input) {
    if (bootarg_u64("paste", 0) != 0 || bootarg_u64("rx_bytes", 0) != 0) GUEST_SKIP("input is being piped");
    const u64 u = uart();
    EXPECT_EQ(mmio_read32(u + kFr) & kFrRxfe, kFrRxfe);
    EXPECT_EQ(mmio_read32(u + kRis) & kIntRx, 0u);
    EXPECT_EQ(mmio_read32(u + kDr) & 0xff, 0u);
}

GUEST_TEST(pasted_input_arrives_whole_and_in_order) {
    const u64 n = bootarg_u64("paste", 0);
    if (n == 0) GUEST_SKIP("no paste=N in the bootargs (needs input on the console)");
    const u64 u = uart();
    delay_us(300'000);  // let the input pile up far beyond the 32-entry FIFO
    u64 got = 0, bad = 0;
    u64 idle_until = counter() + ms_ticks(2000);
    while (got < n && counter() < idle_until) {
        if (mmio_read32(u + kFr) & kFrRxfe) continue;
        const char c = static_cast<char>(mmio_read32(u + kDr) & 0xff);
        if (c != expected(got)) ++bad;
        ++got;
        idle_until = counter() + ms_ticks(2000);
    }
    printf("  read %llu of %llu characters, %llu out of place\n", static_cast<unsigned long long>(got),
           static_cast<unsigned long long>(n), static_cast<unsigned long long>(bad));
    EXPECT_EQ(got, n);
    EXPECT_EQ(bad, 0u);
}

GUEST_TEST(piped_bytes_arrive_exactly) {
    const u64 n = bootarg_u64("rx_bytes", 0);
    if (n == 0) GUEST_SKIP("no rx_bytes=N in the bootargs (needs tests/guest/data/uart_rx_input.bin on stdin)");
    const u64 u = uart();
    delay_us(300'000);
    RxExpected want;
    Fletcher16 sum_got, sum_want;
    u64 got = 0, bad = 0, first_bad = ~0ull;
    u64 idle_until = counter() + ms_ticks(2000);
    while (got < n && counter() < idle_until) {
        if (mmio_read32(u + kFr) & kFrRxfe) continue;
        const u8 c = static_cast<u8>(mmio_read32(u + kDr) & 0xff);
        const u8 w = want.next();
        sum_got.add(c);
        sum_want.add(w);
        if (c != w && bad++ == 0) first_bad = got;
        ++got;
        idle_until = counter() + ms_ticks(2000);
    }
    printf("  read %llu of %llu bytes, %llu differ (first at %lld), Fletcher-16 0x%04x (expected 0x%04x)\n",
           static_cast<unsigned long long>(got), static_cast<unsigned long long>(n),
           static_cast<unsigned long long>(bad), static_cast<long long>(first_bad), sum_got.value(), sum_want.value());
    EXPECT_EQ(got, n);
    EXPECT_EQ(bad, 0u);
    EXPECT_EQ(sum_got.value(), sum_want.value());
    // Nothing more than the file: the FIFO is empty afterwards.
    delay_us(100'000);
    EXPECT_EQ(mmio_read32(u + kFr) & kFrRxfe, kFrRxfe);
}
