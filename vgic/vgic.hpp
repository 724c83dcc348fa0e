// The virtual GICv3: distributor, one redistributor per vCPU, LPIs, the per-vCPU list-register
// flush/fold and the save/restore accessors. Plain C++ (no system registers): arch/ loads and stores
// `VcpuIfState` into the ICH_* registers around each guest entry. See docs/vgic.md.
#pragma once

#include "core/guest_memory.hpp"
#include "core/irq.hpp"
#include "core/mmio.hpp"
#include "lib/atomic.hpp"
#include "lib/containers.hpp"
#include "lib/spinlock.hpp"
#include "vgic/lr_select.hpp"
#include "vgic/regs.hpp"

namespace hv::vgic {

constexpr u32 kMaxVcpus = 16;
constexpr u32 kNumPrivate = 32;     // SGIs 0-15, PPIs 16-31
constexpr u32 kMaxIrqs = 1024;      // SGI + PPI + SPI INTID space (ITLinesNumber granularity)
constexpr u32 kMaxSpiIntid = 1019;  // 1020-1023 are special INTIDs
constexpr u32 kMaxSpis = kMaxIrqs - kNumPrivate;
constexpr u32 kLpiBase = 8192;
constexpr u32 kIdBits = 16;               // GICD_TYPER.IDbits + 1: 16-bit INTIDs
constexpr u32 kMaxIntid = 1u << kIdBits;  // exclusive bound of every INTID
constexpr u32 kNumLpis = kMaxIntid - kLpiBase;
constexpr u8 kNoVcpu = 0xff;
constexpr u8 kPriorityMask = 0xf8;   // 5 priority bits implemented (KVM's VGIC_PRI_BITS)
constexpr u32 kImplementer = 0x43b;  // Arm (JEP106), as KVM reports
constexpr u32 kProductId = 0x48;     // 'H': this hypervisor (KVM uses 'K')
constexpr u32 kImplRevMin = 2;       // revisions accepted on restore (KVM: 2 = IGROUPR writable,
constexpr u32 kImplRevLatest = 3;    //                               3 = GICR_CTLR.{IR,CES} advertised)
// ICH_VTR_EL2 of QEMU's -cpu max: 4 LRs, 5 preemption and 5 priority bits, 16-bit IDs, A3V.
constexpr u64 kDefaultIchVtr =
    ich_vtr::ListRegs::make(3) | ich_vtr::A3V::make(1) | ich_vtr::PREbits::make(4) | ich_vtr::PRIbits::make(4);

// Hardware control of physical interrupts linked to virtual ones (timer PPI 27, passed-through SPIs).
// Called with vGIC locks held: implementations must not call back into the Vgic.
class HwIrqControl {
public:
    // Masked while the virtual interrupt is in flight; unmasked once the guest has deactivated it.
    virtual void set_physical_masked(u32 pintid, bool masked) = 0;
    // The virtual state was cleared by other means (ICPENDR/ICACTIVER, reset, unmap): deactivate the physical.
    virtual void deactivate_physical(u32 pintid) = 0;

protected:
    ~HwIrqControl() = default;
};

// The EL2 virtual CPU interface of one vCPU. arch/ loads lr[0..nr_lrs) (entries >= used_lrs are zero), hcr, vmcr,
// ap0r/ap1r into ICH_* before entry and stores them (plus elrsr/eisr/misr) back after exit.
struct VcpuIfState {
    u64 lr[kMaxLrs] = {};
    u32 nr_lrs = 4;    // ICH_VTR_EL2.ListRegs + 1 (from VgicConfig::ich_vtr)
    u32 used_lrs = 0;  // LRs written by the last flush(); fold() reads these back
    u64 hcr = 0;       // ICH_HCR_EL2 (En, UIE, NPIE set by flush)
    u64 vmcr = 0;      // ICH_VMCR_EL2: guest-owned, kept across entries
    u32 ap0r[4] = {};  // ICH_AP0R<n>_EL2
    u32 ap1r[4] = {};  // ICH_AP1R<n>_EL2
    u64 elrsr = 0;     // ICH_ELRSR_EL2 read back on exit (informational)
    u64 eisr = 0;      // ICH_EISR_EL2
    u64 misr = 0;      // ICH_MISR_EL2
};

enum class SgiKind : u8 { sgi1r, asgi1r, sgi0r };

// CPU-interface registers as KVM exposes them through KVM_DEV_ARM_VGIC_GRP_CPU_SYSREGS.
enum class IccReg : u8 {
    PMR,
    BPR0,
    AP0R0,
    AP0R1,
    AP0R2,
    AP0R3,
    AP1R0,
    AP1R1,
    AP1R2,
    AP1R3,
    BPR1,
    CTLR,
    SRE,
    IGRPEN0,
    IGRPEN1,
};
// Maps a system-register encoding (op0, op1, CRn, CRm, op2) to an IccReg; not_found for anything else.
Result<IccReg> icc_reg_from_encoding(u32 op0, u32 op1, u32 crn, u32 crm, u32 op2);

struct VgicConfig {
    u32 nr_vcpus = 1;
    u32 nr_spis = 64;  // multiple of 32; 32 + nr_spis <= 1024
    u64 ich_vtr = kDefaultIchVtr;
    u64 mpidr[kMaxVcpus] = {};  // affinity of each vCPU (VMPIDR_EL2); all-zero means KVM's default from the index
};

// Per-INTID state of SGIs, PPIs and SPIs. Internal bookkeeping, not an architectural layout.
struct IrqState {
    u8 priority = 0;
    bool group1 = true;  // KVM resets GICv3 interrupts to group 1
    bool enabled = false;
    bool pending_latch = false;  // edge / ISPENDR / SGI pending state
    bool line_level = false;     // input line of level-sensitive interrupts
    bool active = false;
    bool edge = false;
    bool hw = false;
    bool bound = false;     // bound to a firmware event (IrqBinder): pending edges go to the BoundIrqSink, never to LRs
    u8 lr_owner = kNoVcpu;  // vCPU whose list registers currently hold this interrupt
    u8 target = 0;          // SPIs: vCPU selected by route (kNoVcpu if none matches)
    u16 pintid = 0;         // hardware-linked: physical INTID
    u64 route = 0;          // SPIs: GICD_IROUTER value

