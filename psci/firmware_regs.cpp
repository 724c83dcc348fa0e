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

Status Firmware::set_reg(u64 id, u64 value) {
    LockGuard guard(lock_);
    switch (id) {
        case fwreg::kPsciVersion:
            // KVM: 0.1 only for a VM created without the PSCI 0.2 feature, 0.2/1.0/1.1 only with it.
            switch (value) {
                case static_cast<u64>(PsciVersion::v0_1):
                    if (psci_0_2_capable_) return Status::invalid_argument;
                    break;
                case static_cast<u64>(PsciVersion::v0_2):
                case static_cast<u64>(PsciVersion::v1_0):
                case static_cast<u64>(PsciVersion::v1_1):
                    if (!psci_0_2_capable_) return Status::invalid_argument;
                    break;
                default:
                    return Status::invalid_argument;
            }
            config_.psci_version = static_cast<PsciVersion>(value);
            return Status::ok;
        case fwreg::kWorkaround1:
        case fwreg::kWorkaround3: {
            const unsigned i = id == fwreg::kWorkaround1 ? 0 : 2;
            const u64 host = i == 0 ? config_.host.wa1 : config_.host.wa3;
            // Levels are ordered NOT_AVAIL < AVAIL < NOT_REQUIRED: the VM may claim at most what the host gives.
            if ((value & ~wa::kLevelMask) || value > host) return Status::invalid_argument;
            vm_wa_[i] = value;
            return Status::ok;
        }
        case fwreg::kWorkaround2: {
            if (value & ~(wa::kLevelMask | wa::kWa2Enabled)) return Status::invalid_argument;
            // The historical ENABLED bit is only meaningful together with AVAIL.
            if ((value & wa::kWa2Enabled) && (value & wa::kLevelMask) != wa::kWa2Avail) return Status::invalid_argument;
            u64 level;
            switch (value & wa::kLevelMask) {
                case wa::kWa2NotAvail:
                case wa::kWa2Unknown:
                    level = wa::kWa2NotAvail;
                    break;
                case wa::kWa2Avail:
                case wa::kWa2NotRequired:
                    level = wa::kWa2NotRequired;
                    break;
                default:
                    return Status::invalid_argument;
            }
            // NOT_AVAIL can go onto a NOT_REQUIRED host, not the other way round.
            if (level > FirmwareDispatch::host_wa2_register_level(config_.host)) return Status::invalid_argument;
            vm_wa_[1] = level;
            return Status::ok;
        }
        case fwreg::kStdBmap:
        case fwreg::kStdHypBmap:
        case fwreg::kVendorHypBmap: {
            u64* reg = id == fwreg::kStdBmap      ? &config_.std_bmap
                       : id == fwreg::kStdHypBmap ? &config_.std_hyp_bmap
                                                  : &config_.vendor_hyp_bmap;
            const u64 valid = id == fwreg::kStdBmap      ? bmap::kStdImplemented
                              : id == fwreg::kStdHypBmap ? bmap::kStdHypImplemented
                                                         : bmap::kVendorHypImplemented;
            if (value & ~valid) return Status::invalid_argument;
            // After the VM ran the services it may use are frozen; rewriting the same value is fine.
            if (vm_has_run() && value != *reg) return Status::busy;
            *reg = value;
            return Status::ok;
        }
        default:
            return Status::not_found;
    }
}

}  // namespace hv::psci
