// Ticket spinlock and RAII guard; builds on host (tests) and target alike.
#pragma once

#include "lib/types.hpp"

namespace hv {

#if defined(HV_HOST_SPIN_YIELD)
// Host builds that run more spinning threads than cores (tests/fuzz/tsan): give the CPU away while waiting, or a
// ticket lock whose next owner is descheduled stalls everyone for a whole time slice.
extern "C" void hv_host_spin_yield();
#endif

inline void cpu_relax() {
#if defined(HV_HOST_SPIN_YIELD)
    hv_host_spin_yield();
#elif defined(__aarch64__)
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
