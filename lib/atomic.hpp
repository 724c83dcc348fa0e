// Atomic<T>: the one wrapper over the compiler's __atomic builtins (no <atomic> in the freestanding build).
// Memory orders are explicit at every call; the defaults are the ones the project uses most (acquire loads,
// release stores, relaxed counters).
#pragma once

#include "lib/types.hpp"

namespace hv {

enum class MemoryOrder : int {
    relaxed = __ATOMIC_RELAXED,
    acquire = __ATOMIC_ACQUIRE,
    release = __ATOMIC_RELEASE,
    acq_rel = __ATOMIC_ACQ_REL,
    seq_cst = __ATOMIC_SEQ_CST,
};

template <typename T>
class Atomic {
    static_assert(sizeof(T) <= 8, "Atomic<T>: T must fit a single-copy atomic access");

public:
    constexpr Atomic() = default;
    constexpr explicit Atomic(T v) : v_(v) {}
    Atomic(const Atomic&) = delete;
    Atomic& operator=(const Atomic&) = delete;

    // Enums go through the generic builtins (clang's _n forms take only integers and pointers); everything else
    // through the _n forms. Same instructions either way under GCC.
    T load(MemoryOrder o = MemoryOrder::acquire) const {
        if constexpr (__is_enum(T)) {
            T v;
            __atomic_load(&v_, &v, static_cast<int>(o));
            return v;
        } else {
            return __atomic_load_n(&v_, static_cast<int>(o));
        }
    }
    void store(T v, MemoryOrder o = MemoryOrder::release) {
        if constexpr (__is_enum(T))
            __atomic_store(&v_, &v, static_cast<int>(o));
        else
            __atomic_store_n(&v_, v, static_cast<int>(o));
    }
    T exchange(T v, MemoryOrder o = MemoryOrder::acq_rel) {
        if constexpr (__is_enum(T)) {
            T old;
            __atomic_exchange(&v_, &v, &old, static_cast<int>(o));
            return old;
        } else {
            return __atomic_exchange_n(&v_, v, static_cast<int>(o));
        }
    }
    bool compare_exchange(T& expected, T desired, MemoryOrder o = MemoryOrder::acq_rel) {
        const int fail = o == MemoryOrder::acq_rel   ? __ATOMIC_ACQUIRE
                         : o == MemoryOrder::release ? __ATOMIC_RELAXED
                                                     : static_cast<int>(o);
        if constexpr (__is_enum(T))
            return __atomic_compare_exchange(&v_, &expected, &desired, false, static_cast<int>(o), fail);
        else
            return __atomic_compare_exchange_n(&v_, &expected, desired, false, static_cast<int>(o), fail);
    }
    T fetch_add(T d, MemoryOrder o = MemoryOrder::relaxed) { return __atomic_fetch_add(&v_, d, static_cast<int>(o)); }
    T fetch_sub(T d, MemoryOrder o = MemoryOrder::relaxed) { return __atomic_fetch_sub(&v_, d, static_cast<int>(o)); }
    T fetch_or(T d, MemoryOrder o = MemoryOrder::acq_rel) { return __atomic_fetch_or(&v_, d, static_cast<int>(o)); }
    T fetch_and(T d, MemoryOrder o = MemoryOrder::acq_rel) { return __atomic_fetch_and(&v_, d, static_cast<int>(o)); }

    // The plain value, for code that owns the object exclusively (construction, a stopped VM).
    T& raw() { return v_; }

private:
    T v_{};
};

}  // namespace hv
