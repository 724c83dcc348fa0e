#include "arch/aarch64/sdei_glue.hpp"

#include "arch/aarch64/vm_run.hpp"
#include "lib/log.hpp"
#include "sdei/reglist_class.hpp"

// Placement new (no <new> in the freestanding build; the same definition as boot/main.cpp).
inline void* operator new(hv::usize, void* p) noexcept { return p; }

namespace hv::arch {

namespace {

class VmSdeiPlatform final : public sdei::SdeiPlatform {
public:
    u32 vcpu_count() const override { return the_vm().vcpu_count; }
    u64 vcpu_mpidr(u32 vcpu) const override {
        const Vm& vm = the_vm();
        return vcpu < vm.vcpu_count ? vm.vcpus[vcpu].mpidr : ~u64{0};
    }
    void kick(u32 vcpu) override { kick_vcpu(vcpu); }
};

VmSdeiPlatform g_sdei_platform;
sdei::Sdei g_sdei;
bool g_sdei_ready = false;
// Placement construction: no global constructor.
alignas(sdei::SdeiRegisterClasses) u8 g_sdei_regs_storage[sizeof(sdei::SdeiRegisterClasses)];
sdei::SdeiRegisterClasses* g_sdei_regs = nullptr;

void sdei_reset_hook(Vm&, void*) { g_sdei.reset(); }

}  // namespace

Status sdei_vm_init(Vm& vm) {
    HV_TRY(g_sdei.init(g_sdei_platform, vm.memory, sdei::SdeiConfig{}));
    if (!g_sdei_ready) HV_TRY(add_reset_hook(sdei_reset_hook, nullptr));
    __atomic_store_n(&g_sdei_ready, true, __ATOMIC_RELEASE);
    return Status::ok;
}

sdei::Sdei& vm_sdei() { return g_sdei; }

Status sdei_add_registers(reglist::RegisterCatalogue& cat) {
    if (g_sdei_regs != nullptr) return Status::ok;
    g_sdei_regs = new (g_sdei_regs_storage) sdei::SdeiRegisterClasses(g_sdei);
    return g_sdei_regs->add_to(cat);
}

bool sdei_handle_call(Vcpu& v) {
    if (!__atomic_load_n(&g_sdei_ready, __ATOMIC_ACQUIRE)) return false;
    if (!sdei::is_sdei_fid(static_cast<u32>(v.ctx.core.x[0]))) return false;
    g_sdei.handle(v.id, v.ctx);
    return true;
}

void sdei_before_entry(Vcpu& v) {
    if (!__atomic_load_n(&g_sdei_ready, __ATOMIC_ACQUIRE)) return;
    (void)g_sdei.deliver(v.id, v.ctx);
}

bool sdei_has_pending(Vcpu& v) {
    return __atomic_load_n(&g_sdei_ready, __ATOMIC_ACQUIRE) && g_sdei.has_deliverable(v.id);
}

}  // namespace hv::arch
