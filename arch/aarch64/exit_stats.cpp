#include "arch/aarch64/exit_stats.hpp"

#include "arch/aarch64/percpu.hpp"
#include "arch/aarch64/sysreg.hpp"
#include "arch/aarch64/vm_run.hpp"
#include "lib/log.hpp"

namespace hv::arch {

void log_exit_stats() {
    u64 freq = HV_READ_SYSREG(cntfrq_el0);
    if (freq == 0) freq = 1;
    for (u32 i = 0; i < the_vm().vcpu_count && i < PlatformInfo::kMaxCpus; ++i) {
        const ExitStats& e = percpu(the_vm().vcpus[i].pcpu).exits;  // vCPU i is pinned to that pCPU
        auto ld = [](const Atomic<u64>& c) { return static_cast<unsigned long long>(c.load(MemoryOrder::relaxed)); };
        HV_LOG_INFO(
            "stats: vcpu%u exits irq=%llu hvc=%llu smc=%llu dabt=%llu sysreg=%llu wfi=%llu other=%llu "
            "wfi_idle_ms=%llu off_wakes=%llu fast=%llu",
            i, ld(e.irq), ld(e.hvc), ld(e.smc), ld(e.dabt), ld(e.sysreg), ld(e.wfi), ld(e.other),
            ld(e.wfi_wait_ns) * 1000 / freq, ld(e.off_wakes), ld(e.fast));
    }
    the_vm().devices().log_stats();  // the devices' counters (vGIC SPIs, MSI, SMMU)
}

}  // namespace hv::arch
