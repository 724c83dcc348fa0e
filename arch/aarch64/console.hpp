// The hypervisor console: the host PL011 (polled), shared by the logger and the guest's emulated UART.
#pragma once

#include "arch/aarch64/asm_defs.h"
#include "lib/spinlock.hpp"
#include "lib/types.hpp"

namespace hv::arch {

// Use the PL011 at `base` (from the DTB; 0x0900_0000 before it is parsed). Installs the lib/log.hpp hooks.
void console_init(u64 base);
void console_write(const char* s, usize len);  // takes the console lock
void console_putc_unlocked(char c);            // for panic: no lock
// A guest's character, byte for byte (no CR insertion), under the console lock.
void console_guest_putc(char c);
// Polls the receive FIFO; returns -1 if empty.
int console_getc();
u64 console_base();

// The console's state, held by the anchor (anchor.hpp); only console.cpp touches it.
struct ConsoleState {
    u64 base = HV_EARLY_UART;
    Spinlock lock;
};

}  // namespace hv::arch
