/* Constants shared by the assembly (boot/entry.S, arch/aarch64/vectors.S) and C++ (arch/aarch64/percpu.hpp).
 * Plain #defines only: this file is included by .S files. */
#pragma once

#define HV_MAX_CPUS 8
#define HV_STACK_SIZE 0x4000 /* per pCPU, 16 KiB */

/* PerCpu field offsets (static_assert'ed in percpu.hpp). */
#define PERCPU_GUEST_CTX 0
#define PERCPU_HOST_SP 8

/* Early (pre-DTB) console: QEMU virt's PL011. Only used for fatal boot messages before the DTB is parsed. */
#define HV_EARLY_UART 0x09000000

/* Exit reasons returned by hv_enter_guest (lower-EL vector that ended the guest run). */
#define HV_EXIT_SYNC 0
#define HV_EXIT_IRQ 1
#define HV_EXIT_FIQ 2
#define HV_EXIT_SERROR 3
#define HV_EXIT_AARCH32 4

/* Kinds passed to hv_el2_fault for exceptions taken from EL2 itself. */
#define HV_EL2_SYNC_SP0 0
#define HV_EL2_SYNC 1
#define HV_EL2_FIQ 2
#define HV_EL2_SERROR 3

/* El2Frame layout: x0..x30, sp, elr, spsr, esr, far. */
#define EL2_FRAME_SIZE 288

#ifdef __ASSEMBLER__
/* PC-relative address of a symbol within +-4 GiB. */
.macro adr_l reg, sym
    adrp    \reg, \sym
    add     \reg, \reg, :lo12:\sym
.endm
#endif
