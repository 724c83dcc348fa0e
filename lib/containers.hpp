// Fixed-capacity containers: no heap, allocation can fail and says so.
#pragma once

#include "lib/bits.hpp"
#include "lib/span.hpp"
#include "lib/status.hpp"

namespace hv {

template <typename T, usize Capacity>
class FixedVector {
public:
    constexpr usize size() const { return size_; }
    constexpr static usize capacity() { return Capacity; }
    constexpr bool empty() const { return size_ == 0; }
    constexpr bool full() const { return size_ == Capacity; }
    constexpr T& operator[](usize i) { return items_[i]; }
    constexpr const T& operator[](usize i) const { return items_[i]; }
    constexpr T* begin() { return items_; }
    constexpr T* end() { return items_ + size_; }
    constexpr const T* begin() const { return items_; }
    constexpr const T* end() const { return items_ + size_; }
    constexpr Span<T> span() { return {items_, size_}; }

    [[nodiscard]] constexpr Status push_back(const T& v) {
        if (full()) return Status::no_memory;
        items_[size_++] = v;
        return Status::ok;
    }
    constexpr void pop_back() {
        if (size_ > 0) --size_;
    }
    constexpr void clear() { size_ = 0; }
    // Removes element i, preserving order.
    constexpr void erase(usize i) {
        if (i >= size_) return;
        for (usize j = i + 1; j < size_; ++j) items_[j - 1] = items_[j];
        --size_;
    }
    [[nodiscard]] constexpr Status insert(usize i, const T& v) {
        if (full() || i > size_) return full() ? Status::no_memory : Status::out_of_range;
        for (usize j = size_; j > i; --j) items_[j] = items_[j - 1];
        items_[i] = v;
        ++size_;
        return Status::ok;
    }

private:
    T items_[Capacity] = {};
    usize size_ = 0;
};

template <usize Bits>
class Bitmap {
public:
    static constexpr usize words = (Bits + 63) / 64;
    constexpr static usize size() { return Bits; }
    constexpr bool test(usize i) const { return i < Bits && (w_[i / 64] >> (i % 64)) & 1; }
    constexpr void set(usize i) {
        if (i < Bits) w_[i / 64] |= bit(i % 64);
    }
    constexpr void clear(usize i) {
        if (i < Bits) w_[i / 64] &= ~bit(i % 64);
    }
    constexpr void assign(usize i, bool v) { v ? set(i) : clear(i); }
    constexpr void reset() {
        for (auto& w : w_) w = 0;
    }
    // First set bit at or after `from`, or Bits if none.
    constexpr usize find_next(usize from) const {
        while (from < Bits) {
            u64 w = w_[from / 64] >> (from % 64);
            if (w) return min<usize>(from + ctz(w), Bits);
            from = (from / 64 + 1) * 64;
        }
        return Bits;
    }
    // First clear bit, or Bits if full.
    constexpr usize find_first_zero() const {
        for (usize i = 0; i < words; ++i)
            if (~w_[i]) return min<usize>(i * 64 + ctz(~w_[i]), Bits);
        return Bits;
    }
    constexpr bool any() const {
        for (auto w : w_)
            if (w) return true;
        return false;
    }
    constexpr u64 word(usize i) const { return i < words ? w_[i] : 0; }
    constexpr void set_word(usize i, u64 v) {
        if (i < words) w_[i] = v;
    }

private:
    u64 w_[words] = {};
};

// Intrusive doubly linked list node; embed in T and point the list at the member.
struct ListNode {
    ListNode* prev = nullptr;
    ListNode* next = nullptr;
    bool linked() const { return next != nullptr; }
};

template <typename T, ListNode T::*Member>
class IntrusiveList {
public:
    IntrusiveList() { head_.prev = head_.next = &head_; }
    IntrusiveList(const IntrusiveList&) = delete;
    IntrusiveList& operator=(const IntrusiveList&) = delete;

    bool empty() const { return head_.next == &head_; }
    void push_back(T& item) { insert_before(&head_, &(item.*Member)); }
    void push_front(T& item) { insert_before(head_.next, &(item.*Member)); }
    void insert_before(T& pos, T& item) { insert_before(&(pos.*Member), &(item.*Member)); }
    static void remove(T& item) {
        ListNode* n = &(item.*Member);
        if (!n->linked()) return;
        n->prev->next = n->next;
        n->next->prev = n->prev;
        n->prev = n->next = nullptr;
    }
    T* front() { return empty() ? nullptr : owner(head_.next); }
    T* next(T& item) {
        ListNode* n = (item.*Member).next;
        return n == &head_ ? nullptr : owner(n);
    }

private:
    static void insert_before(ListNode* pos, ListNode* n) {
        n->prev = pos->prev;
        n->next = pos;
        pos->prev->next = n;
        pos->prev = n;
    }
    static T* owner(ListNode* n) {
        // offsetof for pointer-to-member without UB-prone casts at compile time.
        const T* probe = nullptr;
        auto off = reinterpret_cast<uptr>(&(probe->*Member));
        return reinterpret_cast<T*>(reinterpret_cast<uptr>(n) - off);
    }
    ListNode head_;
};

// Fixed pool of T objects; allocation returns nullptr when exhausted.
template <typename T, usize N>
class ObjectPool {
public:
    T* allocate() {
        usize i = used_.find_first_zero();
        if (i >= N) return nullptr;
        used_.set(i);
        items_[i] = T{};
        return &items_[i];
    }
    void release(T* p) {
        if (p < items_ || p >= items_ + N) return;
        used_.clear(static_cast<usize>(p - items_));
    }
    usize index_of(const T* p) const { return static_cast<usize>(p - items_); }

private:
    T items_[N] = {};
    Bitmap<N> used_;
};

}  // namespace hv
