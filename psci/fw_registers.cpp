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

}  // namespace hv::psci
