// fuzz_firmware_calls: random sequences of guest HVC/SMC calls across vCPUs into the PSCI / SMCCC / TRNG / SDEI call
// space of a VM built by vm/vm.hpp build_vm (the hypervisor's own builder) over fake ports, driven the way
// arch/aarch64/exits.cpp drives it: SDEI function IDs go to Sdei::handle with the vCPU context, everything else to
// Firmware::handle; CPU_ON starts (and later runs) the target, CPU_OFF / SYSTEM_RESET reset vCPUs, SDEI events are
// delivered at "guest entry", bound interrupts and EVENT_SIGNAL fire, firmware pseudo-registers are set and read.
// Invariants: x4..x17 preserved by every firmware call (SMCCC 1.1), x0 of an SDEI/PSCI error is a small negative code
// or a value, power states and SDEI state stay valid (Sdei::validate), pseudo-registers read back what was accepted.
#include <cstring>
#include <memory>
#include <optional>

#include "psci/ids.hpp"
#include "sdei/ids.hpp"
#include "tests/fuzz/fuzz_ports.hpp"
#include "tests/fuzz/fuzz_support.hpp"
#include "vm/vm.hpp"

using namespace hv;
using hvfuzz::ByteStream;
using hvfuzz::FixedClock;
using hvfuzz::NullKicker;

namespace {

constexpr u32 kMaxVcpus = 4;
constexpr u64 kRamBase = 0x40000000;
constexpr u64 kRamSize = 64 * KiB;

struct Platform final : psci::FirmwarePlatform {
    u32 n = 1;
    u32 vcpu_count() const override { return n; }
    u64 vcpu_mpidr(u32 v) const override { return 0x80000000ull | v; }
    Status start_vcpu(u32 v, u64 entry, u64 ctx) override {
        if (v >= n) return Status::invalid_argument;
        started[v] = true;
        entries[v] = entry;
        ctxs[v] = ctx;
        return fail_next ? Status::busy : Status::ok;
    }
    bool random64(u64& out) override {
        if (no_entropy) return false;
        out = seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        return true;
    }
    bool started[kMaxVcpus] = {};
    u64 entries[kMaxVcpus] = {}, ctxs[kMaxVcpus] = {};
    bool fail_next = false, no_entropy = false;
    u64 seed = 1;
};

struct SdeiPlatform final : sdei::SdeiPlatform {
    u32 n = 1;
    u32 vcpu_count() const override { return n; }
    u64 vcpu_mpidr(u32 v) const override { return v; }
    void kick(u32) override {}
};

// Function IDs worth hitting often: every implemented call and its neighbours.
constexpr u32 kFids[] = {psci::kSmcccVersion,
                         psci::kSmcccArchFeatures,
                         psci::kSmcccArchSocId,
                         psci::kSmcccArchWorkaround1,
                         psci::kSmcccArchWorkaround2,
                         psci::kSmcccArchWorkaround3,
                         psci::kStdCallCount,
                         psci::kStdUid,
                         psci::kStdRevision,
                         psci::kVendorHypCallCount,
                         psci::kVendorHypUid,
                         psci::kVendorHypRevision,
                         psci::kVendorHypFeatures,
                         psci::kPsciVersionFn,
                         psci::kCpuSuspend,
                         psci::kCpuSuspend | psci::kSmc64,
                         psci::kCpuOff,
                         psci::kCpuOn,
                         psci::kCpuOn | psci::kSmc64,
                         psci::kAffinityInfo,
                         psci::kAffinityInfo | psci::kSmc64,
                         psci::kMigrate,
                         psci::kMigrateInfoType,
                         psci::kMigrateInfoUpCpu,
                         psci::kSystemOff,
                         psci::kSystemReset,
                         psci::kPsciFeatures,
                         psci::kCpuFreeze,
                         psci::kCpuDefaultSuspend,
                         psci::kNodeHwState,
                         psci::kSystemSuspend,
                         psci::kSystemSuspend | psci::kSmc64,
                         psci::kPsciSetSuspendMode,
                         psci::kPsciStatResidency,
                         psci::kPsciStatCount,
                         psci::kSystemReset2,
                         psci::kSystemReset2 | psci::kSmc64,
                         psci::kMemProtect,
                         psci::kPsciLast,
                         psci::kPsci01CpuSuspend,
                         psci::kPsci01CpuOff,
                         psci::kPsci01CpuOn,
                         psci::kPsci01Migrate,
                         psci::kTrngVersion,
                         psci::kTrngFeatures,
                         psci::kTrngGetUuid,
                         psci::kTrngRnd32,
                         psci::kTrngRnd64,
                         0x84000054,
                         0xc4000050,
                         0xffffffff,
                         0x82000000,
                         0xc6000000};

// Argument values: small numbers, vCPU affinities, RAM addresses, event numbers and random words.
u64 arg(ByteStream& in, u32 nvcpus) {
    switch (in.u8() & 7) {
        case 0:
            return in.u8();
        case 1:
            return 0x80000000ull | in.below(nvcpus + 1);  // an MPIDR (maybe one too many)
        case 2:
            return kRamBase + (in.u16() & ~u64{3});  // inside RAM
        case 3:
            return kRamBase + kRamSize - 4 + in.below(8);  // RAM edge
        case 4:
            return in.below(4) == 0 ? 0 : (u64{sdei::kPrivateBoundBase} + in.below(4));  // event 0 / bound events
        case 5:
            return u64{sdei::kSharedBoundBase} + in.below(4);
        case 6:
            return in.u32();
        default:
            return in.u64();
    }
}

// The VM is built afresh by build_vm for every input (its shape comes from the input), but in storage that lives
// across inputs: hv::Vm is large, and a new allocation per input cost more in page faults than the calls.
Vm& fresh_vm() {
    static std::optional<Vm> storage;
    return storage.emplace();
}
u8* fresh_ram() {
    static std::unique_ptr<u8[]> ram = std::make_unique<u8[]>(kRamSize);
    std::memset(ram.get(), 0, kRamSize);
    return ram.get();
}

struct Model {
    Vm* vm = &fresh_vm();
    u8* ram = fresh_ram();
    Platform platform;
    SdeiPlatform sdei_platform;
    FixedClock clock;
    NullKicker kicker;
    bool running[kMaxVcpus] = {};  // the vCPU is on and scheduled (the run loop's view)
    u32 n = 1;

