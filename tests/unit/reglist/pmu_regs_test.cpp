#include "core/reglist/pmu_regs.hpp"

#include <gtest/gtest.h>

#include <vector>

#include "core/reglist/catalogue.hpp"

using namespace hv;
using namespace hv::reglist;

namespace {

constexpr u64 kPmcr = 0x603000000013dce0ull;      // (3,3,9,12,0)
constexpr u64 kCntenSet = 0x603000000013dce1ull;  // (3,3,9,12,1)
constexpr u64 kCntenClr = 0x603000000013dce2ull;  // (3,3,9,12,2)
constexpr u64 kOvsClr = 0x603000000013dce3ull;    // (3,3,9,12,3)
constexpr u64 kSwInc = 0x603000000013dce4ull;     // (3,3,9,12,4)
constexpr u64 kSelr = 0x603000000013dce5ull;      // (3,3,9,12,5)
constexpr u64 kCcntr = 0x603000000013dce8ull;     // (3,3,9,13,0)
constexpr u64 kUserenr = 0x603000000013dcf0ull;   // (3,3,9,14,0)
constexpr u64 kOvsSet = 0x603000000013dcf3ull;    // (3,3,9,14,3)
constexpr u64 kIntenSet = 0x603000000013c4f1ull;  // (3,0,9,14,1)
constexpr u64 kIntenClr = 0x603000000013c4f2ull;  // (3,0,9,14,2)
constexpr u64 kCcfiltr = 0x603000000013df7full;   // (3,3,14,15,7)
constexpr u64 evcntr(u32 n) { return sysreg_id(3, 3, 14, 8 + n / 8, n % 8); }
constexpr u64 evtyper(u32 n) { return sysreg_id(3, 3, 14, 12 + n / 8, n % 8); }

constexpr Handle kV0 = Handle::for_vcpu(0);
constexpr Handle kV1 = Handle::for_vcpu(1);

// Two vCPUs with the PMU of QEMU 7.2 -cpu max (PMUv3p5, 6 counters) unless told otherwise.
struct Pmu {
    explicit Pmu(u64 pmuver = 6, u64 host_pmcr = 0x41013000)
        : ctx(2), contexts(ctx.data(), 2), cls(contexts, pmu::make_config(pmuver << 8, host_pmcr)), cat(2) {
        EXPECT_EQ(cat.add(cls), Status::ok);
        cat.reset_all();
    }
    u64 get(Handle h, u64 id) {
        u64 v = 0xdead;
        EXPECT_EQ(cat.get_u64(h, id, v), Status::ok) << std::hex << id;
        return v;
    }
    Status set(Handle h, u64 id, u64 v) { return cat.set_u64(h, id, v); }
    std::vector<VcpuContext> ctx;
    ArrayVcpuContexts contexts;
    PmuRegisterClass cls;
    RegisterCatalogue cat;
};

}  // namespace

TEST(PmuRegs, KvmsListOf74PerVcpu) {
    Pmu p;
    EXPECT_EQ(p.cat.reg_count(kV0), 74u);
    EXPECT_EQ(p.cat.reg_count(kV1), 74u);
    EXPECT_EQ(p.cat.reg_count(Handle::vm()), 0u);
    std::vector<u64> ids(74);
    usize n = 0;
    ASSERT_EQ(p.cat.get_reg_list(kV0, Span<u64>(ids.data(), ids.size()), n), Status::ok);
    // KVM's order (tools/testing/selftests/kvm/arm64/get-reg-list.c "pmu_regs").
    EXPECT_EQ(ids[0], kIntenSet);
    EXPECT_EQ(ids[1], kIntenClr);
    EXPECT_EQ(ids[2], kPmcr);
    EXPECT_EQ(ids[6], kSwInc);
    EXPECT_EQ(ids[10], kOvsSet);
    EXPECT_EQ(ids[11], evcntr(0));
    EXPECT_EQ(ids[41], evcntr(30));
    EXPECT_EQ(ids[42], evtyper(0));
    EXPECT_EQ(ids[72], evtyper(30));
    EXPECT_EQ(ids[73], kCcfiltr);
    EXPECT_EQ(evtyper(30), sysreg_id(3, 3, 14, 15, 6));
    for (usize i = 1; i < ids.size(); ++i) EXPECT_LT(ids[i - 1], ids[i]);
    for (u64 id : ids) EXPECT_EQ(p.cat.scope_of(id).value_or(Scope::vm), Scope::vcpu);
}

TEST(PmuRegs, NoPmuNoRegisters) {
    Pmu p(0);
    EXPECT_EQ(p.cat.reg_count(kV0), 0u);
    u64 v = 0;
    EXPECT_EQ(p.cat.get_u64(kV0, kPmcr, v), Status::not_found);
    EXPECT_EQ(p.cat.set_u64(kV0, kPmcr, 0), Status::not_found);
    Pmu impdef(0xf);
    EXPECT_EQ(impdef.cat.reg_count(kV0), 0u);
}

