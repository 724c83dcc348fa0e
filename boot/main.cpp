// C++ side of the boot (after boot/entry.S): console, DTB, EL2 MMU, GIC, secondaries, the VM and its guest.
// Flow and memory layout: docs/boot.md.
#include "arch/aarch64/anchor.hpp"
#include "arch/aarch64/console.hpp"
#include "arch/aarch64/gic.hpp"
#include "arch/aarch64/guest_uart.hpp"
#include "arch/aarch64/hardening.hpp"
#include "arch/aarch64/mmu.hpp"
#include "arch/aarch64/msi_passthrough.hpp"
#include "arch/aarch64/panic.hpp"
#include "arch/aarch64/pci_passthrough.hpp"
#include "arch/aarch64/percpu.hpp"
#include "arch/aarch64/smmu.hpp"
#include "arch/aarch64/snapdisk.hpp"
#include "arch/aarch64/sysreg.hpp"
#include "arch/aarch64/vgic_glue.hpp"
#include "arch/aarch64/virtio_mmio_passthrough.hpp"
#include "arch/aarch64/vm_run.hpp"
#include "arch/aarch64/vm_snapshot.hpp"
#include "boot/guest_loader.hpp"
#include "core/bootargs.hpp"
#include "core/fdt/reader.hpp"
#include "core/pl011.hpp"
#include "core/platform.hpp"
#include "lib/assert.hpp"
#include "lib/log.hpp"
#include "lib/string.hpp"
#include "psci/ids.hpp"

extern "C" char _text[], _end[];

extern "C" void hv_secondary_entry();

