#include "tests/guest/runtime/sdei.hpp"

#include "sdei/ids.hpp"

extern "C" {
// The handler rt_sdei_entry calls (entry_point()).
rt::sdei::Handler rt_sdei_handler = nullptr;
void rt_sdei_entry();
}

namespace rt::sdei {

u64 entry_point(Handler h) {
    rt_sdei_handler = h;
    asm volatile("dsb sy" ::: "memory");
    return reinterpret_cast<u64>(&rt_sdei_entry);
}

}  // namespace rt::sdei

// The function IDs the entry point completes with (movz/movk below).
static_assert(hv::sdei::kEventComplete == 0xc4000025u && hv::sdei::kEventCompleteAndResume == 0xc4000026u);

asm(R"(
    .text
    .balign 4
    .global rt_sdei_entry
rt_sdei_entry:
    stp x29, x30, [sp, #-32]!
    str x18, [sp, #16]
    adrp x9, rt_sdei_handler
    ldr x9, [x9, :lo12:rt_sdei_handler]
    blr x9
    ldr x18, [sp, #16]
    ldp x29, x30, [sp], #32
    mov x1, x0
    cbz x1, 1f
    movz x0, #0x0026            // EVENT_COMPLETE_AND_RESUME(x1)
    movk x0, #0xc400, lsl #16
    hvc #0
    b .
1:  movz x0, #0x0025            // EVENT_COMPLETE
    movk x0, #0xc400, lsl #16
    hvc #0
    b .
)");
