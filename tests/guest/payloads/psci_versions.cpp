// psci_versions: one payload, run once per PSCI version the hypervisor offers (`psci=X`), checking exactly that
// version's behaviour (DEN0022D; KVM's PSCI 0.1): the DT's /psci node, PSCI_VERSION, CPU_ON/CPU_OFF through the
// version's own function IDs (0.1: the IDs the DT names), the other generation's IDs answering NOT_SUPPORTED,
// MIGRATE_INFO_TYPE, PSCI_FEATURES (1.0+ only) per function, SYSTEM_RESET2 (1.1 only) and SMCCC discovery.
// The expected version comes from the bootargs (`expect_psci=X`). A PSCI 0.1 VM has no SYSTEM_OFF, so that run
// cannot power off: the harness expects it to stop at its timeout after the summary (`expect=halt`).
//
// guest-tests: smp=2 mem=512M hv_append="vcpus=2"
// guest-tests: variant=0.1 append="expect_cpus=2 expect_psci=0.1" hv_append="vcpus=2 psci=0.1" expect=halt timeout=15
// guest-tests: variant=0.2 append="expect_cpus=2 expect_psci=0.2" hv_append="vcpus=2 psci=0.2"
// guest-tests: variant=1.0 append="expect_cpus=2 expect_psci=1.0" hv_append="vcpus=2 psci=1.0"
// guest-tests: variant=1.1 append="expect_cpus=2 expect_psci=1.1" hv_append="vcpus=2 psci=1.1"
#include "lib/string.hpp"
#include "tests/guest/runtime/guest.hpp"

using namespace rt;

namespace {

constexpr u32 kV0_1 = 0x0'0001, kV0_2 = 0x0'0002, kV1_0 = 0x1'0000, kV1_1 = 0x1'0001;
// KVM's PSCI 0.1 function IDs (what the hypervisor's 0.1 DT names): CPU_SUSPEND, CPU_OFF, CPU_ON, MIGRATE.
constexpr u32 kKvm01Base = 0x95c1'ba5e;

SmcccResult call(u64 fid, u64 a1 = 0, u64 a2 = 0, u64 a3 = 0) { return smccc_call(psci_conduit(), fid, a1, a2, a3); }
// Returns are 32-bit for SMC32 IDs and for PSCI 0.1 (compare the sign-extended w0, DEN0028 2.6).
i64 st32(u64 fid, u64 a1 = 0, u64 a2 = 0, u64 a3 = 0) {
    return static_cast<i32>(static_cast<u32>(call(fid, a1, a2, a3).x0));
}

// `expect_psci=M.m` from the bootargs as major << 16 | minor; 0 if absent or malformed.
u32 expected_version() {
    const char* v = nullptr;
    usize n = 0;
    if (!bootarg("expect_psci", v, n) || n != 3 || v[1] != '.' || v[0] < '0' || v[0] > '9' || v[2] < '0' || v[2] > '9')
        return 0;
    return static_cast<u32>(v[0] - '0') << 16 | static_cast<u32>(v[2] - '0');
}

bool at_least(u32 have, u32 want) { return have >= want; }

// The 0.1 function IDs the DT names (0 if absent).
struct Ids01 {
    u32 cpu_suspend, cpu_off, cpu_on, migrate;
};
Ids01 dt_ids01() {
    const fdt::Reader& f = dt();
    i32 psci = f.find_path("/psci");
    return {f.prop_u32(psci, "cpu_suspend").value_or(0), f.prop_u32(psci, "cpu_off").value_or(0),
            f.prop_u32(psci, "cpu_on").value_or(0), f.prop_u32(psci, "migrate").value_or(0)};
}

volatile u32 g_release = 0;
void hold(u32, void*) {
    u64 deadline = counter() + ms_ticks(2000);
    while (!g_release && counter() < deadline) {
    }
}

// The version under test, or skip the test (plain QEMU, or no expect_psci= in the bootargs).
#define REQUIRE_VERSION(v)                                        \
    REQUIRE_HYPERVISOR();                                         \
    const u32 v = expected_version();                             \
    if (v == 0) GUEST_SKIP("no expect_psci=M.m in the bootargs"); \
    do {                                                          \
    } while (0)

}  // namespace

GUEST_TEST(expected_version_is_given) {
    // Every run of this payload names its PSCI version (otherwise all the checks below would skip).
    u32 v = expected_version();
    EXPECT_TRUE(v == kV0_1 || v == kV0_2 || v == kV1_0 || v == kV1_1);
}

