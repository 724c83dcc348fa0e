// Ticket spinlock and RAII guard; builds on host (tests) and target alike.
#pragma once

#include "lib/atomic.hpp"
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
    // Always inlined: taken on every guest entry and trap path, where a call cost more than the lock.
    [[gnu::always_inline]] void lock() {
        u32 ticket = next_.fetch_add(1u, MemoryOrder::relaxed);
        while (owner_.load(MemoryOrder::acquire) != ticket) cpu_relax();
    }
    // Only the holder writes owner_: its own relaxed read is the current value.
    [[gnu::always_inline]] void unlock() { owner_.store(owner_.load(MemoryOrder::relaxed) + 1, MemoryOrder::release); }
    bool is_locked() const { return owner_.load(MemoryOrder::relaxed) != next_.load(MemoryOrder::relaxed); }

private:
    Atomic<u32> next_;
    Atomic<u32> owner_;
};

template <typename Lock>
class [[nodiscard]] LockGuard {
public:
    // Both always inline: a guard constructed out of line (GCC does so on cold paths) has its address taken, which
    // gives the whole function a stack canary (-fstack-protector-strong).
    [[gnu::always_inline]] explicit LockGuard(Lock& l) : lock_(l) { lock_.lock(); }
    [[gnu::always_inline]] ~LockGuard() { lock_.unlock(); }
    LockGuard(const LockGuard&) = delete;
    LockGuard& operator=(const LockGuard&) = delete;

private:
    Lock& lock_;
};

}  // namespace hv
