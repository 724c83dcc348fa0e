// The SDEI 1.1 dispatcher a guest sees (Arm DEN0054), one `Sdei` per VM. Plain C++: host-tested, no hardware access.
//
// Events: event 0 (private, software-signalled with EVENT_SIGNAL, normal priority) on every vCPU; with bind slots
// configured, INTERRUPT_BIND creates private events for PPIs (kPrivateBoundBase + slot) and shared events for SPIs
// (kSharedBoundBase + slot). The vGIC diverts a bound interrupt's pending edge here (BoundIrqSink, wired by
// vm/vm.cpp; raise_interrupt() is the same path). A bound event is critical when the interrupt's GIC priority at
// bind time is below kCriticalGicPriorityBelow, else normal. A vCPU runs at most one handler per priority: a
// critical event preempts a running normal handler, which resumes when the critical one completes.
//
// How arch/ uses it:
//   1. On an HVC/SMC trap whose w0 is an SDEI function ID (is_sdei_fid), call `handle(vcpu, ctx)` with the vCPU's
//      context, PC already past the call. It writes x0..x3 (x4..x17 preserved) or, for EVENT_COMPLETE /
//      COMPLETE_AND_RESUME, replaces x0..x17, PC and PSTATE (and ELR_EL1 / SPSR_EL1 for a resume).
//   2. Right before each guest entry of vCPU v, call `deliver(v, ctx)`: if an event can be taken, the interrupted
//      context is saved in the model and the handler is entered (DEN0054 6.2.1).
//   3. `has_deliverable(v)` ends a WFI / CPU_SUSPEND wait; the model kicks a target through SdeiPlatform::kick.
#pragma once

#include "core/guest_memory.hpp"
#include "core/irq.hpp"
#include "core/vcpu_context.hpp"
#include "lib/atomic.hpp"
#include "lib/spinlock.hpp"
#include "sdei/state_table.hpp"

namespace hv::sdei {

constexpr u32 kMaxVcpus = 64;
constexpr u32 kMaxPrivateBound = 4;  // bind slots for PPIs (each a private event on every vCPU)
constexpr u32 kMaxSharedBound = 8;   // bind slots for SPIs
constexpr u32 kPrivateEvents = 1 + kMaxPrivateBound;
constexpr u32 kNoVcpu = 0xffffffffu;

// Implemented by arch/ (one per VM); a fake in the unit tests.
class SdeiPlatform {
public:
    virtual u32 vcpu_count() const = 0;
    virtual u64 vcpu_mpidr(u32 vcpu) const = 0;  // affinity fields as in kMpidrAffinityMask
    // Make `vcpu` re-enter (or leave a WFI) soon so that deliver() runs for it. Called without the model's lock.
    virtual void kick(u32 vcpu) = 0;

protected:
    ~SdeiPlatform() = default;
};

struct SdeiConfig {
    // INTERRUPT_BIND slots offered (FEATURES(BIND_SLOTS)); 0 = INTERRUPT_BIND answers OUT_OF_RESOURCE.
    u32 private_bind_slots = 0;  // <= kMaxPrivateBound
    u32 shared_bind_slots = 0;   // <= kMaxSharedBound
};

// One event's registration (per vCPU for private events, per VM for shared ones).
struct EventRecord {
    EventState state = EventState::unregistered;
    bool pending = false;
    u64 ep = 0;
    u64 arg = 0;
    u64 routing = kRoutingAny;  // shared events
    u64 affinity = 0;           // shared events, RM_PE
    u32 running_on = kNoVcpu;   // vCPU running the handler (shared events)
};

// An INTERRUPT_BIND slot.
struct Binding {
    bool used = false;
    u32 intid = 0;
    u8 priority = kPriorityNormal;  // of the bound event (kPriorityNormal / kPriorityCritical)
};

// The interrupted context saved at handler entry (DEN0054 6.2.1: x0-x17, PC, PSTATE).
struct HandlerContext {
    bool active = false;
    u32 event = 0;
    u64 x[kContextRegs] = {};
    u64 pc = 0;
    u64 pstate = 0;
};

struct VcpuSdei {
    EventRecord priv[kPrivateEvents];  // [0] = event 0, [1 + slot] = bound PPI slot
    bool masked = true;                // PE_MASK state; PEs come out of reset masked (DEN0054 5.1.12)
    HandlerContext handler;            // the running normal-priority handler
    HandlerContext critical;           // the running critical handler (it may have preempted `handler`)

