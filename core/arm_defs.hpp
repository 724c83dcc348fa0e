// Architectural definitions shared by every layer (DDI0487): MPIDR affinity, the system-register encoding, and the
// EL2 control-register bits the hypervisor programs. Definitions only -- no register access (that is arch/).
#pragma once

#include "lib/bits.hpp"
#include "lib/types.hpp"

namespace hv::arm {

// --- MPIDR_EL1 / VMPIDR_EL2 (DDI0487 D19.2 "MPIDR_EL1") ---
namespace mpidr {
using Aff0 = Field<7, 0>;
using Aff1 = Field<15, 8>;
using Aff2 = Field<23, 16>;
using MT = Bit<24>;
using U = Bit<30>;
using Aff3 = Field<39, 32>;
constexpr u64 kAffinityMask = Aff3::field_mask | Aff2::field_mask | Aff1::field_mask | Aff0::field_mask;
constexpr u64 kRes1 = u64{1} << 31;
}  // namespace mpidr

// Aff3..Aff0 of an MPIDR value: what identifies a PE (PSCI target_cpu, GICD_IROUTER, ICC_SGI1R).
constexpr u64 mpidr_affinity(u64 mpidr) { return mpidr & mpidr::kAffinityMask; }

// --- System-register encoding (DDI0487 C5.1.2: op0, op1, CRn, CRm, op2 of MRS/MSR) ---
// Packed as op0:op1:CRn:CRm:op2 at bits 15:14, 13:11, 10:7, 6:3, 2:0: the MSR/MRS trap syndrome's fields in one
// number for switch statements, and the low 16 bits of KVM's ARM64_SYS_REG() register IDs (the same shifts).
constexpr u32 sysreg_key(u32 op0, u32 op1, u32 crn, u32 crm, u32 op2) {
    return (op0 << 14) | (op1 << 11) | (crn << 7) | (crm << 3) | op2;
}
// The fields of a key (arch/aarch64/sysreg.hpp turns a key back into an MRS/MSR operand).
namespace sysreg_field {
using Op0 = Field<15, 14>;
using Op1 = Field<13, 11>;
using CRn = Field<10, 7>;
using CRm = Field<6, 3>;
using Op2 = Field<2, 0>;
}  // namespace sysreg_field

// Encodings the trap handlers and the register list name outside the EL1 register table (core/el1_regs.hpp).
namespace reg {
// GICv3 CPU interface (IHI0069H 12.2 "AArch64 GIC System register descriptions"): the vGIC's saved state
// (vgic/icc.cpp), the physical interface (arch/aarch64/gic.cpp), SGI generation (trapped).
constexpr u32 kIccPmrEl1 = sysreg_key(3, 0, 4, 6, 0);
constexpr u32 kIccBpr0El1 = sysreg_key(3, 0, 12, 8, 3);
constexpr u32 icc_ap0r_el1(u32 n) { return sysreg_key(3, 0, 12, 8, 4 + n); }  // n < 4
constexpr u32 icc_ap1r_el1(u32 n) { return sysreg_key(3, 0, 12, 9, n); }      // n < 4
constexpr u32 kIccDirEl1 = sysreg_key(3, 0, 12, 11, 1);
constexpr u32 kIccSgi1rEl1 = sysreg_key(3, 0, 12, 11, 5);
constexpr u32 kIccAsgi1rEl1 = sysreg_key(3, 0, 12, 11, 6);
constexpr u32 kIccSgi0rEl1 = sysreg_key(3, 0, 12, 11, 7);
constexpr u32 kIccIar1El1 = sysreg_key(3, 0, 12, 12, 0);
constexpr u32 kIccEoir1El1 = sysreg_key(3, 0, 12, 12, 1);
constexpr u32 kIccHppir1El1 = sysreg_key(3, 0, 12, 12, 2);
constexpr u32 kIccBpr1El1 = sysreg_key(3, 0, 12, 12, 3);
constexpr u32 kIccCtlrEl1 = sysreg_key(3, 0, 12, 12, 4);
constexpr u32 kIccSreEl1 = sysreg_key(3, 0, 12, 12, 5);
constexpr u32 kIccIgrpen0El1 = sysreg_key(3, 0, 12, 12, 6);
constexpr u32 kIccIgrpen1El1 = sysreg_key(3, 0, 12, 12, 7);
constexpr u32 kIccSreEl2 = sysreg_key(3, 4, 12, 9, 5);
// GICv3 virtual CPU interface control (IHI0069H 12.4): the vGIC's world switch (arch/aarch64/vgic_glue.cpp).
constexpr u32 ich_ap0r_el2(u32 n) { return sysreg_key(3, 4, 12, 8, n); }  // n < 4
constexpr u32 ich_ap1r_el2(u32 n) { return sysreg_key(3, 4, 12, 9, n); }  // n < 4
constexpr u32 kIchHcrEl2 = sysreg_key(3, 4, 12, 11, 0);
constexpr u32 kIchVtrEl2 = sysreg_key(3, 4, 12, 11, 1);
constexpr u32 kIchMisrEl2 = sysreg_key(3, 4, 12, 11, 2);
constexpr u32 kIchEisrEl2 = sysreg_key(3, 4, 12, 11, 3);
constexpr u32 kIchElrsrEl2 = sysreg_key(3, 4, 12, 11, 5);
constexpr u32 kIchVmcrEl2 = sysreg_key(3, 4, 12, 11, 7);
constexpr u32 ich_lr_el2(u32 n) { return sysreg_key(3, 4, 12, 12 + n / 8, n % 8); }  // n < 16
constexpr u32 kIchMaxLrs = 16;
constexpr u32 kCntpctEl0 = sysreg_key(3, 3, 14, 0, 1);  // physical count (KVM's PTIMER_CNT)
constexpr u32 kCntvctEl0 = sysreg_key(3, 3, 14, 0, 2);  // virtual count (KVM's TIMER_CVAL ID: the uapi swap)
}  // namespace reg

// --- Generic timer control (CNTV_CTL_EL0 / CNTP_CTL_EL0, DDI0487 D11.2.4) ---
namespace timer_ctl {
using Enable = Bit<0>;
using Imask = Bit<1>;
using Istatus = Bit<2>;
}  // namespace timer_ctl
// The timer's interrupt output: enabled, condition met, not masked.
constexpr bool timer_output(u64 ctl) {
    return timer_ctl::Enable::get(ctl) && timer_ctl::Istatus::get(ctl) && !timer_ctl::Imask::get(ctl);
}

// --- HCR_EL2 (DDI0487 D19.2 "HCR_EL2") ---
namespace hcr {
using VM = Bit<0>;
using SWIO = Bit<1>;
using FMO = Bit<3>;
using IMO = Bit<4>;
using AMO = Bit<5>;
using FB = Bit<9>;
using BSU = Field<11, 10>;
using TWI = Bit<13>;
using TWE = Bit<14>;
using TID3 = Bit<18>;
using TSC = Bit<19>;
using TIDCP = Bit<20>;
using TACR = Bit<21>;
using TSW = Bit<22>;
using TVM = Bit<26>;
using RW = Bit<31>;
using APK = Bit<40>;
using API = Bit<41>;
constexpr u64 kBsuInnerShareable = 1;
}  // namespace hcr

// --- MDCR_EL2 (DDI0487 D19.2 "MDCR_EL2") ---
namespace mdcr {
using HPMN = Field<4, 0>;
using TPMCR = Bit<5>;
using TPM = Bit<6>;
using HPME = Bit<7>;
using TDE = Bit<8>;
using TDA = Bit<9>;
using TDOSA = Bit<10>;
using TDRA = Bit<11>;
using HPMD = Bit<17>;
}  // namespace mdcr

// --- CNTHCTL_EL2 with HCR_EL2.E2H = 0 (DDI0487 D19.12 "CNTHCTL_EL2") ---
namespace cnthctl {
using EL1PCTEN = Bit<0>;  // EL1/EL0 reads of the physical counter are not trapped
using EL1PCEN = Bit<1>;   // EL1/EL0 accesses to the EL1 physical timer are not trapped
}  // namespace cnthctl

}  // namespace hv::arm