    bool pending() const { return pending_latch || (!edge && line_level); }
};

enum class IrqField : u8 { group, enable, pending, active, priority, config, grpmod };
constexpr u8 field_bits(IrqField f) { return f == IrqField::priority ? 8 : f == IrqField::config ? 2 : 1; }
enum class WriteOp : u8 { assign, set, clear, ignore };

class Vgic;

// Bitmap with a summary bit per word and a top bit per summary word, so sparse scans and any() are cheap: an empty
// bitmap answers both at once (flush and WFI look at the LPI bitmaps on every entry and wait).
template <usize Bits>
class SparseBitmap {
    static constexpr usize kWords = Bitmap<Bits>::words;
    static constexpr usize kSummaryWords = Bitmap<kWords>::words;
    static_assert(kSummaryWords <= 64, "one top word");
    static constexpr usize kBitsPerSummaryWord = 64 * 64;

public:
    bool test(usize i) const { return bits_.test(i); }
    u64 word(usize w) const { return bits_.word(w); }  // bits [64w, 64w + 64); 0 beyond the end
    void set(usize i) {
        if (i >= Bits) return;
        bits_.set(i);
        summary_.set(i / 64);
        top_ |= bit(i / kBitsPerSummaryWord);
    }
    [[gnu::always_inline]] void clear(usize i) {
        if (i >= Bits) return;
        const u64 w = bits_.word(i / 64);
        if ((w & bit(i % 64)) == 0) return;  // clear already: the summary words are right
        bits_.set_word(i / 64, w & ~bit(i % 64));
        if ((w & ~bit(i % 64)) != 0) return;
        const usize sw = i / kBitsPerSummaryWord;  // the summary word of bit i / 64
        const u64 summary = summary_.word(sw) & ~bit(i / 64 % 64);
        summary_.set_word(sw, summary);
        if (summary == 0) top_ &= ~bit(sw);
    }
    void assign(usize i, bool v) { v ? set(i) : clear(i); }
    // Clears only the words the summary marks (a word is non-zero only if its summary bit is set): a vCPU or VM
    // reset costs the summary scan, not the whole LPI bitmap.
    void reset() {
        for (usize w = find_word(0); w < kWords; w = find_word(w + 1)) bits_.set_word(w, 0);
        summary_.reset();
        top_ = 0;
    }
    usize find_next(usize from) const {
        while (from < Bits) {
            const usize w = find_word(from / 64);
            if (w >= kWords) return Bits;
            const usize start = max<usize>(from, w * 64);
            const u64 word = bits_.word(w) >> (start % 64);
            if (word) return start + ctz(word);
            from = (w + 1) * 64;
        }
        return Bits;
    }
    bool any() const { return top_ != 0; }

private:
    // The first non-zero word at or after word `w`, or kWords: through the top word, then one summary word.
    usize find_word(usize w) const {
        while (w < kWords) {
            const usize sw = w / 64;
            const u64 top = top_ >> sw;  // sw < kSummaryWords <= 64
            if (top == 0) return kWords;
            const usize s = sw + ctz(top);
            const usize first = max<usize>(w, s * 64);
            const u64 sword = summary_.word(s) >> (first % 64);
            if (sword) return first + ctz(sword);
            w = (s + 1) * 64;
        }
        return kWords;
    }

