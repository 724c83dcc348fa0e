// THE anchor. Every piece of mutable state the hypervisor keeps beyond a function call lives in the one `Hypervisor`
// object below -- the VM, the arch-side state of the VM, the per-pCPU blocks, the platform drivers and the boot facts
// -- and nowhere else: no other file of arch/ or boot/ defines a mutable object at file scope (tools/check-singletons
// enforces it; docs/architecture.md §4 "The anchors"). Its storage is constinit and zero (.bss, cleared by
// boot/entry.S: the 16 MiB of tables and buffers cost nothing in the image); anchor_init() builds the object in it
// (default-initialisation: members' initialisers run, plain buffers stay the zeroes they are) as the first thing the
// boot pCPU does. No global constructor. Each part is then filled by the code that owns it, and only that code touches
// it (through hyp(), usually behind a file-local `st()`).
//
// Allowed outside it: constants, stateless ports (a vtable and no data members) defined `constinit const` at file
// scope, the logger's per-call-site rate limiters (HV_LOG_RATELIMITED), the per-pCPU stacks of boot/entry.S and the
// few symbols assembly or the compiler ABI name (hardening.cpp). docs/conventions.md shows the check's grep.
#pragma once

#include "arch/aarch64/console.hpp"
#include "arch/aarch64/console_escape.hpp"
#include "arch/aarch64/gic.hpp"
#include "arch/aarch64/guest_uart.hpp"
#include "arch/aarch64/hardening.hpp"
#include "arch/aarch64/host_its.hpp"
#include "arch/aarch64/mitigations.hpp"
#include "arch/aarch64/mmu.hpp"
#include "arch/aarch64/msi_passthrough.hpp"
#include "arch/aarch64/percpu.hpp"
#include "arch/aarch64/smmu.hpp"
#include "arch/aarch64/snapdisk.hpp"
#include "arch/aarch64/vgic_glue.hpp"
#include "arch/aarch64/vm_reset.hpp"
#include "core/bootargs.hpp"
#include "core/fdt/reader.hpp"
#include "core/id_regs.hpp"
#include "core/platform.hpp"
#include "core/pmu.hpp"
#include "core/reglist/snapshot.hpp"
#include "lib/atomic.hpp"
#include "lib/in_place.hpp"
#include "lib/spinlock.hpp"
#include "vm/vm.hpp"

namespace hv::arch {

// EL2 configuration for running guests (el2_config.cpp), from the boot pCPU's ID registers.
struct El2State {
    u64 hcr = 0;                 // HCR_EL2 for guests (hyp_init_cpu)
    u64 vtcr = 0;                // VTCR_EL2 of the VM's stage 2 (vm_init_memory)
    idreg::HostIdRegs host_ids;  // the boot pCPU's ID registers
    unsigned ipa_bits = 40;
};

// What boot/ found and keeps: the host DTB (copied out of what becomes guest RAM) and what was parsed from it, the
// hypervisor's options, the guest DTB buffer, the module store (pristine kernel/initrd copies for VM reset).
struct BootState {
    static constexpr usize kHostDtbMax = 2 * MiB;
    static constexpr usize kGuestDtbMax = 256 * KiB;
    alignas(8) u8 host_dtb[kHostDtbMax];
    alignas(8) u8 guest_dtb[kGuestDtbMax];
    PlatformInfo platform;
    HvOptions options;
    fdt::Reader host_dt;
    MemRegion module_store;  // base 0: no store (modules are not restored on reset)
    Atomic<bool> vm_ready;   // the VM is built: secondaries may enter their vCPUs
};

struct Hypervisor {
    // --- memory the hardware reads (largest alignment first, so nothing pads between members) ---
    alignas(kSmmuStrtabAlign) SmmuMemory smmu_mem;  // 128 KiB aligned stream tables, CD, queues (smmu.cpp)
    HostItsMemory host_its_mem;  // 64 KiB aligned tables and queue of the physical ITS (host_its.cpp)
    MmuState mmu;                // the EL2 page-table pool (64 KiB aligned) and identity map (mmu.cpp)

    // --- per pCPU ---
    PerCpu cpus[kMaxCpus];  // THE per-CPU blocks (percpu.hpp: this_cpu(), percpu(i))

    // --- platform drivers ---
    ConsoleState console;               // console.cpp
    ConsoleEscapeState console_escape;  // console_escape.cpp
    SnapdiskState snapdisk;             // snapdisk.cpp (its 1 MiB bounce buffer stays .bss zero)
    GicState gic;                       // gic.cpp
    HostIts host_its;                   // host_its.cpp
    SmmuState smmu;                     // smmu.cpp
    El2State el2;                       // el2_config.cpp
    MitigationState mitigations;        // mitigations.cpp
    HardeningState hardening;           // hardening.cpp (branch-predictor decision, debug_fault= hooks)
    pmu::Config pmu;                    // the guest's PMU, from the boot pCPU (pmu.cpp)
    Atomic<bool> panicking;             // panic.cpp

    // --- the VM ---
    InPlace<Vm> vm;                                   // the one VM (vm/vm.hpp), built by create_vm() (vm_build.cpp)
    Spinlock start_lock;                              // start_vcpu / CPU_OFF race (vcpu_loop.cpp)
    ResetState reset;                                 // the stop-every-vCPU rendezvous (vm_reset.cpp)
    VgicGlueState vgic_glue;                          // vgic_glue.cpp
    MsiState msi;                                     // msi_passthrough.cpp
    GuestUartBackend uart_backend;                    // guest_uart.cpp
    const HvOptions* snapshot_opts = nullptr;         // vm_snapshot.cpp
    const PlatformInfo* snapshot_platform = nullptr;  // vm_snapshot.cpp
    // While a save or a restore runs, the counter value the register list reads (TIMER_CNT, PTIMER_CNT): the VM's
    // virtual counter stands still while it is stopped. 0 = the live counter. vm_snapshot.cpp, firmware_port.cpp.
    Atomic<u64> snapshot_clock_frozen;
    // The records of a snapshot between the check and the apply (reglist::RecordStore): 4096 records, far more than
    // 8 vCPUs' and the VM's (about 240 per vCPU, 300 for the VM). vm_snapshot.cpp; stays .bss zero.
    alignas(8) u8 snapshot_record_store[4096 * reglist::RecordStore::kEntrySize];

    // --- boot ---
    BootState boot;  // boot/main.cpp, boot/guest_loader.cpp
};

// The anchor's storage (anchor.cpp) and the anchor. hyp() is valid from anchor_init() on: it is a plain address, as
// cheap as a global's.
struct alignas(Hypervisor) AnchorStorage {
    u8 bytes[sizeof(Hypervisor)];
};
extern AnchorStorage g_hypervisor;
inline Hypervisor& hyp() { return *reinterpret_cast<Hypervisor*>(g_hypervisor.bytes); }
// Builds the Hypervisor in its storage: the first call of hv_main (boot/main.cpp), once.
void anchor_init();

// Asked on every IRQ exit (fast_exit.cpp), so inline here rather than calls; panic.cpp and vm_reset.cpp own and write
// the flags. True once any pCPU panicked (panic.hpp), and while a VM reset is collecting the vCPUs (vm_reset.hpp).
inline bool panicking() { return hyp().panicking.load(MemoryOrder::acquire); }
inline bool reset_requested() { return hyp().reset.requested.load(MemoryOrder::acquire); }

}  // namespace hv::arch
