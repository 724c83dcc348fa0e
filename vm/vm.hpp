// The one VM object. It owns everything a guest can see: the vCPUs and guest RAM, the vGIC and every virtual ITS,
// the firmware (PSCI/SMCCC/TRNG) and SDEI, the emulated UART, and the register catalogue that reaches all of it.
// build_vm() assembles it from a configuration and the ports the platform implements; boot/ uses it for the running
// hypervisor and the host tests use the same builder, so the register list they check is the one that ships.
//
// Layer: lib <- core <- {vgic, its, psci, sdei} <- vm <- arch <- boot. Plain C++: compiles for the host too.
#pragma once

#include "core/esr.hpp"
#include "core/guest_dtb.hpp"
#include "core/guest_memory.hpp"
#include "core/irq.hpp"
#include "core/mmio.hpp"
#include "core/pl011.hpp"
#include "core/pmu.hpp"
#include "core/reglist/catalogue.hpp"
#include "core/reglist/id_regs_class.hpp"
#include "core/reglist/pmu_regs.hpp"
#include "core/reglist/vcpu_regs.hpp"
#include "core/stage2.hpp"
#include "core/vcpu.hpp"
#include "core/vm.hpp"
#include "its/its.hpp"
#include "its/reglist_class.hpp"
#include "lib/containers.hpp"
#include "lib/in_place.hpp"
#include "lib/spinlock.hpp"
#include "psci/firmware.hpp"
#include "psci/fw_registers.hpp"
#include "sdei/reglist_class.hpp"
#include "sdei/sdei.hpp"
#include "vgic/reglist_class.hpp"
#include "vgic/vgic.hpp"
#include "vm/mp_state.hpp"
#include "vm/uart_class.hpp"

namespace hv {

class Vm;

// How a device plugs into the vCPU run loop: one set of hooks per device, registered with Vm::add_device and called
// in registration order (all optional). `self` is the device's own pointer, handed back on every call. The run loop
// (arch/) knows no device by name: every device -- vGIC, SDEI, PMU, UART, ITS/MSI, virtio-mmio, snapshots -- reaches
// it through these.
struct DeviceHooks {
    const char* name = "";
    void* self = nullptr;
    void (*before_entry)(void* self, Vcpu& v) = nullptr;  // the last exit's work is done: prepare the entry
    void (*after_exit)(void* self, Vcpu& v) = nullptr;    // right after the exit, before it is handled
    bool (*has_pending)(void* self, Vcpu& v) = nullptr;   // WFI wait: something for `v`, even masked
    void (*reset)(void* self, Vm& vm) = nullptr;          // VM reset (SYSTEM_RESET): every vCPU is stopped
    // `v` stops running on its pCPU for a while (powered off, parked for a reset or a snapshot): its state that
    // lives in the CPU goes back into its context, where others may read or replace it.
    void (*put)(void* self, Vcpu& v) = nullptr;
    // A trapped MSR/MRS: true if handled (for a read, the result in `value`). The first device to handle it wins.
    bool (*sysreg)(void* self, Vcpu& v, const esr::SysRegAccess& a, u64& value) = nullptr;
    // A guest HVC/SMC before the firmware sees it (the PC already past an SMC): true if handled (x0.. set). The
    // first device to handle it wins.
    bool (*hypercall)(void* self, Vm& vm, Vcpu& v) = nullptr;
    // The function IDs `hypercall` may handle: those with (fid & hypercall_fid_mask) == hypercall_fid_match. The
    // exit fast path (arch/aarch64/fast_exit.cpp) hands the firmware only calls no device claims. The defaults
    // (mask 0, match 0) claim every call.
    u32 hypercall_fid_mask = 0;
    u32 hypercall_fid_match = 0;
    // The exit fast path (arch/aarch64/fast_exit.cpp) may run the after_exit / before_entry hooks itself, with only
    // the vCPU's general-purpose registers, PC and PSTATE in its context: true if this device's before_entry or
    // run_pending would now need more (the whole context, e.g. SDEI delivering an event) -- the run loop then does
    // the entry.
    bool (*entry_needs_context)(void* self, Vcpu& v) = nullptr;
    void (*log_stats)(void* self) = nullptr;  // diagnostics at SYSTEM_OFF / SYSTEM_RESET: one log line or none
    // At the top of `v`'s loop, its last exit handled: work the device deferred to this vCPU (the console escape's
    // commands on vCPU 0). True if it ran something: the loop starts over (the vCPU's state may have changed).
    bool (*run_pending)(void* self, Vm& vm, Vcpu& v) = nullptr;
};

// The devices' hooks, each kind packed into its own list (only the devices that have that hook), so the run loop's
// per-exit walks visit nothing else.
class DeviceHookLists {
public:
    static constexpr u32 kMaxDevices = 12;

