// The vGIC's registers in the register catalogue (core/reglist/): four classes over one Vgic, with IDs
// KVM_REG_ARM64 | size | class | index (docs/reglist.md "vGIC classes"):
//   GICD       (VM,   class 0x0800)  index = GICD offset / 4; U32, or U64 for GICD_IROUTER<n>
//   GICR       (vCPU, class 0x0801)  index = offset from RD_base / 4 (SGI_base registers at 0x10000 + x);
//                                    U64 for PROPBASER/PENDBASER, else U32
//   ICC        (vCPU, class 0x0802)  index = op0<<14 | op1<<11 | CRn<<7 | CRm<<3 | op2 of ICC_*_EL1; U64
//   LINE_LEVEL (VM,   class 0x0803)  index [4:0] = first INTID / 32, [12:5] = vCPU of the PPI word; U32
// Enumeration is exactly vgic/save_list.hpp for the configured SPI count, vCPU count and ICH_VTR_EL2, in restore
// order. GET uses the save accessors (ISPENDR = pending latch, line levels apart: KVM's uaccess semantics); SET
// has value semantics (restore_dist_value / restore_redist_value). Restore stage 1 (after vCPU registers, before
// the ITS); GICR_CTLR is each redistributor's last record (EnableLPIs reads the pending table from guest RAM).
#pragma once

#include "core/reglist/catalogue.hpp"
#include "vgic/save_list.hpp"

namespace hv::vgic {

constexpr u8 kVgicRestoreStage = 1;

// Register IDs (without the scope bit).
constexpr u64 gicd_id(u32 offset, u8 width) {
    return reglist::kArchArm64 | reglist::size_bits_for(width) | reglist::kClassGicd | gic_reg_index(offset);
}
constexpr u64 gicr_id(u32 offset, u8 width) {
    return reglist::kArchArm64 | reglist::size_bits_for(width) | reglist::kClassGicr | gic_reg_index(offset);
}
u64 icc_id(IccReg reg);
constexpr u64 line_level_id(u32 vcpu, u32 first_intid) {
    return reglist::kArchArm64 | reglist::kSizeU32 | reglist::kClassLineLevel | line_level_index(vcpu, first_intid);
}

class GicdRegisterClass final : public reglist::RegisterClass {
public:
    explicit GicdRegisterClass(Vgic& vgic) : vgic_(vgic) {}
    const char* name() const override { return "gicd"; }
    reglist::Scope scope() const override { return reglist::Scope::vm; }
    usize count(u32) const override { return gicd_save_count(vgic_.nr_irqs()); }
    u64 id_at(u32, usize i) const override;
    bool owns(u64 id) const override;
    [[nodiscard]] Status get(u32 vcpu, u64 id, Span<u8> value) override;
    [[nodiscard]] Status set(u32 vcpu, u64 id, Span<const u8> value) override;
    // Dry-run SET: GICD_IIDR revision (2..3) and GICD_TYPER (must equal ours) refused before a restore applies.
    [[nodiscard]] Status validate(u32 vcpu, u64 id, Span<const u8> value, reglist::Refusal& why) override;
    u8 restore_stage() const override { return kVgicRestoreStage; }

private:
    Vgic& vgic_;
};

class GicrRegisterClass final : public reglist::RegisterClass {
public:
    explicit GicrRegisterClass(Vgic& vgic) : vgic_(vgic) {}
    const char* name() const override { return "gicr"; }
    reglist::Scope scope() const override { return reglist::Scope::vcpu; }
    usize count(u32 vcpu) const override { return vcpu < vgic_.vcpu_count() ? gicr_save_count() : 0; }
    u64 id_at(u32, usize i) const override;
    bool owns(u64 id) const override;
    [[nodiscard]] Status get(u32 vcpu, u64 id, Span<u8> value) override;
    [[nodiscard]] Status set(u32 vcpu, u64 id, Span<const u8> value) override;
    u8 restore_stage() const override { return kVgicRestoreStage; }
    // LPI pending bits of every redistributor to its pending table (Vgic::save_pending_tables).
    [[nodiscard]] Status before_save() override { return vgic_.save_pending_tables(); }

private:
    Vgic& vgic_;
};

class IccRegisterClass final : public reglist::RegisterClass {
public:
    IccRegisterClass(Vgic& vgic, u64 ich_vtr) : vgic_(vgic), ich_vtr_(ich_vtr) {}
    const char* name() const override { return "icc"; }
    reglist::Scope scope() const override { return reglist::Scope::vcpu; }
    usize count(u32 vcpu) const override { return vcpu < vgic_.vcpu_count() ? icc_save_count(ich_vtr_) : 0; }
    u64 id_at(u32, usize i) const override;
    bool owns(u64 id) const override;
    [[nodiscard]] Status get(u32 vcpu, u64 id, Span<u8> value) override;
    [[nodiscard]] Status set(u32 vcpu, u64 id, Span<const u8> value) override;
    // Dry-run SET (Vgic::icc_check): ICC_SRE_EL1.SRE 0, ICC_CTLR_EL1 capability fields of another CPU interface, an
    // APR this PRIbits does not implement -- refused before a restore changes anything.
    [[nodiscard]] Status validate(u32 vcpu, u64 id, Span<const u8> value, reglist::Refusal& why) override;
    u8 restore_stage() const override { return kVgicRestoreStage; }

private:
    Result<IccReg> find(u64 id) const;
    Vgic& vgic_;
    u64 ich_vtr_;
};

// VM-scoped: one PPI word per vCPU (INTIDs 0-31 of that redistributor), then one word per 32 SPIs.
class LineLevelRegisterClass final : public reglist::RegisterClass {
public:
    explicit LineLevelRegisterClass(Vgic& vgic) : vgic_(vgic) {}
    const char* name() const override { return "line_level"; }
    reglist::Scope scope() const override { return reglist::Scope::vm; }
    usize count(u32) const override { return vgic_.vcpu_count() + (vgic_.nr_irqs() - kNumPrivate) / 32; }
    u64 id_at(u32, usize i) const override;
    bool owns(u64 id) const override;
    [[nodiscard]] Status get(u32 vcpu, u64 id, Span<u8> value) override;
    [[nodiscard]] Status set(u32 vcpu, u64 id, Span<const u8> value) override;
    u8 restore_stage() const override { return kVgicRestoreStage; }

private:
    Vgic& vgic_;
};

// The four classes of one Vgic, added to a catalogue together (after Vgic::init: counts follow its config).
struct VgicRegisterClasses {
    VgicRegisterClasses(Vgic& vgic, u64 ich_vtr) : gicd(vgic), gicr(vgic), icc(vgic, ich_vtr), line_level(vgic) {}
    [[nodiscard]] Status add_to(reglist::RegisterCatalogue& cat) {
        HV_TRY(cat.add(gicd));
        HV_TRY(cat.add(line_level));
        HV_TRY(cat.add(gicr));
        return cat.add(icc);
    }
    GicdRegisterClass gicd;
    GicrRegisterClass gicr;
    IccRegisterClass icc;
    LineLevelRegisterClass line_level;
};

}  // namespace hv::vgic
