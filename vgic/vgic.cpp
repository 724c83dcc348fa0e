// Core of the virtual GIC: configuration, interrupt state, injection, SGIs and the LR flush/fold.
#include "vgic/vgic.hpp"

#include "lib/assert.hpp"
#include "lib/log.hpp"
#include "lib/string.hpp"

namespace hv::vgic {

// ---------------------------------------------------------------- setup

Status Vgic::init(const VgicConfig& cfg, GuestMemory& mem, VcpuKicker& kicker, HwIrqControl* hw) {
    if (cfg.nr_vcpus == 0 || cfg.nr_vcpus > kMaxVcpus) return Status::invalid_argument;
    if (cfg.nr_spis % 32 != 0 || kNumPrivate + cfg.nr_spis > kMaxIrqs) return Status::invalid_argument;
    const u32 nr_lrs = ich_vtr::list_regs(cfg.ich_vtr);
    if (nr_lrs > kMaxLrs) return Status::invalid_argument;

    VgicConfig c = cfg;
    bool any_mpidr = false;
    for (u32 i = 0; i < c.nr_vcpus; ++i) any_mpidr |= (c.mpidr[i] & mpidr::kAffMask) != 0;
    for (u32 i = 0; i < c.nr_vcpus; ++i) {
        // KVM's default vCPU affinity: Aff0 = index[3:0], Aff1 = index[11:4], Aff2 = index[19:12].
        c.mpidr[i] = any_mpidr ? (c.mpidr[i] & mpidr::kAffMask)
                               : (mpidr::Aff0::make(i & 0xf) | mpidr::Aff1::make((i >> 4) & 0xff) |
                                  mpidr::Aff2::make((i >> 12) & 0xff));
        for (u32 j = 0; j < i; ++j)
            if (c.mpidr[j] == c.mpidr[i]) return Status::invalid_argument;
    }
    cfg_ = c;
    nr_irqs_ = kNumPrivate + c.nr_spis;
    mem_ = &mem;
    kicker_ = &kicker;
    hw_ = hw;
    dist_.attach(this);
    rd_region_.attach(this);
    for (u32 i = 0; i < kMaxVcpus; ++i) {
        rdists_[i].attach(this, i);
        vcpus_[i].mpidr = i < c.nr_vcpus ? c.mpidr[i] : 0;
        for (IrqState& s : vcpus_[i].priv) s.hw = false;
    }
    // vCPU i at affinity 0.0.0.i (KVM's default layout, up to 16 vCPUs): an SGI's TargetList is the vCPU mask.
    flat_affinity_ = true;
    for (u32 i = 0; i < c.nr_vcpus; ++i) flat_affinity_ &= (c.mpidr[i] & mpidr::kAffMask) == mpidr::Aff0::make(i);
    for (IrqState& s : spis_) s.hw = false;
    reset();
    return Status::ok;
}

void Vgic::reset() {
    auto reset_irq = [this](IrqState& s, bool edge) {
        if (s.hw && (s.pending() || s.active || s.lr_owner != kNoVcpu)) hw_cleared(s);
        const bool hw = s.hw;
        const u16 pintid = s.pintid;
        s = IrqState{};
        s.hw = hw;
        s.pintid = pintid;
        s.edge = edge;
    };
    {
        LockGuard d(dist_lock_);
        const u8 target = route_target(0);  // IROUTER resets to 0: the vCPU with affinity 0.0.0.0 (KVM)
        // Only the implemented SPIs and vCPUs: nothing reaches the others (irq(), cpu_if() and every entry point
        // check nr_irqs_ / nr_vcpus) until the next init(), whose reset() covers its own configuration.
        for (u32 intid = kNumPrivate; intid < nr_irqs_; ++intid) {
            reset_irq(spis_[intid - kNumPrivate], false);
            spis_[intid - kNumPrivate].target = target;
        }
        dist_ctlr_.store(0, MemoryOrder::relaxed);
        impl_rev_.store(kImplRevLatest, MemoryOrder::relaxed);
        set_propbaser(0);
        for (Atomic<u64>& w : lpi_config_) w.store(0, MemoryOrder::relaxed);
    }
    const u32 nr_lrs = ich_vtr::list_regs(cfg_.ich_vtr);
    for (u32 i = 0; i < cfg_.nr_vcpus; ++i) {
        VcpuState& v = vcpus_[i];
        LockGuard g(v.lock);
        for (u32 n = 0; n < kNumPrivate; ++n) reset_irq(v.priv[n], n < 16);  // SGIs edge, PPIs level (KVM)
        v.lpis_enabled = false;
        v.sleep = true;
        v.pendbaser = 0;
        for (Atomic<u64>& w : v.candidates) w.store(0, MemoryOrder::relaxed);
        for (Atomic<u64>& w : v.fresh) w.store(0, MemoryOrder::relaxed);
        v.fresh_words.store(0, MemoryOrder::relaxed);
        v.fresh_lpi_count.store(0, MemoryOrder::relaxed);
        v.overflow = false;
        v.lpi_pending.reset();
        v.lpi_active.reset();
        v.cpu_if = VcpuIfState{};
        v.cpu_if.nr_lrs = nr_lrs;
    }
    lpi_table_gen_.fetch_add(1, MemoryOrder::release);
    mark_flush_all();
}

// ---------------------------------------------------------------- helpers

IrqState* Vgic::irq(u32 vcpu, u32 intid) {
    if (intid < kNumPrivate) return vcpu < cfg_.nr_vcpus ? &vcpus_[vcpu].priv[intid] : nullptr;
    if (intid < nr_irqs_ && intid <= kMaxSpiIntid) return &spis_[intid - kNumPrivate];
    return nullptr;
}

u8 Vgic::route_target(u64 route) const {
    for (u32 t = 0; t < cfg_.nr_vcpus; ++t)
        if ((vcpus_[t].mpidr & mpidr::kAffMask) == (route & gicd_irouter::kAffMask)) return static_cast<u8>(t);
    return kNoVcpu;  // no PE with that affinity: the SPI stays pending in the distributor
}

void Vgic::set_propbaser(u64 value) {
    propbaser_ = value;
    // IHI0069H 12.11.31: IDbits + 1 bits of INTID; below 14 bits no LPI is in range. Capped by GICD_TYPER.IDbits.
    const u32 bits = min<u32>(static_cast<u32>(gicr_propbaser::IDbits::get(value)) + 1, kIdBits);
    lpi_limit_.store(bits < 14 ? kLpiBase : (1u << bits), MemoryOrder::relaxed);
}

void Vgic::store_lpi_config(u32 first, const u8* bytes, u32 count) {
    static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "byte k of a cache word is LPI 8w + k (lpi_cfg)");
    // Whole words in one load and one store when the buffer is aligned like the LPI numbers: an INVALL re-reads up
    // to 56 KiB (docs/isolation.md bounds its cost); byte by byte that was 3.7 M instructions a batch.
    const bool by_words = bytes == nullptr || ((reinterpret_cast<uptr>(bytes) - first) & 7) == 0;
    for (u32 i = 0; i < count;) {
        const u32 w = (first + i) / 8;
        if (by_words && (first + i) % 8 == 0 && count - i >= 8) {
            const u32 words = (count - i) / 8;
            if (bytes == nullptr) {
                for (u32 k = 0; k < words; ++k) lpi_config_[w + k].store(0, MemoryOrder::relaxed);
            } else {
                const u8* src = static_cast<const u8*>(__builtin_assume_aligned(bytes + i, 8));
                for (u32 k = 0; k < words; ++k) {
                    u64 word;
                    __builtin_memcpy(&word, src + 8 * k, 8);
                    lpi_config_[w + k].store(word, MemoryOrder::relaxed);
                }
            }
            i += words * 8;
            continue;
        }
        u64 word = lpi_config_[w].load(MemoryOrder::relaxed);  // only dist_lock_'s holder writes it
        for (; i < count && (first + i) / 8 == w; ++i) {
            const u32 shift = (first + i) % 8 * 8;
            word = (word & ~(u64{0xff} << shift)) | (u64{bytes != nullptr ? bytes[i] : u8{0}} << shift);
        }
        lpi_config_[w].store(word, MemoryOrder::relaxed);
    }
}

// A new (or returning) candidate: into the candidate set and the fresh set the next flush starts from. The caller
// holds the IRQ's lock -- the one every setter of this bit holds -- and only flush() clears these bits, under both
// locks: a bit seen set here stays set until the lock is released. A bit already in the fresh set is in the candidate
// set and in fresh_words too (flush clears the fresh set before it drops candidates; every setter finished all three
// under the lock), so the three read-modify-writes (LL/SC loops without LSE) are skipped -- the second note of an
// SGI (sender, then the target's fold) costs a load.
void Vgic::cand_set(VcpuState& v, u32 intid) {
    const u32 w = intid / 64;
    const u64 b = bit(intid % 64);
    if (v.fresh[w].load(MemoryOrder::relaxed) & b) return;
    if (!(v.candidates[w].load(MemoryOrder::relaxed) & b)) v.candidates[w].fetch_or(b, MemoryOrder::relaxed);
    v.fresh[w].fetch_or(b, MemoryOrder::relaxed);
    v.fresh_words.fetch_or(1u << w, MemoryOrder::relaxed);
}

// v.lock held. Up to kFreshLpis distinct LPIs; beyond that the next flush scans everything.
[[gnu::always_inline]] inline void Vgic::note_fresh_lpi(VcpuState& v, u32 idx) {
    const u32 n = v.fresh_lpi_count.load(MemoryOrder::relaxed);
    for (u32 i = 0; i < n; ++i)
        if (v.fresh_lpi[i] == idx) return;
    if (n == VcpuState::kFreshLpis) {
        v.flush_needed.store(true, MemoryOrder::relaxed);
        return;
    }
    v.fresh_lpi[n] = static_cast<u16>(idx);
    v.fresh_lpi_count.store(n + 1, MemoryOrder::relaxed);
}

