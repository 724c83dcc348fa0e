// System-register access and barriers for EL1 payloads (guest runtime only; the hypervisor has its own in arch/).
#pragma once

#include "lib/types.hpp"

#define RT_READ_SYSREG(name)                                    \
    ({                                                          \
        ::hv::u64 rt_v_;                                        \
        asm volatile("mrs %0, " #name : "=r"(rt_v_)::"memory"); \
        rt_v_;                                                  \
    })
#define RT_WRITE_SYSREG(name, v) asm volatile("msr " #name ", %0" ::"r"(static_cast<::hv::u64>(v)) : "memory")

namespace rt {

using namespace hv;

inline void isb() { asm volatile("isb" ::: "memory"); }
inline void dsb_sy() { asm volatile("dsb sy" ::: "memory"); }
inline void wfi() { asm volatile("wfi" ::: "memory"); }
inline void irq_enable() { asm volatile("msr daifclr, #2" ::: "memory"); }
inline void irq_disable() { asm volatile("msr daifset, #2" ::: "memory"); }

inline u32 current_el() { return static_cast<u32>((RT_READ_SYSREG(CurrentEL) >> 2) & 3); }

// Generic timer (virtual counter, which is what a guest is given).
inline u64 counter() {
    isb();
    return RT_READ_SYSREG(cntvct_el0);
}
inline u64 counter_frequency() { return RT_READ_SYSREG(cntfrq_el0); }
inline u64 ms_ticks(u64 ms) { return counter_frequency() / 1000 * ms; }
void delay_us(u64 us);

// IRQs unmasked at the CPU until cond() holds or `ms` pass, then `settle_ms` more (time for unwanted extra
// interrupts to show up); IRQs are masked again on return. Returns cond().
template <typename Cond>
bool run_irqs_until(Cond cond, u64 ms, u64 settle_ms = 0) {
    const u64 deadline = counter() + ms_ticks(ms);
    irq_enable();
    while (!cond() && counter() < deadline) {
    }
    const u64 settle = counter() + ms_ticks(settle_ms);
    while (counter() < settle) {
    }
    irq_disable();
    return cond();
}

// MMIO accessors (the MMU is off, so every data access is Device-nGnRnE and must be naturally aligned).
// MMIO accessors use plain register-offset-free ldr/str so a trapped access always carries a valid syndrome
// (ESR_EL2.ISV = 1); the compiler could otherwise pick post-indexed or pair forms, which a hypervisor cannot emulate.
inline u32 mmio_read32(u64 addr) {
    u32 v;
    asm volatile("ldr %w0, [%1]" : "=r"(v) : "r"(addr) : "memory");
    return v;
}
inline void mmio_write32(u64 addr, u32 v) { asm volatile("str %w0, [%1]" ::"rZ"(v), "r"(addr) : "memory"); }
inline u64 mmio_read64(u64 addr) {
    u64 v;
    asm volatile("ldr %0, [%1]" : "=r"(v) : "r"(addr) : "memory");
    return v;
}
inline void mmio_write64(u64 addr, u64 v) { asm volatile("str %x0, [%1]" ::"rZ"(v), "r"(addr) : "memory"); }
inline u8 mmio_read8(u64 addr) {
    u32 v;
    asm volatile("ldrb %w0, [%1]" : "=r"(v) : "r"(addr) : "memory");
    return static_cast<u8>(v);
}
inline void mmio_write8(u64 addr, u8 v) { asm volatile("strb %w0, [%1]" ::"rZ"(v), "r"(addr) : "memory"); }

}  // namespace rt
