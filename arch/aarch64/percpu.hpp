// THE per-CPU anchor: every piece of per-pCPU state of the hypervisor lives in this pCPU's PerCpu block, reached
// through TPIDR_EL2 (this_cpu()) or by index (percpu(i)); nothing per-pCPU is kept in file-scope arrays
// (docs/architecture.md §4 "The anchors", tools/check-singletons). The first two fields are used by the world switch
// (vectors.S).
#pragma once

#include "arch/aarch64/asm_defs.h"
#include "arch/aarch64/exit_stats.hpp"
#include "arch/aarch64/sysreg.hpp"
#include "core/vcpu.hpp"
#include "psci/firmware.hpp"

namespace hv::arch {

constexpr u32 kMaxCpus = HV_MAX_CPUS;

// Bring-up of a pCPU (docs/boot.md "Secondary pCPUs"). The boot pCPU moves a secondary starting -> abandoned when
// its bounded wait ends; the secondary moves itself starting -> ready / failed when its GIC set-up is done. Both use
// one compare-and-swap, so a secondary arriving after the boot pCPU gave up sees `abandoned` and parks, never
// half-joins.
enum class CpuBoot : u32 {
    off = 0,        // not started (or CPU_ON refused)
    starting = 1,   // CPU_ON issued: entering the hypervisor, then redistributor + CPU interface + EL2 set-up
    ready = 2,      // its redistributor (gic_redistributor) and CPU interface are up: usable
    failed = 3,     // its GIC set-up failed (logged by the pCPU itself)
    abandoned = 4,  // the boot pCPU stopped waiting for it: never used, parks if it arrives
};

// The vGIC glue's bookkeeping of this pCPU's virtual CPU interface (vgic_glue.cpp).
struct VgicCpuState {
    bool ready = false;  // ICH_* and the vGIC's PPIs set up since boot / the last VM reset (first entry)
    // The ICH_LR<n>_EL2 at index >= this are known to be 0 in the hardware (written 0 by us; the hardware never
    // changes an invalid LR), so before_entry only writes the LRs in use now or at the last entry.
    u32 hw_lrs = 0;
    // Its physical PMU PPI fired while the architectural request was low and was left active (pmu_irq).
    bool pmu_parked = false;
    // Inside the exit fast path's IRQ exit (fast_exit.cpp fast_irq), from its after_exit hooks to its entry hooks:
    // the vCPU's context is the one that just exited. after_exit may then leave the fold to the entry's flush,
    // which folds under the same locks (`fold_deferred` says it did; vgic_fold_deferred undoes it), and the entry
    // does not sample the timer lines again (vgic_glue.cpp).
    bool fast_irq = false;
    bool fold_deferred = false;
    // Inside fast_irq too: after_exit left the virtual CPU interface as the guest left it -- LRs, APRs, VMCR and
    // ICH_HCR still in the CPU, nothing read back --, and the entry's direct flush works on the LRs in place
    // (Vgic::flush_live); vgic_fold_deferred reads everything back if the run loop takes over instead.
    bool lrs_live = false;
    Atomic<u64> forwarded_spis;  // activations of passed-through SPIs taken here (`stats: spi`; relaxed atomics)
    Atomic<u64> timer_refires;   // IRQ exits vgic_timer_refire handled here (`stats: timer`; only this pCPU writes)
};

// The exit vector's GITS_CREADR poll of the VM's first ITS (vectors.S exit_its_poll): the register's IPA and the two
// words Its::read_creadr_unlocked reads (Its::lockfree_creadr). Published by msi_passthrough.cpp when the ITS's frame
// is mapped; ipa ~0 (no IPA) until then.
struct ItsPoll {
    u64 ipa = ~u64{0};                      // ITS_POLL_IPA
    const Atomic<bool>* backlog = nullptr;  // ITS_POLL_BACKLOG
    const Atomic<u64>* creadr = nullptr;    // ITS_POLL_CREADR
};
static_assert(__builtin_offsetof(ItsPoll, ipa) == ITS_POLL_IPA &&
              __builtin_offsetof(ItsPoll, backlog) == ITS_POLL_BACKLOG &&
              __builtin_offsetof(ItsPoll, creadr) == ITS_POLL_CREADR);
static_assert(sizeof(Atomic<bool>) == 1 && sizeof(Atomic<u64>) == 8, "vectors.S: LDARB / LDR of them");

// The fields up to `exits` are read by the exit vector (vectors.S: asm_defs.h PERCPU_*).
struct PerCpu {
    VcpuContext* guest_ctx = nullptr;   // PERCPU_GUEST_CTX: context the running guest is saved into
    u64 host_sp = 0;                    // PERCPU_HOST_SP: hypervisor SP to return to on a guest exit
    Vcpu* vcpu = nullptr;               // PERCPU_VCPU: the vCPU pinned to this pCPU, if any
    const ItsPoll* its_poll = nullptr;  // PERCPU_ITS_POLL: the VM's (msi_passthrough.cpp), or none
    ExitStats exits;                    // exits of the vCPU pinned here (written by this pCPU only; PERCPU_EXITS_*)
    u32 index = 0;                      // logical pCPU number (DTB /cpus order)
    u64 mpidr = 0;
    u64 sgi_target = 0;   // ICC_SGI1R_EL1 naming this pCPU (gic_sgi_target(mpidr)): what a kick sends it
    Atomic<bool> online;  // entered the hypervisor's C code (percpu_init); not yet usable
    Atomic<u32> boot;     // CpuBoot (cpu_boot_state / cpu_boot_transition)
    u64 gicr = 0;         // this pCPU's redistributor RD_base (gic_init_cpu)
    VgicCpuState vgic;    // the vGIC glue's view of this pCPU's list registers and PPIs
    // A firmware call the exit fast path made whose exit the run loop finishes (HV_EXIT_FIRMWARE, fast_exit.cpp).
    psci::FirmwareExit fast_fw_exit = psci::FirmwareExit::resume;
    u32 fast_fw_fid = 0;
};
static_assert(__builtin_offsetof(PerCpu, guest_ctx) == PERCPU_GUEST_CTX);
static_assert(__builtin_offsetof(PerCpu, host_sp) == PERCPU_HOST_SP);
static_assert(__builtin_offsetof(PerCpu, vcpu) == PERCPU_VCPU);
static_assert(__builtin_offsetof(PerCpu, its_poll) == PERCPU_ITS_POLL);
static_assert(__builtin_offsetof(PerCpu, exits) + __builtin_offsetof(ExitStats, dabt) == PERCPU_EXITS_DABT);
static_assert(__builtin_offsetof(PerCpu, exits) + __builtin_offsetof(ExitStats, fast) == PERCPU_EXITS_FAST);
static_assert(__builtin_offsetof(Vcpu, sys_stale) == VCPU_SYS_STALE);

PerCpu& percpu(u32 index);
// This pCPU's block (TPIDR_EL2; set by percpu_init). Inline: the run loop and the vGIC glue use it on every exit.
inline PerCpu& this_cpu() { return *reinterpret_cast<PerCpu*>(HV_READ_SYSREG(tpidr_el2)); }
void percpu_init(u32 index);
inline u32 this_cpu_index() {
    const u64 p = HV_READ_SYSREG(tpidr_el2);
    return p == 0 ? 0 : reinterpret_cast<const PerCpu*>(p)->index;
}
// pCPUs that are usable (CpuBoot::ready), which are pCPUs 0..n-1: the boot pCPU numbers the secondaries it started
// consecutively, and refuses to start the VM while one of those is not ready (boot/main.cpp). A pCPU that only
// entered the hypervisor (`online`) is not counted.
u32 online_cpus();
CpuBoot cpu_boot_state(u32 index);
void cpu_boot_set(u32 index, CpuBoot s);
// Atomically `from` -> `to`; false (and nothing changed) if the state was not `from`.
bool cpu_boot_transition(u32 index, CpuBoot from, CpuBoot to);

}  // namespace hv::arch