// Both locks held (nothing adds to the fresh set meanwhile).
void Vgic::clear_fresh(VcpuState& v) const {
    for (u32 words = v.fresh_words.load(MemoryOrder::relaxed); words != 0; words &= words - 1)
        v.fresh[ctz(words)].store(0, MemoryOrder::relaxed);
    v.fresh_words.store(0, MemoryOrder::relaxed);
    v.fresh_lpi_count.store(0, MemoryOrder::relaxed);
}
void Vgic::cand_clear(VcpuState& v, u32 intid) {
    v.candidates[intid / 64].fetch_and(~bit(intid % 64), MemoryOrder::relaxed);
}
bool Vgic::cand_test(const VcpuState& v, u32 intid) {
    return (v.candidates[intid / 64].load(MemoryOrder::relaxed) >> (intid % 64)) & 1;
}

// Caller holds the lock of `s` (vCPU lock for private INTIDs, distributor lock for SPIs). The unbound case is a leaf
// (no frame, no register saves: it runs twice per IPI, at the sender and in the target's fold); a bound interrupt
// goes through note_bound().
void Vgic::note_changed(u32 vcpu, u32 intid, IrqState& s, u32& kick_mask) {
    if (s.bound) [[unlikely]]
        return note_bound(vcpu, intid, s, kick_mask);
    note_plain(vcpu, intid, s, kick_mask);
}

void Vgic::note_plain(u32 vcpu, u32 intid, IrqState& s, u32& kick_mask) { note_unbound(vcpu, intid, s, kick_mask); }

void Vgic::note_bound(u32 vcpu, u32 intid, IrqState& s, u32& kick_mask) {
    if (divert_bound(vcpu, intid, s)) return;
    note_unbound(vcpu, intid, s, kick_mask);
}

void Vgic::note_unbound(u32 vcpu, u32 intid, IrqState& s, u32& kick_mask) {
    if (!s.pending() && !s.active) return;
    const bool deliverable = s.pending() && s.enabled && group_enabled(s.group1);
    // In flight (lr_owner): the owner's fold() takes it back and, still pending or active, notes it again (cand_set)
    // for its target; the fresh bit here only tells the owner's fast path that its next entry has work. Make the
    // owner exit so a new edge is not delayed. Else its target: the vCPU for a private INTID, the routed one for an
    // SPI (none: it stays pending in the distributor).
    const u32 owner = s.lr_owner;  // read once: the atomics below would make the compiler read it again
    const u32 t = owner != kNoVcpu ? owner : intid < kNumPrivate ? vcpu : s.target;
    if (t >= cfg_.nr_vcpus) return;
    cand_set(vcpus_[t], intid);
    if (deliverable) kick_mask |= 1u << t;
}

// Caller holds the lock of `s`. A bound interrupt never reaches a list register: its pending edge (the latch of an
// edge-triggered interrupt or of a GICD_ISPENDR / GICR_ISPENDR0 write) is consumed here and handed to the event
// dispatcher, as firmware acknowledging a Group 0 interrupt would (DEN0054 5.1.14). A level-sensitive line that
// stays high is sampled on each change. An interrupt still in this or another vCPU's LRs (bound while in flight) is
// left to fold(), which calls here again.
bool Vgic::divert_bound(u32 vcpu, u32 intid, IrqState& s) {
    if (bound_sink_ == nullptr) return false;
    if (s.lr_owner != kNoVcpu) return true;
    if (!s.pending()) return true;
    const u32 target = intid < kNumPrivate ? vcpu : s.target;
    if (!bound_sink_->bound_irq_fired(intid, target)) {
        s.bound = false;  // the dispatcher does not own it (BIND/RELEASE race): an ordinary interrupt again
        return false;
    }
    s.pending_latch = false;  // the edge is the event's now (bindable() keeps hardware-linked interrupts out)
    return true;
}

bool Vgic::bindable(u32 intid) const {
    // PPIs and implemented SPIs. Hardware-linked interrupts (the timers, passed-through SPIs) stay with their owner.
    if (intid < 16 || intid >= nr_irqs_ || intid > kMaxSpiIntid) return false;
    if (intid >= kNumPrivate) return !spis_[intid - kNumPrivate].hw;
    for (u32 v = 0; v < cfg_.nr_vcpus; ++v)
        if (vcpus_[v].priv[intid].hw) return false;
    return true;
}

Status Vgic::set_bound(u32 intid, bool bound) {
    if (!bindable(intid)) return Status::invalid_argument;
    mark_flush_all();
    u32 kick_mask = 0;
    if (intid < kNumPrivate) {
        for (u32 v = 0; v < cfg_.nr_vcpus; ++v) {
            LockGuard g(vcpus_[v].lock);
            IrqState& s = vcpus_[v].priv[intid];
            s.bound = bound;
            note_changed(v, intid, s, kick_mask);  // bind: a pending edge goes to the event; release: delivered
        }
    } else {
        LockGuard d(dist_lock_);
        IrqState& s = spis_[intid - kNumPrivate];
        s.bound = bound;
        note_changed(kNoVcpu, intid, s, kick_mask);
    }
    kick_all(kick_mask);
    return Status::ok;
}

// Unlocked on purpose: called by the SDEI dispatcher, which must not take vGIC locks in its call path (the vGIC
// calls it under them); a byte read sees either the old or the new priority.
u8 Vgic::irq_priority(u32 intid, u32 vcpu) const {
    if (intid < kNumPrivate) return vcpu < cfg_.nr_vcpus ? vcpus_[vcpu].priv[intid].priority : 0xff;
    if (intid >= nr_irqs_ || intid > kMaxSpiIntid) return 0xff;
    return spis_[intid - kNumPrivate].priority;
}

bool Vgic::is_bound(u32 intid, u32 vcpu) {
    if (intid < kNumPrivate && vcpu >= cfg_.nr_vcpus) return false;
    IrqState* s = irq(vcpu, intid);
    if (s == nullptr) return false;
    LockGuard g(intid < kNumPrivate ? vcpus_[vcpu].lock : dist_lock_);
    return s->bound;
}

void Vgic::kick_all(u32 mask) {
    if (kicker_ == nullptr) return;
    while (mask) {
        const u32 t = ctz(mask);
        mask &= mask - 1;
        kicker_->kick(t);
    }
}

void Vgic::hw_pending_changed(IrqState& s, bool was_pending) {
    if (s.hw && hw_ != nullptr && !was_pending && s.pending()) hw_->set_physical_masked(s.pintid, true);
}

void Vgic::hw_cleared(IrqState& s) {
    if (!s.hw || hw_ == nullptr) return;
    hw_->deactivate_physical(s.pintid);
    hw_->set_physical_masked(s.pintid, false);
}

u64 Vgic::iidr() const {
    return gic_iidr::ProductID::make(kProductId) | gic_iidr::Revision::make(impl_rev_.load(MemoryOrder::relaxed)) |
           gic_iidr::Implementer::make(kImplementer);
}

// ---------------------------------------------------------------- injection

// No mark_flush_all(): note_changed() puts a new candidate into its target's fresh set, and marks the owner of an
// interrupt in flight for a full flush; a line that drops leaves a stale candidate the next selection drops.
Status Vgic::set_level(u32 intid, u32 vcpu, bool level) {
    if (intid < 16) return Status::invalid_argument;  // SGIs have no line
    if (intid < kNumPrivate && vcpu >= cfg_.nr_vcpus) return Status::invalid_argument;
    if (irq(vcpu, intid) == nullptr) return Status::invalid_argument;
    u32 kick_mask = 0;
    {
        LockGuard g(intid < kNumPrivate ? vcpus_[vcpu].lock : dist_lock_);
        IrqState& s = *irq(vcpu, intid);
        const bool was_pending = s.pending();
        const bool rising = level && !s.line_level;
        s.line_level = level;
        if (s.edge && rising) s.pending_latch = true;
        hw_pending_changed(s, was_pending);
        // A hardware-linked line dropped before the guest saw it: nothing in flight any more.
        if (s.hw && hw_ != nullptr && was_pending && !s.pending() && !s.active && s.lr_owner == kNoVcpu)
            hw_->set_physical_masked(s.pintid, false);
        note_changed(vcpu, intid, s, kick_mask);
    }
    kick_all(kick_mask);
    return Status::ok;
}

Status Vgic::inject_edge(u32 intid, u32 vcpu) {  // as set_level: note_changed() tells the flush
    if (intid < kNumPrivate && vcpu >= cfg_.nr_vcpus) return Status::invalid_argument;
    if (irq(vcpu, intid) == nullptr) return Status::invalid_argument;
    u32 kick_mask = 0;
    {
        LockGuard g(intid < kNumPrivate ? vcpus_[vcpu].lock : dist_lock_);
        IrqState& s = *irq(vcpu, intid);
        const bool was_pending = s.pending();
        s.pending_latch = true;
        hw_pending_changed(s, was_pending);
        note_changed(vcpu, intid, s, kick_mask);
    }
    kick_all(kick_mask);
    return Status::ok;
}

Status Vgic::map_hw(u32 vcpu, u32 vintid, u32 pintid) {
    mark_flush_all();
    if (vintid < 16 || pintid < 16 || pintid > kMaxSpiIntid) return Status::invalid_argument;
    if (vintid < kNumPrivate && vcpu >= cfg_.nr_vcpus) return Status::invalid_argument;
    if (irq(vcpu, vintid) == nullptr) return Status::invalid_argument;
    LockGuard g(vintid < kNumPrivate ? vcpus_[vcpu].lock : dist_lock_);
    IrqState& s = *irq(vcpu, vintid);
    s.hw = true;
    s.pintid = static_cast<u16>(pintid);
    return Status::ok;
}

