// SDEI state in the register catalogue (core/reglist/): class 0x0805 (kClassSdei), every register U64, IDs
// KVM_REG_ARM64 | KVM_REG_SIZE_U64 | 0x0805 << 16 | index. Three RegisterClass objects share the class number with
// disjoint index ranges (docs/reglist.md "SDEI class"):
//
//   vCPU scope (SdeiVcpuRegisters, restore stage 3), for each vCPU, in enumeration order:
//     0x1000 PE_MASK state (0/1)        0x1001 handler running (0/1)   0x1002 event number the handler runs
//     0x1003 interrupted PC             0x1004 interrupted PSTATE      0x1010 + n: interrupted x_n (n < 18)
//     0x1101..0x1104, 0x1110 + n        the same for the running critical handler (layout 2)
//     0x0000 | slot << 4 | field        private event slot (0 = event 0, 1 + k = bound PPI slot k, k <
//                                       SdeiConfig::private_bind_slots); field 0 state (EventState), 1 pending,
//                                       2 entry point, 3 argument
//   VM scope (SdeiVmRegisters, restore stage 3):
//     0x4000 LAYOUT_VERSION: the version of this layout (kLayoutVersion). GET answers it; SET of a higher value is
//            refused (invalid_argument, "saved by a newer hypervisor"), of an equal or lower one accepted (older
//            layouts are subsets: registers they lack keep their reset values). First in the list, so a refused
//            restore stops before any SDEI state is written.
//     0x3000 | kind << 8 | slot << 4 | field   INTERRUPT_BIND slot (kind 0 private / PPI, 1 shared / SPI);
//                                              field 0 used (0/1), 1 INTID, 2 event priority (layout 2)
//     0x2000 | slot << 4 | field        shared event slot (< shared_bind_slots): field 0 state, 1 pending, 2 entry
//                                       point, 3 argument, 4 routing mode, 5 routing affinity, 6 vCPU running the
//                                       handler (0xffffffff = none)
//   VM scope (SdeiCommitRegister, restore stage 4, after every SDEI record of every vCPU):
//     0xF000 VALIDATE: reads 0; SET(0) checks the whole restored model (Sdei::validate() plus: a running handler
//            names an event whose state is running on that vCPU). On failure the model is reset (nothing
//            inconsistent survives) and the SET answers invalid_argument.
//
// Each SET checks its own value (state in range, flags 0/1, entry point 0 or 4-aligned in guest RAM, routing mode
// RM_ANY / RM_PE, affinity only MPIDR affinity bits, running vCPU exists, INTID a PPI / SPI, handler event number
// known, PSTATE an AArch64 EL0t / EL1t / EL1h mode) and writes nothing when it refuses (invalid_argument).
// Stage 3 runs after the vGIC (1) and the ITS (2).
#pragma once

#include "core/reglist/catalogue.hpp"
#include "sdei/sdei.hpp"

