// The C memory functions the compiler may call in freestanding code (target build only).
#include "lib/types.hpp"

// The aligned paths move 64 bytes per loop iteration (the compiler pairs the eight 8-byte accesses into LDP/STP):
// about 12 instructions per 64 bytes instead of 5 per 8. The boot copies tens of MiB (the module store's pristine
// kernel and initrd, docs/boot.md) and zeroes MiBs of pools; under QEMU's instruction counting that was most of what
// a Linux boot costs over plain QEMU (docs/benchmarks.md). The GCC attribute keeps these loops from being turned back
// into calls to the functions they implement.
#define HV_NO_LOOP_CALLS __attribute__((optimize("no-tree-loop-distribute-patterns")))

extern "C" {

HV_NO_LOOP_CALLS void* memcpy(void* dst, const void* src, size_t n) {
    auto* d = static_cast<unsigned char*>(dst);
    const auto* s = static_cast<const unsigned char*>(src);
    if (((reinterpret_cast<uintptr_t>(d) ^ reinterpret_cast<uintptr_t>(s)) & 7) == 0) {
        // Same alignment: bytes up to an 8-byte boundary, the bulk in words, the tail in bytes (an initrd's size is
        // rarely a multiple of 8). -mstrict-align: word accesses only at aligned addresses.
        for (; n > 0 && (reinterpret_cast<uintptr_t>(d) & 7) != 0; --n) *d++ = *s++;
        auto* d8 = reinterpret_cast<uint64_t*>(d);
        const auto* s8 = reinterpret_cast<const uint64_t*>(s);
        size_t words = n / 8;
        for (; words >= 8; words -= 8, d8 += 8, s8 += 8) {
            const uint64_t a = s8[0], b = s8[1], c = s8[2], e = s8[3], f = s8[4], g = s8[5], h = s8[6], k = s8[7];
            d8[0] = a;
            d8[1] = b;
            d8[2] = c;
            d8[3] = e;
            d8[4] = f;
            d8[5] = g;
            d8[6] = h;
            d8[7] = k;
        }
        for (; words > 0; --words) *d8++ = *s8++;
        d = reinterpret_cast<unsigned char*>(d8);
        s = reinterpret_cast<const unsigned char*>(s8);
        n &= 7;
    }
    for (size_t i = 0; i < n; ++i) d[i] = s[i];
    return dst;
}

HV_NO_LOOP_CALLS void* memmove(void* dst, const void* src, size_t n) {
    auto* d = static_cast<unsigned char*>(dst);
    const auto* s = static_cast<const unsigned char*>(src);
    if (d < s) {
        for (size_t i = 0; i < n; ++i) d[i] = s[i];
    } else {
        for (size_t i = n; i > 0; --i) d[i - 1] = s[i - 1];
    }
    return dst;
}

HV_NO_LOOP_CALLS void* memset(void* dst, int c, size_t n) {
    auto* d = static_cast<unsigned char*>(dst);
    if (c == 0 && ((reinterpret_cast<uintptr_t>(d) | n) & 7) == 0) {
        auto* d8 = reinterpret_cast<uint64_t*>(d);
        size_t words = n / 8;
        for (; words >= 8; words -= 8, d8 += 8) {
            d8[0] = 0;
            d8[1] = 0;
            d8[2] = 0;
            d8[3] = 0;
            d8[4] = 0;
            d8[5] = 0;
            d8[6] = 0;
            d8[7] = 0;
        }
        for (; words > 0; --words) *d8++ = 0;
        return dst;
    }
    for (size_t i = 0; i < n; ++i) d[i] = static_cast<unsigned char>(c);
    return dst;
}

int memcmp(const void* a, const void* b, size_t n) {
    const auto* x = static_cast<const unsigned char*>(a);
    const auto* y = static_cast<const unsigned char*>(b);
    for (size_t i = 0; i < n; ++i)
        if (x[i] != y[i]) return x[i] < y[i] ? -1 : 1;
    return 0;
}

size_t strlen(const char* s) {
    size_t n = 0;
    while (s[n]) ++n;
    return n;
}

int strcmp(const char* a, const char* b) {
    while (*a && *a == *b) ++a, ++b;
    return static_cast<unsigned char>(*a) - static_cast<unsigned char>(*b);
}

int strncmp(const char* a, const char* b, size_t n) {
    for (size_t i = 0; i < n; ++i) {
        if (a[i] != b[i] || !a[i]) return static_cast<unsigned char>(a[i]) - static_cast<unsigned char>(b[i]);
    }
    return 0;
}

// C++ runtime hooks for freestanding code.
void __cxa_pure_virtual() { __builtin_trap(); }
void* __dso_handle = nullptr;
}

void operator delete(void*, size_t) noexcept {}
void operator delete(void*) noexcept {}