Status Vgic::unmap_hw(u32 vcpu, u32 vintid) {
    mark_flush_all();
    if (vintid < kNumPrivate && vcpu >= cfg_.nr_vcpus) return Status::invalid_argument;
    if (irq(vcpu, vintid) == nullptr) return Status::invalid_argument;
    LockGuard g(vintid < kNumPrivate ? vcpus_[vcpu].lock : dist_lock_);
    IrqState& s = *irq(vcpu, vintid);
    if (!s.hw) return Status::not_found;
    if (s.pending() || s.active || s.lr_owner != kNoVcpu) hw_cleared(s);
    s.hw = false;
    return Status::ok;
}

void Vgic::sgi_write(u32 src_vcpu, u64 value, SgiKind kind) {
    if (src_vcpu >= cfg_.nr_vcpus) {
        HV_LOG_RATELIMITED(warn, "vgic: SGI from invalid vCPU %u", src_vcpu);
        return;
    }
    const u32 intid = static_cast<u32>(icc_sgir::INTID::get(value));
    const u32 all = cfg_.nr_vcpus >= 32 ? ~0u : (1u << cfg_.nr_vcpus) - 1;
    u32 targets = 0;
    if (icc_sgir::IRM::get(value)) {
        targets = all & ~(1u << src_vcpu);  // all but self
    } else if (flat_affinity_) {
        // As below with vCPU t at 0.0.0.t: only Aff3.Aff2.Aff1 = 0.0.0 and RS = 0 name any, bit t names vCPU t.
        constexpr u64 kNotAff0 = icc_sgir::Aff3::field_mask | icc_sgir::RS::field_mask | icc_sgir::Aff2::field_mask |
                                 icc_sgir::Aff1::field_mask;
        if ((value & kNotAff0) == 0) targets = static_cast<u32>(icc_sgir::TargetList::get(value)) & all;
    } else {
        // IHI0069H 12.2.23: target PEs Aff3.Aff2.Aff1.<RS * 16 + n> for each bit n of TargetList.
        const u64 aff3 = icc_sgir::Aff3::get(value), aff2 = icc_sgir::Aff2::get(value);
        const u64 aff1 = icc_sgir::Aff1::get(value), rs = icc_sgir::RS::get(value);
        const u64 list = icc_sgir::TargetList::get(value);
        for (u32 t = 0; t < cfg_.nr_vcpus; ++t) {
            const u64 m = vcpus_[t].mpidr;
            if (mpidr::Aff3::get(m) != aff3 || mpidr::Aff2::get(m) != aff2 || mpidr::Aff1::get(m) != aff1) continue;
            const u64 aff0 = mpidr::Aff0::get(m);
            if (aff0 / 16 == rs && ((list >> (aff0 % 16)) & 1)) targets |= 1u << t;
        }
    }
    u32 kick_mask = 0;
    for (u32 m = targets; m;) {
        const u32 t = ctz(m);
        m &= m - 1;
        VcpuState& tv = *opaque(&vcpus_[t]);  // its members from one pointer (-17 instructions per SGI)
        IrqState& s = tv.priv[intid];
        LockGuard g(tv.lock);
        // KVM (and IHI0069H table 12-14 with DS == 1): SGI1R may generate SGIs of either group; SGI0R, and
        // ASGI1R (no other Security state exists), only reach Group 0 SGIs.
        if (kind != SgiKind::sgi1r && s.group1) continue;
        s.pending_latch = true;
        // note_unbound() of a pending SGI of vCPU t, which is never bound (bindable()): in flight or not, its one
        // vCPU is t -- a private interrupt only ever sits in its own vCPU's LRs (irq_lr) -- so t's fresh set, and a
        // kick of t if it is deliverable.
        cand_set(tv, intid);
        if (s.enabled && group_enabled(s.group1)) kick_mask |= 1u << t;
    }
    kick_all(kick_mask);
}

// ---------------------------------------------------------------- list registers

// Both locks held.
void Vgic::select_and_fill(u32 vcpu, VcpuIfState& s) {
    VcpuState& v = vcpus_[vcpu];
    ++v.flush_scans;
    clear_fresh(v);  // the whole candidate set is looked at
    LrSelector sel(s.nr_lrs);
    const LpiGate gate = lpi_gate(v);
    collect_irqs(vcpu, sel);
    collect_lpis(v, gate, sel);
    fill(vcpu, s, sel, gate);
}

// Both locks held, flush_needed and overflow clear: every candidate of this vCPU is in the fresh set (VcpuState::
// fresh), so selecting among them alone gives what the full scan would -- without walking the candidate bitmap,
// the LPI bitmaps or anything else (the direct injection of a new interrupt into a free LR).
void Vgic::select_fresh_and_fill(u32 vcpu, VcpuIfState& s) {
    VcpuState& v = vcpus_[vcpu];
    ++v.flush_scans;
    ++v.flush_incremental;
    LrSelector sel(s.nr_lrs);
    const LpiGate gate = lpi_gate(v);
    for (u32 words = v.fresh_words.load(MemoryOrder::relaxed); words != 0; words &= words - 1) {
        const u32 w = ctz(words);
        const u64 bits = v.fresh[w].load(MemoryOrder::relaxed);
        v.fresh[w].store(0, MemoryOrder::relaxed);
        collect_irq_bits(vcpu, w, bits, sel);
    }
    v.fresh_words.store(0, MemoryOrder::relaxed);
    const u32 nl = v.fresh_lpi_count.load(MemoryOrder::relaxed);
    for (u32 i = 0; i < nl; ++i) collect_lpi(v, gate, v.fresh_lpi[i], sel);
    v.fresh_lpi_count.store(0, MemoryOrder::relaxed);
    if (check_incremental_) check_fresh_selection(vcpu, s, sel);
    fill(vcpu, s, sel, gate);
}

// set_check_incremental(): the selection the full scan makes must be the fresh set's, LR for LR.
void Vgic::check_fresh_selection(u32 vcpu, const VcpuIfState& s, LrSelector fresh) {
    LrSelector full(s.nr_lrs);
    collect_irqs(vcpu, full);
    collect_lpis(vcpus_[vcpu], lpi_gate(vcpus_[vcpu]), full);
    const LrMaintenance a = full.finish(), b = fresh.finish();
    bool same = full.count() == fresh.count() && full.overflowed() == fresh.overflowed() &&
                a.underflow == b.underflow && a.no_pending == b.no_pending && a.eoi_outside == b.eoi_outside;
    for (u32 i = 0; same && i < full.count(); ++i) {
        const LrCandidate &x = full.at(i), &y = fresh.at(i);
        same = x.intid == y.intid && x.priority == y.priority && x.active == y.active && x.pending == y.pending;
    }
    if (!same)
        panic("vgic: vcpu%u incremental flush chose %u LRs (first INTID %u), the full scan %u (first INTID %u)", vcpu,
              fresh.count(), fresh.count() ? fresh.at(0).intid : 0, full.count(), full.count() ? full.at(0).intid : 0);
}

// Encode the selection into LRs, LR 0 first, and the maintenance enables into ICH_HCR.
void Vgic::fill(u32 vcpu, VcpuIfState& s, LrSelector& sel, const LpiGate& gate) {
    VcpuState& v = vcpus_[vcpu];
    const LrMaintenance m = sel.finish();
    const u32 n = sel.count();
    for (u32 i = 0; i < n; ++i) {
        const LrCandidate& c = sel.at(i);
        s.lr[i] = c.intid >= kLpiBase ? lpi_lr(v, gate, c) : irq_lr(vcpu, c);
    }
    // LRs beyond nr_lrs are never written (the selector holds at most nr_lrs) and stay 0.
    for (u32 i = n; i < min<u32>(s.nr_lrs, kMaxLrs); ++i) s.lr[i] = 0;
    s.used_lrs = n;
    s.hcr = hcr_for_entry(s.hcr, m);
    v.overflow = sel.overflowed();  // a candidate waits outside the LRs: the next flush scans everything
}

// SGIs, PPIs and SPIs from the candidate bitmap; stale bits (routed elsewhere, in another vCPU's LRs, idle) are
// dropped.
void Vgic::collect_irqs(u32 vcpu, LrSelector& sel) {
    VcpuState& v = vcpus_[vcpu];
    for (u32 w = 0; w < kMaxIrqs / 64 && w * 64 < nr_irqs_; ++w)  // no candidate beyond the implemented INTIDs
        collect_irq_bits(vcpu, w, v.candidates[w].load(MemoryOrder::relaxed), sel);
}

// The candidates among `bits` of candidate word `w`.
void Vgic::collect_irq_bits(u32 vcpu, u32 w, u64 bits, LrSelector& sel) {
    VcpuState& v = vcpus_[vcpu];
    for (; bits != 0; bits &= bits - 1) {
        const u32 intid = w * 64 + ctz(bits);
        const IrqState* st = irq(vcpu, intid);
        if (st == nullptr || (intid >= kNumPrivate && st->target != vcpu) || st->lr_owner != kNoVcpu ||
            (!st->pending() && !st->active) || (st->bound && !st->active)) {
            cand_clear(v, intid);
            continue;
        }
        const bool pend = st->pending() && st->enabled && group_enabled(st->group1);
        if (pend || st->active) sel.consider({intid, st->priority, st->active, pend});
    }
}

// One LPI, as collect_lpis() offers it: deliverable (pending), else active-only, else nothing.
void Vgic::collect_lpi(const VcpuState& v, const LpiGate& g, usize idx, LrSelector& sel) const {
    const u32 intid = kLpiBase + static_cast<u32>(idx);
    if (lpi_deliverable(v, g, idx))
        sel.consider({intid, static_cast<u8>(lpi_cfg(idx) & 0xfc), v.lpi_active.test(idx), true});
    else if (v.lpi_active.test(idx))
        sel.consider({intid, static_cast<u8>(lpi_cfg(idx) & 0xfc), true, false});
}

