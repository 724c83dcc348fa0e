#include "arch/aarch64/anchor.hpp"

#include "lib/in_place.hpp"

namespace hv::arch {

// THE anchor's storage (anchor.hpp): the only mutable object at file scope in arch/ and boot/. Zero: .bss.
constinit AnchorStorage g_hypervisor = {};

void anchor_init() {
    // Default-initialisation: every member with an initialiser gets it; the plain buffers (tables, DTBs, the page
    // pool) are not written and stay the zeroes of .bss.
    new (g_hypervisor.bytes) Hypervisor;
}

}  // namespace hv::arch
