#include "arch/aarch64/sdei_glue.hpp"

#include "arch/aarch64/vm_run.hpp"

namespace hv::arch {

namespace {

// Stateless port: everything it answers comes from the VM object.
class VmSdeiPlatform final : public sdei::SdeiPlatform {
public:
    u32 vcpu_count() const override { return the_vm().vcpu_count; }
    u64 vcpu_mpidr(u32 vcpu) const override {
        const Vm& vm = the_vm();
        return vcpu < vm.vcpu_count ? vm.vcpus[vcpu].mpidr : ~u64{0};
    }
    void kick(u32 vcpu) override { kick_vcpu(vcpu); }
};

// A stateless port (vtable only): constant, allowed at file scope (docs/architecture.md §4 "The anchors").
constinit const VmSdeiPlatform kSdeiPlatform;

sdei::Sdei& sdei_of(void* self) { return *static_cast<sdei::Sdei*>(self); }

// A trapped HVC/SMC (PC already past an SMC): an SDEI function ID is handled here, with the whole context.
bool handle_call(void* self, Vm&, Vcpu& v) {
    if (!sdei::is_sdei_fid(static_cast<u32>(v.ctx.core.x[0]))) return false;
    sdei_of(self).handle(v.id, v.ctx);
    return true;
}

// Right before entering `v`: enter a pending event's handler if one can be taken.
// The hint first, inline: nothing pending anywhere (the usual case) costs one load on every entry.
void before_entry(void* self, Vcpu& v) {
    if (sdei_of(self).maybe_pending()) (void)sdei_of(self).deliver(v.id, v.ctx);
}

// An SDEI event `v` could take now ends a WFI wait (it ignores PSTATE.I).
bool has_pending(void* self, Vcpu& v) { return sdei_of(self).maybe_pending() && sdei_of(self).has_deliverable(v.id); }

void reset(void* self, Vm&) { sdei_of(self).reset(); }

}  // namespace

sdei::SdeiPlatform& sdei_platform() { return const_cast<VmSdeiPlatform&>(kSdeiPlatform); }

Status sdei_vm_init(Vm& vm) {
    DeviceHooks d;
    d.name = "sdei";
    d.self = &vm.sdei;
    d.hypercall = handle_call;
    d.hypercall_fid_mask = sdei::kFnMask;  // is_sdei_fid
    d.hypercall_fid_match = sdei::kFnBase;
    d.before_entry = before_entry;
    d.entry_needs_context = has_pending;  // exactly what deliver() would deliver (Sdei::deliverable_locked)
    d.has_pending = has_pending;
    d.reset = reset;
    return vm.add_device(d);
}

}  // namespace hv::arch
