// Ticket spinlock and RAII guard; builds on host (tests) and target alike.
#pragma once

#include "lib/types.hpp"

namespace hv {

inline void cpu_relax() {
#if defined(__aarch64__)
    asm volatile("yield" ::: "memory");
#elif defined(__x86_64__)
    __builtin_ia32_pause();
#endif
}

class Spinlock {
public:
    void lock() {
        u32 ticket = __atomic_fetch_add(&next_, 1u, __ATOMIC_RELAXED);
        while (__atomic_load_n(&owner_, __ATOMIC_ACQUIRE) != ticket) cpu_relax();
    }
    void unlock() { __atomic_store_n(&owner_, owner_ + 1, __ATOMIC_RELEASE); }
    bool is_locked() const { return __atomic_load_n(&owner_, __ATOMIC_RELAXED) != __atomic_load_n(&next_, __ATOMIC_RELAXED); }

private:
    u32 next_ = 0;
    u32 owner_ = 0;
};

template <typename Lock> class [[nodiscard]] LockGuard {
public:
    explicit LockGuard(Lock& l) : lock_(l) { lock_.lock(); }
    ~LockGuard() { lock_.unlock(); }
    LockGuard(const LockGuard&) = delete;
    LockGuard& operator=(const LockGuard&) = delete;

private:
    Lock& lock_;
};

}  // namespace hv
