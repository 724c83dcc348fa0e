// The console escape (core/console_escape, docs/snapshot.md "Console escape"): Ctrl-] and a letter typed on the
// hypervisor's console. The host UART's receive path (guest_uart) reads through console_escape_getc(); a command
// is recorded and vCPU 0 kicked, and vCPU 0's vcpu_loop runs it with its own exit handled (console_command_run):
//   m  migrate: save the whole VM to the snapshot disk and power off; tools/run-guest resumes it in a new QEMU
//   s  save: the same, and tools/run-guest keeps the snapshot as its --save FILE and exits 0
//   i  a VM summary (vCPUs and power states, pending/active interrupts, ITS mappings, SDEI registrations)
//   h  help; Ctrl-] Ctrl-] sends one 0x1d to the guest
#pragma once

#include "core/console_escape.hpp"
#include "lib/atomic.hpp"
#include "vm/vm.hpp"

namespace hv::arch {

// Markers tools/run-guest looks for on the console (the line is logged just before the power-off).
constexpr const char kMigrateMarker[] = "snapshot: MIGRATE: VM saved, powering off for the restore";
constexpr const char kSavedMarker[] = "snapshot: SAVED: VM saved, powering off";

// The next byte of host console input for the guest (-1: none); runs the escape over it. Called with the guest
// UART's lock held, on the pCPU that takes the host UART's interrupt.
int console_escape_getc();

// A command is waiting for vCPU 0.
bool console_command_pending();
// On vCPU 0's pCPU, at the top of its vcpu_loop (exit handled, context saved).
void console_command_run(Vm& vm, Vcpu& self);
// The escape as one of the VM's devices (run_pending: a waiting command runs on vCPU 0 at the top of its loop).
DeviceHooks console_escape_device();

// The escape's state, held by the anchor (anchor.hpp); only console_escape.cpp touches it.
struct ConsoleEscapeState {
    ConsoleEscape escape;
    Atomic<u8> command;  // EscapeCommand::none (0) or the command waiting for vCPU 0
};

}  // namespace hv::arch
