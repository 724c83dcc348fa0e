// The hypervisor's own options, from the host DTB's /chosen/bootargs (QEMU -append). Space-separated key=value
// words; unknown keys and bad values are reported (warn log + counters) and otherwise ignored, never fatal.
//
//   vcpus=N          guest vCPUs (1..8; default 0 = one per pCPU)
//   mem=SIZE         guest RAM size, exactly (K/M/G suffix; default 0 = all RAM the hypervisor does not own)
//   psci=0.1|0.2|1.0|1.1   PSCI version offered to the guest (default 1.1)
//   loglevel=N|error|warn|info|debug   log threshold (0 error .. 3 debug; default info)
//   its=on|off       give the guest an ITS (default on)
//   vits=N           virtual ITS instances per VM (1..4, default 1): the first at the host ITS address (with
//                    shadow mappings for passed-through devices), the others purely virtual (docs/its.md
//                    "Several virtual ITSes per VM")
//   pci=on|off       pass the PCIe host bridge through (default on)
//   smmu=on|off      DMA isolation through the host SMMUv3 (default on). off is UNSAFE: passed-through devices can
//                    then DMA anywhere, the hypervisor included (docs/msi-passthrough.md "DMA isolation")
//   gicv4=on|doorbell|off   on a GICv4 host GIC, passed-through MSIs become vLPIs the GIC injects directly
//                    (default on: guest WFI is not trapped, the vPE stays resident); doorbell: the same with WFI
//                    trapped (a waiting vCPU's vPE is not resident and its doorbell LPI wakes it); off keeps the
//                    shadow path (host LPI at EL2 + list register), as on GICv3 (docs/msi-passthrough.md "GICv4")
//   virtio_mmio=empty|on|off   which of the host's virtio-mmio transports are passed through (docs/device-tree.md):
//                        empty (default) only pages of transports without a device; on all of them -- UNSAFE, their
//                        devices' DMA is behind no IOMMU (docs/isolation.md); off none
//   snapshot=restore   resume the VM saved on the snapshot disk instead of booting the modules (docs/snapshot.md)
//   module_store=copy|preloaded   copy (default): the boot copies the kernel/initrd modules into the module store
//                    (their pristine copies for VM reset); preloaded: the host already loaded those copies there
//                    (tools/run-guest: QEMU -device loader), checked by sampling and copied only if they differ
//                    (docs/boot.md "Memory layout")
//   cpu_timeout=MS   how long the boot pCPU waits for every secondary pCPU's GIC set-up (1..600000, default 10000;
//                    docs/boot.md "Secondary pCPUs")
//   debug_late_cpu=N:MS   test hook: pCPU N (1..7) waits MS ms (<= 600000) after entering the hypervisor and before
//                    its GIC set-up, so a late secondary can be reproduced deterministically
//   debug_fault=exec_data|stack_overflow|stack_smash   test hook (docs/boot.md "EL2 hardening"): right after the
//                    boot-time hardening self-check the hypervisor executes from its data, overflows its stack, or
//                    smashes a stack canary, and must panic with a clear message (guest test payload hardening)
//   guest_bootargs="..."   not supported (use the guest-loader module's bootargs); quotes are not parsed
#pragma once

#include "core/guest_dtb.hpp"
#include "lib/log.hpp"

namespace hv {

// virtio_mmio=: QEMU's virtio-mmio transports are outside the SMMU's reach, so one with a device is passed through
// only on request.
enum class VirtioMmioMode : u8 {
    off,    // none
    empty,  // pages whose transports have no device (DeviceID 0): the DT the guest expects, no DMA-capable device
    on,     // all of them, devices included: their DMA is not confined (UNSAFE)
};

struct HvOptions {
    static constexpr usize kMaxUnknown = 4;
    static constexpr usize kMaxWord = 32;

    u32 vcpus = 0;  // 0: one vCPU per pCPU
    u64 mem = 0;    // 0: all available guest RAM
    PsciVersion psci = PsciVersion::v1_1;
    LogLevel loglevel = LogLevel::info;
    bool its = true;
    u32 vits = 1;  // virtual ITS instances (1..kMaxVirtualIts); only meaningful with its=on
    bool pci = true;
    bool smmu = true;  // smmu=off: leave the SMMU alone (devices bypass it) -- unsafe, for comparison only
    enum class Gicv4Mode : u8 { off, on, doorbell };
    Gicv4Mode gicv4 = Gicv4Mode::on;  // direct vLPI injection on a GICv4 host GIC (doorbell: with WFI trapped)
    VirtioMmioMode virtio_mmio = VirtioMmioMode::empty;  // transports passed through (stage 2, SPIs, DT nodes)
    // snapshot=restore: resume the VM saved on the snapshot disk (arch/aarch64/snapdisk) instead of booting.
    enum class SnapshotMode : u8 { none, restore };
    SnapshotMode snapshot = SnapshotMode::none;
    // module_store=preloaded: the pristine module copies are already in the store (boot/guest_loader.cpp).
    enum class ModuleStoreMode : u8 { copy, preloaded };
    ModuleStoreMode module_store = ModuleStoreMode::copy;
    // Secondary pCPU bring-up (docs/boot.md): the bounded wait, and the late-pCPU test hook (late_cpu 0 = off).
    static constexpr u32 kMaxCpuWaitMs = 600000;
    u32 cpu_timeout_ms = 10000;
    u32 late_cpu = 0;
    u32 late_cpu_ms = 0;
    // Hardening test hook (debug_fault=): which deliberate EL2 fault to commit after the self-check.
    enum class DebugFault : u8 { none, exec_data, stack_overflow, stack_smash };
    DebugFault debug_fault = DebugFault::none;

    // Diagnostics: how many words were not understood, and the first few of them (truncated copies).
    u32 unknown_count = 0;
    u32 invalid_count = 0;  // known key with a bad value (the default is kept)
    char unknown[kMaxUnknown][kMaxWord] = {};
};

// Parses `args` (may be nullptr or empty) into opts (which keeps its defaults for absent keys). Logs one warning
// per unknown word / bad value. Returns Status::ok even with unknown words; invalid_argument only if args is
// longer than 4096 characters (it is then ignored).
[[nodiscard]] Status parse_bootargs(const char* args, HvOptions& opts);

// "1.0" etc. for logs.
const char* psci_version_name(PsciVersion v);
// Parses a size "512M", "1G", "0x2000000", "4096K"; false on garbage or overflow.
bool parse_size(const char* s, usize len, u64& out);

}  // namespace hv
