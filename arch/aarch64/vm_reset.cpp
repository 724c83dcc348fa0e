// VM reset for PSCI SYSTEM_RESET / SYSTEM_RESET2 (docs/boot.md "VM reset"). The machine is never reset: the
// hypervisor stops every vCPU, puts the VM back into its boot state and enters the guest again on vCPU 0.
//
// Rendezvous: the resetting pCPU sets `requested` and kicks every other vCPU's pCPU (SGI kKick: a running guest
// exits on the physical IRQ, a sleeping pCPU leaves WFI). Each vcpu_loop checks reset_requested() at the top of
// every iteration and inside every wait, and parks: it counts itself in `parked` and sleeps until `generation`
// changes. With all others parked nothing else touches the VM, so the reset needs no further locking.
#include "arch/aarch64/vm_reset.hpp"

#include "arch/aarch64/anchor.hpp"
#include "arch/aarch64/gic.hpp"
#include "arch/aarch64/panic.hpp"
#include "arch/aarch64/percpu.hpp"
#include "arch/aarch64/sysreg.hpp"
#include "arch/aarch64/vm_run.hpp"
#include "lib/assert.hpp"
#include "lib/containers.hpp"
#include "lib/log.hpp"

namespace hv::arch {

namespace {

ResetState& st() { return hyp().reset; }

void wait_parked(const Vm& vm, u32 others) {
    // Every other vCPU's pCPU was kicked and exits to EL2 within one guest instruction block; the loop only
    // waits for hypervisor code paths that are themselves bounded. Log if it takes unusually long.
    for (u64 spin = 0; st().parked.load(MemoryOrder::acquire) < others; ++spin) {
        if (panicking()) stop_this_cpu();
        if ((spin & 0xfffff) == 0xfffff) {
            HV_LOG_WARN("VM reset: waiting for %u of %u vCPUs to stop", others - st().parked.load(MemoryOrder::acquire),
                        others);
            for (u32 i = 0; i < vm.vcpu_count; ++i) kick_vcpu(i);
        }
        cpu_relax();
    }
}

}  // namespace

void set_guest_reloader(GuestReloader fn) { st().reloader = fn; }

void park_for_reset(Vcpu& v) {
    const u32 gen = st().generation.load(MemoryOrder::acquire);
    if (!reset_requested()) return;
    the_vm().devices().put(v);  // the rendezvous owner may read (snapshot) or reset ctx.pmu; reloaded when released
    st().parked.fetch_add(1, MemoryOrder::acq_rel);
    while (st().generation.load(MemoryOrder::acquire) == gen) {
        if (panicking()) stop_this_cpu();
        wfi();  // ended by the releasing kick (a pending SGI ends it at once)
        (void)gic_handle_irqs();
    }
    v.kick_pending.store(false, MemoryOrder::release);
}

void vm_system_reset(Vm& vm, Vcpu& self, ResetReason reason) {
    // Two vCPUs resetting at once: the second one parks and is reset with the others.
    if (!vm_stop_others(vm, self)) return;

    // 1. vCPUs: off, architectural reset state (context cleared; the MPIDR stays).
    for (u32 i = 0; i < vm.vcpu_count; ++i) {
        Vcpu& v = vm.vcpus[i];
        vcpu_reset(v, 0, 0);
        v.state.store(VcpuState::off, MemoryOrder::release);
        v.kick_pending.store(false, MemoryOrder::release);
    }
    // 2. Firmware: power states back to "only the boot vCPU on" (configuration and has-run flag kept, as KVM).
    vm_firmware().reset();
    // 3. Devices and interrupt controllers.
    vm.devices().reset(vm);
    // 4. The guest's images and boot state.
    vm.boot_count += 1;
    vm.reset_reason = reason;
    u64 entry = 0, arg0 = 0;
    Status s = st().reloader != nullptr ? st().reloader(vm, entry, arg0) : Status::unsupported;
    if (s != Status::ok) {
        HV_LOG_ERROR("VM reset: cannot reload the guest (%s): powering off", status_name(s));
        machine_system_off();
    }
    // Stale guest translations (same VMID) and instructions of the old guest must not survive.
    asm volatile("tlbi vmalls12e1is" ::: "memory");
    dsb_ish();
    invalidate_icache_all();
    HV_LOG_INFO("VM reset done: boot %u (%s), vCPU 0 enters at 0x%llx", vm.boot_count, reset_reason_name(reason),
                static_cast<unsigned long long>(entry));

    // 5. Release the others, then start vCPU 0 (pinned to pCPU 0, possibly this one).
    st().parked.store(0, MemoryOrder::release);
    st().requested.store(false, MemoryOrder::release);
    st().generation.fetch_add(1, MemoryOrder::acq_rel);
    for (u32 i = 0; i < vm.vcpu_count; ++i)
        if (i != self.id) kick_vcpu(i);
    if (start_vcpu(0, entry, arg0) != Status::ok) panic("VM reset: cannot start vCPU 0");
}

bool vm_stop_others(Vm& vm, Vcpu& self) {
    if (st().requested.exchange(true, MemoryOrder::acq_rel)) {
        park_for_reset(self);
        return false;
    }
    u32 others = 0;
    for (u32 i = 0; i < vm.vcpu_count; ++i) {
        if (i == self.id) continue;
        ++others;
        kick_vcpu(i);
    }
    wait_parked(vm, others);
    return true;
}

void vm_release_others(Vm& vm, Vcpu& self) {
    st().parked.store(0, MemoryOrder::release);
    st().requested.store(false, MemoryOrder::release);
    st().generation.fetch_add(1, MemoryOrder::acq_rel);
    for (u32 i = 0; i < vm.vcpu_count; ++i)
        if (i != self.id) kick_vcpu(i);
}

}  // namespace hv::arch
