// The payloads are built with the hypervisor's flags, -fstack-protector-strong included (CMakeLists.txt): their
// canary (a constant: the payloads test the hypervisor, not themselves) and failure handler.
#include "tests/guest/runtime/console.hpp"

extern "C" {
unsigned long __stack_chk_guard = 0x5a17c3e9b24d6100ul;

[[noreturn]] void __stack_chk_fail() {
    rt::printf("ABORT: guest payload stack smashing detected\n");
    for (;;) asm volatile("wfi");
}
}
