// reset_reboot: PSCI SYSTEM_RESET and SYSTEM_RESET2 reset the VM, not the machine (docs/boot.md "VM reset").
// The guest learns which boot it is from /chosen "hv,boot-count" (u32) and "hv,reset-reason" -- memory a reset may
// leave alone is never trusted for that:
//   boot 1 (cold):          start vCPU 1 spinning, dirty an initialised global, arm both EL1 timers, SYSTEM_RESET;
//   boot 2 (system-reset):  the global is back to its image value (the kernel module was restored), vCPU 1 is OFF
//                           again (every vCPU was stopped and the firmware reset), both timers are off with
//                           CVAL 0 (KVM's vCPU reset), then SYSTEM_RESET2 (warm);
//   boot 3 (system-reset2): reason and count checked, pass.
// A failed check in boot 1 or 2 ends the run there (no reset), so it shows in the summary.
//
// The module store the images are restored from is filled two ways (docs/boot.md "Boot cost"): preloaded by QEMU
// (tools/run-guest's `loader` devices, module_store=preloaded, the default) or copied by the hypervisor at boot.
//
// guest-tests: smp=2 mem=512M append="" hv_append="vcpus=2" expect=pass timeout=60
// guest-tests: variant=preloaded console="module store: \d+ KiB preloaded by the host, checked, not copied"
// guest-tests: variant=copied hv_append="vcpus=2 module_store=copy"
#include "lib/string.hpp"
#include "tests/guest/runtime/guest.hpp"

using namespace rt;

namespace {

constexpr u32 kImageValue = 0x600d'1da7;
volatile u32 g_initialised = kImageValue;  // .data: comes from the image, restored on every reset
volatile u32 g_spinning = 0;

void spin_forever(u32, void*) {
    g_spinning = 1;
    dsb_sy();
    for (;;) {
    }
}

i64 affinity_info(u64 mpidr) {
    return smccc_call(psci_conduit(), (psci::kAffinityInfo | psci::kSmc64), mpidr, 0).status();
}

constexpr u64 kTimerEnable = 1, kTimerImask = 2;

// Both EL1 timers enabled, masked (no interrupt), deadline 100 s ahead: state a VM reset must clear.
void arm_timers() {
    RT_WRITE_SYSREG(cntp_cval_el0, RT_READ_SYSREG(cntpct_el0) + counter_frequency() * 100);
    RT_WRITE_SYSREG(cntp_ctl_el0, kTimerEnable | kTimerImask);
    RT_WRITE_SYSREG(cntv_cval_el0, counter() + counter_frequency() * 100);
    RT_WRITE_SYSREG(cntv_ctl_el0, kTimerEnable | kTimerImask);
    isb();
}

bool wait_for(volatile u32* flag, u64 ms) {
    u64 deadline = counter() + counter_frequency() / 1000 * ms;
    while (!*flag && counter() < deadline) {
    }
    return *flag != 0;
}

}  // namespace

GUEST_TEST(reset_sequence) {
    REQUIRE_HYPERVISOR();
    const fdt::Reader& d = dt();
    i32 chosen = d.find_path("/chosen");
    ASSERT_GE(chosen, 0);
    u32 boot = d.prop_u32(chosen, "hv,boot-count").value_or(0);
    const char* reason = d.prop_string(chosen, "hv,reset-reason");
    printf("  boot %u, reason \"%s\", image global 0x%x\n", boot, reason ? reason : "(none)", g_initialised);
    ASSERT_TRUE(reason != nullptr);
    ASSERT_EQ(g_initialised, kImageValue);

    u64 mpidrs[kMaxCpus];
    ASSERT_EQ(dt_cpu_mpidrs(mpidrs, kMaxCpus), 2u);
    u64 self = RT_READ_SYSREG(mpidr_el1) & 0xff'00ff'ffffull;
    u64 other = mpidrs[0] == self ? mpidrs[1] : mpidrs[0];

    switch (boot) {
        case 1: {
            ASSERT_EQ(strcmp(reason, "cold"), 0);
            ASSERT_EQ(start_cpu(1, other, spin_forever, nullptr), psci::kPsciSuccess);
            ASSERT_TRUE(wait_for(&g_spinning, 2000));
            ASSERT_EQ(affinity_info(other), psci::kAffinityOn);
            g_initialised = 0xdead'beef;  // must not survive the reset
            dsb_sy();
            arm_timers();
            ASSERT_EQ(RT_READ_SYSREG(cntp_ctl_el0) & 3, kTimerEnable | kTimerImask);
            printf("  boot 1: vCPU 1 spinning, timers armed, calling SYSTEM_RESET\n");
            SmcccResult r = smccc_call(psci_conduit(), psci::kSystemReset);
            EXPECT_TRUE(false);  // SYSTEM_RESET does not return (DEN0022D 5.11)
            printf("  SYSTEM_RESET returned %lld\n", static_cast<long long>(r.status()));
            return;
        }
        case 2: {
            ASSERT_EQ(strcmp(reason, "system-reset"), 0);
            // After a reset only the boot vCPU is on (DEN0022D 5.11: as after a cold boot).
            ASSERT_EQ(affinity_info(other), psci::kAffinityOff);
            // The EL1 timers of boot 1 are gone: off, compare values 0.
            ASSERT_EQ(RT_READ_SYSREG(cntp_ctl_el0) & 3, 0u);
            ASSERT_EQ(RT_READ_SYSREG(cntp_cval_el0), 0u);
            ASSERT_EQ(RT_READ_SYSREG(cntv_ctl_el0) & 3, 0u);
            ASSERT_EQ(RT_READ_SYSREG(cntv_cval_el0), 0u);
            g_initialised = 0xdead'beef;
            dsb_sy();
            printf("  boot 2: calling SYSTEM_RESET2 (warm)\n");
            SmcccResult r = smccc_call(psci_conduit(), (psci::kSystemReset2 | psci::kSmc64), 0, 0);
            EXPECT_TRUE(false);
            printf("  SYSTEM_RESET2 returned %lld\n", static_cast<long long>(r.status()));
            return;
        }
        case 3:
            EXPECT_EQ(strcmp(reason, "system-reset2"), 0);
            EXPECT_EQ(affinity_info(other), psci::kAffinityOff);
            // vCPU 1 can be started again after the resets.
            EXPECT_EQ(start_cpu(1, other, spin_forever, nullptr), psci::kPsciSuccess);
            EXPECT_TRUE(wait_for(&g_spinning, 2000));
            printf("  boot 3: reset sequence complete\n");
            return;
        default:
            printf("  unexpected boot count %u\n", boot);
            EXPECT_TRUE(false);
            return;
    }
}
