// psci_functions: every PSCI 1.1 function and its error paths over HVC and SMC with three vCPUs (DEN0022D):
// PSCI_VERSION, CPU_ON (INVALID_PARAMETERS, ALREADY_ON, INVALID_ADDRESS, two CPUs racing for one target: exactly
// one SUCCESS), the entry state of a CPU started by CPU_ON (x0 = context id, EL1h, MMU off), AFFINITY_INFO through
// OFF -> ON_PENDING/ON -> OFF and its invalid levels, CPU_OFF + CPU_ON again with a new context id, MIGRATE,
// MIGRATE_INFO_TYPE, PSCI_FEATURES of every function, CPU_SUSPEND's error paths, SMC32/SMC64 forms, and the SMC
// conduit answering exactly like HVC.
//
// guest-tests: smp=3 mem=512M append="expect_cpus=3 expect_psci=1.1" hv_append="vcpus=3 psci=1.1" expect=pass
#include "lib/string.hpp"
#include "tests/guest/runtime/guest.hpp"

using namespace rt;

namespace {

constexpr u64 kHypervisorBase = 0x4000'0000;  // RAM base: the hypervisor's 32 MiB, not guest RAM (docs/boot.md)

SmcccResult call(u64 fid, u64 a1 = 0, u64 a2 = 0, u64 a3 = 0) { return smccc_call(psci_conduit(), fid, a1, a2, a3); }
i64 status(u64 fid, u64 a1 = 0, u64 a2 = 0, u64 a3 = 0) { return call(fid, a1, a2, a3).status(); }
// SMC32 functions return a 32-bit value in w0 (DEN0028 2.6): compare the sign-extended w0.
i64 status32(u64 fid, u64 a1 = 0, u64 a2 = 0, u64 a3 = 0) {
    return static_cast<i32>(static_cast<u32>(call(fid, a1, a2, a3).x0));
}

i64 affinity(u64 mpidr, u64 level = 0) { return status((psci::kAffinityInfo | psci::kSmc64), mpidr, level); }

// Polls AFFINITY_INFO until it reports `want` (a CPU that called CPU_OFF is OFF a moment later).
bool wait_affinity(u64 mpidr, i64 want, u64 ms) {
    u64 deadline = counter() + ms_ticks(ms);
    while (affinity(mpidr) != want && counter() < deadline) {
    }
    return affinity(mpidr) == want;
}

// --- secondary bodies ------------------------------------------------------------------------------------------
volatile u32 g_release[kMaxCpus];
volatile u32 g_runs[kMaxCpus];

// Stays on until released (or 2 s pass), so the primary can look at it while it is ON.
void hold(u32 slot, void*) {
    g_runs[slot] = g_runs[slot] + 1;
    dsb_sy();
    u64 deadline = counter() + ms_ticks(2000);
    while (!g_release[slot] && counter() < deadline) {
    }
}

void quick(u32 slot, void*) {
    g_runs[slot] = g_runs[slot] + 1;
    dsb_sy();
}

// Racer: waits for the start signal, then issues CPU_ON of the same target as the primary.
struct Race {
    volatile u32 go;
    volatile u32 done;
    u64 target;
    u32 target_slot;
    volatile i64 result;
    volatile u64 delay_us;  // the helper's head start handicap
};
Race g_race;

void racer(u32, void*) {
    u64 deadline = counter() + ms_ticks(2000);
    while (!g_race.go && counter() < deadline) {
    }
    if (g_race.delay_us) delay_us(g_race.delay_us);
    g_race.result = psci_cpu_on(g_race.target, secondary_entry_address(), g_race.target_slot);
    dsb_sy();
    g_race.done = 1;
    dsb_sy();
}

const char* affinity_name(i64 a) {
    switch (a) {
        case psci::kAffinityOn:
            return "ON";
        case psci::kAffinityOff:
            return "OFF";
        case psci::kAffinityOnPending:
            return "ON_PENDING";
        default:
            return "error";
    }
}

}  // namespace