    bool build(ByteStream& in) {
        n = 1 + in.below(kMaxVcpus);
        platform.n = sdei_platform.n = n;
        vm->vcpu_count = n;
        if (vm->memory.add_region(kRamBase, kRamSize, ram) != Status::ok) return false;
        VmConfig cfg;
        cfg.vcpu_count = n;
        for (u32 i = 0; i < n; ++i) {
            cfg.mpidr[i] = 0x80000000ull | i;
            vm->vcpus[i].id = i;
            vm->vcpus[i].mpidr = cfg.mpidr[i];
        }
        cfg.vgic.nr_spis = 32;
        cfg.its_count = 0;
        static constexpr psci::PsciVersion kVersions[] = {psci::PsciVersion::v0_1, psci::PsciVersion::v0_2,
                                                          psci::PsciVersion::v1_0, psci::PsciVersion::v1_1};
        u8 c = in.u8();
        cfg.firmware.psci_version = kVersions[c & 3];
        cfg.firmware.report_on_pending = (c & 4) != 0;
        cfg.firmware.host.wa1 = (c & 8) ? psci::wa::kWa1Avail : psci::wa::kWa1NotRequired;
        cfg.firmware.host.wa2 = (c & 16) ? psci::wa::kWa2Avail : psci::wa::kWa2NotRequired;
        cfg.firmware.host.wa3 = (c & 32) ? psci::wa::kWa3Avail : psci::wa::kWa3NotRequired;
        cfg.sdei.private_bind_slots = in.below(3);
        cfg.sdei.shared_bind_slots = in.below(3);
        VmPorts ports;
        ports.firmware = &platform;
        ports.sdei = &sdei_platform;
        ports.kicker = &kicker;
        ports.clock = &clock;
        if (build_vm(*vm, cfg, ports) != Status::ok) return false;
        running[0] = true;
        return true;
    }

    void reset_vcpu(u32 v) {
        vm->sdei.reset_vcpu(v);
        std::memset(&vm->vcpus[v].ctx.core, 0, sizeof vm->vcpus[v].ctx.core);
        running[v] = false;
    }