    Bitmap<Bits> bits_;
    Bitmap<kWords> summary_;
    u64 top_ = 0;  // bit k: summary word k is non-zero
};

// Shared dispatch of a register-region table (guest path and save/restore path).
enum class AccessCheck : u8 { ok, no_region, bad_width };

// ---- Distributor frame ----
class Distributor final : public MmioHandler {
public:
    void attach(Vgic* v) { vgic_ = v; }
    MmioResult mmio_read(const MmioAccess& a, u64& value) override;
    MmioResult mmio_write(const MmioAccess& a, u64 value) override;
    [[nodiscard]] Status save_read(u32 vcpu, u64 offset, u8 width, u64& value);
    [[nodiscard]] Status restore_write(u32 vcpu, u64 offset, u8 width, u64 value);

private:
    friend struct DistributorTable;
    u64 read_ctlr(const MmioAccess& a, u64 ro);
    void write_ctlr(const MmioAccess& a, u64 ro, u64 v);
    u64 read_typer(const MmioAccess& a, u64 ro);
    u64 read_iidr(const MmioAccess& a, u64 ro);
    void restore_iidr(const MmioAccess& a, u64 ro, u64 v);
    void restore_typer(const MmioAccess& a, u64 ro, u64 v);
    u64 read_pidr(const MmioAccess& a, u64 ro);
    u64 read_irouter(const MmioAccess& a, u64 ro);
    void write_irouter(const MmioAccess& a, u64 ro, u64 v);
    u64 raz(const MmioAccess& a, u64 ro);
    void wi(const MmioAccess& a, u64 ro, u64 v);
    template <IrqField F, bool Uaccess>
    u64 irq_read(const MmioAccess& a, u64 ro);
    template <IrqField F, WriteOp Op, bool Uaccess>
    void irq_write(const MmioAccess& a, u64 ro, u64 v);

    Vgic* vgic_ = nullptr;
    Status restore_status_ = Status::ok;
};

// ---- One redistributor (RD_base + SGI_base) ----
class Redistributor {
public:
    void attach(Vgic* v, u32 index) {
        vgic_ = v;
        index_ = index;
    }
    // `offset` is relative to RD_base and covers both frames [0, 128 KiB).
    MmioResult mmio_read(const MmioAccess& a, u64& value);
    MmioResult mmio_write(const MmioAccess& a, u64 value);
    [[nodiscard]] Status save_read(u64 offset, u8 width, u64& value);
    [[nodiscard]] Status restore_write(u64 offset, u8 width, u64 value);

private:
    friend struct RedistributorTable;
    u64 read_ctlr(const MmioAccess& a, u64 ro);
    void write_ctlr(const MmioAccess& a, u64 ro, u64 v);
    u64 read_iidr(const MmioAccess& a, u64 ro);
    u64 read_typer(const MmioAccess& a, u64 ro);
    u64 read_waker(const MmioAccess& a, u64 ro);
    void write_waker(const MmioAccess& a, u64 ro, u64 v);
    u64 read_propbaser(const MmioAccess& a, u64 ro);
    void write_propbaser(const MmioAccess& a, u64 ro, u64 v);
    u64 read_pendbaser(const MmioAccess& a, u64 ro);
    void write_pendbaser(const MmioAccess& a, u64 ro, u64 v);
    void write_invlpir(const MmioAccess& a, u64 ro, u64 v);
    void write_invallr(const MmioAccess& a, u64 ro, u64 v);
    u64 read_pidr(const MmioAccess& a, u64 ro);
    u64 raz(const MmioAccess& a, u64 ro);
    void wi(const MmioAccess& a, u64 ro, u64 v);
    template <IrqField F, bool Uaccess>
    u64 irq_read(const MmioAccess& a, u64 ro);
    template <IrqField F, WriteOp Op, bool Uaccess>
    void irq_write(const MmioAccess& a, u64 ro, u64 v);

