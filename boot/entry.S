/* Hypervisor entry: the arm64 Linux Image header, then EL2 bring-up up to C++ (boot/main.cpp).
 *
 * Primary pCPU: QEMU -kernel enters at the first byte at EL2 with MMU/caches off and x0 = host DTB
 *               (Documentation/arm64/booting.rst: x0 = DTB, x1..x3 = 0).
 * Secondaries:  started by PSCI CPU_ON (SMC to QEMU's firmware) at hv_secondary_entry, EL2, MMU off,
 *               x0 = context_id = the pCPU index.
 * The code up to the C++ call is position independent (adr only); it checks that it runs at its link address. */
#include "arch/aarch64/asm_defs.h"

    .section .text.head, "ax"
    .global _head
_head:
    b       primary_entry               /* code0 */
    .long   0                           /* code1 */
    .quad   0                           /* text_offset: QEMU loads at RAM base + 2 MiB (see linker script) */
    .quad   __hv_image_size             /* image_size, BSS included */
    .quad   0xa                         /* flags: LE (bit 0 = 0), 4K pages (bits 2:1 = 1), anywhere (bit 3) */
    .quad   0                           /* res2 */
    .quad   0                           /* res3 */
    .quad   0                           /* res4 */
    .ascii  "ARM\x64"                   /* magic */
    .long   0                           /* res5 (PE header offset: none) */

    .section .text.boot, "ax"
primary_entry:
    mov     x19, x0                     /* host DTB */
    adr     x20, _head                  /* actual load address */

    mrs     x1, CurrentEL
    cmp     x1, #(2 << 2)
    b.eq    1f
    adr     x0, msg_not_el2
    bl      early_puts
    lsr     x0, x1, #2
    bl      early_puthex
    b       halt
1:
    ldr     x1, =_head                  /* link address (absolute literal) */
    cmp     x1, x20
    b.eq    2f
    adr     x0, msg_wrong_addr
    bl      early_puts
    mov     x0, x20
    bl      early_puthex
    b       halt
2:
    /* MMU, caches and alignment checks off, little endian; known state before C++ runs. */
    ldr     x1, =0x30c50830             /* SCTLR_EL2 RES1 bits only */
    msr     sctlr_el2, x1
    isb

    /* Zero BSS (page aligned, page multiple: see linker script). The stacks live in BSS. 128 bytes per iteration:
       the BSS is ~16 MiB, and every instruction here is one more per boot (docs/benchmarks.md). */
    adr_l   x1, __bss_start
    adr_l   x2, __bss_end
