// The emulated PL011's state as registers (docs/snapshot.md "UART class"): class 0x0807, VM-scoped, all U64.
// Index 0x00..0x09: RSR, ILPR, IBRD, FBRD, LCR_H, CR, IFLS, IMSC, RIS, DMACR; 0x10 + i (i < 32): FIFO slot i,
// oldest first (slots past the count hold whatever the FIFO memory held); 0x0a: the receive FIFO count (listed last). A
// SET changes one field and applies the whole state through Pl011::set_state (a value outside the field is refused,
// nothing changes); restore stage 3, after the vGIC, so the UART's interrupt line ends as the restored RIS & IMSC say.
#pragma once

#include "core/pl011.hpp"
#include "core/reglist/catalogue.hpp"
#include "core/reglist/ids.hpp"

namespace hv {

class LockedPl011;

class UartRegisterClass final : public reglist::RegisterClass {
public:
    static constexpr u32 kRegs = 0x0a;     // RSR..DMACR
    static constexpr u32 kRxCount = 0x0a;  // index of the FIFO count
    static constexpr u32 kRxFirst = 0x10;  // index of FIFO character 0
    static constexpr u32 kRxSlots = 32;
    static constexpr u64 id(u32 index) { return reglist::kArchArm64 | reglist::kSizeU64 | reglist::kClassUart | index; }

    explicit UartRegisterClass(LockedPl011& uart) : uart_(uart) {}

    const char* name() const override { return "uart"; }
    reglist::Scope scope() const override { return reglist::Scope::vm; }
    usize count(u32) const override { return kRegs + 1 + kRxSlots; }
    u64 id_at(u32, usize i) const override { return id(index_at(i)); }
    bool owns(u64 id) const override;
    [[nodiscard]] Status get(u32 vcpu, u64 id, Span<u8> value) override;
    [[nodiscard]] Status set(u32 vcpu, u64 id, Span<const u8> value) override;
    u8 restore_stage() const override { return 3; }

private:
    // RSR..DMACR, the 32 FIFO slots, then the count (last: the restore sets the characters first).
    static u32 index_at(usize i) {
        if (i < kRegs) return static_cast<u32>(i);
        if (i < kRegs + kRxSlots) return kRxFirst + static_cast<u32>(i - kRegs);
        return kRxCount;
    }
    static u32* field(Pl011State& s, u32 index);

    LockedPl011& uart_;
};

}  // namespace hv
