// The guest's PMUv3 (DDI0487 D13 "The Performance Monitors Extension"): which version and how many counters it is
// given, which register bits exist, the overflow interrupt level and the reset state. Pure functions of the host's
// values (arch/aarch64/pmu.cpp reads them; the register list validates with them); host-unit-tested.
// Design and choices: docs/boot.md "PMU".
#pragma once

#include "core/vcpu_context.hpp"
#include "lib/bits.hpp"

namespace hv::pmu {

// ID_AA64DFR0_EL1.PMUVer [11:8] (DDI0487 D19.2.x): 1 = PMUv3, 4 = v3p1, 5 = v3p4, 6 = v3p5, 7 = v3p7, 8 = v3p8,
// 0xF = IMPLEMENTATION DEFINED (not PMUv3).
using PmuVer = Field<11, 8>;
constexpr u64 kVerNone = 0;
constexpr u64 kVerV3 = 1;
constexpr u64 kVerV3p1 = 4;
constexpr u64 kVerV3p4 = 5;
constexpr u64 kVerV3p5 = 6;
constexpr u64 kVerImpDef = 0xf;
// The highest version the guest is told about (KVM's cap): v3p5 is what the register switch carries -- 64-bit
// event counters (PMCR.LP) included. Later versions add state nobody switches (v3p7 PMCR.FZO is kept out of the
// writable mask, v3p9 PMUACR_EL1/PMICNTR_EL0 are new registers).
constexpr u64 kVerCap = kVerV3p5;

// The guest's PMUVer for the host's: min(host, kVerCap); an IMPLEMENTATION DEFINED PMU counts as none (KVM).
constexpr u64 guest_version(u64 host_pmuver) {
    if (host_pmuver == kVerImpDef) return kVerNone;
    return host_pmuver < kVerCap ? host_pmuver : kVerCap;
}

// The index of the cycle counter in the PMCNTEN/PMINTEN/PMOVS bitmaps.
constexpr unsigned kCycleIdx = 31;

// PMCR_EL0 (DDI0487 D13.x): E, P (event counter reset, write-only), C (cycle counter reset, write-only), D, X, DP,
// LC, LP (v3p5), N [15:11] (read-only: MDCR_EL2.HPMN at EL1), IDCODE [23:16], IMP [31:24].
namespace pmcr {
using E = Bit<0>;
using P = Bit<1>;
using C = Bit<2>;
using D = Bit<3>;
using X = Bit<4>;
using DP = Bit<5>;
using LC = Bit<6>;
using LP = Bit<7>;
using N = Field<15, 11>;
using IdCode = Field<23, 16>;
using Imp = Field<31, 24>;
constexpr u64 kReadOnly = Imp::field_mask | IdCode::field_mask | N::field_mask;
}  // namespace pmcr

// MDCR_EL2 (DDI0487 D19.2.x): HPMN [4:0], TPMCR (5), TPM (6), HPME (7), TDE (8), HPMD (17, v3p1), HCCD (23, v3p5).
namespace mdcr {
using Hpmn = Field<4, 0>;
using Hpmd = Bit<17>;
using Hccd = Bit<23>;
}  // namespace mdcr

// PMEVTYPER<n>_EL0 / PMCCFILTR_EL0 filter bits: P (EL1), U (EL0), NSK, NSU, NSH (EL2), M (EL3), MT (25, event
// counters only); evtCount [9:0] (PMUv3) or [15:0] (v3p1 and later).
namespace evtyper {
using P = Bit<31>;
using U = Bit<30>;
using Nsk = Bit<29>;
using Nsu = Bit<28>;
using Nsh = Bit<27>;
using M = Bit<26>;
using Mt = Bit<25>;
constexpr u64 kFilterBits = mask(31, 26);
}  // namespace evtyper

// What the guest's PMU is: the host's, with PMUVer capped.
struct Config {
    u64 version = kVerNone;  // guest PMUVer (0: no PMU)
    u32 counters = 0;        // event counters, PMCR_EL0.N (0..31)
    u64 pmcr_ro = 0;         // the host PMCR_EL0's read-only fields (IMP, IDCODE, N)

