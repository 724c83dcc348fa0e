// Exception syndrome (ESR_ELx) decoding into small typed structs (ARM DDI0487 D17.2.37 "ESR_EL2").
// Pure functions of the register value: host-unit-tested, used by arch/aarch64 to dispatch guest exits.
#pragma once

#include "core/arm_defs.hpp"
#include "lib/bits.hpp"

namespace hv::esr {

using Ec = Field<31, 26>;  // exception class
using Il = Bit<25>;        // 32-bit instruction
using Iss = Field<24, 0>;

enum class ExceptionClass : u8 {
    unknown = 0x00,
    wfx = 0x01,
    fp_simd = 0x07,
    hvc64 = 0x16,
    smc64 = 0x17,
    sysreg = 0x18,
    sve = 0x19,
    sme = 0x1d,  // FEAT_SME access trapped by CPTR_EL2.TSM
    iabt_lower = 0x20,
    iabt_current = 0x21,
    pc_alignment = 0x22,
    dabt_lower = 0x24,
    dabt_current = 0x25,
    sp_alignment = 0x26,
    fp_exception = 0x2c,
    serror = 0x2f,
    breakpoint_lower = 0x30,
    step_lower = 0x32,
    watchpoint_lower = 0x34,
    brk64 = 0x3c,
};

constexpr ExceptionClass exception_class(u64 esr) { return static_cast<ExceptionClass>(Ec::get(esr)); }
constexpr bool is_32bit_instruction(u64 esr) { return Il::get(esr) != 0; }
const char* ec_name(u64 esr);

// Fault status codes (DFSC/IFSC, ISS[5:0]) used when we inject aborts.
constexpr u8 kFscSyncExternal = 0x10;

// Data abort (EC 0x24/0x25), ISS encoding for "data abort" (DDI0487 D17.2.37, ISS for EC 0b10010x).
struct DataAbort {
    bool isv = false;          // ISS[24]: syndrome (SAS/SSE/SRT/SF/AR) valid
    u8 access_size = 0;        // bytes: 1 << SAS (only if isv)
    bool sign_extend = false;  // SSE
    u8 srt = 0;                // transfer register (31 = XZR/WZR)
    bool sf = false;           // 64-bit register
    bool acquire_release = false;
    bool fnv = false;          // FAR not valid
    bool external = false;     // EA
    bool cache_maint = false;  // CM
    bool s1ptw = false;        // stage-2 fault on a stage-1 table walk
    bool write = false;        // WnR
    u8 dfsc = 0;               // fault status code
    bool il32 = true;          // instruction length 32 bits

    static constexpr DataAbort from_esr(u64 esr) {
        DataAbort d;
        u64 iss = Iss::get(esr);
        d.isv = Bit<24>::get(iss);
        d.access_size = static_cast<u8>(1u << Field<23, 22>::get(iss));
        d.sign_extend = Bit<21>::get(iss);
        d.srt = static_cast<u8>(Field<20, 16>::get(iss));
        d.sf = Bit<15>::get(iss);
        d.acquire_release = Bit<14>::get(iss);
        d.fnv = Bit<10>::get(iss);
        d.external = Bit<9>::get(iss);
        d.cache_maint = Bit<8>::get(iss);
        d.s1ptw = Bit<7>::get(iss);
        d.write = Bit<6>::get(iss);
        d.dfsc = static_cast<u8>(Field<5, 0>::get(iss));
        d.il32 = is_32bit_instruction(esr);
        return d;
    }
    // Translation or access-flag fault at stage 2: the IPA has no mapping (an emulated frame or a hole).
    constexpr bool is_translation_fault() const { return (dfsc & 0x3c) == 0x04; }  // 0b0001LL
    constexpr bool is_access_flag_fault() const { return (dfsc & 0x3c) == 0x08; }  // 0b0010LL
    constexpr bool is_permission_fault() const { return (dfsc & 0x3c) == 0x0c; }   // 0b0011LL
    constexpr u8 fault_level() const { return dfsc & 3; }
    // An MMIO access we can emulate from the syndrome alone.
    constexpr bool emulatable() const { return isv && !s1ptw && !cache_maint && !external; }
};

// The same data-abort ISS read field by field where it is used, for the exit fast path (arch/aarch64/fast_exit.cpp):
// DataAbort's thirteen decoded fields were more than the compiler kept in registers there, and went to the stack.
struct DataAbortSyndrome {
    using Isv = Bit<24>;
    using Sas = Field<23, 22>;
    using Sse = Bit<21>;
    using Srt = Field<20, 16>;
    using Sf = Bit<15>;
    using Ea = Bit<9>;
    using Cm = Bit<8>;
    using S1ptw = Bit<7>;
    using WnR = Bit<6>;
    using FaultKind = Field<5, 2>;  // DFSC[5:2]: 0b0001 translation, 0b0010 access flag (any level)

    u64 esr;

