#include "arch/aarch64/vm_snapshot.hpp"

#include "arch/aarch64/percpu.hpp"
#include "arch/aarch64/pmu.hpp"
#include "arch/aarch64/semihosting.hpp"
#include "arch/aarch64/sysreg.hpp"
#include "arch/aarch64/vm_reset.hpp"
#include "arch/aarch64/vm_run.hpp"
#include "core/reglist/snapshot.hpp"
#include "lib/log.hpp"
#include "lib/string.hpp"

namespace hv::arch {

namespace {

using semihosting::File;

const HvOptions* g_opts = nullptr;

class FileSink final : public reglist::SnapshotSink {
public:
    explicit FileSink(File& f) : f_(f) {}
    Status write(const void* data, usize n) override { return f_.write(data, n); }

private:
    File& f_;
};

class FileSource final : public reglist::SnapshotSource {
public:
    FileSource(File& f, u64 size) : f_(f), size_(size) {}
    u64 size() const override { return size_; }
    Status read(u64 offset, void* buf, usize n) override {
        if (offset > size_ || n > size_ - offset) return Status::out_of_range;
        return f_.read_at(offset, buf, n);
    }

private:
    File& f_;
    u64 size_;
};

// Checks that the snapshot fits this VM before anything is applied, with a message a person can act on: vCPU
// count, the RAM regions (every region of this VM, same base and size, in order), one MP state per vCPU.
class FitVisitor final : public reglist::SnapshotVisitor {
public:
    explicit FitVisitor(const Vm& vm) : vm_(vm) {}
    Status header(const reglist::SnapshotInfo& info) override {
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

Status save_to_file(Vm& vm, const char* path, u64& written) {
    File f;
    Status s = f.open(path, semihosting::OpenMode::write_binary);
    if (s != Status::ok) {
        HV_LOG_ERROR("snapshot: cannot create '%s' (host errno %lld)", path, static_cast<long long>(File::last_errno()));
        return s;
    }
    reglist::SnapshotInfo info;
    info.vcpu_count = vm.vcpu_count;
    info.abi[reglist::SnapshotInfo::kAbiItsTables] = 0;  // ITS tables: KVM ABI rev 0 (its/its_tables)
    FileSink sink(f);
    s = reglist::snapshot_save_stream(vm.registers(), info, sink, &vm.memory, written);
    f.close();
    return s;
}

// The vendor hypercall: save, then power off (or report the failure to the caller).
bool snapshot_hypercall(void*, Vm& vm, Vcpu& v) {
    if (static_cast<u32>(v.ctx.core.x[0]) != kSnapshotSaveFid) return false;
    if (g_opts == nullptr || g_opts->snapshot != HvOptions::SnapshotMode::save) {
        HV_LOG_RATELIMITED(info, "vcpu%u: snapshot save requested without snapshot=save:PATH: NOT_SUPPORTED", v.id);
        v.ctx.core.x[0] = static_cast<u64>(kSnapshotNotSupported);
        return true;
    }
    // Every other vCPU parks in its vcpu_loop with its exit handled (context saved, LRs folded into the vGIC);
    // this vCPU's exit was handled the same way before the trap was dispatched.
    if (!vm_stop_others(vm, v)) return true;  // a VM reset took the VM meanwhile: this context was replaced
    pmu_vcpu_put(v);  // this vCPU's PMU into its context too (the others did it when they parked)
    const u64 t0 = HV_READ_SYSREG(cntpct_el0);
    v.ctx.core.x[0] = static_cast<u64>(kSnapshotResumed);  // what the call returns in the resumed VM
    HV_LOG_INFO("snapshot: vcpu%u requested a save: %u vCPU(s) stopped, writing '%s'", v.id, vm.vcpu_count,
                g_opts->snapshot_path);
    u64 written = 0;
    const Status s = save_to_file(vm, g_opts->snapshot_path, written);
    if (s == Status::ok) {
        const u64 freq = HV_READ_SYSREG(cntfrq_el0);
        HV_LOG_INFO("snapshot: saved %llu bytes to '%s' in %llu ms: powering off",
                    static_cast<unsigned long long>(written), g_opts->snapshot_path,
                    static_cast<unsigned long long>((HV_READ_SYSREG(cntpct_el0) - t0) * 1000 / (freq ? freq : 1)));
        machine_system_off();
    }
    HV_LOG_ERROR("snapshot: save to '%s' failed (%s) after %llu bytes: the VM continues", g_opts->snapshot_path,
                 status_name(s), static_cast<unsigned long long>(written));
    v.ctx.core.x[0] = static_cast<u64>(kSnapshotSaveFailed);
    vm_release_others(vm, v);
    return true;
}

}  // namespace

Status vm_snapshot_init(Vm& vm, const HvOptions& opts) {
    g_opts = &opts;
    DeviceHooks d;  // the save hypercall, taken before the firmware sees the call
    d.name = "snapshot";
    d.hypercall = snapshot_hypercall;
    return vm.add_device(d);
}

Status vm_snapshot_restore(Vm& vm, bool& changed) {
    changed = false;
    if (g_opts == nullptr) return Status::invalid_argument;
    const char* path = g_opts->snapshot_path;
    File f;
    Status s = f.open(path, semihosting::OpenMode::read_binary);
    if (s != Status::ok) {
        HV_LOG_ERROR("snapshot: cannot open '%s' (host errno %lld)", path, static_cast<long long>(File::last_errno()));
        return s;
    }
    Result<u64> len = f.length();
    if (!len.ok()) return len.status();
    FileSource src(f, len.value());

    // 1. Everything is checked before anything changes: the stream's structure, that it fits this VM, and every
    //    register ID against the catalogue (snapshot_validate_stream).
    FitVisitor fit(vm);
    s = reglist::snapshot_parse_stream(src, fit);
    if (s == Status::ok && fit.ram_regions != vm.memory.regions().size()) {
        HV_LOG_ERROR("snapshot: %u RAM region(s) saved, this VM has %zu", fit.ram_regions, vm.memory.regions().size());
        s = Status::invalid_argument;
    }
    if (s == Status::ok && fit.mp_states != vm.vcpu_count) {
        HV_LOG_ERROR("snapshot: %u vCPU power state(s) saved, expected %u", fit.mp_states, vm.vcpu_count);
        s = Status::corrupt;
    }
    reglist::SnapshotInfo info;
    if (s == Status::ok) s = reglist::snapshot_validate_stream(vm.registers(), src, info, &vm.memory);
    if (s != Status::ok) {
        HV_LOG_ERROR("snapshot: '%s' (%llu bytes) refused: %s; nothing was restored", path,
                     static_cast<unsigned long long>(len.value()), status_name(s));
        return s;
    }
    if (info.abi[reglist::SnapshotInfo::kAbiItsTables] != 0) {
        HV_LOG_ERROR("snapshot: ITS table ABI revision %u unknown; nothing was restored",
                     info.abi[reglist::SnapshotInfo::kAbiItsTables]);
        return Status::invalid_argument;
    }

    // 2. RAM, then the registers in restore order (vCPU + firmware, vGIC, ITS: KVM's order).
    for (u32 i = 0; i < vm.vcpu_count; ++i) vm.mp_state().reset(i);
    changed = true;
    const u64 t0 = HV_READ_SYSREG(cntpct_el0);
    s = reglist::snapshot_restore_stream(vm.registers(), src, info, &vm.memory);
    f.close();
    if (s != Status::ok) {
        HV_LOG_ERROR("snapshot: applying '%s' failed: %s", path, status_name(s));
        return s;
    }
    // The guest's code and data were written through the data side: no stale instructions or translations.
    for (const RegionGuestMemory::Region& r : vm.memory.regions()) clean_dcache_to_poc(reinterpret_cast<u64>(r.host), r.size);
    asm volatile("tlbi vmalls12e1is" ::: "memory");
    dsb_ish();
    invalidate_icache_all();

    // 3. Power states, then the vCPUs that were on resume with their restored context (FP registers included).
    u32 running = 0;
    for (u32 i = 0; i < vm.vcpu_count && i < kMaxCpus; ++i) {
        Vcpu& v = vm.vcpus[i];
        bool on = false;
        (void)vm.mp_state().staged(i, on);  // nothing staged: stays off
        vm.firmware.restore_power_state(i, on ? psci::PowerState::on : psci::PowerState::off);
        v.fp_dirty = true;
        __atomic_store_n(&v.state, on ? VcpuState::pending : VcpuState::off, __ATOMIC_RELEASE);
        running += on ? 1 : 0;
    }
    const u64 freq = HV_READ_SYSREG(cntfrq_el0);
    HV_LOG_INFO("snapshot: restored '%s' (%llu bytes) in %llu ms: %u of %u vCPU(s) resume", path,
                static_cast<unsigned long long>(len.value()),
                static_cast<unsigned long long>((HV_READ_SYSREG(cntpct_el0) - t0) * 1000 / (freq ? freq : 1)), running,
                vm.vcpu_count);
    for (u32 i = 0; i < vm.vcpu_count; ++i) kick_vcpu(i);
    return Status::ok;
}

}  // namespace hv::arch
