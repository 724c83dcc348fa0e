#include "arch/aarch64/sdei_glue.hpp"

#include "arch/aarch64/vm_run.hpp"
#include "lib/atomic.hpp"
#include "lib/log.hpp"

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

constinit VmSdeiPlatform g_sdei_platform;
constinit Atomic<bool> g_sdei_ready;  // delivery starts once the VM exists

}  // namespace

sdei::SdeiPlatform& sdei_platform() { return g_sdei_platform; }

Status sdei_vm_init(Vm& vm) {
    if (!g_sdei_ready.load()) HV_TRY(add_reset_hook([](Vm& v, void*) { v.sdei.reset(); }, nullptr));
    g_sdei_ready.store(true);
    (void)vm;
    return Status::ok;
}

bool sdei_handle_call(Vcpu& v) {
    if (!g_sdei_ready.load()) return false;
    if (!sdei::is_sdei_fid(static_cast<u32>(v.ctx.core.x[0]))) return false;
    the_vm().sdei.handle(v.id, v.ctx);
    return true;
}

void sdei_before_entry(Vcpu& v) {
    if (!g_sdei_ready.load()) return;
    (void)the_vm().sdei.deliver(v.id, v.ctx);
}

bool sdei_has_pending(Vcpu& v) { return g_sdei_ready.load() && the_vm().sdei.has_deliverable(v.id); }

}  // namespace hv::arch
