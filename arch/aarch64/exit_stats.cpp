#include "arch/aarch64/exit_stats.hpp"

#include "arch/aarch64/msi_passthrough.hpp"
#include "arch/aarch64/smmu.hpp"
#include "arch/aarch64/sysreg.hpp"
#include "arch/aarch64/vgic_glue.hpp"
#include "arch/aarch64/vm_run.hpp"
#include "lib/log.hpp"

namespace hv::arch {

namespace {
ExitStats g_exit_stats[PlatformInfo::kMaxCpus];
}  // namespace

ExitStats& exit_stats(u32 vcpu) { return g_exit_stats[vcpu < PlatformInfo::kMaxCpus ? vcpu : 0]; }

void log_exit_stats() {
    u64 freq = HV_READ_SYSREG(cntfrq_el0);
    if (freq == 0) freq = 1;
    for (u32 i = 0; i < the_vm().vcpu_count && i < PlatformInfo::kMaxCpus; ++i) {
        const ExitStats& e = g_exit_stats[i];
        auto ld = [](const u64& c) { return static_cast<unsigned long long>(__atomic_load_n(&c, __ATOMIC_RELAXED)); };
        HV_LOG_INFO(
            "stats: vcpu%u exits irq=%llu hvc=%llu smc=%llu dabt=%llu sysreg=%llu wfi=%llu other=%llu "
            "wfi_idle_ms=%llu",
            i, ld(e.irq), ld(e.hvc), ld(e.smc), ld(e.dabt), ld(e.sysreg), ld(e.wfi), ld(e.other),
            ld(e.wfi_wait_ns) * 1000 / freq);
    }
    msi_log_stats();
    smmu_log_stats();
    vgic_log_forwarded_spi_stats();
}

}  // namespace hv::arch