    Vgic* vgic_ = nullptr;
    u32 index_ = 0;
    Status restore_status_ = Status::ok;
};

// The contiguous GICR region of all vCPUs (2 x 64 KiB each) as one MMIO frame.
class RedistributorRegion final : public MmioHandler {
public:
    void attach(Vgic* v) { vgic_ = v; }
    MmioResult mmio_read(const MmioAccess& a, u64& value) override;
    MmioResult mmio_write(const MmioAccess& a, u64 value) override;

private:
    Vgic* vgic_ = nullptr;
};

class Vgic final : public LpiSink, public IrqBinder {
public:
    Vgic() = default;
    Vgic(const Vgic&) = delete;
    Vgic& operator=(const Vgic&) = delete;

    // Configure for a VM. `hw` may be null (no hardware-linked interrupts). Resets all state.
    [[nodiscard]] Status init(const VgicConfig& cfg, GuestMemory& mem, VcpuKicker& kicker, HwIrqControl* hw);
    // VM reset: every register to its reset value; hardware links are kept (their physical side is unmasked).
    void reset();

    MmioHandler& distributor() { return dist_; }
    MmioHandler& redistributors() { return rd_region_; }
    u64 distributor_size() const { return kFrameSize; }
    const VgicConfig& config() const { return cfg_; }
    u64 redistributors_size() const { return u64{cfg_.nr_vcpus} * kRedistStride; }
    u32 nr_irqs() const { return nr_irqs_; }
    u64 vcpu_mpidr(u32 vcpu) const { return vcpu < cfg_.nr_vcpus ? vcpus_[vcpu].mpidr : 0; }

    // ---- list registers (arch/ calls these around each guest entry) ----
    VcpuIfState& cpu_if(u32 vcpu) { return vcpus_[vcpu < cfg_.nr_vcpus ? vcpu : 0].cpu_if; }
    // Before entry: fill the LRs with the highest-priority deliverable interrupts (active first).
    void flush(u32 vcpu, VcpuIfState& s);
    // After exit: take the LR state back into the model and free the LRs.
    void fold(u32 vcpu, VcpuIfState& s);
    // The exit fast path's flush (an IRQ exit, nothing folded): `s.lr[0, s.used_lrs)` are the LRs as the CPU holds
    // them now and `s.hcr` ICH_HCR_EL2 as the last flush wrote it (EOIcount still 0). Folds the LRs the guest
    // finished and gives the new candidates free LRs, keeping the live ones (true: the direct flush), or does what
    // fold() + flush() do (false). Either way `s` then holds what to write for the entry.
    // Inline: which direct path is worth trying is two loads (each path checks again under the vCPU's lock), so the
    // exit fast path calls the one it needs: an LPI's (flush_lpi_live) or the others' (flush_live_any).
    [[gnu::always_inline]] bool flush_live(u32 vcpu, VcpuIfState& s) {
        if (vcpu >= cfg_.nr_vcpus) return false;
        const VcpuState& v = vcpus_[vcpu];
        if (v.fresh_lpi_count.load(MemoryOrder::relaxed) != 0 && v.fresh_words.load(MemoryOrder::relaxed) == 0)
            return flush_lpi_live(vcpu, s) || flush_live_locked(vcpu, s);
        return flush_live_any(vcpu, s);
    }
    // For WFI: is anything pending, enabled and above the vCPU's priority mask?
    bool has_pending_for_wakeup(u32 vcpu);
    // Flushes of `vcpu` that selected LRs (the others found nothing changed and skipped the selection); of them,
    // the ones that looked only at the interrupts noted since the last flush (incremental, no whole-state scan).
    u64 flush_scans(u32 vcpu) const;
    u64 flush_incremental(u32 vcpu) const;
    // Tests: every incremental flush also runs the full scan's selection and panics if the two differ.
    void set_check_incremental(bool on) { check_incremental_ = on; }
    // Something may have changed what flush(vcpu) would put into the LRs since its last flush (lock-free hint for
    // the exit fast path: a caller that sees false after its own change knows the change was not for `vcpu`).
    bool flush_needed(u32 vcpu) const {
        if (vcpu >= cfg_.nr_vcpus) return false;
        const VcpuState& v = vcpus_[vcpu];
        return v.flush_needed.load(MemoryOrder::relaxed) || v.fresh_words.load(MemoryOrder::relaxed) != 0 ||
               v.fresh_lpi_count.load(MemoryOrder::relaxed) != 0;
    }

