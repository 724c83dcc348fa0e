#include "core/pmu.hpp"

#include <gtest/gtest.h>

using namespace hv;
using namespace hv::pmu;

namespace {
constexpr u64 kQemuPmcr = 0x41013000;  // IMP 'A', IDCODE 1, N 6 (QEMU 7.2 -cpu max)
constexpr u64 dfr0(u64 pmuver) { return pmuver << 8 | 0x6; }
}  // namespace

TEST(Pmu, GuestVersionIsCappedAtV3p5) {
    EXPECT_EQ(guest_version(0), kVerNone);
    EXPECT_EQ(guest_version(kVerV3), kVerV3);
    EXPECT_EQ(guest_version(kVerV3p1), kVerV3p1);
    EXPECT_EQ(guest_version(kVerV3p4), kVerV3p4);
    EXPECT_EQ(guest_version(kVerV3p5), kVerV3p5);
    EXPECT_EQ(guest_version(7), kVerV3p5);  // v3p7
    EXPECT_EQ(guest_version(9), kVerV3p5);  // v3p9: PMUACR_EL1 etc. are not switched
    EXPECT_EQ(guest_version(kVerImpDef), kVerNone);
}

TEST(Pmu, ConfigFromTheHost) {
    const Config c = make_config(dfr0(6), kQemuPmcr | 0x41);  // E and LC set on the host: not read-only fields
    EXPECT_TRUE(c.present());
    EXPECT_EQ(c.version, kVerV3p5);
    EXPECT_EQ(c.counters, 6u);
    EXPECT_EQ(c.pmcr_ro, kQemuPmcr);
    EXPECT_EQ(c.counter_mask(), 0x8000003full);
    EXPECT_EQ(c.pmcr_writable(), 0xf9u);  // E D X DP LC LP; never P (bit 1) or C (bit 2)
    EXPECT_EQ(c.evcntr_mask(), ~u64{0});  // 64-bit event counters (v3p5)
    EXPECT_EQ(c.evtyper_mask(), 0xfe00ffffu);
    EXPECT_EQ(c.ccfiltr_mask(), 0xfc000000u);

    const Config v3 = make_config(dfr0(1), 0x41001000);  // PMUv3, N = 2
    EXPECT_EQ(v3.counters, 2u);
    EXPECT_EQ(v3.counter_mask(), 0x80000003ull);
    EXPECT_EQ(v3.pmcr_writable(), 0x79u);  // no LP before v3p5
    EXPECT_EQ(v3.evcntr_mask(), 0xffffffffu);
    EXPECT_EQ(v3.evtyper_mask(), 0xfe0003ffu);  // 10-bit event numbers

    const Config all = make_config(dfr0(6), u64{31} << 11);
    EXPECT_EQ(all.counter_mask(), 0xffffffffull);

    const Config none = make_config(dfr0(0), kQemuPmcr);
    EXPECT_FALSE(none.present());
    EXPECT_EQ(none.counters, 0u);
    EXPECT_FALSE(make_config(dfr0(kVerImpDef), kQemuPmcr).present());
}

TEST(Pmu, MdcrGivesEveryCounterToTheGuestAndHidesEl2) {
    EXPECT_EQ(mdcr_el2(make_config(dfr0(6), kQemuPmcr)), 6u | bit(17) | bit(23));  // HPMN 6, HPMD, HCCD
    EXPECT_EQ(mdcr_el2(make_config(dfr0(4), kQemuPmcr)), 6u | bit(17));            // no HCCD before v3p5
    EXPECT_EQ(mdcr_el2(make_config(dfr0(1), kQemuPmcr)), 6u);                      // no HPMD before v3p1
    EXPECT_EQ(mdcr_el2(make_config(dfr0(0), kQemuPmcr)), 0u);
    // Never a trap: TPMCR (5), TPM (6), TDE (8), TDA (9), TDOSA (10), TDRA (11).
    EXPECT_EQ(mdcr_el2(make_config(dfr0(6), u64{31} << 11)) & 0xfe0, 0u);
}

TEST(Pmu, OverflowLevelIsEAndOverflowAndInterruptEnable) {
    EXPECT_FALSE(overflow_level(0, 0, 0));
    EXPECT_TRUE(overflow_level(1, 0x1, 0x1));
    EXPECT_TRUE(overflow_level(1, 0x80000000, 0x80000001));
    EXPECT_FALSE(overflow_level(0, 0x1, 0x1));  // PMCR.E = 0: no request
    EXPECT_FALSE(overflow_level(1, 0x1, 0x2));  // overflow of a counter without its interrupt enable
    EXPECT_FALSE(overflow_level(1 | 0x40, 0x4, 0x3));
    EXPECT_TRUE(overflow_level(0x41013041, 0x5, 0x4));  // read-only fields do not matter
}

TEST(Pmu, ResetStateIsKvms) {
    PmuRegs r;
    memset(&r, 0xa5, sizeof r);
    reset(r);
    EXPECT_EQ(r.pmcr, 0x40u);  // LC (AArch64-only guest), E = 0
    EXPECT_EQ(r.cntenset | r.intenset | r.ovsset | r.userenr | r.selr | r.ccntr | r.ccfiltr, 0u);
    for (unsigned n = 0; n < PmuRegs::kMaxEventCounters; ++n) {
        EXPECT_EQ(r.evcntr[n], 0u);
        EXPECT_EQ(r.evtyper[n], 0u);
    }
}
