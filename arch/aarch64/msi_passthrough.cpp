#include "arch/aarch64/msi_passthrough.hpp"

#include "arch/aarch64/anchor.hpp"
#include "arch/aarch64/gic.hpp"
#include "arch/aarch64/host_its.hpp"
#include "arch/aarch64/percpu.hpp"
#include "arch/aarch64/vm_run.hpp"
#include "its/reglist_class.hpp"
#include "lib/format.hpp"
#include "lib/log.hpp"

// Placement new (no <new> in the freestanding build; the same definition as boot/main.cpp).
namespace hv::arch {

namespace {

MsiState& st() { return hyp().msi; }

// Forwards the virtual ITS's mapping changes to the shadow table (called with the virtual ITS's command lock held).
// A stateless port (vtable only): constant at file scope (docs/architecture.md §4 "The anchors").
class ShadowObserver final : public its::ItsObserver {
public:
    void on_map(u32 dev, u32 ev, u32 intid, u32 vcpu) override { st().shadow.on_map(dev, ev, intid, vcpu); }
    void on_unmap(u32 dev, u32 ev, u32 intid) override { st().shadow.on_unmap(dev, ev, intid); }
};
constinit const ShadowObserver kObserver;

// Virtual ITS instances (vits=N): [0] at the host ITS address (shadow mappings), [1..] purely virtual. Placement
// construction into static storage: no global constructors (docs/conventions.md).

// A host LPI at EL2 (any pCPU, IRQs masked): host LPI -> (DeviceID, EventID) in O(1), then the guest's translation
// through the virtual ITS. Edge-triggered and owned by us: deactivate at once.
bool host_lpi_irq(u32 intid, void*) {
    st().stats.host_lpis.fetch_add(1, MemoryOrder::relaxed);
    if (const u32 me = this_cpu_index(); me < PlatformInfo::kMaxCpus)
        st().stats.host_lpis_on_pcpu[me].fetch_add(1, MemoryOrder::relaxed);
    auto e = st().shadow.lookup(intid);
    Vm& vm = the_vm();
    if (!e.ok() || vm.its_count == 0) {
        st().stats.dropped.fetch_add(1, MemoryOrder::relaxed);
        HV_LOG_RATELIMITED(debug, "msi: host LPI %u has no shadow mapping: dropped", intid);
        return true;
    }
    if (Status s = vm.its[0]->signal_msi(e.value().device_id, e.value().event_id); s != Status::ok) {
        // The guest disabled its ITS or unmapped the collection: the MSI is dropped, as the hardware would.
        st().stats.dropped.fetch_add(1, MemoryOrder::relaxed);
        HV_LOG_RATELIMITED(debug, "msi: 0x%x/%u (host LPI %u) not delivered: %s", e.value().device_id,
                           e.value().event_id, intid, status_name(s));
        return true;
    }
    st().stats.delivered.fetch_add(1, MemoryOrder::relaxed);
    return true;
}

}  // namespace

const MsiShadow* msi_shadow() { return st().shadow_ready ? &st().shadow : nullptr; }
const MsiPassthroughStats& msi_stats() { return st().stats; }

void msi_log_stats() {
    char per[PlatformInfo::kMaxCpus * 21 + 1] = {};
    usize n = 0;
    for (u32 i = 0; i < online_cpus() && i < PlatformInfo::kMaxCpus; ++i)
        n += format(per + n, sizeof(per) - n, "%s%llu", i ? "," : "",
                    static_cast<unsigned long long>(st().stats.host_lpis_on_pcpu[i].load(MemoryOrder::relaxed)));
    const MsiShadow::Stats sh = st().shadow_ready ? st().shadow.stats() : MsiShadow::Stats{};
    HV_LOG_INFO(
        "stats: msi host_lpis=%llu per_pcpu=%s delivered=%llu dropped=%llu shadow mapped=%llu moved=%llu "
        "unmapped=%llu virtual_only=%llu phys_errors=%llu",
        static_cast<unsigned long long>(st().stats.host_lpis.load(MemoryOrder::relaxed)), per,
        static_cast<unsigned long long>(st().stats.delivered.load(MemoryOrder::relaxed)),
        static_cast<unsigned long long>(st().stats.dropped.load(MemoryOrder::relaxed)),
        static_cast<unsigned long long>(sh.mapped), static_cast<unsigned long long>(sh.moved),
        static_cast<unsigned long long>(sh.unmapped), static_cast<unsigned long long>(sh.virtual_only),
        static_cast<unsigned long long>(sh.phys_errors));
}

namespace {

// Registers virtual ITS `index`'s 128 KiB window on the VM's bus at `frame`.
Status add_its_frame(Vm& vm, u32 index, const MemRegion& frame) {
    if (index >= vm.its_count) return Status::out_of_range;
    HV_TRY(vm.mmio.add(frame.base, its::kControlFrameSize + its::kTranslaterFrameSize, &*vm.its[index]));
    vm.its_base[index] = frame.base;
    return Status::ok;
}

}  // namespace

Status msi_its_frames(const PlatformInfo& plat, u32 vits, const fdt::Reader* host, VirtualItsFrames& frames) {
    frames.clear();
    if (plat.gic.its.empty()) return Status::not_found;
    if (plat.gic.its.size() > 1)
        HV_LOG_WARN("msi: %zu ITSes on the host: only the first is virtualised", plat.gic.its.size());
    if (Status s = virtual_its_frames(host, plat, vits, frames); s != Status::ok) {
        HV_LOG_WARN("msi: %u virtual ITSes requested, cannot place them (%s): only ITS 0", vits, status_name(s));
        frames.clear();
    }
    if (frames.empty())
        HV_TRY(frames.push_back({plat.gic.its[0].base, its::kControlFrameSize + its::kTranslaterFrameSize}));
    return Status::ok;
}

Status msi_vm_init(Vm& vm, const PlatformInfo& plat, const VirtualItsFrames& frames) {
    if (plat.gic.its.empty() || vm.its_count == 0 || frames.empty()) return Status::not_found;
    HV_TRY(add_its_frame(vm, 0, frames[0]));
    for (u32 i = 1; i < frames.size() && i < vm.its_count; ++i) {
        if (Status s = add_its_frame(vm, i, frames[i]); s != Status::ok) {
            HV_LOG_WARN("msi: virtual ITS %u at 0x%llx not registered: %s", i,
                        static_cast<unsigned long long>(frames[i].base), status_name(s));
            break;
        }
        HV_LOG_INFO("msi: virtual ITS %u at 0x%llx (purely virtual)", i,
                    static_cast<unsigned long long>(frames[i].base));
    }
    HV_LOG_INFO("msi: %u virtual ITS(es); VM register catalogue: %zu classes, %zu VM-scoped registers", vm.its_count,
                vm.registers().class_count(), vm.registers().reg_count(reglist::Handle::vm()));
    // The ITSes as one of the VM's devices: reset with the VM, counters at power-off.
    DeviceHooks d;
    d.name = "its";
    d.reset = [](void*, Vm&) { msi_vm_reset(); };
    d.log_stats = [](void*) { msi_log_stats(); };
    // A command queue with a backlog (its::kCommandsPerTrap per trap, docs/its.md "Batching") moves on by one batch
    // at each guest entry too, as a real ITS works through its queue without being polled. Otherwise one relaxed
    // load per ITS.
    d.before_entry = [](void*, Vcpu&) {
        Vm& m = the_vm();
        for (u32 i = 0; i < m.its_count; ++i)
            if (m.its[i]->has_backlog()) m.its[i]->process_backlog();
    };
    HV_TRY(vm.add_device(d));

    return Status::ok;
}

Status msi_passthrough_init(Vm& vm, const PlatformInfo& plat) {
    if (plat.gic.its.empty() || vm.its_count == 0) return Status::not_found;
    const ItsFrame& frame = plat.gic.its[0];
    HostIts& hits = host_its();
    if (!hits.ready()) {
        // Every pCPU that runs a vCPU must be ready (its redistributor known): the physical ITS gets LPIs and a
        // collection on each of them. boot/main.cpp waits for that; this is the check that it did.
        const u32 cpus = online_cpus();
        if (cpus < vm.vcpu_count) {
            HV_LOG_ERROR("msi: only %u pCPU(s) ready for %u vCPUs: no physical ITS set-up", cpus, vm.vcpu_count);
            return Status::not_found;
        }
        if (Status s = hits.init(frame, cpus); s != Status::ok) {
            HV_LOG_ERROR("msi: physical ITS at 0x%llx unusable (%s)", static_cast<unsigned long long>(frame.base),
                         status_name(s));
            return s;
        }
    }
    MsiShadow::Config cfg;
    cfg.passthrough = passthrough_device_ids(plat.pcie, frame.phandle);
    cfg.cap = MsiShadow::kMaxShadows;
    auto base = hits.reserve_lpis(cfg.cap);
    if (!base.ok()) {
        HV_LOG_ERROR("msi: no host LPIs left for the VM (%s)", status_name(base.status()));
        return base.status();
    }
    cfg.host_lpi_base = base.value();
    cfg.vcpu_count = vm.vcpu_count;
    for (u32 i = 0; i < vm.vcpu_count && i < MsiShadow::kMaxVcpus; ++i) cfg.vcpu_pcpu[i] = vm.vcpus[i].pcpu;
    if (Status s = st().shadow.init(cfg, hits); s != Status::ok) {
        HV_LOG_ERROR("msi: shadow table set-up failed (%s)", status_name(s));
        return s;
    }
    vm.its[0]->set_observer(&const_cast<ShadowObserver&>(kObserver));  // stateless: nothing is written through it
    st().shadow_ready = true;

    gic_set_lpi_handler(host_lpi_irq, nullptr);
    for (const DeviceIdRange& r : cfg.passthrough)
        HV_LOG_INFO("msi: DeviceIDs 0x%x..0x%x are passed through (host LPIs %u..%u)", r.first, r.first + r.count - 1,
                    cfg.host_lpi_base, cfg.host_lpi_base + cfg.cap - 1);
    HV_LOG_INFO("msi: virtual ITS at 0x%llx, doorbell = physical GITS_TRANSLATER 0x%llx",
                static_cast<unsigned long long>(frame.base),
                static_cast<unsigned long long>(hits.translater_address()));
    return Status::ok;
}

void msi_vm_reset() {
    // ITS 0 reports every mapping as unmapped: the shadows follow. The others have no observer.
    Vm& vm = the_vm();
    for (u32 i = 0; i < vm.its_count; ++i) vm.its[i]->reset();
    if (st().shadow_ready) st().shadow.clear();
}

}  // namespace hv::arch