    // ---- injection ----
    // Line level of a level- (or edge-, rising edge) triggered SPI or PPI. `vcpu` selects the PPI bank.
    [[nodiscard]] Status set_level(u32 intid, u32 vcpu, bool level);
    [[nodiscard]] Status inject_edge(u32 intid, u32 vcpu);
    [[nodiscard]] Status map_hw(u32 vcpu, u32 vintid, u32 pintid);
    [[nodiscard]] Status unmap_hw(u32 vcpu, u32 vintid);
    // Trapped ICC_SGI1R_EL1 / ICC_ASGI1R_EL1 / ICC_SGI0R_EL1 write by `src_vcpu`.
    void sgi_write(u32 src_vcpu, u64 value, SgiKind kind);

    // ---- bound interrupts (SDEI INTERRUPT_BIND, core/irq.hpp) ----
    // Where bound interrupts go (nullptr: nothing can be bound). Set once while the VM is built.
    void set_bound_sink(BoundIrqSink* sink) { bound_sink_ = sink; }
    [[nodiscard]] Status set_bound(u32 intid, bool bound) override;
    bool bindable(u32 intid) const override;
    u8 irq_priority(u32 intid, u32 vcpu) const override;
    bool is_bound(u32 intid, u32 vcpu);

    // ---- LpiSink (the ITS) ----
    u32 vcpu_count() const override { return cfg_.nr_vcpus; }
    void set_lpi_pending(u32 vcpu, u32 intid, bool pending) override;
    bool lpi_pending(u32 vcpu, u32 intid) const override;
    void invalidate_lpi(u32 vcpu, u32 intid) override;
    void invalidate_all_lpis(u32 vcpu) override;
    void move_all_lpis(u32 from_vcpu, u32 to_vcpu) override;
    // Cached LPI configuration byte (priority | enable), 0 when out of range.
    u8 lpi_config(u32 intid) const;
    // Write every redistributor's LPI pending bits to its pending table (vCPUs stopped and folded).
    [[nodiscard]] Status save_pending_tables();
    // GICv4 direct injection (arch/aarch64/msi_passthrough): what the physical GIC needs to deliver `vcpu`'s vLPIs
    // itself -- whether its redistributor has EnableLPIs, and the VM-wide GICR_PROPBASER (the guest's property
    // table, IDbits). `lpi_table_generation()` changes whenever either may have changed (a relaxed load per entry
    // tells whether to look again).
    struct LpiTableView {
        bool enabled = false;
        u64 propbaser = 0;
    };
    LpiTableView lpi_table(u32 vcpu) const;
    u32 lpi_table_generation() const { return lpi_table_gen_.load(MemoryOrder::relaxed); }

    // ---- save/restore (register list) ----
    [[nodiscard]] Status dist_save_read(u64 offset, u8 width, u64& value) {
        return dist_.save_read(0, offset, width, value);
    }
    [[nodiscard]] Status dist_restore_write(u64 offset, u8 width, u64 value) {
        return dist_.restore_write(0, offset, width, value);
    }
    [[nodiscard]] Status redist_save_read(u32 vcpu, u64 offset, u8 width, u64& value);
    [[nodiscard]] Status redist_restore_write(u32 vcpu, u64 offset, u8 width, u64 value);
    [[nodiscard]] Status icc_read(u32 vcpu, IccReg reg, u64& value);
    [[nodiscard]] Status icc_write(u32 vcpu, IccReg reg, u64 value);
    // icc_write's refusals, without writing (they depend on the value and this CPU interface only): a snapshot's
    // dry run (IccRegisterClass::validate).
    [[nodiscard]] Status icc_check(u32 vcpu, IccReg reg, u64 value) const;
    // Line levels of INTIDs [first, first + 32) (first % 32 == 0); `vcpu` selects the PPI bank.
    [[nodiscard]] Status line_level_read(u32 vcpu, u32 first, u32& bits);
    [[nodiscard]] Status line_level_write(u32 vcpu, u32 first, u32 bits);

private:
    friend class Distributor;
    friend class Redistributor;
    friend class RedistributorRegion;

