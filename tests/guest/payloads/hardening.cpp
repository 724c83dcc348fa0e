// hardening: EL2 hardening as far as a guest can see it, plus the hypervisor's own boot-time self-checks read from
// the console (docs/boot.md "EL2 hardening"):
//  * HCR_EL2.TIDCP: an IMPLEMENTATION DEFINED system register (S3_x_C15_x / S3_x_C11_x) is an UNDEF at EL1;
//  * HCR_EL2.TACR: ACTLR_EL1 reads the vCPU's value and writes are ignored (the CPU's ACTLR stays the hypervisor's);
//  * the SMCCC_ARCH_WORKAROUND_1/3 answers match what EL2 does for this CPU model (MIDR/CSV2: QEMU's max is
//    unaffected; cortex-a72 has no CSV2: WA1 NOT_SUPPORTED (QEMU's firmware has no WORKAROUND_1), WA3 SUCCESS
//    (the hypervisor runs the BHB loop on every entry), and the calls themselves return;
//  * the console (`console=`): `hardening: W^X ok`, `stack protector on`, the branch-predictor decision.
// Variants with `debug_fault=` make the hypervisor commit a deliberate EL2 fault right after its self-check and
// expect the panic with a clear message (expect=panic): executing from .data (W^X), a stack overflow into the guard
// page, a smashed stack canary.
//
// clang-format off
// guest-tests: smp=1 mem=512M hv_append="vcpus=1" expect=pass
// guest-tests: variant=max console="hardening: W\^X ok: text 0x[0-9a-f]+\.\.0x[0-9a-f]+ RX(?s:.*)stack protector on(?s:.*)Spectre-v2: not affected; BHB: not affected"
// guest-tests: variant=a72 append="expect_bp=a72" run_guest="--cpu cortex-a72" console="hardening: W\^X ok(?s:.*)BHB: BHB-clearing loop on entry \(k=8\); guest WORKAROUND_1 level 0, WORKAROUND_3 level 1"
// guest-tests: variant=exec_data hv_append="vcpus=1 debug_fault=exec_data" expect=panic timeout=30 console="PANIC: unexpected sync exception at EL2: .*\(EC 0x21\)(?s:.*)HYPERVISOR PANIC"
// guest-tests: variant=stack_overflow hv_append="vcpus=1 debug_fault=stack_overflow" expect=panic timeout=30 console="PANIC: EL2 stack overflow: SP 0x[0-9a-f]+ is in the guard page(?s:.*)HYPERVISOR PANIC"
// guest-tests: variant=stack_smash hv_append="vcpus=1 debug_fault=stack_smash" expect=panic timeout=30 console="PANIC: stack protector: stack smashing detected(?s:.*)HYPERVISOR PANIC"
// clang-format on
#include "tests/guest/runtime/guest.hpp"

using namespace rt;

namespace {
// SMCCC_ARCH_FEATURES answers (DEN0028 7.5, 7.7).
constexpr i64 kSuccess = 0, kNotSupported = -1, kUnaffected = 1;
}  // namespace

GUEST_TEST(implementation_defined_registers_are_undefined) {
    REQUIRE_HYPERVISOR();
    // HCR_EL2.TIDCP traps these to EL2, which answers UNDEF (KVM's answer). QEMU 7.2's CPU models do not implement
    // the TIDCP trap (it reaches QEMU's own IMPLEMENTATION DEFINED registers, e.g. the A57/A72 CPUACTLR_EL1 that
    // max and cortex-a72 both model as RAZ), so only "an exception, then it is an UNDEF" is checked for that one.
    expect_fault();
    u64 v = 0;
    asm volatile("mrs %0, s3_1_c15_c2_0" : "=r"(v)::"memory");  // Cortex-A57/A72 CPUACTLR_EL1's encoding
    FaultRecord f = take_fault();
    printf("  S3_1_C15_C2_0 read: %s (ESR 0x%llx, value 0x%llx)\n", f.taken ? ec_name(f.ec()) : "no exception",
           static_cast<unsigned long long>(f.esr), static_cast<unsigned long long>(v));
    if (f.taken) EXPECT_EQ(f.ec(), ec::kUnknown);
    // An encoding no CPU model implements: UNDEF, and the hypervisor carries on.
    expect_fault();
    asm volatile("msr s3_0_c11_c0_0, %0" ::"r"(u64{1}) : "memory");
    f = take_fault();
    EXPECT_TRUE(f.taken);
    EXPECT_EQ(f.ec(), ec::kUnknown);
}

GUEST_TEST(actlr_el1_writes_are_ignored) {
    REQUIRE_HYPERVISOR();
    // HCR_EL2.TACR: both accesses trap to EL2 (without its handler they would be UNDEFs and this test would fail);
    // the read returns the vCPU's register-list value, the write is ignored.
    u64 before = RT_READ_SYSREG(actlr_el1);
    RT_WRITE_SYSREG(actlr_el1, ~before);
    isb();
    u64 after = RT_READ_SYSREG(actlr_el1);
    printf("  ACTLR_EL1 0x%llx, after writing its complement 0x%llx\n", static_cast<unsigned long long>(before),
           static_cast<unsigned long long>(after));
    EXPECT_EQ(after, before);
}

GUEST_TEST(branch_predictor_workarounds_match_the_cpu) {
    REQUIRE_HYPERVISOR();
    const bool a72 = [] {
        const char* v = nullptr;
        usize n = 0;
        return bootarg("expect_bp", v, n) && n == 3 && v[0] == 'a' && v[1] == '7' && v[2] == '2';
    }();
    const u64 midr = RT_READ_SYSREG(midr_el1);
    const u64 csv2 = (RT_READ_SYSREG(id_aa64pfr0_el1) >> 56) & 0xf;
    const i64 wa1 = hvc_call(psci::kSmcccArchFeatures, psci::kSmcccArchWorkaround1).status();
    const i64 wa3 = hvc_call(psci::kSmcccArchFeatures, psci::kSmcccArchWorkaround3).status();
    printf("  MIDR 0x%llx CSV2 %llu: ARCH_FEATURES(WORKAROUND_1) %lld, (WORKAROUND_3) %lld\n",
           static_cast<unsigned long long>(midr), static_cast<unsigned long long>(csv2), static_cast<long long>(wa1),
           static_cast<long long>(wa3));
    if (a72) {
        EXPECT_EQ((midr >> 4) & 0xfff, 0xd08u);  // Cortex-A72
        EXPECT_EQ(csv2, 0u);
        EXPECT_EQ(wa1, kNotSupported);
        EXPECT_EQ(wa3, kSuccess);
        // The guest's own WORKAROUND_3 call returns (EL2 has run the loop on the way in).
        const i64 r = hvc_call(psci::kSmcccArchWorkaround3).status();
        printf("  SMCCC_ARCH_WORKAROUND_3 returned %lld\n", static_cast<long long>(r));
    } else {
        EXPECT_GE(csv2, 1u);
        EXPECT_EQ(wa1, kUnaffected);
        EXPECT_EQ(wa3, kUnaffected);
    }
}
