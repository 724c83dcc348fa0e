#include "arch/aarch64/panic.hpp"

#include "arch/aarch64/anchor.hpp"
#include "arch/aarch64/asm_defs.h"
#include "arch/aarch64/console.hpp"
#include "arch/aarch64/gic.hpp"
#include "arch/aarch64/percpu.hpp"
#include "arch/aarch64/sysreg.hpp"
#include "core/esr.hpp"
#include "lib/assert.hpp"
#include "lib/format.hpp"

namespace hv::arch {

namespace {

void raw_print(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
void raw_print(const char* fmt, ...) {
    char buf[256];
    va_list ap;
    va_start(ap, fmt);
    usize n = vformat(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n >= sizeof buf) n = sizeof buf - 1;
    for (usize i = 0; i < n; ++i) console_putc_unlocked(buf[i]);
}

// The first pCPU to panic prints; any later one (or one that faults while printing) just stops.
void claim_panic() {
    asm volatile("msr daifset, #0xf" ::: "memory");
    if (hyp().panicking.exchange(true, MemoryOrder::acq_rel)) stop_this_cpu();
    gic_send_sgi_others(kSgiStop);  // the others check panicking() when the SGI makes them exit
}

[[noreturn]] void finish_panic() {
    // run-guest (tools/run-guest) and the test runners recognise a panic by this marker.
    raw_print("hv: HYPERVISOR PANIC: system halted after panic\n");
    stop_this_cpu();
}
}  // namespace

void stop_this_cpu() {
    asm volatile("msr daifset, #0xf" ::: "memory");
    for (;;) wfe();
}

[[noreturn]] void vpanic(const char* fmt, va_list ap) {
    claim_panic();
    char buf[256];
    vformat(buf, sizeof buf, fmt, ap);
    raw_print("\n[hv%u E] PANIC: %s\n", this_cpu_index(), buf);
    finish_panic();
}

[[noreturn]] void fault_panic(const El2Frame& f, u64 kind) {
    static constexpr const char* kKinds[] = {"sync (SP_EL0)", "sync", "FIQ", "SError"};
    claim_panic();
    if (kind == HV_EL2_STACK_OVERFLOW) {
        // vectors.S el2_stack_overflow: the faulting SP is in SP_EL0, the report runs on the fault stack.
        raw_print(
            "\n[hv%u E] PANIC: EL2 stack overflow: SP 0x%016llx is in the guard page below pCPU %u's stack "
            "(ESR 0x%016llx, FAR 0x%016llx, ELR 0x%016llx)\n",
            this_cpu_index(), static_cast<unsigned long long>(HV_READ_SYSREG(sp_el0)), this_cpu_index(),
            static_cast<unsigned long long>(f.esr), static_cast<unsigned long long>(f.far),
            static_cast<unsigned long long>(f.elr));
        finish_panic();
    }
    raw_print("\n[hv%u E] PANIC: unexpected %s exception at EL2: %s (EC 0x%02llx) ESR 0x%016llx\n", this_cpu_index(),
              kKinds[kind & 3], esr::ec_name(f.esr), static_cast<unsigned long long>(esr::Ec::get(f.esr)),
              static_cast<unsigned long long>(f.esr));
    raw_print("  ELR 0x%016llx FAR 0x%016llx SPSR 0x%016llx SP 0x%016llx\n", static_cast<unsigned long long>(f.elr),
              static_cast<unsigned long long>(f.far), static_cast<unsigned long long>(f.spsr),
              static_cast<unsigned long long>(f.sp));
    for (unsigned i = 0; i < 31; i += 2) {
        if (i + 1 < 31)
            raw_print("  x%-2u 0x%016llx  x%-2u 0x%016llx\n", i, static_cast<unsigned long long>(f.x[i]), i + 1,
                      static_cast<unsigned long long>(f.x[i + 1]));
        else
            raw_print("  x%-2u 0x%016llx\n", i, static_cast<unsigned long long>(f.x[i]));
    }
    finish_panic();
}

}  // namespace hv::arch

namespace hv {
[[noreturn]] void panic(const char* fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    arch::vpanic(fmt, ap);
}
}  // namespace hv

extern "C" [[noreturn]] void hv_el2_fault(hv::arch::El2Frame* frame, hv::u64 kind) {
    hv::arch::fault_panic(*frame, kind);
}
