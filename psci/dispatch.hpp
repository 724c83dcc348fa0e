// Internal to psci/: the handlers behind Firmware::handle(), split by service. Not for use outside psci/.
#pragma once

#include "psci/firmware.hpp"
#include "psci/ids.hpp"

namespace hv::psci {

// Results of one call: x0..x3 (x0 sign-extended from the 32/64-bit return code, KVM-style).
struct CallResult {
    i64 r0 = kSmcccNotSupported;
    u64 r1 = 0, r2 = 0, r3 = 0;
    FirmwareExit exit = FirmwareExit::resume;
};

// A 128-bit UID as the SMCCC "Call UID" query returns it: w0..w3, each four bytes of the UUID in string order,
// least significant byte first (the packing KVM uses for its own vendor UID, DEN0028 6.2).
struct SmcccUid {
    u32 w[4];
};

// Our UIDs (random v4 UUIDs generated for this project; see docs/firmware.md).
constexpr u8 kStdServiceUuid[16] = {0x84, 0x9e, 0x61, 0x5c, 0xc6, 0xa6, 0x45, 0xcb, 0xbd,
                                    0x58, 0x87, 0xa2, 0x8e, 0x1f, 0xb4, 0x4b};  // 849e615c-c6a6-45cb-bd58-87a28e1fb44b
constexpr u8 kVendorHypUuid[16] = {0x15, 0x72, 0xfa, 0x2e, 0xaf, 0x92, 0x4a, 0xda, 0x88,
                                   0xc6, 0x51, 0xc8, 0x3c, 0x3c, 0xa9, 0xd0};  // 1572fa2e-af92-4ada-88c6-51c83c3ca9d0
constexpr u8 kTrngUuid[16] = {0xd2, 0xca, 0xfb, 0x28, 0xd5, 0xea, 0x4b, 0xf9,
                              0x95, 0x78, 0x7b, 0xa2, 0xde, 0xba, 0x46, 0xcd};  // d2cafb28-d5ea-4bf9-9578-7ba2deba46cd
constexpr SmcccUid pack_uuid(const u8 (&b)[16]) {
    SmcccUid u{};
    for (unsigned i = 0; i < 4; ++i)
        u.w[i] = u32(b[4 * i]) | u32(b[4 * i + 1]) << 8 | u32(b[4 * i + 2]) << 16 | u32(b[4 * i + 3]) << 24;
    return u;
}

class FirmwareDispatch {
public:
    // Argument n of the call: w-register for SMC32 IDs, x-register for SMC64 (SMCCC DEN0028 2.6: the upper
    // halves of SMC32 arguments are ignored).
    static u64 arg(const FirmwareCall& c, u32 fid, unsigned n) {
        return FidSmc64::get(fid) ? c.x[n] : (c.x[n] & 0xffffffffull);
    }

    static CallResult psci(Firmware& fw, u32 vcpu, u32 fid, const FirmwareCall& c);
    static CallResult psci_0_1(Firmware& fw, u32 vcpu, u32 fid, const FirmwareCall& c);
    static CallResult suspend(Firmware& fw, u32 vcpu, u64 power_state, u64 entry, u64 context_id);
    static CallResult cpu_off(Firmware& fw, u32 vcpu);
    static CallResult system_reset2(Firmware& fw, u32 vcpu, u32 fid, const FirmwareCall& c);
    static i64 psci_features(const Firmware& fw, u32 queried);
    static i64 cpu_on(Firmware& fw, u32 caller, u64 target, u64 entry, u64 context_id, bool v0_1);
    static i64 affinity_info(Firmware& fw, u64 target, u64 level);
    static CallResult arch(Firmware& fw, u32 fid, const FirmwareCall& c);
    static CallResult standard_query(Firmware& fw, u32 fid);
    static CallResult vendor_hyp(Firmware& fw, u32 fid);
    static CallResult trng(Firmware& fw, u32 fid, const FirmwareCall& c);

    // Answers shared with the pseudo-registers.
    static i64 arch_features_workaround(const Firmware& fw, u32 which);  // 1, 2 or 3
    static u64 host_wa2_register_level(const HostMitigations& h);
    static u32 std_service_call_count(const Firmware& fw);
};

}  // namespace hv::psci