GUEST_TEST(psci_version) {
    u32 v = psci_version();
    printf("  PSCI_VERSION = %u.%u\n", v >> 16, v & 0xffff);
    EXPECT_EQ(v >> 31, 0u);  // a version, not an error code
    REQUIRE_HYPERVISOR();    // plain QEMU's own PSCI may be another 1.x
    EXPECT_EQ(v, 0x0001'0001u);
}

GUEST_TEST(cpu_on_invalid_mpidr) {
    u64 others[kMaxCpus];
    ASSERT_GE(dt_other_cpus(others, kMaxCpus), 2u);
    // DEN0022D 5.6.2: a target_cpu that names no PE is INVALID_PARAMETERS.
    EXPECT_EQ(psci_cpu_on(0xff'00ff'ff00ull, secondary_entry_address(), 1), psci::kPsciInvalidParameters);
    EXPECT_EQ(psci_cpu_on(0x00'0000'00feull, secondary_entry_address(), 1), psci::kPsciInvalidParameters);
    REQUIRE_HYPERVISOR();  // (QEMU's firmware ignores bits outside the affinity fields)
    // Bits outside the affinity fields (here MPIDR bit 31/24 and bits above Aff3) are not a valid MPIDR value.
    EXPECT_EQ(psci_cpu_on(others[0] | (1ull << 24), secondary_entry_address(), 1), psci::kPsciInvalidParameters);
    EXPECT_EQ(psci_cpu_on(others[0] | (1ull << 40), secondary_entry_address(), 1), psci::kPsciInvalidParameters);
    // Nothing was started.
    EXPECT_EQ(affinity(others[0]), psci::kAffinityOff);
}

GUEST_TEST(cpu_on_invalid_address) {
    REQUIRE_HYPERVISOR();  // QEMU's firmware does not validate entry points
    u64 others[kMaxCpus];
    ASSERT_GE(dt_other_cpus(others, kMaxCpus), 1u);
    u64 ram_end = dt_ram_end();
    ASSERT_NE(ram_end, 0u);
    printf("  guest RAM ends at 0x%llx\n", static_cast<unsigned long long>(ram_end));
    // DEN0022D 5.6.2: INVALID_ADDRESS when the entry point is known not to be valid. The hypervisor's own memory,
    // the first byte above guest RAM, and address 0 (flash/unmapped) are all outside guest RAM.
    EXPECT_EQ(psci_cpu_on(others[0], kHypervisorBase, 1), psci::kPsciInvalidAddress);
    EXPECT_EQ(psci_cpu_on(others[0], kHypervisorBase + 0x100'0000, 1), psci::kPsciInvalidAddress);
    EXPECT_EQ(psci_cpu_on(others[0], ram_end, 1), psci::kPsciInvalidAddress);
    EXPECT_EQ(psci_cpu_on(others[0], 0, 1), psci::kPsciInvalidAddress);
    EXPECT_EQ(psci_cpu_on(others[0], 0xffff'ffff'ffff'f000ull, 1), psci::kPsciInvalidAddress);
    // A refused CPU_ON leaves the target OFF, and a good one still works afterwards.
    EXPECT_EQ(affinity(others[0]), psci::kAffinityOff);
    g_release[1] = 1;
    EXPECT_EQ(start_cpu(1, others[0], quick, nullptr), psci::kPsciSuccess);
    EXPECT_TRUE(wait_slot(cpu_finished, 1, 1000));
    EXPECT_TRUE(wait_affinity(others[0], psci::kAffinityOff, 500));
}

GUEST_TEST(cpu_on_entry_state_and_affinity_transitions) {
    u64 others[kMaxCpus];
    ASSERT_GE(dt_other_cpus(others, kMaxCpus), 1u);
    const u64 target = others[0];
    const u64 contexts[2] = {0x1234'5678'9abc'def0ull, 0x0fed'cba9'8765'4321ull};
    for (u32 round = 0; round < 2; ++round) {
        printf("  round %u: CPU_ON 0x%llx with context id 0x%llx\n", round, static_cast<unsigned long long>(target),
               static_cast<unsigned long long>(contexts[round]));
        EXPECT_EQ(affinity(target), psci::kAffinityOff);
        g_release[1] = 0;
        g_runs[1] = 0;
        ASSERT_EQ(start_cpu_captured(1, target, contexts[round], hold, nullptr), psci::kPsciSuccess);
        // DEN0022D 5.7: right after a successful CPU_ON the node is ON_PENDING or already ON.
        i64 a = affinity(target);
        printf("  AFFINITY_INFO right after CPU_ON: %lld (%s)\n", static_cast<long long>(a), affinity_name(a));
        // (QEMU's own firmware powers the CPU on asynchronously and may still say OFF: only checked under the
        // hypervisor.)
        if (under_hypervisor()) EXPECT_TRUE(a == psci::kAffinityOn || a == psci::kAffinityOnPending);
        ASSERT_TRUE(wait_slot(cpu_started, 1, 1000));
        EXPECT_EQ(affinity(target), psci::kAffinityOn);
        // DEN0022D 5.6.2: CPU_ON of a CPU that is on: ALREADY_ON, and the running CPU is not disturbed.
        EXPECT_EQ(psci_cpu_on(target, capture_entry_address(), 0x5a5a), psci::kPsciAlreadyOn);
        const volatile EntryCapture& cap = entry_capture();
        ASSERT_EQ(cap.valid, 1u);
        // DEN0022D 6.4: x0 = context_id; the caller's EL (EL1), SP_ELx; MMU and data cache off (docs/boot.md:
        // DAIF masked too).
        EXPECT_EQ(cap.x0, contexts[round]);
        EXPECT_EQ((cap.current_el >> 2) & 3, 1u);
        EXPECT_EQ(cap.spsel & 1, 1u);
        EXPECT_EQ(cap.sctlr_el1 & 1, 0u);         // M
        EXPECT_EQ((cap.sctlr_el1 >> 2) & 1, 0u);  // C
        EXPECT_EQ(cap.daif & 0x3c0, 0x3c0u);      // D, A, I, F
        printf("  entry: x0 0x%llx CurrentEL 0x%llx SPSel %llu SCTLR_EL1 0x%llx DAIF 0x%llx\n",
               static_cast<unsigned long long>(cap.x0), static_cast<unsigned long long>(cap.current_el),
               static_cast<unsigned long long>(cap.spsel), static_cast<unsigned long long>(cap.sctlr_el1),
               static_cast<unsigned long long>(cap.daif));
        g_release[1] = 1;
        dsb_sy();
        EXPECT_TRUE(wait_slot(cpu_finished, 1, 3000));
        EXPECT_EQ(g_runs[1], 1u);  // the ALREADY_ON attempt did not restart it
        // The runtime calls CPU_OFF when the body returns: OFF again (DEN0022D 5.5, 5.7).
        EXPECT_TRUE(wait_affinity(target, psci::kAffinityOff, 500));
    }
}

GUEST_TEST(affinity_info_levels) {
    u64 self = self_mpidr();
    EXPECT_EQ(affinity(self, 0), psci::kAffinityOn);
    REQUIRE_HYPERVISOR();  // QEMU's firmware accepts only level 0
    // Every level containing this (running) CPU is ON (DEN0022D 5.7.1).
    for (u64 level = 1; level <= 3; ++level) EXPECT_EQ(affinity(self, level), psci::kAffinityOn);
    // Fields below the level are ignored: garbage in Aff0 at level 1 still names this CPU's cluster.
    EXPECT_EQ(affinity(self ^ 0xff, 1), psci::kAffinityOn);
    // DEN0022D 5.7.2: lowest_affinity_level above 3, or a node that does not exist: INVALID_PARAMETERS.
    EXPECT_EQ(affinity(self, 4), psci::kPsciInvalidParameters);
    EXPECT_EQ(affinity(self, 0xffff'ffffull), psci::kPsciInvalidParameters);
    EXPECT_EQ(affinity(0xff'00ff'ff00ull, 0), psci::kPsciInvalidParameters);
    EXPECT_EQ(affinity(0xff'0000'0000ull, 3), psci::kPsciInvalidParameters);
    // SMC32 form: the upper halves of w-register arguments are ignored (DEN0028 2.6); SMC64 sees the whole value.
    EXPECT_EQ(status32(psci::kAffinityInfo, 0xdead'0000'0000'0000ull | self, 0xdead'0000'0000'0000ull),
              psci::kAffinityOn);
    EXPECT_EQ(status((psci::kAffinityInfo | psci::kSmc64), 0xdead'0000'0000'0000ull | self, 0),
              psci::kPsciInvalidParameters);
}

GUEST_TEST(concurrent_cpu_on_exactly_one_success) {
    u64 others[kMaxCpus];
    ASSERT_GE(dt_other_cpus(others, kMaxCpus), 2u);
    const u64 helper = others[0], target = others[1];
    u32 primary_won = 0;
    for (u32 round = 0; round < 8; ++round) {
        g_race.go = 0;
        g_race.done = 0;
        g_race.result = 0x7777;
        g_race.target = target;
        g_race.target_slot = 2;
        g_race.delay_us = (round & 1) ? 0 : round * 20;
        g_runs[2] = 0;
        dsb_sy();
        ASSERT_EQ(affinity(target), psci::kAffinityOff);
        ASSERT_EQ(start_cpu(1, helper, racer, nullptr), psci::kPsciSuccess);
        ASSERT_TRUE(wait_slot(cpu_started, 1, 1000));
        // The target stays on until both calls have returned: a late second CPU_ON must not find it OFF again.
        g_release[2] = 0;
        ASSERT_TRUE(prepare_cpu(2, hold, nullptr));
        g_race.go = 1;
        dsb_sy();
        // Shift the two calls against each other from round to round (odd rounds: the primary waits).
        if (round & 1) delay_us(round * 1000);
        i64 mine = psci_cpu_on(target, secondary_entry_address(), 2);
        ASSERT_TRUE(wait_slot(cpu_finished, 1, 2000));
        i64 theirs = g_race.result;
        printf("  round %u: primary %lld, helper %lld\n", round, static_cast<long long>(mine),
               static_cast<long long>(theirs));
        // Exactly one SUCCESS; the loser sees the target ON or ON_PENDING (DEN0022D 5.6.2; KVM answers ALREADY_ON).
        EXPECT_EQ((mine == psci::kPsciSuccess ? 1u : 0u) + (theirs == psci::kPsciSuccess ? 1u : 0u), 1u);
        if (mine == psci::kPsciSuccess) ++primary_won;
        i64 loser = mine == psci::kPsciSuccess ? theirs : mine;
        EXPECT_TRUE(loser == psci::kPsciAlreadyOn || loser == psci::kPsciOnPending);
        g_release[2] = 1;
        dsb_sy();
        EXPECT_TRUE(wait_slot(cpu_finished, 2, 3000));
        EXPECT_EQ(g_runs[2], 1u);  // the target was started once
        EXPECT_TRUE(wait_affinity(target, psci::kAffinityOff, 500));
        EXPECT_TRUE(wait_affinity(helper, psci::kAffinityOff, 500));
    }
    printf("  the primary won %u of 8 rounds\n", primary_won);
}

GUEST_TEST(migrate_and_migrate_info_type) {
    // DEN0022D 5.9: 2 = no Trusted OS that needs migration; then MIGRATE is NOT_SUPPORTED (5.8), both forms.
    EXPECT_EQ(status32(psci::kMigrateInfoType), psci::kMigrateInfoNoTrustedOs);
    EXPECT_EQ(status32(psci::kMigrate, self_mpidr()), psci::kPsciNotSupported);
    EXPECT_EQ(status((psci::kMigrate | psci::kSmc64), self_mpidr()), psci::kPsciNotSupported);
}

GUEST_TEST(psci_features_each_function) {
    struct Expect {
        u32 fid;
        i64 want;  // PSCI_FEATURES answer
        const char* name;
    };
    // DEN0022D 5.15: SUCCESS (or feature flags >= 0) for every implemented function, NOT_SUPPORTED otherwise.
    static const Expect kTable[] = {
        {psci::kPsciVersionFn, 0, "PSCI_VERSION"},
        {psci::kCpuSuspend, 0, "CPU_SUSPEND32"},  // flags 0: original power_state format, platform-coordinated
        {(psci::kCpuSuspend | psci::kSmc64), 0, "CPU_SUSPEND64"},
        {psci::kCpuOff, 0, "CPU_OFF"},
        {psci::kCpuOn, 0, "CPU_ON32"},
        {(psci::kCpuOn | psci::kSmc64), 0, "CPU_ON64"},
        {psci::kAffinityInfo, 0, "AFFINITY_INFO32"},
        {(psci::kAffinityInfo | psci::kSmc64), 0, "AFFINITY_INFO64"},
        {psci::kMigrate, psci::kPsciNotSupported, "MIGRATE32"},
        {(psci::kMigrate | psci::kSmc64), psci::kPsciNotSupported, "MIGRATE64"},
        {psci::kMigrateInfoType, 0, "MIGRATE_INFO_TYPE"},
        {psci::kSystemOff, 0, "SYSTEM_OFF"},
        {psci::kSystemReset, 0, "SYSTEM_RESET"},
        {psci::kPsciFeatures, 0, "PSCI_FEATURES"},
        {psci::kSystemReset2, 0, "SYSTEM_RESET2_32"},
        {(psci::kSystemReset2 | psci::kSmc64), 0, "SYSTEM_RESET2_64"},
        {psci::kSmcccVersion, 0, "SMCCC_VERSION"},  // DEN0028 7.2.1: discovered through PSCI_FEATURES
        // Not implemented: NOT_SUPPORTED.
        {psci::kMigrateInfoUpCpu, psci::kPsciNotSupported, "MIGRATE_INFO_UP_CPU32"},
        {psci::kCpuFreeze, psci::kPsciNotSupported, "CPU_FREEZE"},
        {psci::kSystemSuspend, psci::kPsciNotSupported, "SYSTEM_SUSPEND32"},
        {psci::kMemProtect, psci::kPsciNotSupported, "MEM_PROTECT"},
        {psci::kPsciVersionFn | psci::kSmc64, psci::kPsciNotSupported, "SMC64 PSCI_VERSION (no such form)"},
        {psci::kCpuOff | psci::kSmc64, psci::kPsciNotSupported, "SMC64 CPU_OFF (no such form)"},
        {0x8400'001fu, psci::kPsciNotSupported, "PSCI 0x1f (unassigned)"},
        {0x8400'00ffu, psci::kPsciNotSupported, "standard service 0xff"},
        {0x8600'0001u, psci::kPsciNotSupported, "vendor hyp 1"},
        {0x0000'0000u, psci::kPsciNotSupported, "0"},
    };
    REQUIRE_HYPERVISOR();  // QEMU's own firmware implements a different set
    for (const Expect& e : kTable) {
        i64 got = status32(psci::kPsciFeatures, e.fid);
        printf("  PSCI_FEATURES(%s 0x%08x) = %lld\n", e.name, e.fid, static_cast<long long>(got));
        EXPECT_EQ(got, e.want);
    }
}

GUEST_TEST(unsupported_features_are_unsupported_calls) {
    REQUIRE_HYPERVISOR();  // QEMU's firmware turns unknown HVCs into UNDEFs
    // Consistency over the whole PSCI range (DEN0022D 5.15): a function PSCI_FEATURES calls NOT_SUPPORTED answers
    // NOT_SUPPORTED when called, in both forms. (Only those are called: the others change power states.)
    u32 checked = 0;
    for (u32 n = 0; n <= 0x1f; ++n) {
        for (u32 form = 0; form < 2; ++form) {
            u32 fid = 0x8400'0000u | n | (form ? psci::kSmc64 : 0);
            if (status32(psci::kPsciFeatures, fid) != psci::kPsciNotSupported) continue;
            i64 got = form ? status(fid, self_mpidr()) : status32(fid, self_mpidr());
            if (got != psci::kPsciNotSupported) printf("  0x%08x answered %lld\n", fid, static_cast<long long>(got));
            EXPECT_EQ(got, psci::kPsciNotSupported);
            ++checked;
        }
    }
    printf("  %u unsupported function IDs called\n", checked);
    EXPECT_GE(checked, 10u);
}

GUEST_TEST(cpu_suspend_error_paths) {
    REQUIRE_HYPERVISOR();
    // DEN0022D 5.4.2.1: reserved power_state bits set -> INVALID_PARAMETERS, both forms.
    EXPECT_EQ(status32(psci::kCpuSuspend, 1u << 17, 0, 0), psci::kPsciInvalidParameters);
    EXPECT_EQ(status((psci::kCpuSuspend | psci::kSmc64), 1ull << 30, 0, 0), psci::kPsciInvalidParameters);
    // A power-down request whose entry point is outside guest RAM: INVALID_ADDRESS (DEN0022D 5.4.2).
    EXPECT_EQ(status((psci::kCpuSuspend | psci::kSmc64), static_cast<u32>(psci::PowerStateType::field_mask),
                     kHypervisorBase, 0),
              psci::kPsciInvalidAddress);
    EXPECT_EQ(status32(psci::kCpuSuspend, static_cast<u32>(psci::PowerStateType::field_mask), 0, 0),
              psci::kPsciInvalidAddress);
}

GUEST_TEST(smc32_and_smc64_forms) {
    REQUIRE_HYPERVISOR();  // QEMU's firmware reads whole x-registers for SMC32 calls
    u64 others[kMaxCpus];
    ASSERT_GE(dt_other_cpus(others, kMaxCpus), 1u);
    const u64 target = others[0];
    ASSERT_LT(capture_entry_address(), 0x1'0000'0000ull);  // reachable with a 32-bit entry point
    // CPU_ON32: 32-bit target, entry and context id; garbage in the upper halves must be ignored (DEN0028 2.6).
    g_release[1] = 0;
    ASSERT_TRUE(prepare_captured_cpu(1, hold, nullptr));
    const u64 junk = 0xa5a5'0000'0000'0000ull;
    i64 r = status32(psci::kCpuOn, junk | target, junk | capture_entry_address(), junk | 0x1357'2468u);
    EXPECT_EQ(r, psci::kPsciSuccess);
    if (r == psci::kPsciSuccess) {
        EXPECT_TRUE(wait_slot(cpu_started, 1, 1000));
        EXPECT_EQ(entry_capture().x0 & 0xffff'ffffu, 0x1357'2468u);
        printf("  CPU_ON32 entry x0 = 0x%llx\n", static_cast<unsigned long long>(entry_capture().x0));
        EXPECT_EQ(status32(psci::kAffinityInfo, target, 0), psci::kAffinityOn);
        EXPECT_EQ(status32(psci::kCpuOn, target, capture_entry_address(), 0), psci::kPsciAlreadyOn);
        g_release[1] = 1;
        dsb_sy();
        EXPECT_TRUE(wait_slot(cpu_finished, 1, 3000));
        EXPECT_TRUE(wait_affinity(target, psci::kAffinityOff, 500));
    }
    // SMC64 forms of functions that only exist as SMC32 are NOT_SUPPORTED (DEN0022D 5.1 table 5).
    EXPECT_EQ(status(psci::kPsciVersionFn | psci::kSmc64), psci::kPsciNotSupported);
    EXPECT_EQ(status(psci::kMigrateInfoType | psci::kSmc64), psci::kPsciNotSupported);
    EXPECT_EQ(status(psci::kPsciFeatures | psci::kSmc64, psci::kPsciVersionFn), psci::kPsciNotSupported);
}

GUEST_TEST(smc_conduit_matches_hvc) {
    REQUIRE_HYPERVISOR();  // on plain QEMU at EL1 an SMC has no EL3 to go to
    u64 others[kMaxCpus];
    ASSERT_GE(dt_other_cpus(others, kMaxCpus), 1u);
    struct Query {
        u32 fid;
        u64 a1, a2;
    };
    // Calls without side effects; each answer (x0..x3) must be identical on both conduits.
    const Query queries[] = {
        {psci::kPsciVersionFn, 0, 0},
        {psci::kPsciFeatures, (psci::kCpuOn | psci::kSmc64), 0},
        {psci::kPsciFeatures, psci::kSystemReset2, 0},
        {psci::kPsciFeatures, 0x8400'001f, 0},
        {(psci::kAffinityInfo | psci::kSmc64), self_mpidr(), 0},
        {(psci::kAffinityInfo | psci::kSmc64), others[0], 0},
        {(psci::kAffinityInfo | psci::kSmc64), self_mpidr(), 7},
        {psci::kMigrateInfoType, 0, 0},
        {psci::kMigrate, 0, 0},
        {(psci::kCpuOn | psci::kSmc64), 0xff'00ff'ff00ull, 0x5000'0000},
        {(psci::kCpuOn | psci::kSmc64), others[0], kHypervisorBase},
        {(psci::kCpuOn | psci::kSmc64), self_mpidr(), 0x5000'0000},
        {psci::kSmcccVersion, 0, 0},
        {psci::kSmcccArchFeatures, psci::kSmcccArchWorkaround1, 0},
        {psci::kSmcccArchFeatures, psci::kSmcccArchWorkaround2, 0},
        {psci::kSmcccArchFeatures, psci::kSmcccArchWorkaround3, 0},
        {psci::kSmcccArchFeatures, 0x8000'1234, 0},
        {psci::kTrngVersion, 0, 0},
        {psci::kTrngFeatures, psci::kTrngRnd64, 0},
        {psci::kTrngGetUuid, 0, 0},
        {psci::kTrngRnd64, 0, 0},
        {psci::kStdUid, 0, 0},
        {0x8400'001f, 0, 0},
        {0xc700'0000, 0, 0},
        {0x0400'0000, 0, 0},  // a yielding call
    };
    for (const Query& q : queries) {
        SmcccResult h = hvc_call(q.fid, q.a1, q.a2);
        SmcccResult s = smc_call(q.fid, q.a1, q.a2);
        bool same = h.x0 == s.x0 && h.x1 == s.x1 && h.x2 == s.x2 && h.x3 == s.x3;
        if (!same)
            printf("  0x%08x: hvc %llx %llx %llx %llx, smc %llx %llx %llx %llx\n", q.fid,
                   static_cast<unsigned long long>(h.x0), static_cast<unsigned long long>(h.x1),
                   static_cast<unsigned long long>(h.x2), static_cast<unsigned long long>(h.x3),
                   static_cast<unsigned long long>(s.x0), static_cast<unsigned long long>(s.x1),
                   static_cast<unsigned long long>(s.x2), static_cast<unsigned long long>(s.x3));
        EXPECT_TRUE(same);
    }
    // And a real state change over SMC: CPU_ON, AFFINITY_INFO, CPU_OFF (the secondary uses the same conduit).
    set_psci_conduit(Conduit::smc);
    g_release[1] = 1;
    i64 r = start_cpu(1, others[0], quick, nullptr);
    EXPECT_EQ(r, psci::kPsciSuccess);
    if (r == psci::kPsciSuccess) {
        EXPECT_TRUE(wait_slot(cpu_finished, 1, 1000));
        EXPECT_TRUE(wait_affinity(others[0], psci::kAffinityOff, 500));
    }
    set_psci_conduit(Conduit::hvc);
}
