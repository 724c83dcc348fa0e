#include "arch/aarch64/percpu.hpp"

#include "arch/aarch64/anchor.hpp"
#include "arch/aarch64/sysreg.hpp"

namespace hv::arch {

PerCpu& percpu(u32 index) { return hyp().cpus[index < kMaxCpus ? index : 0]; }

void percpu_init(u32 index) {
    PerCpu& p = percpu(index);
    p.index = index;
    p.mpidr = arm::mpidr_affinity(HV_READ_SYSREG(mpidr_el1));
    p.sgi_target = gic_sgi_target(p.mpidr);
    HV_WRITE_SYSREG(tpidr_el2, reinterpret_cast<u64>(&p));
    isb();
    p.online.store(true, MemoryOrder::release);
}

u32 online_cpus() {
    u32 n = 0;
    while (n < kMaxCpus && cpu_boot_state(n) == CpuBoot::ready) ++n;
    return n;
}

CpuBoot cpu_boot_state(u32 index) {
    if (index >= kMaxCpus) return CpuBoot::off;
    return static_cast<CpuBoot>(hyp().cpus[index].boot.load(MemoryOrder::acquire));
}

void cpu_boot_set(u32 index, CpuBoot s) {
    if (index < kMaxCpus) hyp().cpus[index].boot.store(static_cast<u32>(s), MemoryOrder::release);
}

bool cpu_boot_transition(u32 index, CpuBoot from, CpuBoot to) {
    if (index >= kMaxCpus) return false;
    u32 expected = static_cast<u32>(from);
    // Release: the GIC state a secondary set up (gic_redistributor) is visible to whoever acquires `ready`.
    return hyp().cpus[index].boot.compare_exchange(expected, static_cast<u32>(to),
                                                   MemoryOrder::acq_rel);  // fail: acquire
}

}  // namespace hv::arch