    [[nodiscard]] Status add(const DeviceHooks& d);
    const FixedVector<DeviceHooks, kMaxDevices>& all() const { return all_; }

    void before_entry(Vcpu& v) const {
        for (const auto& h : before_entry_) h.fn(h.self, v);
    }
    void after_exit(Vcpu& v) const {
        for (const auto& h : after_exit_) h.fn(h.self, v);
    }
    bool has_pending(Vcpu& v) const {
        for (const auto& h : has_pending_)
            if (h.fn(h.self, v)) return true;
        return false;
    }
    // Some device can say whether a vCPU has something pending (without one, any physical IRQ ends a wait).
    bool tracks_pending() const { return !has_pending_.empty(); }
    void put(Vcpu& v) const {
        for (const auto& h : put_) h.fn(h.self, v);
    }
    bool sysreg(Vcpu& v, const esr::SysRegAccess& a, u64& value) const {
        for (const auto& h : sysreg_)
            if (h.fn(h.self, v, a, value)) return true;
        return false;
    }
    bool hypercall(Vm& vm, Vcpu& v) const {
        for (const auto& h : hypercall_)
            if (h.fn(h.self, vm, v)) return true;
        return false;
    }
    // Some device's `hypercall` may handle `fid` (see DeviceHooks::claims_hypercall).
    bool claims_hypercall(u32 fid) const {
        for (const FidFilter& f : claims_)
            if ((fid & f.mask) == f.match) return true;
        return false;
    }
    bool entry_needs_context(Vcpu& v) const {
        for (const auto& h : entry_needs_context_)
            if (h.fn(h.self, v)) return true;
        return false;
    }
    bool run_pending(Vm& vm, Vcpu& v) const {
        for (const auto& h : run_pending_)
            if (h.fn(h.self, vm, v)) return true;
        return false;
    }
    void reset(Vm& vm) const;
    void log_stats() const;

private:
    template <typename Fn>
    struct Bound {
        Fn fn;
        void* self;
    };
    template <typename Fn>
    using List = FixedVector<Bound<Fn>, kMaxDevices>;
    FixedVector<DeviceHooks, kMaxDevices> all_;
    List<decltype(DeviceHooks::before_entry)> before_entry_;
    List<decltype(DeviceHooks::after_exit)> after_exit_;
    List<decltype(DeviceHooks::has_pending)> has_pending_;
    List<decltype(DeviceHooks::reset)> reset_;
    List<decltype(DeviceHooks::put)> put_;
    List<decltype(DeviceHooks::sysreg)> sysreg_;
    List<decltype(DeviceHooks::hypercall)> hypercall_;
    struct FidFilter {
        u32 mask, match;
    };
    FixedVector<FidFilter, kMaxDevices> claims_;  // one per `hypercall`
    List<decltype(DeviceHooks::entry_needs_context)> entry_needs_context_;
    List<decltype(DeviceHooks::log_stats)> log_stats_;
    List<decltype(DeviceHooks::run_pending)> run_pending_;
};

// What the VM is built from (the platform's facts and the user's options).
struct VmConfig {
    u32 vcpu_count = 1;
    u64 mpidr[PlatformInfo::kMaxCpus] = {};  // affinity of each vCPU (VMPIDR_EL2)
    pmu::Config pmu;                         // the guest's PMU (none: no PMU registers)
    vgic::VgicConfig vgic;                   // nr_vcpus and mpidr are filled from the fields above
    u32 its_count = 1;                       // virtual ITS instances (0: none)
    psci::FirmwareConfig firmware;
    idreg::HostIdRegs host_ids;  // the host's ID registers: limits and reset values of the VM's (reglist idregs)
    unsigned ipa_bits = 40;      // caps ID_AA64MMFR0_EL1.PARange
    sdei::SdeiConfig sdei{sdei::kMaxPrivateBound, sdei::kMaxSharedBound};  // every bind slot the model has
    bool uart = false;  // an emulated PL011 (its frame is added to the MMIO bus by whoever knows the address)
};

// What the platform implements for the models.
struct VmPorts {
    psci::FirmwarePlatform* firmware = nullptr;  // starts vCPUs, random numbers
    sdei::SdeiPlatform* sdei = nullptr;          // kicks vCPUs for SDEI delivery
    VcpuKicker* kicker = nullptr;                // kicks vCPUs for interrupts
    const Clock* clock = nullptr;                // the counter the virtual counter offsets apply to
    vgic::HwIrqControl* hw_irq = nullptr;        // physical side of hardware-linked interrupts (nullptr: none)
    its::ItsObserver* its0_observer = nullptr;   // mirrors the first ITS's mappings (MSI passthrough)
    Pl011Backend* uart_backend = nullptr;        // console output and the UART's interrupt line
};

// The emulated PL011 behind one lock: MMIO from any vCPU, input from the host UART's interrupt.
class LockedPl011 final : public MmioHandler {
public:
    explicit LockedPl011(Pl011Backend& backend) : uart_(backend) {}
    MmioResult mmio_read(const MmioAccess& a, u64& value) override {
        LockGuard guard(lock_);
        return uart_.mmio_read(a, value);
    }
    MmioResult mmio_write(const MmioAccess& a, u64 value) override {
        LockGuard guard(lock_);
        return uart_.mmio_write(a, value);
    }
    // Runs `fn(uart)` under the lock (input, attach, reset, save/restore).
    template <typename Fn>
    auto locked(Fn&& fn) {
        LockGuard guard(lock_);
        return fn(uart_);
    }

private:
    Spinlock lock_;
    Pl011 uart_;
};

class Vm {
public:
    static constexpr u32 kMaxVcpus = PlatformInfo::kMaxCpus;
    static constexpr u32 kMaxIts = kMaxVirtualIts;
    static constexpr u32 kMaxDevices = DeviceHookLists::kMaxDevices;

