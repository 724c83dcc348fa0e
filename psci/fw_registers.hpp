// The firmware pseudo-registers as a VM-scoped class of the register catalogue (core/reglist/): KVM_REG_ARM_FW
// (PSCI_VERSION, SMCCC_ARCH_WORKAROUND_1..3) and KVM_REG_ARM_FW_FEAT_BMAP (STD, STD_HYP, VENDOR_HYP). KVM lists
// them in every vCPU's list; here they are VM-scoped (once, in the VM's list, with the scope bit).
#pragma once

#include "core/reglist/catalogue.hpp"
#include "psci/firmware.hpp"

namespace hv::psci {

class FirmwareRegisterClass final : public reglist::RegisterClass {
public:
    explicit FirmwareRegisterClass(Firmware& fw) : fw_(fw) {}
    const char* name() const override { return "firmware"; }
    reglist::Scope scope() const override { return reglist::Scope::vm; }
    usize count(u32) const override { return array_size(fwreg::kAll); }
    u64 id_at(u32, usize i) const override { return i < array_size(fwreg::kAll) ? fwreg::kAll[i] : 0; }
    bool owns(u64 id) const override;
    [[nodiscard]] Status get(u32 vcpu, u64 id, Span<u8> value) override;
    [[nodiscard]] Status set(u32 vcpu, u64 id, Span<const u8> value) override;
    [[nodiscard]] Status validate(u32 vcpu, u64 id, Span<const u8> value, reglist::Refusal& why) override;
    static const char* reg_name(u64 id);

private:
    Firmware& fw_;
};

}  // namespace hv::psci