    constexpr bool present() const { return version != kVerNone; }
    // The counters that exist in the PMCNTEN/PMINTEN/PMOVS bitmaps: event counters 0..N-1 and the cycle counter.
    constexpr u64 counter_mask() const { return bit(kCycleIdx) | (counters >= 31 ? mask(30, 0) : bit(counters) - 1); }
    // PMCR bits the guest can write and that read back (P and C are actions and read 0).
    constexpr u64 pmcr_writable() const {
        return pmcr::E::field_mask | pmcr::D::field_mask | pmcr::X::field_mask | pmcr::DP::field_mask |
               pmcr::LC::field_mask | (version >= kVerV3p5 ? pmcr::LP::field_mask : 0);
    }
    constexpr u64 evtyper_mask() const {
        return evtyper::kFilterBits | evtyper::Mt::field_mask | (version >= kVerV3p1 ? mask(15, 0) : mask(9, 0));
    }
    constexpr u64 ccfiltr_mask() const { return evtyper::kFilterBits; }
    // Event counters are 64 bits wide from v3p5 on (PMCR.LP chooses the overflow point), 32 bits before.
    constexpr u64 evcntr_mask() const { return version >= kVerV3p5 ? ~u64{0} : mask(31, 0); }
    static constexpr u64 kUserenrMask = mask(3, 0);  // PMUSERENR_EL0: EN, SW, CR, ER
    static constexpr u64 kSelrMask = mask(4, 0);     // PMSELR_EL0.SEL
};

// The guest's configuration for the host's ID_AA64DFR0_EL1 and PMCR_EL0 (the latter only read if a PMU exists).
constexpr Config make_config(u64 host_dfr0, u64 host_pmcr) {
    Config c;
    c.version = guest_version(PmuVer::get(host_dfr0));
    if (!c.present()) return c;
    c.counters = static_cast<u32>(pmcr::N::get(host_pmcr));
    c.pmcr_ro = host_pmcr & pmcr::kReadOnly;
    return c;
}

// MDCR_EL2 for running guests: every counter belongs to EL1/EL0 (HPMN = N, no TPM/TPMCR traps), and counting is
// prohibited at EL2 (HPMD, v3p1; HCCD for the cycle counter, v3p5) so the hypervisor's own execution never shows in
// the guest's counters. No PMU: 0 (HPMN is then unused).
constexpr u64 mdcr_el2(const Config& c) {
    if (!c.present()) return 0;
    u64 v = mdcr::Hpmn::make(c.counters);
    if (c.version >= kVerV3p1) v |= mdcr::Hpmd::field_mask;
    if (c.version >= kVerV3p5) v |= mdcr::Hccd::field_mask;
    return v;
}

// The PMU overflow interrupt request (DDI0487 D13.x, CheckForPMUOverflow): asserted while some counter n has
// PMOVSSET[n] and PMINTENSET[n] set and is enabled by PMCR.E (all counters are below HPMN, so no HPME term). This
// is the level the hardware drives on its PPI; PMCNTENSET does not take part (KVM's emulation also ANDs it; the
// guest's line must follow the physical one it is hardware-linked to).
constexpr bool overflow_level(u64 pmcr, u64 ovsset, u64 intenset) {
    return pmcr::E::get(pmcr) != 0 && (ovsset & intenset) != 0;
}

// A vCPU's PMU after reset (KVM's reset values for an AArch64-only guest): PMCR.LC = 1, counting disabled,
// every counter, enable, interrupt-enable and overflow bit 0.
inline void reset(PmuRegs& r) {
    r = PmuRegs{};
    r.pmcr = pmcr::LC::field_mask;
}

}  // namespace hv::pmu
