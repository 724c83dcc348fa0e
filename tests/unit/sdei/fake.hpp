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

}  // namespace sdeitest
