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

// Monotonic time in ticks of the generic counter.
class Clock {
public:
    virtual u64 now() const = 0;
    virtual u64 frequency() const = 0;

protected:
    ~Clock() = default;
};

}  // namespace hv
