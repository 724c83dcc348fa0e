#include "lib/log.hpp"

#include "lib/spinlock.hpp"

namespace hv {

namespace detail {
LogHooks g_log_hooks;
}  // namespace detail

namespace {
LogHooks& g_hooks = detail::g_log_hooks;
Spinlock g_log_lock;
}  // namespace

void vlog(LogLevel level, const char* fmt, va_list ap) {
    if (level > g_hooks.threshold || g_hooks.write == nullptr) return;
    static constexpr const char* kTags[] = {"E", "W", "I", "D"};
    char line[256];
    unsigned cpu = g_hooks.cpu_id ? g_hooks.cpu_id() : 0;
    usize n = format(line, sizeof line, "[hv%u %s] ", cpu, kTags[static_cast<unsigned>(level)]);
    if (n >= sizeof line) n = sizeof line - 1;
    usize m = vformat(line + n, sizeof line - n, fmt, ap);
    n = min<usize>(n + m, sizeof line - 2);
    line[n++] = '\n';
    line[n] = '\0';
    LockGuard guard(g_log_lock);
    g_hooks.write(line, n);
}

void log(LogLevel level, const char* fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vlog(level, fmt, ap);
    va_end(ap);
}

}  // namespace hv
