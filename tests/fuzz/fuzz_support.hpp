// Shared helpers of the fuzz targets: a byte-stream reader that never fails (exhausted input reads as zeros),
// the log sink, and CHECK for model invariants (abort = a crash libFuzzer records).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "lib/log.hpp"
#include "lib/types.hpp"

namespace hvfuzz {

void install_log_sink();
[[noreturn]] void invariant_failed(const char* what, const char* file, int line);

#define FUZZ_CHECK(cond)                                                    \
    do {                                                                    \
        if (!(cond)) ::hvfuzz::invariant_failed(#cond, __FILE__, __LINE__); \
    } while (0)

class ByteStream {
public:
    ByteStream(const uint8_t* data, size_t size) : data_(data), size_(size) {}
    bool empty() const { return pos_ >= size_; }
    size_t remaining() const { return pos_ < size_ ? size_ - pos_ : 0; }
    hv::u8 u8() { return pos_ < size_ ? data_[pos_++] : 0; }
    // Operands are read in separate statements: the evaluation order inside one expression is unspecified.
    hv::u16 u16() { return static_cast<hv::u16>(bytes(2)); }
    hv::u32 u32() { return static_cast<hv::u32>(bytes(4)); }
    hv::u64 u64() { return bytes(8); }
    // Little-endian value of `n` bytes (0..8).
    hv::u64 bytes(unsigned n) {
        hv::u64 v = 0;
        for (unsigned i = 0; i < n; ++i) v |= hv::u64{u8()} << (8 * i);
        return v;
    }
    // Copies up to n bytes (zero-filled past the end).
    void copy(void* dst, size_t n) {
        auto* d = static_cast<hv::u8*>(dst);
        for (size_t i = 0; i < n; ++i) d[i] = u8();
    }
    hv::u32 below(hv::u32 n) { return n ? u8() % n : 0; }

private:
    const uint8_t* data_;
    size_t size_;
    size_t pos_ = 0;
};

}  // namespace hvfuzz
