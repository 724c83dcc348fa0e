// One virtual ITS in the register catalogue (core/reglist/): VM-scoped class GITS (0x0804), IDs
// KVM_REG_ARM64 | size | 0x0804 << 16 | index with
//   index [15:12] = ITS instance number (0..15: several ITSes per VM have disjoint IDs)
//   index [11:0]  = GITS register offset / 4 for the registers (U32: CTLR, IIDR; U64: CBASER, CWRITER, CREADR,
//                   BASER0..7), or 0xF00 | KVM_DEV_ARM_ITS_* control attribute for the pseudo-registers (U64):
//                   0xF01 SAVE_TABLES (write-only), 0xF02 RESTORE_TABLES, 0xF04 RESET (write-only).
// Enumeration, in KVM's restore order (Documentation/virt/kvm/devices/arm-vgic-its.rst "ITS Restore Sequence"):
//   CBASER, IIDR, CREADR, CWRITER, BASER0..7, RESTORE_TABLES, CTLR.
// GET/SET of the registers go through Its::save_read / restore_write (KVM's uaccess semantics, wrong order ->
// bad_order, unknown IIDR revision -> invalid_argument, ITS enabled -> busy). RESTORE_TABLES reads as the table
// ABI revision this ITS writes (SAVE_TABLES layout); SET(rev) requires rev == the restored GITS_IIDR.Revision
// (else invalid_argument) and runs Its::restore_tables(). SAVE_TABLES / RESET take the value 0 and run
// Its::save_tables() / Its::reset(); reading them is `unsupported` (KVM: ENXIO). Restore stage 2 (after the
// redistributors). before_save() runs SAVE_TABLES so a snapshot's RAM image carries the tables.
#pragma once

#include "core/reglist/catalogue.hpp"
#include "its/its.hpp"

namespace hv::its {

constexpr u8 kItsRestoreStage = 2;
constexpr u32 kMaxItsInstances = 16;
constexpr u16 kItsCtrlSaveTables = 0xf01;     // KVM_DEV_ARM_ITS_SAVE_TABLES = 1
constexpr u16 kItsCtrlRestoreTables = 0xf02;  // KVM_DEV_ARM_ITS_RESTORE_TABLES = 2
constexpr u16 kItsCtrlReset = 0xf04;          // KVM_DEV_ARM_ITS_CTRL_RESET = 4

// ID of GITS register `offset` (width 4 or 8) of ITS `instance`.
constexpr u64 gits_id(u32 instance, u32 offset, u8 width) {
    return reglist::kArchArm64 | reglist::size_bits_for(width) | reglist::kClassGits | (u64{instance & 0xf} << 12) |
           ((offset >> 2) & 0xfff);
}
constexpr u64 gits_ctrl_id(u32 instance, u16 ctrl) {
    return reglist::kArchArm64 | reglist::kSizeU64 | reglist::kClassGits | (u64{instance & 0xf} << 12) | ctrl;
}

class ItsRegisterClass final : public reglist::RegisterClass {
public:
    static constexpr usize kListCount = 14;
    ItsRegisterClass(Its& its, u32 instance) : its_(its), instance_(instance & 0xf) {}
    const char* name() const override { return "gits"; }
    reglist::Scope scope() const override { return reglist::Scope::vm; }
    usize count(u32) const override { return kListCount; }
    u64 id_at(u32, usize i) const override;
    bool owns(u64 id) const override;
    [[nodiscard]] Status get(u32 vcpu, u64 id, Span<u8> value) override;
    [[nodiscard]] Status set(u32 vcpu, u64 id, Span<const u8> value) override;
    u8 restore_stage() const override { return kItsRestoreStage; }
    [[nodiscard]] Status before_save() override { return its_.save_tables(); }
    u32 instance() const { return instance_; }

private:
    Its& its_;
    u32 instance_;
};

}  // namespace hv::its
