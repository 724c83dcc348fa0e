#include "vm/uart_class.hpp"

#include "lib/string.hpp"
#include "vm/vm.hpp"

namespace hv {

u32* UartRegisterClass::field(Pl011State& s, u32 index) {
    u32* const regs[kRegs + 1] = {&s.rsr,  &s.ilpr, &s.ibrd, &s.fbrd,  &s.lcr_h,   &s.cr,
                                  &s.ifls, &s.imsc, &s.ris,  &s.dmacr, &s.rx_count};
    return index <= kRxCount ? regs[index] : nullptr;
}

bool UartRegisterClass::owns(u64 rid) const {
    if ((rid & ~u64{0xffff}) != id(0)) return false;
    const u32 index = static_cast<u32>(rid & 0xffff);
    return index <= kRxCount || (index >= kRxFirst && index < kRxFirst + kRxSlots);
}

Status UartRegisterClass::get(u32, u64 rid, Span<u8> value) {
    if (!owns(rid)) return Status::not_found;
    const u32 index = static_cast<u32>(rid & 0xffff);
    const Pl011State s = uart_.locked([](Pl011& u) { return u.state(); });
    Pl011State copy = s;
    const u64 v = index <= kRxCount ? *field(copy, index) : s.rx[index - kRxFirst];
    memcpy(value.data(), &v, 8);
    return Status::ok;
}

Status UartRegisterClass::set(u32, u64 rid, Span<const u8> value) {
    if (!owns(rid)) return Status::not_found;
    const u32 index = static_cast<u32>(rid & 0xffff);
    u64 v = 0;
    memcpy(&v, value.data(), 8);
    return uart_.locked([&](Pl011& u) {
        Pl011State s = u.state();
        if (index <= kRxCount) {
            if (v > 0xffffffffu) return Status::invalid_argument;
            *field(s, index) = static_cast<u32>(v);
        } else {
            if (v > 0xff) return Status::invalid_argument;
            s.rx[index - kRxFirst] =
                static_cast<u8>(v);  // every slot is kept; the count (restored last) says how many count
        }
        return u.set_state(s);
    });
}

}  // namespace hv
