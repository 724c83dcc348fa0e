// Test doubles for the SDEI model: a platform with N vCPUs (MPIDR = vcpu index in Aff0) recording kicks.
#pragma once

#include <vector>

#include "sdei/sdei.hpp"

namespace sdeitest {

using namespace hv;

constexpr u64 kRamBase = 0x40000000;
constexpr u64 kRamSize = 0x10000;

class FakePlatform final : public sdei::SdeiPlatform {
public:
    explicit FakePlatform(u32 n) : n_(n) {}
    u32 vcpu_count() const override { return n_; }
    u64 vcpu_mpidr(u32 v) const override { return v < 4 ? v : (u64{v / 4} << 8) | (v % 4); }
    void kick(u32 v) override { kicks.push_back(v); }
    std::vector<u32> kicks;

private:
    u32 n_;
};

// The interrupt controller side of INTERRUPT_BIND: records bind/release, answers a GIC priority per INTID.
class FakeBinder final : public IrqBinder {
public:
    Status set_bound(u32 intid, bool bound) override {
        calls.push_back({intid, bound});
        return Status::ok;
    }
    bool bindable(u32 intid) const override { return intid >= 16 && intid < 96 && intid != unbindable; }
    u8 irq_priority(u32 intid, u32) const override { return intid == critical_intid ? 0x40 : 0xa0; }
    struct Call {
        u32 intid;
        bool bound;
    };
    std::vector<Call> calls;
    u32 critical_intid = 0;  // this INTID has an urgent GIC priority: its event is critical
    u32 unbindable = 0;      // e.g. a hardware-linked one
};

// One SDEI call from vCPU `v` through the model: x0 = fid, x1..x5 as given; returns x0.
inline i64 sdei_call(sdei::Sdei& model, VcpuContext& c, u32 v, u32 fid, u64 a1 = 0, u64 a2 = 0, u64 a3 = 0, u64 a4 = 0,
                     u64 a5 = 0) {
    c.core.x[0] = fid;
    c.core.x[1] = a1;
    c.core.x[2] = a2;
    c.core.x[3] = a3;
    c.core.x[4] = a4;
    c.core.x[5] = a5;
    model.handle(v, c);
    return static_cast<i64>(c.core.x[0]);
}

}  // namespace sdeitest
