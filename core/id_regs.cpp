// Guest ID register values. Field layouts: DDI0487 D19.2 (ID_AA64*_EL1). Policy (which features are hidden and
// why): docs/boot.md "ID registers". Everything not explicitly passed through reads as zero, which for every
// hidden field below means "not implemented" (none of them is a signed field whose absence is 0xF).
#include "core/id_regs.hpp"

#include "core/pmu.hpp"

namespace hv::idreg {

namespace {

constexpr u64 f(unsigned lo) { return mask(lo + 3, lo); }  // the 4-bit ID field starting at bit `lo`

struct Rule {
    u32 key;
    HostReg host;
    u64 pass;  // fields copied from the host; everything else reads 0
};

// ID_AA64PFR0_EL1: EL0/EL1 forced to 1 (AArch64 only) below. Passed: FP [19:16], AdvSIMD [23:20], GIC [27:24]
// (capped to 1 below), DIT [51:48], CSV2 [59:56], CSV3 [63:60]. Hidden: EL2, EL3 (no nested virtualisation, SMC
// is trapped), RAS [31:28] (ERR* / DISR_EL1 not switched), SVE [35:32] (trapped by CPTR_EL2.TZ), SEL2, MPAM,
// AMU [47:44] (not switched), RME.
constexpr u64 kPfr0Pass = f(16) | f(20) | f(24) | f(48) | f(56) | f(60);
// ID_AA64PFR1_EL1: BT [3:0] (SCTLR_EL1.BT* switched), SSBS [7:4] (PSTATE.SSBS in SPSR), CSV2_frac [35:32].
// Hidden: MTE, RAS_frac, MPAM_frac, SME [27:24] (trapped by CPTR_EL2.TSM), RNDR_trap, NMI, MTE_frac, GCS, THE, ...
constexpr u64 kPfr1Pass = f(0) | f(4) | f(32);
// ID_AA64DFR0_EL1: DebugVer [3:0], PMUVer [11:8] (capped below: core/pmu.hpp), BRPs [15:12], WRPs [23:20],
// CTX_CMPs [31:28], DoubleLock [39:36] (signed: 0 means implemented, so it is passed, not zeroed). Hidden:
// TraceVer, PMSVer (SPE), TraceFilt, TraceBuffer, MTPMU, BRBE, HPMN0.
constexpr u64 kDfr0Pass = f(0) | f(8) | f(12) | f(20) | f(28) | f(36);
// ID_AA64ISAR0_EL1: every instruction-set field except TME [27:24] (transactional memory state not switched).
constexpr u64 kIsar0Pass = ~f(24);
// ID_AA64ISAR1_EL1: everything except LS64 [63:60] (needs HCRX_EL2 enables the hypervisor does not set).
constexpr u64 kIsar1Pass = ~f(60);
// ID_AA64ISAR2_EL1: RPRES [7:4], GPA3 [11:8], APA3 [15:12], BC [23:20], PAC_frac [27:24], CLRBHB [31:28].
// Hidden: WFxT [3:0] (WFIT/WFET trap as WFI/WFE without honouring the timeout), MOPS [19:16] (needs
// HCRX_EL2.MSCEn), SYSREG_128, SYSINSTR_128 and anything newer.
constexpr u64 kIsar2Pass = f(4) | f(8) | f(12) | f(20) | f(24) | f(28);
// ID_AA64MMFR0_EL1: PARange [3:0] (capped to the IPA size below), ASIDBits, BigEnd, SNSMem, BigEndEL0, TGran16,
// TGran64, TGran4, TGran*_2, ExS [47:44]. Hidden: FGT [59:56], ECV [63:60] (EL2 features).
constexpr u64 kMmfr0Pass = mask(47, 0);
// ID_AA64MMFR1_EL1: HAFDBS [3:0], HPDS [15:12], LO [19:16], PAN [23:20], SpecSEI [27:24], ETS [39:36], AFP
// [47:44], nTLBPA [51:48], CMOW [59:56], ECBHB [63:60]. Hidden: VMIDBits, VH, XNX, TWED, HCX, TIDCP1 (EL2).
constexpr u64 kMmfr1Pass = f(0) | f(12) | f(16) | f(20) | f(24) | f(36) | f(44) | f(48) | f(56) | f(60);
// ID_AA64MMFR2_EL1: CnP, UAO, LSM, IESB, VARange, CCIDX [23:20], ST [31:28], AT [35:32], IDS [39:36], TTL
// [51:48], BBM [55:52], E0PD [63:60]. Hidden: NV [27:24], FWB [43:40], EVT [59:56] (EL2 features).
constexpr u64 kMmfr2Pass = mask(23, 0) | f(28) | f(32) | f(36) | f(48) | f(52) | f(60);

constexpr Rule kRules[] = {
    {key(3, 0, 0, 4, 0), HostReg::pfr0, kPfr0Pass},   {key(3, 0, 0, 4, 1), HostReg::pfr1, kPfr1Pass},
    {key(3, 0, 0, 5, 0), HostReg::dfr0, kDfr0Pass},   {key(3, 0, 0, 6, 0), HostReg::isar0, kIsar0Pass},
    {key(3, 0, 0, 6, 1), HostReg::isar1, kIsar1Pass}, {key(3, 0, 0, 6, 2), HostReg::isar2, kIsar2Pass},
    {key(3, 0, 0, 7, 0), HostReg::mmfr0, kMmfr0Pass}, {key(3, 0, 0, 7, 1), HostReg::mmfr1, kMmfr1Pass},
    {key(3, 0, 0, 7, 2), HostReg::mmfr2, kMmfr2Pass},
};
static_assert(array_size(kRules) == kHostRegCount, "one rule per host register");

using Pfr0El0 = Field<3, 0>;
using Pfr0El1 = Field<7, 4>;
using Pfr0Gic = Field<27, 24>;
using Mmfr0PaRange = Field<3, 0>;

}  // namespace

u32 host_reg_key(HostReg r) {
    for (const Rule& rule : kRules)
        if (rule.host == r) return rule.key;
    return 0;
}

u64 parange_for_bits(unsigned bits) {
    // DDI0487 D19.2.64: 0 = 32, 1 = 36, 2 = 40, 3 = 42, 4 = 44, 5 = 48, 6 = 52 bits.
    constexpr unsigned kBits[] = {32, 36, 40, 42, 44, 48, 52};
    u64 enc = 0;
    for (u64 i = 0; i < array_size(kBits); ++i)
        if (bits >= kBits[i]) enc = i;
    return enc;
}

u64 guest_id_value(u32 k, const HostIdRegs& host, unsigned ipa_bits) {
    for (const Rule& rule : kRules) {
        if (rule.key != k) continue;
        u64 v = host[rule.host] & rule.pass;
        switch (rule.host) {
            case HostReg::pfr0:
                // EL0 and EL1 are AArch64-only in the VM (HCR_EL2.RW = 1; the vectors do not handle AArch32 exits).
                v = Pfr0El0::set(v, 1);
                v = Pfr0El1::set(v, 1);
                // GIC: the guest gets a GICv3 CPU interface (1), never the v4.1 system registers (3).
                if (Pfr0Gic::get(v) > 1) v = Pfr0Gic::set(v, 1);
                break;
            case HostReg::mmfr0: {
                const u64 cap = parange_for_bits(ipa_bits);
                if (Mmfr0PaRange::get(v) > cap) v = Mmfr0PaRange::set(v, cap);
                break;
            }
            case HostReg::dfr0:
                // PMUVer: the guest's PMUv3 (min(host, v3p5); IMPLEMENTATION DEFINED -> none), as KVM.
                v = pmu::PmuVer::set(v, pmu::guest_version(pmu::PmuVer::get(v)));
                break;
            case HostReg::pfr1:
            case HostReg::isar0:
            case HostReg::isar1:
            case HostReg::isar2:
            case HostReg::mmfr1:
            case HostReg::mmfr2:
            case HostReg::count:
                break;
        }
        return v;
    }
    // AArch32 ID registers (CRm 1..3: no AArch32 in the VM), ID_AA64PFR2, ZFR0 (SVE hidden), SMFR0 (SME hidden),
    // FPFR0, DFR1/2, AFR0/1, ISAR3, MMFR3/4 (TCR2/PIE/POE state not switched) and unallocated encodings: RAZ.
    return 0;
}

}  // namespace hv::idreg