TEST(PmuRegs, ResetValuesAndReadOnlyPmcrFields) {
    Pmu p;
    EXPECT_EQ(p.get(kV0, kPmcr), 0x41013040u);  // host IMP/IDCODE/N, LC; E = 0
    for (u64 id : {kCntenSet, kCntenClr, kIntenSet, kIntenClr, kOvsSet, kOvsClr, kSelr, kUserenr, kCcntr, kCcfiltr})
        EXPECT_EQ(p.get(kV0, id), 0u) << std::hex << id;
    EXPECT_EQ(p.get(kV0, evcntr(5)), 0u);
    EXPECT_EQ(p.get(kV0, evtyper(30)), 0u);
    // Writable bits only reach the context; IMP and IDCODE of another CPU model are ignored, not refused.
    EXPECT_EQ(p.set(kV0, kPmcr, 0x42023000 | 0x81), Status::ok);
    EXPECT_EQ(p.ctx[0].pmu.pmcr, 0x81u);
    EXPECT_EQ(p.get(kV0, kPmcr), 0x41013081u);
    EXPECT_EQ(p.get(kV1, kPmcr), 0x41013040u);  // per vCPU
    p.cat.reset_vcpu(0);
    EXPECT_EQ(p.get(kV0, kPmcr), 0x41013040u);
}

TEST(PmuRegs, SetAndClrViewsAreOneRegisterWithValueSemantics) {
    Pmu p;
    EXPECT_EQ(p.set(kV0, kCntenSet, 0x80000005), Status::ok);
    EXPECT_EQ(p.get(kV0, kCntenClr), 0x80000005u);
    EXPECT_EQ(p.set(kV0, kCntenClr, 0x2), Status::ok);  // replaces, does not clear bits (KVM since 2025)
    EXPECT_EQ(p.get(kV0, kCntenSet), 0x2u);
    EXPECT_EQ(p.set(kV0, kIntenClr, 0x80000000), Status::ok);
    EXPECT_EQ(p.get(kV0, kIntenSet), 0x80000000u);
    EXPECT_EQ(p.set(kV0, kOvsSet, 0x21), Status::ok);
    EXPECT_EQ(p.get(kV0, kOvsClr), 0x21u);
    EXPECT_EQ(p.ctx[0].pmu.ovsset, 0x21u);
    EXPECT_EQ(p.ctx[1].pmu.ovsset, 0u);
    // PMSWINC_EL0 is write-only: RAZ, writes ignored.
    EXPECT_EQ(p.set(kV0, kSwInc, 0xffffffff), Status::ok);
    EXPECT_EQ(p.get(kV0, kSwInc), 0u);
}

TEST(PmuRegs, RestoredValuesAreValidatedAgainstThisPmu) {
    Pmu p;
    auto refused = [&](u64 id, u64 v) {
        const PmuRegs before = p.ctx[0].pmu;
        EXPECT_EQ(p.set(kV0, id, v), Status::invalid_argument) << std::hex << id << " " << v;
        EXPECT_EQ(memcmp(&before, &p.ctx[0].pmu, sizeof before), 0) << "a refused SET changed state";
    };
    // Counters beyond PMCR.N (6) do not exist.
    refused(kCntenSet, 0x40);
    refused(kIntenClr, 0x7fffffff);
    refused(kOvsSet, u64{1} << 32);
    refused(evcntr(6), 1);
    refused(evtyper(30), 0x11);
    EXPECT_EQ(p.set(kV0, evcntr(6), 0), Status::ok);                      // 0 is what a save of a missing counter gives
    EXPECT_EQ(p.set(kV0, evcntr(5), 0xffffffff00000001ull), Status::ok);  // 64-bit counters (v3p5)
    EXPECT_EQ(p.set(kV0, evtyper(5), 0xf8000011), Status::ok);
    refused(evtyper(5), 0x00010011);  // RES0 bits [23:16]
    refused(evtyper(5), u64{1} << 40);
    // PMCR: N must be the host's; P and C are actions, never state; RES0 bits refused.
    refused(kPmcr, 0x41012800);                 // N = 5
    refused(kPmcr, 0x41013002);                 // P
    refused(kPmcr, 0x41013004);                 // C
    refused(kPmcr, 0x41013100);                 // bit 8 RES0
    refused(kPmcr, u64{1} << 32 | 0x41013000);  // FZO (v3p7) is not offered
    refused(kUserenr, 0x10);
    refused(kSelr, 0x20);
    refused(kCcfiltr, 0x02000000);  // MT does not apply to the cycle counter
    EXPECT_EQ(p.set(kV0, kSelr, 31), Status::ok);
    EXPECT_EQ(p.set(kV0, kCcntr, ~u64{0}), Status::ok);
    EXPECT_EQ(p.get(kV0, kCcntr), ~u64{0});

    // A PMUv3p4 host: 32-bit event counters, no PMCR.LP.
    Pmu v3p4(5);
    EXPECT_EQ(v3p4.set(kV0, evcntr(0), u64{1} << 32), Status::invalid_argument);
    EXPECT_EQ(v3p4.set(kV0, evcntr(0), 0xffffffff), Status::ok);
    EXPECT_EQ(v3p4.set(kV0, kPmcr, 0x41013080), Status::invalid_argument);
}