// Pending LPIs -- pending = set in lpi_pending and deliverable, see lpi_deliverable() --, then active-only ones.
void Vgic::collect_lpis(const VcpuState& v, const LpiGate& g, LrSelector& sel) const {
    if (g.on) {
        for (usize i = v.lpi_pending.find_next(0); i < kNumLpis; i = v.lpi_pending.find_next(i + 1)) {
            if (kLpiBase + i >= g.limit) break;
            const u8 cfgb = lpi_cfg(i);
            if (lpi_prop::Enable::get(cfgb))
                sel.consider(
                    {kLpiBase + static_cast<u32>(i), static_cast<u8>(cfgb & 0xfc), v.lpi_active.test(i), true});
        }
    }
    for (usize i = v.lpi_active.find_next(0); i < kNumLpis; i = v.lpi_active.find_next(i + 1)) {
        if (lpi_deliverable(v, g, i)) continue;  // already offered above
        sel.consider({kLpiBase + static_cast<u32>(i), static_cast<u8>(lpi_cfg(i) & 0xfc), true, false});
    }
}

bool Vgic::lpi_deliverable(const VcpuState& v, const LpiGate& g, usize idx) const {
    return g.on && v.lpi_pending.test(idx) && lpi_prop::Enable::get(lpi_cfg(idx)) && kLpiBase + idx < g.limit;
}

// The LR of an LPI: pending state moves into the LR (LPIs have edge semantics); the LR holds the active state
// until fold().
u64 Vgic::lpi_lr(VcpuState& v, const LpiGate& g, const LrCandidate& c) {
    const usize idx = c.intid - kLpiBase;
    const bool p = lpi_deliverable(v, g, idx);
    if (p) v.lpi_pending.clear(idx);
    v.lpi_active.clear(idx);
    return ich_lr::vINTID::make(c.intid) | ich_lr::Priority::make(c.priority) | ich_lr::Group::make(1) |
           ich_lr::State::make((p ? ich_lr::kStatePending : 0) | (c.active ? ich_lr::kStateActive : 0));
}

// The LR of an SGI/PPI/SPI, which this vCPU's LRs now own.
u64 Vgic::irq_lr(u32 vcpu, const LrCandidate& c) {
    IrqState& st = *irq(vcpu, c.intid);
    bool p = st.pending() && st.enabled && group_enabled(st.group1);
    const bool a = st.active;
    if (st.hw && a) p = false;  // never pending+active with HW == 1 (as KVM); re-sent after deactivation
    u64 lr = ich_lr::vINTID::make(c.intid) | ich_lr::Priority::make(c.priority) | ich_lr::Group::make(st.group1) |
             ich_lr::State::make((p ? ich_lr::kStatePending : 0) | (a ? ich_lr::kStateActive : 0));
    if (st.hw) {
        lr |= ich_lr::HW::make(1) | ich_lr::pINTID::make(st.pintid);
    } else if (!st.edge && p) {
        lr |= ich_lr::EOI::make(1);  // maintenance interrupt on EOI so the level is re-sampled
    }
    if (p && st.edge) st.pending_latch = false;  // the edge is consumed by the LR
    st.lr_owner = static_cast<u8>(vcpu);
    return lr;
}

void Vgic::flush(u32 vcpu, VcpuIfState& s) {
    if (vcpu >= cfg_.nr_vcpus) return;
    VcpuState& v = vcpus_[vcpu];
    u32 kick_mask = 0;
    {
        LockGuard g(v.lock);
        LockGuard d(dist_lock_);
        flush_locked(vcpu, s, kick_mask);
    }
    kick_all(kick_mask & ~(1u << vcpu));
}

// Both locks held.
void Vgic::flush_locked(u32 vcpu, VcpuIfState& s, u32& kick_mask) {
    VcpuState& v = vcpus_[vcpu];
    // flush without fold: take the old state back first
    if (s.used_lrs != 0 || ich_hcr::EOIcount::get(s.hcr) != 0) fold_locked(vcpu, s, kick_mask);
    if (v.flush_needed.exchange(false, MemoryOrder::relaxed) || v.overflow) {
        select_and_fill(vcpu, s);
    } else if (v.fresh_words.load(MemoryOrder::relaxed) != 0 || v.fresh_lpi_count.load(MemoryOrder::relaxed) != 0) {
        select_fresh_and_fill(vcpu, s);
    } else {
        // No candidate at all: the last selection gave every candidate an LR and fold found none of them live
        // (else it is in the fresh set), and nothing else changed. Empty LRs, no maintenance.
        s.hcr = ich_hcr::EOIcount::set(ich_hcr::En::set(s.hcr, 1), 0);
        for (u64& lr : s.lr) lr = 0;
        s.used_lrs = 0;
    }
}

// flush_live() of everything but one fresh LPI alone (flush_lpi_live): an SGI/PPI alone under the vCPU lock, else
// the paths that take both locks. `vcpu` is in range (flush_live checked).
bool Vgic::flush_live_any(u32 vcpu, VcpuIfState& s) {
    VcpuState& v = vcpus_[vcpu];
    if (v.fresh_lpi_count.load(MemoryOrder::relaxed) == 0) {
        LockGuard g(v.lock);
        if (flush_private_one(vcpu, s)) return true;
    }
    return flush_live_locked(vcpu, s);  // (what the one-candidate paths folded is a state fold() could leave)
}

// `vcpu` is in range (flush_live checked). False: flush_live_locked() goes on (in flush_live(), after this frame).
bool Vgic::flush_lpi_live(u32 vcpu, VcpuIfState& s) {
    LockGuard g(vcpus_[vcpu].lock);
    return flush_lpi_one(vcpu, s);
}

bool Vgic::flush_live_locked(u32 vcpu, VcpuIfState& s) {
    VcpuState& v = vcpus_[vcpu];
    u32 kick_mask = 0;
    bool direct = false;
    {
        LockGuard g(v.lock);
        LockGuard d(dist_lock_);
        direct = flush_direct_one(vcpu, s, kick_mask) || flush_direct(vcpu, s, kick_mask);
        if (!direct) flush_locked(vcpu, s, kick_mask);
    }
    kick_all(kick_mask & ~(1u << vcpu));
    return direct;
}

// What the direct flush does with one fresh candidate (both locks held, after the finished LRs were folded).
enum class Vgic::DirectKind : u8 {
    stale,    // nothing to deliver here any more: dropped from the candidates, as collect_irq_bits() drops it
    idle,     // pending but not deliverable (disabled, group off): no LR, stays a candidate
    append,   // deliverable, not active, in no LR: a free LR takes it
    complex,  // anything else (in one of the live LRs, active): the full flush
};

Vgic::DirectKind Vgic::direct_kind_irq(u32 vcpu, u32 intid) {
    const IrqState* st = irq(vcpu, intid);
    if (st == nullptr || (intid >= kNumPrivate && st->target != vcpu)) return DirectKind::stale;
    if (st->lr_owner == vcpu) return DirectKind::complex;  // in a live LR: fold and select again
    if (st->lr_owner != kNoVcpu || (!st->pending() && !st->active) || (st->bound && !st->active))
        return DirectKind::stale;
    if (st->active) return DirectKind::complex;
    return st->enabled && group_enabled(st->group1) ? DirectKind::append : DirectKind::idle;
}

Vgic::DirectKind Vgic::direct_kind_lpi(const VcpuState& v, const VcpuIfState& s, const LpiGate& g, u32 idx) const {
    if (v.lpi_active.test(idx)) return DirectKind::complex;
    if (!lpi_deliverable(v, g, idx)) return DirectKind::idle;  // collect_lpi() offers it nothing either
    const u32 intid = kLpiBase + idx;
    for (u32 i = 0; i < s.used_lrs; ++i)
        if (ich_lr::vINTID::get(s.lr[i]) == intid) return DirectKind::complex;  // pending again while in a live LR
    return DirectKind::append;
}

