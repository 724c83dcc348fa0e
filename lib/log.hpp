// Levelled logger with a per-pCPU prefix. The platform installs the output sink and CPU-id hook
// (the console at boot, a capture buffer in host tests). Guest-triggered messages use HV_LOG_RATELIMITED.
#pragma once

#include "lib/format.hpp"

namespace hv {

enum class LogLevel : u8 { error, warn, info, debug };

struct LogHooks {
    void (*write)(const char* s, usize len) = nullptr;  // must be safe to call from any pCPU
    unsigned (*cpu_id)() = nullptr;
    LogLevel threshold = LogLevel::info;
};

namespace detail {
extern LogHooks g_log_hooks;  // lib/log.cpp; through log_hooks()
}  // namespace detail
inline LogHooks& log_hooks() { return detail::g_log_hooks; }
// Whether a message of `level` would be written (the threshold; inline: a guest-triggered message below it costs a
// load and a compare, docs/benchmarks-exits.md).
inline bool log_enabled(LogLevel level) { return level <= detail::g_log_hooks.threshold; }
void log(LogLevel level, const char* fmt, ...) __attribute__((format(printf, 2, 3)));
void vlog(LogLevel level, const char* fmt, va_list ap);

// Deterministic per-call-site rate limit: the first `burst` messages, then one in every 1024.
struct RateLimit {
    u32 count = 0;
    bool allow(u32 burst = 8) {
        u32 n = __atomic_fetch_add(&count, 1u, __ATOMIC_RELAXED);
        return n < burst || (n % 1024) == 0;
    }
};

}  // namespace hv

#define HV_LOG_ERROR(...) ::hv::log(::hv::LogLevel::error, __VA_ARGS__)
#define HV_LOG_WARN(...) ::hv::log(::hv::LogLevel::warn, __VA_ARGS__)
#define HV_LOG_INFO(...) ::hv::log(::hv::LogLevel::info, __VA_ARGS__)
#define HV_LOG_DEBUG(...) ::hv::log(::hv::LogLevel::debug, __VA_ARGS__)

// For anything a guest can trigger: never floods the console. A message below the threshold is not counted.
#define HV_LOG_RATELIMITED(level, ...)                                                                                 \
    do {                                                                                                               \
        static ::hv::RateLimit hv_rl_;                                                                                 \
        if (::hv::log_enabled(::hv::LogLevel::level) && hv_rl_.allow()) ::hv::log(::hv::LogLevel::level, __VA_ARGS__); \
    } while (0)
