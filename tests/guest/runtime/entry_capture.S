// A CPU_ON / CPU_SUSPEND entry point that records the architectural entry state before touching anything, then
// continues as an ordinary runtime secondary (rt_secondary_entry) on the slot named by rt_entry_capture.slot.
//
// DEN0022D 6.4 (CPU_ON / power-down entry): the CPU starts at the entry point at the caller's EL (EL1 here), with
// the MMU and data cache off and x0 = context_id. rt::start_cpu_captured() (smp.hpp) prepares the record.
//
// Record layout (rt::EntryCapture, 8-byte fields, naturally aligned: the MMU is off, every access is Device):
//   0 x0   8 CurrentEL   16 SPSel   24 SCTLR_EL1   32 DAIF   40 valid (1 once written)   48 slot to continue on
    .text
    .global rt_capture_entry
    .balign 4
rt_capture_entry:
    adrp    x9, rt_entry_capture
    add     x9, x9, :lo12:rt_entry_capture
    str     x0, [x9, #0]
    mrs     x10, CurrentEL
    str     x10, [x9, #8]
    mrs     x10, SPSel
    str     x10, [x9, #16]
    mrs     x10, sctlr_el1
    str     x10, [x9, #24]
    mrs     x10, daif
    str     x10, [x9, #32]
    ldr     x0, [x9, #48]           // the runtime slot to run on
    dsb     sy
    mov     x10, #1
    str     x10, [x9, #40]
    dsb     sy
    b       rt_secondary_entry

    .bss
    .balign 16
    .global rt_entry_capture
rt_entry_capture:
    .skip 64
