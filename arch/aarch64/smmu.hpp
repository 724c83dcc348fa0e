// The host SMMUv3 as the hypervisor drives it (IHI0070; docs/msi-passthrough.md "DMA isolation"). The hypervisor
// owns the SMMU: it is not in the guest's DT and not in stage 2. Every StreamID of the passed-through PCIe root
// complex gets one translation that admits exactly the VM's RAM (identity) and the physical ITS doorbell page(s);
// any other DMA address faults, and StreamIDs outside the root complex abort. Stage 2 when the SMMU offers it
// (SMMU_IDR0.S2P), else stage 1 with one context descriptor (QEMU 7.2 implements stage 1 only).
//
// Structures: a linear stream table (BSS, up to 2^16 entries), one CD, the DMA page table (core/smmu_tables over the
// EL2 table pool), a command queue (CFGI / TLBI / SYNC, bounded waits) and an event queue drained from the eventq
// SPI: faults become rate-limited log lines. GERROR is logged and acknowledged.
#pragma once

#include "core/platform.hpp"
#include "vm/vm.hpp"

namespace hv::arch {

struct SmmuStats {
    u64 events = 0;         // event records consumed
    u64 faults = 0;         // translation-class events (DMA outside the VM's window)
    u64 config_errors = 0;  // C_BAD_* / fetch events (StreamIDs without a valid STE land here)
    u64 overflows = 0;      // event queue overflows seen
    u64 gerrors = 0;        // global errors
    u64 commands = 0;       // commands issued (SYNCs included)
    u64 timeouts = 0;       // command waits that timed out or hit CMDQ_ERR
};

// After the VM's RAM is final and the PCIe windows are mapped, before any vCPU runs. `passthrough`: the PCIe root
// complex is passed through (its StreamIDs get the VM's translation; otherwise every StreamID aborts). `msi`: the
// physical ITS doorbell(s) the root complex's msi-map names are reachable. not_found: no SMMU in the host DT;
// unsupported: an SMMU this driver cannot use; timeout: it did not answer. On failure the SMMU is left disabled.
[[nodiscard]] Status smmu_vm_init(const Vm& vm, const PlatformInfo& plat, bool passthrough, bool msi);

bool smmu_active();
// Drain the event queue now (the eventq interrupt does this; also usable as a poll).
void smmu_poll_events();
const SmmuStats& smmu_stats();
// `stats: smmu active=... faults=...` (after draining the event queue); logged at power-off with the other stats.
void smmu_log_stats();
// The SMMU's counters at power-off as a device of the VM (log_stats only; registered whether or not the SMMU is on,
// so `stats: smmu active=0` says it was off).
DeviceHooks smmu_stats_device();

}  // namespace hv::arch
