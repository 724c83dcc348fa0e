// The machine below the hypervisor: cache maintenance for images the guest reads with its MMU off, and power-off /
// reset through QEMU's PSCI firmware.
#include "arch/aarch64/panic.hpp"
#include "arch/aarch64/sysreg.hpp"
#include "arch/aarch64/vm_run.hpp"
#include "psci/ids.hpp"

namespace hv::arch {

void clean_dcache_to_poc(u64 va, u64 size) {
    if (size == 0) return;
    const u64 ctr = HV_READ_SYSREG(ctr_el0);
    const u64 line = u64{4} << ((ctr >> 16) & 0xf);  // DminLine: log2 of words
    for (u64 a = va & ~(line - 1); a < va + size; a += line) asm volatile("dc cvac, %0" ::"r"(a) : "memory");
    dsb_sy();
}

void invalidate_icache_all() {
    asm volatile("ic ialluis" ::: "memory");
    dsb_ish();
    isb();
}

void machine_system_off() {
    hv_smc_call(psci::kSystemOff, 0, 0, 0);  // PSCI SYSTEM_OFF (DEN0022D 5.10): QEMU exits with status 0
    panic("PSCI SYSTEM_OFF returned");
}

void machine_system_reset() {
    hv_smc_call(psci::kSystemReset, 0, 0, 0);  // PSCI SYSTEM_RESET
    panic("PSCI SYSTEM_RESET returned");
}

}  // namespace hv::arch
