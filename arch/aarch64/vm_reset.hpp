// arch/aarch64 internals shared by the run loop (vcpu_loop.cpp, exits.cpp) and vm_reset.cpp (VM reset rendezvous).
#pragma once

#include "arch/aarch64/vm_run.hpp"
#include "lib/atomic.hpp"
#include "vm/vm.hpp"

namespace hv::arch {

// Sleep on this pCPU until an interrupt for `v`: a kick, a device's has_pending hook, a physical IRQ taken at EL2 (it
// is handled here), a VM reset request or a panic. Arms the EL2 timer at the earlier of the guest's two timer
// deadlines (virtual, physical) while it sleeps. A vCPU that is off waits for a kick, reset or panic only.
// Returns true if a timer deadline (or, without the has_pending hook, a physical IRQ) ended the wait.
bool vcpu_wait_for_interrupt(Vcpu& v);

// reset_requested() -- true while a VM reset is collecting the vCPUs -- is in anchor.hpp (inline: every IRQ exit
// asks).
// Called by every vcpu_loop that sees reset_requested(): report stopped, sleep until the reset is done.
void park_for_reset(Vcpu& v);
// SYSTEM_RESET / SYSTEM_RESET2 from `self`: stop every other vCPU (kick + rendezvous), reset vCPU contexts,
// firmware, the devices' reset hooks, reload the guest (GuestReloader) and make vCPU 0 pending. Returns to the caller's
// vcpu_loop, which then follows its vCPU's new state.
void vm_system_reset(Vm& vm, Vcpu& self, ResetReason reason);

// The same rendezvous for other whole-VM operations (snapshot save, arch/aarch64/vm_snapshot): stop every vCPU
// but `self` (each parks in its vcpu_loop with its exit handled: context saved, list registers folded). Returns
// false if a VM reset or another stop is already collecting the vCPUs: `self` then parked and was released, and
// the caller must return to its vcpu_loop without touching the VM. vm_release_others() lets the others run again.
bool vm_stop_others(Vm& vm, Vcpu& self);
void vm_release_others(Vm& vm, Vcpu& self);

// The rendezvous' state, held by the anchor (anchor.hpp); only vm_reset.cpp touches it.
struct ResetState {
    Atomic<bool> requested;  // a reset (or another stop) is collecting the vCPUs
    Atomic<u32> parked;      // vCPUs parked so far
    Atomic<u32> generation;  // bumped on release: parked vCPUs wait for it to change
    GuestReloader reloader = nullptr;
};

}  // namespace hv::arch
