// Register IDs: KVM's arm64 ONE_REG encoding bit for bit, plus our scope flag and our own classes.
// Layout (Linux include/uapi/linux/kvm.h, arch/arm64/include/uapi/asm/kvm.h, Documentation/virt/kvm/api.rst 4.68):
//   [63:56] architecture (0x60 = KVM_REG_ARM64)   [55:52] log2(size in bytes)   [51:32] zero
//   [31:29] zero   [28] SCOPE (ours: 1 = VM-scoped)   [27:16] class (KVM_REG_ARM_COPROC_MASK)   [15:0] index
// KVM rejects any ID with bits [51:32] set and only uses [27:16] for the class, so bit 28 is free; the 2022 KVM
// proposal "KVM_CAP_ARM_REG_SCOPE" used the same bit (KVM_REG_ARM_SCOPE_SHIFT 28, SCOPE_VM = 1).
#pragma once

#include "core/arm_defs.hpp"
#include "lib/bits.hpp"

namespace hv::reglist {

constexpr u64 kArchArm64 = 0x6000000000000000ull;  // KVM_REG_ARM64
constexpr u64 kArchMask = 0xff00000000000000ull;   // KVM_REG_ARCH_MASK
constexpr u64 kSizeMask = 0x00f0000000000000ull;   // KVM_REG_SIZE_MASK
constexpr unsigned kSizeShift = 52;
constexpr u64 kSizeU8 = 0x0000000000000000ull;
constexpr u64 kSizeU16 = 0x0010000000000000ull;
constexpr u64 kSizeU32 = 0x0020000000000000ull;    // KVM_REG_SIZE_U32
constexpr u64 kSizeU64 = 0x0030000000000000ull;    // KVM_REG_SIZE_U64
constexpr u64 kSizeU128 = 0x0040000000000000ull;   // KVM_REG_SIZE_U128
constexpr u64 kScopeVm = u64{1} << 28;             // ours (see above)
constexpr u64 kClassMask = 0x000000000fff0000ull;  // KVM_REG_ARM_COPROC_MASK
constexpr unsigned kClassShift = 16;

// Classes. KVM's:
constexpr u64 kClassCore = u64{0x0010} << kClassShift;        // KVM_REG_ARM_CORE
constexpr u64 kClassSysreg = u64{0x0013} << kClassShift;      // KVM_REG_ARM64_SYSREG
constexpr u64 kClassFw = u64{0x0014} << kClassShift;          // KVM_REG_ARM_FW
constexpr u64 kClassFwFeatBmap = u64{0x0016} << kClassShift;  // KVM_REG_ARM_FW_FEAT_BMAP
// Ours, for state KVM moves through device attributes (allocated here so numbers never collide; the models
// define the index layout inside their class and document it in docs/reglist.md):
constexpr u64 kClassGicd = u64{0x0800} << kClassShift;       // vgic/: distributor registers (VM)
constexpr u64 kClassGicr = u64{0x0801} << kClassShift;       // vgic/: redistributor registers (vCPU)
constexpr u64 kClassIcc = u64{0x0802} << kClassShift;        // vgic/: ICC CPU-interface registers (vCPU)
constexpr u64 kClassLineLevel = u64{0x0803} << kClassShift;  // vgic/: level-triggered line levels (VM)
constexpr u64 kClassGits = u64{0x0804} << kClassShift;       // its/: GITS registers (VM)
constexpr u64 kClassSdei = u64{0x0805} << kClassShift;       // sdei/: event state
constexpr u64 kClassMpState = u64{0x0806} << kClassShift;    // arch/ vm_snapshot: vCPU power (KVM MP_STATE) (vCPU)
constexpr u64 kClassUart = u64{0x0807} << kClassShift;       // vm/uart_class: the emulated PL011 (VM)

constexpr u64 size_bits_for(usize bytes) {
    return bytes == 1 ? kSizeU8 : bytes == 2 ? kSizeU16 : bytes == 4 ? kSizeU32 : bytes == 8 ? kSizeU64 : kSizeU128;
}
// Size in bytes encoded in an ID.
constexpr usize reg_size(u64 id) { return usize{1} << ((id & kSizeMask) >> kSizeShift); }
constexpr u64 reg_class(u64 id) { return id & kClassMask; }
constexpr bool is_vm_scoped_id(u64 id) { return (id & kScopeVm) != 0; }
constexpr u64 without_scope(u64 id) { return id & ~kScopeVm; }

// KVM_REG_ARM_CORE_REG: index = byte offset in struct kvm_regs / 4.
constexpr u64 core_id(u64 size_bits, u32 byte_offset) {
    return kArchArm64 | size_bits | kClassCore | (byte_offset / 4);
}

// ARM64_SYS_REG(op0, op1, CRn, CRm, op2) (KVM_REG_ARM64_SYSREG_* shifts 14, 11, 7, 3, 0).
constexpr u64 sysreg_key_id(u32 key) { return kArchArm64 | kSizeU64 | kClassSysreg | key; }
constexpr u64 sysreg_id(u32 op0, u32 op1, u32 crn, u32 crm, u32 op2) {
    return sysreg_key_id(arm::sysreg_key(op0, op1, crn, crm, op2));
}

// KVM's timer IDs. NOTE the historical swap in KVM's uapi: TIMER_CNT carries the encoding of CNTV_CVAL_EL0
// (3,3,14,3,2) and TIMER_CVAL that of CNTVCT_EL0 (3,3,14,0,2). We follow KVM bit for bit.
constexpr u64 kTimerCtl = sysreg_id(3, 3, 14, 3, 1);             // KVM_REG_ARM_TIMER_CTL  = CNTV_CTL_EL0
constexpr u64 kTimerCnt = sysreg_id(3, 3, 14, 3, 2);             // KVM_REG_ARM_TIMER_CNT  (the virtual count)
constexpr u64 kTimerCval = sysreg_key_id(arm::reg::kCntvctEl0);  // KVM_REG_ARM_TIMER_CVAL (the compare value)
// The EL1 physical timer: KVM's PTIMER IDs are the registers' own encodings (no swap).
constexpr u64 kPtimerCtl = sysreg_id(3, 3, 14, 2, 1);            // KVM_REG_ARM_PTIMER_CTL  = CNTP_CTL_EL0
constexpr u64 kPtimerCnt = sysreg_key_id(arm::reg::kCntpctEl0);  // KVM_REG_ARM_PTIMER_CNT = CNTPCT_EL0
constexpr u64 kPtimerCval = sysreg_id(3, 3, 14, 2, 2);           // KVM_REG_ARM_PTIMER_CVAL = CNTP_CVAL_EL0

static_assert(core_id(kSizeU64, 0) == 0x6030000000100000ull);
static_assert(core_id(kSizeU128, 0x150) == 0x6040000000100054ull);
static_assert(kTimerCtl == 0x603000000013df19ull);
static_assert(kTimerCnt == 0x603000000013df1aull);
static_assert(kTimerCval == 0x603000000013df02ull);
static_assert(kPtimerCtl == 0x603000000013df11ull);
static_assert(kPtimerCnt == 0x603000000013df01ull);
static_assert(kPtimerCval == 0x603000000013df12ull);

}  // namespace hv::reglist
