#include "vm/vm.hpp"

#include "lib/log.hpp"

namespace hv {

Vcpu* Vm::vcpu_by_mpidr(u64 mpidr) {
    for (u32 i = 0; i < vcpu_count; ++i)
        if (arm::mpidr_affinity(vcpus[i].mpidr) == arm::mpidr_affinity(mpidr)) return &vcpus[i];
    return nullptr;
}

Status DeviceHookLists::add(const DeviceHooks& d) {
    if (all_.full()) return Status::no_memory;  // every list has the same capacity: none can be full now
    (void)all_.push_back(d);
    auto pack = [&](auto& list, auto fn) {
        if (fn != nullptr) (void)list.push_back({fn, d.self});
    };
    pack(before_entry_, d.before_entry);
    pack(after_exit_, d.after_exit);
    pack(has_pending_, d.has_pending);
    pack(reset_, d.reset);
    pack(put_, d.put);
    pack(sysreg_, d.sysreg);
    pack(hypercall_, d.hypercall);
    if (d.hypercall != nullptr) (void)claims_.push_back({d.hypercall_fid_mask, d.hypercall_fid_match});
    pack(entry_needs_context_, d.entry_needs_context);
    pack(log_stats_, d.log_stats);
    pack(run_pending_, d.run_pending);
    return Status::ok;
}

void DeviceHookLists::reset(Vm& vm) const {
    for (const auto& h : reset_) h.fn(h.self, vm);
}

void DeviceHookLists::log_stats() const {
    for (const auto& h : log_stats_) h.fn(h.self);
}

namespace {

Status check(const Vm& vm, const VmConfig& cfg, const VmPorts& ports) {
    if (ports.firmware == nullptr || ports.sdei == nullptr || ports.kicker == nullptr || ports.clock == nullptr)
        return Status::invalid_argument;
    if (cfg.vcpu_count == 0 || cfg.vcpu_count > Vm::kMaxVcpus || cfg.vcpu_count != vm.vcpu_count)
        return Status::invalid_argument;
    if (cfg.its_count > Vm::kMaxIts) return Status::invalid_argument;
    if (cfg.uart && ports.uart_backend == nullptr) return Status::invalid_argument;
    return Status::ok;
}

Status build_models(Vm& vm, const VmConfig& cfg, const VmPorts& ports) {
    HV_TRY(vm.firmware.init(*ports.firmware, vm.memory, cfg.firmware));
    HV_TRY(vm.sdei.init(*ports.sdei, vm.memory, cfg.sdei));
    vgic::VgicConfig vcfg = cfg.vgic;
    vcfg.nr_vcpus = cfg.vcpu_count;
    for (u32 i = 0; i < cfg.vcpu_count; ++i) vcfg.mpidr[i] = arm::mpidr_affinity(cfg.mpidr[i]);
    HV_TRY(vm.vgic.init(vcfg, vm.memory, *ports.kicker, ports.hw_irq));
    // SDEI INTERRUPT_BIND: the vGIC diverts bound INTIDs to the dispatcher, which binds and releases them there.
    vm.vgic.set_bound_sink(&vm.sdei);
    vm.sdei.set_binder(&vm.vgic);
    for (u32 i = 0; i < cfg.its_count; ++i) {
        vm.its[i].construct(vm.memory, vm.vgic, i == 0 ? ports.its0_observer : nullptr);
        // A per-VM secret keys the translation hash, so guest-chosen IDs cannot build long chains
        // (docs/isolation.md). Without a random source the fixed default stays (logged).
        u64 seed = 0;
        if (ports.firmware->random64(seed))
            (void)vm.its[i].get().set_hash_seed(seed);
        else
            HV_LOG_WARN("its%u: no random source: translation hash keyed with the default", i);
    }
    vm.its_count = cfg.its_count;
    if (cfg.uart) vm.uart.construct(*ports.uart_backend);
    return Status::ok;
}

}  // namespace

Status build_vm(Vm& vm, const VmConfig& cfg, const VmPorts& ports) {
    if (vm.regs_.built()) return Status::busy;
    HV_TRY(check(vm, cfg, ports));
    HV_TRY(build_models(vm, cfg, ports));
    vm.firmware.set_power_observer(&vm.sdei_power_);  // CPU_OFF / CPU_ON reset the PE's private SDEI events

    vm.pmu_config_ = cfg.pmu;  // the PMU class keeps a reference
    Vm::Registers& r = vm.regs_.construct(vm, *ports.clock, vm.pmu_config_, cfg.vgic.ich_vtr, cfg);
    reglist::RegisterCatalogue& cat = vm.catalogue_;
    cat.set_vcpu_count(vm.vcpu_count);
    HV_TRY(cat.add(r.ids));  // first: the VM's shape, checked and restored before anything else
    HV_TRY(cat.add(r.core));
    HV_TRY(cat.add(r.sys));
    HV_TRY(cat.add(r.pmu));
    HV_TRY(cat.add(r.firmware));
    HV_TRY(r.vgic.add_to(cat));
    if (vm.its_count > 0) r.its_check.construct(vm.vcpu_count);
    for (u32 i = 0; i < vm.its_count; ++i) {
        its::ItsRegisterClass& c = r.its[i].construct(vm.its[i].get(), i);
        c.set_restore_check(&r.its_check.get());  // snapshots: the ITS tables checked before anything changes
        HV_TRY(cat.add(c));
    }
    HV_TRY(r.sdei.add_to(cat));
    HV_TRY(r.sdei_check.init(*ports.sdei, vm.memory, cfg.sdei, &vm.vgic));
    r.sdei.commit.set_restore_check(&r.sdei_check);  // snapshots: SDEI consistency checked before anything changes
    HV_TRY(cat.add(r.mp_state));
    if (vm.uart.built()) HV_TRY(cat.add(r.uart.construct(*vm.uart)));
    return Status::ok;
}

}  // namespace hv