namespace hv {

namespace {

constexpr u64 kHvRegionSize = 32 * MiB;  // the hypervisor's share at the start of RAM (docs/boot.md)
// The boot facts live in the anchor (arch/aarch64/anchor.hpp BootState).
arch::BootState& boot_state() { return arch::hyp().boot; }
constexpr usize kDtbMax = arch::BootState::kHostDtbMax;

u32 be32(const u8* p) { return u32{p[0]} << 24 | u32{p[1]} << 16 | u32{p[2]} << 8 | p[3]; }

u64 now_ticks() { return HV_READ_SYSREG(cntpct_el0); }
u64 ms_to_ticks(u64 ms) { return HV_READ_SYSREG(cntfrq_el0) / 1000 * ms; }

// Starts every other pCPU of the DT (PSCI CPU_ON over SMC to QEMU's firmware: entry hv_secondary_entry, context_id
// = our pCPU index, indices consecutive from 1 in DT order) at once, then waits -- bounded by cpu_timeout= -- until
// each has finished its redistributor, CPU interface and EL2 set-up (CpuBoot::ready) or failed. A pCPU still not
// done at the deadline is abandoned (it parks if it arrives later) and reported. Returns the number of pCPUs started
// including this one; `missing` = how many of them are not ready (docs/boot.md "Secondary pCPUs").
u32 start_secondaries(u32& missing) {
    u64 self = arm::mpidr_affinity(HV_READ_SYSREG(mpidr_el1));
    u32 next = 1;
    for (usize i = 0; i < boot_state().platform.cpus.size() && next < arch::kMaxCpus; ++i) {
        u64 mpidr = boot_state().platform.cpus[i].mpidr;
        if (mpidr == self) continue;
        u32 index = next;
        arch::percpu(index).mpidr = mpidr;
        arch::cpu_boot_set(index, arch::CpuBoot::starting);
        i64 r = static_cast<i64>(
            arch::hv_smc_call(psci::kCpuOn | psci::kSmc64, mpidr, reinterpret_cast<u64>(&hv_secondary_entry), index));
        if (r != 0) {
            HV_LOG_WARN("pCPU %u (MPIDR 0x%llx): CPU_ON failed (%lld): not used", index,
                        static_cast<unsigned long long>(mpidr), static_cast<long long>(r));
            arch::cpu_boot_set(index, arch::CpuBoot::off);
            continue;
        }
        ++next;
    }
    const u64 t0 = now_ticks();
    const u64 deadline = t0 + ms_to_ticks(boot_state().options.cpu_timeout_ms);
    for (;;) {
        bool waiting = false;
        for (u32 c = 1; c < next; ++c) waiting |= arch::cpu_boot_state(c) == arch::CpuBoot::starting;
        if (!waiting || static_cast<i64>(deadline - now_ticks()) <= 0) break;
        cpu_relax();
    }
    missing = 0;
    for (u32 c = 1; c < next; ++c) {
        if (arch::cpu_boot_transition(c, arch::CpuBoot::starting, arch::CpuBoot::abandoned)) {
            HV_LOG_ERROR(
                "pCPU %u (MPIDR 0x%llx) did not finish its GIC set-up within %u ms (%s): not used", c,
                static_cast<unsigned long long>(arch::percpu(c).mpidr), boot_state().options.cpu_timeout_ms,
                arch::percpu(c).online.load() ? "it entered the hypervisor" : "it never entered the hypervisor");
            ++missing;
        } else if (arch::cpu_boot_state(c) != arch::CpuBoot::ready) {
            ++missing;  // failed: the pCPU logged why
        }
    }
    const u64 freq = HV_READ_SYSREG(cntfrq_el0);
    HV_LOG_INFO("%u of %u pCPU(s) ready after %llu ms", next - missing, next,
                static_cast<unsigned long long>((now_ticks() - t0) * 1000 / (freq ? freq : 1)));
    return next;
}

// The VM cannot be given what it was asked for: say why, never boot a degraded VM. Powers the machine off (QEMU exits
// 0); the console line `VM NOT STARTED (<reason>)` is the documented failure (docs/boot.md, tools/run-guest exit 5).
[[noreturn]] void refuse_to_start(const char* reason) {
    HV_LOG_ERROR("VM NOT STARTED (%s): powering off", reason);
    arch::machine_system_off();
}

psci::PsciVersion firmware_psci_version(PsciVersion v) {
    switch (v) {
        case PsciVersion::v0_1:
            return psci::PsciVersion::v0_1;
        case PsciVersion::v0_2:
            return psci::PsciVersion::v0_2;
        case PsciVersion::v1_0:
            return psci::PsciVersion::v1_0;
        case PsciVersion::v1_1:
            return psci::PsciVersion::v1_1;
    }
    return psci::PsciVersion::v1_1;
}

// The /psci node follows the VM's KVM_REG_ARM_PSCI_VERSION register (set through the register catalogue).
PsciVersion guest_dtb_psci(psci::PsciVersion v) {
    switch (v) {
        case psci::PsciVersion::v0_1:
            return PsciVersion::v0_1;
        case psci::PsciVersion::v0_2:
            return PsciVersion::v0_2;
        case psci::PsciVersion::v1_0:
            return PsciVersion::v1_0;
        case psci::PsciVersion::v1_1:
            return PsciVersion::v1_1;
    }
    return PsciVersion::v1_1;
}

// VM reset: modules back in place, kernel placed and guest DTB rebuilt exactly as at cold boot.
Status reload_guest(Vm& vm, u64& entry, u64& arg0) {
    if (!restore_modules(boot_state().platform, boot_state().module_store))
        HV_LOG_WARN("VM reset without a module store: the guest's images are not restored");
    GuestImage image;
    HV_TRY(load_guest(boot_state().host_dt, boot_state().platform, boot_state().options,
                      guest_dtb_psci(vm.firmware.psci_version()), true, vm, image));
    entry = image.entry;
    arg0 = image.dtb;
    return Status::ok;
}

// pCPUs without a vCPU: WFI (QEMU's TCG treats WFE as a yield that keeps the host thread busy); the panic SGI
// still wakes them.
[[noreturn]] void idle_forever() {
    for (;;) {
        if (arch::panicking()) arch::stop_this_cpu();
        arch::wfi();
        (void)arch::gic_handle_irqs();
    }
}

// hv_main's steps, in boot order (docs/boot.md). Each panics or refuses to start the VM on what it cannot do.

// Host DTB: validate the header size, copy into the hypervisor's own memory, parse; the platform, the console on
// the DT's UART, the hypervisor's bootargs.
void read_host_dtb(u64 dtb_pa) {
    const u8* src = reinterpret_cast<const u8*>(dtb_pa);
    if (dtb_pa == 0 || (dtb_pa & 7) != 0 || be32(src) != 0xd00dfeed)
        panic("no valid host DTB at 0x%llx", static_cast<unsigned long long>(dtb_pa));
    usize dtb_size = be32(src + 4);
    if (dtb_size > kDtbMax) panic("host DTB too large (%zu bytes)", dtb_size);
    memcpy(boot_state().host_dtb, src, dtb_size);
    // In place: the Reader carries its node index (4 KiB), too big for copies on the 16 KiB boot stack.
    Status s = boot_state().host_dt.init(boot_state().host_dtb, dtb_size);
    if (s != Status::ok) panic("host DTB invalid: %s", status_name(s));
    s = parse_platform(boot_state().host_dt, boot_state().platform);
    if (s != Status::ok) panic("host DTB: platform description incomplete: %s", status_name(s));
    if (boot_state().platform.uart.present) arch::console_init(boot_state().platform.uart.base);

    s = parse_bootargs(boot_state().platform.chosen.bootargs, boot_state().options);
    if (s != Status::ok) HV_LOG_WARN("hypervisor bootargs ignored: %s", status_name(s));
    log_hooks().threshold = boot_state().options.loglevel;
}

// The hypervisor region: [RAM base, + 32 MiB). The image must lie inside it. Returns the RAM base.
u64 check_hypervisor_region() {
    const u64 ram_base = boot_state().platform.memory[0].base;
    const u64 hv_end = ram_base + kHvRegionSize;
    if (reinterpret_cast<u64>(_text) < ram_base || reinterpret_cast<u64>(_end) > hv_end)
        panic("image [0x%llx, 0x%llx) outside the hypervisor region",
              static_cast<unsigned long long>(reinterpret_cast<u64>(_text)),
              static_cast<unsigned long long>(reinterpret_cast<u64>(_end)));
    return ram_base;
}

// The EL2 MMU, then EL2 hardening (docs/boot.md): check W^X and the stack guards on the tables just built, decide
// the branch-predictor mitigation before the VM's firmware registers are set from it; the debug_fault= hooks.
void init_el2_mmu_and_hardening(u64 ram_base) {
    const Status s = arch::mmu_init(boot_state().platform.memory);
    if (s != Status::ok) panic("EL2 MMU setup failed: %s", status_name(s));
    // The rest of the hypervisor region holds the stage-2 tables of guest RAM mapped in 4 KiB pages (vm_init_memory):
    // only what is RAM (the first bank may end before the region does) and up to the first range the DTB reserves.
    const u64 start = reinterpret_cast<u64>(_end);
    u64 end = min(boot_state().platform.memory[0].end(), ram_base + kHvRegionSize);
    for (const MemRegion& r : boot_state().platform.reserved)
        if (r.base < end && r.end() > start) end = max(start, r.base);
    arch::extend_table_pool(start, end);
    HV_LOG_INFO("EL2 MMU on: %u-bit PA, %zu RAM region(s), first 0x%llx..0x%llx", arch::pa_bits(),
                boot_state().platform.memory.size(),
                static_cast<unsigned long long>(boot_state().platform.memory[0].base),
                static_cast<unsigned long long>(boot_state().platform.memory[0].end()));
    arch::hardening_self_check();
    arch::bp_mitigation_init();
    if (boot_state().options.debug_fault != HvOptions::DebugFault::none)
        arch::debug_fault(boot_state().options.debug_fault);
}

// The physical GIC: distributor and this pCPU's redistributor + CPU interface, before any secondary starts (they
// look up their redistributors in the frames the distributor set-up recorded).
void init_host_gic() {
    Status s = arch::gic_init_distributor(boot_state().platform.gic);
    if (s == Status::ok) s = arch::gic_init_cpu();
    if (s != Status::ok) panic("GIC initialisation failed: %s", status_name(s));
}

// The VM's memory: guest RAM = all RAM but the hypervisor region and the module store (pristine kernel/initrd
// copies for VM reset, off the top of RAM), identity mapped at stage 2; with mem=, exactly mem= of it.
void init_guest_memory(Vm& vm, u64 ram_base) {
    Status s = carve_guest_ram(boot_state().platform.memory, ram_base, kHvRegionSize, 0, vm.ram);
    if (s == Status::ok) reserve_module_store(boot_state().platform, vm, boot_state().module_store);
    if (s == Status::ok && boot_state().options.mem != 0) {
        const u64 kept = limit_guest_ram(vm.ram, boot_state().options.mem);
        if (kept < boot_state().options.mem)
            HV_LOG_WARN("mem=%lluM but only %lluM of RAM is left for the guest: using that",
                        static_cast<unsigned long long>(boot_state().options.mem / MiB),
                        static_cast<unsigned long long>(kept / MiB));
    }
    if (s == Status::ok) s = arch::vm_init_memory(vm);
    if (s != Status::ok) panic("guest memory setup failed: %s", status_name(s));
}

// Every pCPU's GIC set-up is done (or it is reported missing) before anything that depends on the redistributors
// of the pCPUs running vCPUs -- the physical ITS above all (docs/boot.md "Secondary pCPUs"). Returns the vCPU count
// (vcpus=, at most the ready pCPUs); `online` = the ready pCPUs (0..online-1).
u32 start_pcpus_and_count_vcpus(u32& online) {
    u32 missing = 0;
    const u32 started = start_secondaries(missing);
    online = arch::online_cpus();
    const u32 want = boot_state().options.vcpus;
    if (missing != 0) {
        // A smaller VM only if the user asked for one that the ready pCPUs can hold; never silently.
        if (want == 0 || want > online) {
            HV_LOG_ERROR(
                "%u of %u pCPU(s) not ready: a VM with %u vCPU(s) would be short of them (vcpus=N with "
                "N <= %u runs on the ready ones)",
                missing, started, want ? want : started, online);
            refuse_to_start("pCPUs missing");
        }
        HV_LOG_WARN("%u pCPU(s) not ready: vcpus=%u runs on pCPUs 0..%u", missing, want, want - 1);
    }
    const u32 vcpus = want == 0 ? online : min(want, online);
    if (want > online) HV_LOG_WARN("vcpus=%u but only %u pCPUs online: using %u", want, online, vcpus);
    return vcpus;
}

// vCPU i runs on pCPU i.
void init_vcpus(Vm& vm, u32 vcpus) {
    vm.vcpu_count = vcpus;
    for (u32 i = 0; i < vcpus; ++i) {
        vm.vcpus[i].id = i;
        vm.vcpus[i].pcpu = i;
        vm.vcpus[i].mpidr = arch::percpu(i).mpidr;
        vm.vcpus[i].state.store(VcpuState::off, MemoryOrder::relaxed);
    }
}

// Every guest-visible model in one object (vm/vm.hpp): firmware, SDEI, vGIC, the virtual ITSes, the UART, and the
// register catalogue over all of them. The platform facts come first: the vGIC's size from the hardware, the ITS
// frames, the UART. Then the virtual GICv3's frames, list registers, timers and SGIs, and the emulated UART at the
// host UART's address with its interrupt on the vGIC (arch/aarch64/vgic_glue, guest_uart). Returns whether the VM
// has virtual ITSes (their frames in `its_frames`).
bool build_vm_models(Vm& vm, u32 online, VirtualItsFrames& its_frames) {
    VmConfig cfg;
    cfg.vcpu_count = vm.vcpu_count;
    for (u32 i = 0; i < vm.vcpu_count; ++i) cfg.mpidr[i] = vm.vcpus[i].mpidr;
    VmPorts ports;
    Status s = arch::vgic_config(boot_state().platform, cfg.vgic, ports.hw_irq);
    if (s != Status::ok) panic("vGIC setup failed: %s", status_name(s));
    const bool its = boot_state().options.its && !boot_state().platform.gic.its.empty();
    if (its && arch::msi_its_frames(boot_state().platform, boot_state().options.vits, &boot_state().host_dt,
                                    its_frames) != Status::ok)
        refuse_to_start("no virtual ITS");
    cfg.its_count = its ? static_cast<u32>(its_frames.size()) : 0;
    ports.uart_backend = arch::guest_uart_backend(boot_state().platform.uart);
    cfg.uart = ports.uart_backend != nullptr;
    s = arch::vm_build(vm, cfg, ports, firmware_psci_version(boot_state().options.psci));
    if (s != Status::ok) panic("VM setup failed: %s", status_name(s));
    HV_LOG_INFO("%u pCPU(s) online, VM with %u vCPU(s), guest RAM 0x%llx..0x%llx", online, vm.vcpu_count,
                static_cast<unsigned long long>(vm.ram[0].base), static_cast<unsigned long long>(vm.ram[0].end()));

    s = arch::vgic_vm_init(vm, boot_state().platform);
    if (s != Status::ok) panic("vGIC setup failed: %s", status_name(s));
    if (cfg.uart && arch::guest_uart_init(vm, boot_state().platform.uart) != Status::ok)
        panic("cannot register the UART");
    return its;
}

// The PCIe host bridge passed through (stage-2 ECAM/windows, INTx as hardware-linked SPIs) and the virtual ITS at
// the host ITS address with MSI shadow mappings on the physical ITS (arch/aarch64/pci_passthrough,
// msi_passthrough). No silent degradation: a VM whose passed-through devices would lack their windows or their
// MSIs is not started (pci=off boots without them); nor is one whose DT would describe an ITS that is not there.
// Returns whether PCIe is passed through.
bool attach_pci_and_msi(Vm& vm, bool its, const VirtualItsFrames& its_frames) {
    const bool pci = boot_state().options.pci && boot_state().platform.pcie.present;
    Status s = Status::ok;
    if (pci) {
        s = arch::pci_passthrough_map(vm, boot_state().platform.pcie);
        if (s == Status::ok) s = arch::pci_passthrough_intx(vm, boot_state().platform.pcie);
        if (s != Status::ok) {
            HV_LOG_ERROR("PCIe passthrough failed (%s): boot with pci=off to run without passed-through devices",
                         status_name(s));
            refuse_to_start("PCIe passthrough failed");
        }
    }
    if (its) {
        s = arch::msi_vm_init(vm, boot_state().platform, its_frames);
        if (s != Status::ok) {
            HV_LOG_ERROR("virtual ITS set-up failed (%s)", status_name(s));
            refuse_to_start("no virtual ITS");
        }
        if (pci) {
            const auto g4 = boot_state().options.gicv4;
            s = arch::msi_passthrough_init(vm, boot_state().platform,
                                           g4 == HvOptions::Gicv4Mode::off        ? arch::DirectMode::off
                                           : g4 == HvOptions::Gicv4Mode::doorbell ? arch::DirectMode::doorbell
                                                                                  : arch::DirectMode::on);
            if (s != Status::ok) {
                HV_LOG_ERROR("passed-through devices would get no MSIs (%s): boot with pci=off to run without them",
                             status_name(s));
                refuse_to_start("no MSIs for passed-through devices");
            }
        } else {
            HV_LOG_INFO("msi: virtual ITS at 0x%llx (no passthrough%s)",
                        static_cast<unsigned long long>(boot_state().platform.gic.its[0].base),
                        boot_state().platform.pcie.present ? ": pci=off" : "");
        }
    } else if (pci) {
        HV_LOG_INFO("msi: %s: passed-through devices use INTx only",
                    boot_state().options.its ? "the host has no ITS" : "its=off");
    }
    return pci;
}

// DMA isolation: the hypervisor owns the host SMMUv3; the root complex's StreamIDs reach guest RAM and the ITS
// doorbell only (arch/aarch64/smmu, docs/msi-passthrough.md "DMA isolation"). smmu=off leaves devices unconfined
// (unsafe); a machine without an SMMU boots with a warning; an SMMU that cannot be set up refuses the VM when
// devices are passed through (they could DMA anywhere).
void attach_smmu(Vm& vm, bool pci) {
    if (vm.add_device(arch::smmu_stats_device()) != Status::ok) panic("cannot register the SMMU's counters");
    if (!boot_state().options.smmu) {
        if (boot_state().platform.smmu.present)
            HV_LOG_WARN("smmu=off: UNSAFE, passed-through devices can DMA anywhere");
        return;
    }
    const Status s = arch::smmu_vm_init(vm, boot_state().platform, pci,
                                        boot_state().options.its && !boot_state().platform.gic.its.empty());
    if (s == Status::not_found) {
        if (pci) HV_LOG_WARN("no SMMUv3 in the host DT: passed-through devices can DMA anywhere (no DMA isolation)");
    } else if (s != Status::ok) {
        HV_LOG_ERROR("SMMUv3 set-up failed (%s): passed-through devices would DMA anywhere", status_name(s));
        if (pci) refuse_to_start("no DMA isolation");
    }
}

// The snapshot disk (arch/aarch64/snapdisk, docs/snapshot.md): a virtio-blk with serial "hvsnap" on a virtio-mmio
// transport is the hypervisor's; it and its page neighbours leave the list before the passthrough. Then QEMU's
// virtio-mmio transports passed through (stage-2 pages, hardware-linked SPIs); only if that worked does the guest DT
// describe them (arch/aarch64/virtio_mmio_passthrough, docs/device-tree.md). QEMU virt's virtio-mmio transports sit
// outside the SMMU's reach (it translates the PCIe root complex only): a device on them can DMA anywhere, so by
// default only transports without a device are passed through.
void attach_virtio_mmio(Vm& vm) {
    Status s = arch::snapdisk_claim(boot_state().platform.virtio_mmio);
    if (s != Status::ok && s != Status::not_found) HV_LOG_WARN("snapshot disk: %s", status_name(s));

    if (boot_state().options.virtio_mmio == VirtioMmioMode::on)
        HV_LOG_WARN("virtio_mmio=on: UNSAFE, virtio-mmio devices' DMA is not confined (no IOMMU in front of them)");
    if (boot_state().options.virtio_mmio == VirtioMmioMode::empty)
        arch::virtio_mmio_keep_empty(boot_state().platform.virtio_mmio);
    if (boot_state().options.virtio_mmio != VirtioMmioMode::off) {
        s = arch::virtio_mmio_passthrough(vm, boot_state().platform.virtio_mmio);
        if (s != Status::ok) {
            if (s != Status::not_found)
                HV_LOG_WARN("virtio-mmio passthrough failed (%s): not in the guest DT", status_name(s));
            boot_state().options.virtio_mmio = VirtioMmioMode::off;
        }
    }
}

// The secondaries may enter their vCPUs; this pCPU runs vCPU 0.
[[noreturn]] void run_vm(Vm& vm) {
    boot_state().vm_ready.store(true, MemoryOrder::release);
    arch::sev();
    arch::vcpu_loop(vm, vm.vcpus[0]);
}

// snapshot=restore: resume the saved VM instead of booting the modules. A refused snapshot powers the machine off
// with the reason on the console (nothing was restored), never boots the modules instead.
[[noreturn]] void resume_snapshot(Vm& vm) {
    bool changed = false;
    const Status s = arch::vm_snapshot_restore(vm, changed);
    if (s != Status::ok) {
        // The documented failure line (docs/snapshot.md; tools/run-guest exit 6).
        HV_LOG_ERROR("VM NOT RESTORED (snapshot %s: %s): powering off",
                     changed ? "failed while applying" : "refused, nothing changed", status_name(s));
        arch::machine_system_off();
    }
    run_vm(vm);
}

// The guest from the modules: kernel placed, guest DTB built, vCPU 0 started at the kernel's entry.
[[noreturn]] void boot_guest(Vm& vm) {
    GuestImage image;
    const Status s = load_guest(boot_state().host_dt, boot_state().platform, boot_state().options,
                                guest_dtb_psci(vm.firmware.psci_version()), false, vm, image);
    if (s != Status::ok) {
        HV_LOG_ERROR("no guest to run (%s): powering off", status_name(s));
        arch::machine_system_off();
    }
    boot_state().vm_ready.store(true, MemoryOrder::release);
    arch::sev();
    if (arch::start_vcpu(0, image.entry, image.dtb) != Status::ok) panic("cannot start vCPU 0");
    arch::vcpu_loop(vm, vm.vcpus[0]);
}

}  // namespace

}  // namespace hv

