// Host-side platform hooks the freestanding code expects (panic) and a log capture for tests.
#include "tests/unit/support.hpp"

#include <cstdarg>
#include <cstdio>
#include <cstdlib>

#include "lib/assert.hpp"

namespace hv {

[[noreturn]] void panic(const char* fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    std::vfprintf(stderr, fmt, ap);
    va_end(ap);
    std::fputc('\n', stderr);
    std::abort();
}

}  // namespace hv

namespace hvtest {

std::string& captured_log() {
    static std::string log;
    return log;
}

void install_log_capture() {
    hv::log_hooks().write = [](const char* s, hv::usize n) { captured_log().append(s, n); };
    hv::log_hooks().threshold = hv::LogLevel::debug;
}

}  // namespace hvtest
