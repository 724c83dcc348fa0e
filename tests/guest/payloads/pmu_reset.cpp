// pmu_reset: every vCPU's PMU starts from its reset state (docs/boot.md "PMU"), as under KVM: after PSCI CPU_OFF +
// CPU_ON of a vCPU, and after a VM reset (SYSTEM_RESET) for every vCPU -- PMCR_EL0.E = 0, no counter enabled, no
// overflow, no interrupt enable, counters, selection and PMUSERENR 0 -- and no PMU interrupt is left pending.
//   boot 1 (cold):          vCPU 1 dirties its PMU and powers off; started again it finds the reset state. Both
//                           vCPUs then dirty their PMU (overflow pending, counting), vCPU 1 spins, SYSTEM_RESET.
//   boot 2 (system-reset):  vCPU 0 and a freshly started vCPU 1 find the reset state.
//
// guest-tests: smp=2 mem=512M append="" hv_append="vcpus=2" expect=pass timeout=60
#include "tests/guest/runtime/guest.hpp"

using namespace rt;

namespace {

constexpr u32 kPmuPpi = 23;

struct PmuView {
    u64 pmcr, cntenset, intenset, ovsset, selr, userenr, ccntr, evcntr0, evtyper0;
};

PmuView read_pmu() {
    PmuView v;
    v.pmcr = RT_READ_SYSREG(pmcr_el0);
    v.cntenset = RT_READ_SYSREG(pmcntenset_el0);
    v.intenset = RT_READ_SYSREG(pmintenset_el1);
    v.ovsset = RT_READ_SYSREG(pmovsset_el0);
    v.selr = RT_READ_SYSREG(pmselr_el0);
    v.userenr = RT_READ_SYSREG(pmuserenr_el0);
    v.ccntr = RT_READ_SYSREG(pmccntr_el0);
    RT_WRITE_SYSREG(pmselr_el0, 0);
    isb();
    v.evcntr0 = RT_READ_SYSREG(pmxevcntr_el0);
    v.evtyper0 = RT_READ_SYSREG(pmxevtyper_el0);
    RT_WRITE_SYSREG(pmselr_el0, v.selr);
    isb();
    return v;
}

// Counting on, counter 0 (SW_INCR) and the cycle counter enabled, counter 0 overflowed with its interrupt on
// (the request is up; IRQs are masked, so nothing takes it), a selection and EL0 access set.
void dirty_pmu(u64 tag) {
    RT_WRITE_SYSREG(pmselr_el0, 0);
    isb();
    RT_WRITE_SYSREG(pmxevtyper_el0, 0x8000'0000u);  // SW_INCR, P
    RT_WRITE_SYSREG(pmxevcntr_el0, tag);
    RT_WRITE_SYSREG(pmccntr_el0, tag << 8);
    RT_WRITE_SYSREG(pmcntenset_el0, 0x8000'0001u);
    RT_WRITE_SYSREG(pmintenset_el1, 0x1u);
    RT_WRITE_SYSREG(pmovsset_el0, 0x1u);
    RT_WRITE_SYSREG(pmuserenr_el0, 0xfu);
    RT_WRITE_SYSREG(pmselr_el0, 2);
    RT_WRITE_SYSREG(pmcr_el0, 0x41);  // E, LC
    isb();
}

bool expect_reset(const PmuView& v, const char* who) {
    bool ok = EXPECT_EQ(v.pmcr & 0xff, 0x40u);  // LC only (KVM's reset value for an AArch64-only guest)
    ok &= EXPECT_EQ(v.cntenset, 0u);
    ok &= EXPECT_EQ(v.intenset, 0u);
    ok &= EXPECT_EQ(v.ovsset, 0u);
    ok &= EXPECT_EQ(v.selr, 0u);
    ok &= EXPECT_EQ(v.userenr, 0u);
    ok &= EXPECT_EQ(v.ccntr, 0u);
    ok &= EXPECT_EQ(v.evcntr0, 0u);
    ok &= EXPECT_EQ(v.evtyper0, 0u);
    if (!ok) printf("  %s: PMU not in its reset state\n", who);
    return ok;
}

volatile u32 g_done = 0;
volatile u32 g_spinning = 0;
PmuView g_cpu1;

void cpu1_dirty_and_off(u32, void*) {
    dirty_pmu(0x1111);
    g_done = 1;
    dsb_sy();
}  // returns: CPU_OFF

void cpu1_report(u32, void*) {
    g_cpu1 = read_pmu();
    dsb_sy();
    g_done = 1;
    dsb_sy();
}

void cpu1_dirty_and_spin(u32, void*) {
    dirty_pmu(0x2222);
    g_spinning = 1;
    dsb_sy();
    for (;;) {
    }
}

bool wait_for(volatile u32* flag, u64 ms) {
    const u64 deadline = counter() + ms_ticks(ms);
    while (!*flag && counter() < deadline) {
    }
    return *flag != 0;
}

// AFFINITY_INFO says OFF (1) once the target's CPU_OFF has completed (DEN0022D 5.7): until then CPU_ON may
// correctly answer ALREADY_ON.
bool wait_off(u64 mpidr, u64 ms) {
    const u64 deadline = counter() + ms_ticks(ms);
    while (counter() < deadline)
        if (smccc_call(psci_conduit(), psci::kAffinityInfo | psci::kSmc64, mpidr, 0).status() == 1) return true;
    return false;
}

// vCPU 1 started on `fn`; waits for it to set g_done (and, for a returning fn, to power off).
bool run_on_cpu1(u64 mpidr, CpuFn fn) {
    g_done = 0;
    dsb_sy();
    if (!EXPECT_EQ(start_cpu(1, mpidr, fn, nullptr), psci::kPsciSuccess)) return false;
    return EXPECT_TRUE(wait_for(&g_done, 2000)) && EXPECT_TRUE(wait_slot(cpu_finished, 1, 2000)) &&
           EXPECT_TRUE(wait_off(mpidr, 2000));
}

}  // namespace

GUEST_TEST(pmu_reset_state) {
    REQUIRE_HYPERVISOR();
    ASSERT_NE((RT_READ_SYSREG(id_aa64dfr0_el1) >> 8) & 0xf, 0u);
    ASSERT_TRUE(gic::init());
    const fdt::Reader& d = dt();
    const i32 chosen = d.find_path("/chosen");
    ASSERT_GE(chosen, 0);
    const u32 boot = d.prop_u32(chosen, "hv,boot-count").value_or(0);
    const u64 other = dt_other_cpu();
    ASSERT_NE(other, ~u64{0});
    printf("  boot %u\n", boot);

    // Every boot: this vCPU's PMU is the reset one, with nothing pending.
    ASSERT_TRUE(expect_reset(read_pmu(), "vCPU 0"));
    ASSERT_FALSE(gic::is_pending(kPmuPpi));

    switch (boot) {
        case 1: {
            // CPU_OFF + CPU_ON resets the vCPU's PMU.
            ASSERT_TRUE(run_on_cpu1(other, cpu1_dirty_and_off));
            ASSERT_TRUE(run_on_cpu1(other, cpu1_report));
            ASSERT_TRUE(expect_reset(g_cpu1, "vCPU 1 after CPU_OFF/CPU_ON"));
            // Now both dirty, and a VM reset.
            ASSERT_EQ(start_cpu(1, other, cpu1_dirty_and_spin, nullptr), psci::kPsciSuccess);
            ASSERT_TRUE(wait_for(&g_spinning, 2000));
            dirty_pmu(0x3333);
            ASSERT_TRUE(gic::is_pending(kPmuPpi) || read_pmu().ovsset == 1);
            printf("  boot 1: both PMUs dirty, calling SYSTEM_RESET\n");
            (void)smccc_call(psci_conduit(), psci::kSystemReset);
            EXPECT_TRUE(false);  // SYSTEM_RESET does not return
            return;
        }
        case 2:
            ASSERT_TRUE(run_on_cpu1(other, cpu1_report));
            EXPECT_TRUE(expect_reset(g_cpu1, "vCPU 1 after the VM reset"));
            return;
        default:
            EXPECT_TRUE(false);
            return;
    }
}