GUEST_TEST(dt_psci_node_matches_version) {
    REQUIRE_VERSION(v);
    printf("  expecting PSCI %u.%u\n", v >> 16, v & 0xffff);
    const fdt::Reader& f = dt();
    i32 psci = f.find_path("/psci");
    ASSERT_GE(psci, 0);
    const char* method = f.prop_string(psci, "method");
    ASSERT_TRUE(method != nullptr);
    EXPECT_EQ(strcmp(method, "hvc"), 0);
    // Linux's arm/psci.yaml: 0.1 is "arm,psci" with the function IDs as properties; 0.2 "arm,psci-0.2";
    // 1.0 and later "arm,psci-1.0" (with "arm,psci-0.2" as fallback); there is no 1.1 compatible.
    Ids01 ids = dt_ids01();
    if (v == kV0_1) {
        EXPECT_TRUE(f.has_compatible(psci, "arm,psci"));
        EXPECT_FALSE(f.has_compatible(psci, "arm,psci-0.2"));
        EXPECT_FALSE(f.has_compatible(psci, "arm,psci-1.0"));
        EXPECT_NE(ids.cpu_on, 0u);
        EXPECT_NE(ids.cpu_off, 0u);
        EXPECT_NE(ids.cpu_suspend, 0u);
        EXPECT_NE(ids.migrate, 0u);
        printf("  DT 0.1 IDs: cpu_suspend 0x%x cpu_off 0x%x cpu_on 0x%x migrate 0x%x\n", ids.cpu_suspend, ids.cpu_off,
               ids.cpu_on, ids.migrate);
    } else {
        EXPECT_FALSE(f.has_compatible(psci, "arm,psci"));
        EXPECT_TRUE(f.has_compatible(psci, "arm,psci-0.2"));
        EXPECT_EQ(f.has_compatible(psci, "arm,psci-1.0"), at_least(v, kV1_0));
    }
}

GUEST_TEST(psci_version_call) {
    REQUIRE_VERSION(v);
    // PSCI 0.1 has no PSCI_VERSION (DEN0022D 5.1.1 arrived with 0.2): NOT_SUPPORTED.
    i64 got = st32(psci::kPsciVersionFn);
    printf("  PSCI_VERSION -> 0x%llx\n", static_cast<unsigned long long>(got));
    if (v == kV0_1)
        EXPECT_EQ(got, psci::kPsciNotSupported);
    else
        EXPECT_EQ(got, static_cast<i64>(v));
}

GUEST_TEST(cpu_on_off_cycle) {
    REQUIRE_VERSION(v);
    const u64 target = dt_other_cpu();
    ASSERT_NE(target, ~0ull);
    const u64 contexts[2] = {0x0123'4567'89ab'cdefull, 0x7654'3210'fedc'ba98ull};
    if (v == kV0_1) {
        // Only the DT's IDs exist: CPU_ON, then CPU_OFF from the secondary, then CPU_ON again.
        Ids01 ids = dt_ids01();
        ASSERT_NE(ids.cpu_on, 0u);
        ASSERT_NE(ids.cpu_off, 0u);
        set_cpu_off_function(ids.cpu_off);
        for (u32 round = 0; round < 2; ++round) {
            g_release = 0;
            ASSERT_TRUE(prepare_captured_cpu(1, hold, nullptr));
            // After a CPU_OFF the target may still be going down for a moment: retry while it is reported on.
            i64 r = st32(ids.cpu_on, target, capture_entry_address(), contexts[round]);
            for (u64 deadline = counter() + ms_ticks(500); r == psci::kPsciInvalidParameters && counter() < deadline;)
                r = st32(ids.cpu_on, target, capture_entry_address(), contexts[round]);
            EXPECT_EQ(r, psci::kPsciSuccess);
            if (r != psci::kPsciSuccess) break;
            EXPECT_TRUE(wait_slot(cpu_started, 1, 1000));
            EXPECT_EQ(entry_capture().x0, contexts[round]);  // 0.1 arguments are 64-bit (KVM)
            // KVM's PSCI 0.1 answers INVALID_PARAMETERS (0.2's ALREADY_ON did not exist yet) for a CPU that is on.
            EXPECT_EQ(st32(ids.cpu_on, target, capture_entry_address(), 0), psci::kPsciInvalidParameters);
            g_release = 1;
            dsb_sy();
            EXPECT_TRUE(wait_slot(cpu_finished, 1, 3000));
        }
        set_cpu_off_function(psci::kCpuOff);
        return;
    }
    for (u32 round = 0; round < 2; ++round) {
        u64 deadline = counter() + ms_ticks(500);
        while (st32(psci::kAffinityInfo, target, 0) != psci::kAffinityOff && counter() < deadline) {
        }
        EXPECT_EQ(st32(psci::kAffinityInfo, target, 0), psci::kAffinityOff);
        g_release = 0;
        i64 r = start_cpu_captured(1, target, contexts[round], hold, nullptr);
        EXPECT_EQ(r, psci::kPsciSuccess);
        if (r != psci::kPsciSuccess) break;
        EXPECT_TRUE(wait_slot(cpu_started, 1, 1000));
        EXPECT_EQ(entry_capture().x0, contexts[round]);
        EXPECT_EQ(st32(psci::kAffinityInfo, target, 0), psci::kAffinityOn);
        EXPECT_EQ(psci_cpu_on(target, capture_entry_address(), 0), psci::kPsciAlreadyOn);
        g_release = 1;
        dsb_sy();
        EXPECT_TRUE(wait_slot(cpu_finished, 1, 3000));
    }
    u64 deadline = counter() + ms_ticks(500);
    while (st32(psci::kAffinityInfo, target, 0) != psci::kAffinityOff && counter() < deadline) {
    }
    EXPECT_EQ(st32(psci::kAffinityInfo, target, 0), psci::kAffinityOff);
}