using namespace hv;

extern "C" [[noreturn]] void hv_main(u64 dtb_pa, u64 load_addr) {
    arch::anchor_init();  // THE anchor (arch/aarch64/anchor.hpp): every piece of state lives in it
    arch::percpu_init(0);
    arch::console_init(HV_EARLY_UART);
    HV_LOG_INFO("hypervisor starting at EL2: image loaded at 0x%llx (linked at 0x%llx), %llu KiB, host DTB at 0x%llx",
                static_cast<unsigned long long>(load_addr),
                static_cast<unsigned long long>(reinterpret_cast<u64>(_text)),
                static_cast<unsigned long long>((_end - _text) / 1024), static_cast<unsigned long long>(dtb_pa));
    read_host_dtb(dtb_pa);
    const u64 ram_base = check_hypervisor_region();
    init_el2_mmu_and_hardening(ram_base);
    init_host_gic();

    Vm& vm = arch::create_vm();
    init_guest_memory(vm, ram_base);
    arch::hyp_init_cpu();
    arch::cpu_boot_set(0, arch::CpuBoot::ready);

    u32 online = 0;
    init_vcpus(vm, start_pcpus_and_count_vcpus(online));
    VirtualItsFrames its_frames;
    const bool its = build_vm_models(vm, online, its_frames);
    const bool pci = attach_pci_and_msi(vm, its, its_frames);
    attach_smmu(vm, pci);
    attach_virtio_mmio(vm);

    // VM reset (PSCI SYSTEM_RESET/SYSTEM_RESET2): the devices registered their hooks above (vm.add_device: PMU, SDEI,
    // vGIC, UART, ITS, SMMU, virtio-mmio); the guest is reloaded from the module store.
    arch::set_guest_reloader(reload_guest);
    save_modules(boot_state().platform, boot_state().module_store, boot_state().options.module_store);

    // Snapshots (docs/snapshot.md): the save hypercall, and snapshot=restore resuming a saved VM instead of
    // booting the modules.
    const Status s = arch::vm_snapshot_init(vm, boot_state().options, boot_state().platform);
    if (s != Status::ok) HV_LOG_WARN("snapshot support unavailable: %s", status_name(s));
    if (s == Status::ok && boot_state().options.snapshot == HvOptions::SnapshotMode::restore) resume_snapshot(vm);
    boot_guest(vm);
}

