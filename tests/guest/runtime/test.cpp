#include "tests/guest/runtime/test.hpp"

#include <stdarg.h>

#include "lib/string.hpp"
#include "tests/guest/runtime/console.hpp"
#include "tests/guest/runtime/exceptions.hpp"
#include "tests/guest/runtime/smccc.hpp"
#include "tests/guest/runtime/sysreg.hpp"

extern "C" {
extern const rt::TestCase __start_guest_tests[];
extern const rt::TestCase __stop_guest_tests[];
void rt_main(hv::u64 dtb);
}

namespace rt {
namespace {

// Plain QEMU puts the DTB at the RAM base when it boots an ELF without a Linux header (and passes no x0).
constexpr u64 kPlainQemuDtb = 0x4000'0000;

const char* g_bootargs = "";

struct RunState {
    const TestCase* current = nullptr;
    u32 checks = 0;
    u32 failed_checks = 0;
    bool skipped = false;
    u32 passed = 0;
    u32 failed = 0;
    u32 skipped_tests = 0;
};
RunState g_run;

[[noreturn]] void finish() {
    if (g_run.skipped_tests) printf("%u skipped\n", g_run.skipped_tests);
    printf("%u passed, %u failed\n", g_run.passed, g_run.failed);
    psci_system_off();
}

void end_current_test() {
    const TestCase* t = g_run.current;
    if (!t) return;
    if (g_run.failed_checks) {
        ++g_run.failed;
        printf("[ FAIL ] %s (%u of %u checks failed)\n", t->name, g_run.failed_checks, g_run.checks);
    } else if (g_run.skipped) {
        ++g_run.skipped_tests;
    } else {
        ++g_run.passed;
        printf("[ PASS ] %s (%u checks)\n", t->name, g_run.checks);
    }
    g_run.current = nullptr;
}

const char* cmp_text(Cmp op) {
    switch (op) {
        case Cmp::eq:
            return "==";
        case Cmp::ne:
            return "!=";
        case Cmp::lt:
            return "<";
        case Cmp::le:
            return "<=";
        case Cmp::gt:
            return ">";
        case Cmp::ge:
            return ">=";
    }
    return "?";
}

void discover_platform(u64 x0) {
    if (!dt_open(x0) && x0 == 0) {
        // No DTB handed over: probe the plain-QEMU location without dying if it is not ours.
        ProbeResult r = probe_read32(kPlainQemuDtb, 0);
        if (!r.fault.taken && __builtin_bswap32(static_cast<u32>(r.value)) == fdt::kMagic) (void)dt_open(kPlainQemuDtb);
    }
    const fdt::Reader& f = dt();
    if (!f.valid()) return;
    if (const char* args = f.prop_string(f.find_path("/chosen"), "bootargs")) g_bootargs = args;
    if (const char* method = f.prop_string(f.find_path("/psci"), "method"))
        set_psci_conduit(strcmp(method, "smc") == 0 ? Conduit::smc : Conduit::hvc);
    u64 base = 0, size = 0;
    if (dt_compatible_reg("arm,pl011", 0, base, size) && base != 0) console_set_base(base);
}

}  // namespace

const char* bootargs() { return g_bootargs; }

bool bootarg(const char* key, const char*& value, usize& len) {
    usize klen = strlen(key);
    const char* p = g_bootargs;
    while (*p) {
        while (*p == ' ') ++p;
        const char* w = p;
        while (*p && *p != ' ') ++p;
        usize wlen = static_cast<usize>(p - w);
        if (wlen >= klen && strncmp(w, key, klen) == 0 && (wlen == klen || w[klen] == '=')) {
            value = wlen == klen ? w + klen : w + klen + 1;
            len = wlen == klen ? 0 : wlen - klen - 1;
            return true;
        }
    }
    return false;
}

u64 bootarg_u64(const char* key, u64 fallback) {
    const char* v = nullptr;
    usize n = 0;
    if (!bootarg(key, v, n) || n == 0) return fallback;
    u64 base = 10;
    usize i = 0;
    if (n > 2 && v[0] == '0' && (v[1] == 'x' || v[1] == 'X')) {
        base = 16;
        i = 2;
    }
    u64 r = 0;
    bool any = false;
    for (; i < n; ++i) {
        char c = v[i];
        u64 d;
        if (c >= '0' && c <= '9')
            d = static_cast<u64>(c - '0');
        else if (base == 16 && c >= 'a' && c <= 'f')
            d = static_cast<u64>(c - 'a' + 10);
        else if (base == 16 && c >= 'A' && c <= 'F')
            d = static_cast<u64>(c - 'A' + 10);
        else
            break;
        r = r * base + d;
        any = true;
    }
    if (!any) return fallback;
    if (i + 1 == n) {
        switch (v[i]) {
            case 'K':
            case 'k':
                return r * KiB;
            case 'M':
            case 'm':
                return r * MiB;
            case 'G':
            case 'g':
                return r * GiB;
            default:
                return fallback;
        }
    }
    return i == n ? r : fallback;
}

bool bootarg_flag(const char* key) {
    const char* v = nullptr;
    usize n = 0;
    if (!bootarg(key, v, n)) return false;
    return n == 0 || (n == 1 && v[0] == '1');
}

bool under_hypervisor() { return !bootarg_flag("nohv"); }

void check_passed() { ++g_run.checks; }

void check_failed(const char* file, int line, const char* fmt, ...) {
    ++g_run.checks;
    ++g_run.failed_checks;
    const char* base = file;
    for (const char* c = file; *c; ++c)
        if (*c == '/') base = c + 1;
    printf("  FAILED %s:%d: ", base, line);
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    console_putc('\n');
}

void skip_current(const char* why) {
    g_run.skipped = true;
    if (g_run.current) printf("[ SKIP ] %s: %s\n", g_run.current->name, why);
}

bool expect_cmp_u64(Cmp op, u64 a, u64 b, const char* ea, const char* eb, const char* file, int line) {
    bool ok = false;
    switch (op) {
        case Cmp::eq:
            ok = a == b;
            break;
        case Cmp::ne:
            ok = a != b;
            break;
        case Cmp::lt:
            ok = a < b;
            break;
        case Cmp::le:
            ok = a <= b;
            break;
        case Cmp::gt:
            ok = a > b;
            break;
        case Cmp::ge:
            ok = a >= b;
            break;
    }
    if (ok) {
        check_passed();
    } else {
        check_failed(file, line, "expected %s %s %s, got 0x%llx (%lld) vs 0x%llx (%lld)", ea, cmp_text(op), eb,
                     static_cast<unsigned long long>(a), static_cast<long long>(a), static_cast<unsigned long long>(b),
                     static_cast<long long>(b));
    }
    return ok;
}

bool expect_true(bool v, bool want, const char* expr, const char* file, int line) {
    if (v == want) {
        check_passed();
        return true;
    }
    check_failed(file, line, "expected %s to be %s", expr, want ? "true" : "false");
    return false;
}

void abort_run(const char* why) {
    printf("ABORT: %s\n", why);
    if (g_run.current) {
        ++g_run.checks;
        ++g_run.failed_checks;
        end_current_test();
    } else {
        ++g_run.failed;
    }
    finish();
}

}  // namespace rt

namespace hv {
// lib/assert.hpp's hook: in a payload an assertion is a failed run, not a hang.
void panic(const char* fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    rt::console_puts("guest panic: ");
    rt::vprintf(fmt, ap);
    va_end(ap);
    rt::console_putc('\n');
    rt::abort_run("panic");
}
}  // namespace hv

extern "C" void rt_main(hv::u64 x0) {
    using namespace rt;
    discover_platform(x0);
    usize count = static_cast<usize>(__stop_guest_tests - __start_guest_tests);
    printf("guest runtime: EL%u, DTB %s at 0x%llx, bootargs \"%s\", %zu tests\n", current_el(),
           dt().valid() ? "found" : "NOT found", static_cast<unsigned long long>(dtb_address()), g_bootargs, count);
    for (const TestCase* t = __start_guest_tests; t != __stop_guest_tests; ++t) {
        g_run.current = t;
        g_run.checks = g_run.failed_checks = 0;
        g_run.skipped = false;
        printf("[ RUN  ] %s\n", t->name);
        t->fn();
        end_current_test();
    }
    finish();
}
