// SMCCC 1.1 Arm architecture calls, the standard / vendor-hypervisor service queries and TRNG 1.0.
#include "lib/log.hpp"
#include "psci/dispatch.hpp"

namespace hv::psci {

u64 FirmwareDispatch::host_wa2_register_level(const HostMitigations& h) {
    // KVM: a host that mitigates SSB itself (with the firmware call) reports NOT_REQUIRED to the VM, because the
    // mitigation is always on while the guest runs; Unknown counts as not available.
    switch (h.wa2) {
        case wa::kWa2Avail:
        case wa::kWa2NotRequired:
            return wa::kWa2NotRequired;
        default:
            return wa::kWa2NotAvail;
    }
}

i64 FirmwareDispatch::arch_features_workaround(const Firmware& fw, u32 which) {
    // SMCCC_ARCH_FEATURES answers follow the VM's workaround registers (KVM's mapping, DEN0028 7.5-7.7):
    //   WA1/WA3: NOT_AVAIL -> NOT_SUPPORTED, AVAIL -> SUCCESS, NOT_REQUIRED -> 1 (this PE is unaffected)
    //   WA2:     NOT_AVAIL -> NOT_SUPPORTED, NOT_REQUIRED -> SUCCESS if the host mitigates with the call, else
    //            NOT_REQUIRED (-2)
    switch (which) {
        case 1:
        case 3: {
            u64 level = fw.vm_wa_[which - 1];
            if (level == wa::kWa1Avail) return kSmcccSuccess;
            if (level == wa::kWa1NotRequired) return kSmcccWorkaroundUnaffected;
            return kSmcccNotSupported;
        }
        case 2:
            if (fw.vm_wa_[1] == wa::kWa2NotAvail) return kSmcccNotSupported;
            return fw.config_.host.wa2 == wa::kWa2Avail ? kSmcccSuccess : kSmcccNotRequired;
        default:
            return kSmcccNotSupported;
    }
}

CallResult FirmwareDispatch::arch(Firmware& fw, u32 fid, const FirmwareCall& c) {
    CallResult r;
    switch (fid) {
        case kSmcccVersion:
            r.r0 = kSmcccVersion1_1;
            break;
        case kSmcccArchFeatures: {
            const u32 q = static_cast<u32>(c.x[1]);
            switch (q) {
                case kSmcccVersion:
                case kSmcccArchFeatures:
                    r.r0 = kSmcccSuccess;
                    break;
                case kSmcccArchWorkaround1:
                    r.r0 = arch_features_workaround(fw, 1);
                    break;
                case kSmcccArchWorkaround2:
                    r.r0 = arch_features_workaround(fw, 2);
                    break;
                case kSmcccArchWorkaround3:
                    r.r0 = arch_features_workaround(fw, 3);
                    break;
                default:
                    r.r0 = kSmcccNotSupported;
                    break;  // SOC_ID and anything else
            }
            break;
        }
        // The workaround calls are no-ops here: the hypervisor's own entry/exit path carries the mitigations.
        case kSmcccArchWorkaround1:
            r.r0 = arch_features_workaround(fw, 1) == kSmcccNotSupported ? kSmcccNotSupported : kSmcccSuccess;
            break;
        case kSmcccArchWorkaround2:
            r.r0 = arch_features_workaround(fw, 2) == kSmcccNotSupported ? kSmcccNotSupported : kSmcccSuccess;
            break;
        case kSmcccArchWorkaround3:
            r.r0 = arch_features_workaround(fw, 3) == kSmcccNotSupported ? kSmcccNotSupported : kSmcccSuccess;
            break;
        default:
            break;
    }
    return r;
}

u32 FirmwareDispatch::std_service_call_count(const Firmware& fw) {
    u32 n = 0;
    switch (fw.config_.psci_version) {
        case PsciVersion::v0_1:
            n = 0;
            break;  // the 0.1 IDs are not in the standard service range
        case PsciVersion::v0_2:
            n = 11;
            break;  // VERSION, CPU_SUSPEND x2, CPU_OFF, CPU_ON x2, AFFINITY_INFO x2,
                    // MIGRATE_INFO_TYPE, SYSTEM_OFF, SYSTEM_RESET
        case PsciVersion::v1_0:
            n = 12;
            break;  // + PSCI_FEATURES
        case PsciVersion::v1_1:
            n = 14;
            break;  // + SYSTEM_RESET2 x2
    }
    if (fw.config_.std_bmap & bmap::kStdTrng) n += 5;  // VERSION, FEATURES, GET_UUID, RND32, RND64
    return n;
}

static void put_uid(CallResult& r, const SmcccUid& u) {
    r.r0 = u.w[0];
    r.r1 = u.w[1];
    r.r2 = u.w[2];
    r.r3 = u.w[3];
}

CallResult FirmwareDispatch::standard_query(Firmware& fw, u32 fid) {
    CallResult r;
    switch (fid) {
        case kStdCallCount:
            r.r0 = std_service_call_count(fw);
            break;
        case kStdUid:
            put_uid(r, pack_uuid(kStdServiceUuid));
            break;
        case kStdRevision:
            r.r0 = 1;
            r.r1 = 0;
            break;  // revision 1.0 of our standard-service implementation
        default:
            break;
    }
    return r;
}

CallResult FirmwareDispatch::vendor_hyp(Firmware& fw, u32 fid) {
    CallResult r;
    const u64 bm = fw.config_.vendor_hyp_bmap;
    switch (fid) {
        case kVendorHypCallCount:
            r.r0 = (bm & bmap::kVendorFuncFeat) ? 1 : 0;
            break;
        case kVendorHypUid:
            put_uid(r, pack_uuid(kVendorHypUuid));
            break;
        case kVendorHypRevision:
            r.r0 = 1;
            r.r1 = 0;
            break;
        case kVendorHypFeatures:
            // Bitmap of the vendor-hypervisor functions this VM may use (VENDOR_HYP_BMAP bit 0 gates the call).
            if (bm & bmap::kVendorFuncFeat) r.r0 = static_cast<i64>(bm);
            break;
        default:
            break;
    }
    return r;
}

CallResult FirmwareDispatch::trng(Firmware& fw, u32 fid, const FirmwareCall& c) {
    CallResult r;
    if (!(fw.config_.std_bmap & bmap::kStdTrng)) return r;  // service disabled for this VM
    switch (fid) {
        case kTrngVersion:
            r.r0 = kTrngVersion1_0;
            break;
        case kTrngFeatures: {
            const u32 q = static_cast<u32>(c.x[1]);
            r.r0 = (q == kTrngVersion || q == kTrngFeatures || q == kTrngGetUuid || q == kTrngRnd32 || q == kTrngRnd64)
                       ? kSmcccSuccess
                       : kSmcccNotSupported;
            break;
        }
        case kTrngGetUuid:
            put_uid(r, pack_uuid(kTrngUuid));
            break;
        case kTrngRnd32:
        case kTrngRnd64: {
            const bool is64 = fid == kTrngRnd64;
            const u64 n = is64 ? c.x[1] : (c.x[1] & 0xffffffffull);
            const u64 max_bits = is64 ? kTrngMaxBits64 : kTrngMaxBits32;
            if (n == 0 || n > max_bits) {
                HV_LOG_RATELIMITED(warn, "trng: RND%s of %llu bits refused", is64 ? "64" : "32",
                                   static_cast<unsigned long long>(n));
                r.r0 = kPsciInvalidParameters;  // TRNG INVALID_PARAMETERS (-2), DEN0098 2.2
                break;
            }
            u64 b[3] = {};
            for (u64 i = 0; i < (n + 63) / 64; ++i) {
                if (!fw.platform_->random64(b[i])) {
                    r.r0 = kTrngNoEntropy;
                    return r;
                }
            }
            // Bits above N are zero (DEN0098 2.4/2.5).
            for (u64 i = 0; i < 3; ++i) {
                const u64 lo = i * 64;
                if (n <= lo)
                    b[i] = 0;
                else if (n - lo < 64)
                    b[i] &= (u64{1} << (n - lo)) - 1;
            }
            r.r0 = kSmcccSuccess;
            if (is64) {  // x1 = bits [191:128], x2 = [127:64], x3 = [63:0]
                r.r1 = b[2];
                r.r2 = b[1];
                r.r3 = b[0];
            } else {  // w1 = bits [95:64], w2 = [63:32], w3 = [31:0]
                r.r1 = b[1] & 0xffffffffull;
                r.r2 = b[0] >> 32;
                r.r3 = b[0] & 0xffffffffull;
            }
            break;
        }
        default:
            break;
    }
    return r;
}

}  // namespace hv::psci
