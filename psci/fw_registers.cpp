#include "psci/fw_registers.hpp"

#include "lib/string.hpp"

namespace hv::psci {

bool FirmwareRegisterClass::owns(u64 id) const {
    for (u64 r : fwreg::kAll)
        if (r == id) return true;
    return false;
}

Status FirmwareRegisterClass::get(u32, u64 id, Span<u8> value) {
    u64 v = 0;
    HV_TRY(fw_.get_reg(id, v));
    memcpy(value.data(), &v, 8);
    return Status::ok;
}

Status FirmwareRegisterClass::set(u32, u64 id, Span<const u8> value) {
    u64 v = 0;
    memcpy(&v, value.data(), 8);
    return fw_.set_reg(id, v);
}

Status FirmwareRegisterClass::validate(u32, u64 id, Span<const u8> value, reglist::Refusal& why) {
    u64 v = 0, limit = 0;
    memcpy(&v, value.data(), 8);
    const Status s = fw_.check_reg(id, v, limit);
    if (s == Status::ok) return s;
    why.reg = reg_name(id);
    why.host = limit;
    why.has_host = true;
    switch (id) {
        case fwreg::kPsciVersion:
            why.reason = "PSCI version not offered by this hypervisor (psci=)";
            break;
        case fwreg::kWorkaround1:
        case fwreg::kWorkaround2:
        case fwreg::kWorkaround3:
            why.reason = "mitigation level above this host's";
            break;
        default:
            why.reason = s == Status::busy ? "services frozen after the VM ran" : "service not implemented here";
            break;
    }
    return s;
}

const char* FirmwareRegisterClass::reg_name(u64 id) {
    switch (id) {
        case fwreg::kPsciVersion:
            return "KVM_REG_ARM_PSCI_VERSION";
        case fwreg::kWorkaround1:
            return "KVM_REG_ARM_SMCCC_ARCH_WORKAROUND_1";
        case fwreg::kWorkaround2:
            return "KVM_REG_ARM_SMCCC_ARCH_WORKAROUND_2";
        case fwreg::kWorkaround3:
            return "KVM_REG_ARM_SMCCC_ARCH_WORKAROUND_3";
        case fwreg::kStdBmap:
            return "KVM_REG_ARM_STD_BMAP";
        case fwreg::kStdHypBmap:
            return "KVM_REG_ARM_STD_HYP_BMAP";
        case fwreg::kVendorHypBmap:
            return "KVM_REG_ARM_VENDOR_HYP_BMAP";
        default:
            return nullptr;
    }
}

}  // namespace hv::psci
