// Internal to vgic/: the generic per-IRQ register accessor (1, 2 or 8 bits per INTID), templated on the field
// and the write operation, shared by the distributor (SPIs) and the redistributors' SGI_base frame (SGIs/PPIs).
#pragma once

#include "vgic/vgic.hpp"

namespace hv::vgic {

template <IrqField F>
u64 Vgic::get_field(const IrqState& s, u32, bool uaccess) const {
    switch (F) {
        case IrqField::group:
            return s.group1;
        case IrqField::enable:
            return s.enabled;
        // Save/restore reads the pending latch only; the line level has its own accessor (KVM semantics).
        case IrqField::pending:
            return uaccess ? s.pending_latch : s.pending();
        case IrqField::active:
            return s.active;
        case IrqField::priority:
            return s.priority;
        case IrqField::config:
            return s.edge ? 2 : 0;
        case IrqField::grpmod:
            return 0;  // RAZ/WI with GICD_CTLR.DS == 1 (IHI0069H 12.9.15)
    }
    return 0;
}

template <IrqField F, WriteOp Op, bool Uaccess>
void Vgic::put_field(u32 vcpu, u32 intid, IrqState& s, u64 bits, u32& kick_mask) {
    const bool was_pending = s.pending();
    switch (F) {
        case IrqField::group:
            s.group1 = bits & 1;
            break;
        case IrqField::enable:
            if (!(bits & 1)) return;
            s.enabled = (Op == WriteOp::set);
            break;
        case IrqField::pending:
            if (Op == WriteOp::assign) {  // restore path: the latch itself, no hardware side effects
                s.pending_latch = bits & 1;
                break;
            }
            if (!(bits & 1)) return;
            if (Op == WriteOp::set) {
                s.pending_latch = true;
                if (!Uaccess) hw_pending_changed(s, was_pending);
            } else {
                s.pending_latch = false;
                if (!Uaccess && s.hw && !s.pending() && !s.active && s.lr_owner == kNoVcpu) hw_cleared(s);
            }
            break;
        case IrqField::active:
            if (!(bits & 1)) return;
            if (Op == WriteOp::set) {
                s.active = true;
            } else {
                s.active = false;
                // KVM: a guest clearing the active state of a hardware-linked interrupt deactivates the physical one.
                if (!Uaccess && s.hw && s.lr_owner == kNoVcpu) hw_cleared(s);
            }
            break;
        case IrqField::priority:
            s.priority = static_cast<u8>(bits & kPriorityMask);  // 5 bits implemented, low bits RAZ/WI
            break;
        case IrqField::config:
            // SGIs are always edge; PPI configuration is IMPLEMENTATION DEFINED and read-only here, as in KVM
            // (the timer relies on PPIs being level). IHI0069H 12.9.9: only bit [1] of each field is meaningful.
            if (intid < kNumPrivate) return;
            s.edge = (bits & 2) != 0;
            break;
        case IrqField::grpmod:
            return;
    }
    note_changed(vcpu, intid, s, kick_mask);
}

template <IrqField F, bool Uaccess>
u64 Vgic::read_irqs(u32 vcpu, u32 first, u32 count) {
    constexpr u32 b = field_bits(F);
    if (first < kNumPrivate && vcpu >= cfg_.nr_vcpus) return 0;
    Spinlock& lock = first < kNumPrivate ? vcpus_[vcpu].lock : dist_lock_;
    LockGuard g(lock);
    u64 value = 0;
    for (u32 i = 0; i < count && i * b < 64; ++i) {
        const IrqState* s = irq(vcpu, first + i);
        if (s == nullptr) continue;
        value |= (get_field<F>(*s, first + i, Uaccess) & mask(b - 1, 0)) << (i * b);
    }
    return value;
}

template <IrqField F, WriteOp Op, bool Uaccess>
void Vgic::write_irqs(u32 vcpu, u32 first, u32 count, u64 value) {
    constexpr u32 b = field_bits(F);
    if (Op == WriteOp::ignore) return;
    if (first < kNumPrivate && vcpu >= cfg_.nr_vcpus) return;
    u32 kick_mask = 0;
    {
        Spinlock& lock = first < kNumPrivate ? vcpus_[vcpu].lock : dist_lock_;
        LockGuard g(lock);
        for (u32 i = 0; i < count && i * b < 64; ++i) {
            IrqState* s = irq(vcpu, first + i);
            if (s == nullptr) continue;
            put_field<F, Op, Uaccess>(vcpu, first + i, *s, (value >> (i * b)) & mask(b - 1, 0), kick_mask);
        }
    }
    kick_all(kick_mask);
}

}  // namespace hv::vgic