// Both locks held. The IRQ exit's flush with the guest's LRs kept (docs/vgic.md "Direct flush"): `s.lr` holds the
// LRs as the CPU has them now. When the last selection left no candidate outside the LRs (neither flush_needed nor
// overflow) and no EOI was counted outside them, every candidate of this vCPU is in a live LR or in the fresh set.
// The LRs the guest finished (state 0) are folded as fold() folds them; the live ones stay as the guest has them
// (what they hold is what fold + selection would put back: every change to an interrupt they hold notes it in the
// fresh set, which sends it to the full flush below); each fresh candidate takes a free LR. The result is the
// selection the full flush makes -- the same set of LRs, possibly in another order, which the CPU interface does not
// look at (IHI0069H 4.7: the highest-priority pending LR is signalled, whatever its index). False, with only the
// finished LRs folded (a state fold() could have left), when a fresh candidate needs more: the caller runs the full
// flush.
bool Vgic::flush_direct(u32 vcpu, VcpuIfState& s, u32& kick_mask) {
    VcpuState& v = vcpus_[vcpu];
    const u32 nr_lrs = min<u32>(s.nr_lrs, kMaxLrs);
    if (!direct_flush_allowed(v, s)) return false;
    for (u32 i = 0; i < s.used_lrs; ++i) {
        const u64 lr = s.lr[i];
        if (ich_lr::HW::get(lr) != 0) return false;  // its fold settles the physical side: the full flush
        const u32 intid = static_cast<u32>(ich_lr::vINTID::get(lr));
        if (ich_lr::State::get(lr) == 0) continue;
        for (u32 j = 0; j < i; ++j)
            if (ich_lr::State::get(s.lr[j]) != 0 && ich_lr::vINTID::get(s.lr[j]) == intid) return false;
        if (intid >= kLpiBase) continue;
        const IrqState* st = irq(vcpu, intid);
        if (st == nullptr || st->lr_owner != vcpu) return false;  // not what the last flush wrote: fold() drops it
    }
    u32 kept = 0;
    for (u32 i = 0; i < s.used_lrs; ++i) {
        const u64 lr = s.lr[i];
        if (ich_lr::State::get(lr) == 0) {
            fold_lr(vcpu, lr, kick_mask);  // finished: as fold() (a new edge meanwhile is in the fresh set)
            continue;
        }
        s.lr[kept++] = lr;
    }
    for (u32 i = kept; i < s.used_lrs; ++i) s.lr[i] = 0;
    s.used_lrs = kept;
    if (v.flush_needed.load(MemoryOrder::relaxed)) return false;  // the fold overflowed the fresh LPI list
    // Check every fresh candidate before taking any of them (the full flush needs the fresh set whole).
    const LpiGate gate = lpi_gate(v);
    u32 append = 0;
    const u32 words = v.fresh_words.load(MemoryOrder::relaxed);
    for (u32 m = words; m != 0; m &= m - 1) {
        const u32 w = ctz(m);
        for (u64 bits = v.fresh[w].load(MemoryOrder::relaxed); bits != 0; bits &= bits - 1) {
            const DirectKind k = direct_kind_irq(vcpu, w * 64 + ctz(bits));
            if (k == DirectKind::complex) return false;
            append += k == DirectKind::append;
        }
    }
    const u32 nl = v.fresh_lpi_count.load(MemoryOrder::relaxed);
    for (u32 i = 0; i < nl; ++i) {
        const DirectKind k = direct_kind_lpi(v, s, gate, v.fresh_lpi[i]);
        if (k == DirectKind::complex) return false;
        append += k == DirectKind::append;
    }
    if (kept + append > nr_lrs) return false;  // the selection must choose: the full flush
    if (check_incremental_) check_direct_selection(vcpu, s, gate, nr_lrs - kept, append);
    ++v.flush_scans;
    ++v.flush_incremental;
    for (u32 m = words; m != 0; m &= m - 1) {
        const u32 w = ctz(m);
        u64 bits = v.fresh[w].load(MemoryOrder::relaxed);
        v.fresh[w].store(0, MemoryOrder::relaxed);
        for (; bits != 0; bits &= bits - 1) {
            const u32 intid = w * 64 + ctz(bits);
            const DirectKind k = direct_kind_irq(vcpu, intid);
            if (k == DirectKind::stale) cand_clear(v, intid);
            if (k != DirectKind::append) continue;
            s.lr[kept++] = irq_lr(vcpu, {intid, irq(vcpu, intid)->priority, false, true});
        }
    }
    v.fresh_words.store(0, MemoryOrder::relaxed);
    for (u32 i = 0; i < nl; ++i) {
        const u32 idx = v.fresh_lpi[i];
        if (direct_kind_lpi(v, s, gate, idx) != DirectKind::append) continue;
        s.lr[kept++] = lpi_lr(v, gate, {kLpiBase + idx, static_cast<u8>(lpi_cfg(idx) & 0xfc), false, true});
        s.used_lrs = kept;  // the next LPI's check sees this one
    }
    v.fresh_lpi_count.store(0, MemoryOrder::relaxed);
    s.used_lrs = kept;
    s.hcr = hcr_for_entry(s.hcr, LrMaintenance{});
    return true;
}

// The vCPU's lock held (not the distributor's). flush_direct_one() for an SGI or PPI over LRs that hold only private
// interrupts the guest finished -- the IPI: nothing of the distributor is touched but GICD_CTLR's group enables
// (dist_ctlr_, an atomic). False with nothing changed otherwise.
// fold_lr() of a finished LR (state 0, not hardware-linked) that holds private interrupt `id` of `vcpu` (v.lock held):
// inactive, a level's soft pending state consumed; still pending (a level line still high) or bound, it is noted
// again -- unless it is `skip`, the candidate the caller is about to give an LR.
void Vgic::fold_finished_private(u32 vcpu, VcpuState& v, u32 id, u32 skip) {
    IrqState& f = v.priv[id];
    if (f.lr_owner != vcpu) return;  // as fold_lr: not what the last flush wrote
    f.lr_owner = kNoVcpu;
    f.active = false;
    if (!f.edge) f.pending_latch = false;
    if (id != skip && (f.pending() || f.bound)) note_private(vcpu, id, f);  // a second candidate
}

// note_changed() of a private interrupt of `vcpu` (v.lock held): it can only name this vCPU, which is about to enter,
// so nothing is kicked. Out of line: the direct flushes that call it keep no kick mask (no stack slot, no canary).
void Vgic::note_private(u32 vcpu, u32 intid, IrqState& s) {
    u32 kick_mask = 0;
    note_changed(vcpu, intid, s, kick_mask);
}

bool Vgic::flush_private_one(u32 vcpu, VcpuIfState& s) {
    VcpuState& v = vcpus_[vcpu];
    const u32 used = s.used_lrs;
    if (!direct_flush_allowed(v, s) || v.fresh_lpi_count.load(MemoryOrder::relaxed) != 0 ||
        v.fresh_words.load(MemoryOrder::relaxed) != 1)
        return false;
    const u64 bits = v.fresh[0].load(MemoryOrder::relaxed);
    if (bits == 0 || (bits & (bits - 1)) != 0) return false;
    const u32 intid = ctz(bits);
    if (intid >= kNumPrivate) return false;
    // Every LR finished, not hardware-linked, and private (an SPI's state is the distributor lock's).
    constexpr u64 kLive = ich_lr::State::field_mask | ich_lr::HW::field_mask;
    for (u32 i = 0; i < used; ++i)
        if ((s.lr[i] & kLive) != 0 || ich_lr::vINTID::get(s.lr[i]) >= kNumPrivate) return false;
    IrqState& st = v.priv[intid];
    if (st.hw || st.bound || st.active || !st.pending() || !st.enabled || !group_enabled(st.group1) ||
        (st.lr_owner != kNoVcpu && st.lr_owner != vcpu))
        return false;
    for (u32 i = 0; i < used; ++i) {
        const u32 id = static_cast<u32>(ich_lr::vINTID::get(s.lr[i]));
        s.lr[i] = 0;
        fold_finished_private(vcpu, v, id, intid);
    }
    s.used_lrs = 0;
    if (v.fresh_words.load(MemoryOrder::relaxed) != 1 || v.fresh[0].load(MemoryOrder::relaxed) != bits ||
        st.lr_owner != kNoVcpu)
        return false;  // a second candidate, or the LR count was not the model's: flush_direct() from here
    if (check_incremental_) {
        LockGuard d(dist_lock_);  // the full scan looks at SPIs too
        check_direct_selection(vcpu, s, lpi_gate(v), min<u32>(s.nr_lrs, kMaxLrs), 1);
    }
    ++v.flush_scans;
    ++v.flush_incremental;
    v.fresh[0].store(0, MemoryOrder::relaxed);
    v.fresh_words.store(0, MemoryOrder::relaxed);
    // irq_lr() of a pending, inactive, software interrupt; the edge moves into the LR.
    u64 lr = ich_lr::vINTID::make(intid) | ich_lr::Priority::make(st.priority) | ich_lr::Group::make(st.group1) |
             ich_lr::State::make(ich_lr::kStatePending);
    if (st.edge)
        st.pending_latch = false;
    else
        lr |= ich_lr::EOI::make(1);  // maintenance interrupt on EOI so the level is re-sampled
    st.lr_owner = static_cast<u8>(vcpu);
    s.lr[0] = lr;
    s.used_lrs = 1;
    s.hcr = hcr_for_entry(s.hcr, LrMaintenance{});
    return true;
}

// The vCPU's lock held (not the distributor's). flush_private_one() for an LPI (the ITS's INT, a passed-through MSI on
// the shadow path): exactly one fresh candidate, an LPI, over LRs that hold only LPIs and private interrupts the guest
// finished. False with nothing changed, or (a second candidate after the fold) with the finished LRs folded.
// What it reads of the distributor's is lock-free: GICD_CTLR's group enables (dist_ctlr_), the ID limit and the
// LPI's configuration byte (lpi_cfg(), read once) -- each one single-copy-atomic load, so the decision is the one
// the locked flush makes with the distributor lock taken just before or just after the writer of that value
// (docs/vgic.md "LPI configuration without the distributor lock"). Everything else it touches is the vCPU's.
bool Vgic::flush_lpi_one(u32 vcpu, VcpuIfState& s) {
    VcpuState& v = *opaque(&vcpus_[vcpu]);  // its members from one pointer
    const u32 used = s.used_lrs;
    if (!direct_flush_allowed(v, s) || v.fresh_lpi_count.load(MemoryOrder::relaxed) != 1 ||
        v.fresh_words.load(MemoryOrder::relaxed) != 0)
        return false;
    const u32 idx = v.fresh_lpi[0];
    const LpiGate gate = lpi_gate(v);
    const u8 cfg = lpi_cfg(idx);  // the one read: enable and priority of the same configuration
    if (v.lpi_active.test(idx) || !gate.on || !v.lpi_pending.test(idx) || !lpi_prop::Enable::get(cfg) ||
        kLpiBase + idx >= gate.limit)
        return false;  // not lpi_deliverable()
    constexpr u64 kLive = ich_lr::State::field_mask | ich_lr::HW::field_mask;
    bool privates = false;
    for (u32 i = 0; i < used; ++i) {
        const u64 id = ich_lr::vINTID::get(s.lr[i]);
        if ((s.lr[i] & kLive) != 0 || (id >= kNumPrivate && id < kLpiBase)) return false;
        privates |= id < kNumPrivate;
    }
    // With a private interrupt among the finished LRs, or the full-scan check on: out of line, so that this path
    // calls nothing and needs no registers saved across a call.
    if (privates || check_incremental_) [[unlikely]]
        return flush_lpi_one_folding(vcpu, s, cfg);
    // The finished LRs, as fold_lr() folds them: LPIs only (the ITS's stream), neither pending nor active any more;
    // they note nothing, so the fresh set stays as checked above.
    for (u32 i = 0; i < used; ++i) {
        const u32 id = static_cast<u32>(ich_lr::vINTID::get(s.lr[i]));
        s.lr[i] = 0;
        if (id < kMaxIntid) v.lpi_active.clear(id - kLpiBase);
    }
    give_lpi_lr0(v, s, idx, cfg);
    return true;
}

