// Assertions are for the hypervisor's own invariants only -- never for guest input.
#pragma once

namespace hv {
[[noreturn]] void panic(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
}

#define HV_ASSERT(cond)                                                                      \
    do {                                                                                     \
        if (!(cond)) ::hv::panic("assertion failed: %s (%s:%d)", #cond, __FILE__, __LINE__); \
    } while (0)
