/* EL2 exception vectors and the world switch.
 *
 * hv_enter_guest(VcpuContext* ctx, u64 load_fp) saves the hypervisor's callee-saved registers on its stack, records
 * ctx and the stack pointer in the PerCpu block (TPIDR_EL2), loads the guest's general-purpose registers, SP_EL0,
 * SP_EL1, ELR_EL1, SPSR_EL1, ELR_EL2/SPSR_EL2 (pc/pstate) and, if load_fp != 0, V0-V31/FPSR/FPCR, then ERETs.
 * A lower-EL exception saves the general-purpose registers, PC and PSTATE into ctx and tries the exit fast path
 * (hv_fast_exit: handled there, the guest is resumed at once); otherwise the rest goes into ctx too (FP/SIMD always:
 * the hypervisor is built with -mgeneral-regs-only, so the registers still hold the guest's values) and
 * hv_enter_guest returns HV_EXIT_*.
 * FP/SIMD is reloaded only on request so that SVE's upper Z-register bits survive an exit on a pinned pCPU
 * (an AdvSIMD write would zero them).
 * The EL1 system registers are switched in C++ (arch/aarch64/el1_sysregs.cpp, lazily).
 *
 * Offsets: core/vcpu_context.hpp (KVM kvm_regs layout), static_assert'ed there. */
#include "arch/aarch64/asm_defs.h"

    .arch   armv8-a+fp+simd

#define CTX_SP_EL0   0x0f8
#define CTX_PC       0x100
#define CTX_SP_EL1   0x110
#define CTX_SPSR_EL1 0x120
#define CTX_VREGS    0x150
#define CTX_FPSR     0x350
#define CTX_FPCR     0x354