GUEST_TEST(other_generation_ids_not_supported) {
    REQUIRE_VERSION(v);
    // Arguments are chosen so that an implemented function would answer INVALID_PARAMETERS (-2), never act:
    // an MPIDR that names no CPU, a power_state with reserved bits set, a reserved SYSTEM_RESET2 type.
    const u64 bad_mpidr = 0xff'00ff'ff00ull;
    const u64 bad_power_state = 1u << 17;
    if (v == kV0_1) {
        // The 0.2+ IDs do not exist in a 0.1 VM.
        EXPECT_EQ(st32((psci::kCpuOn | psci::kSmc64), bad_mpidr, 0x5000'0000, 0), psci::kPsciNotSupported);
        EXPECT_EQ(st32(psci::kCpuOn, bad_mpidr, 0x5000'0000, 0), psci::kPsciNotSupported);
        EXPECT_EQ(st32(psci::kCpuSuspend, bad_power_state, 0, 0), psci::kPsciNotSupported);
        EXPECT_EQ(st32((psci::kAffinityInfo | psci::kSmc64), self_mpidr(), 0), psci::kPsciNotSupported);
        EXPECT_EQ(st32(psci::kMigrateInfoType), psci::kPsciNotSupported);
        EXPECT_EQ(st32(psci::kMigrate, self_mpidr()), psci::kPsciNotSupported);
        EXPECT_EQ(st32(psci::kPsciFeatures, psci::kPsciVersionFn), psci::kPsciNotSupported);
        EXPECT_EQ(st32(psci::kSystemReset2, 1), psci::kPsciNotSupported);
        // The DT's own IDs are live: the same bad arguments are refused as INVALID_PARAMETERS.
        Ids01 ids = dt_ids01();
        EXPECT_EQ(st32(ids.cpu_on, bad_mpidr, 0x5000'0000, 0), psci::kPsciInvalidParameters);
        EXPECT_EQ(st32(ids.cpu_suspend, bad_power_state, 0, 0), psci::kPsciInvalidParameters);
        EXPECT_EQ(st32(ids.migrate, self_mpidr()), psci::kPsciNotSupported);  // DEN0022: no Trusted OS to migrate
    } else {
        // KVM's 0.1 IDs are gone from a 0.2+ VM (and its DT does not name them).
        EXPECT_EQ(st32(kKvm01Base + 2, bad_mpidr, 0x5000'0000, 0), psci::kPsciNotSupported);  // CPU_ON
        EXPECT_EQ(st32(kKvm01Base + 0, bad_power_state, 0, 0), psci::kPsciNotSupported);      // CPU_SUSPEND
        EXPECT_EQ(st32(kKvm01Base + 3, self_mpidr()), psci::kPsciNotSupported);               // MIGRATE
        EXPECT_FALSE(dt().has_prop(dt().find_path("/psci"), "cpu_on"));
        // ...and the standard IDs refuse the same bad arguments with INVALID_PARAMETERS.
        EXPECT_EQ(st32((psci::kCpuOn | psci::kSmc64), bad_mpidr, 0x5000'0000, 0), psci::kPsciInvalidParameters);
        EXPECT_EQ(st32(psci::kCpuSuspend, bad_power_state, 0, 0), psci::kPsciInvalidParameters);
    }
}

GUEST_TEST(migrate_info_type) {
    REQUIRE_VERSION(v);
    if (v == kV0_1) GUEST_SKIP("PSCI 0.1 has no MIGRATE_INFO_TYPE (checked in other_generation_ids_not_supported)");
    // DEN0022D 5.9: 2 = no Trusted OS needing migration; MIGRATE itself then NOT_SUPPORTED.
    EXPECT_EQ(st32(psci::kMigrateInfoType), psci::kMigrateInfoNoTrustedOs);
    EXPECT_EQ(st32(psci::kMigrate, self_mpidr()), psci::kPsciNotSupported);
}

GUEST_TEST(psci_features_by_version) {
    REQUIRE_VERSION(v);
    struct Row {
        u32 fid;
        u32 since;  // first version implementing it here (0 = never)
        const char* name;
    };
    static const Row kRows[] = {
        {psci::kPsciVersionFn, kV0_2, "PSCI_VERSION"},
        {psci::kCpuSuspend, kV0_2, "CPU_SUSPEND32"},
        {(psci::kCpuSuspend | psci::kSmc64), kV0_2, "CPU_SUSPEND64"},
        {psci::kCpuOff, kV0_2, "CPU_OFF"},
        {psci::kCpuOn, kV0_2, "CPU_ON32"},
        {(psci::kCpuOn | psci::kSmc64), kV0_2, "CPU_ON64"},
        {psci::kAffinityInfo, kV0_2, "AFFINITY_INFO32"},
        {(psci::kAffinityInfo | psci::kSmc64), kV0_2, "AFFINITY_INFO64"},
        {psci::kMigrate, 0, "MIGRATE32"},
        {psci::kMigrateInfoType, kV0_2, "MIGRATE_INFO_TYPE"},
        {psci::kSystemOff, kV0_2, "SYSTEM_OFF"},
        {psci::kSystemReset, kV0_2, "SYSTEM_RESET"},
        {psci::kPsciFeatures, kV1_0, "PSCI_FEATURES"},
        {psci::kSystemReset2, kV1_1, "SYSTEM_RESET2_32"},
        {(psci::kSystemReset2 | psci::kSmc64), kV1_1, "SYSTEM_RESET2_64"},
        {psci::kSmcccVersion, kV1_0, "SMCCC_VERSION"},
        {psci::kSystemSuspend, 0, "SYSTEM_SUSPEND32"},
        {0x8400'001fu, 0, "unassigned 0x1f"},
    };
    // DEN0022D 5.15: PSCI_FEATURES arrived with 1.0. Before that the call itself is NOT_SUPPORTED, whatever it is
    // asked; from 1.0 on it reports exactly the functions of the version.
    for (const Row& r : kRows) {
        i64 got = st32(psci::kPsciFeatures, r.fid);
        i64 want = (at_least(v, kV1_0) && r.since != 0 && at_least(v, r.since)) ? 0 : psci::kPsciNotSupported;
        printf("  PSCI_FEATURES(%s) = %lld\n", r.name, static_cast<long long>(got));
        EXPECT_EQ(got, want);
    }
}

GUEST_TEST(system_reset2_only_in_1_1) {
    REQUIRE_VERSION(v);
    // DEN0022D 5.19: SYSTEM_RESET2 is new in 1.1. reset_type 1 is a reserved architectural type: a 1.1 VM refuses
    // it with INVALID_PARAMETERS (and does not reset); older versions do not know the function at all.
    i64 want = v == kV1_1 ? psci::kPsciInvalidParameters : psci::kPsciNotSupported;
    EXPECT_EQ(st32(psci::kSystemReset2, 1, 0), want);
    EXPECT_EQ(st32((psci::kSystemReset2 | psci::kSmc64), 0x7fff'ffffu, 0), want);
}

GUEST_TEST(smccc_version_discovery) {
    REQUIRE_VERSION(v);
    // DEN0028 7.2.1: a caller discovers SMCCC_VERSION through PSCI_FEATURES, which needs PSCI 1.0.
    i64 f = st32(psci::kPsciFeatures, psci::kSmcccVersion);
    if (!at_least(v, kV1_0)) {
        EXPECT_EQ(f, psci::kPsciNotSupported);
        return;
    }
    EXPECT_EQ(f, 0);
    EXPECT_GE(call(psci::kSmcccVersion).x0 & 0xffff'ffffu, 0x1'0001u);
}

GUEST_TEST(standard_service_call_count) {
    REQUIRE_VERSION(v);
    // docs/firmware.md: the standard service call count is the number of PSCI functions of the version (0.1: none
    // in the standard range; 0.2: 11; 1.0: + PSCI_FEATURES; 1.1: + SYSTEM_RESET2 x2) plus TRNG's 5 when enabled.
    u32 psci_fns = v == kV0_1 ? 0 : v == kV0_2 ? 11 : v == kV1_0 ? 12 : 14;
    bool trng = static_cast<i64>(call(psci::kTrngVersion).x0) > 0;
    u64 got = call(psci::kStdCallCount).x0 & 0xffff'ffffu;
    printf("  standard service call count %llu (TRNG %s)\n", static_cast<unsigned long long>(got),
           trng ? "present" : "absent");
    EXPECT_EQ(got, psci_fns + (trng ? 5u : 0u));
}