namespace hv::sdei {

constexpr u8 kSdeiRestoreStage = 3;

// Version of the SDEI register layout (docs/reglist.md "SDEI class"). 1: the first layout (no version register);
// 2: critical handler contexts (0x11xx) and the bound events' priority (bind field 2). Raise it whenever a register
// is added or its meaning changes; a restore of a higher version is refused.
constexpr u64 kLayoutVersion = 2;
constexpr u8 kSdeiCommitStage = 4;

namespace reg {
constexpr u16 kPrivBase = 0x0000;
constexpr u16 kVcpuMasked = 0x1000;
constexpr u16 kVcpuActive = 0x1001;
constexpr u16 kVcpuEvent = 0x1002;
constexpr u16 kVcpuPc = 0x1003;
constexpr u16 kVcpuPstate = 0x1004;
constexpr u16 kVcpuX0 = 0x1010;
constexpr u16 kCriticalOffset = 0x100;  // 0x1101..0x1104, 0x1110 + n: the critical handler's context
constexpr u16 kLayoutVersionIndex = 0x4000;
constexpr u16 kSharedBase = 0x2000;
constexpr u16 kBindBase = 0x3000;
constexpr u16 kValidate = 0xf000;
// Event record fields.
constexpr u16 kFieldState = 0, kFieldPending = 1, kFieldEp = 2, kFieldArg = 3, kFieldRouting = 4, kFieldAffinity = 5,
              kFieldRunningOn = 6;
constexpr u16 kPrivFields = 4, kSharedFields = 7;
// Binding fields.
constexpr u16 kBindUsed = 0, kBindIntid = 1, kBindPriority = 2, kBindFields = 3;
constexpr u16 kVcpuStateRegs = 5 + static_cast<u16>(kContextRegs);
constexpr u16 kVcpuCriticalRegs = 4 + static_cast<u16>(kContextRegs);
}  // namespace reg

constexpr u64 sdei_reg_id(u16 index) { return reglist::kArchArm64 | reglist::kSizeU64 | reglist::kClassSdei | index; }
constexpr u64 kSdeiLayoutVersionId = sdei_reg_id(reg::kLayoutVersionIndex);
constexpr u64 sdei_private_id(u32 slot, u16 field) {
    return sdei_reg_id(static_cast<u16>(reg::kPrivBase | (slot << 4) | field));
}
constexpr u64 sdei_shared_id(u32 slot, u16 field) {
    return sdei_reg_id(static_cast<u16>(reg::kSharedBase | (slot << 4) | field));
}
constexpr u64 sdei_bind_id(bool shared, u32 slot, u16 field) {
    return sdei_reg_id(static_cast<u16>(reg::kBindBase | (shared ? 0x100 : 0) | (slot << 4) | field));
}

class SdeiVcpuRegisters final : public reglist::RegisterClass {
public:
    explicit SdeiVcpuRegisters(Sdei& s) : sdei_(s) {}
    const char* name() const override { return "sdei-vcpu"; }
    reglist::Scope scope() const override { return reglist::Scope::vcpu; }
    usize count(u32 vcpu) const override;
    u64 id_at(u32 vcpu, usize index) const override;
    bool owns(u64 id) const override;
    [[nodiscard]] Status get(u32 vcpu, u64 id, Span<u8> value) override;
    [[nodiscard]] Status set(u32 vcpu, u64 id, Span<const u8> value) override;
    u8 restore_stage() const override { return kSdeiRestoreStage; }

private:
    Sdei& sdei_;
};

class SdeiVmRegisters final : public reglist::RegisterClass {
public:
    explicit SdeiVmRegisters(Sdei& s) : sdei_(s) {}
    const char* name() const override { return "sdei-vm"; }
    reglist::Scope scope() const override { return reglist::Scope::vm; }
    usize count(u32 vcpu) const override;
    u64 id_at(u32 vcpu, usize index) const override;
    bool owns(u64 id) const override;
    [[nodiscard]] Status get(u32 vcpu, u64 id, Span<u8> value) override;
    [[nodiscard]] Status set(u32 vcpu, u64 id, Span<const u8> value) override;
    // Dry-run SET: LAYOUT_VERSION newer than this hypervisor's is refused before a restore changes anything.
    [[nodiscard]] Status validate(u32 vcpu, u64 id, Span<const u8> value, reglist::Refusal& why) override;
    u8 restore_stage() const override { return kSdeiRestoreStage; }

private:
    Sdei& sdei_;
};

// The dry run of a snapshot's SDEI state (restores): its SDEI records replayed in stream order on a scratch model,
// then the commit's checks (validate_restored; every restored binding bindable in the live interrupt controller),
// so what VALIDATE would refuse while applying -- and any SDEI value SET would refuse -- is refused before anything
// of the VM changes. The scratch shares the VM's platform (kicks dropped), RAM layout and configuration.
class SdeiRestoreCheck {
public:
    SdeiRestoreCheck() : vm_(scratch_), vcpu_(scratch_) {}
    SdeiRestoreCheck(const SdeiRestoreCheck&) = delete;
    SdeiRestoreCheck& operator=(const SdeiRestoreCheck&) = delete;
    // `binder`: the live interrupt controller, asked only whether an INTID can be bound (nullptr: not checked).
    [[nodiscard]] Status init(SdeiPlatform& platform, GuestMemory& memory, const SdeiConfig& config,
                              const IrqBinder* binder);
    [[nodiscard]] Status run(reglist::SnapshotImage& image, reglist::ImageRefusal& refused);

private:
    class QuietPlatform final : public SdeiPlatform {
    public:
        u32 vcpu_count() const override { return live_ != nullptr ? live_->vcpu_count() : 0; }
        u64 vcpu_mpidr(u32 v) const override { return live_ != nullptr ? live_->vcpu_mpidr(v) : 0; }
        void kick(u32) override {}
        SdeiPlatform* live_ = nullptr;
    };
    QuietPlatform platform_;
    Sdei scratch_;
    SdeiVmRegisters vm_;
    SdeiVcpuRegisters vcpu_;
    const IrqBinder* binder_ = nullptr;
    bool ready_ = false;
};

class SdeiCommitRegister final : public reglist::RegisterClass {
public:
    explicit SdeiCommitRegister(Sdei& s) : sdei_(s) {}
    // The snapshot dry run (nullptr: none; the commit then checks only while applying).
    void set_restore_check(SdeiRestoreCheck* c) { check_ = c; }
    [[nodiscard]] Status check_snapshot(reglist::SnapshotImage& image, reglist::ImageRefusal& refused) override {
        return check_ != nullptr ? check_->run(image, refused) : Status::ok;
    }
    const char* name() const override { return "sdei-validate"; }
    reglist::Scope scope() const override { return reglist::Scope::vm; }
    usize count(u32) const override { return 1; }
    u64 id_at(u32, usize index) const override { return index == 0 ? sdei_reg_id(reg::kValidate) : 0; }
    bool owns(u64 id) const override { return id == sdei_reg_id(reg::kValidate); }
    [[nodiscard]] Status get(u32 vcpu, u64 id, Span<u8> value) override;
    [[nodiscard]] Status set(u32 vcpu, u64 id, Span<const u8> value) override;
    u8 restore_stage() const override { return kSdeiCommitStage; }

private:
    Sdei& sdei_;
    SdeiRestoreCheck* check_ = nullptr;
};

// The three classes of one VM's SDEI model (construct after Sdei::init: the bind-slot counts shape the list).
struct SdeiRegisterClasses {
    explicit SdeiRegisterClasses(Sdei& s) : vm(s), vcpu(s), commit(s) {}
    [[nodiscard]] Status add_to(reglist::RegisterCatalogue& cat);
    SdeiVmRegisters vm;
    SdeiVcpuRegisters vcpu;
    SdeiCommitRegister commit;
};

// Whole-model consistency for a restore: Sdei::validate() plus the handler-context <-> running-event link.
[[nodiscard]] Status validate_restored(const Sdei& s);

}  // namespace hv::sdei
