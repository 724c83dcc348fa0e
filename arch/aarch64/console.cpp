#include "arch/aarch64/console.hpp"

#include "arch/aarch64/anchor.hpp"
#include "arch/aarch64/percpu.hpp"
#include "arch/aarch64/sysreg.hpp"
#include "lib/log.hpp"
#include "lib/spinlock.hpp"

namespace hv::arch {

namespace {
constexpr u64 kDr = 0x000;
constexpr u64 kFr = 0x018;
constexpr u32 kFrTxff = 1u << 5;
constexpr u32 kFrRxfe = 1u << 4;

ConsoleState& st() { return hyp().console; }

void raw_putc(char c) {
    // Bounded wait: a wedged UART must not hang the hypervisor forever.
    for (u32 i = 0; i < 1000000 && (mmio_read<u32>(st().base + kFr) & kFrTxff); ++i) cpu_relax();
    mmio_write<u32>(st().base + kDr, static_cast<u8>(c));
}

void log_write(const char* s, usize len) { console_write(s, len); }
unsigned log_cpu() { return this_cpu_index(); }
}  // namespace

void console_init(u64 base) {
    st().base = base;
    log_hooks().write = log_write;
    log_hooks().cpu_id = log_cpu;
}

u64 console_base() { return st().base; }

void console_write(const char* s, usize len) {
    LockGuard guard(st().lock);
    for (usize i = 0; i < len; ++i) {
        if (s[i] == '\n') raw_putc('\r');
        raw_putc(s[i]);
    }
}

void console_putc_unlocked(char c) {
    if (c == '\n') raw_putc('\r');
    raw_putc(c);
}

void console_guest_putc(char c) {
    LockGuard guard(st().lock);
    raw_putc(c);
}

int console_getc() {
    if (mmio_read<u32>(st().base + kFr) & kFrRxfe) return -1;
    return static_cast<int>(mmio_read<u32>(st().base + kDr) & 0xff);
}

}  // namespace hv::arch
