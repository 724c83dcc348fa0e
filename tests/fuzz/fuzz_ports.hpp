// The VM ports the fuzz targets give their models: a clock that never moves (runs are deterministic) and a kicker
// with nobody to wake (the targets run every vCPU's work on one thread).
#pragma once

#include "core/irq.hpp"

namespace hvfuzz {

struct FixedClock final : hv::Clock {
    hv::u64 now() const override { return 7000000; }
    hv::u64 frequency() const override { return 62500000; }
};

struct NullKicker final : hv::VcpuKicker {
    void kick(hv::u32) override {}
};

}  // namespace hvfuzz
