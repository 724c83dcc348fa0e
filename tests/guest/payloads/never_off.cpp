// never_off: prints one line and then sleeps forever without powering off. tools/guest-tests uses it to check
// that tools/run-guest ends a hung guest at --timeout with a non-zero exit and leaves no QEMU behind.
//
// guest-tests: smp=1 mem=512M append="" hv_append="vcpus=1" expect=timeout timeout=6
#include "tests/guest/runtime/guest.hpp"

using namespace rt;

GUEST_TEST(sleep_forever) {
    printf("never_off: going to sleep; the runner's timeout has to end this run\n");
    irq_disable();
    for (;;) wfi();
}
