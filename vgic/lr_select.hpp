// List-register selection: which of a vCPU's candidate interrupts get list registers, in which order, and which
// maintenance interrupts the next guest entry needs. Pure data in, data out: no locks, no Vgic state; Vgic::flush
// gathers the candidates and encodes the chosen ones into ICH_LR<n>_EL2. Header-only: it runs inside flush() on guest
// entries, so everything inlines. See docs/vgic.md "LR selection"; tests in tests/unit/vgic/lr_select_test.cpp.
#pragma once

#include "lib/types.hpp"
#include "vgic/regs.hpp"

namespace hv::vgic {

constexpr u32 kMaxLrs = 16;  // ICH_VTR_EL2.ListRegs is a 4-bit field: at most 16 LRs

// One interrupt that may need an LR. `pending` is the deliverable pending state (pending, enabled, group enabled);
// a candidate is pending, active or both.
// No member initialisers: LrSelector's slots are written before they are read (no zeroing on the hot path).
struct LrCandidate {
    u32 intid;
    u8 priority;
    bool active;
    bool pending;
};

// The ICH_HCR_EL2 maintenance interrupt enables the selection asks for (IHI0069H 6.4).
struct LrMaintenance {
    bool underflow = false;    // UIE: more candidates than LRs; exit when at most one LR is still valid
    bool no_pending = false;   // NPIE: a pending candidate waits outside the LRs; exit when no LR is pending
    bool eoi_outside = false;  // LRENPIE: an active candidate has no LR; its EOI must reach EOIcount
};

// Keeps the best `nr_lrs` candidates offered to consider(), in LR order: active first (the guest must be able to
// deactivate them), then priority (lower value first), then INTID (KVM's order). finish() after the last candidate
// gives the ICH_HCR_EL2 enables; then count()/at() are the LR contents, LR 0 first (after the starvation rule the
// last LR may hold the best pending candidate instead of an active one).
class LrSelector {
public:
    explicit LrSelector(u32 nr_lrs) : nr_lrs_(nr_lrs < kMaxLrs ? nr_lrs : kMaxLrs) {}

    // Any order; each INTID at most once. Always inlined: it runs per candidate on every scanning flush.
    [[gnu::always_inline]] void consider(const LrCandidate& c) {
        if (c.pending && !c.active) note_pending(c);
        if (n_ < nr_lrs_) {
            insert(c);
            return;
        }
        ++overflow_;
        if (nr_lrs_ == 0 || !ranks_before(c, chosen_[n_ - 1])) {
            active_overflow_ += c.active;
            return;
        }
        active_overflow_ += chosen_[--n_].active;  // the lowest-ranked one makes room
        insert(c);
    }
    // After the last candidate: applies the starvation rule (all LRs taken by active interrupts while a pending one
    // waits: the best pending one takes the last LR) and returns the maintenance interrupts the entry needs.
    LrMaintenance finish();

    u32 count() const { return n_; }
    // Some candidate got no LR (the next flush must look at every candidate again).
    bool overflowed() const { return overflow_ != 0; }
    const LrCandidate& at(u32 i) const { return chosen_[i]; }

    static bool ranks_before(const LrCandidate& a, const LrCandidate& b) {
        if (a.active != b.active) return a.active;
        if (a.priority != b.priority) return a.priority < b.priority;
        return a.intid < b.intid;
    }

private:
    void give_pending_an_lr();
    LrMaintenance maintenance() const;
    void note_pending(const LrCandidate& c) {
        ++pending_total_;
        if (!have_best_pending_ || c.priority < best_pending_.priority ||
            (c.priority == best_pending_.priority && c.intid < best_pending_.intid)) {
            best_pending_ = c;
            have_best_pending_ = true;
        }
    }
    void insert(const LrCandidate& c) {  // n_ < nr_lrs_: sorted insertion
        u32 pos = n_++;
        for (; pos > 0 && ranks_before(c, chosen_[pos - 1]); --pos) chosen_[pos] = chosen_[pos - 1];
        chosen_[pos] = c;
    }

    LrCandidate chosen_[kMaxLrs];
    u32 nr_lrs_;
    u32 n_ = 0;
    u32 overflow_ = 0;         // candidates that did not get an LR
    u32 active_overflow_ = 0;  // active ones among them
    u32 pending_total_ = 0;    // pending-only candidates, in LRs or not
    LrCandidate best_pending_{};
    bool have_best_pending_ = false;
};

inline LrMaintenance LrSelector::finish() {
    give_pending_an_lr();
    return maintenance();
}

inline void LrSelector::give_pending_an_lr() {
    // IHI0069H 4.8: only acknowledging an interrupt changes the running priority, so a pending interrupt of higher
    // priority must still be signalled while others are active. If active interrupts took every LR, the lowest-
    // ranked one stays active in the model (its EOI reaches EOIcount, LRENPIE) and the best pending one takes its LR.
    // Only a pending-only LR counts: a pending+active one is in the "active and pending" state, which the guest
    // cannot acknowledge until it deactivates it (and with HW = 1 it is written active-only, see irq_lr). Counting it
    // left every LR without the pending state while NPIE was set for the waiting candidate: ICH_MISR_EL2.NP held at
    // every entry (IHI0069H 12.5.9: "no List register is in the pending state") and the maintenance interrupt
    // livelocked the vCPU (docs/isolation.md, guest test gic_storm).
    if (overflow_ == 0 || !have_best_pending_ || n_ != nr_lrs_ || nr_lrs_ == 0) return;
    for (u32 i = 0; i < n_; ++i)
        if (chosen_[i].pending && !chosen_[i].active) return;  // a pending-only interrupt already has an LR
    active_overflow_ += chosen_[n_ - 1].active;
    chosen_[n_ - 1] = best_pending_;
}

inline LrMaintenance LrSelector::maintenance() const {
    u32 pending_in_lrs = 0;
    for (u32 i = 0; i < n_; ++i) pending_in_lrs += chosen_[i].pending && !chosen_[i].active;
    LrMaintenance m;
    // UIE only with more than one LR: with one, "zero or one valid LR" always holds and would storm.
    m.underflow = overflow_ != 0 && nr_lrs_ > 1;
    // NPIE only while a pending interrupt waits outside the LRs: with active-only LRs it would fire on every entry.
    m.no_pending = pending_total_ > pending_in_lrs;
    m.eoi_outside = active_overflow_ != 0;
    return m;
}

// ICH_HCR_EL2 for the next entry: En set, EOIcount cleared (fold consumed it), UIE/NPIE/LRENPIE from `m`.
inline u64 hcr_for_entry(u64 hcr, const LrMaintenance& m) {
    hcr = ich_hcr::En::set(hcr, 1);
    hcr = ich_hcr::EOIcount::set(hcr, 0);  // IHI0069H 12.5.7: fold has retired the counted EOIs
    hcr = ich_hcr::UIE::set(hcr, m.underflow);
    hcr = ich_hcr::NPIE::set(hcr, m.no_pending);
    return ich_hcr::LRENPIE::set(hcr, m.eoi_outside);
}

}  // namespace hv::vgic