// flush_lpi_one() from its fold on, for finished LRs that hold private interrupts too (or with the full-scan check).
bool Vgic::flush_lpi_one_folding(u32 vcpu, VcpuIfState& s, u8 cfg) {
    VcpuState& v = vcpus_[vcpu];
    const u32 idx = v.fresh_lpi[0];
    for (u32 i = 0; i < s.used_lrs; ++i) {
        const u32 id = static_cast<u32>(ich_lr::vINTID::get(s.lr[i]));
        s.lr[i] = 0;
        if (id < kNumPrivate)
            fold_finished_private(vcpu, v, id, kMaxIntid);
        else if (id < kMaxIntid)
            v.lpi_active.clear(id - kLpiBase);
    }
    s.used_lrs = 0;
    // A private interrupt still pending (a level line still high) is a second candidate: flush_direct() from here.
    if (v.fresh_words.load(MemoryOrder::relaxed) != 0 || v.fresh_lpi_count.load(MemoryOrder::relaxed) != 1 ||
        v.flush_needed.load(MemoryOrder::relaxed))
        return false;
    if (check_incremental_) {
        LockGuard d(dist_lock_);  // the full scan looks at SPIs too
        check_direct_selection(vcpu, s, lpi_gate(v), min<u32>(s.nr_lrs, kMaxLrs), 1);
    }
    give_lpi_lr0(v, s, idx, cfg);
    return true;
}

// lpi_lr() of a deliverable, inactive LPI `idx` (configuration `cfg`) as the only LR, its pending state moved into the
// LR; the fresh set, which held it alone, emptied (v.lock held, the LRs folded).
void Vgic::give_lpi_lr0(VcpuState& v, VcpuIfState& s, u32 idx, u8 cfg) {
    ++v.flush_scans;
    ++v.flush_incremental;
    v.fresh_lpi_count.store(0, MemoryOrder::relaxed);
    v.lpi_pending.clear(idx);
    s.lr[0] = ich_lr::vINTID::make(kLpiBase + idx) | ich_lr::Priority::make(cfg & 0xfc) | ich_lr::Group::make(1) |
              ich_lr::State::make(ich_lr::kStatePending);
    s.used_lrs = 1;
    s.hcr = hcr_for_entry(s.hcr, LrMaintenance{});
}

// Both locks held. flush_direct() for the exit it is made for -- an IPI or an LPI to a vCPU whose LRs hold only what
// the guest has finished: exactly one fresh candidate, every LR in use finished (state 0, not hardware-linked). The
// candidate is checked before anything changes (false: nothing done, flush_direct() decides); then the finished LRs
// are folded (false if that made a second candidate: flush_direct() goes on from the folded state) and the candidate
// takes LR 0. One pass instead of flush_direct()'s check and apply passes.
bool Vgic::flush_direct_one(u32 vcpu, VcpuIfState& s, u32& kick_mask) {
    VcpuState& v = vcpus_[vcpu];
    const u32 used = s.used_lrs;
    if (!direct_flush_allowed(v, s)) return false;
    constexpr u64 kLive = ich_lr::State::field_mask | ich_lr::HW::field_mask;
    for (u32 i = 0; i < used; ++i)
        if ((s.lr[i] & kLive) != 0) return false;
    const u32 words = v.fresh_words.load(MemoryOrder::relaxed);
    const u32 nl = v.fresh_lpi_count.load(MemoryOrder::relaxed);
    u32 intid = 0;
    if (nl == 0 && words != 0 && (words & (words - 1)) == 0) {
        const u64 bits = v.fresh[ctz(words)].load(MemoryOrder::relaxed);
        if (bits == 0 || (bits & (bits - 1)) != 0) return false;
        intid = ctz(words) * 64 + ctz(bits);
    } else if (nl == 1 && words == 0) {
        intid = kLpiBase + v.fresh_lpi[0];
    } else {
        return false;
    }
    const LpiGate gate = lpi_gate(v);
    IrqState* st = nullptr;
    if (intid >= kLpiBase) {
        const u32 idx = intid - kLpiBase;
        if (v.lpi_active.test(idx) || !lpi_deliverable(v, gate, idx)) return false;
    } else {
        st = irq(vcpu, intid);
        // Deliverable, not active, and in no LR but (finished) ours: what selection would give LR 0 alone.
        if (st == nullptr || (intid >= kNumPrivate && st->target != vcpu) || st->hw || st->bound || st->active ||
            !st->pending() || !st->enabled || !group_enabled(st->group1) ||
            (st->lr_owner != kNoVcpu && st->lr_owner != vcpu))
            return false;
    }
    for (u32 i = 0; i < used; ++i) {
        fold_lr(vcpu, s.lr[i], kick_mask);
        s.lr[i] = 0;
    }
    s.used_lrs = 0;
    // A folded LR whose interrupt is pending again (a level line still high) is a second candidate: flush_direct()
    // takes both (the state is a consistent one: what fold() leaves).
    if (v.fresh_words.load(MemoryOrder::relaxed) != words || v.fresh_lpi_count.load(MemoryOrder::relaxed) != nl ||
        v.flush_needed.load(MemoryOrder::relaxed) ||
        (words != 0 && (v.fresh[ctz(words)].load(MemoryOrder::relaxed) & ~bit(intid % 64)) != 0) ||
        (st != nullptr && st->lr_owner != kNoVcpu))  // in none of the folded LRs: the LR count was not the model's
        return false;
    if (check_incremental_) check_direct_selection(vcpu, s, gate, min<u32>(s.nr_lrs, kMaxLrs), 1);
    ++v.flush_scans;
    ++v.flush_incremental;
    if (st != nullptr) {
        v.fresh[intid / 64].store(0, MemoryOrder::relaxed);
        v.fresh_words.store(0, MemoryOrder::relaxed);
        s.lr[0] = irq_lr(vcpu, {intid, st->priority, false, true});
    } else {
        v.fresh_lpi_count.store(0, MemoryOrder::relaxed);
        s.lr[0] = lpi_lr(v, gate, {intid, static_cast<u8>(lpi_cfg(intid - kLpiBase) & 0xfc), false, true});
    }
    s.used_lrs = 1;
    s.hcr = hcr_for_entry(s.hcr, LrMaintenance{});
    return true;
}

// set_check_incremental(): the full scan's selection among the LRs the direct flush left free must be exactly the
// candidates it appends (the live LRs' interrupts are not candidates: their lr_owner is this vCPU, or, LPIs, their
// pending state is in the LR).
void Vgic::check_direct_selection(u32 vcpu, const VcpuIfState& s, LpiGate gate, u32 free, u32 append) {
    LrSelector full(free);
    collect_irqs(vcpu, full);
    collect_lpis(vcpus_[vcpu], gate, full);
    (void)full.finish();
    bool same = !full.overflowed() && full.count() == append;
    for (u32 i = 0; same && i < full.count(); ++i) {
        const LrCandidate& c = full.at(i);
        same = !c.active && c.pending &&
               (c.intid >= kLpiBase ? direct_kind_lpi(vcpus_[vcpu], s, gate, c.intid - kLpiBase)
                                    : direct_kind_irq(vcpu, c.intid)) == DirectKind::append;
    }
    if (!same)
        panic("vgic: vcpu%u direct flush would append %u LRs, the full scan chose %u (overflow %d)", vcpu, append,
              full.count(), full.overflowed());
}

u64 Vgic::flush_scans(u32 vcpu) const {
    if (vcpu >= cfg_.nr_vcpus) return 0;
    LockGuard g(vcpus_[vcpu].lock);
    return vcpus_[vcpu].flush_scans;
}

u64 Vgic::flush_incremental(u32 vcpu) const {
    if (vcpu >= cfg_.nr_vcpus) return 0;
    LockGuard g(vcpus_[vcpu].lock);
    return vcpus_[vcpu].flush_incremental;
}

// Both locks held. IHI0069H 12.5.7 (ICH_HCR_EL2.EOIcount): with EOImode 0 each counted EOI dropped the running
// priority and deactivated an interrupt that had no LR, i.e. the highest-priority active one outside the LRs.
void Vgic::retire_eoicount(u32 vcpu, VcpuIfState& s, u32& kick_mask) {
    VcpuState& v = vcpus_[vcpu];
    u32 count = static_cast<u32>(ich_hcr::EOIcount::get(s.hcr));
    s.hcr = ich_hcr::EOIcount::set(s.hcr, 0);
    if (ich_vmcr::VEOIM::get(s.vmcr)) return;  // EOImode 1: deactivation is a separate DIR
    for (; count > 0; --count) {
        u32 best = kMaxIntid;
        u32 best_prio = 0x100;
        for (u32 w = 0; w < kMaxIrqs / 64 && w * 64 < nr_irqs_; ++w) {
            for (u64 bits = v.candidates[w].load(MemoryOrder::relaxed); bits != 0; bits &= bits - 1) {
                const u32 intid = w * 64 + ctz(bits);  // ascending: ties keep the lowest INTID
                if (intid >= nr_irqs_) break;
                const IrqState* st = irq(vcpu, intid);
                if (st == nullptr || !st->active || st->lr_owner != kNoVcpu) continue;
                if (intid >= kNumPrivate && st->target != vcpu) continue;
                if (st->priority < best_prio) best = intid, best_prio = st->priority;
            }
        }
        for (usize i = v.lpi_active.find_next(0); i < kNumLpis; i = v.lpi_active.find_next(i + 1)) {
            const u32 prio = lpi_cfg(i) & 0xfcu;
            if (prio < best_prio) best = kLpiBase + static_cast<u32>(i), best_prio = prio;
        }
        if (best == kMaxIntid) return;  // nothing to retire: the EOI hit no active interrupt
        if (best >= kLpiBase) {
            v.lpi_active.clear(best - kLpiBase);
            continue;
        }
        IrqState& st = *irq(vcpu, best);
        st.active = false;
        if (st.hw) hw_cleared(st);
        note_changed(vcpu, best, st, kick_mask);
    }
}