/* The guest's general-purpose registers in its context (x0 = ctx; x[n] at 8 * n, x30 at 240). */
.macro ctx_load_x2_x17
    ldp     x2, x3, [x0, #16]
    ldp     x4, x5, [x0, #32]
    ldp     x6, x7, [x0, #48]
    ldp     x8, x9, [x0, #64]
    ldp     x10, x11, [x0, #80]
    ldp     x12, x13, [x0, #96]
    ldp     x14, x15, [x0, #112]
    ldp     x16, x17, [x0, #128]
.endm

.macro ctx_load_x20_x29
    ldp     x20, x21, [x0, #160]
    ldp     x22, x23, [x0, #176]
    ldp     x24, x25, [x0, #192]
    ldp     x26, x27, [x0, #208]
    ldp     x28, x29, [x0, #224]
.endm

.macro ctx_store_x19_x29
    str     x19, [x0, #152]
    stp     x20, x21, [x0, #160]
    stp     x22, x23, [x0, #176]
    stp     x24, x25, [x0, #192]
    stp     x26, x27, [x0, #208]
    stp     x28, x29, [x0, #224]
.endm

/* x30, then x0/x1 (x0 last: it holds ctx), and back to the guest. */
.macro ctx_eret
    ldr     x30, [x0, #240]
    ldp     x0, x1, [x0, #0]
    eret
    dsb     nsh                         /* speculation barrier after ERET */
    isb
.endm

.macro vector_entry label
    .balign 128
    b       \label
.endm

.macro guest_exit_stub reason
    .balign 128
    stp     x0, x1, [sp, #-16]!
    mov     x1, #\reason
    b       guest_exit_common
.endm

.macro el2_fault_stub kind
    .balign 128
    sub     sp, sp, #EL2_FRAME_SIZE
    stp     x0, x1, [sp, #0]
    mov     x1, #\kind
    b       el2_fault_common
.endm

    .section .text.vectors, "ax"
    .balign 2048
    .global hv_vectors
hv_vectors:
    /* Current EL with SP_EL0: never used by the hypervisor. */
    el2_fault_stub HV_EL2_SYNC_SP0
    el2_fault_stub HV_EL2_SYNC_SP0
    el2_fault_stub HV_EL2_SYNC_SP0
    el2_fault_stub HV_EL2_SYNC_SP0
    /* Current EL with SP_EL2. The sync entry first checks the stack guard (asm_defs.h HV_STACK_SHIFT): without a
     * scratch register, SP's bit is tested through x0 and both are restored arithmetically. */
    .balign 128
    add     sp, sp, x0                  /* sp' = sp + x0 */
    sub     x0, sp, x0                  /* x0 = sp */
    tbnz    x0, #HV_STACK_SHIFT, 1f    /* (tbz reaches only +-32 KiB: el2_stack_overflow is in .text) */
    b       el2_stack_overflow
1:  sub     x0, sp, x0                  /* x0 = sp' - sp = x0 */
    sub     sp, sp, x0                  /* sp */
    sub     sp, sp, #EL2_FRAME_SIZE
    stp     x0, x1, [sp, #0]
    mov     x1, #HV_EL2_SYNC
    b       el2_fault_common
    vector_entry el2_irq
    el2_fault_stub HV_EL2_FIQ
    el2_fault_stub HV_EL2_SERROR
    /* Lower EL, AArch64: the guest. */
    guest_exit_stub HV_EXIT_SYNC
    guest_exit_stub HV_EXIT_IRQ
    guest_exit_stub HV_EXIT_FIQ
    guest_exit_stub HV_EXIT_SERROR
    /* Lower EL, AArch32: cannot happen (HCR_EL2.RW = 1, EL1 AArch64-only). */
    guest_exit_stub HV_EXIT_AARCH32
    guest_exit_stub HV_EXIT_AARCH32
    guest_exit_stub HV_EXIT_AARCH32
    guest_exit_stub HV_EXIT_AARCH32

    .text
/* x1 = exit reason; guest x0/x1 on the stack. */
guest_exit_common:
    mrs     x0, tpidr_el2
    ldr     x0, [x0, #PERCPU_GUEST_CTX]
    stp     x2, x3, [x0, #16]
    stp     x4, x5, [x0, #32]
    stp     x6, x7, [x0, #48]
    stp     x8, x9, [x0, #64]
    stp     x10, x11, [x0, #80]
    stp     x12, x13, [x0, #96]
    stp     x14, x15, [x0, #112]
    stp     x16, x17, [x0, #128]
    str     x18, [x0, #144]             /* x19-x29: below (save_callee_saved), only where needed */
    str     x30, [x0, #240]
    ldp     x2, x3, [sp], #16
    stp     x2, x3, [x0, #0]
    mrs     x2, elr_el2
    mrs     x3, spsr_el2
    stp     x2, x3, [x0, #CTX_PC]

    /* Branch-predictor hardening on entry from the guest, before the first indirect branch (the fast path's call and
     * the ret below): hv_entry_mitigation (arch/aarch64/hardening.cpp, decided by psci/mitigations.hpp) bit 0 =
     * firmware SMCCC_ARCH_WORKAROUND_1, bit 1 = the BHB-clearing loop (word 1 = iterations), bit 2 = CLRBHB, bit 3 =
     * firmware SMCCC_ARCH_WORKAROUND_3. The guest's general-purpose registers are saved: x0-x17 are free (SMCCC 1.1
     * keeps x4-x17, and the other guest registers). */
    adrp    x2, hv_entry_mitigation
    ldr     w5, [x2, :lo12:hv_entry_mitigation]
    cbz     w5, 15f
    mov     x4, x1
    tbz     w5, #0, 11f
    movz    w0, #0x8000, lsl #16
    movk    w0, #0x8000                 /* SMCCC_ARCH_WORKAROUND_1 */
    smc     #0
11: tbz     w5, #1, 13f
    add     x2, x2, :lo12:hv_entry_mitigation
    ldr     w6, [x2, #4]
12: b       . + 4
    subs    w6, w6, #1
    b.ne    12b
    dsb     nsh
    isb
13: tbz     w5, #2, 14f
    hint    #22                         /* CLRBHB */
    isb
14: tbz     w5, #3, 16f
    movz    w0, #0x8000, lsl #16
    movk    w0, #0x3fff                 /* SMCCC_ARCH_WORKAROUND_3 */
    smc     #0
16: mov     x1, x4
15:
    /* The exit fast path (arch/aarch64/fast_exit.cpp, docs/benchmarks-exits.md): a synchronous or IRQ exit it can
     * handle with only the general-purpose registers, PC and PSTATE in ctx (HVC/SMC, trapped MSR/MRS, vGIC/ITS MMIO,
     * a physical interrupt that leaves only list registers to update) is handled right here and the guest resumed;
     * the EL1 registers, FP/SIMD and the run loop are not touched. The C function runs on the hypervisor stack (SP_EL2
     * is the one hv_enter_guest left) and may clobber x0-x18 and x30, which are the guest's saved copies here; it
     * preserves x19-x29 (AAPCS64 callee-saved), which still hold the guest's values when it returns. It returns
     * HV_FAST_RESUME to resume the guest, or the exit reason for the run loop.
     * HVC/SMC: the firmware only reads x0-x17 and writes x0-x3 (call_firmware), so x19-x29 are not saved before the
     * call nor reloaded after it; they go into ctx only if the exit goes on to the run loop. The same for a data
     * abort with a valid syndrome whose transfer register is not one of x19-x29 (hv_fast_mmio, hv_fast_mmio64 and
     * exit_its_poll for doublewords: the MMIO emulation reads or writes only ctx.x[Rt]) and an ICC_SGI1R_EL1 write from a register
     * outside x19-x29 (hv_fast_sgi1r: the vGIC reads only ctx.x[Rt]). Every other exit saves them first: the MSR/MRS emulation and the MMIO of
     * x19-x29 read and write them in ctx. */
    cbz     x1, 23f                     /* HV_EXIT_SYNC == 0; hv_fast_exit returns the reasons it does not handle */
    cmp     x1, #HV_EXIT_IRQ
    b.ne    20f
    /* A physical IRQ: fast_irq's handlers (the IRQ handlers, the vGIC's flush, the devices' hooks when no device
     * needs the whole context) do not touch the guest's general-purpose registers, so x19-x29 stay in the CPU here
     * too (hv_fast_irq, fast_exit.cpp); they go into ctx only if the exit goes on to the run loop. */
exit_irq:                               /* (a label of its own for the exit profile, tests/bench/exit-profile) */
    bl      hv_fast_irq
    cmp     x0, #HV_FAST_RESUME
    b.eq    exit_fast_resume_hvc
    b       19f
23:
    mrs     x3, esr_el2
    ubfx    x2, x3, #26, #6             /* ESR_EL2.EC */
    cmp     x2, #0x16                   /* HVC64 */
    ccmp    x2, #0x17, #4, ne           /* SMC64 (Z set already if HVC64) */
    b.ne    21f
    mov     x0, x2
    bl      hv_fast_hvc                 /* x0 = EC */
    cmp     x0, #HV_FAST_RESUME
    b.ne    19f
exit_fast_resume_hvc:                   /* x19-x29 were never touched */
    mrs     x0, tpidr_el2
    ldr     x0, [x0, #PERCPU_GUEST_CTX]
    ldp     x2, x3, [x0, #CTX_PC]
    msr     elr_el2, x2
    msr     spsr_el2, x3
    ctx_load_x2_x17
    ldr     x18, [x0, #144]
    ctx_eret

    /* A data abort from the guest (EC 0x24) with ISS.ISV = 1 and ISS.SRT not in 19..29 (DDI0487 D17.2.40):
     * hv_fast_mmio, x0 = ESR_EL2; a doubleword read exit_its_poll (the ITS's CREADR, below), a doubleword write
     * hv_fast_mmio64 (the ITS's CWRITER); anything else they hand to hv_fast_mmio. x2 = EC, x3 = ESR_EL2. */
21:
exit_mmio:                              /* (a label of its own for the exit profile, tests/bench/exit-profile) */
    cmp     x2, #0x24
    b.ne    22f
    tbz     x3, #24, 20f                /* ISV */
    ubfx    x2, x3, #16, #5             /* SRT */
    sub     x2, x2, #19
    cmp     x2, #10
    b.ls    20f                         /* x19-x29: saved first (exit_save_all) */
    mov     x0, x3
    tbz     x3, #22, 24f                /* SAS (ISS[23:22]) 0 or 2: bytes, words */
    tbnz    x3, #23, 25f                /* SAS 3: doublewords -- the ITS's CREADR and CWRITER */
24: bl      hv_fast_mmio
    cmp     x0, #HV_FAST_RESUME
    b.eq    exit_fast_resume_hvc
    b       19f
25: tbz     x3, #6, exit_its_poll       /* WnR 0: a read */
    bl      hv_fast_mmio64              /* a write: the ITS's doorbell (GITS_CWRITER), else hv_fast_mmio */
    cmp     x0, #HV_FAST_RESUME
    b.eq    exit_fast_resume_hvc
    b       19f

    /* A doubleword read: the driver's completion poll of the VM's first ITS, GITS_CREADR while no command waits, is
     * answered here, without a call -- what fast_exit.cpp fast_its and its::Its::read_creadr_unlocked do (the published
     * value, nothing observed, nothing changed) with the checks of hv_fast_mmio and fast_mmio; anything else goes to
     * hv_fast_mmio. x0 = x3 = ESR_EL2 (ISV 1, SAS 3, SRT not 19..29); x0-x18 and x30 are in ctx, free here. */
exit_its_poll:
    mrs     x4, tpidr_el2
    ldp     x5, x6, [x4, #PERCPU_VCPU]  /* the vCPU, the ItsPoll */
    cbz     x5, 24b
    cbz     x6, 24b
    tst     x3, #0x380                  /* ISS.EA, CM, S1PTW: 0 */
    b.ne    24b
    ubfx    x7, x3, #2, #4              /* DFSC[5:2]: 1 translation fault, 2 access flag fault */
    sub     x7, x7, #1
    cmp     x7, #1
    b.hi    24b
    mrs     x7, hpfar_el2
    mrs     x8, far_el2
    ubfx    x7, x7, #4, #40             /* HPFAR_EL2.FIPA: IPA[51:12] */
    lsl     x7, x7, #12
    bfxil   x7, x8, #0, #12             /* FAR_EL2[11:0] */
    ldp     x8, x9, [x6, #ITS_POLL_IPA] /* GITS_CREADR's IPA, &backlog */
    cmp     x7, x8
    b.ne    24b
    ldarb   w9, [x9]                    /* a command waits: the locked path (it runs a batch) */
    cbnz    w9, 24b
    ldr     x9, [x6, #ITS_POLL_CREADR]
    ldr     x9, [x9]                    /* GITS_CREADR as published with the flag */
    mov     w10, #1
    strb    w10, [x5, #VCPU_SYS_STALE]  /* as hv_fast_exit */
    ldr     x0, [x4, #PERCPU_GUEST_CTX]
    ubfx    x7, x3, #16, #5             /* SRT (31: xzr, the value goes nowhere) */
    cmp     x7, #31
    b.eq    26f
    str     x9, [x0, x7, lsl #3]        /* a 64-bit load: nothing to extend or truncate */
26: ldr     x8, [x0, #CTX_PC]
    add     x8, x8, #4
    str     x8, [x0, #CTX_PC]
    ldr     x8, [x4, #PERCPU_EXITS_DABT] /* count_fast: only this pCPU writes them */
    add     x8, x8, #1
    str     x8, [x4, #PERCPU_EXITS_DABT]
    ldr     x8, [x4, #PERCPU_EXITS_FAST]
    add     x8, x8, #1
    str     x8, [x4, #PERCPU_EXITS_FAST]
    b       exit_fast_resume_hvc

    /* MSR ICC_SGI1R_EL1, Xt (ESR_EL2[31:0] without Rt is HV_ESR_SGI1R_WRITE) with Xt not one of x19-x29: the
     * guest's IPIs. hv_fast_sgi1r, x0 = ESR_EL2: it reads only ctx.x[Rt] (sgi_write), as hv_fast_mmio.
     * x2 = EC, x3 = ESR_EL2. */
22:
exit_sgi1r:                             /* (a label of its own for the exit profile, tests/bench/exit-profile) */
    mov     w5, #(HV_ESR_SGI1R_WRITE & 0xffff)
    movk    w5, #(HV_ESR_SGI1R_WRITE >> 16), lsl #16
    eor     w4, w3, w5
    tst     w4, #0xfffffc1f             /* EC, IL and the ISS but Rt [9:5] (bits 63:32: RES0 for EC 0x18) */
    b.ne    20f
    ubfx    x2, x3, #5, #5              /* Rt */
    sub     x2, x2, #19
    cmp     x2, #10
    b.ls    20f                         /* x19-x29: saved first (exit_save_all) */
    mov     x0, x3
    bl      hv_fast_sgi1r
    cmp     x0, #HV_FAST_RESUME
    b.eq    exit_fast_resume_hvc

    /* x19-x29 into ctx, then on to the run loop. x0 = exit reason. */
19:
save_callee_saved:
    mov     x1, x0
    mrs     x0, tpidr_el2
    ldr     x0, [x0, #PERCPU_GUEST_CTX]
    ctx_store_x19_x29
    b       17f

    /* Every other exit: x19-x29 into ctx first, the whole context is then in ctx. x1 = exit reason. */
20:
exit_save_all:
    mrs     x0, tpidr_el2               /* (the mitigations above may have used x0) */
    ldr     x0, [x0, #PERCPU_GUEST_CTX]
    ctx_store_x19_x29
    mov     x0, x1
    bl      hv_fast_exit
    mov     x1, x0
    cmp     x1, #HV_FAST_RESUME
    b.ne    17f
exit_fast_resume:                       /* (a label of its own for the exit profile, tests/bench/exit-profile) */
    mrs     x0, tpidr_el2
    ldr     x0, [x0, #PERCPU_GUEST_CTX]
    ldp     x2, x3, [x0, #CTX_PC]
    msr     elr_el2, x2
    msr     spsr_el2, x3
    ctx_load_x2_x17
    ldp     x18, x19, [x0, #144]
    ctx_load_x20_x29
    ctx_eret

    /* The run loop's exit: the rest of the guest's state into ctx. x1 = exit reason. */
17:
exit_to_run_loop:
    mrs     x0, tpidr_el2
    ldr     x0, [x0, #PERCPU_GUEST_CTX]
    mrs     x2, sp_el0
    str     x2, [x0, #CTX_SP_EL0]
    mrs     x2, sp_el1
    mrs     x3, elr_el1
    stp     x2, x3, [x0, #CTX_SP_EL1]
    mrs     x2, spsr_el1
    str     x2, [x0, #CTX_SPSR_EL1]
    add     x2, x0, #CTX_VREGS
    stp     q0, q1, [x2, #0]
    stp     q2, q3, [x2, #32]
    stp     q4, q5, [x2, #64]
    stp     q6, q7, [x2, #96]
    stp     q8, q9, [x2, #128]
    stp     q10, q11, [x2, #160]
    stp     q12, q13, [x2, #192]
    stp     q14, q15, [x2, #224]
    stp     q16, q17, [x2, #256]
    stp     q18, q19, [x2, #288]
    stp     q20, q21, [x2, #320]
    stp     q22, q23, [x2, #352]
    stp     q24, q25, [x2, #384]
    stp     q26, q27, [x2, #416]
    stp     q28, q29, [x2, #448]
    stp     q30, q31, [x2, #480]
    mrs     x3, fpsr
    str     w3, [x0, #CTX_FPSR]
    mrs     x3, fpcr
    str     w3, [x0, #CTX_FPCR]
    mov     x0, x1
    mrs     x2, tpidr_el2
    ldr     x3, [x2, #PERCPU_HOST_SP]
    mov     sp, x3
    ldp     x19, x20, [sp, #16]
    ldp     x21, x22, [sp, #32]
    ldp     x23, x24, [sp, #48]
    ldp     x25, x26, [sp, #64]
    ldp     x27, x28, [sp, #80]
    ldp     x29, x30, [sp], #96
    ret

    .global hv_enter_guest
hv_enter_guest:
    stp     x29, x30, [sp, #-96]!
    stp     x19, x20, [sp, #16]
    stp     x21, x22, [sp, #32]
    stp     x23, x24, [sp, #48]
    stp     x25, x26, [sp, #64]
    stp     x27, x28, [sp, #80]
    mrs     x2, tpidr_el2
    str     x0, [x2, #PERCPU_GUEST_CTX]
    mov     x3, sp
    str     x3, [x2, #PERCPU_HOST_SP]

    cbz     x1, 1f
    add     x2, x0, #CTX_VREGS
    ldp     q0, q1, [x2, #0]
    ldp     q2, q3, [x2, #32]
    ldp     q4, q5, [x2, #64]
    ldp     q6, q7, [x2, #96]
    ldp     q8, q9, [x2, #128]
    ldp     q10, q11, [x2, #160]
    ldp     q12, q13, [x2, #192]
    ldp     q14, q15, [x2, #224]
    ldp     q16, q17, [x2, #256]
    ldp     q18, q19, [x2, #288]
    ldp     q20, q21, [x2, #320]
    ldp     q22, q23, [x2, #352]
    ldp     q24, q25, [x2, #384]
    ldp     q26, q27, [x2, #416]
    ldp     q28, q29, [x2, #448]
    ldp     q30, q31, [x2, #480]
    ldr     w3, [x0, #CTX_FPSR]
    msr     fpsr, x3
    ldr     w3, [x0, #CTX_FPCR]
    msr     fpcr, x3
1:
    ldr     x2, [x0, #CTX_SP_EL0]
    msr     sp_el0, x2
    ldp     x2, x3, [x0, #CTX_PC]
    msr     elr_el2, x2
    msr     spsr_el2, x3
    ldp     x2, x3, [x0, #CTX_SP_EL1]
    msr     sp_el1, x2
    msr     elr_el1, x3
    ldr     x2, [x0, #CTX_SPSR_EL1]
    msr     spsr_el1, x2
    ctx_load_x2_x17
    ldp     x18, x19, [x0, #144]
    ctx_load_x20_x29
    ctx_eret

/* An exception taken from EL2 itself: x0/x1 saved in a new El2Frame, x1 = kind. Never returns (panic). */
/* A synchronous exception with SP in a stack guard (the pCPU overflowed its stack; or SP is not in any stack at all,
 * which halts). x0 = the faulting SP, the original x0 is lost. The faulting SP goes to SP_EL0 (the guest's SP_EL0 was
 * saved at the exit; EL2 never runs on SP_EL0), the pCPU follows from the slot the SP is in, and the report is made
 * from that pCPU's fault stack (hv_fault_stacks, boot/entry.S). */
el2_stack_overflow:
    msr     sp_el0, x0
    adr_l   x0, hv_stacks
    mov     sp, x0
    mrs     x0, sp_el0
    sub     x0, sp, x0                  /* hv_stacks - faulting SP */
    neg     x0, x0
    lsr     x0, x0, #(HV_STACK_SHIFT + 1)  /* slot = pCPU index */
    cmp     x0, #HV_MAX_CPUS
    b.hs    halt
    add     x0, x0, #1
    lsl     x0, x0, #12                 /* HV_FAULT_STACK_SIZE */
    mov     sp, x0
    adr_l   x0, hv_fault_stacks
    add     sp, sp, x0
    sub     sp, sp, #EL2_FRAME_SIZE
    stp     xzr, x1, [sp, #0]
    mov     x1, #HV_EL2_STACK_OVERFLOW
    b       el2_fault_common

el2_fault_common:
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
    add     x2, sp, #EL2_FRAME_SIZE
    stp     x30, x2, [sp, #240]
    mrs     x2, elr_el2
    mrs     x3, spsr_el2
    stp     x2, x3, [sp, #256]
    mrs     x2, esr_el2
    mrs     x3, far_el2
    stp     x2, x3, [sp, #272]
    mov     x0, sp
    bl      hv_el2_fault                /* arch/aarch64/panic.cpp, [[noreturn]] */
    b       halt

/* IRQ while at EL2 (only possible if the hypervisor unmasks IRQs, e.g. while idling): caller-saved state around
 * a C++ call, then ERET back. */
el2_irq:
    sub     sp, sp, #192
    stp     x0, x1, [sp, #0]
    stp     x2, x3, [sp, #16]
    stp     x4, x5, [sp, #32]
    stp     x6, x7, [sp, #48]
    stp     x8, x9, [sp, #64]
    stp     x10, x11, [sp, #80]
    stp     x12, x13, [sp, #96]
    stp     x14, x15, [sp, #112]
    stp     x16, x17, [sp, #128]
    stp     x18, x29, [sp, #144]
    mrs     x0, elr_el2
    mrs     x1, spsr_el2
    stp     x30, x0, [sp, #160]
    str     x1, [sp, #176]
    bl      hv_el2_irq                  /* arch/aarch64/gic.cpp */
    ldr     x1, [sp, #176]
    ldp     x30, x0, [sp, #160]
    msr     elr_el2, x0
    msr     spsr_el2, x1
    ldp     x0, x1, [sp, #0]
    ldp     x2, x3, [sp, #16]
    ldp     x4, x5, [sp, #32]
    ldp     x6, x7, [sp, #48]
    ldp     x8, x9, [sp, #64]
    ldp     x10, x11, [sp, #80]
    ldp     x12, x13, [sp, #96]
    ldp     x14, x15, [sp, #112]
    ldp     x16, x17, [sp, #128]
    ldp     x18, x29, [sp, #144]
    add     sp, sp, #192
    eret

    .global hv_smc_call
/* u64 hv_smc_call(u64 fid, u64 a1, u64 a2, u64 a3): SMCCC SMC64/SMC32 to the firmware; returns x0. */
hv_smc_call:
    smc     #0
    ret
