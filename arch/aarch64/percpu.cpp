#include "arch/aarch64/percpu.hpp"

#include "arch/aarch64/anchor.hpp"
#include "arch/aarch64/sysreg.hpp"

namespace hv::arch {


PerCpu& percpu(u32 index) { return hyp().cpus[index < kMaxCpus ? index : 0]; }

void percpu_init(u32 index) {
    PerCpu& p = percpu(index);
    p.index = index;
    p.mpidr = HV_READ_SYSREG(mpidr_el1) & 0xff00ffffffull;
    HV_WRITE_SYSREG(tpidr_el2, reinterpret_cast<u64>(&p));
    isb();
    __atomic_store_n(&p.online, true, __ATOMIC_RELEASE);
}


u32 online_cpus() {
    u32 n = 0;
    while (n < kMaxCpus && cpu_boot_state(n) == CpuBoot::ready) ++n;
    return n;
}

CpuBoot cpu_boot_state(u32 index) {
    if (index >= kMaxCpus) return CpuBoot::off;
    return static_cast<CpuBoot>(__atomic_load_n(&hyp().cpus[index].boot, __ATOMIC_ACQUIRE));
}

void cpu_boot_set(u32 index, CpuBoot s) {
    if (index < kMaxCpus) __atomic_store_n(&hyp().cpus[index].boot, static_cast<u32>(s), __ATOMIC_RELEASE);
}

bool cpu_boot_transition(u32 index, CpuBoot from, CpuBoot to) {
    if (index >= kMaxCpus) return false;
    u32 expected = static_cast<u32>(from);
    // Release: the GIC state a secondary set up (gic_redistributor) is visible to whoever acquires `ready`.
    return __atomic_compare_exchange_n(&hyp().cpus[index].boot, &expected, static_cast<u32>(to), false, __ATOMIC_ACQ_REL,
                                       __ATOMIC_ACQUIRE);
}

}  // namespace hv::arch
