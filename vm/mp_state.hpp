// vCPU power state as a register. KVM moves it with KVM_GET/SET_MP_STATE, not ONE_REG; this class carries it in
// the register list: class 0x0806 (vCPU-scoped), index 0, U32, KVM_MP_STATE_RUNNABLE (0) or KVM_MP_STATE_STOPPED
// (3) (docs/snapshot.md "The MP state register"). GET reads the firmware's PSCI power state (ON and ON_PENDING are
// runnable: a pending vCPU's context already holds its entry point). SET only stages the value: the restore applies
// it once every register is in place, so no vCPU starts half restored.
#pragma once

#include "core/platform.hpp"
#include "core/reglist/catalogue.hpp"
#include "core/reglist/ids.hpp"
#include "psci/firmware.hpp"

namespace hv {

constexpr u32 kMpStateRunnable = 0;  // KVM_MP_STATE_RUNNABLE
constexpr u32 kMpStateStopped = 3;   // KVM_MP_STATE_STOPPED

class MpStateClass final : public reglist::RegisterClass {
public:
    static constexpr u32 kMaxVcpus = PlatformInfo::kMaxCpus;
    static constexpr u64 kId = reglist::kArchArm64 | reglist::kSizeU32 | reglist::kClassMpState | 0;

    // `vcpu_count` is read at every call (the VM's count may be set after construction).
    MpStateClass(const psci::Firmware& fw, const u32& vcpu_count) : fw_(fw), vcpu_count_(vcpu_count) {}

    const char* name() const override { return "mp_state"; }
    reglist::Scope scope() const override { return reglist::Scope::vcpu; }
    usize count(u32 vcpu) const override { return vcpu < vcpus() ? 1 : 0; }
    u64 id_at(u32, usize) const override { return kId; }
    bool owns(u64 id) const override { return id == kId; }
    Status get(u32 vcpu, u64 id, Span<u8> value) override;
    Status set(u32 vcpu, u64 id, Span<const u8> value) override;
    void reset(u32 vcpu) override;

    // The staged value of `vcpu` after a SET: true and `runnable` filled, or false if none was staged.
    bool staged(u32 vcpu, bool& runnable) const;

private:
    u32 vcpus() const { return vcpu_count_ < kMaxVcpus ? vcpu_count_ : kMaxVcpus; }

    const psci::Firmware& fw_;
    const u32& vcpu_count_;
    u8 staged_[kMaxVcpus] = {};
    bool staged_valid_[kMaxVcpus] = {};
};

}  // namespace hv
