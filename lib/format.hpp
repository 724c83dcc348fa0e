// printf-style formatting into a caller-supplied buffer or sink; no heap, no libc.
// Supports %d %i %u %x %X %p %s %c %% with flags '-', '0', width, and length modifiers l, ll, z, h, hh.
#pragma once

#include <stdarg.h>

#include "lib/types.hpp"

namespace hv {

// Formats into buf (always NUL-terminated if cap > 0); returns the length the full output would have.
usize vformat(char* buf, usize cap, const char* fmt, va_list ap);
usize format(char* buf, usize cap, const char* fmt, ...) __attribute__((format(printf, 3, 4)));

}  // namespace hv
