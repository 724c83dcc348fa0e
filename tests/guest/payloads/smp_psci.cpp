// smp_psci: secondary vCPUs come up through PSCI CPU_ON over HVC (DEN0022D 5.6), run code on their own stacks with
// their own MPIDR, report ALREADY_ON when started twice, and go away with CPU_OFF (AFFINITY_INFO says so).
//
// guest-tests: smp=2 mem=512M append="expect_cpus=2" hv_append="vcpus=2" expect=pass
#include "tests/guest/runtime/guest.hpp"

using namespace rt;

namespace {

volatile u64 g_seen_mpidr[kMaxCpus];
volatile u32 g_seen_el[kMaxCpus];
volatile u32 g_release = 0;

void secondary(u32 slot, void*) {
    g_seen_mpidr[slot] = RT_READ_SYSREG(mpidr_el1) & 0xff'00ff'ffffull;
    g_seen_el[slot] = current_el();
    dsb_sy();
    u64 deadline = counter() + counter_frequency() * 2;
    while (!g_release && counter() < deadline) {
    }
}

bool wait_until(bool (*cond)(u32), u32 slot, u64 ms) {
    u64 deadline = counter() + counter_frequency() / 1000 * ms;
    while (!cond(slot) && counter() < deadline) {
    }
    return cond(slot);
}

i64 affinity_info(u64 mpidr) {
    return smccc_call(psci_conduit(), (psci::kAffinityInfo | psci::kSmc64), mpidr, 0).status();
}

}  // namespace

GUEST_TEST(secondaries_start_and_stop) {
    u64 mpidrs[kMaxCpus];
    u32 n = dt_cpu_mpidrs(mpidrs, kMaxCpus);
    ASSERT_EQ(n, bootarg_u64("expect_cpus", 0));
    u64 self = RT_READ_SYSREG(mpidr_el1) & 0xff'00ff'ffffull;
    u32 slot = 1;
    for (u32 i = 0; i < n; ++i) {
        if (mpidrs[i] == self) {
            EXPECT_EQ(affinity_info(self), 0);  // ON (DEN0022D 5.7)
            continue;
        }
        EXPECT_EQ(affinity_info(mpidrs[i]), 1);  // OFF before CPU_ON
        g_release = 0;
        EXPECT_EQ(start_cpu(slot, mpidrs[i], secondary, nullptr), psci::kPsciSuccess);
        EXPECT_TRUE(wait_until(cpu_started, slot, 1000));
        // A second CPU_ON of a running CPU: ALREADY_ON (DEN0022D 5.6.2).
        EXPECT_EQ(psci_cpu_on(mpidrs[i], 0x5000'0000, 0), psci::kPsciAlreadyOn);
        EXPECT_EQ(affinity_info(mpidrs[i]), 0);
        g_release = 1;
        dsb_sy();
        EXPECT_TRUE(wait_until(cpu_finished, slot, 1000));
        EXPECT_EQ(g_seen_mpidr[slot], mpidrs[i]);
        EXPECT_EQ(g_seen_el[slot], 1u);
        // CPU_OFF happens right after `finished`; give it a moment, then AFFINITY_INFO reports OFF.
        u64 deadline = counter() + counter_frequency() / 10;
        while (affinity_info(mpidrs[i]) != 1 && counter() < deadline) {
        }
        EXPECT_EQ(affinity_info(mpidrs[i]), 1);
        ++slot;
    }
    EXPECT_EQ(slot, n);  // every other CPU was exercised
}

GUEST_TEST(cpu_on_bad_target) {
    // An MPIDR that names no vCPU: INVALID_PARAMETERS (DEN0022D 5.6.2).
    EXPECT_EQ(psci_cpu_on(0xff'00ff'ff00ull, 0x5000'0000, 0), psci::kPsciInvalidParameters);
}
