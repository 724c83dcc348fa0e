// Host hooks the freestanding code expects (panic) for the fuzz targets. Log output is formatted (so the
// formatter is exercised with fuzzed arguments) and then dropped, unless HV_FUZZ_LOG=1 is set in the environment.
#include <cstdarg>
#include <cstdio>
#include <cstdlib>

#include "lib/assert.hpp"
#include "tests/fuzz/fuzz_support.hpp"

namespace hv {

[[noreturn]] void panic(const char* fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    std::fputs("HYPERVISOR PANIC: ", stderr);
    std::vfprintf(stderr, fmt, ap);
    va_end(ap);
    std::fputc('\n', stderr);
    std::abort();  // a crash for libFuzzer: the input is saved as crash-*
}

}  // namespace hv

namespace hvfuzz {

void install_log_sink() {
    static bool done = false;
    if (done) return;
    done = true;
    const char* env = std::getenv("HV_FUZZ_LOG");
    const bool echo = env && env[0] == '1';
    hv::log_hooks().threshold = hv::LogLevel::debug;
    hv::log_hooks().write =
        echo ? [](const char* s, hv::usize n) { std::fwrite(s, 1, n, stderr); } : [](const char*, hv::usize) {};
}

[[noreturn]] void invariant_failed(const char* what, const char* file, int line) {
    std::fprintf(stderr, "FUZZ INVARIANT VIOLATED: %s (%s:%d)\n", what, file, line);
    std::abort();
}

}  // namespace hvfuzz