    HandlerContext& context(u8 priority) { return priority == kPriorityCritical ? critical : handler; }
    const HandlerContext& context(u8 priority) const { return priority == kPriorityCritical ? critical : handler; }
    // The innermost running handler (the one COMPLETE and EVENT_CONTEXT act on), or nullptr.
    HandlerContext* innermost() { return critical.active ? &critical : handler.active ? &handler : nullptr; }
    const HandlerContext* innermost() const {
        return critical.active ? &critical : handler.active ? &handler : nullptr;
    }
};

// PSTATE fields the dispatcher sets (DDI0487 C5.2.18).
using PstateMode = Field<3, 0>;
using PstateDaif = Field<9, 6>;
using PstatePan = Bit<22>;
constexpr u64 kModeEl1h = 0x5;
constexpr u64 kSctlrSpan = u64{1} << 23;  // SCTLR_EL1.SPAN: 0 = PAN set on exception entry to EL1

class Sdei final : public BoundIrqSink {
public:
    // invalid_argument: no vCPUs, too many, or more bind slots than the model has.
    [[nodiscard]] Status init(SdeiPlatform& platform, GuestMemory& memory, const SdeiConfig& config);
    // The interrupt controller side of INTERRUPT_BIND / RELEASE (nullptr: bindings live in the model only, as in
    // unit tests). Set once while the VM is built.
    void set_binder(IrqBinder* binder) { binder_ = binder; }
    // VM reset: every event unregistered, bindings released, every PE masked. The interrupt controller is reset
    // alongside (its bound flags with it).
    void reset();
    // vCPU reset (CPU_ON / restart): its private events unregistered, its handler state dropped, masked.
    void reset_vcpu(u32 vcpu);

    // One SDEI call from `vcpu`. Never fails: bad input gets the architected error in x0.
    void handle(u32 vcpu, VcpuContext& ctx);
    // At guest entry: enter a deliverable event's handler. True if the context was switched to a handler.
    bool deliver(u32 vcpu, VcpuContext& ctx);
    bool has_deliverable(u32 vcpu) const;
    // Every path that makes an event pending calls this (under the lock, or with the VM stopped on restore). The
    // hint lets the per-entry checks above skip the lock while nothing at all is pending; it is cleared only by a
    // locked scan that finds no pending event.
    void note_pending() const { pending_hint_.store(1u, MemoryOrder::release); }
    // The hint alone, for callers on the entry path: false means deliver() and has_deliverable() would return false
    // at once (one load, no call).
    bool maybe_pending() const { return pending_hint_.load(MemoryOrder::acquire) != 0; }

    // A bound interrupt fired (from the interrupt glue): PPI on `vcpu`, or an SPI (vcpu ignored). False if `intid`
    // is not bound.
    bool raise_interrupt(u32 intid, u32 vcpu);
    bool bound_irq_fired(u32 intid, u32 vcpu) override { return raise_interrupt(intid, vcpu); }
    // After a restore: tell the binder about every used binding (the vGIC does not save its bound flags).
    [[nodiscard]] Status reapply_bindings();
    // The priority of an event number (kPriorityNormal for unknown ones).
    u8 event_priority(u32 event) const;
    // EVENT_SIGNAL from the host side (tests, tools): event 0 pending on `vcpu`.
    void signal(u32 vcpu);

