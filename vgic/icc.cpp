// CPU-interface registers for save/restore, expressed in ICH_VMCR_EL2 / ICH_AP{0,1}R<n>_EL2 terms, with the
// semantics of KVM_DEV_ARM_VGIC_GRP_CPU_SYSREGS (Documentation/virt/kvm/devices/arm-vgic-v3.rst).
#include "core/arm_defs.hpp"
#include "vgic/save_list.hpp"
#include "vgic/vgic.hpp"

namespace hv::vgic {

namespace {
namespace reg = arm::reg;
struct IccEncoding {
    u32 key;  // arm::sysreg_key (core/arm_defs.hpp)
    IccReg reg;
};
constexpr IccEncoding kIccEncodings[] = {
    {reg::kIccPmrEl1, IccReg::PMR},         {reg::kIccBpr0El1, IccReg::BPR0},
    {reg::icc_ap0r_el1(0), IccReg::AP0R0},  {reg::icc_ap0r_el1(1), IccReg::AP0R1},
    {reg::icc_ap0r_el1(2), IccReg::AP0R2},  {reg::icc_ap0r_el1(3), IccReg::AP0R3},
    {reg::icc_ap1r_el1(0), IccReg::AP1R0},  {reg::icc_ap1r_el1(1), IccReg::AP1R1},
    {reg::icc_ap1r_el1(2), IccReg::AP1R2},  {reg::icc_ap1r_el1(3), IccReg::AP1R3},
    {reg::kIccBpr1El1, IccReg::BPR1},       {reg::kIccCtlrEl1, IccReg::CTLR},
    {reg::kIccSreEl1, IccReg::SRE},         {reg::kIccIgrpen0El1, IccReg::IGRPEN0},
    {reg::kIccIgrpen1El1, IccReg::IGRPEN1},
};
}  // namespace

Result<IccReg> icc_reg_from_encoding(u32 op0, u32 op1, u32 crn, u32 crm, u32 op2) {
    if (op0 > 3 || op1 > 7 || crn > 15 || crm > 15 || op2 > 7) return Status::not_found;  // not an encoding
    const u32 key = arm::sysreg_key(op0, op1, crn, crm, op2);
    for (const IccEncoding& e : kIccEncodings)
        if (e.key == key) return e.reg;
    return Status::not_found;
}

u16 icc_index(IccReg reg) {
    for (const IccEncoding& e : kIccEncodings)
        if (e.reg == reg) return static_cast<u16>(e.key);
    return 0;
}

u32 Vgic::nr_aprs() const { return ich_vtr::apr_count(cfg_.ich_vtr); }

// ICC_AP0R<n> / ICC_AP1R<n> of a vCPU, or nullptr if that register is not implemented (n >= nr_aprs()).
u32* Vgic::active_priority_reg(VcpuState& v, IccReg reg) const {
    const bool group1 = reg >= IccReg::AP1R0 && reg <= IccReg::AP1R3;
    const u32 n = static_cast<u32>(reg) - static_cast<u32>(group1 ? IccReg::AP1R0 : IccReg::AP0R0);
    if (n >= nr_aprs()) return nullptr;
    return group1 ? &v.cpu_if.ap1r[n] : &v.cpu_if.ap0r[n];
}

Status Vgic::icc_read(u32 vcpu, IccReg reg, u64& value) {
    value = 0;
    if (vcpu >= cfg_.nr_vcpus) return Status::invalid_argument;
    VcpuState& v = vcpus_[vcpu];
    LockGuard g(v.lock);
    const u64 vmcr = v.cpu_if.vmcr;
    const u64 vtr = cfg_.ich_vtr;
    switch (reg) {
        case IccReg::PMR:
            value = ich_vmcr::VPMR::get(vmcr);
            break;
        case IccReg::BPR0:
            value = ich_vmcr::VBPR0::get(vmcr);
            break;
        case IccReg::BPR1:
            // With CBPR set, BPR1 reads as BPR0 + 1 saturated (IHI0069H 12.2.5, KVM's view).
            value =
                ich_vmcr::VCBPR::get(vmcr) ? min<u64>(ich_vmcr::VBPR0::get(vmcr) + 1, 7) : ich_vmcr::VBPR1::get(vmcr);
            break;
        case IccReg::AP0R0:
        case IccReg::AP0R1:
        case IccReg::AP0R2:
        case IccReg::AP0R3:
        case IccReg::AP1R0:
        case IccReg::AP1R1:
        case IccReg::AP1R2:
        case IccReg::AP1R3: {
            u32* apr = active_priority_reg(v, reg);
            if (apr == nullptr) return Status::invalid_argument;
            value = *apr;
            break;
        }
        case IccReg::CTLR:
            value = icc_ctlr::CBPR::make(ich_vmcr::VCBPR::get(vmcr)) |
                    icc_ctlr::EOImode::make(ich_vmcr::VEOIM::get(vmcr)) |
                    icc_ctlr::PRIbits::make(ich_vtr::PRIbits::get(vtr)) |
                    icc_ctlr::IDbits::make(ich_vtr::IDbits::get(vtr)) | icc_ctlr::SEIS::make(ich_vtr::SEIS::get(vtr)) |
                    icc_ctlr::A3V::make(ich_vtr::A3V::get(vtr));
            break;
        case IccReg::SRE:
            value = icc_sre::SRE::make(1) | icc_sre::DFB::make(1) | icc_sre::DIB::make(1);
            break;
        case IccReg::IGRPEN0:
            value = ich_vmcr::VENG0::get(vmcr);
            break;
        case IccReg::IGRPEN1:
            value = ich_vmcr::VENG1::get(vmcr);
            break;
    }
    return Status::ok;
}

Status Vgic::icc_check(u32 vcpu, IccReg reg, u64 value) const {
    if (vcpu >= cfg_.nr_vcpus) return Status::invalid_argument;
    const u64 vtr = cfg_.ich_vtr;
    switch (reg) {
        case IccReg::AP0R0:
        case IccReg::AP0R1:
        case IccReg::AP0R2:
        case IccReg::AP0R3:
        case IccReg::AP1R0:
        case IccReg::AP1R1:
        case IccReg::AP1R2:
        case IccReg::AP1R3: {
            const bool group1 = reg >= IccReg::AP1R0;
            const u32 n = static_cast<u32>(reg) - static_cast<u32>(group1 ? IccReg::AP1R0 : IccReg::AP0R0);
            return n < nr_aprs() ? Status::ok : Status::invalid_argument;  // not implemented with these PRIbits
        }
        case IccReg::CTLR:
            // KVM: the read-only capability fields must describe this CPU interface, else EINVAL.
            if (icc_ctlr::PRIbits::get(value) != ich_vtr::PRIbits::get(vtr) ||
                icc_ctlr::IDbits::get(value) != ich_vtr::IDbits::get(vtr) ||
                icc_ctlr::SEIS::get(value) != ich_vtr::SEIS::get(vtr) ||
                icc_ctlr::A3V::get(value) != ich_vtr::A3V::get(vtr))
                return Status::invalid_argument;
            return Status::ok;
        case IccReg::SRE:
            return icc_sre::SRE::get(value) ? Status::ok : Status::invalid_argument;  // system registers only (KVM)
        case IccReg::PMR:
        case IccReg::BPR0:
        case IccReg::BPR1:
        case IccReg::IGRPEN0:
        case IccReg::IGRPEN1:
            return Status::ok;
    }
    return Status::ok;
}

Status Vgic::icc_write(u32 vcpu, IccReg reg, u64 value) {
    mark_flush_all();
    HV_TRY(icc_check(vcpu, reg, value));  // nothing written on a refusal
    VcpuState& v = vcpus_[vcpu];
    LockGuard g(v.lock);
    u64& vmcr = v.cpu_if.vmcr;
    const u64 vtr = cfg_.ich_vtr;
    const u32 pri_bits = static_cast<u32>(ich_vtr::PRIbits::get(vtr)) + 1;
    switch (reg) {
        case IccReg::PMR:
            vmcr = ich_vmcr::VPMR::set(vmcr, value & (0xffu << (8 - pri_bits)) & 0xff);  // unimplemented bits RAZ/WI
            break;
        case IccReg::BPR0:
            vmcr = ich_vmcr::VBPR0::set(vmcr, value & 7);
            break;
        case IccReg::BPR1:
            if (!ich_vmcr::VCBPR::get(vmcr)) vmcr = ich_vmcr::VBPR1::set(vmcr, value & 7);
            break;
        case IccReg::AP0R0:
        case IccReg::AP0R1:
        case IccReg::AP0R2:
        case IccReg::AP0R3:
        case IccReg::AP1R0:
        case IccReg::AP1R1:
        case IccReg::AP1R2:
        case IccReg::AP1R3: {
            u32* apr = active_priority_reg(v, reg);
            if (apr == nullptr) return Status::invalid_argument;
            *apr = static_cast<u32>(value);
            break;
        }
        case IccReg::CTLR:  // capability fields checked by icc_check
            vmcr = ich_vmcr::VCBPR::set(vmcr, icc_ctlr::CBPR::get(value));
            vmcr = ich_vmcr::VEOIM::set(vmcr, icc_ctlr::EOImode::get(value));
            break;
        case IccReg::SRE:  // SRE == 1 checked by icc_check; nothing to store
            break;
        case IccReg::IGRPEN0:
            vmcr = ich_vmcr::VENG0::set(vmcr, value & 1);
            break;
        case IccReg::IGRPEN1:
            vmcr = ich_vmcr::VENG1::set(vmcr, value & 1);
            break;
    }
    return Status::ok;
}

}  // namespace hv::vgic
