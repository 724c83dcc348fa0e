// Interfaces between interrupt producers (ITS, timers, devices) and the vGIC / scheduler.
#pragma once

#include "lib/status.hpp"

namespace hv {

// Implemented by the vGIC redistributors: the ITS makes LPIs pending through it.
class LpiSink {
public:
    virtual u32 vcpu_count() const = 0;
    // Make (or clear) LPI `intid` pending on redistributor `vcpu`.
    virtual void set_lpi_pending(u32 vcpu, u32 intid, bool pending) = 0;
    virtual bool lpi_pending(u32 vcpu, u32 intid) const = 0;
    // Re-read the configuration (priority/enable) of one LPI, or of all, from the property table.
    virtual void invalidate_lpi(u32 vcpu, u32 intid) = 0;
    virtual void invalidate_all_lpis(u32 vcpu) = 0;
    // Move pending state of every LPI from one redistributor to another (MOVALL).
    virtual void move_all_lpis(u32 from_vcpu, u32 to_vcpu) = 0;

protected:
    ~LpiSink() = default;
};

// Implemented by the scheduler: wake a vCPU so it notices newly pending interrupts (physical SGI if remote).
class VcpuKicker {
public:
    virtual void kick(u32 vcpu) = 0;

protected:
    ~VcpuKicker() = default;
};

// Interrupts bound to a firmware event (SDEI INTERRUPT_BIND, Arm DEN0054 5.1.14) leave the normal IRQ path: the
// interrupt controller never delivers them through its list registers but hands each pending edge to the event
// dispatcher instead. Implemented by the dispatcher (sdei/); called by the vGIC with its locks held, so an
// implementation must not call back into the IrqBinder below.
class BoundIrqSink {
public:
    // `intid` became pending on `vcpu` (the PPI's bank, or the SPI's routing target; kept for information). True if
    // the dispatcher owns `intid`: the edge is consumed (raised as the event, or dropped while the event cannot take
    // it). False: not bound after all (a BIND/RELEASE race) -- the interrupt is delivered normally.
    virtual bool bound_irq_fired(u32 intid, u32 vcpu) = 0;

protected:
    ~BoundIrqSink() = default;
};

// Implemented by the vGIC for the dispatcher: take INTIDs out of normal delivery and give them back. Never called
// with the dispatcher's lock held (the vGIC calls the sink under its own locks).
class IrqBinder {
public:
    // Bind (`bound` = true) or release a PPI (every vCPU's bank) or SPI. invalid_argument for SGIs, LPIs, special
    // or unimplemented INTIDs. Binding an interrupt that is already pending raises it at once; releasing one that
    // is pending delivers it normally.
    [[nodiscard]] virtual Status set_bound(u32 intid, bool bound) = 0;
    // Can `intid` be bound (a PPI, or an implemented SPI that is not hardware-linked)?
    virtual bool bindable(u32 intid) const = 0;
    // The interrupt's current GIC priority byte (PPIs: in `vcpu`'s bank); 0xff for an unknown INTID.
    virtual u8 irq_priority(u32 intid, u32 vcpu) const = 0;

protected:
    ~IrqBinder() = default;
};

// Monotonic time in ticks of the generic counter.
class Clock {
public:
    virtual u64 now() const = 0;
    virtual u64 frequency() const = 0;

protected:
    ~Clock() = default;
};

}  // namespace hv
