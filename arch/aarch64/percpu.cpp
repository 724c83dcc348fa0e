#include "arch/aarch64/percpu.hpp"

#include "arch/aarch64/sysreg.hpp"

namespace hv::arch {

namespace {
PerCpu g_percpu[kMaxCpus];
}

PerCpu& percpu(u32 index) { return g_percpu[index < kMaxCpus ? index : 0]; }

void percpu_init(u32 index) {
    PerCpu& p = percpu(index);
    p.index = index;
    p.mpidr = HV_READ_SYSREG(mpidr_el1) & 0xff00ffffffull;
    HV_WRITE_SYSREG(tpidr_el2, reinterpret_cast<u64>(&p));
    isb();
    __atomic_store_n(&p.online, true, __ATOMIC_RELEASE);
}

PerCpu& this_cpu() { return *reinterpret_cast<PerCpu*>(HV_READ_SYSREG(tpidr_el2)); }

u32 this_cpu_index() {
    u64 p = HV_READ_SYSREG(tpidr_el2);
    return p == 0 ? 0 : reinterpret_cast<PerCpu*>(p)->index;
}

u32 online_cpus() {
    u32 n = 0;
    for (auto& p : g_percpu)
        if (__atomic_load_n(&p.online, __ATOMIC_ACQUIRE)) ++n;
    return n;
}

}  // namespace hv::arch