    // The fields every flush and injection reads come first: near the lock, at small offsets a load reaches in one
    // instruction (the element is ~15 KiB; the LPI bitmaps last).
    struct VcpuState {
        mutable Spinlock lock;  // private IRQs, LPI bitmaps, cpu_if, redistributor registers
        // Set (atomically, under a lock flush also holds) by everything that may change what flush() would put
        // into this vCPU's LRs other than the interrupts noted in `fresh` below; cleared by flush(), which then
        // selects from the whole candidate set (docs/vgic.md "Per-vCPU pending set, flush and fold").
        Atomic<bool> flush_needed{true};
        bool overflow = false;  // the last selection left a candidate without an LR (both locks)
        bool lpis_enabled = false;
        bool sleep = true;  // GICR_WAKER.ProcessorSleep (resets to 1)
        // Incremental flush: the candidates noted since the last flush -- cand_set() (SGI/PPI/SPI) and
        // note_fresh_lpi() (LPIs made pending, LPIs folded back from the LRs). Set under a lock flush also holds
        // (the IRQ's lock: this vCPU's for private INTIDs and LPIs, the distributor's for SPIs).
        // `fresh_words` has bit w set when fresh[w] may be non-zero. With neither flush_needed nor `overflow`
        // set, every candidate of this vCPU is in `fresh` (the last selection gave every candidate an LR and fold put
        // each one still live back here), so flush() selects among them alone: the same answer as a full scan.
        Atomic<u32> fresh_words;
        Atomic<u32> fresh_lpi_count;          // written under `lock`; read lock-free by flush_needed()
        static constexpr u32 kFreshLpis = 4;  // more, and the next flush scans everything
        u16 fresh_lpi[kFreshLpis] = {};       // LPI index (INTID - 8192), under `lock`
        u64 flush_scans = 0;
        u64 flush_incremental = 0;
        Atomic<u64> fresh[kMaxIrqs / 64];
        Atomic<u64> candidates[kMaxIrqs / 64];  // INTIDs < 1024 that may need this vCPU's LRs (atomic words)
        IrqState priv[kNumPrivate];
        u64 mpidr = 0;
        u64 pendbaser = 0;
        VcpuIfState cpu_if;
        SparseBitmap<kNumLpis> lpi_pending;
        SparseBitmap<kNumLpis> lpi_active;  // LPIs active in (or folded back from) the LRs
    };
    void mark_flush(VcpuState& v) { v.flush_needed.store(true, MemoryOrder::relaxed); }
    // An LPI that may now need an LR (v.lock held).
    static void note_fresh_lpi(VcpuState& v, u32 idx);
    // Conservative: any configuration change (GICD/GICR/ICC writes, restore, LPI tables, reset) re-flushes all.
    void mark_flush_all() {
        for (VcpuState& v : vcpus_) mark_flush(v);
    }

    IrqState* irq(u32 vcpu, u32 intid);
    u8 route_target(u64 route) const;
    // Exclusive INTID bound set by PROPBASER.IDbits: one atomic word, written under dist_lock_ with propbaser_
    // (set_propbaser), read without a lock by the LPI paths that hold only a vCPU lock (see lpi_cfg()).
    u32 lpi_limit() const { return lpi_limit_.load(MemoryOrder::relaxed); }
    void set_propbaser(u64 value);  // dist_lock_ held
    // The cached configuration byte of LPI `idx` (INTID - 8192; IHI0069H 5.1.1: priority [7:2], Enable [0]). The
    // cache is written under dist_lock_ only, eight bytes to an atomic word (store_lpi_config); readers take no
    // lock: one single-copy-atomic load gives the byte as some writer left it (docs/vgic.md "LPI configuration
    // without the distributor lock" says why that is enough).
    [[gnu::always_inline]] u8 lpi_cfg(usize idx) const {
        return static_cast<u8>(lpi_config_[idx / 8].load(MemoryOrder::relaxed) >> (idx % 8 * 8));
    }
    // LPIs [first, first + count) take bytes[0, count) (nullptr: 0, disabled). dist_lock_ held.
    void store_lpi_config(u32 first, const u8* bytes, u32 count);
    [[gnu::always_inline]] bool group_enabled(bool group1) const {
        const u32 ctlr = dist_ctlr_.load(MemoryOrder::relaxed);
        return group1 ? (ctlr & gicd_ctlr::EnableGrp1::field_mask) != 0
                      : (ctlr & gicd_ctlr::EnableGrp0::field_mask) != 0;
    }
    // After a state change of `intid`: mark it as candidate on its target, and note a kick if deliverable.
    void note_changed(u32 vcpu, u32 intid, IrqState& s, u32& kick_mask);
    [[gnu::noinline]] void note_bound(u32 vcpu, u32 intid, IrqState& s, u32& kick_mask);
    [[gnu::noinline]] void note_plain(u32 vcpu, u32 intid, IrqState& s, u32& kick_mask);
    // note_changed() of an interrupt that is not bound (SGIs never are: bindable()). Defined in vgic.cpp only.
    [[gnu::always_inline]] inline void note_unbound(u32 vcpu, u32 intid, IrqState& s, u32& kick_mask);
    void kick_all(u32 mask);
    // note_changed() of a bound interrupt: hand a pending edge to the sink (true), or deliver normally (false).
    bool divert_bound(u32 vcpu, u32 intid, IrqState& s);
    void hw_pending_changed(IrqState& s, bool was_pending);
    void hw_cleared(IrqState& s);
    [[gnu::always_inline]] inline void cand_set(VcpuState& v, u32 intid);
    static void cand_clear(VcpuState& v, u32 intid);
    static bool cand_test(const VcpuState& v, u32 intid);