    // --- state access for the register list and tests (vCPUs stopped) ---
    u32 vcpu_count() const { return vcpu_count_; }
    const SdeiConfig& config() const { return config_; }
    VcpuSdei& vcpu_state(u32 vcpu) { return vcpus_[vcpu < kMaxVcpus ? vcpu : 0]; }
    const VcpuSdei& vcpu_state(u32 vcpu) const { return vcpus_[vcpu < kMaxVcpus ? vcpu : 0]; }
    EventRecord& shared_event(u32 slot) { return shared_[slot < kMaxSharedBound ? slot : 0]; }
    Binding& private_binding(u32 slot) { return private_bind_[slot < kMaxPrivateBound ? slot : 0]; }
    Binding& shared_binding(u32 slot) { return shared_bind_[slot < kMaxSharedBound ? slot : 0]; }
    const EventRecord& shared_event(u32 slot) const { return shared_[slot < kMaxSharedBound ? slot : 0]; }
    const Binding& private_binding(u32 slot) const { return private_bind_[slot < kMaxPrivateBound ? slot : 0]; }
    const Binding& shared_binding(u32 slot) const { return shared_bind_[slot < kMaxSharedBound ? slot : 0]; }
    // Checks the register list's SET uses (same rules as EVENT_REGISTER / EVENT_ROUTING_SET).
    bool entry_point_valid(u64 ep) const { return valid_entry(ep); }
    u32 vcpu_for_mpidr(u64 mpidr) const { return vcpu_by_mpidr(mpidr); }
    // Validation of a restored image: states, entry points, routing, bindings and handler contexts consistent.
    [[nodiscard]] Status validate() const;
    Spinlock& lock() const { return lock_; }

private:
    struct Located {
        EventRecord* rec = nullptr;
        bool shared = false;
        u32 slot = 0;  // private: index into priv[]; shared: index into shared_[]
    };
    Located locate(u32 vcpu, u64 event);
    // handle(): the binder's answer for INTERRUPT_BIND (asked before the lock), the call under the lock, and what
    // is done after it.
    struct BindQuery {
        bool bindable = true;
        u8 priority = kPriorityNormal;
    };
    struct CallEffects {
        u32 kick = kNoVcpu;   // a vCPU an EVENT_SIGNAL made an event pending on
        u64 kick_mask = 0;    // shared events that became deliverable elsewhere
        u32 bind_change = 0;  // INTID to bind (BIND) or release (RELEASE) in the interrupt controller
        bool bind_on = false;
        bool resumed = false;  // COMPLETE restored the interrupted context: x0..x3 are not written
    };
    BindQuery query_binder(u32 vcpu, u32 fid, const u64* x) const;
    i64 dispatch_locked(u32 vcpu, VcpuContext& ctx, u32 fid, const BindQuery& bind, CallEffects& fx);
    i64 call_context(u32 vcpu, u64 reg) const;
    i64 call_features(u64 feature) const;
    u64 shared_kicks_after_complete(u32 vcpu) const;
    i64 do_register(u32 vcpu, const u64* a);
    i64 do_simple(u32 vcpu, u64 event, EventAction action);
    i64 do_complete(u32 vcpu, VcpuContext& ctx, bool resume, u64 resume_addr);
    i64 do_status(u32 vcpu, u64 event);
    i64 do_get_info(u32 vcpu, u64 event, u64 info, u64& value);
    i64 do_routing_set(u32 vcpu, u64 event, u64 flags, u64 affinity);
    i64 do_bind(u64 intid, u8 priority, u64& event, bool& fresh);
    i64 do_release(u64 event, u32& intid);
    i64 do_signal(u32 vcpu, u64 event, u64 target, u32& kick);
    void reset_events(u32 vcpu, bool private_events);
    void apply(EventRecord& r, EventAction a);
    bool valid_entry(u64 ep) const;
    u32 vcpu_by_mpidr(u64 mpidr) const;
    bool deliverable_locked(u32 vcpu, Located& which) const;
    bool any_pending_locked() const;
    u32 shared_target(const EventRecord& r, u8 priority) const;
    static bool can_take(const VcpuSdei& v, u8 priority);

    SdeiPlatform* platform_ = nullptr;
    IrqBinder* binder_ = nullptr;
    GuestMemory* memory_ = nullptr;
    SdeiConfig config_;
    u32 vcpu_count_ = 0;
    mutable Spinlock lock_;
    mutable Atomic<u32> pending_hint_;  // see note_pending(); a hint like the lock, so mutable
    VcpuSdei vcpus_[kMaxVcpus];
    EventRecord shared_[kMaxSharedBound];
    Binding private_bind_[kMaxPrivateBound];
    Binding shared_bind_[kMaxSharedBound];
};

}  // namespace hv::sdei