// Both locks held.
void Vgic::fold_locked(u32 vcpu, VcpuIfState& s, u32& kick_mask) {
    VcpuState& v = vcpus_[vcpu];
    // LRs coming back need no full flush: each interrupt still pending or active goes back into the fresh set
    // (note_changed -> cand_set, note_fresh_lpi). EOIs outside the LRs are rare: everything is looked at again.
    if (ich_hcr::EOIcount::get(s.hcr) != 0) mark_flush(v);
    if (ich_hcr::EOIcount::get(s.hcr) != 0)
        retire_eoicount(vcpu, s, kick_mask);  // before the LRs come back, so LR-held interrupts are excluded
    const u32 n = min<u32>(s.used_lrs, kMaxLrs);
    for (u32 i = 0; i < n; ++i) {
        fold_lr(vcpu, s.lr[i], kick_mask);
        s.lr[i] = 0;
    }
    s.used_lrs = 0;
}

// Both locks held. One LR back into the model.
void Vgic::fold_lr(u32 vcpu, u64 lr, u32& kick_mask) {
    VcpuState& v = vcpus_[vcpu];
    const u32 intid = static_cast<u32>(ich_lr::vINTID::get(lr));
    const u64 state = ich_lr::State::get(lr);
    const bool p = state & ich_lr::kStatePending;
    const bool a = state & ich_lr::kStateActive;
    if (intid >= kLpiBase) {
        if (intid >= kMaxIntid) return;
        const usize idx = intid - kLpiBase;
        if (p) v.lpi_pending.set(idx);
        v.lpi_active.assign(idx, a);
        if (p || a) note_fresh_lpi(v, static_cast<u32>(idx));
        return;
    }
    IrqState* st = irq(vcpu, intid);
    if (st == nullptr || st->lr_owner != vcpu) return;
    st->lr_owner = kNoVcpu;
    st->active = a;
    if (st->edge) {
        if (p) st->pending_latch = true;  // not yet acknowledged: still pending
    } else if (!p) {
        st->pending_latch = false;  // acknowledged: soft pending state of a level interrupt is consumed (KVM)
    }
    if (st->hw && state == 0) {
        // The guest deactivated it, which deactivated the physical interrupt (HW == 1). The physical line
        // is the source of truth for the level: it re-asserts (and is re-injected) if still high.
        if (!st->edge) st->line_level = false;
        if (hw_ != nullptr) hw_->set_physical_masked(st->pintid, false);
    }
    note_changed(vcpu, intid, *st, kick_mask);
}

void Vgic::fold(u32 vcpu, VcpuIfState& s) {
    if (vcpu >= cfg_.nr_vcpus) return;
    u32 kick_mask = 0;
    {
        LockGuard g(vcpus_[vcpu].lock);
        LockGuard d(dist_lock_);
        fold_locked(vcpu, s, kick_mask);
    }
    kick_all(kick_mask & ~(1u << vcpu));
}

bool Vgic::has_pending_for_wakeup(u32 vcpu) {
    if (vcpu >= cfg_.nr_vcpus) return false;
    VcpuState& v = vcpus_[vcpu];
    LockGuard g(v.lock);
    LockGuard d(dist_lock_);
    const u64 vmcr = v.cpu_if.vmcr;
    const u32 pmr = static_cast<u32>(ich_vmcr::VPMR::get(vmcr));
    // The running priority (IHI0069H 4.8): the lowest set bit of the active-priority registers is the group priority
    // of the highest-priority active interrupt; only a strictly higher group priority preempts it. Without this, an
    // interrupt masked by the running priority ended every WFI at once and the vCPU spun (docs/isolation.md).
    const u32 pre_bits = static_cast<u32>(ich_vtr::PREbits::get(cfg_.ich_vtr)) + 1;
    u32 running = 0xffffffffu;  // group-priority index; none active
    for (u32 n = 0; n < 4 && running == 0xffffffffu; ++n) {
        const u32 bits = v.cpu_if.ap0r[n] | v.cpu_if.ap1r[n];
        if (bits != 0) running = n * 32 + ctz(bits);
    }
    auto visible = [&](bool group1, u8 prio) {
        const bool cpu_en = group1 ? ich_vmcr::VENG1::get(vmcr) : ich_vmcr::VENG0::get(vmcr);
        // ICC_PMR_EL1: only higher priority (lower value) than the mask is signalled; then the running priority.
        return cpu_en && prio < pmr && (u32{prio} >> (8 - pre_bits)) < running;
    };
    for (u32 i = 0; i < min<u32>(v.cpu_if.used_lrs, kMaxLrs); ++i) {
        const u64 lr = v.cpu_if.lr[i];
        if (ich_lr::State::get(lr) == ich_lr::kStatePending &&  // pending+active cannot be taken yet
            visible(ich_lr::Group::get(lr), static_cast<u8>(ich_lr::Priority::get(lr))))
            return true;
    }
    // Only the candidate bits, in INTID order (a word at a time, not every INTID).
    for (u32 w = 0; w < kMaxIrqs / 64 && w * 64 < nr_irqs_; ++w) {
        for (u64 bits = v.candidates[w].load(MemoryOrder::relaxed); bits != 0; bits &= bits - 1) {
            const u32 intid = w * 64 + ctz(bits);
            if (intid >= nr_irqs_) break;
            const IrqState* st = irq(vcpu, intid);
            if (st == nullptr || (intid >= kNumPrivate && st->target != vcpu) || st->lr_owner != kNoVcpu) continue;
            if (st->bound) continue;  // a bound interrupt wakes the vCPU through its SDEI event
            // Pending and active: cannot be taken until the guest deactivates it, so it is no reason to wake.
            if (st->pending() && !st->active && st->enabled && group_enabled(st->group1) &&
                visible(st->group1, st->priority))
                return true;
        }
    }
    if (v.lpis_enabled && group_enabled(true)) {
        const u32 limit = lpi_limit();
        for (usize i = v.lpi_pending.find_next(0); i < kNumLpis && kLpiBase + i < limit;
             i = v.lpi_pending.find_next(i + 1))
            if (const u8 c = lpi_cfg(i); lpi_prop::Enable::get(c) && visible(true, c & 0xfc)) return true;
    }
    return false;
}

// ---------------------------------------------------------------- LPIs

void Vgic::load_lpi_config_range(u32 first, u32 count) {
    mark_flush_all();
    // Caller holds dist_lock_. `first`/`count` index LPIs (INTID - 8192).
    if (first >= kNumLpis) return;
    count = min(count, kNumLpis - first);
    const u32 limit = lpi_limit() - kLpiBase;  // LPIs beyond PROPBASER.IDbits read as disabled
    const u32 in_range = first < limit ? min(count, limit - first) : 0;
    const u64 pa = gicr_propbaser::PA::get(propbaser_) << 12;
    alignas(8) u8 chunk[64];
    for (u32 done = 0; done < in_range; done += sizeof chunk) {
        const u32 n = min<u32>(sizeof chunk, in_range - done);
        if (mem_ == nullptr || mem_->read(pa + first + done, chunk, n) != Status::ok) {
            HV_LOG_RATELIMITED(warn, "vgic: LPI property table at 0x%llx unreadable",
                               static_cast<unsigned long long>(pa));
            memset(chunk, 0, n);
        }
        store_lpi_config(first + done, chunk, n);
    }
    store_lpi_config(first + in_range, nullptr, count - in_range);
}

u8 Vgic::lpi_config(u32 intid) const {
    if (intid < kLpiBase || intid >= kMaxIntid) return 0;
    return lpi_cfg(intid - kLpiBase);
}

void Vgic::set_lpi_pending(u32 vcpu, u32 intid, bool pending) {
    if (vcpu >= cfg_.nr_vcpus || intid < kLpiBase || intid >= kMaxIntid) {
        HV_LOG_RATELIMITED(warn, "vgic: LPI %u for vCPU %u out of range", intid, vcpu);
        return;
    }
    VcpuState& v = *opaque(&vcpus_[vcpu]);  // its members from one pointer
    const u32 idx = intid - kLpiBase;
    // Only this vCPU's pending LPIs change: the others' flush results stay valid. A cleared one may leave a selection
    // that holds it (a full flush), and makes nothing deliverable (no kick, no configuration to look at).
    if (!pending) {
        LockGuard g(v.lock);
        v.lpi_pending.clear(idx);
        mark_flush(v);
        return;
    }
    bool kick = false;
    {
        // The vCPU's lock alone: the LPI's configuration byte and the ID limit are read without dist_lock_
        // (lpi_cfg()). A configuration change that makes the LPI deliverable kicks this vCPU after it, under this
        // lock (invalidate_lpi, invalidate_all_lpis, enable_lpis: the lock's acquire/release orders the two): if
        // the byte read here is the old one, that kick follows and finds the pending bit set.
        LockGuard g(v.lock);
        v.lpi_pending.set(idx);
        note_fresh_lpi(v, idx);  // one more candidate (incremental flush)
        kick = v.lpis_enabled && intid < lpi_limit() && lpi_prop::Enable::get(lpi_cfg(idx));
    }
    if (kick && kicker_ != nullptr) kicker_->kick(vcpu);  // kick_all of the one target
}

bool Vgic::lpi_pending(u32 vcpu, u32 intid) const {
    if (vcpu >= cfg_.nr_vcpus || intid < kLpiBase || intid >= kMaxIntid) return false;
    LockGuard g(vcpus_[vcpu].lock);
    return vcpus_[vcpu].lpi_pending.test(intid - kLpiBase);
}

void Vgic::invalidate_lpi(u32 vcpu, u32 intid) {
    mark_flush_all();
    if (vcpu >= cfg_.nr_vcpus || intid < kLpiBase || intid >= kMaxIntid) return;
    bool kick;
    {
        LockGuard g(vcpus_[vcpu].lock);
        LockGuard d(dist_lock_);
        load_lpi_config_range(intid - kLpiBase, 1);
        kick = vcpus_[vcpu].lpis_enabled && vcpus_[vcpu].lpi_pending.test(intid - kLpiBase) &&
               lpi_prop::Enable::get(lpi_cfg(intid - kLpiBase));
    }
    if (kick) kick_all(1u << vcpu);
}