    template <IrqField F>
    u64 get_field(const IrqState& s, u32 intid, bool uaccess) const;
    template <IrqField F, WriteOp Op, bool Uaccess>
    void put_field(u32 vcpu, u32 intid, IrqState& s, u64 bits, u32& kick_mask);
    template <IrqField F, bool Uaccess>
    u64 read_irqs(u32 vcpu, u32 first, u32 count);
    template <IrqField F, WriteOp Op, bool Uaccess>
    void write_irqs(u32 vcpu, u32 first, u32 count, u64 value);

    // flush() in pieces, both locks held: gather the candidates into an LrSelector, encode its choice into LRs.
    // Defined in vgic.cpp only; always inlined into flush() (the scan runs on guest entries: no call overhead).
    struct LpiGate {
        bool on;    // EnableLPIs and GICD_CTLR.EnableGrp1
        u32 limit;  // lpi_limit()
    };
    [[gnu::always_inline]] LpiGate lpi_gate(const VcpuState& v) const {
        return {v.lpis_enabled && group_enabled(true), lpi_limit()};
    }
    [[gnu::always_inline]] inline void select_and_fill(u32 vcpu, VcpuIfState& s);
    [[gnu::always_inline]] inline void select_fresh_and_fill(u32 vcpu, VcpuIfState& s);
    [[gnu::always_inline]] inline void collect_irqs(u32 vcpu, LrSelector& sel);
    [[gnu::always_inline]] inline void collect_irq_bits(u32 vcpu, u32 word, u64 bits, LrSelector& sel);
    [[gnu::always_inline]] inline void collect_lpi(const VcpuState& v, const LpiGate& g, usize idx,
                                                   LrSelector& sel) const;
    [[gnu::always_inline]] inline void fill(u32 vcpu, VcpuIfState& s, LrSelector& sel, const LpiGate& gate);
    void clear_fresh(VcpuState& v) const;
    void check_fresh_selection(u32 vcpu, const VcpuIfState& s, LrSelector fresh);
    [[gnu::always_inline]] inline void collect_lpis(const VcpuState& v, const LpiGate& g, LrSelector& sel) const;
    inline bool lpi_deliverable(const VcpuState& v, const LpiGate& g, usize idx) const;
    inline u64 irq_lr(u32 vcpu, const LrCandidate& c);
    inline u64 lpi_lr(VcpuState& v, const LpiGate& g, const LrCandidate& c);
    void fold_locked(u32 vcpu, VcpuIfState& s, u32& kick_mask);
    [[gnu::always_inline]] inline void fold_lr(u32 vcpu, u64 lr, u32& kick_mask);
    void flush_locked(u32 vcpu, VcpuIfState& s, u32& kick_mask);
    enum class DirectKind : u8;
    // What every direct flush (flush_live) needs: nothing changed but the fresh set (flush_needed clear), every
    // candidate had an LR at the last selection (overflow clear), no maintenance was asked for and no EOI counted
    // outside the LRs (ICH_HCR_EL2), and an LR count the model can hold.
    [[gnu::always_inline]] static bool direct_flush_allowed(const VcpuState& v, const VcpuIfState& s) {
        constexpr u64 kMaintenance = ich_hcr::UIE::field_mask | ich_hcr::LRENPIE::field_mask |
                                     ich_hcr::NPIE::field_mask | ich_hcr::EOIcount::field_mask;
        return !v.flush_needed.load(MemoryOrder::relaxed) && !v.overflow && (s.hcr & kMaintenance) == 0 &&
               s.nr_lrs != 0 && s.used_lrs <= min<u32>(s.nr_lrs, kMaxLrs);
    }
    [[gnu::always_inline]] inline bool flush_direct(u32 vcpu, VcpuIfState& s, u32& kick_mask);
    [[gnu::always_inline]] inline bool flush_direct_one(u32 vcpu, VcpuIfState& s, u32& kick_mask);
    [[gnu::always_inline]] inline bool flush_private_one(u32 vcpu, VcpuIfState& s);
    [[gnu::always_inline]] inline bool flush_lpi_one(u32 vcpu, VcpuIfState& s);
    [[gnu::always_inline]] inline void fold_finished_private(u32 vcpu, VcpuState& v, u32 id, u32 skip);
    [[gnu::noinline]] bool flush_lpi_one_folding(u32 vcpu, VcpuIfState& s, u8 cfg);
    [[gnu::always_inline]] inline void give_lpi_lr0(VcpuState& v, VcpuIfState& s, u32 idx, u8 cfg);
    [[gnu::noinline]] void note_private(u32 vcpu, u32 intid, IrqState& s);
    [[gnu::noinline]] bool flush_lpi_live(u32 vcpu, VcpuIfState& s);
    bool flush_live_any(u32 vcpu, VcpuIfState& s);
    [[gnu::noinline]] bool flush_live_locked(u32 vcpu, VcpuIfState& s);
    [[gnu::always_inline]] inline DirectKind direct_kind_irq(u32 vcpu, u32 intid);
    [[gnu::always_inline]] inline DirectKind direct_kind_lpi(const VcpuState& v, const VcpuIfState& s, const LpiGate& g,
                                                             u32 idx) const;
    [[gnu::noinline]] void check_direct_selection(u32 vcpu, const VcpuIfState& s, LpiGate gate, u32 free,
                                                  u32 append);  // (tests only: out of the direct paths' frames)
    void retire_eoicount(u32 vcpu, VcpuIfState& s, u32& kick_mask);
    void load_lpi_config_range(u32 first, u32 count);
    // Re-reads the whole property table into lpi_config_ chunk by chunk, no lock held while guest RAM is read.
    static constexpr u32 kLpiReloadChunk = 1024;
    void reload_lpi_config();
    void enable_lpis(u32 vcpu);   // EnableLPIs 0 -> 1 (vcpu lock held)
    void disable_lpis(u32 vcpu);  // EnableLPIs 1 -> 0 (vcpu lock held)
    [[nodiscard]] Status write_pending_table(u32 vcpu);
    u64 iidr() const;
    u32 nr_aprs() const;
    u32* active_priority_reg(VcpuState& v, IccReg reg) const;