    Vm() = default;
    Vm(const Vm&) = delete;
    Vm& operator=(const Vm&) = delete;

    // --- vCPUs and memory ---
    u16 vmid = 1;
    u32 vcpu_count = 0;
    Vcpu vcpus[kMaxVcpus];
    FixedVector<MemRegion, kMaxRamRegions> ram;  // guest RAM (identity mapped: IPA == PA)
    RegionGuestMemory memory;
    MmioBus mmio;
    PageTable stage2;
    // Boots of this VM since the hypervisor started (1 = cold boot) and why the current one happened.
    u32 boot_count = 1;
    ResetReason reset_reason = ResetReason::cold;

    Vcpu* vcpu(u32 i) { return i < vcpu_count ? &vcpus[i] : nullptr; }
    // The vCPU whose MPIDR affinity (Aff3..Aff0) equals `mpidr`, or nullptr.
    Vcpu* vcpu_by_mpidr(u64 mpidr);

    // --- devices and firmware ---
    psci::Firmware firmware;
    sdei::Sdei sdei;
    vgic::Vgic vgic;
    InPlace<its::Its> its[kMaxIts];
    u64 its_base[kMaxIts] = {};  // guest-physical base of each ITS's frames (set by whoever maps them)
    u32 its_count = 0;
    // its[0, its_mapped) have their 128 KiB window on the MMIO bus at its_base[i] (the exit fast path finds them
    // there without the bus's search).
    u32 its_mapped = 0;
    InPlace<LockedPl011> uart;

