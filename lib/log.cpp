#include "lib/log.hpp"

#include "lib/spinlock.hpp"

namespace hv {

namespace detail {
LogHooks g_log_hooks;
}  // namespace detail

namespace {
Spinlock g_log_lock;
}  // namespace

void vlog(LogLevel level, const char* fmt, va_list ap) {
    if (level > detail::g_log_hooks.threshold || detail::g_log_hooks.write == nullptr) return;
    static constexpr const char* kTags[] = {"E", "W", "I", "D"};
    char line[256];
    unsigned cpu = detail::g_log_hooks.cpu_id ? detail::g_log_hooks.cpu_id() : 0;
    usize n = format(line, sizeof line, "[hv%u %s] ", cpu, kTags[static_cast<unsigned>(level)]);
    if (n >= sizeof line) n = sizeof line - 1;
    usize m = vformat(line + n, sizeof line - n, fmt, ap);
    n = min<usize>(n + m, sizeof line - 2);
    line[n++] = '\n';
    line[n] = '\0';
    LockGuard guard(g_log_lock);
    detail::g_log_hooks.write(line, n);
}

void log(LogLevel level, const char* fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vlog(level, fmt, ap);
    va_end(ap);
}

}  // namespace hv
