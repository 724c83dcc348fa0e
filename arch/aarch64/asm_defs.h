/* Constants shared by the assembly (boot/entry.S, arch/aarch64/vectors.S) and C++ (arch/aarch64/percpu.hpp).
 * Plain #defines only: this file is included by .S files. */
#pragma once

#define HV_MAX_CPUS 8
#define HV_STACK_SIZE 0x4000 /* per pCPU, 16 KiB */
/* Stack guard (docs/boot.md "EL2 hardening"): each pCPU's stack sits in the upper half of a 32 KiB-aligned slot of
 * 2 * HV_STACK_SIZE whose lower half is left unmapped at EL2. Every SP inside a stack has bit HV_STACK_SHIFT set and
 * every address in a guard has it clear, which lets the EL2 sync vector recognise an overflow without touching
 * memory (vectors.S) and switch to the pCPU's fault stack. */
#define HV_STACK_SHIFT 14
#define HV_STACK_SLOT (2 * HV_STACK_SIZE)
#define HV_FAULT_STACK_SIZE 0x1000 /* per pCPU: where an overflow is reported from */

/* PerCpu field offsets (static_assert'ed in percpu.hpp). */
#define PERCPU_GUEST_CTX 0
#define PERCPU_HOST_SP 8
#define PERCPU_VCPU 16
#define PERCPU_ITS_POLL 24
#define PERCPU_EXITS_DABT (32 + 3 * 8) /* PerCpu::exits at 32, ExitStats::dabt */
#define PERCPU_EXITS_FAST (32 + 9 * 8) /* ExitStats::fast */
/* Vcpu::sys_stale (core/vcpu.hpp); ItsPoll (percpu.hpp). */
#define VCPU_SYS_STALE 19
#define ITS_POLL_IPA 0
#define ITS_POLL_BACKLOG 8
#define ITS_POLL_CREADR 16

/* Early (pre-DTB) console: QEMU virt's PL011. Only used for fatal boot messages before the DTB is parsed. */
#define HV_EARLY_UART 0x09000000

/* Exit reasons returned by hv_enter_guest (lower-EL vector that ended the guest run). */
#define HV_EXIT_SYNC 0
#define HV_EXIT_IRQ 1
#define HV_EXIT_FIQ 2
#define HV_EXIT_SERROR 3
#define HV_EXIT_AARCH32 4
/* Returned by the exit fast path (hv_fast_exit, arch/aarch64/fast_exit.cpp) to send an exit it handled on to the
 * run loop: HANDLED = done, only the loop's entry work (vGIC flush) is needed; FIRMWARE = a firmware call whose
 * exit (suspend, CPU_OFF, ...) the loop finishes. */
#define HV_EXIT_HANDLED 5
#define HV_EXIT_FIRMWARE 6
/* An IRQ exit the fast path took through the devices' after_exit hooks and the physical IRQ handlers; the run loop
 * does the rest (its entry work) without running after_exit again. */
#define HV_EXIT_IRQ_HANDLED 7
/* hv_fast_exit's answer "handled: resume the guest now" (not an exit reason: HV_EXIT_SYNC is 0). */
#define HV_FAST_RESUME 0xff

/* ESR_EL2[31:0] of a trapped MSR ICC_SGI1R_EL1, Xt with Rt = 0: EC 0x18, IL 1 and the ISS (DDI0487 D17.2.37: Op0 3,
 * Op2 5, Op1 0, CRn 12, CRm 11, Direction 0). The exit vector sends these to hv_fast_sgi1r (static_assert'ed in
 * fast_exit.cpp). */
#define HV_ESR_SGI1R_WRITE 0x623a3016

/* Kinds passed to hv_el2_fault for exceptions taken from EL2 itself. */
#define HV_EL2_SYNC_SP0 0
#define HV_EL2_SYNC 1
#define HV_EL2_FIQ 2
#define HV_EL2_SERROR 3
#define HV_EL2_STACK_OVERFLOW 4 /* sync exception with SP in a stack guard (vectors.S) */

/* El2Frame layout: x0..x30, sp, elr, spsr, esr, far. */
#define EL2_FRAME_SIZE 288

#ifdef __ASSEMBLER__
/* PC-relative address of a symbol within +-4 GiB. */
.macro adr_l reg, sym
    adrp    \reg, \sym
    add     \reg, \reg, :lo12:\sym
.endm
#endif