    void call(ByteStream& in) {
        u32 v = in.below(n);
        if (!running[v]) v = 0;
        if (!running[v]) return;
        u8 sel = in.u8();
        u32 fid = sel < 160   ? kFids[sel % (sizeof kFids / sizeof kFids[0])]
                  : sel < 224 ? sdei::kFnBase + (sel & 0x1f)
                              : in.u32();
        VcpuContext& ctx = vm->vcpus[v].ctx;
        ctx.core.x[0] = fid | (in.below(4) == 0 ? u64{in.u32()} << 32 : 0);  // only w0 counts
        for (u32 i = 1; i < 6; ++i) ctx.core.x[i] = arg(in, n);
        for (u32 i = 6; i < 31; ++i) ctx.core.x[i] = 0x1000 + i;
        if (sdei::is_sdei_fid(fid)) {
            vm->sdei.handle(v, ctx);
            for (u32 i = 18; i < 31; ++i) FUZZ_CHECK(ctx.core.x[i] == 0x1000 + i);
            return;
        }
        psci::FirmwareCall call{};
        for (u32 i = 0; i < 18; ++i) call.x[i] = ctx.core.x[i];
        platform.fail_next = in.below(16) == 0;
        platform.no_entropy = in.below(16) == 0;
        psci::FirmwareExit exit = vm->firmware.handle(v, call);
        for (u32 i = 4; i < 18; ++i) FUZZ_CHECK(call.x[i] == ctx.core.x[i]);  // SMCCC 1.1: x4..x17 preserved
        switch (exit) {
            case psci::FirmwareExit::resume:
                break;
            case psci::FirmwareExit::vcpu_off:
                reset_vcpu(v);
                break;
            case psci::FirmwareExit::vcpu_suspend:
                if (vm->firmware.suspend_request(v).power_down) vm->sdei.reset_vcpu(v);
                break;
            case psci::FirmwareExit::system_off:
                break;
            case psci::FirmwareExit::system_reset:
                vm->firmware.reset();
                vm->sdei.reset();
                for (u32 i = 0; i < n; ++i) reset_vcpu(i);
                running[0] = true;
                break;
        }
    }

    // The run loop: a vCPU started by CPU_ON runs (ON_PENDING -> ON).
    void schedule() {
        for (u32 i = 0; i < n; ++i) {
            if (platform.started[i]) {
                platform.started[i] = false;
                if (vm->firmware.power_state(i) != psci::PowerState::off) {
                    reset_vcpu(i);
                    vm->vcpus[i].ctx.core.pc = platform.entries[i];
                    vm->vcpus[i].ctx.core.x[0] = platform.ctxs[i];
                    vm->firmware.on_vcpu_started(i);
                    running[i] = true;
                }
            }
            FUZZ_CHECK(!running[i] || vm->firmware.power_state(i) == psci::PowerState::on || i == 0);
        }
    }

    void op(ByteStream& in) {
        switch (in.u8() % 10) {
            case 0:
            case 1:
            case 2:
            case 3:
                call(in);
                break;
            case 4: {  // guest entry: SDEI delivery
                u32 v = in.below(n);
                if (running[v]) (void)vm->sdei.deliver(v, vm->vcpus[v].ctx);
                (void)vm->sdei.has_deliverable(v);
                break;
            }
            case 5: {  // a bound PPI / SPI fires
                u32 intid = in.below(2) ? 16 + in.below(16) : 32 + in.below(32);
                (void)vm->sdei.raise_interrupt(intid, in.below(n));
                break;
            }
            case 6:
                vm->sdei.signal(in.below(n));
                break;
            case 7: {  // firmware pseudo-registers (userspace / restore path)
                u64 id = psci::fwreg::kAll[in.below(sizeof psci::fwreg::kAll / sizeof psci::fwreg::kAll[0])];
                u64 value = in.below(2) ? in.below(0x20) : in.u64();
                if (vm->firmware.set_reg(id, value) == Status::ok) {
                    u64 back = 0;
                    FUZZ_CHECK(vm->firmware.get_reg(id, back) == Status::ok);
                    if (id != psci::fwreg::kWorkaround2) FUZZ_CHECK(back == value);
                }
                break;
            }
            case 8:
                vm->firmware.note_vm_ran();
                break;
            case 9:
                schedule();
                break;
        }
    }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    hvfuzz::install_log_sink();
    ByteStream in(data, size);
    Model m;
    if (!m.build(in)) return 0;
    for (int ops = 0; ops < 256 && !in.empty(); ++ops) {
        m.op(in);
        FUZZ_CHECK(m.vm->sdei.validate() == Status::ok);
    }
    return 0;
}
