#include "arch/aarch64/vm_snapshot.hpp"

#include "arch/aarch64/anchor.hpp"
#include "arch/aarch64/console_escape.hpp"
#include "arch/aarch64/msi_passthrough.hpp"
#include "arch/aarch64/percpu.hpp"
#include "arch/aarch64/pmu.hpp"
#include "arch/aarch64/snapdisk.hpp"
#include "arch/aarch64/sysreg.hpp"
#include "arch/aarch64/vm_reset.hpp"
#include "arch/aarch64/vm_run.hpp"
#include "core/reglist/snapshot.hpp"
#include "lib/format.hpp"
#include "lib/log.hpp"
#include "lib/string.hpp"

namespace hv::arch {

namespace {

// A value this VM cannot honour: the register, the saved value, this host's, and why (docs/snapshot.md).
void report_refusal(const reglist::SnapshotRefusal& r) {
    char where[24] = "";
    if (r.vcpu != reglist::kSnapshotVmSection) (void)format(where, sizeof where, " (vcpu%u)", r.vcpu);
    char reg[40];
    if (r.why.reg != nullptr)
        (void)format(reg, sizeof reg, "%s", r.why.reg);
    else
        (void)format(reg, sizeof reg, "reg %#llx", static_cast<unsigned long long>(r.id));
    char host[32] = "";
    if (r.why.has_host) (void)format(host, sizeof host, " host %#llx", static_cast<unsigned long long>(r.why.host));
    char reason[64];
    if (r.why.feature != nullptr)
        (void)format(reason, sizeof reason, "feature %s missing", r.why.feature);
    else
        (void)format(reason, sizeof reason, "%s", r.why.reason != nullptr ? r.why.reason : "value refused");
    HV_LOG_ERROR("snapshot: refused: %s%s saved %#llx%s: %s", reg, where, static_cast<unsigned long long>(r.saved),
                 host, reason);
}

// Checks that the snapshot fits this VM before anything is applied, with a message a person can act on: vCPU
// count, the RAM regions (every region of this VM, same base and size, in order), one MP state per vCPU.
class FitVisitor final : public reglist::SnapshotVisitor {
public:
    explicit FitVisitor(const Vm& vm) : vm_(vm) {}
    Status header(const reglist::SnapshotInfo& info) override {
        if (info.abi[reglist::SnapshotInfo::kAbiItsTables] != 0) {
            HV_LOG_ERROR("snapshot: ITS table ABI revision %u unknown", info.abi[reglist::SnapshotInfo::kAbiItsTables]);
            return Status::invalid_argument;
        }
        if (info.vcpu_count != vm_.vcpu_count) {
            HV_LOG_ERROR("snapshot: saved with %u vCPU(s), this VM has %u", info.vcpu_count, vm_.vcpu_count);
            return Status::invalid_argument;
        }
        return Status::ok;
    }
    Status record(u32 vcpu, u64 id, Span<const u8>) override {
        if (id == MpStateClass::kId && vcpu < kMaxCpus) ++mp_states;
        return Status::ok;
    }
    Status ram_region(u32 index, u64 gpa, u64 size, u64) override {
        const Span<const RegionGuestMemory::Region> regs = vm_.memory.regions();
        if (index >= regs.size() || regs[index].gpa != gpa || regs[index].size != size) {
            HV_LOG_ERROR("snapshot: RAM region %u is 0x%llx+0x%llx, this VM's is %s0x%llx+0x%llx", index,
                         static_cast<unsigned long long>(gpa), static_cast<unsigned long long>(size),
                         index < regs.size() ? "" : "(none) ",
                         static_cast<unsigned long long>(index < regs.size() ? regs[index].gpa : 0),
                         static_cast<unsigned long long>(index < regs.size() ? regs[index].size : 0));
            return Status::invalid_argument;
        }
        ++ram_regions;
        return Status::ok;
    }
    u32 mp_states = 0;
    u32 ram_regions = 0;

private:
    const Vm& vm_;
};

Status save_to_disk(Vm& vm, u64& written) {
    reglist::SnapshotInfo info;
    info.vcpu_count = vm.vcpu_count;
    info.abi[reglist::SnapshotInfo::kAbiItsTables] = 0;  // ITS tables: KVM ABI rev 0 (its/its_tables)
    SnapdiskSink sink;
    Status s = reglist::snapshot_save_stream(vm.registers(), info, sink, &vm.memory, written);
    if (s == Status::ok) s = sink.finish();
    return s;
}

u64 ms_since(u64 t0) {
    const u64 freq = HV_READ_SYSREG(cntfrq_el0);
    return (HV_READ_SYSREG(cntpct_el0) - t0) * 1000 / (freq ? freq : 1);
}

// The VM's clock stands still while it is stopped (QEMU's default for KVM guests, "adjvtime"): from the moment
// the vCPUs stop, the register list reads the counter value of that moment, so the saved TIMER_CNT is the virtual
// count the guest last saw; a restore freezes it while it applies the records and moves every CNTVOFF_EL2 by the
// time it took (resume_clock). The guest sees no time pass across a save and restore.
void freeze_clock() { hyp().snapshot_clock_frozen.store(HV_READ_SYSREG(cntpct_el0), MemoryOrder::relaxed); }

void thaw_clock() { hyp().snapshot_clock_frozen.store(0, MemoryOrder::relaxed); }

// A restored VM's virtual counters were set against the frozen clock: add the time since, then run on the live one.
void resume_clock(Vm& vm) {
    const u64 frozen = hyp().snapshot_clock_frozen.exchange(0, MemoryOrder::relaxed);
    if (frozen == 0) return;
    const u64 stopped = HV_READ_SYSREG(cntpct_el0) - frozen;
    for (u32 i = 0; i < vm.vcpu_count && i < kMaxCpus; ++i) vm.vcpus[i].ctx.sysreg(SysReg::CNTVOFF_EL2) += stopped;
}

// Every other vCPU is parked (vm_stop_others) and `self`'s exit is handled: its PMU into its context, then the
// whole VM to the snapshot disk, read at the clock of the moment the VM stopped. On failure the VM goes on and its
// clock with it (the time the attempt took passes for the guest).
Status save_stopped_vm(Vm& vm, Vcpu& self, u64& written, u64& ms) {
    freeze_clock();
    pmu_vcpu_put(self);  // this vCPU's PMU into its context too (the others did it when they parked)
    // GICv4: the pending state of directly injected vLPIs is in the physical GIC; it moves into the vGIC model so
    // the LPI pending tables carry it (docs/msi-passthrough.md "Save/restore with vLPIs").
    (void)msi_vlpis_to_model(vm);
    const u64 t0 = HV_READ_SYSREG(cntpct_el0);
    const Status s = save_to_disk(vm, written);
    ms = ms_since(t0);
    if (s != Status::ok) thaw_clock();
    return s;
}

// The vendor hypercalls: save (or save for a migration), then power off (or report the failure to the caller).
bool snapshot_hypercall(void*, Vm& vm, Vcpu& v) {
    const u32 fid = static_cast<u32>(v.ctx.core.x[0]);
    if (fid != kSnapshotSaveFid && fid != kSnapshotMigrateFid) return false;
    if (!snapdisk_present()) {
        HV_LOG_RATELIMITED(info, "vcpu%u: snapshot save requested without a snapshot disk: NOT_SUPPORTED", v.id);
        v.ctx.core.x[0] = static_cast<u64>(kSnapshotNotSupported);
        return true;
    }
    // Every other vCPU parks in its vcpu_loop with its exit handled (context saved, LRs folded into the vGIC);
    // this vCPU's exit was handled the same way before the trap was dispatched.
    if (!vm_stop_others(vm, v)) return true;  // a VM reset took the VM meanwhile: this context was replaced
    v.ctx.core.x[0] = static_cast<u64>(kSnapshotResumed);  // what the call returns in the resumed VM
    HV_LOG_INFO("snapshot: vcpu%u requested a save: %u vCPU(s) stopped, writing the snapshot disk", v.id,
                vm.vcpu_count);
    u64 written = 0, ms = 0;
    const Status s = save_stopped_vm(vm, v, written, ms);
    if (s == Status::ok) {
        HV_LOG_INFO("snapshot: saved %llu bytes in %llu ms: powering off", static_cast<unsigned long long>(written),
                    static_cast<unsigned long long>(ms));
        if (fid == kSnapshotMigrateFid) HV_LOG_INFO("%s", kMigrateMarker);  // run-guest resumes it in a new QEMU
        machine_system_off();
    }
    HV_LOG_ERROR("snapshot: save failed (%s) after %llu bytes: the VM continues", status_name(s),
                 static_cast<unsigned long long>(written));
    v.ctx.core.x[0] = static_cast<u64>(kSnapshotSaveFailed);
    vm_release_others(vm, v);
    return true;
}

// Passed-through devices carry state outside the VM (QEMU's devices, their DMA): a VM that has any cannot move.
// The PCIe host bridge alone (QEMU's 1b36:0008 at 00:00.0) and empty virtio-mmio transports do not count.
const char* passthrough_in_use() {
    if (hyp().snapshot_platform == nullptr || hyp().snapshot_opts == nullptr) return nullptr;
    if (hyp().snapshot_opts->virtio_mmio != VirtioMmioMode::off) {
        for (const VirtioMmioDevice& d : hyp().snapshot_platform->virtio_mmio.devices)
            if (mmio_read<u32>(d.base + 0x008) != 0) return "a passed-through virtio-mmio device";  // DeviceID
    }
    const PcieInfo& pci = hyp().snapshot_platform->pcie;
    if (hyp().snapshot_opts->pci && pci.present && pci.ecam_size >= (u64{1} << 20)) {
        // Bus bus_start, devices 0..31, function 0 (PCIe ECAM: bus << 20 | dev << 15 | fn << 12).
        for (u32 dev = 0; dev < 32; ++dev) {
            const u32 id = mmio_read<u32>(pci.ecam_base + (u64{dev} << 15));
            if (id == 0xffffffffu || id == 0) continue;
            if (id == 0x00081b36u) continue;  // QEMU's PCIe host bridge: no state of its own
            return "a passed-through PCI device";
        }
    }
    return nullptr;
}

}  // namespace

Status vm_snapshot_init(Vm& vm, const HvOptions& opts, const PlatformInfo& platform) {
    hyp().snapshot_opts = &opts;
    hyp().snapshot_platform = &platform;
    DeviceHooks d;  // the save hypercall, taken before the firmware sees the call
    d.name = "snapshot";
    d.hypercall = snapshot_hypercall;
    // The IDs snapshot_hypercall handles (the exit fast path gives every other one to the firmware).
    d.hypercall_fid_mask = ~1u;
    d.hypercall_fid_match = kSnapshotSaveFid;
    static_assert((kSnapshotSaveFid & ~1u) == kSnapshotSaveFid && (kSnapshotMigrateFid & ~1u) == kSnapshotSaveFid);
    return vm.add_device(d);
}

const char* vm_snapshot_refusal() {
    if (!snapdisk_present()) return "no snapshot disk (tools/run-guest --migratable, --save FILE)";
    return passthrough_in_use();
}

Status vm_snapshot_save_and_stop(Vm& vm, Vcpu& self, const char* marker) {
    if (const char* why = vm_snapshot_refusal(); why != nullptr) {
        HV_LOG_ERROR("snapshot: refused: %s; the VM continues", why);
        return Status::unsupported;
    }
    if (!vm_stop_others(vm, self)) return Status::busy;
    u64 written = 0, ms = 0;
    const Status s = save_stopped_vm(vm, self, written, ms);
    if (s == Status::ok) {
        HV_LOG_INFO("snapshot: saved %llu bytes in %llu ms (%u vCPU(s))", static_cast<unsigned long long>(written),
                    static_cast<unsigned long long>(ms), vm.vcpu_count);
        HV_LOG_INFO("%s", marker);
        machine_system_off();
    }
    HV_LOG_ERROR("snapshot: save failed (%s) after %llu bytes: the VM continues", status_name(s),
                 static_cast<unsigned long long>(written));
    vm_release_others(vm, self);
    return s;
}

namespace {

// Restore step 1 (vm_snapshot_restore): the stream's structure, that it fits this VM, and every register ID
// against the catalogue (snapshot_validate_stream) -- before anything changes.
Status check_snapshot_fits(Vm& vm, SnapdiskSource& src, const char* path) {
    FitVisitor fit(vm);
    Status s = reglist::snapshot_parse_stream(src, fit);
    if (s == Status::ok && fit.ram_regions != vm.memory.regions().size()) {
        HV_LOG_ERROR("snapshot: %u RAM region(s) saved, this VM has %zu", fit.ram_regions, vm.memory.regions().size());
        s = Status::invalid_argument;
    }
    if (s == Status::ok && fit.mp_states != vm.vcpu_count) {
        HV_LOG_ERROR("snapshot: %u vCPU power state(s) saved, expected %u", fit.mp_states, vm.vcpu_count);
        s = Status::corrupt;
    }
    if (s != Status::ok)
        HV_LOG_ERROR("snapshot: '%s' (%llu bytes) refused: %s; nothing was restored", path,
                     static_cast<unsigned long long>(src.size()), status_name(s));
    return s;
}

// The guest's code and data were written through the data side: no stale instructions or translations.
void publish_restored_memory(Vm& vm) {
    for (const RegionGuestMemory::Region& r : vm.memory.regions())
        clean_dcache_to_poc(reinterpret_cast<u64>(r.host), r.size);
    asm volatile("tlbi vmalls12e1is" ::: "memory");
    dsb_ish();
    invalidate_icache_all();
}

// Restore step 3: power states, then the vCPUs that were on resume with their restored context (FP registers
// included). Returns how many run.
u32 resume_restored_vcpus(Vm& vm) {
    u32 running = 0;
    for (u32 i = 0; i < vm.vcpu_count && i < kMaxCpus; ++i) {
        Vcpu& v = vm.vcpus[i];
        bool on = false;
        (void)vm.mp_state().staged(i, on);  // nothing staged: stays off
        vm.firmware.restore_power_state(i, on ? psci::PowerState::on : psci::PowerState::off);
        v.fp_dirty = true;
        v.state.store(on ? VcpuState::pending : VcpuState::off, MemoryOrder::release);
        running += on ? 1 : 0;
    }
    return running;
}

}  // namespace

Status vm_snapshot_restore(Vm& vm, bool& changed) {
    changed = false;
    if (hyp().snapshot_opts == nullptr) return Status::invalid_argument;
    SnapdiskSource src;
    Status s = src.open();
    if (s != Status::ok) {
        HV_LOG_ERROR("snapshot: no snapshot on the snapshot disk (%s)",
                     snapdisk_present() ? status_name(s) : "no disk");
        return s;
    }
    const char* path = "the snapshot disk";

    // 1. Everything is checked before anything changes.
    s = check_snapshot_fits(vm, src, path);
    if (s != Status::ok) return s;

    // 2. One more pass checks every value against this VM (a dry-run SET of each record: ID registers, firmware
    //    levels and versions, ...) and keeps the records, then the checks across records and RAM (each ITS's
    //    records replayed on a scratch ITS over the snapshot's own tables); then RAM and the registers are applied
    //    from what was checked (KVM's order: vCPU + firmware, vGIC, ITS), the records' bytes read once.
    for (u32 i = 0; i < vm.vcpu_count; ++i) vm.mp_state().reset(i);
    const u64 t0 = HV_READ_SYSREG(cntpct_el0);
    freeze_clock();  // TIMER_CNT is applied against this moment; resume_clock adds the time the rest takes
    reglist::SnapshotInfo info;
    reglist::SnapshotRefusal why;
    s = reglist::snapshot_restore_stream(vm.registers(), src, info, &vm.memory,
                                         Span<u8>(hyp().snapshot_record_store, sizeof hyp().snapshot_record_store),
                                         &why);
    if (s != Status::ok) thaw_clock();  // the VM does not run: VM NOT RESTORED, then power-off
    if (s != Status::ok && !why.applying) {
        if (why.id != 0) report_refusal(why);
        HV_LOG_ERROR("snapshot: '%s' (%llu bytes) refused: %s; nothing was restored", path,
                     static_cast<unsigned long long>(src.size()), status_name(s));
        return s;
    }
    changed = true;
    if (s != Status::ok) {
        HV_LOG_ERROR("snapshot: applying '%s' failed at reg %#llx: %s", path, static_cast<unsigned long long>(why.id),
                     status_name(s));
        return s;
    }
    publish_restored_memory(vm);
    resume_clock(vm);  // before any vCPU may run: its virtual counter goes on from the saved value from now

    // 3. Power states, then the vCPUs that were on resume.
    const u32 running = resume_restored_vcpus(vm);
    const u64 freq = HV_READ_SYSREG(cntfrq_el0);
    HV_LOG_INFO("snapshot: restored '%s' (%llu bytes) in %llu ms: %u of %u vCPU(s) resume", path,
                static_cast<unsigned long long>(src.size()),
                static_cast<unsigned long long>((HV_READ_SYSREG(cntpct_el0) - t0) * 1000 / (freq ? freq : 1)), running,
                vm.vcpu_count);
    for (u32 i = 0; i < vm.vcpu_count; ++i) kick_vcpu(i);
    return Status::ok;
}

}  // namespace hv::arch
