// The firmware a guest sees behind HVC #0 / SMC #0: PSCI (0.1, 0.2, 1.0, 1.1), SMCCC 1.1 (VERSION, ARCH_FEATURES,
// ARCH_WORKAROUND_1/2/3), service UID/count/revision queries and the TRNG 1.0 interface. One `Firmware` per VM.
//
// How arch/ uses it (both conduits are handled identically):
//   1. On an HVC/SMC trap from vCPU `v`, copy x0..x17 into a FirmwareCall, call `fw.handle(v, call)`, copy x0..x3
//      back into the guest. (For SMC the trapped ELR_EL2 points at the SMC itself: step the PC by 4; HVC already
//      returns after the instruction.)
//   2. Act on the returned FirmwareExit:
//        resume        continue the vCPU.
//        vcpu_off      park the vCPU until FirmwarePlatform::start_vcpu() is called for it (CPU_OFF).
//        vcpu_suspend  wait until the vCPU has a pending (even masked) interrupt, then read suspend_request(v):
//                      standby   -> resume after the call (x0 = SUCCESS already written);
//                      powerdown -> reset the vCPU exactly as for CPU_ON with (entry, context_id) (DEN0022D 5.4).
//        system_off    stop every vCPU, power the VM off.
//        system_reset  stop every vCPU, reset the VM (call Firmware::reset(); reset_type() says which reset).
//   3. Call `on_vcpu_started(v)` when a vCPU started by start_vcpu() runs for the first time (ON_PENDING -> ON),
//      and `note_vm_ran()` before the first guest entry of any vCPU (freezes the feature bitmaps, KVM's rule).
#pragma once

#include "core/guest_memory.hpp"
#include "lib/atomic.hpp"
#include "lib/spinlock.hpp"
#include "lib/status.hpp"

