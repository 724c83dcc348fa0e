// Polled PL011 console and printf for guest payloads.
#pragma once

#include <stdarg.h>

#include "lib/types.hpp"

namespace rt {

using namespace hv;

// The guest console's PL011 (the hypervisor emulates one here; plain QEMU virt has its real one here too).
constexpr u64 kDefaultUartBase = 0x0900'0000;

void console_set_base(u64 base);
u64 console_base();
void console_putc(char c);  // '\n' becomes "\r\n"
void console_write(const char* s, usize n);
void console_puts(const char* s);  // no newline added
int printf(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
int vprintf(const char* fmt, va_list ap);

}  // namespace rt