    // --- hooks of the devices, in registration order (the run loop calls them through devices()) ---
    [[nodiscard]] Status add_device(const DeviceHooks& d) { return devices_.add(d); }
    const DeviceHookLists& devices() const { return devices_; }

    // --- the register list over all of it ---
    reglist::RegisterCatalogue& registers() { return catalogue_; }
    MpStateClass& mp_state() { return regs_->mp_state; }
    // The VM's ID registers (what the guest's MRS of the TID3 space reads; restored with the VM).
    const reglist::IdRegisterClass& id_regs() const { return regs_.get().ids; }

private:
    friend Status build_vm(Vm&, const VmConfig&, const VmPorts&);

    class Contexts final : public reglist::VcpuContexts {
    public:
        explicit Contexts(Vm& vm) : vm_(vm) {}
        u32 count() const override { return vm_.vcpu_count; }
        VcpuContext* context(u32 i) override { return i < vm_.vcpu_count ? &vm_.vcpus[i].ctx : nullptr; }

    private:
        Vm& vm_;
    };
    struct Registers {
        Registers(Vm& vm, const Clock& clock, const pmu::Config& pmu_cfg, u64 ich_vtr, const VmConfig& cfg)
            : ids(cfg.host_ids, cfg.ipa_bits),
              contexts(vm),
              core(contexts),
              sys(contexts, clock),
              pmu(contexts, pmu_cfg),
              firmware(vm.firmware),
              vgic(vm.vgic, ich_vtr),
              sdei(vm.sdei),
              mp_state(vm.firmware, vm.vcpu_count) {}
        reglist::IdRegisterClass ids;
        Contexts contexts;
        reglist::CoreRegisterClass core;
        reglist::SysRegisterClass sys;
        reglist::PmuRegisterClass pmu;
        psci::FirmwareRegisterClass firmware;
        vgic::VgicRegisterClasses vgic;
        InPlace<its::ItsRegisterClass> its[kMaxIts];
        InPlace<its::ItsRestoreCheck> its_check;  // the ITS classes' dry run (a scratch ITS), with any ITS
        sdei::SdeiRegisterClasses sdei;
        sdei::SdeiRestoreCheck sdei_check;  // the SDEI commit's dry run (a scratch model)
        MpStateClass mp_state;
        InPlace<UartRegisterClass> uart;
    };
    // psci/ power transitions -> SDEI (a PE switched off or on has its private events reset, DEN0054 6.6).
    class SdeiPowerLink final : public psci::PowerObserver {
    public:
        explicit SdeiPowerLink(sdei::Sdei& s) : sdei_(s) {}
        void vcpu_powered(u32 vcpu, bool) override { sdei_.reset_vcpu(vcpu); }

    private:
        sdei::Sdei& sdei_;
    };
    SdeiPowerLink sdei_power_{sdei};
    pmu::Config pmu_config_;
    InPlace<Registers> regs_;
    reglist::RegisterCatalogue catalogue_;
    DeviceHookLists devices_;
};

// Builds the models of `vm` (whose vCPUs, RAM and `memory` are already set) from `cfg` and `ports`, and its
// register catalogue in KVM's restore order: core, sysreg, PMU, firmware, vGIC, ITSes, SDEI, MP state. Called once per
// Vm. Errors: invalid_argument (a missing port, a vCPU count of 0 or above kMaxVcpus, too many ITSes), and
// whatever a model's init returns.
[[nodiscard]] Status build_vm(Vm& vm, const VmConfig& cfg, const VmPorts& ports);

}  // namespace hv
