// The guest's view of the AArch64 ID registers. HCR_EL2.TID3 traps every MRS of the ID space (op0 = 3, op1 = 0,
// CRn = 0, CRm = 1..7; DDI0487 D17.2.48 "TID3"); the exit handler answers with guest_id_value(): the host's value
// with every feature the world switch does not context-switch (or that needs EL2 support we do not give) hidden,
// and RAZ for the AArch32 and unallocated encodings. The list follows what KVM hides; docs/boot.md has the table.
// Pure functions of the host values: host-unit-tested.
#pragma once

#include "core/arm_defs.hpp"
#include "lib/bits.hpp"

namespace hv::idreg {

// The host registers the sanitiser reads (arch/ fills them at boot from the boot pCPU).
enum class HostReg : u8 {
    pfr0,   // ID_AA64PFR0_EL1  S3_0_C0_C4_0
    pfr1,   // ID_AA64PFR1_EL1  S3_0_C0_C4_1
    dfr0,   // ID_AA64DFR0_EL1  S3_0_C0_C5_0
    isar0,  // ID_AA64ISAR0_EL1 S3_0_C0_C6_0
    isar1,  // ID_AA64ISAR1_EL1 S3_0_C0_C6_1
    isar2,  // ID_AA64ISAR2_EL1 S3_0_C0_C6_2
    mmfr0,  // ID_AA64MMFR0_EL1 S3_0_C0_C7_0
    mmfr1,  // ID_AA64MMFR1_EL1 S3_0_C0_C7_1
    mmfr2,  // ID_AA64MMFR2_EL1 S3_0_C0_C7_2
    count,
};
constexpr usize kHostRegCount = static_cast<usize>(HostReg::count);

struct HostIdRegs {
    u64 value[kHostRegCount] = {};
    u64& operator[](HostReg r) { return value[static_cast<usize>(r)]; }
    u64 operator[](HostReg r) const { return value[static_cast<usize>(r)]; }
};

// The encoding key of a register (esr::SysRegAccess::sysreg_key layout: op0:op1:CRn:CRm:op2).
constexpr u32 key(u32 op0, u32 op1, u32 crn, u32 crm, u32 op2) { return arm::sysreg_key(op0, op1, crn, crm, op2); }
// Encoding of each HostReg.
u32 host_reg_key(HostReg r);

// True if the encoding is in the space HCR_EL2.TID3 traps (op0 = 3, op1 = 0, CRn = 0, CRm = 1..7).
constexpr bool is_id_space(u32 op0, u32 op1, u32 crn, u32 crm) {
    return op0 == 3 && op1 == 0 && crn == 0 && crm >= 1 && crm <= 7;
}

// ID_AA64MMFR0_EL1.PARange encoding for a physical/IPA address size in bits (rounded down to an encodable size).
u64 parange_for_bits(unsigned bits);

// What the guest reads from the ID register at `key` (must satisfy is_id_space): sanitised host value, or 0.
// `ipa_bits` caps ID_AA64MMFR0_EL1.PARange to the VM's IPA size.
u64 guest_id_value(u32 key, const HostIdRegs& host, unsigned ipa_bits);

}  // namespace hv::idreg