namespace hv::psci {

constexpr u32 kMaxVcpus = 64;

// Registers at the call: x[0] = function ID (only w0 counts, SMCCC DEN0028 2.5), x[1..17] arguments.
// Results are written to x[0..3]; x[4..17] are preserved (SMCCC 1.1).
// may_alias: the run loop hands the firmware the vCPU's saved x0..x17 in place (arch/aarch64/exits.cpp
// call_firmware), without a copy on every HVC.
struct __attribute__((may_alias)) FirmwareCall {
    u64 x[18];
};

enum class FirmwareExit : u8 { resume, vcpu_off, vcpu_suspend, system_off, system_reset };

enum class PowerState : u8 { off, on_pending, on };

// What CPU_SUSPEND asked for; valid while the vCPU is suspended (after FirmwareExit::vcpu_suspend).
struct SuspendRequest {
    bool power_down = false;  // false: standby (return to caller); true: power down (restart at entry)
    u32 power_state = 0;      // the raw power_state argument
    u64 entry = 0;            // power down only
    u64 context_id = 0;       // power down only: x0 at entry
};

// Implemented by arch/ (one per VM); a fake in the unit tests.
class FirmwarePlatform {
public:
    virtual u32 vcpu_count() const = 0;
    // MPIDR_EL1 affinity of vCPU `vcpu` (Aff3 [39:32], Aff2 [23:16], Aff1 [15:8], Aff0 [7:0]; other bits ignored).
    virtual u64 vcpu_mpidr(u32 vcpu) const = 0;
    // Reset `vcpu` to EL1h, MMU and caches off, DAIF masked, PC = entry, x0 = context_id, and schedule it.
    // Called without any Firmware lock held; may call Firmware::on_vcpu_started() synchronously.
    [[nodiscard]] virtual Status start_vcpu(u32 vcpu, u64 entry, u64 context_id) = 0;
    // 64 bits of entropy (RNDR); false if none available right now.
    virtual bool random64(u64& out) = 0;

protected:
    ~FirmwarePlatform() = default;
};

// Told about a vCPU's power transitions (the VM wires SDEI to it: a PE that is switched off or on has its private
// SDEI events reset, DEN0054 6.6). Called without any Firmware lock held.
class PowerObserver {
public:
    // CPU_OFF of `vcpu` (it stops running), or a CPU_ON of it accepted (it is about to start from reset).
    virtual void vcpu_powered(u32 vcpu, bool on) = 0;

protected:
    ~PowerObserver() = default;
};

// PSCI versions as KVM's KVM_REG_ARM_PSCI_VERSION values (major << 16 | minor).
enum class PsciVersion : u32 { v0_1 = 0x1, v0_2 = 0x2, v1_0 = 0x10000, v1_1 = 0x10001 };

// Levels of the SMCCC_ARCH_WORKAROUND_n pseudo-registers, bit-identical to KVM's uapi values.
namespace wa {
constexpr u64 kLevelMask = 0xf;     // KVM_REG_FEATURE_LEVEL_MASK
constexpr u64 kWa1NotAvail = 0;     // ..._WORKAROUND_1_NOT_AVAIL
constexpr u64 kWa1Avail = 1;        // ..._WORKAROUND_1_AVAIL
constexpr u64 kWa1NotRequired = 2;  // ..._WORKAROUND_1_NOT_REQUIRED
constexpr u64 kWa2NotAvail = 0;     // ..._WORKAROUND_2_NOT_AVAIL
constexpr u64 kWa2Unknown = 1;      // ..._WORKAROUND_2_UNKNOWN
constexpr u64 kWa2Avail = 2;        // ..._WORKAROUND_2_AVAIL
constexpr u64 kWa2NotRequired = 3;  // ..._WORKAROUND_2_NOT_REQUIRED
constexpr u64 kWa2Enabled = 0x10;   // ..._WORKAROUND_2_ENABLED (only valid with AVAIL)
constexpr u64 kWa3NotAvail = 0;     // ..._WORKAROUND_3_NOT_AVAIL
constexpr u64 kWa3Avail = 1;        // ..._WORKAROUND_3_AVAIL
constexpr u64 kWa3NotRequired = 2;  // ..._WORKAROUND_3_NOT_REQUIRED
}  // namespace wa

// Bits of the feature-bitmap pseudo-registers (KVM's KVM_REG_ARM_*_BIT_*), and the bits this build implements.
namespace bmap {
constexpr u64 kStdTrng = 1u << 0;         // KVM_REG_ARM_STD_BIT_TRNG_V1_0
constexpr u64 kStdHypPvTime = 1u << 0;    // KVM_REG_ARM_STD_HYP_BIT_PV_TIME (not implemented here)
constexpr u64 kVendorFuncFeat = 1u << 0;  // KVM_REG_ARM_VENDOR_HYP_BIT_FUNC_FEAT
constexpr u64 kVendorPtp = 1u << 1;       // KVM_REG_ARM_VENDOR_HYP_BIT_PTP (not implemented here)
constexpr u64 kStdImplemented = kStdTrng;
constexpr u64 kStdHypImplemented = 0;
constexpr u64 kVendorHypImplemented = kVendorFuncFeat;
}  // namespace bmap

// What the host itself provides against Spectre v2 / v4 (SSB) / BHB, as KVM reports it for the host: the upper
// bound a VM's workaround registers may be set to. arch/ fills this from the CPU (ID_AA64PFR0.CSV2/CSV3, SSBS...).
// wa2: kWa2NotAvail (vulnerable, or SSBS makes the call unnecessary), kWa2Avail (the host mitigates with the
// firmware call -- the register then reads NOT_REQUIRED and ARCH_FEATURES answers SUCCESS, as in KVM),
// kWa2NotRequired (unaffected).
struct HostMitigations {
    u64 wa1 = wa::kWa1NotRequired;
    u64 wa2 = wa::kWa2NotRequired;
    u64 wa3 = wa::kWa3NotRequired;
};

struct FirmwareConfig {
    // The version offered: the VM starts with it, and KVM_REG_ARM_PSCI_VERSION may be set to it or lower.
    PsciVersion psci_version = PsciVersion::v1_1;
    HostMitigations host;
    u64 std_bmap = bmap::kStdImplemented;
    u64 std_hyp_bmap = bmap::kStdHypImplemented;
    u64 vendor_hyp_bmap = bmap::kVendorHypImplemented;
    u32 boot_vcpu = 0;  // ON after reset; every other vCPU is OFF
    // CPU_ON of a target whose earlier CPU_ON has not completed yet: DEN0022D allows ON_PENDING; KVM (and the
    // KVM test kernels) expect ALREADY_ON. Default: KVM's answer.
    bool report_on_pending = false;
};

// Pseudo-register IDs (KVM_REG_ARM_FW / KVM_REG_ARM_FW_FEAT_BMAP, 64-bit), bit-identical to KVM's.
namespace fwreg {
constexpr u64 kFwBase = 0x6030000000140000ull;      // KVM_REG_ARM64 | KVM_REG_SIZE_U64 | KVM_REG_ARM_FW
constexpr u64 kFwBmapBase = 0x6030000000160000ull;  // ... | KVM_REG_ARM_FW_FEAT_BMAP
constexpr u64 kPsciVersion = kFwBase | 0;           // KVM_REG_ARM_PSCI_VERSION
constexpr u64 kWorkaround1 = kFwBase | 1;           // KVM_REG_ARM_SMCCC_ARCH_WORKAROUND_1
constexpr u64 kWorkaround2 = kFwBase | 2;           // KVM_REG_ARM_SMCCC_ARCH_WORKAROUND_2
constexpr u64 kWorkaround3 = kFwBase | 3;           // KVM_REG_ARM_SMCCC_ARCH_WORKAROUND_3
constexpr u64 kStdBmap = kFwBmapBase | 0;           // KVM_REG_ARM_STD_BMAP
constexpr u64 kStdHypBmap = kFwBmapBase | 1;        // KVM_REG_ARM_STD_HYP_BMAP
constexpr u64 kVendorHypBmap = kFwBmapBase | 2;     // KVM_REG_ARM_VENDOR_HYP_BMAP
constexpr u64 kAll[] = {kPsciVersion, kWorkaround1, kWorkaround2, kWorkaround3, kStdBmap, kStdHypBmap, kVendorHypBmap};
}  // namespace fwreg

class Firmware {
public:
    // Binds the VM's platform and memory and applies `config` (validated: unknown bitmap bits, a workaround level
    // above the host's, or a boot vCPU out of range -> invalid_argument). Calls reset().
    [[nodiscard]] Status init(FirmwarePlatform& platform, GuestMemory& memory, const FirmwareConfig& config);