extern "C" [[noreturn]] void hv_secondary_main(u64 index) {
    const u32 me = static_cast<u32>(index);
    arch::percpu_init(me);  // `online`: entered the hypervisor, not yet usable
    arch::mmu_enable_secondary();
    // Test hook (debug_late_cpu=N:MS): this pCPU is in the hypervisor but its redistributor is not set up yet -- the
    // state in which a boot that only waited for `online` used to set the physical ITS up without it.
    if (boot_state().options.late_cpu == me && boot_state().options.late_cpu_ms != 0) {
        HV_LOG_WARN("pCPU %u: debug_late_cpu: waiting %u ms before the GIC set-up", me,
                    boot_state().options.late_cpu_ms);
        const u64 until = now_ticks() + ms_to_ticks(boot_state().options.late_cpu_ms);
        while (static_cast<i64>(until - now_ticks()) > 0) cpu_relax();
    }
    Status s = arch::gic_init_cpu();
    if (s == Status::ok) arch::hyp_init_cpu();
    if (s != Status::ok) {
        HV_LOG_ERROR("pCPU %u: GIC redistributor / CPU interface set-up failed (%s): not used", me, status_name(s));
        if (!arch::cpu_boot_transition(me, arch::CpuBoot::starting, arch::CpuBoot::failed))
            HV_LOG_ERROR("pCPU %u: the boot pCPU had stopped waiting", me);
        for (;;) {
            if (arch::panicking()) arch::stop_this_cpu();
            arch::wfi();
        }
    }
    if (!arch::cpu_boot_transition(me, arch::CpuBoot::starting, arch::CpuBoot::ready)) {
        HV_LOG_ERROR(
            "pCPU %u (MPIDR 0x%llx) arrived after the boot pCPU stopped waiting (cpu_timeout=%u): parked, "
            "not used",
            me, static_cast<unsigned long long>(arch::this_cpu().mpidr), boot_state().options.cpu_timeout_ms);
        idle_forever();
    }
    HV_LOG_INFO("pCPU %llu online (MPIDR 0x%llx)", static_cast<unsigned long long>(index),
                static_cast<unsigned long long>(arch::this_cpu().mpidr));
    while (!boot_state().vm_ready.load(MemoryOrder::acquire)) {
        if (arch::panicking()) arch::stop_this_cpu();
        arch::wfe();
    }
    Vm& vm = arch::the_vm();
    if (index < vm.vcpu_count) arch::vcpu_loop(vm, vm.vcpus[index]);
    idle_forever();
}
