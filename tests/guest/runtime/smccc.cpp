#include "tests/guest/runtime/smccc.hpp"

#include "tests/guest/runtime/console.hpp"
#include "tests/guest/runtime/sysreg.hpp"

namespace rt {
namespace {
Conduit g_conduit = Conduit::hvc;
}

#define RT_SMCCC_CALL(insn)                                                                       \
    register u64 r0 asm("x0") = fid;                                                              \
    register u64 r1 asm("x1") = a1;                                                               \
    register u64 r2 asm("x2") = a2;                                                               \
    register u64 r3 asm("x3") = a3;                                                               \
    register u64 r4 asm("x4") = a4;                                                               \
    register u64 r5 asm("x5") = a5;                                                               \
    register u64 r6 asm("x6") = a6;                                                               \
    register u64 r7 asm("x7") = a7;                                                               \
    asm volatile(insn " #0"                                                                       \
                 : "+r"(r0), "+r"(r1), "+r"(r2), "+r"(r3), "+r"(r4), "+r"(r5), "+r"(r6), "+r"(r7) \
                 :                                                                                \
                 : "x8", "x9", "x10", "x11", "x12", "x13", "x14", "x15", "x16", "x17", "memory"); \
    return SmcccResult { r0, r1, r2, r3 }

SmcccResult hvc_call(u64 fid, u64 a1, u64 a2, u64 a3, u64 a4, u64 a5, u64 a6, u64 a7) { RT_SMCCC_CALL("hvc"); }
SmcccResult smc_call(u64 fid, u64 a1, u64 a2, u64 a3, u64 a4, u64 a5, u64 a6, u64 a7) { RT_SMCCC_CALL("smc"); }

SmcccResult smccc_call(Conduit c, u64 fid, u64 a1, u64 a2, u64 a3) {
    return c == Conduit::smc ? smc_call(fid, a1, a2, a3) : hvc_call(fid, a1, a2, a3);
}

void set_psci_conduit(Conduit c) { g_conduit = c; }
Conduit psci_conduit() { return g_conduit; }

u32 psci_version() { return static_cast<u32>(smccc_call(g_conduit, psci::kPsciVersionFn).x0); }

i64 psci_cpu_on(u64 target_mpidr, u64 entry, u64 context_id) {
    return smccc_call(g_conduit, psci::kCpuOn | psci::kSmc64, target_mpidr, entry, context_id).status();
}

i64 psci_features(u32 fid) { return smccc_call(g_conduit, psci::kPsciFeatures, fid).status(); }

void psci_system_off() {
    SmcccResult r = smccc_call(g_conduit, psci::kSystemOff);
    printf("PSCI SYSTEM_OFF returned %lld\n", static_cast<long long>(r.status()));
    for (;;) wfi();
}

}  // namespace rt
