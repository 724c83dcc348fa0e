// System-register access and barriers for arch/ and boot/ only (the models never touch hardware).
#pragma once

#include "core/arm_defs.hpp"
#include "lib/spinlock.hpp"
#include "lib/types.hpp"

#define HV_READ_SYSREG(name)                          \
    ({                                                \
        ::hv::u64 hv_v_;                              \
        asm volatile("mrs %0, " #name : "=r"(hv_v_)); \
        hv_v_;                                        \
    })
#define HV_WRITE_SYSREG(name, v)                                   \
    do {                                                           \
        ::hv::u64 hv_w_ = (v);                                     \
        asm volatile("msr " #name ", %0" ::"r"(hv_w_) : "memory"); \
    } while (0)

namespace hv::arch {

// MRS/MSR of the register with encoding `Key` (core/arm_defs.hpp arm::sysreg_key / arm::reg), by its generic name
// S<op0>_<op1>_C<n>_C<m>_<op2>: for registers the assembler may not know by name (GIC, newer ID registers).
template <u32 Key>
inline u64 read_sysreg() {
    namespace f = arm::sysreg_field;
    u64 v;
    asm volatile("mrs %0, S%c1_%c2_C%c3_C%c4_%c5"
                 : "=r"(v)
                 : "i"(f::Op0::get(Key)), "i"(f::Op1::get(Key)), "i"(f::CRn::get(Key)), "i"(f::CRm::get(Key)),
                   "i"(f::Op2::get(Key)));
    return v;
}
template <u32 Key>
inline void write_sysreg(u64 v) {
    namespace f = arm::sysreg_field;
    asm volatile("msr S%c0_%c1_C%c2_C%c3_%c4, %5"
                 :
                 : "i"(f::Op0::get(Key)), "i"(f::Op1::get(Key)), "i"(f::CRn::get(Key)), "i"(f::CRm::get(Key)),
                   "i"(f::Op2::get(Key)), "r"(v)
                 : "memory");
}

inline void isb() { asm volatile("isb" ::: "memory"); }
inline void dsb_sy() { asm volatile("dsb sy" ::: "memory"); }
inline void dsb_ish() { asm volatile("dsb ish" ::: "memory"); }
inline void dsb_ishst() { asm volatile("dsb ishst" ::: "memory"); }
inline void sev() { asm volatile("sev" ::: "memory"); }
inline void wfe() { asm volatile("wfe" ::: "memory"); }
inline void wfi() { asm volatile("wfi" ::: "memory"); }

template <typename T>
inline T mmio_read(u64 addr) {
    return *reinterpret_cast<volatile T*>(addr);
}
template <typename T>
inline void mmio_write(u64 addr, T v) {
    *reinterpret_cast<volatile T*>(addr) = v;
}

// SMCCC call to the firmware below us (QEMU's PSCI over SMC); returns x0. vectors.S.
extern "C" u64 hv_smc_call(u64 fid, u64 a1, u64 a2, u64 a3);

}  // namespace hv::arch
