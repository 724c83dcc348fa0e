#include "arch/aarch64/msi_passthrough.hpp"

#include "arch/aarch64/gic.hpp"
#include "arch/aarch64/host_its.hpp"
#include "arch/aarch64/percpu.hpp"
#include "arch/aarch64/vm_run.hpp"
#include "lib/format.hpp"
#include "lib/log.hpp"

// Placement new (no <new> in the freestanding build; the same definition as boot/main.cpp).
inline void* operator new(hv::usize, void* p) noexcept { return p; }

namespace hv::arch {

namespace {

// Forwards the virtual ITS's mapping changes to the shadow table (called with the virtual ITS's command lock held).
class ShadowObserver final : public its::ItsObserver {
public:
    void on_map(u32 dev, u32 ev, u32 intid, u32 vcpu) override { shadow_->on_map(dev, ev, intid, vcpu); }
    void on_unmap(u32 dev, u32 ev, u32 intid) override { shadow_->on_unmap(dev, ev, intid); }
    MsiShadow* shadow_ = nullptr;
};

alignas(its::Its) u8 g_its_storage[sizeof(its::Its)];
its::Its* g_its = nullptr;
MsiShadow g_shadow;
ShadowObserver g_observer;
bool g_shadow_ready = false;
MsiPassthroughStats g_stats;

// A host LPI at EL2 (any pCPU, IRQs masked): host LPI -> (DeviceID, EventID) in O(1), then the guest's translation
// through the virtual ITS. Edge-triggered and owned by us: deactivate at once.
bool host_lpi_irq(u32 intid, void*) {
    __atomic_fetch_add(&g_stats.host_lpis, 1, __ATOMIC_RELAXED);
    if (const u32 me = this_cpu_index(); me < PlatformInfo::kMaxCpus)
        __atomic_fetch_add(&g_stats.host_lpis_on_pcpu[me], 1, __ATOMIC_RELAXED);
    auto e = g_shadow.lookup(intid);
    if (!e.ok() || g_its == nullptr) {
        __atomic_fetch_add(&g_stats.dropped, 1, __ATOMIC_RELAXED);
        HV_LOG_RATELIMITED(debug, "msi: host LPI %u has no shadow mapping: dropped", intid);
        return true;
    }
    if (Status s = g_its->signal_msi(e.value().device_id, e.value().event_id); s != Status::ok) {
        // The guest disabled its ITS or unmapped the collection: the MSI is dropped, as the hardware would.
        __atomic_fetch_add(&g_stats.dropped, 1, __ATOMIC_RELAXED);
        HV_LOG_RATELIMITED(debug, "msi: 0x%x/%u (host LPI %u) not delivered: %s", e.value().device_id,
                           e.value().event_id, intid, status_name(s));
        return true;
    }
    __atomic_fetch_add(&g_stats.delivered, 1, __ATOMIC_RELAXED);
    return true;
}

}  // namespace

its::Its* vm_its() { return g_its; }
const MsiShadow* msi_shadow() { return g_shadow_ready ? &g_shadow : nullptr; }
const MsiPassthroughStats& msi_stats() { return g_stats; }

void msi_log_stats() {
    char per[PlatformInfo::kMaxCpus * 21 + 1] = {};
    usize n = 0;
    for (u32 i = 0; i < online_cpus() && i < PlatformInfo::kMaxCpus; ++i)
        n += format(per + n, sizeof(per) - n, "%s%llu", i ? "," : "",
                    static_cast<unsigned long long>(__atomic_load_n(&g_stats.host_lpis_on_pcpu[i], __ATOMIC_RELAXED)));
    const MsiShadow::Stats sh = g_shadow_ready ? g_shadow.stats() : MsiShadow::Stats{};
    HV_LOG_INFO("stats: msi host_lpis=%llu per_pcpu=%s delivered=%llu dropped=%llu shadow mapped=%llu moved=%llu "
                "unmapped=%llu virtual_only=%llu phys_errors=%llu",
                static_cast<unsigned long long>(g_stats.host_lpis), per,
                static_cast<unsigned long long>(g_stats.delivered), static_cast<unsigned long long>(g_stats.dropped),
                static_cast<unsigned long long>(sh.mapped), static_cast<unsigned long long>(sh.moved),
                static_cast<unsigned long long>(sh.unmapped), static_cast<unsigned long long>(sh.virtual_only),
                static_cast<unsigned long long>(sh.phys_errors));
}

Status msi_vm_init(Vm& vm, const PlatformInfo& plat, LpiSink& sink, bool passthrough) {
    if (plat.gic.its.empty()) return Status::not_found;
    if (plat.gic.its.size() > 1) HV_LOG_WARN("msi: %zu ITSes on the host: only the first is virtualised", plat.gic.its.size());
    const ItsFrame& frame = plat.gic.its[0];
    if (g_its == nullptr) {
        // Placement construction into static storage: no global constructor (docs/conventions.md).
        g_its = new (g_its_storage) its::Its(vm.memory, sink, nullptr);
    }
    // The whole 128 KiB window (control + translater frame) at the host ITS address (docs/its.md).
    HV_TRY(vm.mmio.add(frame.base, its::kControlFrameSize + its::kTranslaterFrameSize, g_its));
    HV_TRY(add_reset_hook([](Vm&, void*) { msi_vm_reset(); }, nullptr));

    if (!passthrough) {
        HV_LOG_INFO("msi: virtual ITS at 0x%llx (no passthrough)", static_cast<unsigned long long>(frame.base));
        return Status::ok;
    }
    HostIts& hits = host_its();
    if (!hits.ready()) {
        Status s = hits.init(frame, online_cpus());
        if (s != Status::ok) {
            HV_LOG_ERROR("msi: physical ITS unusable (%s): passed-through devices get no MSIs", status_name(s));
            return Status::ok;  // the virtual ITS still works for virtual mappings
        }
    }
    MsiShadow::Config cfg;
    cfg.passthrough = passthrough_device_ids(plat.pcie, frame.phandle);
    cfg.cap = MsiShadow::kMaxShadows;
    auto base = hits.reserve_lpis(cfg.cap);
    if (!base.ok()) return base.status();
    cfg.host_lpi_base = base.value();
    cfg.vcpu_count = vm.vcpu_count;
    for (u32 i = 0; i < vm.vcpu_count && i < MsiShadow::kMaxVcpus; ++i) cfg.vcpu_pcpu[i] = vm.vcpus[i].pcpu;
    HV_TRY(g_shadow.init(cfg, hits));
    g_observer.shadow_ = &g_shadow;
    g_its->set_observer(&g_observer);
    g_shadow_ready = true;

    gic_set_lpi_handler(host_lpi_irq, nullptr);
    for (const DeviceIdRange& r : cfg.passthrough)
        HV_LOG_INFO("msi: DeviceIDs 0x%x..0x%x are passed through (host LPIs %u..%u)", r.first, r.first + r.count - 1,
                    cfg.host_lpi_base, cfg.host_lpi_base + cfg.cap - 1);
    HV_LOG_INFO("msi: virtual ITS at 0x%llx, doorbell = physical GITS_TRANSLATER 0x%llx",
                static_cast<unsigned long long>(frame.base), static_cast<unsigned long long>(hits.translater_address()));
    return Status::ok;
}

void msi_vm_reset() {
    if (g_its != nullptr) g_its->reset();  // reports every mapping as unmapped: the shadows follow
    if (g_shadow_ready) g_shadow.clear();
}

}  // namespace hv::arch