    // DataAbort::emulatable() on a translation or access-flag fault: what an access to an unmapped MMIO frame gives.
    constexpr bool emulatable_unmapped() const {
        constexpr u64 kMustBeIsvOnly = Isv::field_mask | Ea::field_mask | Cm::field_mask | S1ptw::field_mask;
        if ((esr & kMustBeIsvOnly) != Isv::field_mask) return false;
        const u64 kind = FaultKind::get(esr);
        return kind == 1 || kind == 2;
    }
    constexpr u8 access_size() const { return static_cast<u8>(1u << Sas::get(esr)); }
    constexpr unsigned srt() const { return static_cast<unsigned>(Srt::get(esr)); }
    constexpr bool write() const { return WnR::get(esr) != 0; }
    // The bits of an access of this width.
    constexpr u64 width_mask() const {
        const u64 sas = Sas::get(esr);
        return sas == 3 ? ~u64{0} : (u64{1} << (8u << sas)) - 1;
    }
    // A read's value as its register receives it: truncated to the access, sign-extended (LDRS*), 32-bit for a W
    // register (SAS, SSE, SF).
    constexpr u64 register_value(u64 value) const {
        const unsigned unused = 64 - (8u << Sas::get(esr));  // bits above the access
        value <<= unused;
        value = Sse::get(esr) ? static_cast<u64>(static_cast<i64>(value) >> unused) : value >> unused;
        return Sf::get(esr) ? value : value & 0xffffffffull;
    }
};

// Instruction abort (EC 0x20/0x21).
struct InstructionAbort {
    bool fnv = false;
    bool external = false;
    bool s1ptw = false;
    u8 ifsc = 0;
    static constexpr InstructionAbort from_esr(u64 esr) {
        InstructionAbort a;
        u64 iss = Iss::get(esr);
        a.fnv = Bit<10>::get(iss);
        a.external = Bit<9>::get(iss);
        a.s1ptw = Bit<7>::get(iss);
        a.ifsc = static_cast<u8>(Field<5, 0>::get(iss));
        return a;
    }
};

// Trapped MSR/MRS/system instruction (EC 0x18). Op0[21:20] Op2[19:17] Op1[16:14] CRn[13:10] Rt[9:5] CRm[4:1] Dir[0].
struct SysRegAccess {
    u8 op0 = 0, op1 = 0, crn = 0, crm = 0, op2 = 0;
    u8 rt = 0;
    bool read = false;  // Direction = 1: MRS (read from the system register)

    static constexpr SysRegAccess from_esr(u64 esr) {
        SysRegAccess s;
        u64 iss = Iss::get(esr);
        s.op0 = static_cast<u8>(Field<21, 20>::get(iss));
        s.op2 = static_cast<u8>(Field<19, 17>::get(iss));
        s.op1 = static_cast<u8>(Field<16, 14>::get(iss));
        s.crn = static_cast<u8>(Field<13, 10>::get(iss));
        s.rt = static_cast<u8>(Field<9, 5>::get(iss));
        s.crm = static_cast<u8>(Field<4, 1>::get(iss));
        s.read = Bit<0>::get(iss);
        return s;
    }
    // The encoding packed like the MRS/MSR instruction's fields (op0:op1:CRn:CRm:op2), for switch statements.
    constexpr u32 key() const { return sysreg_key(op0, op1, crn, crm, op2); }
    static constexpr u32 sysreg_key(u32 op0, u32 op1, u32 crn, u32 crm, u32 op2) {
        return arm::sysreg_key(op0, op1, crn, crm, op2);
    }
    // Whether the syndrome `esr` (EC 0x18) is an access to the register `key` in direction `read`, whatever Rt: one
    // compare of the ISS without decoding it (the exit fast path's ICC_SGI1R_EL1 writes).
    static constexpr bool is(u64 esr, u32 key, bool read) {
        using namespace arm::sysreg_field;
        constexpr u64 kRt = Field<9, 5>::field_mask;
        const u64 want = Field<21, 20>::make(Op0::get(key)) | Field<19, 17>::make(Op2::get(key)) |
                         Field<16, 14>::make(Op1::get(key)) | Field<13, 10>::make(CRn::get(key)) |
                         Field<4, 1>::make(CRm::get(key)) | Bit<0>::make(read ? 1 : 0);
        return (Iss::get(esr) & ~kRt) == want;
    }
    static constexpr unsigned rt_of(u64 esr) { return static_cast<unsigned>(Field<9, 5>::get(esr)); }
};

// HVC/SMC (EC 0x16/0x17): the immediate.
struct HvcSmc {
    u16 imm = 0;
    bool smc = false;
    static constexpr HvcSmc from_esr(u64 esr) {
        return HvcSmc{static_cast<u16>(Field<15, 0>::get(esr)), exception_class(esr) == ExceptionClass::smc64};
    }
};

// WFI/WFE (EC 0x01): TI[1:0] 0 WFI, 1 WFE, 2 WFIT, 3 WFET.
struct Wfx {
    bool wfe = false;
    bool timeout_variant = false;
    static constexpr Wfx from_esr(u64 esr) {
        u64 ti = Field<1, 0>::get(esr);
        return Wfx{(ti & 1) != 0, (ti & 2) != 0};
    }
};

// Builders for the syndromes we inject into a guest's ESR_EL1.
constexpr u64 make(ExceptionClass ec, bool il32, u64 iss) {
    return Ec::make(static_cast<u64>(ec)) | Il::make(il32 ? 1 : 0) | Iss::make(iss);
}

// IPA of a stage-2 fault from HPFAR_EL2 (FIPA[43:4] = IPA[51:12]) and FAR_EL2 (page offset).
constexpr u64 fault_ipa(u64 hpfar, u64 far) { return (Field<43, 4>::get(hpfar) << 12) | (far & 0xfff); }

}  // namespace hv::esr
