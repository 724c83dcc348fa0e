// Sdei: the SDEI 1.1 dispatcher model (DEN0054). Event state changes only through transition() (sdei/state_table.hpp).
#include "sdei/sdei.hpp"

#include "core/arm_defs.hpp"
#include "lib/log.hpp"

namespace hv::sdei {

static_assert(kMpidrAffinityMask == arm::mpidr::kAffinityMask);

namespace {

constexpr bool is_ppi(u64 intid) { return intid >= 16 && intid < 32; }
constexpr bool is_spi(u64 intid) { return intid >= 32 && intid < 1020; }

// Exception-entry PSTATE at EL1h with D, A, I, F masked (DEN0054 6.2.1 handler entry; DDI0487 D1.10.2 for the PAN
// rule: PAN is set on entry to EL1 when SCTLR_EL1.SPAN == 0, else it keeps its value).
u64 el1h_entry_pstate(const VcpuContext& ctx, u64 interrupted) {
    u64 p = PstateMode::make(kModeEl1h) | PstateDaif::make(0xf);
    const bool pan = (ctx.sysreg(SysReg::SCTLR_EL1) & kSctlrSpan) == 0 || PstatePan::get(interrupted) != 0;
    return pan ? PstatePan::set(p, 1) : p;
}

}  // namespace

Status Sdei::init(SdeiPlatform& platform, GuestMemory& memory, const SdeiConfig& config) {
    const u32 n = platform.vcpu_count();
    if (n == 0 || n > kMaxVcpus) return Status::invalid_argument;
    if (config.private_bind_slots > kMaxPrivateBound || config.shared_bind_slots > kMaxSharedBound)
        return Status::invalid_argument;
    platform_ = &platform;
    memory_ = &memory;
    config_ = config;
    vcpu_count_ = n;
    reset();
    return Status::ok;
}

void Sdei::reset() {
    LockGuard guard(lock_);
    for (auto& v : vcpus_) v = VcpuSdei{};
    for (auto& e : shared_) e = EventRecord{};
    for (auto& b : private_bind_) b = Binding{};
    for (auto& b : shared_bind_) b = Binding{};
}

void Sdei::reset_vcpu(u32 vcpu) {
    if (vcpu >= vcpu_count_) return;
    LockGuard guard(lock_);
    // A shared handler this vCPU was running (either priority) is abandoned: the event goes back to its non-running
    // state (or unregistered, if an unregister was pending).
    for (auto& e : shared_) {
        if (e.running_on != vcpu) continue;
        apply(e, EventAction::complete);
        e.running_on = kNoVcpu;
    }
    vcpus_[vcpu] = VcpuSdei{};
}

// ---- helpers ---------------------------------------------------------------------------------------------------

Sdei::Located Sdei::locate(u32 vcpu, u64 event) {
    Located l;
    if (event == kSignalEvent) {
        l.rec = &vcpus_[vcpu].priv[0];
        l.slot = 0;
    } else if (event >= kPrivateBoundBase && event < kPrivateBoundBase + config_.private_bind_slots) {
        const u32 slot = static_cast<u32>(event - kPrivateBoundBase);
        if (private_bind_[slot].used) {
            l.rec = &vcpus_[vcpu].priv[1 + slot];
            l.slot = 1 + slot;
        }
    } else if (event >= kSharedBoundBase && event < kSharedBoundBase + config_.shared_bind_slots) {
        const u32 slot = static_cast<u32>(event - kSharedBoundBase);
        if (shared_bind_[slot].used) {
            l.rec = &shared_[slot];
            l.shared = true;
            l.slot = slot;
        }
    }
    return l;
}

void Sdei::apply(EventRecord& r, EventAction a) {
    const Transition t = transition(r.state, a);
    if (!t.allowed) return;
    r.state = t.next;
    if (r.state == EventState::unregistered) {
        const EventRecord fresh{};
        r.ep = fresh.ep;
        r.arg = fresh.arg;
        r.routing = fresh.routing;
        r.affinity = fresh.affinity;
        r.pending = false;
    }
}

bool Sdei::valid_entry(u64 ep) const { return (ep & 3) == 0 && memory_->contains(ep, 4); }

u32 Sdei::vcpu_by_mpidr(u64 mpidr) const {
    if (mpidr & ~kMpidrAffinityMask) return kNoVcpu;
    for (u32 i = 0; i < vcpu_count_; ++i)
        if ((platform_->vcpu_mpidr(i) & kMpidrAffinityMask) == mpidr) return i;
    return kNoVcpu;
}

// Can a PE take an event of `priority` now? Not while masked (PE_MASK); a critical event while no critical handler
// runs (it preempts a normal one); a normal event only while no handler runs at all (DEN0054 6.3, 4.5).
bool Sdei::can_take(const VcpuSdei& v, u8 priority) {
    if (v.masked || v.critical.active) return false;
    return priority == kPriorityCritical || !v.handler.active;
}

u8 Sdei::event_priority(u32 event) const {
    if (event >= kPrivateBoundBase && event < kPrivateBoundBase + kMaxPrivateBound)
        return private_bind_[event - kPrivateBoundBase].priority;
    if (event >= kSharedBoundBase && event < kSharedBoundBase + kMaxSharedBound)
        return shared_bind_[event - kSharedBoundBase].priority;
    return kPriorityNormal;  // event 0 (DEN0054 4.4)
}

// The vCPU a pending shared event should go to: its RM_PE target, or (RM_ANY) the first vCPU that can take it now
// (unmasked, not running a handler of that priority or higher) -- kNoVcpu if none can.
u32 Sdei::shared_target(const EventRecord& r, u8 priority) const {
    if (r.routing == kRoutingPe) return vcpu_by_mpidr(r.affinity);
    for (u32 i = 0; i < vcpu_count_; ++i)
        if (can_take(vcpus_[i], priority)) return i;
    return kNoVcpu;
}

// Critical events first, then normal ones; private before shared within a priority.
bool Sdei::deliverable_locked(u32 vcpu, Located& which) const {
    const VcpuSdei& v = vcpus_[vcpu];
    constexpr u8 kOrder[] = {kPriorityCritical, kPriorityNormal};
    for (u8 prio : kOrder) {
        if (!can_take(v, prio)) continue;
        for (u32 i = 0; i < kPrivateEvents; ++i) {
            const EventRecord& r = v.priv[i];
            if (!r.pending || r.state != EventState::registered_enabled) continue;
            if ((i == 0 ? kPriorityNormal : private_bind_[i - 1].priority) != prio) continue;
            which.rec = const_cast<EventRecord*>(&r);
            which.shared = false;
            which.slot = i;
            return true;
        }
        for (u32 s = 0; s < kMaxSharedBound; ++s) {
            const EventRecord& r = shared_[s];
            if (!r.pending || r.state != EventState::registered_enabled || r.running_on != kNoVcpu) continue;
            if (shared_bind_[s].priority != prio) continue;
            if (r.routing == kRoutingPe && vcpu_by_mpidr(r.affinity) != vcpu) continue;
            which.rec = const_cast<EventRecord*>(&r);
            which.shared = true;
            which.slot = s;
            return true;
        }
    }
    return false;
}

// ---- delivery ----------------------------------------------------------------------------------------------------

bool Sdei::any_pending_locked() const {
    for (u32 c = 0; c < vcpu_count_; ++c)
        for (const EventRecord& r : vcpus_[c].priv)
            if (r.pending) return true;
    for (const EventRecord& r : shared_)
        if (r.pending) return true;
    return false;
}

bool Sdei::has_deliverable(u32 vcpu) const {
    if (vcpu >= vcpu_count_ || pending_hint_.load(MemoryOrder::acquire) == 0) return false;
    LockGuard guard(lock_);
    Located l;
    return deliverable_locked(vcpu, l);
}

bool Sdei::deliver(u32 vcpu, VcpuContext& ctx) {
    if (vcpu >= vcpu_count_ || pending_hint_.load(MemoryOrder::acquire) == 0) return false;
    LockGuard guard(lock_);
    Located l;
    if (!deliverable_locked(vcpu, l)) {
        if (!any_pending_locked()) pending_hint_.store(0u, MemoryOrder::release);
        return false;
    }
    EventRecord& r = *l.rec;
    apply(r, EventAction::dispatch);
    r.pending = false;
    if (l.shared) r.running_on = vcpu;
    const u32 event = l.shared      ? kSharedBoundBase + l.slot
                      : l.slot == 0 ? kSignalEvent
                                    : kPrivateBoundBase + (l.slot - 1);
    // A critical handler preempting a normal one saves the normal handler's context as the interrupted one.
    HandlerContext& h = vcpus_[vcpu].context(event_priority(event));
    h.active = true;
    h.event = event;
    for (u32 i = 0; i < kContextRegs; ++i) h.x[i] = ctx.core.x[i];
    h.pc = ctx.core.pc;
    h.pstate = ctx.core.pstate;
    // DEN0054 6.2.1: x0 = event number, x1 = entry-point argument, x2 = interrupted PC, x3 = interrupted PSTATE;
    // the handler runs at the client EL on SP_ELx with all of D, A, I, F masked.
    ctx.core.x[0] = event;
    ctx.core.x[1] = r.arg;
    ctx.core.x[2] = h.pc;
    ctx.core.x[3] = h.pstate;
    ctx.core.pc = r.ep;
    ctx.core.pstate = el1h_entry_pstate(ctx, h.pstate);
    return true;
}

void Sdei::signal(u32 vcpu) {
    if (vcpu >= vcpu_count_) return;
    {
        LockGuard guard(lock_);
        EventRecord& r = vcpus_[vcpu].priv[0];
        if (!is_registered(r.state) || r.state == EventState::unregister_pending) return;
        r.pending = true;
        note_pending();
    }
    platform_->kick(vcpu);
}

bool Sdei::raise_interrupt(u32 intid, u32 vcpu) {
    u32 kick = kNoVcpu;
    {
        LockGuard guard(lock_);
        // A bound interrupt whose event cannot take it (unregistered, or unregistering) is dropped: the dispatcher
        // owns the INTID either way.
        if (is_ppi(intid)) {
            if (vcpu >= vcpu_count_) return false;
            u32 s = 0;
            for (; s < config_.private_bind_slots; ++s)
                if (private_bind_[s].used && private_bind_[s].intid == intid) break;
            if (s == config_.private_bind_slots) return false;
            EventRecord& r = vcpus_[vcpu].priv[1 + s];
            if (!is_registered(r.state) || r.state == EventState::unregister_pending) return true;
            r.pending = true;
            note_pending();
            kick = vcpu;
        } else if (is_spi(intid)) {
            u32 s = 0;
            for (; s < config_.shared_bind_slots; ++s)
                if (shared_bind_[s].used && shared_bind_[s].intid == intid) break;
            if (s == config_.shared_bind_slots) return false;
            EventRecord& r = shared_[s];
            if (!is_registered(r.state) || r.state == EventState::unregister_pending) return true;
            r.pending = true;
            note_pending();
            kick = shared_target(r, shared_bind_[s].priority);
        } else {
            return false;
        }
    }
    if (kick != kNoVcpu) platform_->kick(kick);
    return true;
}

// ---- calls -------------------------------------------------------------------------------------------------------

i64 Sdei::do_register(u32 vcpu, const u64* a) {
    const u64 event = a[1], ep = a[2], arg = a[3], flags = a[4], affinity = a[5];
    Located l = locate(vcpu, event);
    if (l.rec == nullptr) return kInvalidParameters;
    // Bits above the routing mode are reserved; relative entry points (1.1, bit 1) are not offered
    // (FEATURES(RELATIVE_MODE) = 0).
    if (flags & ~FlagRoutingMode::field_mask) return kInvalidParameters;
    if (!valid_entry(ep)) return kInvalidParameters;
    const u64 routing = FlagRoutingMode::get(flags);
    // Routing mode and affinity only mean something for shared events (DEN0054 5.1.2); ignored for private ones.
    if (l.shared && routing == kRoutingPe && vcpu_by_mpidr(affinity) == kNoVcpu) return kInvalidParameters;
    const Transition t = transition(l.rec->state, EventAction::do_register);
    if (!t.allowed) return t.result;
    l.rec->state = t.next;
    l.rec->ep = ep;
    l.rec->arg = arg;
    l.rec->pending = false;
    l.rec->routing = l.shared ? routing : kRoutingAny;
    l.rec->affinity = l.shared && routing == kRoutingPe ? affinity : 0;
    return t.result;
}

i64 Sdei::do_simple(u32 vcpu, u64 event, EventAction action) {
    Located l = locate(vcpu, event);
    if (l.rec == nullptr) return kInvalidParameters;
    const Transition t = transition(l.rec->state, action);
    if (!t.allowed) return t.result;
    apply(*l.rec, action);
    return t.result;
}

i64 Sdei::do_status(u32 vcpu, u64 event) {
    Located l = locate(vcpu, event);
    if (l.rec == nullptr) return kInvalidParameters;
    const EventState s = l.rec->state;
    return static_cast<i64>((is_registered(s) ? kStatusRegistered : 0) | (is_enabled(s) ? kStatusEnabled : 0) |
                            (is_running(s) ? kStatusRunning : 0));
}

i64 Sdei::do_get_info(u32 vcpu, u64 event, u64 info, u64& value) {
    Located l = locate(vcpu, event);
    if (l.rec == nullptr) return kInvalidParameters;
    switch (info) {
        case kInfoType:
            value = l.shared ? 1 : 0;
            return kSuccess;
        case kInfoSignaled:
            value = event == kSignalEvent ? 1 : 0;
            return kSuccess;
        case kInfoPriority:
            value = event_priority(static_cast<u32>(event));
            return kSuccess;
        case kInfoRoutingMode:
            if (!l.shared) return kInvalidParameters;
            if (!is_registered(l.rec->state)) return kDenied;
            value = l.rec->routing;
            return kSuccess;
        case kInfoRoutingAff:
            if (!l.shared) return kInvalidParameters;
            if (!is_registered(l.rec->state)) return kDenied;
            if (l.rec->routing != kRoutingPe) return kInvalidParameters;
            value = l.rec->affinity;
            return kSuccess;
        default:
            return kInvalidParameters;
    }
}

i64 Sdei::do_routing_set(u32 vcpu, u64 event, u64 flags, u64 affinity) {
    Located l = locate(vcpu, event);
    if (l.rec == nullptr || !l.shared) return kInvalidParameters;
    if (flags & ~FlagRoutingMode::field_mask) return kInvalidParameters;
    const u64 routing = FlagRoutingMode::get(flags);
    if (routing == kRoutingPe && vcpu_by_mpidr(affinity) == kNoVcpu) return kInvalidParameters;
    const Transition t = transition(l.rec->state, EventAction::routing_set);
    if (!t.allowed) return t.result;
    l.rec->state = t.next;
    l.rec->routing = routing;
    l.rec->affinity = routing == kRoutingPe ? affinity : 0;
    return t.result;
}

i64 Sdei::do_complete(u32 vcpu, VcpuContext& ctx, bool resume, u64 resume_addr) {
    HandlerContext* inner = vcpus_[vcpu].innermost();
    if (inner == nullptr) return kDenied;  // no handler running on this PE (DEN0054 5.1.5)
    HandlerContext& h = *inner;            // a critical handler completes before the normal one it preempted
    if (resume && !valid_entry(resume_addr)) return kInvalidParameters;
    Located l = locate(vcpu, h.event);
    if (l.rec != nullptr) {
        apply(*l.rec, EventAction::complete);
        if (l.shared) l.rec->running_on = kNoVcpu;
    }
    for (u32 i = 0; i < kContextRegs; ++i) ctx.core.x[i] = h.x[i];
    if (resume) {
        // DEN0054 5.1.6: resume as if an IRQ had been taken to the client EL from the interrupted context, with
        // resume_addr in place of the vector: ELR/SPSR of that EL get the interrupted PC/PSTATE, PSTATE is the
        // exception-entry state (EL1h, DAIF masked).
        ctx.core.elr_el1 = h.pc;
        ctx.core.spsr[0] = h.pstate;
        ctx.core.pc = resume_addr;
        ctx.core.pstate = el1h_entry_pstate(ctx, h.pstate);
    } else {
        ctx.core.pc = h.pc;
        ctx.core.pstate = h.pstate;
    }
    h = HandlerContext{};
    return kSuccess;
}

i64 Sdei::do_bind(u64 intid, u8 priority, u64& event, bool& fresh) {
    fresh = false;
    Binding* slots = nullptr;
    u32 n = 0, base = 0;
    if (is_ppi(intid)) {
        slots = private_bind_;
        n = config_.private_bind_slots;
        base = kPrivateBoundBase;
    } else if (is_spi(intid)) {
        slots = shared_bind_;
        n = config_.shared_bind_slots;
        base = kSharedBoundBase;
    } else {
        return kInvalidParameters;  // SGIs, LPIs and special INTIDs cannot be bound (DEN0054 5.1.14)
    }
    u32 free_slot = n;
    for (u32 s = 0; s < n; ++s) {
        if (slots[s].used && slots[s].intid == intid) {
            event = base + s;  // already bound: the same event
            return kSuccess;
        }
        if (!slots[s].used && free_slot == n) free_slot = s;
    }
    if (free_slot == n) return kOutOfResource;
    slots[free_slot].used = true;
    slots[free_slot].intid = static_cast<u32>(intid);
    slots[free_slot].priority = priority;
    event = base + free_slot;
    fresh = true;
    return kSuccess;
}

i64 Sdei::do_release(u64 event, u32& intid) {
    if (event >= kPrivateBoundBase && event < kPrivateBoundBase + config_.private_bind_slots) {
        const u32 slot = static_cast<u32>(event - kPrivateBoundBase);
        if (!private_bind_[slot].used) return kInvalidParameters;
        for (u32 v = 0; v < vcpu_count_; ++v)
            if (is_registered(vcpus_[v].priv[1 + slot].state)) return kDenied;  // DEN0054 5.1.15
        intid = private_bind_[slot].intid;
        private_bind_[slot] = Binding{};
        for (u32 v = 0; v < vcpu_count_; ++v) vcpus_[v].priv[1 + slot] = EventRecord{};
        return kSuccess;
    }
    if (event >= kSharedBoundBase && event < kSharedBoundBase + config_.shared_bind_slots) {
        const u32 slot = static_cast<u32>(event - kSharedBoundBase);
        if (!shared_bind_[slot].used) return kInvalidParameters;
        if (is_registered(shared_[slot].state)) return kDenied;
        intid = shared_bind_[slot].intid;
        shared_bind_[slot] = Binding{};
        shared_[slot] = EventRecord{};
        return kSuccess;
    }
    return kInvalidParameters;
}

i64 Sdei::do_signal(u32 vcpu, u64 event, u64 target, u32& kick) {
    (void)vcpu;
    if (event != kSignalEvent) return kInvalidParameters;  // only event 0 can be signalled (DEN0054 5.1.16)
    const u32 t = vcpu_by_mpidr(target);
    if (t == kNoVcpu) return kInvalidParameters;
    EventRecord& r = vcpus_[t].priv[0];
    // A signal to a PE where event 0 is not registered has nothing to deliver: it is dropped (like the SGI a
    // firmware dispatcher would ignore). A registered but disabled or masked event stays pending.
    if (is_registered(r.state) && r.state != EventState::unregister_pending) {
        r.pending = true;
        note_pending();
        kick = t;
    }
    return kSuccess;
}

void Sdei::reset_events(u32 vcpu, bool private_events) {
    if (private_events) {
        for (auto& r : vcpus_[vcpu].priv) apply(r, EventAction::reset);
    } else {
        for (auto& r : shared_) apply(r, EventAction::reset);
    }
}

// What the interrupt controller says about INTERRUPT_BIND's INTID, asked before the model's lock is taken: it locks
// the vGIC, which calls back into the model with its own locks held (bound_irq_fired), so the model never calls it
// under lock_.
Sdei::BindQuery Sdei::query_binder(u32 vcpu, u32 fid, const u64* x) const {
    BindQuery q;
    if (fid == kInterruptBind && binder_ != nullptr) {
        q.bindable = x[1] <= 0xffffffffu && binder_->bindable(static_cast<u32>(x[1]));
        if (q.bindable && binder_->irq_priority(static_cast<u32>(x[1]), vcpu) < kCriticalGicPriorityBelow)
            q.priority = kPriorityCritical;
    }
    return q;
}

i64 Sdei::call_context(u32 vcpu, u64 reg) const {
    const HandlerContext* h = vcpus_[vcpu].innermost();
    if (h == nullptr) return kDenied;
    if (reg >= kContextRegs) return kInvalidParameters;
    return static_cast<i64>(h->x[reg]);
}

// The shared events pending and enabled whose target is another vCPU than `vcpu` (it may take them now that its
// handler completed): a bit per vCPU to kick.
u64 Sdei::shared_kicks_after_complete(u32 vcpu) const {
    u64 kick_mask = 0;
    for (u32 s = 0; s < kMaxSharedBound; ++s) {
        const EventRecord& e = shared_[s];
        if (e.pending && e.state == EventState::registered_enabled) {
            const u32 t = shared_target(e, shared_bind_[s].priority);
            if (t != kNoVcpu && t != vcpu) kick_mask |= u64{1} << t;
        }
    }
    return kick_mask;
}

i64 Sdei::call_features(u64 feature) const {
    if (feature == kFeatureBindSlots)
        return static_cast<i64>(u64{config_.private_bind_slots} | u64{config_.shared_bind_slots} << 16);
    if (feature == kFeatureRelativeMode) return 0;
    return kInvalidParameters;
}

// One call under lock_: its result (x0), and in `fx` what is done after the lock (binder, kicks). A completion that
// resumed the interrupted context sets fx.resumed: the registers are that context's and are not written.
i64 Sdei::dispatch_locked(u32 vcpu, VcpuContext& ctx, u32 fid, const BindQuery& bind, CallEffects& fx) {
    const u64* x = ctx.core.x;
    switch (fid) {
        case kVersion:
            return static_cast<i64>(kVersion1_1);
        case kEventRegister:
            return do_register(vcpu, x);
        case kEventEnable:
            return do_simple(vcpu, x[1], EventAction::enable);
        case kEventDisable:
            return do_simple(vcpu, x[1], EventAction::disable);
        case kEventUnregister:
            return do_simple(vcpu, x[1], EventAction::unregister);
        case kEventContext:
            return call_context(vcpu, x[1]);
        case kEventComplete:
        case kEventCompleteAndResume: {
            const i64 r = do_complete(vcpu, ctx, fid == kEventCompleteAndResume, x[1]);
            if (r == kSuccess) {
                fx.resumed = true;  // the interrupted context is back in place: nothing to write
                fx.kick_mask = shared_kicks_after_complete(vcpu);
            }
            return r;
        }
        case kEventStatus:
            return do_status(vcpu, x[1]);
        case kEventGetInfo: {
            u64 v = 0;
            const i64 r = do_get_info(vcpu, x[1], x[2], v);
            return r == kSuccess ? static_cast<i64>(v) : r;
        }
        case kEventRoutingSet:
            return do_routing_set(vcpu, x[1], x[2], x[3]);
        case kPeMask: {
            // Returns whether the call changed the mask state (1) or the PE was already masked (0).
            const i64 r = vcpus_[vcpu].masked ? 0 : 1;
            vcpus_[vcpu].masked = true;
            return r;
        }
        case kPeUnmask:
            vcpus_[vcpu].masked = false;
            return kSuccess;
        case kInterruptBind: {
            u64 ev = 0;
            bool fresh = false;
            // An INTID the interrupt controller cannot give up (SGI, LPI, unimplemented, hardware-linked).
            const i64 r = bind.bindable ? do_bind(x[1], bind.priority, ev, fresh) : kInvalidParameters;
            if (fresh) fx.bind_change = static_cast<u32>(x[1]), fx.bind_on = true;
            return r == kSuccess ? static_cast<i64>(ev) : r;
        }
        case kInterruptRelease: {
            u32 intid = 0;
            const i64 r = do_release(x[1], intid);
            if (r == kSuccess) fx.bind_change = intid, fx.bind_on = false;
            return r;
        }
        case kEventSignal:
            return do_signal(vcpu, x[1], x[2], fx.kick);
        case kFeatures:
            return call_features(x[1]);
        case kPrivateReset:
            reset_events(vcpu, true);
            return kSuccess;
        case kSharedReset:
            reset_events(vcpu, false);
            return kSuccess;
        default:
            HV_LOG_RATELIMITED(debug, "sdei: vCPU %u function %#x not supported", vcpu, fid);
            return kNotSupported;
    }
}

void Sdei::handle(u32 vcpu, VcpuContext& ctx) {
    u64* x = ctx.core.x;
    const u32 fid = static_cast<u32>(x[0]);
    if (vcpu >= vcpu_count_ || platform_ == nullptr) {
        HV_LOG_RATELIMITED(warn, "sdei: call %#x from unknown vCPU %u", fid, vcpu);
        x[0] = static_cast<u64>(kNotSupported);
        return;
    }
    const BindQuery bind = query_binder(vcpu, fid, x);
    CallEffects fx;
    {
        LockGuard guard(lock_);
        const i64 r0 = dispatch_locked(vcpu, ctx, fid, bind, fx);
        if (!fx.resumed) {
            x[0] = static_cast<u64>(r0);
            x[1] = 0;
            x[2] = 0;
            x[3] = 0;
        }
    }
    if (fx.bind_change != 0 && binder_ != nullptr && binder_->set_bound(fx.bind_change, fx.bind_on) != Status::ok)
        HV_LOG_RATELIMITED(warn, "sdei: interrupt %u not %s in the vGIC", fx.bind_change,
                           fx.bind_on ? "bound" : "released");
    if (fx.kick != kNoVcpu && fx.kick != vcpu) platform_->kick(fx.kick);
    for (u32 i = 0; i < 64; ++i)
        if (fx.kick_mask & (u64{1} << i)) platform_->kick(i);
}

Status Sdei::validate() const {
    auto ok_record = [&](const EventRecord& r, bool shared) {
        if (static_cast<usize>(r.state) >= kEventStateCount) return false;
        if (is_registered(r.state) && !valid_entry(r.ep)) return false;
        if (!is_registered(r.state) && (r.ep != 0 || r.pending)) return false;
        if (r.routing > kRoutingPe) return false;
        if (shared && r.routing == kRoutingPe && is_registered(r.state) && vcpu_by_mpidr(r.affinity) == kNoVcpu)
            return false;
        if (!shared && r.running_on != kNoVcpu) return false;
        if (shared && is_running(r.state) != (r.running_on < vcpu_count_)) return false;
        return true;
    };
    for (u32 v = 0; v < vcpu_count_; ++v) {
        const VcpuSdei& s = vcpus_[v];
        u32 running[2] = {};  // per priority: at most one handler each, matching the saved contexts
        for (u32 i = 0; i < kPrivateEvents; ++i) {
            if (!ok_record(s.priv[i], false)) return Status::corrupt;
            if (i > 0 && is_registered(s.priv[i].state) && !private_bind_[i - 1].used) return Status::corrupt;
            if (is_running(s.priv[i].state)) ++running[i == 0 ? kPriorityNormal : private_bind_[i - 1].priority];
        }
        for (u32 e = 0; e < kMaxSharedBound; ++e)
            if (shared_[e].running_on == v) ++running[shared_bind_[e].priority];
        if (running[kPriorityNormal] != (s.handler.active ? 1u : 0u)) return Status::corrupt;
        if (running[kPriorityCritical] != (s.critical.active ? 1u : 0u)) return Status::corrupt;
        if (s.handler.active && event_priority(s.handler.event) != kPriorityNormal) return Status::corrupt;
        if (s.critical.active && event_priority(s.critical.event) != kPriorityCritical) return Status::corrupt;
    }
    for (u32 v = vcpu_count_; v < kMaxVcpus; ++v)
        if (vcpus_[v].handler.active || vcpus_[v].critical.active) return Status::corrupt;
    for (u32 s = 0; s < kMaxSharedBound; ++s) {
        if (!ok_record(shared_[s], true)) return Status::corrupt;
        if (is_registered(shared_[s].state) && !shared_bind_[s].used) return Status::corrupt;
        if (shared_bind_[s].used && (s >= config_.shared_bind_slots || !is_spi(shared_bind_[s].intid)))
            return Status::corrupt;
    }
    for (u32 s = 0; s < kMaxPrivateBound; ++s)
        if (private_bind_[s].used && (s >= config_.private_bind_slots || !is_ppi(private_bind_[s].intid)))
            return Status::corrupt;
    auto ok_binding = [](const Binding& b) {
        return b.priority <= kPriorityCritical && (b.used || b.priority == kPriorityNormal);
    };
    for (const Binding& b : private_bind_)
        if (!ok_binding(b)) return Status::corrupt;
    for (const Binding& b : shared_bind_)
        if (!ok_binding(b)) return Status::corrupt;
    return Status::ok;
}

Status Sdei::reapply_bindings() {
    if (binder_ == nullptr) return Status::ok;
    u32 intids[kMaxPrivateBound + kMaxSharedBound];
    u32 n = 0;
    {
        LockGuard guard(lock_);
        for (const Binding& b : private_bind_)
            if (b.used) intids[n++] = b.intid;
        for (const Binding& b : shared_bind_)
            if (b.used) intids[n++] = b.intid;
    }
    for (u32 i = 0; i < n; ++i) HV_TRY(binder_->set_bound(intids[i], true));
    return Status::ok;
}

}  // namespace hv::sdei