3:  cmp     x1, x2
    b.hs    4f
    stp     xzr, xzr, [x1]
    stp     xzr, xzr, [x1, #16]
    stp     xzr, xzr, [x1, #32]
    stp     xzr, xzr, [x1, #48]
    stp     xzr, xzr, [x1, #64]
    stp     xzr, xzr, [x1, #80]
    stp     xzr, xzr, [x1, #96]
    stp     xzr, xzr, [x1, #112]
    add     x1, x1, #128
    b       3b
4:
    bl      init_stack_guard
    mov     x0, #0
    bl      set_stack_and_vectors
    mov     x0, x19
    mov     x1, x20
    bl      hv_main                     /* boot/main.cpp; never returns */
    b       halt

    .global hv_secondary_entry
hv_secondary_entry:
    mov     x19, x0                     /* pCPU index */
    mrs     x1, CurrentEL
    cmp     x1, #(2 << 2)
    b.ne    halt
    ldr     x1, =0x30c50830
    msr     sctlr_el2, x1
    isb
    cmp     x19, #HV_MAX_CPUS
    b.hs    halt
    mov     x0, x19
    bl      set_stack_and_vectors
    mov     x0, x19
    bl      hv_secondary_main           /* boot/main.cpp; never returns */
    b       halt

/* x0 = pCPU index: SP_EL2 = top of that CPU's stack (its slot's upper half, 16 bytes below the slot's end so that
 * even an empty stack has bit HV_STACK_SHIFT set), VBAR_EL2 = hv_vectors. Clobbers x1, x2. */
set_stack_and_vectors:
    msr     spsel, #1
    adr_l   x1, hv_stacks
    add     x0, x0, #1
    mov     x2, #HV_STACK_SLOT
    madd    x1, x0, x2, x1
    sub     x1, x1, #16
    mov     sp, x1
    adr_l   x1, hv_vectors
    msr     vbar_el2, x1
    isb
    ret

/* The stack protector's canary (-fstack-protector-strong, docs/boot.md "EL2 hardening"): set once, before any C++
 * runs, from RNDR when FEAT_RNG exists (ID_AA64ISAR0_EL1.RNDR, bits [63:60]; a failed RNDR sets Z and is retried a
 * few times) mixed with the physical counter, else from the counter alone. The lowest byte is cleared so that a
 * string overflow cannot reproduce the canary. hv_stack_guard_source: 1 = RNDR, 0 = counter only. Clobbers x1-x4. */
init_stack_guard:
    mrs     x1, cntpct_el0
    mov     x4, #0
    mrs     x2, id_aa64isar0_el1
    lsr     x2, x2, #60
    cbz     x2, 2f
    mov     x3, #8
1:  mrs     x2, s3_3_c2_c4_0            /* RNDR */
    b.ne    3f                          /* NZCV = 0b0000: a random number */
    subs    x3, x3, #1
    b.ne    1b
    b       2f
3:  eor     x1, x1, x2
    mov     x4, #1
2:  ror     x2, x1, #29                 /* spread the counter's low bits over the whole word */
    eor     x1, x1, x2, lsl #17
    and     x1, x1, #~0xff
    adr_l   x2, __stack_chk_guard
    str     x1, [x2]
    adr_l   x2, hv_stack_guard_source
    str     w4, [x2]
    ret

    .global halt
halt:
    msr     daifset, #0xf
5:  wfe
    b       5b

/* Polled output on the early UART (QEMU virt PL011). x0 = NUL-terminated string. Clobbers x0, x2..x4. */
early_putc:                             /* w3 = character */
    mov     x4, #HV_EARLY_UART
6:  ldr     w2, [x4, #0x18]             /* UARTFR */
    tbnz    w2, #5, 6b                  /* TXFF */
    str     w3, [x4]                    /* UARTDR */
    ret
early_puts:
    mov     x5, x30
7:  ldrb    w3, [x0], #1
    cbz     w3, 8f
    bl      early_putc
    b       7b
8:  mov     x30, x5
    ret
/* x0 = value, printed as 0x%016x and a newline. Clobbers x0, x2..x7. */
early_puthex:
    mov     x7, x30
    mov     x6, x0
    mov     w3, #'0'
    bl      early_putc
    mov     w3, #'x'
    bl      early_putc
    mov     x5, #60
9:  lsr     x3, x6, x5
    and     x3, x3, #0xf
    cmp     x3, #10
    add     x2, x3, #'0'
    add     x3, x3, #('a' - 10)
    csel    x3, x2, x3, lo
    bl      early_putc
    subs    x5, x5, #4
    b.pl    9b
    mov     w3, #'\n'
    bl      early_putc
    mov     x30, x7
    ret

msg_not_el2:
    .asciz  "hv: FATAL: not entered at EL2 (run QEMU with -M virt,virtualization=on); CurrentEL="
msg_wrong_addr:
    .asciz  "hv: FATAL: loaded at an address other than the link address 0x40200000; load address="
    .balign 4
    .ltorg

    .section .bss.stacks, "aw", %nobits
    .balign HV_STACK_SLOT
    .global hv_stacks
hv_stacks:                              /* per pCPU: [guard (unmapped) | stack], HV_STACK_SLOT each */
    .skip   HV_MAX_CPUS * HV_STACK_SLOT
    .balign 4096
    .global hv_fault_stacks
hv_fault_stacks:
    .skip   HV_MAX_CPUS * HV_FAULT_STACK_SIZE