    // One guest HVC/SMC. Never fails: bad input gets the architected error code in x0.
    FirmwareExit handle(u32 vcpu, FirmwareCall& call);
    // Power transitions go to `observer` (nullptr: nobody). Set once while the VM is built.
    void set_power_observer(PowerObserver* observer) { observer_ = observer; }

    // ON_PENDING -> ON once a started vCPU runs.
    void on_vcpu_started(u32 vcpu);
    // The VM ran: from now on the feature bitmaps can no longer change.
    void note_vm_ran();
    bool vm_has_run() const { return vm_ran_.load(MemoryOrder::acquire); }
    // VM reset (SYSTEM_RESET or restart): power states back to boot state; VM configuration (PSCI version,
    // workaround levels, bitmaps) and the has-run flag are kept, as in KVM.
    void reset();

    PowerState power_state(u32 vcpu) const;
    // Snapshot restore (arch/aarch64/vm_snapshot): set a vCPU's power state as it was saved (ON or OFF; the
    // suspend request is cleared). Ignored for an unknown vCPU.
    void restore_power_state(u32 vcpu, PowerState p);
    SuspendRequest suspend_request(u32 vcpu) const;
    // After FirmwareExit::system_reset: 0 for SYSTEM_RESET / SYSTEM_RESET2 warm reset, else SYSTEM_RESET2's
    // reset_type (bit 31 set: vendor type) and its cookie.
    u32 reset_type() const { return reset_type_; }
    u64 reset_cookie() const { return reset_cookie_; }
    PsciVersion psci_version() const { return config_.psci_version; }

    // Firmware pseudo-registers (fwreg::k*), KVM's values and SET rules. get: not_found for an unknown ID.
    // set: not_found (unknown ID), invalid_argument (a value this host cannot honour), busy (bitmap change after
    // the VM ran). A failed set changes nothing.
    [[nodiscard]] Status get_reg(u64 id, u64& value) const;
    [[nodiscard]] Status set_reg(u64 id, u64 value);
    // set_reg's checks without the write: the status set_reg(id, value) would return now; `limit` = the largest
    // value this firmware accepts (PSCI: the offered version; workarounds: the host's level; bitmaps: the bits
    // implemented).
    [[nodiscard]] Status check_reg(u64 id, u64 value, u64& limit) const;
    // The highest PSCI version this firmware offers (FirmwareConfig::psci_version at init, the `psci=` option).
    PsciVersion max_psci_version() const { return max_psci_; }

private:
    struct VcpuState {
        PowerState power = PowerState::off;
        SuspendRequest suspend;
    };

    FirmwarePlatform* platform_ = nullptr;
    PowerObserver* observer_ = nullptr;
    GuestMemory* memory_ = nullptr;
    FirmwareConfig config_;
    mutable Spinlock lock_;
    VcpuState vcpus_[kMaxVcpus];
    u32 vcpu_count_ = 0;
    Atomic<bool> vm_ran_;
    [[nodiscard]] Status check_reg_locked(u64 id, u64 value, u64& stored, u64& limit) const;

    bool psci_0_2_capable_ = true;
    PsciVersion max_psci_ = PsciVersion::v1_1;  // the offer: SET of a higher version is refused  // KVM's
                                                // KVM_ARM_VCPU_PSCI_0_2 feature: fixed by the configured version
    u64 vm_wa_[3] = {};                         // the VM's SMCCC_ARCH_WORKAROUND_1..3 register values
    u32 reset_type_ = 0;
    u64 reset_cookie_ = 0;

    friend class FirmwareDispatch;  // psci/firmware.cpp internals
    // handle() for a call some service of ours may answer (not inlined: handle's quick NOT_SUPPORTED stays light).
    FirmwareExit dispatch(u32 vcpu, FirmwareCall& call);
};

}  // namespace hv::psci
