#include "sdei/reglist_class.hpp"

#include "lib/log.hpp"
#include "lib/string.hpp"

namespace hv::sdei {

namespace {

constexpr bool is_ppi(u64 intid) { return intid >= 16 && intid < 32; }
constexpr bool is_spi(u64 intid) { return intid >= 32 && intid < 1020; }

constexpr bool is_sdei_u64(u64 id) {
    return (id & ~u64{0xffff}) == (reglist::kArchArm64 | reglist::kSizeU64 | reglist::kClassSdei);
}
constexpr u16 index_of(u64 id) { return static_cast<u16>(id & 0xffff); }

u64 load(Span<const u8> v) {
    u64 x = 0;
    memcpy(&x, v.data(), min<usize>(v.size(), 8));
    return x;
}
void store(Span<u8> out, u64 x) { memcpy(out.data(), &x, min<usize>(out.size(), 8)); }

u32 private_slots(const Sdei& s) { return 1 + s.config().private_bind_slots; }

// A guest-visible PSTATE of an interrupted AArch64 context: M[4] = 0 and M[3:0] one of EL0t, EL1t, EL1h
// (DDI0487 C5.2.18; the guest runs at EL1/EL0 only).
bool valid_pstate(u64 p) {
    if (p >> 32) return false;
    if (p & 0x10) return false;
    const u64 m = PstateMode::get(p);
    return m == 0x0 || m == 0x4 || m == kModeEl1h;
}

// The event number a handler may run: event 0, a configured bound private or shared slot.
bool known_event(const Sdei& s, u64 ev) {
    if (ev == 0) return true;
    if (ev >= kPrivateBoundBase && ev < kPrivateBoundBase + s.config().private_bind_slots) return true;
    return ev >= kSharedBoundBase && ev < kSharedBoundBase + s.config().shared_bind_slots;
}

// Checks and applies one event-record field. Nothing written on refusal.
Status set_record_field(const Sdei& s, EventRecord& r, u16 field, u64 v, bool shared) {
    switch (field) {
        case reg::kFieldState:
            if (v >= kEventStateCount) return Status::invalid_argument;
            r.state = static_cast<EventState>(v);
            return Status::ok;
        case reg::kFieldPending:
            if (v > 1) return Status::invalid_argument;
            r.pending = v != 0;
            if (r.pending) s.note_pending();
            return Status::ok;
        case reg::kFieldEp:
            // 0 = not registered; else the EVENT_REGISTER rule: 4-aligned in guest RAM.
            if (v != 0 && !s.entry_point_valid(v)) return Status::invalid_argument;
            r.ep = v;
            return Status::ok;
        case reg::kFieldArg:
            r.arg = v;
            return Status::ok;
        default:
            break;
    }
    if (!shared) return Status::not_found;
    switch (field) {
        case reg::kFieldRouting:
            if (v != kRoutingAny && v != kRoutingPe) return Status::invalid_argument;
            r.routing = v;
            return Status::ok;
        case reg::kFieldAffinity:
            if (v & ~kMpidrAffinityMask) return Status::invalid_argument;
            r.affinity = v;
            return Status::ok;
        case reg::kFieldRunningOn:
            if (v != kNoVcpu && v >= s.vcpu_count()) return Status::invalid_argument;
            r.running_on = static_cast<u32>(v);
            return Status::ok;
        default:
            return Status::not_found;
    }
}

u64 get_record_field(const EventRecord& r, u16 field) {
    switch (field) {
        case reg::kFieldState:
            return static_cast<u64>(r.state);
        case reg::kFieldPending:
            return r.pending ? 1 : 0;
        case reg::kFieldEp:
            return r.ep;
        case reg::kFieldArg:
            return r.arg;
        case reg::kFieldRouting:
            return r.routing;
        case reg::kFieldAffinity:
            return r.affinity;
        default:
            return r.running_on;
    }
}

}  // namespace

// ---------------- vCPU scope ----------------

usize SdeiVcpuRegisters::count(u32) const {
    return reg::kVcpuStateRegs + reg::kVcpuCriticalRegs + private_slots(sdei_) * reg::kPrivFields;
}

u64 SdeiVcpuRegisters::id_at(u32, usize i) const {
    if (i < 5) return sdei_reg_id(static_cast<u16>(reg::kVcpuMasked + i));
    if (i < reg::kVcpuStateRegs) return sdei_reg_id(static_cast<u16>(reg::kVcpuX0 + (i - 5)));
    i -= reg::kVcpuStateRegs;
    if (i < 4) return sdei_reg_id(static_cast<u16>(reg::kVcpuActive + reg::kCriticalOffset + i));
    if (i < reg::kVcpuCriticalRegs) return sdei_reg_id(static_cast<u16>(reg::kVcpuX0 + reg::kCriticalOffset + (i - 4)));
    i -= reg::kVcpuCriticalRegs;
    if (i >= private_slots(sdei_) * reg::kPrivFields) return 0;
    return sdei_private_id(static_cast<u32>(i / reg::kPrivFields), static_cast<u16>(i % reg::kPrivFields));
}

bool SdeiVcpuRegisters::owns(u64 id) const {
    if (!is_sdei_u64(id)) return false;
    const u16 x = index_of(id);
    if (x >= reg::kVcpuMasked && x <= reg::kVcpuPstate) return true;
    if (x >= reg::kVcpuX0 && x < reg::kVcpuX0 + kContextRegs) return true;
    if (x >= reg::kVcpuActive + reg::kCriticalOffset && x <= reg::kVcpuPstate + reg::kCriticalOffset) return true;
    if (x >= reg::kVcpuX0 + reg::kCriticalOffset && x < reg::kVcpuX0 + reg::kCriticalOffset + kContextRegs) return true;
    if ((x & 0xf000) != reg::kPrivBase) return false;
    return (x >> 4) < private_slots(sdei_) && (x & 0xf) < reg::kPrivFields;
}

Status SdeiVcpuRegisters::get(u32 vcpu, u64 id, Span<u8> value) {
    if (!owns(id) || vcpu >= sdei_.vcpu_count()) return Status::not_found;
    LockGuard g(sdei_.lock());
    const VcpuSdei& st = sdei_.vcpu_state(vcpu);
    const u16 raw = index_of(id);
    const bool crit = (raw & 0xff00) == reg::kVcpuMasked + reg::kCriticalOffset;
    const u16 x = crit ? static_cast<u16>(raw - reg::kCriticalOffset) : raw;
    const HandlerContext& h = crit ? st.critical : st.handler;
    u64 v = 0;
    if (x == reg::kVcpuMasked)
        v = st.masked ? 1 : 0;
    else if (x == reg::kVcpuActive)
        v = h.active ? 1 : 0;
    else if (x == reg::kVcpuEvent)
        v = h.event;
    else if (x == reg::kVcpuPc)
        v = h.pc;
    else if (x == reg::kVcpuPstate)
        v = h.pstate;
    else if (x >= reg::kVcpuX0)
        v = h.x[x - reg::kVcpuX0];
    else
        v = get_record_field(st.priv[(x >> 4) & 0xff], x & 0xf);
    store(value, v);
    return Status::ok;
}

Status SdeiVcpuRegisters::set(u32 vcpu, u64 id, Span<const u8> value) {
    if (!owns(id) || vcpu >= sdei_.vcpu_count()) return Status::not_found;
    const u64 v = load(value);
    const u16 raw = index_of(id);
    const bool crit = (raw & 0xff00) == reg::kVcpuMasked + reg::kCriticalOffset;
    const u16 x = crit ? static_cast<u16>(raw - reg::kCriticalOffset) : raw;
    Status s = Status::ok;
    {
        LockGuard g(sdei_.lock());
        VcpuSdei& st = sdei_.vcpu_state(vcpu);
        HandlerContext& h = crit ? st.critical : st.handler;
        if (x == reg::kVcpuMasked || x == reg::kVcpuActive) {
            if (v > 1) {
                s = Status::invalid_argument;
            } else if (x == reg::kVcpuMasked) {
                st.masked = v != 0;
            } else {
                h.active = v != 0;
            }
        } else if (x == reg::kVcpuEvent) {
            if (!known_event(sdei_, v))
                s = Status::invalid_argument;
            else
                h.event = static_cast<u32>(v);
        } else if (x == reg::kVcpuPc) {
            h.pc = v;
        } else if (x == reg::kVcpuPstate) {
            if (!valid_pstate(v))
                s = Status::invalid_argument;
            else
                h.pstate = v;
        } else if (x >= reg::kVcpuX0) {
            h.x[x - reg::kVcpuX0] = v;
        } else {
            s = set_record_field(sdei_, st.priv[(x >> 4) & 0xff], x & 0xf, v, false);
        }
    }
    if (s != Status::ok)
        HV_LOG_RATELIMITED(warn, "reglist: SDEI %#x of vCPU %u refused: %s", u32{raw}, vcpu, status_name(s));
    return s;
}

// ---------------- VM scope ----------------

usize SdeiVmRegisters::count(u32) const {
    const SdeiConfig& c = sdei_.config();
    return 1 + (c.private_bind_slots + c.shared_bind_slots) * reg::kBindFields +
           c.shared_bind_slots * reg::kSharedFields;
}

u64 SdeiVmRegisters::id_at(u32, usize i) const {
    const SdeiConfig& c = sdei_.config();
    if (i == 0) return kSdeiLayoutVersionId;  // first: a refused version stops the restore before any SDEI state
    --i;
    if (i < c.private_bind_slots * reg::kBindFields)
        return sdei_bind_id(false, static_cast<u32>(i / reg::kBindFields), static_cast<u16>(i % reg::kBindFields));
    i -= c.private_bind_slots * reg::kBindFields;
    if (i < c.shared_bind_slots * reg::kBindFields)
        return sdei_bind_id(true, static_cast<u32>(i / reg::kBindFields), static_cast<u16>(i % reg::kBindFields));
    i -= c.shared_bind_slots * reg::kBindFields;
    if (i < c.shared_bind_slots * reg::kSharedFields)
        return sdei_shared_id(static_cast<u32>(i / reg::kSharedFields), static_cast<u16>(i % reg::kSharedFields));
    return 0;
}

bool SdeiVmRegisters::owns(u64 id) const {
    if (!is_sdei_u64(id)) return false;
    const u16 x = index_of(id);
    if (x == reg::kLayoutVersionIndex) return true;
    const u32 slot = (x >> 4) & 0xf;
    const SdeiConfig& c = sdei_.config();
    if ((x & 0xff00) == reg::kSharedBase) return slot < c.shared_bind_slots && (x & 0xf) < reg::kSharedFields;
    if ((x & 0xff00) == reg::kBindBase) return slot < c.private_bind_slots && (x & 0xf) < reg::kBindFields;
    if ((x & 0xff00) == (reg::kBindBase | 0x100)) return slot < c.shared_bind_slots && (x & 0xf) < reg::kBindFields;
    return false;
}

Status SdeiVmRegisters::get(u32, u64 id, Span<u8> value) {
    if (!owns(id)) return Status::not_found;
    LockGuard g(sdei_.lock());
    const u16 x = index_of(id);
    const u32 slot = (x >> 4) & 0xf;
    u64 v = 0;
    if (x == reg::kLayoutVersionIndex) {
        v = kLayoutVersion;
    } else if ((x & 0xf000) == reg::kSharedBase) {
        v = get_record_field(sdei_.shared_event(slot), x & 0xf);
    } else {
        const Binding& b = (x & 0x100) ? sdei_.shared_binding(slot) : sdei_.private_binding(slot);
        const u16 f = x & 0xf;
        v = f == reg::kBindUsed ? (b.used ? 1 : 0) : f == reg::kBindIntid ? b.intid : b.priority;
    }
    store(value, v);
    return Status::ok;
}

Status SdeiVmRegisters::validate(u32, u64 id, Span<const u8> value, reglist::Refusal& why) {
    if (!owns(id)) return Status::not_found;
    if (index_of(id) != reg::kLayoutVersionIndex || load(value) <= kLayoutVersion) return Status::ok;
    HV_LOG_RATELIMITED(warn,
                       "reglist: SDEI state layout version %llu was saved by a newer hypervisor (this one reads up to "
                       "%llu): restore refused",
                       static_cast<unsigned long long>(load(value)), static_cast<unsigned long long>(kLayoutVersion));
    why.reg = "SDEI LAYOUT_VERSION";
    why.host = kLayoutVersion;
    why.has_host = true;
    why.reason = "SDEI state layout newer than this hypervisor's";
    return Status::invalid_argument;
}

Status SdeiVmRegisters::set(u32, u64 id, Span<const u8> value) {
    if (!owns(id)) return Status::not_found;
    const u64 v = load(value);
    const u16 x = index_of(id);
    const u32 slot = (x >> 4) & 0xf;
    if (x == reg::kLayoutVersionIndex) {
        if (v <= kLayoutVersion) return Status::ok;  // older layouts are subsets of this one
        HV_LOG_RATELIMITED(
            warn,
            "reglist: SDEI state layout version %llu was saved by a newer hypervisor (this one reads up to %llu): "
            "restore refused",
            static_cast<unsigned long long>(v), static_cast<unsigned long long>(kLayoutVersion));
        return Status::invalid_argument;
    }
    Status s = Status::ok;
    {
        LockGuard g(sdei_.lock());
        if ((x & 0xf000) == reg::kSharedBase) {
            s = set_record_field(sdei_, sdei_.shared_event(slot), x & 0xf, v, true);
        } else {
            const bool shared = (x & 0x100) != 0;
            Binding& b = shared ? sdei_.shared_binding(slot) : sdei_.private_binding(slot);
            if ((x & 0xf) == reg::kBindUsed) {
                if (v > 1)
                    s = Status::invalid_argument;
                else
                    b.used = v != 0;
            } else if ((x & 0xf) == reg::kBindPriority) {
                if (v > kPriorityCritical)
                    s = Status::invalid_argument;
                else
                    b.priority = static_cast<u8>(v);
            } else if (v != 0 && !(shared ? is_spi(v) : is_ppi(v))) {
                s = Status::invalid_argument;  // a bound private event is a PPI, a shared one an SPI (DEN0054 5.1.13)
            } else {
                b.intid = static_cast<u32>(v);
            }
        }
    }
    if (s != Status::ok) HV_LOG_RATELIMITED(warn, "reglist: SDEI VM register %#x refused: %s", u32{x}, status_name(s));
    return s;
}

// ---------------- commit ----------------

Status validate_restored(const Sdei& s) {
    HV_TRY(s.validate());
    for (u32 i = 0; i < 2 * s.vcpu_count(); ++i) {
        const u32 v = i / 2;
        const HandlerContext& h = i % 2 ? s.vcpu_state(v).critical : s.vcpu_state(v).handler;
        if (!h.active) continue;
        // The saved context belongs to the one event running on this vCPU (Sdei::validate counts them).
        if (!known_event(s, h.event)) return Status::corrupt;
        if (h.event >= kSharedBoundBase) {
            if (s.shared_event(h.event - kSharedBoundBase).running_on != v) return Status::corrupt;
        } else {
            const u32 slot = h.event == 0 ? 0 : 1 + (h.event - kPrivateBoundBase);
            if (!is_running(s.vcpu_state(v).priv[slot].state)) return Status::corrupt;
        }
        if (!valid_pstate(h.pstate)) return Status::corrupt;
    }
    return Status::ok;
}

Status SdeiCommitRegister::get(u32, u64 id, Span<u8> value) {
    if (!owns(id)) return Status::not_found;
    store(value, 0);
    return Status::ok;
}

Status SdeiCommitRegister::set(u32, u64 id, Span<const u8> value) {
    if (!owns(id)) return Status::not_found;
    if (load(value) != 0) return Status::invalid_argument;
    Status s = Status::ok;
    {
        LockGuard g(sdei_.lock());
        s = validate_restored(sdei_);
    }
    if (s == Status::ok) s = sdei_.reapply_bindings();  // the vGIC diverts the restored bound INTIDs again
    if (s == Status::ok) return Status::ok;
    HV_LOG_RATELIMITED(warn, "reglist: restored SDEI state inconsistent (%s): SDEI reset", status_name(s));
    sdei_.reset();  // nothing half-restored survives
    return Status::invalid_argument;
}

// ---------------- dry run ----------------

Status SdeiRestoreCheck::init(SdeiPlatform& platform, GuestMemory& memory, const SdeiConfig& config,
                              const IrqBinder* binder) {
    platform_.live_ = &platform;
    binder_ = binder;
    HV_TRY(scratch_.init(platform_, memory, config));
    ready_ = true;
    return Status::ok;
}

namespace {

// Feeds the SDEI records to the scratch model's classes in stream order (the VM section's, then each vCPU's: the
// order the restore applies stage 3 in); notes the VALIDATE record.
class SdeiReplay final : public reglist::SnapshotImage::RecordVisitor {
public:
    SdeiReplay(SdeiVmRegisters& vm, SdeiVcpuRegisters& vcpu, reglist::ImageRefusal& refused)
        : vm_(vm), vcpu_(vcpu), refused_(refused) {}
    Status record(reglist::Handle h, u64 id, Span<const u8> value) override {
        const u64 canonical = reglist::without_scope(id);
        Status s = Status::ok;
        if (canonical == sdei_reg_id(reg::kValidate)) {
            commit = true;
            s = load(value) == 0 ? Status::ok : Status::invalid_argument;
        } else if (h.is_vm() && vm_.owns(canonical)) {
            s = vm_.set(reglist::Handle::kVm, canonical, value);
        } else if (!h.is_vm() && vcpu_.owns(canonical)) {
            s = vcpu_.set(h.vcpu, canonical, value);
        }
        if (s == Status::ok) return Status::ok;
        refused_.vcpu = h.vcpu;
        refused_.id = id;
        refused_.saved = load(value);
        refused_.why.reason = "SDEI state refused";
        return s;
    }
    bool commit = false;

private:
    SdeiVmRegisters& vm_;
    SdeiVcpuRegisters& vcpu_;
    reglist::ImageRefusal& refused_;
};

}  // namespace

Status SdeiRestoreCheck::run(reglist::SnapshotImage& image, reglist::ImageRefusal& refused) {
    if (!ready_) return Status::ok;
    scratch_.reset();  // as the VM's model is before a restore
    SdeiReplay replay(vm_, vcpu_, refused);
    Status s = image.for_each_record(replay);
    if (s == Status::ok && replay.commit) {
        // What SdeiCommitRegister::set checks: the whole model, then the bindings reach the interrupt controller.
        {
            LockGuard g(scratch_.lock());
            s = validate_restored(scratch_);
        }
        for (u32 i = 0; s == Status::ok && binder_ != nullptr && i < kMaxPrivateBound + kMaxSharedBound; ++i) {
            const Binding& b =
                i < kMaxPrivateBound ? scratch_.private_binding(i) : scratch_.shared_binding(i - kMaxPrivateBound);
            if (b.used && !binder_->bindable(b.intid)) s = Status::invalid_argument;
        }
        if (s != Status::ok) {
            refused.id = sdei_reg_id(reg::kValidate) | reglist::kScopeVm;
            refused.saved = 0;
            refused.why.reg = "SDEI VALIDATE";
            refused.why.reason = "SDEI state inconsistent (a handler context without its running event, ...)";
        }
    }
    scratch_.reset();
    if (s != Status::ok) HV_LOG_WARN("sdei: snapshot refused by the dry run (%s)", status_name(s));
    return s;
}

Status SdeiRegisterClasses::add_to(reglist::RegisterCatalogue& cat) {
    HV_TRY(cat.add(vm));
    HV_TRY(cat.add(vcpu));
    return cat.add(commit);
}

}  // namespace hv::sdei