    VgicConfig cfg_;
    u32 nr_irqs_ = 0;
    GuestMemory* mem_ = nullptr;
    VcpuKicker* kicker_ = nullptr;
    HwIrqControl* hw_ = nullptr;
    BoundIrqSink* bound_sink_ = nullptr;
    bool check_incremental_ = false;
    bool flat_affinity_ = false;  // every vCPU i has affinity 0.0.0.i (sgi_write)

    Atomic<u32> lpi_table_gen_;  // bumped on EnableLPIs changes, PROPBASER writes, reset (lpi_table())
    Spinlock dist_lock_;         // SPI state, GICD_CTLR, PROPBASER and the writers of the LPI configuration cache
    // EnableGrp0 | EnableGrp1. Written under dist_lock_; read without it by the direct flush of a private interrupt
    // (flush_private_one), which holds only the vCPU's lock.
    Atomic<u32> dist_ctlr_;
    // GICD_IIDR.Revision (restore_iidr). Written under dist_lock_ (a restore, a reset); read without it
    // (GICD/GICR_IIDR, GICR_CTLR: a trapped ID-register read takes no lock): one word, a concurrent read sees the old
    // or the new value.
    Atomic<u32> impl_rev_{kImplRevLatest};
    u64 propbaser_ = 0;
    IrqState spis_[kMaxSpis];
    Atomic<u32> lpi_limit_{kLpiBase};       // lpi_limit()
    Atomic<u64> lpi_config_[kNumLpis / 8];  // lpi_cfg(): byte i % 8 of word i / 8 is LPI i's
    VcpuState vcpus_[kMaxVcpus];

    Distributor dist_;
    Redistributor rdists_[kMaxVcpus];
    RedistributorRegion rd_region_;
};

}  // namespace hv::vgic
