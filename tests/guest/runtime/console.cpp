#include "tests/guest/runtime/console.hpp"

#include "lib/format.hpp"
#include "tests/guest/runtime/sysreg.hpp"

namespace rt {
namespace {

u64 g_uart = kDefaultUartBase;

// PL011 registers (ARM DDI0183G 3.2): data register, flag register.
constexpr u64 kUartDr = 0x000;
constexpr u64 kUartFr = 0x018;
constexpr u32 kFrTxff = 1u << 5;  // transmit FIFO full
// Polling bound: the emulated UART never stays full, but a bad model must not hang the payload forever.
constexpr u32 kMaxPolls = 1u << 20;

void raw_putc(char c) {
    for (u32 i = 0; i < kMaxPolls && (mmio_read32(g_uart + kUartFr) & kFrTxff); ++i) {
    }
    mmio_write32(g_uart + kUartDr, static_cast<u8>(c));
}

}  // namespace

void console_set_base(u64 base) { g_uart = base; }
u64 console_base() { return g_uart; }

void console_putc(char c) {
    if (c == '\n') raw_putc('\r');
    raw_putc(c);
}

void console_write(const char* s, usize n) {
    for (usize i = 0; i < n; ++i) console_putc(s[i]);
}

void console_puts(const char* s) {
    while (*s) console_putc(*s++);
}

int vprintf(const char* fmt, va_list ap) {
    char buf[512];
    usize n = hv::vformat(buf, sizeof buf, fmt, ap);
    console_write(buf, min<usize>(n, sizeof buf - 1));
    return static_cast<int>(n);
}

int printf(const char* fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vprintf(fmt, ap);
    va_end(ap);
    return n;
}

void delay_us(u64 us) {
    u64 freq = counter_frequency();
    u64 start = counter();
    u64 ticks = freq / 1'000'000 * us + (freq % 1'000'000) * us / 1'000'000;
    while (counter() - start < ticks) {
    }
}

}  // namespace rt
