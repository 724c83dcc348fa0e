// The ID registers as VM-scoped entries of the register list (as KVM 6.x, where ID_AA64*_EL1 and the AArch32 ID
// registers are writable KVM_REG_ARM64_SYSREG IDs with one value per VM): all 56 encodings of the TID3 space
// (op0 = 3, op1 = 0, CRn = 0, CRm = 1..7, op2 = 0..7), allocated or not, in encoding order.
//
// Values: at reset each register holds what the host gives the guest (idreg::guest_id_value: the host's value
// with the features the hypervisor does not context-switch hidden, AArch32 and unallocated encodings RAZ) -- that
// value is also the limit. The guest's MRS reads the VM's value (arch/ sysreg_trap), so a restored VM sees what it
// saw before. SET accepts the same features or fewer, field by field (DDI0487 D19.1.3 "Principles of the ID
// scheme for fields in ID registers"): an unsigned field may be lowered, a signed field (0xF = not implemented)
// may be lowered in signed order, the fields listed as fixed must equal the limit. Anything else is
// invalid_argument with the register, the limit and the first field that exceeds it (validate()).
#pragma once

#include "core/id_regs.hpp"
#include "core/reglist/catalogue.hpp"

namespace hv::reglist {

class IdRegisterClass final : public RegisterClass {
public:
    static constexpr usize kCount = 56;  // CRm 1..7 x op2 0..7

    // `host` and `ipa_bits` give the limits (and reset values).
    IdRegisterClass(const idreg::HostIdRegs& host, unsigned ipa_bits);

    const char* name() const override { return "idregs"; }
    Scope scope() const override { return Scope::vm; }
    usize count(u32) const override { return kCount; }
    u64 id_at(u32, usize i) const override;
    bool owns(u64 id) const override;
    // The same test without an object (scope bit ignored).
    static bool owns_id(u64 id) { return index_of(without_scope(id)) >= 0; }
    [[nodiscard]] Status get(u32 vcpu, u64 id, Span<u8> value) override;
    [[nodiscard]] Status set(u32 vcpu, u64 id, Span<const u8> value) override;
    [[nodiscard]] Status validate(u32 vcpu, u64 id, Span<const u8> value, Refusal& why) override;
    void reset(u32 vcpu) override;

    // What the guest reads from the ID register with encoding key `key` (idreg::key layout; must be in the TID3
    // space): the VM's value.
    u64 guest_value(u32 key) const;
    u64 limit(u32 key) const;

private:
    static int index_of(u64 id);
    u64 values_[kCount] = {};
    u64 limits_[kCount] = {};
};

// Field-by-field check of `value` against `limit` for the ID register at `key` (pure; unit-tested). Returns -1 if
// every field is allowed, else the bit position of the first 4-bit field that is not.
int id_field_refused(u32 key, u64 value, u64 limit);
// Name of a register of the ID space ("ID_AA64ISAR0_EL1"), nullptr for an unallocated encoding.
const char* id_reg_name(u32 key);
// Name of the feature the field at bit `lo` of register `key` describes ("RNDR"), nullptr if not named here.
const char* id_field_name(u32 key, unsigned lo);

}  // namespace hv::reglist
