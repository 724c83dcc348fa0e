#include "core/reglist/id_regs_class.hpp"

#include "lib/string.hpp"

namespace hv::reglist {

namespace {

constexpr u32 k(u32 crm, u32 op2) { return arm::sysreg_key(3, 0, 0, crm, op2); }
constexpr u64 f(unsigned lo) { return mask(lo + 3, lo); }

struct FieldRules {
    u32 key;
    u64 signed_fields;  // DDI0487 D19.1.3: 0xF = not implemented, 0 = implemented, compared as signed
    u64 fixed_fields;   // must equal the limit (the VM's shape depends on them)
};
// ID_AA64PFR0_EL1: FP, AdvSIMD signed; EL0..EL3 and GIC fixed (AArch64-only EL0/EL1, no EL2/EL3, the vGIC is
// there whatever the value). ID_AA64DFR0_EL1: DoubleLock signed (PMUVer may be lowered: the PMU class refuses
// values outside the version's fields). ID_AA64MMFR0_EL1: TGran4 and TGran64 signed.
constexpr FieldRules kRules[] = {
    {k(4, 0), f(16) | f(20), f(0) | f(4) | f(8) | f(12) | f(24)},
    {k(5, 0), f(36), 0},
    {k(7, 0), f(24) | f(28), 0},
};

struct Names {
    u32 key;
    const char* reg;
    const char* fields[16];  // by bit position / 4; nullptr: not named
};
constexpr Names kNames[] = {
    {k(1, 0), "ID_PFR0_EL1", {}},
    {k(1, 1), "ID_PFR1_EL1", {}},
    {k(1, 2), "ID_DFR0_EL1", {}},
    {k(1, 3), "ID_AFR0_EL1", {}},
    {k(1, 4), "ID_MMFR0_EL1", {}},
    {k(1, 5), "ID_MMFR1_EL1", {}},
    {k(1, 6), "ID_MMFR2_EL1", {}},
    {k(1, 7), "ID_MMFR3_EL1", {}},
    {k(2, 0), "ID_ISAR0_EL1", {}},
    {k(2, 1), "ID_ISAR1_EL1", {}},
    {k(2, 2), "ID_ISAR2_EL1", {}},
    {k(2, 3), "ID_ISAR3_EL1", {}},
    {k(2, 4), "ID_ISAR4_EL1", {}},
    {k(2, 5), "ID_ISAR5_EL1", {}},
    {k(2, 6), "ID_MMFR4_EL1", {}},
    {k(2, 7), "ID_ISAR6_EL1", {}},
    {k(3, 0), "MVFR0_EL1", {}},
    {k(3, 1), "MVFR1_EL1", {}},
    {k(3, 2), "MVFR2_EL1", {}},
    {k(3, 4), "ID_PFR2_EL1", {}},
    {k(3, 5), "ID_DFR1_EL1", {}},
    {k(3, 6), "ID_MMFR5_EL1", {}},
    {k(4, 0),
     "ID_AA64PFR0_EL1",
     {"EL0", "EL1", "EL2", "EL3", "FP", "AdvSIMD", "GIC", "RAS", "SVE", "SEL2", "MPAM", "AMU", "DIT", "RME", "CSV2",
      "CSV3"}},
    {k(4, 1),
     "ID_AA64PFR1_EL1",
     {"BT", "SSBS", "MTE", "RAS_frac", "MPAM_frac", nullptr, "SME", "RNDR_trap", "CSV2_frac", "NMI", "MTE_frac", "GCS",
      "THE", "MTEX", "DF2", "PFAR"}},
    {k(4, 2), "ID_AA64PFR2_EL1", {}},
    {k(4, 4), "ID_AA64ZFR0_EL1", {}},
    {k(4, 5), "ID_AA64SMFR0_EL1", {}},
    {k(4, 7), "ID_AA64FPFR0_EL1", {}},
    {k(5, 0),
     "ID_AA64DFR0_EL1",
     {"DebugVer", "TraceVer", "PMUVer", "BRPs", "PMSS", "WRPs", "SEBEP", "CTX_CMPs", "PMSVer", "DoubleLock",
      "TraceFilt", "TraceBuffer", "MTPMU", "BRBE", "ExtTrcBuff", "HPMN0"}},
    {k(5, 1), "ID_AA64DFR1_EL1", {}},
    {k(5, 4), "ID_AA64AFR0_EL1", {}},
    {k(5, 5), "ID_AA64AFR1_EL1", {}},
    {k(6, 0),
     "ID_AA64ISAR0_EL1",
     {nullptr, "AES", "SHA1", "SHA2", "CRC32", "Atomic", "TME", "RDM", "SHA3", "SM3", "SM4", "DP", "FHM", "TS", "TLB",
      "RNDR"}},
    {k(6, 1),
     "ID_AA64ISAR1_EL1",
     {"DPB", "APA", "API", "JSCVT", "FCMA", "LRCPC", "GPA", "GPI", "FRINTTS", "SB", "SPECRES", "BF16", "DGH", "I8MM",
      "XS", "LS64"}},
    {k(6, 2),
     "ID_AA64ISAR2_EL1",
     {"WFxT", "RPRES", "GPA3", "APA3", "MOPS", "BC", "PAC_frac", "CLRBHB", "SYSREG_128", "SYSINSTR_128", "PRFMSLC",
      nullptr, "RPRFM", "CSSC", "LUT", "ATS1A"}},
    {k(6, 3), "ID_AA64ISAR3_EL1", {}},
    {k(7, 0),
     "ID_AA64MMFR0_EL1",
     {"PARange", "ASIDBits", "BigEnd", "SNSMem", "BigEndEL0", "TGran16", "TGran64", "TGran4", "TGran16_2", "TGran64_2",
      "TGran4_2", "ExS", nullptr, nullptr, "FGT", "ECV"}},
    {k(7, 1),
     "ID_AA64MMFR1_EL1",
     {"HAFDBS", "VMIDBits", "VH", "HPDS", "LO", "PAN", "SpecSEI", "XNX", "TWED", "ETS", "HCX", "AFP", "nTLBPA",
      "TIDCP1", "CMOW", "ECBHB"}},
    {k(7, 2),
     "ID_AA64MMFR2_EL1",
     {"CnP", "UAO", "LSM", "IESB", "VARange", "CCIDX", "NV", "ST", "AT", "IDS", "FWB", nullptr, "TTL", "BBM", "EVT",
      "E0PD"}},
    {k(7, 3), "ID_AA64MMFR3_EL1", {}},
    {k(7, 4), "ID_AA64MMFR4_EL1", {}},
};

const Names* names_of(u32 key) {
    for (const Names& n : kNames)
        if (n.key == key) return &n;
    return nullptr;
}

constexpr u64 kIdBase = sysreg_id(3, 0, 0, 0, 0);

}  // namespace

int id_field_refused(u32 key, u64 value, u64 limit) {
    u64 signed_fields = 0, fixed = 0;
    for (const FieldRules& r : kRules)
        if (r.key == key) signed_fields = r.signed_fields, fixed = r.fixed_fields;
    for (unsigned lo = 0; lo < 64; lo += 4) {
        const u64 v = (value >> lo) & 0xf, l = (limit >> lo) & 0xf;
        if (v == l) continue;
        if (fixed & f(lo)) return static_cast<int>(lo);
        if (signed_fields & f(lo)) {
            const int sv = v >= 8 ? static_cast<int>(v) - 16 : static_cast<int>(v);
            const int sl = l >= 8 ? static_cast<int>(l) - 16 : static_cast<int>(l);
            if (sv > sl) return static_cast<int>(lo);
        } else if (v > l) {
            return static_cast<int>(lo);
        }
    }
    return -1;
}

const char* id_reg_name(u32 key) {
    const Names* n = names_of(key);
    return n ? n->reg : nullptr;
}

const char* id_field_name(u32 key, unsigned lo) {
    const Names* n = names_of(key);
    return n && lo < 64 ? n->fields[lo / 4] : nullptr;
}

IdRegisterClass::IdRegisterClass(const idreg::HostIdRegs& host, unsigned ipa_bits) {
    for (usize i = 0; i < kCount; ++i) {
        const u32 key = static_cast<u32>(id_at(0, i) & 0xffff);
        limits_[i] = idreg::guest_id_value(key, host, ipa_bits);
        values_[i] = limits_[i];
    }
}

u64 IdRegisterClass::id_at(u32, usize i) const {
    if (i >= kCount) return 0;
    return kIdBase | k(static_cast<u32>(1 + i / 8), static_cast<u32>(i % 8));
}

int IdRegisterClass::index_of(u64 id) {
    if ((id & ~u64{0x3f}) != kIdBase) return -1;
    const u32 crm = static_cast<u32>((id >> 3) & 7), op2 = static_cast<u32>(id & 7);
    if (crm == 0) return -1;
    return static_cast<int>((crm - 1) * 8 + op2);
}

bool IdRegisterClass::owns(u64 id) const { return index_of(id) >= 0; }

Status IdRegisterClass::get(u32, u64 id, Span<u8> value) {
    const int i = index_of(id);
    if (i < 0) return Status::not_found;
    memcpy(value.data(), &values_[i], 8);
    return Status::ok;
}

Status IdRegisterClass::validate(u32, u64 id, Span<const u8> value, Refusal& why) {
    const int i = index_of(id);
    if (i < 0) return Status::not_found;
    u64 v = 0;
    memcpy(&v, value.data(), 8);
    const u32 key = static_cast<u32>(id & 0xffff);
    const int lo = id_field_refused(key, v, limits_[i]);
    if (lo < 0) return Status::ok;
    why.reg = id_reg_name(key);
    why.host = limits_[i];
    why.has_host = true;
    why.feature = id_field_name(key, static_cast<unsigned>(lo));
    why.reason = "a feature this host does not give the guest";
    return Status::invalid_argument;
}

Status IdRegisterClass::set(u32 vcpu, u64 id, Span<const u8> value) {
    Refusal why;
    HV_TRY(validate(vcpu, id, value, why));
    memcpy(&values_[index_of(id)], value.data(), 8);
    return Status::ok;
}

void IdRegisterClass::reset(u32) {
    // The VM's ID registers are configuration (KVM: fixed once the VM has run); a VM reset keeps them.
}

u64 IdRegisterClass::guest_value(u32 key) const {
    const int i = index_of(kIdBase | key);
    return i < 0 ? 0 : values_[i];
}

u64 IdRegisterClass::limit(u32 key) const {
    const int i = index_of(kIdBase | key);
    return i < 0 ? 0 : limits_[i];
}

}  // namespace hv::reglist
