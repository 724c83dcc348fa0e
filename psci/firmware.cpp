// Firmware: the VM's view of PSCI/SMCCC/TRNG. Top-level dispatch and the PSCI power-state machine.
#include "psci/firmware.hpp"

#include "core/arm_defs.hpp"
#include "lib/log.hpp"
#include "psci/dispatch.hpp"

namespace hv::psci {

static_assert(kMpidrAffinityMask == arm::mpidr::kAffinityMask);

namespace {

constexpr bool psci_at_least(PsciVersion have, PsciVersion want) {
    return static_cast<u32>(have) >= static_cast<u32>(want);
}

// MPIDR affinity bits compared by AFFINITY_INFO for a given lowest_affinity_level (DEN0022D 5.7.1): the fields at
// and above that level.
constexpr u64 affinity_mask_for_level(u64 level) {
    switch (level) {
        case 0:
            return arm::mpidr::kAffinityMask;
        case 1:
            return arm::mpidr::kAffinityMask & ~arm::mpidr::Aff0::field_mask;
        case 2:
            return arm::mpidr::Aff3::field_mask | arm::mpidr::Aff2::field_mask;
        case 3:
            return arm::mpidr::Aff3::field_mask;
        default:
            return 0;
    }
}

}  // namespace

Status Firmware::init(FirmwarePlatform& platform, GuestMemory& memory, const FirmwareConfig& config) {
    u32 n = platform.vcpu_count();
    if (n == 0 || n > kMaxVcpus || config.boot_vcpu >= n) return Status::invalid_argument;
    switch (config.psci_version) {
        case PsciVersion::v0_1:
        case PsciVersion::v0_2:
        case PsciVersion::v1_0:
        case PsciVersion::v1_1:
            break;
        default:
            return Status::invalid_argument;
    }
    if ((config.std_bmap & ~bmap::kStdImplemented) || (config.std_hyp_bmap & ~bmap::kStdHypImplemented) ||
        (config.vendor_hyp_bmap & ~bmap::kVendorHypImplemented))
        return Status::invalid_argument;
    if (config.host.wa1 > wa::kWa1NotRequired || config.host.wa2 > wa::kWa2NotRequired ||
        config.host.wa3 > wa::kWa3NotRequired)
        return Status::invalid_argument;
    platform_ = &platform;
    memory_ = &memory;
    config_ = config;
    vcpu_count_ = n;
    psci_0_2_capable_ = config.psci_version != PsciVersion::v0_1;
    max_psci_ = config.psci_version;
    // The VM's workaround registers start at the host's own level (what KVM reports).
    vm_wa_[0] = config.host.wa1;
    vm_wa_[1] = FirmwareDispatch::host_wa2_register_level(config.host);
    vm_wa_[2] = config.host.wa3;
    vm_ran_.store(false, MemoryOrder::relaxed);
    reset();
    return Status::ok;
}

void Firmware::reset() {
    LockGuard guard(lock_);
    for (u32 i = 0; i < kMaxVcpus; ++i) vcpus_[i] = VcpuState{};
    if (vcpu_count_ > 0) vcpus_[config_.boot_vcpu].power = PowerState::on;
    reset_type_ = 0;
    reset_cookie_ = 0;
}

void Firmware::on_vcpu_started(u32 vcpu) {
    if (vcpu >= vcpu_count_) return;
    LockGuard guard(lock_);
    if (vcpus_[vcpu].power == PowerState::on_pending) vcpus_[vcpu].power = PowerState::on;
}

void Firmware::note_vm_ran() { vm_ran_.store(true, MemoryOrder::release); }

PowerState Firmware::power_state(u32 vcpu) const {
    if (vcpu >= vcpu_count_) return PowerState::off;
    LockGuard guard(lock_);
    return vcpus_[vcpu].power;
}

void Firmware::restore_power_state(u32 vcpu, PowerState p) {
    if (vcpu >= vcpu_count_) return;
    LockGuard guard(lock_);
    vcpus_[vcpu].power = p;
    vcpus_[vcpu].suspend = SuspendRequest{};
}

SuspendRequest Firmware::suspend_request(u32 vcpu) const {
    if (vcpu >= vcpu_count_) return {};
    LockGuard guard(lock_);
    return vcpus_[vcpu].suspend;
}

FirmwareExit Firmware::handle(u32 vcpu, FirmwareCall& call) {
    const u32 fid = static_cast<u32>(call.x[0]);  // DEN0028 2.5: the function ID is W0
    const auto owner = static_cast<Owner>(FidOwner::get(fid));
    const bool psci01 = config_.psci_version == PsciVersion::v0_1 && fid >= kPsci01CpuSuspend && fid <= kPsci01Migrate;
    // No service of ours answers yielding calls (DEN0028 2.5.1) or other owners than these three: NOT_SUPPORTED
    // without the dispatch (the exit fast path's common case for IDs nobody implements, docs/benchmarks-exits.md).
    if (!psci01 &&
        (!FidFast::get(fid) || (owner != Owner::arch && owner != Owner::standard && owner != Owner::vendor_hyp))) {
        HV_LOG_RATELIMITED(debug, "firmware: vCPU %u function %#x not supported", vcpu, fid);
        call.x[0] = static_cast<u64>(kSmcccNotSupported);
        call.x[1] = call.x[2] = call.x[3] = 0;
        return FirmwareExit::resume;
    }
    return dispatch(vcpu, call);
}

FirmwareExit Firmware::dispatch(u32 vcpu, FirmwareCall& call) {
    CallResult r;
    const u32 fid = static_cast<u32>(call.x[0]);
    if (vcpu >= vcpu_count_ || platform_ == nullptr) {
        HV_LOG_RATELIMITED(warn, "firmware: call %#x from unknown vCPU %u", fid, vcpu);
    } else if (config_.psci_version == PsciVersion::v0_1 && fid >= kPsci01CpuSuspend && fid <= kPsci01Migrate) {
        r = FirmwareDispatch::psci_0_1(*this, vcpu, fid, call);
    } else if (!FidFast::get(fid)) {
        // Yielding calls: no service of ours is yielding (DEN0028 2.5.1).
        HV_LOG_RATELIMITED(debug, "firmware: yielding call %#x not supported", fid);
    } else {
        switch (static_cast<Owner>(FidOwner::get(fid))) {
            case Owner::arch:
                r = FirmwareDispatch::arch(*this, fid, call);
                break;
            case Owner::standard: {
                u32 num = static_cast<u32>(FidNumber::get(fid));
                if (num >= kQueryCallCount && !FidSmc64::get(fid)) {
                    r = FirmwareDispatch::standard_query(*this, fid);
                } else if (num <= (kPsciLast & 0xffff)) {
                    if (config_.psci_version != PsciVersion::v0_1) r = FirmwareDispatch::psci(*this, vcpu, fid, call);
                } else if (num >= (kTrngVersion & 0xffff) && num <= (kTrngRnd32 & 0xffff)) {
                    r = FirmwareDispatch::trng(*this, fid, call);
                }
                break;
            }
            case Owner::vendor_hyp:
                r = FirmwareDispatch::vendor_hyp(*this, fid);
                break;
            case Owner::cpu:
            case Owner::sip:
            case Owner::oem:
            case Owner::standard_hyp:
            default:
                break;
        }
        if (r.r0 == kSmcccNotSupported && r.exit == FirmwareExit::resume)
            HV_LOG_RATELIMITED(debug, "firmware: vCPU %u function %#x not supported", vcpu, fid);
    }
    call.x[0] = static_cast<u64>(r.r0);
    call.x[1] = r.r1;
    call.x[2] = r.r2;
    call.x[3] = r.r3;
    if (r.exit == FirmwareExit::vcpu_off && observer_ != nullptr) observer_->vcpu_powered(vcpu, false);  // CPU_OFF
    return r.exit;
}

// ---- PSCI ----------------------------------------------------------------------------------------------------

i64 FirmwareDispatch::psci_features(const Firmware& fw, u32 q) {
    const PsciVersion v = fw.config_.psci_version;
    if (!psci_at_least(v, PsciVersion::v1_0)) return kPsciNotSupported;
    switch (q) {
        case kSmcccVersion:  // DEN0028 7.2.1: SMCCC_VERSION is discovered through PSCI_FEATURES
        case kPsciVersionFn:
        case kCpuOff:
        case kCpuOn:
        case kCpuOn | kSmc64:
        case kAffinityInfo:
        case kAffinityInfo | kSmc64:
        case kMigrateInfoType:
        case kSystemOff:
        case kSystemReset:
        case kPsciFeatures:
            return kPsciSuccess;
        // DEN0022D 5.15.2: CPU_SUSPEND feature flags. Bit 1 = 0: original power_state format; bit 0 = 0: no
        // OS-initiated mode (platform-coordinated only).
        case kCpuSuspend:
        case kCpuSuspend | kSmc64:
            return 0;
        case kSystemReset2:
        case kSystemReset2 | kSmc64:
            return psci_at_least(v, PsciVersion::v1_1) ? kPsciSuccess : kPsciNotSupported;
        default:
            return kPsciNotSupported;  // MIGRATE, MIGRATE_INFO_UP_CPU, SYSTEM_SUSPEND, ... and non-PSCI IDs
    }
}

// Validates an entry point (DEN0022D 5.1.5 / 5.6: INVALID_ADDRESS if known not to be usable): AArch64 code must be
// word-aligned and lie in guest RAM.
static bool entry_point_valid(GuestMemory& mem, u64 entry) { return is_aligned(entry, 4) && mem.contains(entry, 4); }

static CallResult cpu_suspend(Firmware& fw, GuestMemory& mem, u32 vcpu, u64 power_state, u64 entry, u64 context_id,
                              SuspendRequest& out) {
    CallResult r;
    // power_state is a 32-bit parameter in both calling conventions; reserved bits must be zero.
    if ((power_state >> 32) != 0 || (power_state & kPowerStateReserved) != 0) {
        HV_LOG_RATELIMITED(warn, "psci: vCPU %u CPU_SUSPEND bad power_state %#llx", vcpu,
                           static_cast<unsigned long long>(power_state));
        r.r0 = kPsciInvalidParameters;
        return r;
    }
    const bool power_down = PowerStateType::get(power_state) != 0;
    if (power_down && !entry_point_valid(mem, entry)) {
        HV_LOG_RATELIMITED(warn, "psci: vCPU %u CPU_SUSPEND bad entry %#llx", vcpu,
                           static_cast<unsigned long long>(entry));
        r.r0 = kPsciInvalidAddress;
        return r;
    }
    (void)fw;
    // The power level (bits [25:24]) is accepted as a hint: the VM has no cluster power domains, so every level
    // behaves as the core level. Standby returns SUCCESS after the wake-up; power down restarts at `entry`.
    out =
        SuspendRequest{power_down, static_cast<u32>(power_state), power_down ? entry : 0, power_down ? context_id : 0};
    r.r0 = kPsciSuccess;
    r.exit = FirmwareExit::vcpu_suspend;
    return r;
}

// CPU_SUSPEND (both conventions): the request is kept for the wake-up when the vCPU really suspends.
CallResult FirmwareDispatch::suspend(Firmware& fw, u32 vcpu, u64 power_state, u64 entry, u64 context_id) {
    SuspendRequest req;
    const CallResult r = cpu_suspend(fw, *fw.memory_, vcpu, power_state, entry, context_id, req);
    if (r.exit == FirmwareExit::vcpu_suspend) {
        LockGuard guard(fw.lock_);
        fw.vcpus_[vcpu].suspend = req;
    }
    return r;
}

CallResult FirmwareDispatch::cpu_off(Firmware& fw, u32 vcpu) {
    LockGuard guard(fw.lock_);
    fw.vcpus_[vcpu].power = PowerState::off;
    fw.vcpus_[vcpu].suspend = {};
    CallResult r;
    r.r0 = kPsciSuccess;  // not seen by the guest: the vCPU restarts through CPU_ON
    r.exit = FirmwareExit::vcpu_off;
    return r;
}

// SYSTEM_RESET2 (PSCI 1.1): reset_type is 32 bits in both conventions (DEN0022D 5.19); architectural types other
// than warm reset are reserved. Vendor types (bit 31) are passed on to arch/ like KVM does.
CallResult FirmwareDispatch::system_reset2(Firmware& fw, u32 vcpu, u32 fid, const FirmwareCall& c) {
    CallResult r;
    const u64 type = FidSmc64::get(fid) ? c.x[1] : (c.x[1] & 0xffffffffull);
    if ((type >> 32) != 0 || (!(type & kResetTypeVendor) && type != kResetTypeWarm)) {
        HV_LOG_RATELIMITED(warn, "psci: vCPU %u SYSTEM_RESET2 bad reset_type %#llx", vcpu,
                           static_cast<unsigned long long>(type));
        r.r0 = kPsciInvalidParameters;
        return r;
    }
    fw.reset_type_ = static_cast<u32>(type);
    fw.reset_cookie_ = arg(c, fid, 2);
    r.r0 = kPsciSuccess;
    r.exit = FirmwareExit::system_reset;
    return r;
}

CallResult FirmwareDispatch::psci(Firmware& fw, u32 vcpu, u32 fid, const FirmwareCall& c) {
    CallResult r;
    const PsciVersion v = fw.config_.psci_version;
    const bool smc64 = FidSmc64::get(fid);
    const u32 fn = fid & ~kSmc64;
    // Functions that exist only as SMC32 (DEN0022D 5.1 table 5).
    const bool has_smc64 = fn == kCpuSuspend || fn == kCpuOn || fn == kAffinityInfo || fn == kMigrate ||
                           fn == kMigrateInfoUpCpu || fn == kSystemReset2;
    if (smc64 && !has_smc64) return r;

    switch (fn) {
        case kPsciVersionFn:
            r.r0 = static_cast<i64>(static_cast<u32>(v));
            break;
        case kCpuSuspend:
            r = suspend(fw, vcpu, c.x[1] & (smc64 ? ~u64{0} : 0xffffffffull), arg(c, fid, 2), arg(c, fid, 3));
            break;
        case kCpuOff:
            r = cpu_off(fw, vcpu);
            break;
        case kCpuOn:
            r.r0 = cpu_on(fw, vcpu, arg(c, fid, 1), arg(c, fid, 2), arg(c, fid, 3), false);
            break;
        case kAffinityInfo:
            r.r0 = affinity_info(fw, arg(c, fid, 1), arg(c, fid, 2));
            break;
        case kMigrate:
            r.r0 = kPsciNotSupported;
            break;  // DEN0022D 5.8: no Trusted OS to migrate
        case kMigrateInfoType:
            r.r0 = kMigrateInfoNoTrustedOs;
            break;
        case kSystemOff:
            r.r0 = kPsciSuccess;
            r.exit = FirmwareExit::system_off;
            break;
        case kSystemReset:
            fw.reset_type_ = kResetTypeWarm;
            fw.reset_cookie_ = 0;
            r.r0 = kPsciSuccess;
            r.exit = FirmwareExit::system_reset;
            break;
        case kPsciFeatures:
            if (psci_at_least(v, PsciVersion::v1_0)) r.r0 = psci_features(fw, static_cast<u32>(c.x[1]));
            break;
        case kSystemReset2:
            if (psci_at_least(v, PsciVersion::v1_1)) r = system_reset2(fw, vcpu, fid, c);
            break;
        default:
            break;  // MIGRATE_INFO_UP_CPU, CPU_FREEZE, SYSTEM_SUSPEND, ...: NOT_SUPPORTED
    }
    return r;
}

CallResult FirmwareDispatch::psci_0_1(Firmware& fw, u32 vcpu, u32 fid, const FirmwareCall& c) {
    // KVM's PSCI 0.1: 64-bit arguments in x1..x3, no PSCI_VERSION, no discovery.
    CallResult r;
    switch (fid) {
        case kPsci01CpuSuspend:
            r = suspend(fw, vcpu, c.x[1], c.x[2], c.x[3]);
            break;
        case kPsci01CpuOff:
            r = cpu_off(fw, vcpu);
            break;
        case kPsci01CpuOn:
            r.r0 = cpu_on(fw, vcpu, c.x[1], c.x[2], c.x[3], true);
            break;
        case kPsci01Migrate:
        default:
            r.r0 = kPsciNotSupported;
            break;
    }
    return r;
}

i64 FirmwareDispatch::cpu_on(Firmware& fw, u32 caller, u64 target, u64 entry, u64 context_id, bool v0_1) {
    if (target & ~kMpidrAffinityMask) {
        HV_LOG_RATELIMITED(warn, "psci: vCPU %u CPU_ON bad target %#llx", caller,
                           static_cast<unsigned long long>(target));
        return kPsciInvalidParameters;
    }
    u32 t = fw.vcpu_count_;
    for (u32 i = 0; i < fw.vcpu_count_; ++i) {
        if ((fw.platform_->vcpu_mpidr(i) & kMpidrAffinityMask) == target) {
            t = i;
            break;
        }
    }
    if (t == fw.vcpu_count_) {
        HV_LOG_RATELIMITED(warn, "psci: vCPU %u CPU_ON unknown target %#llx", caller,
                           static_cast<unsigned long long>(target));
        return kPsciInvalidParameters;
    }
    {
        // One lock covers check-and-claim: of concurrent CPU_ONs of one target exactly one sees OFF.
        LockGuard guard(fw.lock_);
        switch (fw.vcpus_[t].power) {
            case PowerState::on:
                return v0_1 ? kPsciInvalidParameters : kPsciAlreadyOn;  // KVM's 0.1 answer
            case PowerState::on_pending:
                if (v0_1) return kPsciInvalidParameters;
                return fw.config_.report_on_pending ? kPsciOnPending : kPsciAlreadyOn;
            case PowerState::off:
                break;
        }
        if (!entry_point_valid(*fw.memory_, entry)) {
            HV_LOG_RATELIMITED(warn, "psci: vCPU %u CPU_ON bad entry %#llx", caller,
                               static_cast<unsigned long long>(entry));
            return kPsciInvalidAddress;
        }
        fw.vcpus_[t].power = PowerState::on_pending;
        fw.vcpus_[t].suspend = {};
    }
    if (fw.observer_ != nullptr) fw.observer_->vcpu_powered(t, true);  // the PE comes out of reset
    if (fw.platform_->start_vcpu(t, entry, context_id) != Status::ok) {
        LockGuard guard(fw.lock_);
        if (fw.vcpus_[t].power == PowerState::on_pending) fw.vcpus_[t].power = PowerState::off;
        HV_LOG_RATELIMITED(warn, "psci: starting vCPU %u failed", t);
        return kPsciInternalFailure;
    }
    return kPsciSuccess;
}

i64 FirmwareDispatch::affinity_info(Firmware& fw, u64 target, u64 level) {
    const u64 m = affinity_mask_for_level(level);
    if (m == 0 || (target & ~kMpidrAffinityMask) != 0) return kPsciInvalidParameters;
    bool matched = false, pending = false;
    LockGuard guard(fw.lock_);
    for (u32 i = 0; i < fw.vcpu_count_; ++i) {
        if ((fw.platform_->vcpu_mpidr(i) & m) != (target & m)) continue;
        matched = true;
        switch (fw.vcpus_[i].power) {
            case PowerState::on:
                return kAffinityOn;
            case PowerState::on_pending:
                if (!fw.config_.report_on_pending) return kAffinityOn;  // KVM: the vCPU is already runnable
                pending = true;
                break;
            case PowerState::off:
                break;
        }
    }
    if (!matched) return kPsciInvalidParameters;  // no such node (DEN0022D 5.7.2)
    return pending ? kAffinityOnPending : kAffinityOff;
}

}  // namespace hv::psci
