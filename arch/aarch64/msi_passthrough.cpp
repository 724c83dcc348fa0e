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
    // INT/CLEAR and INV reach the physical ITS only with GICv4 direct injection: without it, no call (every INT).
    bool on_set_pending(u32 dev, u32 ev, bool pending) override {
        return st().shadow.direct() && st().shadow.on_set_pending(dev, ev, pending);
    }
    void on_invalidate(u32 dev, u32 ev) override {
        if (st().shadow.direct()) st().shadow.on_invalidate(dev, ev);
    }
    void on_invalidate_all(u32 vcpu) override { st().shadow.on_invalidate_all(vcpu); }
};
constinit const ShadowObserver kObserver;

// Virtual ITS instances (vits=N): [0] at the host ITS address (shadow mappings), [1..] purely virtual. Placement
// construction into static storage: no global constructors (docs/conventions.md).

// A host LPI at EL2 (any pCPU, IRQs masked): host LPI -> (DeviceID, EventID) in O(1), then the guest's translation
// through the virtual ITS. Edge-triggered and owned by us: deactivate at once.
bool host_lpi_irq(u32 intid, void*) {
    // GICv4: a vPE's doorbell -- a vLPI became pending while its vCPU was not resident (waiting in WFI): wake it.
    if (const u32 vpe = host_its().vpe_of_doorbell(intid); vpe != HostIts::kNoVpe) {
        st().stats.doorbells.fetch_add(1, MemoryOrder::relaxed);
        vcpu_kicker().kick(vpe);
        return true;
    }
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

namespace {

// ---- GICv4: vPE residency follows the vCPU (docs/msi-passthrough.md "GICv4 direct injection") ----

// Guest LPIs below 2^kVlpiIdBits become vLPIs (MsiShadow::Config::vlpi_limit; Linux allocates its LPIs from 8192 up),
// higher ones take the shadow path. The vPEs' GICR_VPROPBASER.IDbits is then at most this: the redistributor scans
// that much of the virtual pending table for the next vLPI -- QEMU 7.2 byte by byte on every acknowledge (7 KiB for
// 16 ID bits, 1 KiB for 14) -- and drops a vLPI beyond it, which no mapping can name.
constexpr u32 kVlpiIdBits = 14;

// GICR_VPROPBASER for the guest's GICR_PROPBASER: its property table (guest RAM is identity mapped, IPA = PA), its
// IDbits (at most kVlpiIdBits). 0 if the table is not wholly inside guest RAM: the GIC must never read anything else
// on the guest's behalf, so the vPE then stays non-resident (its vLPIs wait in the VPT).
u64 vpropbaser_for(Vm& vm, u64 propbaser) {
    namespace prop = vgic::gicr_propbaser;
    const u32 id_bits = min<u32>(static_cast<u32>(prop::IDbits::get(propbaser)) + 1, kVlpiIdBits);
    if (id_bits < 14) return 0;  // no LPI in range (IHI0069H 12.11.31)
    const u64 table = prop::PA::get(propbaser) << 12;
    if (!vm.memory.contains(table, (usize{1} << id_bits) - 8192)) return 0;
    return prop::PA::make(table >> 12) | prop::IDbits::make(id_bits - 1) | prop::InnerCache::make(7) |
           prop::Shareability::make(1);
}

void vpe_before_entry(void*, Vcpu& v) {
    MsiState::Vpe& p = st().vpes[v.id];
    Vm& vm = the_vm();
    const u32 gen = vm.vgic.lpi_table_generation();
    if (gen != p.seen_gen) {
        p.seen_gen = gen;
        const vgic::Vgic::LpiTableView t = vm.vgic.lpi_table(v.id);
        const u64 vprop = t.enabled ? vpropbaser_for(vm, t.propbaser) : 0;
        if (t.enabled && vprop == 0)
            HV_LOG_RATELIMITED(warn, "msi: vCPU %u's LPI property table 0x%llx is not in guest RAM: vLPIs held back",
                               v.id, static_cast<unsigned long long>(t.propbaser));
        if (p.resident && vprop != p.vprop) {
            (void)host_its().vpe_put(v.id);  // VPROPBASER changes only while not resident
            st().stats.vpe_puts.fetch_add(1, MemoryOrder::relaxed);
            p.resident = false;
        }
        p.wanted = vprop != 0;
        p.vprop = vprop;
    }
    if (p.wanted && !p.resident) {
        host_its().vpe_load(v.id, p.vprop);
        st().stats.vpe_loads.fetch_add(1, MemoryOrder::relaxed);
        p.resident = true;
    }
}

void vpe_put(Vcpu& v, bool count_pending) {
    MsiState::Vpe& p = st().vpes[v.id];
    if (!p.resident) return;
    p.resident = false;
    st().stats.vpe_puts.fetch_add(1, MemoryOrder::relaxed);
    if (host_its().vpe_put(v.id) && count_pending) st().stats.pending_last.fetch_add(1, MemoryOrder::relaxed);
}

// WFI wait: the vPE leaves the redistributor (its doorbell now rings for new vLPIs and kicks the vCPU); a vLPI
// pending at that moment (PendingLast) ends the wait at once (KVM does the same for GICv4.0).
bool vpe_has_pending(void*, Vcpu& v) {
    MsiState::Vpe& p = st().vpes[v.id];
    if (!p.resident) return false;
    p.resident = false;
    st().stats.vpe_puts.fetch_add(1, MemoryOrder::relaxed);
    if (!host_its().vpe_put(v.id)) return false;
    st().stats.pending_last.fetch_add(1, MemoryOrder::relaxed);
    return true;
}

}  // namespace

bool msi_direct() { return st().shadow_ready && st().shadow.direct(); }
bool msi_direct_native_wfi() { return msi_direct() && st().native_wfi; }

namespace {
void vpe_put_hook(void*, Vcpu& v) { vpe_put(v, false); }
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
    if (msi_direct())
        HV_LOG_INFO(
            "stats: gicv4 vlpis=%u doorbells=%llu vpe_loads=%llu vpe_puts=%llu pending_last=%llu "
            "vlpi_commands=%llu",
            st().shadow.shadow_count(),
            static_cast<unsigned long long>(st().stats.doorbells.load(MemoryOrder::relaxed)),
            static_cast<unsigned long long>(st().stats.vpe_loads.load(MemoryOrder::relaxed)),
            static_cast<unsigned long long>(st().stats.vpe_puts.load(MemoryOrder::relaxed)),
            static_cast<unsigned long long>(st().stats.pending_last.load(MemoryOrder::relaxed)),
            static_cast<unsigned long long>(sh.vlpi_commands));
}

namespace {

// Registers virtual ITS `index`'s 128 KiB window on the VM's bus at `frame`.
// The ITS device's entry work once some ITS has a backlog: one batch of each that has one.
[[gnu::noinline]] void its_process_backlogs(const MsiState& s) {
    for (u32 i = 0; i < s.its_count; ++i)
        if (s.its[i]->has_backlog()) s.its[i]->process_backlog();
}

Status add_its_frame(Vm& vm, u32 index, const MemRegion& frame) {
    if (index >= vm.its_count) return Status::out_of_range;
    HV_TRY(vm.mmio.add(frame.base, its::kControlFrameSize + its::kTranslaterFrameSize, &*vm.its[index]));
    vm.its_base[index] = frame.base;
    if (index == vm.its_mapped) vm.its_mapped = index + 1;  // frames are added in index order, stopping at a failure
    if (index == 0) {  // the exit vector's lock-free GITS_CREADR poll (vectors.S exit_its_poll)
        const its::Its& its = *vm.its[0];
        st().poll =
            ItsPoll{frame.base + its::reg(its::GitsReg::CREADR), &its.lockfree_backlog(), &its.lockfree_creadr()};
        for (u32 c = 0; c < kMaxCpus; ++c) percpu(c).its_poll = &st().poll;
    }
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
    st().its_count = 0;
    for (u32 i = 0; i < vm.its_count && i < kMaxVirtualIts; ++i) st().its[st().its_count++] = &*vm.its[i];
    DeviceHooks d;
    d.name = "its";
    d.self = &st();
    d.reset = [](void*, Vm&) { msi_vm_reset(); };
    d.log_stats = [](void*) { msi_log_stats(); };
    // A command queue with a backlog (its::kCommandsPerTrap per trap, docs/its.md "Batching") moves on by one batch
    // at each guest entry too, as a real ITS works through its queue without being polled. Otherwise one relaxed
    // load per ITS.
    d.before_entry = [](void* self, Vcpu&) {
        const MsiState& s = *static_cast<const MsiState*>(self);  // this runs at every entry: no VM lookup
        for (u32 i = 0; i < s.its_count; ++i)
            if (s.its[i]->has_backlog()) return its_process_backlogs(s);  // a leaf loop until then
    };
    HV_TRY(vm.add_device(d));

    return Status::ok;
}

Status msi_passthrough_init(Vm& vm, const PlatformInfo& plat, DirectMode mode) {
    const bool gicv4 = mode != DirectMode::off;
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
    // GICv4.0 host: one vPE per vCPU with a doorbell LPI each, and the mappings as vLPIs (direct injection).
    if (gicv4 && hits.virtual_capable() && !hits.vpes_ready()) {
        auto doorbells = hits.reserve_lpis(vm.vcpu_count);
        Status s =
            doorbells.ok() ? hits.init_vpes(vm.vcpu_count, cfg.vcpu_pcpu, doorbells.value()) : doorbells.status();
        if (s != Status::ok)
            HV_LOG_WARN("msi: GICv4 vPEs not set up (%s): passed-through MSIs take the shadow path", status_name(s));
    }
    cfg.direct = gicv4 && hits.vpes_ready();
    cfg.vlpi_limit = 1u << kVlpiIdBits;
    if (cfg.direct) {
        DeviceHooks d;
        d.name = "gicv4";
        d.before_entry = vpe_before_entry;
        d.has_pending = vpe_has_pending;
        d.put = vpe_put_hook;
        if (Status s = vm.add_device(d); s != Status::ok) {
            HV_LOG_WARN("msi: GICv4 residency hooks not registered (%s): shadow path", status_name(s));
            cfg.direct = false;
        }
    }
    if (Status s = st().shadow.init(cfg, hits); s != Status::ok) {
        HV_LOG_ERROR("msi: shadow table set-up failed (%s)", status_name(s));
        return s;
    }
    st().native_wfi = cfg.direct && mode == DirectMode::on;
    // Stateless: nothing is written through it. Its on_set_pending answers false but with direct injection: without
    // it the ITS does not ask (every INT).
    vm.its[0]->set_observer(&const_cast<ShadowObserver&>(kObserver), st().shadow.direct());
    st().shadow_ready = true;

    gic_set_lpi_handler(host_lpi_irq, nullptr);
    for (const DeviceIdRange& r : cfg.passthrough)
        HV_LOG_INFO("msi: DeviceIDs 0x%x..0x%x are passed through (host LPIs %u..%u)", r.first, r.first + r.count - 1,
                    cfg.host_lpi_base, cfg.host_lpi_base + cfg.cap - 1);
    HV_LOG_INFO("msi: virtual ITS at 0x%llx, doorbell = physical GITS_TRANSLATER 0x%llx",
                static_cast<unsigned long long>(frame.base),
                static_cast<unsigned long long>(hits.translater_address()));
    if (cfg.direct)
        HV_LOG_INFO(
            "msi: GICv4 direct injection: %u vPE(s), doorbells host LPIs %u..%u; passed-through MSIs are vLPIs"
            "; guest WFI %s",
            vm.vcpu_count, hits.doorbell_of(0), hits.doorbell_of(vm.vcpu_count - 1),
            st().native_wfi ? "not trapped (vPE stays resident)" : "trapped (doorbells wake it)");
    else if (hits.virtual_capable())
        HV_LOG_INFO("msi: GICv4 host GIC, direct injection off (gicv4=off or set-up failed): shadow path");
    return Status::ok;
}

u32 msi_vlpis_to_model(Vm& vm) {
    if (!msi_direct()) return 0;
    for (u32 i = 0; i < vm.vcpu_count && i < PlatformInfo::kMaxCpus; ++i) {
        MsiState::Vpe& p = st().vpes[i];
        if (!p.resident) continue;
        p.resident = false;  // re-loaded at the vCPU's next entry if the VM continues
        st().stats.vpe_puts.fetch_add(1, MemoryOrder::relaxed);
        (void)host_its().vpe_put(i);
    }
    struct Ctx {
        Vm& vm;
        u32 moved;
    } ctx{vm, 0};
    st().shadow.for_each_vlpi(
        [](void* c, u32 dev, u32 ev, u32 vintid, u32 vcpu) {
            Ctx& x = *static_cast<Ctx*>(c);
            if (!host_its().vlpi_pending_in_vpt(vcpu, vintid)) return;
            if (host_its().set_vlpi_pending(dev, ev, false) != Status::ok)
                HV_LOG_RATELIMITED(warn, "msi: CLEAR of vLPI %u (0x%x/%u) failed at save", vintid, dev, ev);
            x.vm.vgic.set_lpi_pending(vcpu, vintid, true);
            ++x.moved;
        },
        &ctx);
    if (ctx.moved > 0) HV_LOG_INFO("snapshot: %u pending vLPI(s) moved into the vGIC model", ctx.moved);
    return ctx.moved;
}

void msi_vm_reset() {
    // ITS 0 reports every mapping as unmapped: the shadows follow. The others have no observer.
    Vm& vm = the_vm();
    for (u32 i = 0; i < vm.its_count; ++i) vm.its[i]->reset();
    if (st().shadow_ready) st().shadow.clear();
}

}  // namespace hv::arch
