#include "vm/mp_state.hpp"

#include "lib/string.hpp"

namespace hv {

Status MpStateClass::get(u32 vcpu, u64, Span<u8> value) {
    if (vcpu >= vcpus()) return Status::not_found;
    const u32 v = fw_.power_state(vcpu) == psci::PowerState::off ? kMpStateStopped : kMpStateRunnable;
    memcpy(value.data(), &v, 4);
    return Status::ok;
}

Status MpStateClass::set(u32 vcpu, u64, Span<const u8> value) {
    if (vcpu >= vcpus()) return Status::not_found;
    u32 v = 0;
    memcpy(&v, value.data(), 4);
    if (v != kMpStateRunnable && v != kMpStateStopped) return Status::invalid_argument;
    staged_[vcpu] = static_cast<u8>(v);
    staged_valid_[vcpu] = true;
    return Status::ok;
}

void MpStateClass::reset(u32 vcpu) {
    if (vcpu < kMaxVcpus) staged_valid_[vcpu] = false;
}

bool MpStateClass::staged(u32 vcpu, bool& runnable) const {
    if (vcpu >= kMaxVcpus || !staged_valid_[vcpu]) return false;
    runnable = staged_[vcpu] == kMpStateRunnable;
    return true;
}

}  // namespace hv
