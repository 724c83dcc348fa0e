// Test doubles for the firmware: a platform with N vCPUs (MPIDR Aff1 = i / 4, Aff0 = i % 4, so affinity levels
// can be tested), a recording start_vcpu, and a scripted entropy source; guest RAM at 0x4000_0000.
#pragma once

#include <mutex>
#include <vector>

#include "psci/firmware.hpp"

namespace hvtest {

struct StartCall {
    hv::u32 vcpu;
    hv::u64 entry;
    hv::u64 context_id;
};

class FakeFirmwarePlatform final : public hv::psci::FirmwarePlatform {
public:
    explicit FakeFirmwarePlatform(hv::u32 n) : n_(n) {}
    hv::u32 vcpu_count() const override { return n_; }
    hv::u64 vcpu_mpidr(hv::u32 v) const override { return 0x80000000ull | ((v / 4) << 8) | (v % 4); }
    hv::Status start_vcpu(hv::u32 v, hv::u64 entry, hv::u64 ctx) override {
        std::lock_guard<std::mutex> g(m_);
        starts.push_back({v, entry, ctx});
        return fail_start ? hv::Status::busy : hv::Status::ok;
    }
    bool random64(hv::u64& out) override {
        std::lock_guard<std::mutex> g(m_);
        if (no_entropy) return false;
        out = next_random;
        next_random = next_random * 6364136223846793005ull + 1442695040888963407ull;
        ++random_calls;
        return true;
    }

    std::vector<StartCall> starts;
    bool fail_start = false;
    bool no_entropy = false;
    hv::u64 next_random = 0xfedcba9876543210ull;
    int random_calls = 0;

private:
    hv::u32 n_;
    std::mutex m_;
};

constexpr hv::u64 kRamBase = 0x40000000;
constexpr hv::u64 kRamSize = 0x10000;

}  // namespace hvtest
