// The ports the running hypervisor gives the models (vm/vm.hpp VmPorts): the firmware platform (vCPU affinities,
// CPU_ON, random numbers) and the counter clock. Stateless: everything they answer comes from the VM or the CPU
// (and, for the clock, the value a snapshot froze it at: vm_snapshot.cpp).
#include "arch/aarch64/firmware_port.hpp"

#include "arch/aarch64/anchor.hpp"
#include "arch/aarch64/sysreg.hpp"
#include "arch/aarch64/vm_run.hpp"

namespace hv::arch {

namespace {

class VmFirmwarePlatform final : public psci::FirmwarePlatform {
public:
    u32 vcpu_count() const override { return the_vm().vcpu_count; }
    u64 vcpu_mpidr(u32 vcpu) const override {
        const Vm& vm = the_vm();
        return vcpu < vm.vcpu_count ? vm.vcpus[vcpu].mpidr : 0;
    }
    Status start_vcpu(u32 vcpu, u64 entry, u64 context_id) override {
        return arch::start_vcpu(vcpu, entry, context_id);
    }
    bool random64(u64& out) override {
        if (((HV_READ_SYSREG(id_aa64isar0_el1) >> 60) & 0xf) == 0) return false;  // no FEAT_RNG
        u64 v, ok;
        // RNDR (S3_3_C2_C4_0): NZCV = 0b0100 on failure.
        asm volatile("mrs %0, s3_3_c2_c4_0\n cset %1, ne" : "=r"(v), "=r"(ok)::"cc");
        out = v;
        return ok != 0;
    }
};
// Stateless ports (vtable only): constant at file scope (docs/architecture.md §4 "The anchors").
constinit const VmFirmwarePlatform kFirmwarePlatform;

class CounterClock final : public Clock {
public:
    u64 now() const override {
        const u64 frozen = hyp().snapshot_clock_frozen.load(MemoryOrder::relaxed);
        return frozen != 0 ? frozen : HV_READ_SYSREG(cntpct_el0);
    }
    u64 frequency() const override { return HV_READ_SYSREG(cntfrq_el0); }
};
constinit const CounterClock kClock;

}  // namespace

psci::FirmwarePlatform& firmware_platform() {
    return const_cast<VmFirmwarePlatform&>(kFirmwarePlatform);  // stateless: nothing is written through it
}
const Clock& counter_clock() { return kClock; }

}  // namespace hv::arch