// The whole property table is re-read (up to 56 KiB with IDbits = 16), but never under a lock: guest RAM is read
// in kLpiReloadChunk pieces into a buffer with no lock held, and each piece is copied into the cache under
// dist_lock_ alone, so an INVALL / INVALLR / EnableLPIs holds the lock every flush takes for one chunk's copy at a
// time (docs/isolation.md). An LPI whose byte changes during the reload sees the old or the new value, as with a
// hardware cache that is being refilled; the next INV/INVALL settles it.
void Vgic::reload_lpi_config() {
    u64 propbaser;
    u32 limit;
    {
        LockGuard d(dist_lock_);
        propbaser = propbaser_;
        limit = lpi_limit() - kLpiBase;
    }
    const u64 pa = gicr_propbaser::PA::get(propbaser) << 12;
    bool readable = mem_ != nullptr;
    alignas(8) u8 chunk[kLpiReloadChunk];
    for (u32 first = 0; first < kNumLpis; first += kLpiReloadChunk) {
        const u32 count = min<u32>(kLpiReloadChunk, kNumLpis - first);
        const u32 in_range = first < limit ? min(count, limit - first) : 0;
        if (readable && in_range != 0 && mem_->read(pa + first, chunk, in_range) != Status::ok) readable = false;
        if (!readable) memset(chunk, 0, in_range);
        LockGuard d(dist_lock_);
        if (propbaser_ != propbaser) return;  // PROPBASER moved meanwhile: whoever moved it reloads
        store_lpi_config(first, chunk, in_range);
        store_lpi_config(first + in_range, nullptr, count - in_range);
    }
    if (!readable)
        HV_LOG_RATELIMITED(warn, "vgic: LPI property table at 0x%llx unreadable", static_cast<unsigned long long>(pa));
    mark_flush_all();
}

void Vgic::invalidate_all_lpis(u32 vcpu) {
    mark_flush_all();
    if (vcpu >= cfg_.nr_vcpus) return;
    reload_lpi_config();
    bool kick;
    {
        LockGuard g(vcpus_[vcpu].lock);
        kick = vcpus_[vcpu].lpis_enabled && vcpus_[vcpu].lpi_pending.any();
    }
    if (kick) kick_all(1u << vcpu);
}

void Vgic::move_all_lpis(u32 from_vcpu, u32 to_vcpu) {
    mark_flush_all();
    if (from_vcpu >= cfg_.nr_vcpus || to_vcpu >= cfg_.nr_vcpus || from_vcpu == to_vcpu) return;
    VcpuState& from = vcpus_[from_vcpu];
    VcpuState& to = vcpus_[to_vcpu];
    bool any;
    {
        // Two vCPU locks: always in index order (flush/fold never hold two).
        LockGuard g1(from_vcpu < to_vcpu ? from.lock : to.lock);
        LockGuard g2(from_vcpu < to_vcpu ? to.lock : from.lock);
        for (usize i = from.lpi_pending.find_next(0); i < kNumLpis; i = from.lpi_pending.find_next(i + 1)) {
            to.lpi_pending.set(i);
            from.lpi_pending.clear(i);
        }
        any = to.lpi_pending.any();
    }
    if (any) kick_all(1u << to_vcpu);
}

Vgic::LpiTableView Vgic::lpi_table(u32 vcpu) const {
    if (vcpu >= cfg_.nr_vcpus) return {};
    const VcpuState& v = vcpus_[vcpu];
    LockGuard g(v.lock);
    LockGuard d(const_cast<Spinlock&>(dist_lock_));
    return {v.lpis_enabled, propbaser_};
}

void Vgic::enable_lpis(u32 vcpu) {
    mark_flush_all();
    VcpuState& v = vcpus_[vcpu];
    v.lpis_enabled = true;
    lpi_table_gen_.fetch_add(1, MemoryOrder::release);
    reload_lpi_config();
    u32 limit;
    {
        LockGuard d(dist_lock_);
        limit = lpi_limit();
    }
    // IHI0069H 5.1.2: with PENDBASER.PTZ the table is known to be zero; otherwise it is read now.
    if (gicr_pendbaser::PTZ::get(v.pendbaser) || limit <= kLpiBase || mem_ == nullptr) return;
    const u64 pa = gicr_pendbaser::PA::get(v.pendbaser) << 16;
    u8 chunk[256];
    for (u32 byte = kLpiBase / 8; byte < limit / 8; byte += sizeof chunk) {
        const u32 len = min<u32>(sizeof chunk, limit / 8 - byte);
        if (mem_->read(pa + byte, chunk, len) != Status::ok) {
            HV_LOG_RATELIMITED(warn, "vgic: LPI pending table at 0x%llx unreadable",
                               static_cast<unsigned long long>(pa));
            return;
        }
        for (u32 b = 0; b < len; ++b)
            for (u32 k = 0; k < 8; ++k)
                if ((chunk[b] >> k) & 1) v.lpi_pending.set((byte + b) * 8 + k - kLpiBase);
    }
}

Status Vgic::write_pending_table(u32 vcpu) {
    mark_flush_all();
    VcpuState& v = vcpus_[vcpu];
    if (mem_ == nullptr) return Status::unsupported;
    u32 limit;
    {
        LockGuard d(dist_lock_);
        limit = lpi_limit();
    }
    if (limit <= kLpiBase) return Status::ok;
    const u64 pa = gicr_pendbaser::PA::get(v.pendbaser) << 16;
    u8 chunk[256];
    static_assert(kLpiBase % 64 == 0);  // pending-table bytes of LPIs are whole bytes of the bitmap's words
    for (u32 byte = kLpiBase / 8; byte < limit / 8; byte += sizeof chunk) {
        const u32 len = min<u32>(sizeof chunk, limit / 8 - byte);
        for (u32 b = 0; b < len; ++b) {  // a byte from its bitmap word (not eight bit tests)
            const u32 first = (byte + b) * 8 - kLpiBase;
            chunk[b] = static_cast<u8>(v.lpi_pending.word(first / 64) >> (first % 64));
        }
        // A table outside guest RAM (the guest may aim GICR_PENDBASER anywhere; enable_lpis then found nothing to
        // read) can hold no pending state: with none to record that is no loss, so a save of such a VM succeeds.
        // With LPIs pending there is nowhere to put them, and the save says so.
        if (const Status s = mem_->write(pa + byte, chunk, len); s != Status::ok)
            return v.lpi_pending.any() ? s : Status::ok;
    }
    return Status::ok;
}

void Vgic::disable_lpis(u32 vcpu) {
    mark_flush_all();
    VcpuState& v = vcpus_[vcpu];
    // GICR_CTLR.CES == 1 allows clearing EnableLPIs. Our choice: the pending state is written back to the
    // pending table (so re-enabling without PTZ restores it) and dropped from the redistributor.
    if (write_pending_table(vcpu) != Status::ok)
        HV_LOG_RATELIMITED(warn, "vgic: vCPU %u LPI pending table not writable on disable", vcpu);
    v.lpi_pending.reset();
    v.lpis_enabled = false;
    lpi_table_gen_.fetch_add(1, MemoryOrder::release);
}

Status Vgic::save_pending_tables() {
    mark_flush_all();
    Status result = Status::ok;
    for (u32 i = 0; i < cfg_.nr_vcpus; ++i) {
        LockGuard g(vcpus_[i].lock);
        if (!vcpus_[i].lpis_enabled && !vcpus_[i].lpi_pending.any()) continue;
        const Status st = write_pending_table(i);
        if (st != Status::ok && result == Status::ok) result = st;
    }
    return result;
}

// ---------------------------------------------------------------- save/restore helpers

Status Vgic::redist_save_read(u32 vcpu, u64 offset, u8 width, u64& value) {
    if (vcpu >= cfg_.nr_vcpus) return Status::invalid_argument;
    return rdists_[vcpu].save_read(offset, width, value);
}

Status Vgic::redist_restore_write(u32 vcpu, u64 offset, u8 width, u64 value) {
    if (vcpu >= cfg_.nr_vcpus) return Status::invalid_argument;
    return rdists_[vcpu].restore_write(offset, width, value);
}

Status Vgic::line_level_read(u32 vcpu, u32 first, u32& bits) {
    bits = 0;
    if (first % 32 != 0 || first >= nr_irqs_) return Status::invalid_argument;
    if (first < kNumPrivate && vcpu >= cfg_.nr_vcpus) return Status::invalid_argument;
    LockGuard g(first < kNumPrivate ? vcpus_[vcpu].lock : dist_lock_);
    for (u32 i = 0; i < 32; ++i) {
        const IrqState* s = irq(vcpu, first + i);
        if (s != nullptr && first + i >= 16 && s->line_level) bits |= 1u << i;
    }
    return Status::ok;
}

Status Vgic::line_level_write(u32 vcpu, u32 first, u32 bits) {
    mark_flush_all();
    if (first % 32 != 0 || first >= nr_irqs_) return Status::invalid_argument;
    if (first < kNumPrivate && vcpu >= cfg_.nr_vcpus) return Status::invalid_argument;
    u32 kick_mask = 0;
    {
        LockGuard g(first < kNumPrivate ? vcpus_[vcpu].lock : dist_lock_);
        for (u32 i = 0; i < 32; ++i) {
            IrqState* s = irq(vcpu, first + i);
            if (s == nullptr || first + i < 16) continue;  // SGIs have no line
            s->line_level = (bits >> i) & 1;               // restore: the level only, no edge detection
            note_changed(vcpu, first + i, *s, kick_mask);
        }
    }
    kick_all(kick_mask);
    return Status::ok;
}

}  // namespace hv::vgic
