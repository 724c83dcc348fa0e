// Whole-VM snapshot to / from the snapshot disk (arch/aarch64/snapdisk, docs/snapshot.md): a VM saved in one QEMU
// process resumes in another. The stream is core/reglist/snapshot's (header, VM records, per-vCPU records, guest RAM),
// written and read in chunks (no RAM-sized buffer).
//
//  * Save: the guest calls the vendor-specific hypercall kSnapshotSaveFid (SMCCC SMC64 fast call, owner 6 =
//    vendor-specific hypervisor service). Honoured only when the machine has a snapshot disk (else x0 = NOT_SUPPORTED).
//    Every other vCPU is stopped (the VM-reset rendezvous), the catalogue's prepare_save runs (LPI pending tables, ITS
//    SAVE_TABLES), the stream goes to the disk and the machine powers off (QEMU exits 0). The saved x0 of the calling
//    vCPU is kSnapshotResumed: the call "returns" that value when the snapshot is restored. If the save fails the call
//    returns kSnapshotSaveFailed and the VM continues. kSnapshotMigrateFid does the same and then logs the console
//    escape's migrate marker (kMigrateMarker) instead of a plain save: under `tools/run-guest --migratable` the VM
//    resumes in a new QEMU process at once (a guest test can migrate itself at a chosen point).
//  * Restore: with snapshot=restore, vm_snapshot_restore() runs at boot after the VM objects exist, instead
//    of loading the guest's modules: the whole stream is validated first (header, vCPU count, every register ID,
//    RAM layout equal to this VM's), then RAM and registers are applied in restore order, then every vCPU that
//    was on (its MP state, a register of class 0x0806) is made runnable with its restored context.
#pragma once

#include "core/bootargs.hpp"
#include "vm/vm.hpp"

namespace hv::arch {

constexpr u32 kSnapshotSaveFid = 0xc6000040;     // SMC64, owner 6 (vendor hypervisor), function 0x40
constexpr u32 kSnapshotMigrateFid = 0xc6000041;  // function 0x41: save, then run-guest's migration (marker)
constexpr i64 kSnapshotResumed = 1;              // x0 seen by the caller after a restore
constexpr i64 kSnapshotNotSupported = -1;        // SMCCC NOT_SUPPORTED: no snapshot disk
constexpr i64 kSnapshotSaveFailed = -2;          // the disk could not be written; the VM continues

// After build_vm: installs the hypercall hook. `opts` and `platform` must stay valid (read at save time).
[[nodiscard]] Status vm_snapshot_init(Vm& vm, const HvOptions& opts, const PlatformInfo& platform);

// Why the VM cannot be saved now (no snapshot disk, passed-through devices in use), or nullptr.
const char* vm_snapshot_refusal();
// From `self`'s vcpu_loop with its exit handled (the console's migrate / save escape): stop every other vCPU, save
// the whole VM to the snapshot disk, log `marker` and power the machine off. Returns only if the VM cannot be saved
// (refused: unsupported; a reset collecting the vCPUs: busy; a disk error) -- the VM then continues.
[[nodiscard]] Status vm_snapshot_save_and_stop(Vm& vm, Vcpu& self, const char* marker);

// Restore at boot from the snapshot disk (vCPUs not yet running). On ok every saved-running vCPU is pending
// with its restored context and kicked: the caller enters vcpu_loop for vCPU 0. On a validation error nothing
// of the VM was changed (the message says why); an error while applying leaves the VM partly restored.
[[nodiscard]] Status vm_snapshot_restore(Vm& vm, bool& changed);

}  // namespace hv::arch
