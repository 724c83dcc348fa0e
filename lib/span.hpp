// A non-owning view of contiguous elements.
#pragma once

#include "lib/types.hpp"

namespace hv {

template <typename T>
class Span {
public:
    constexpr Span() = default;
    constexpr Span(T* data, usize size) : data_(data), size_(size) {}
    template <usize N>
    constexpr Span(T (&arr)[N]) : data_(arr), size_(N) {}  // NOLINT(implicit)

    constexpr T* data() const { return data_; }
    constexpr usize size() const { return size_; }
    constexpr bool empty() const { return size_ == 0; }
    constexpr T& operator[](usize i) const { return data_[i]; }
    constexpr T* begin() const { return data_; }
    constexpr T* end() const { return data_ + size_; }
    constexpr Span subspan(usize off, usize len) const {
        if (off > size_) return {};
        return {data_ + off, min(len, size_ - off)};
    }

private:
    T* data_ = nullptr;
    usize size_ = 0;
};

}  // namespace hv
