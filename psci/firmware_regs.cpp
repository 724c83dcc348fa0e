// Firmware pseudo-registers: KVM_REG_ARM_PSCI_VERSION, SMCCC_ARCH_WORKAROUND_1..3 and the feature bitmaps, with
// KVM's values and SET rules (Linux Documentation/virt/kvm/arm/fw-pseudo-registers.rst, arch/arm64/kvm/hypercalls.c
// behaviour). One difference, documented in docs/firmware.md: a workaround level accepted by SET is stored and
// read back (KVM validates and discards it), so the VM's SMCCC_ARCH_FEATURES answers follow it.
#include "lib/log.hpp"
#include "psci/dispatch.hpp"

namespace hv::psci {

Status Firmware::get_reg(u64 id, u64& value) const {
    LockGuard guard(lock_);
    switch (id) {
        case fwreg::kPsciVersion:
            value = static_cast<u32>(config_.psci_version);
            return Status::ok;
        case fwreg::kWorkaround1:
            value = vm_wa_[0];
            return Status::ok;
        case fwreg::kWorkaround2:
            value = vm_wa_[1];
            return Status::ok;
        case fwreg::kWorkaround3:
            value = vm_wa_[2];
            return Status::ok;
        case fwreg::kStdBmap:
            value = config_.std_bmap;
            return Status::ok;
        case fwreg::kStdHypBmap:
            value = config_.std_hyp_bmap;
            return Status::ok;
        case fwreg::kVendorHypBmap:
            value = config_.vendor_hyp_bmap;
            return Status::ok;
        default:
            return Status::not_found;
    }
}

Status Firmware::check_reg_locked(u64 id, u64 value, u64& stored, u64& limit) const {
    switch (id) {
        case fwreg::kPsciVersion:
            limit = static_cast<u64>(max_psci_);
            // KVM: 0.1 only for a VM created without the PSCI 0.2 feature, 0.2/1.0/1.1 only with it; never a
            // version above what this hypervisor offers (`psci=`): a guest that saw 1.1 cannot continue on 1.0.
            switch (value) {
                case static_cast<u64>(PsciVersion::v0_1):
                    if (psci_0_2_capable_) return Status::invalid_argument;
                    break;
                case static_cast<u64>(PsciVersion::v0_2):
                case static_cast<u64>(PsciVersion::v1_0):
                case static_cast<u64>(PsciVersion::v1_1):
                    if (!psci_0_2_capable_ || value > limit) return Status::invalid_argument;
                    break;
                default:
                    return Status::invalid_argument;
            }
            stored = value;
            return Status::ok;
        case fwreg::kWorkaround1:
        case fwreg::kWorkaround3: {
            limit = id == fwreg::kWorkaround1 ? config_.host.wa1 : config_.host.wa3;
            // Levels are ordered NOT_AVAIL < AVAIL < NOT_REQUIRED: the VM may claim at most what the host gives.
            if ((value & ~wa::kLevelMask) || value > limit) return Status::invalid_argument;
            stored = value;
            return Status::ok;
        }
        case fwreg::kWorkaround2: {
            limit = FirmwareDispatch::host_wa2_register_level(config_.host);
            if (value & ~(wa::kLevelMask | wa::kWa2Enabled)) return Status::invalid_argument;
            // The historical ENABLED bit is only meaningful together with AVAIL.
            if ((value & wa::kWa2Enabled) && (value & wa::kLevelMask) != wa::kWa2Avail) return Status::invalid_argument;
            switch (value & wa::kLevelMask) {
                case wa::kWa2NotAvail:
                case wa::kWa2Unknown:
                    stored = wa::kWa2NotAvail;
                    break;
                case wa::kWa2Avail:
                case wa::kWa2NotRequired:
                    stored = wa::kWa2NotRequired;
                    break;
                default:
                    return Status::invalid_argument;
            }
            // NOT_AVAIL can go onto a NOT_REQUIRED host, not the other way round.
            if (stored > limit) return Status::invalid_argument;
            return Status::ok;
        }
        case fwreg::kStdBmap:
        case fwreg::kStdHypBmap:
        case fwreg::kVendorHypBmap: {
            const u64 cur = id == fwreg::kStdBmap      ? config_.std_bmap
                            : id == fwreg::kStdHypBmap ? config_.std_hyp_bmap
                                                       : config_.vendor_hyp_bmap;
            limit = id == fwreg::kStdBmap      ? bmap::kStdImplemented
                    : id == fwreg::kStdHypBmap ? bmap::kStdHypImplemented
                                               : bmap::kVendorHypImplemented;
            if (value & ~limit) return Status::invalid_argument;
            // After the VM ran the services it may use are frozen; rewriting the same value is fine.
            if (vm_has_run() && value != cur) return Status::busy;
            stored = value;
            return Status::ok;
        }
        default:
            return Status::not_found;
    }
}

Status Firmware::check_reg(u64 id, u64 value, u64& limit) const {
    LockGuard guard(lock_);
    u64 stored = 0;
    return check_reg_locked(id, value, stored, limit);
}

Status Firmware::set_reg(u64 id, u64 value) {
    LockGuard guard(lock_);
    u64 stored = 0, limit = 0;
    HV_TRY(check_reg_locked(id, value, stored, limit));
    switch (id) {
        case fwreg::kPsciVersion:
            config_.psci_version = static_cast<PsciVersion>(stored);
            break;
        case fwreg::kWorkaround1:
            vm_wa_[0] = stored;
            break;
        case fwreg::kWorkaround2:
            vm_wa_[1] = stored;
            break;
        case fwreg::kWorkaround3:
            vm_wa_[2] = stored;
            break;
        case fwreg::kStdBmap:
            config_.std_bmap = stored;
            break;
        case fwreg::kStdHypBmap:
            config_.std_hyp_bmap = stored;
            break;
        default:
            config_.vendor_hyp_bmap = stored;
            break;
    }
    return Status::ok;
}

}  // namespace hv::psci
