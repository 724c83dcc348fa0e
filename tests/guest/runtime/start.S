// Guest payload entry and EL1 exception vectors.
//
// Entered at EL1h (SPSel = 1), MMU and caches off, x0 = guest DTB (0 when a plain-QEMU ELF boot passes none).
// Sets a known SCTLR_EL1, the stack, VBAR_EL1, zeroes BSS and calls rt_main(dtb), which never returns.
//
// Every vector saves a full ExceptionFrame (runtime/exceptions.hpp) on the stack and calls
// rt_exception(frame, kind); ELR_EL1 and SPSR_EL1 are reloaded from the frame afterwards, so a handler can skip the
// faulting instruction (elr += 4) or resume it, and change any general-purpose register.

#define FRAME_SIZE 288   // x0..x30, elr, spsr, esr, far, pad  (16-byte aligned)
#define FRAME_ELR  248
#define FRAME_SPSR 256
#define FRAME_ESR  264
#define FRAME_FAR  272

// SCTLR_EL1: RES1 bits of ARMv8.0 (29, 28, 23, 22, 20, 11) + I (12). M = 0, C = 0, A = 0, EE = 0 (little endian).
#define SCTLR_EL1_BOOT 0x30d01800

    .section .text.boot, "ax"
    .global _start
_start:
    msr     daifset, #0xf
    mov     x19, x0
    ldr     x1, =SCTLR_EL1_BOOT
    msr     sctlr_el1, x1
    isb
    adrp    x1, __stack_top
    add     x1, x1, :lo12:__stack_top
    mov     sp, x1
    adrp    x1, rt_vectors
    add     x1, x1, :lo12:rt_vectors
    msr     vbar_el1, x1
    isb
    // Zero BSS (16-byte aligned start and end, see linker/guest.ld).
    adrp    x1, __bss_start
    add     x1, x1, :lo12:__bss_start
    adrp    x2, __bss_end
    add     x2, x2, :lo12:__bss_end
1:  cmp     x1, x2
    b.hs    2f
    stp     xzr, xzr, [x1], #16
    b       1b
2:  mov     x0, x19
    bl      rt_main
3:  wfi
    b       3b
    .ltorg

// Secondary CPUs started with rt::start_cpu(): PSCI CPU_ON enters here at EL1h, MMU off, x0 = context id = the
// runtime's CPU slot (1 .. RT_MAX_CPUS-1). Each slot has its own stack in rt_secondary_stacks.
#define RT_MAX_CPUS 8
#define RT_SECONDARY_STACK 0x4000
    .global rt_secondary_entry
rt_secondary_entry:
    msr     daifset, #0xf
    ldr     x1, =SCTLR_EL1_BOOT
    msr     sctlr_el1, x1
    isb
    cmp     x0, #RT_MAX_CPUS
    b.hs    3b
    adrp    x1, rt_secondary_stacks
    add     x1, x1, :lo12:rt_secondary_stacks
    add     x2, x0, #1
    mov     x3, #RT_SECONDARY_STACK
    madd    x1, x2, x3, x1          // top of slot x0's stack
    mov     sp, x1
    adrp    x1, rt_vectors
    add     x1, x1, :lo12:rt_vectors
    msr     vbar_el1, x1
    isb
    bl      rt_secondary_main
4:  wfi
    b       4b
    .ltorg

    .section .bss.rt_secondary_stacks, "aw", %nobits
    .balign 16
    .global rt_secondary_stacks
rt_secondary_stacks:
    .skip RT_MAX_CPUS * RT_SECONDARY_STACK

// ---------------------------------------------------------------------------------------------------------------
    .section .text.vectors, "ax"
    .balign 2048
    .global rt_vectors
rt_vectors:
.macro VECTOR kind
    .balign 0x80
    sub     sp, sp, #FRAME_SIZE
    stp     x0, x1, [sp, #0]
    mov     x1, #\kind
    b       rt_exception_common
.endm
    // Current EL with SP_EL0: never used by the runtime (kind 4 + n = unexpected).
    VECTOR 4
    VECTOR 5
    VECTOR 6
    VECTOR 7
    // Current EL with SP_ELx: the runtime's own exceptions.
    VECTOR 0    // synchronous
    VECTOR 1    // IRQ
    VECTOR 2    // FIQ
    VECTOR 3    // SError
    // Lower EL, AArch64 / AArch32: the payloads never drop to EL0.
    VECTOR 8
    VECTOR 9
    VECTOR 10
    VECTOR 11
    VECTOR 12
    VECTOR 13
    VECTOR 14
    VECTOR 15

rt_exception_common:
    stp     x2, x3, [sp, #16]
    stp     x4, x5, [sp, #32]
    stp     x6, x7, [sp, #48]
    stp     x8, x9, [sp, #64]
    stp     x10, x11, [sp, #80]
    stp     x12, x13, [sp, #96]
    stp     x14, x15, [sp, #112]
    stp     x16, x17, [sp, #128]
    stp     x18, x19, [sp, #144]
    stp     x20, x21, [sp, #160]
    stp     x22, x23, [sp, #176]
    stp     x24, x25, [sp, #192]
    stp     x26, x27, [sp, #208]
    stp     x28, x29, [sp, #224]
    str     x30, [sp, #240]
    mrs     x2, elr_el1
    mrs     x3, spsr_el1
    stp     x2, x3, [sp, #FRAME_ELR]
    mrs     x2, esr_el1
    mrs     x3, far_el1
    stp     x2, x3, [sp, #FRAME_ESR]
    mov     x0, sp
    bl      rt_exception
    ldp     x2, x3, [sp, #FRAME_ELR]
    msr     elr_el1, x2
    msr     spsr_el1, x3
    ldp     x2, x3, [sp, #16]
    ldp     x4, x5, [sp, #32]
    ldp     x6, x7, [sp, #48]
    ldp     x8, x9, [sp, #64]
    ldp     x10, x11, [sp, #80]
    ldp     x12, x13, [sp, #96]
    ldp     x14, x15, [sp, #112]
    ldp     x16, x17, [sp, #128]
    ldp     x18, x19, [sp, #144]
    ldp     x20, x21, [sp, #160]
    ldp     x22, x23, [sp, #176]
    ldp     x24, x25, [sp, #192]
    ldp     x26, x27, [sp, #208]
    ldp     x28, x29, [sp, #224]
    ldr     x30, [sp, #240]
    ldp     x0, x1, [sp, #0]
    add     sp, sp, #FRAME_SIZE
    eret

// ---------------------------------------------------------------------------------------------------------------
// Single-instruction memory probes. Each access is exactly one instruction so that a fault handler which skips it
// (elr += 4) returns here with x0 still holding the fallback value.
    .text
    .global rt_probe_read64
rt_probe_read64:            // u64 rt_probe_read64(u64 addr, u64 fallback)
    mov     x2, x0
    mov     x0, x1
    ldr     x0, [x2]
    ret
    .global rt_probe_read32
rt_probe_read32:            // u32 rt_probe_read32(u64 addr, u32 fallback)
    mov     x2, x0
    mov     w0, w1
    ldr     w0, [x2]
    ret
    .global rt_probe_write64
rt_probe_write64:           // void rt_probe_write64(u64 addr, u64 value)
    str     x1, [x0]
    ret
    .global rt_probe_write32
rt_probe_write32:           // void rt_probe_write32(u64 addr, u32 value)
    str     w1, [x0]
    ret
