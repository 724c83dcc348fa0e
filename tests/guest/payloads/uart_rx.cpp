// uart_rx: the receive side of the guest's PL011 (core/pl011, arch/aarch64/guest_uart). Without input the FIFO reads
// empty (FR.RXFE, RIS.RXRIS clear, a DR read gives 0). With `paste=N` in the bootargs the payload waits 300 ms
// without reading -- while N characters of a known pattern arrive on the console (tools/run-guest --interactive
// < file) -- and then must read all N, in order: the hypervisor applies back-pressure (the rest waits in the host
// UART while the emulated 32-entry FIFO is full) instead of dropping what does not fit. Make the input with
//   python3 -c "import sys; sys.stdout.write(''.join(chr(97 + i * 7 % 26) for i in range(N)))" > /tmp/paste.txt
//
// guest-tests: smp=1 mem=512M append="" hv_append="vcpus=1" expect=pass
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

}  // namespace

GUEST_TEST(receive_fifo_is_empty_without_input) {
    if (bootarg_u64("paste", 0) != 0) GUEST_SKIP("input is being pasted");
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
