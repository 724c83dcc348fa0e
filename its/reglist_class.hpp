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
//
// Dry run (snapshot restores): validate() refuses an IIDR or RESTORE_TABLES value naming a table ABI revision this
// ITS does not implement, and the write-only SAVE_TABLES / RESET in a snapshot; check_snapshot() replays this ITS's
// records, in stream order, on a scratch ITS (ItsRestoreCheck) that reads the snapshot's own RAM image -- the
// registers' order and values, then RESTORE_TABLES over the saved device table, ITTs and collection table -- so a
// snapshot whose ITS state cannot be restored is refused before anything of the VM changes.
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

// The scratch ITS of the dry run: restore_write / restore_tables exactly as on the VM's ITS, but reading the
// snapshot's RAM image (writes refused) and delivering nothing. One per VM, shared by its ITS classes (the checks run
// one after the other). Large (a whole Its with its mapping pools): lives where the VM's ITSes live.
class ItsRestoreCheck {
public:
    explicit ItsRestoreCheck(u32 vcpu_count) : sink_(vcpu_count), its_(mem_, sink_) {}
    ItsRestoreCheck(const ItsRestoreCheck&) = delete;
    ItsRestoreCheck& operator=(const ItsRestoreCheck&) = delete;
    // Replays the records of ITS `instance` in `image` on a reset scratch ITS; on refusal fills `refused`.
    [[nodiscard]] Status run(reglist::SnapshotImage& image, u32 instance, reglist::ImageRefusal& refused);

private:
    class ImageMemory final : public GuestMemory {
    public:
        Status read(u64 gpa, void* dst, usize len) override {
            return image_ != nullptr ? image_->read(gpa, dst, len) : Status::out_of_range;
        }
        Status write(u64, const void*, usize) override { return Status::unsupported; }
        bool contains(u64 gpa, usize len) const override { return image_ != nullptr && image_->contains(gpa, len); }
        GuestMemory* image_ = nullptr;
    };
    class NullSink final : public LpiSink {
    public:
        explicit NullSink(u32 n) : n_(n) {}
        u32 vcpu_count() const override { return n_; }
        void set_lpi_pending(u32, u32, bool) override {}
        bool lpi_pending(u32, u32) const override { return false; }
        void invalidate_lpi(u32, u32) override {}
        void invalidate_all_lpis(u32) override {}
        void move_all_lpis(u32, u32) override {}

    private:
        u32 n_;
    };
    ImageMemory mem_;
    NullSink sink_;
    Its its_;
};

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
    [[nodiscard]] Status validate(u32 vcpu, u64 id, Span<const u8> value, reglist::Refusal& why) override;
    [[nodiscard]] Status check_snapshot(reglist::SnapshotImage& image, reglist::ImageRefusal& refused) override {
        return check_ != nullptr ? check_->run(image, instance_, refused) : Status::ok;
    }
    // The scratch ITS check_snapshot replays the records on (nullptr: no whole-snapshot check; the tables are then
    // only checked while a restore applies them).
    void set_restore_check(ItsRestoreCheck* c) { check_ = c; }
    u8 restore_stage() const override { return kItsRestoreStage; }
    [[nodiscard]] Status before_save() override { return its_.save_tables(); }
    u32 instance() const { return instance_; }

    // One record's SET on `its` (the VM's, or the dry run's scratch ITS).
    [[nodiscard]] static Status apply(Its& its, u32 instance, u16 index, u8 width, u64 value);

private:
    Its& its_;
    u32 instance_;
    ItsRestoreCheck* check_ = nullptr;
};

}  // namespace hv::its
