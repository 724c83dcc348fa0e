// The virtual GICv3 ITS (IHI0069H chapter 5): registers, command queue, translation, save/restore.
//
// Locking. Two spinlocks per instance (several instances per VM are independent; there are no globals):
//  * cmd_lock_  serialises everything that changes state: guest register writes, command processing,
//               save/restore, reset. Calls out to LpiSink and ItsObserver happen with cmd_lock_ held and
//               map_lock_ NOT held. Lock order: Its::cmd_lock_ -> (vGIC / observer locks). The vGIC must never
//               call into an Its while holding its own locks.
//  * map_lock_  protects the mapping structures; held only for short critical sections: a translation's
//               lookup, and each individual mutation by a command. translate()/signal_msi() take only
//               map_lock_ and call LpiSink after releasing it, so MSIs never wait for the command queue.
// Readers holding cmd_lock_ may read the mappings without map_lock_ (only cmd_lock_ holders mutate them).
#pragma once

#include "core/guest_memory.hpp"
#include "core/irq.hpp"
#include "core/mmio.hpp"
#include "its/its_command.hpp"
#include "its/its_mappings.hpp"
#include "its/its_regs.hpp"
#include "its/its_tables.hpp"
#include "lib/atomic.hpp"
#include "lib/spinlock.hpp"

namespace hv::its {

// Told about every change of an (DeviceID, EventID) -> (LPI, vCPU) mapping, so the hypervisor can mirror
// passed-through devices on the physical ITS. Called with the ITS command lock held (see above).
class ItsObserver {
public:
    static constexpr u32 kNoVcpu = kUnmappedTarget;
    // A new mapping, or an existing one whose target changed (MOVI, MAPC remap/unmap). `vcpu` is kNoVcpu while
    // the collection is unmapped (translations of that event are dropped).
    virtual void on_map(u32 device_id, u32 event_id, u32 intid, u32 vcpu) = 0;
    virtual void on_unmap(u32 device_id, u32 event_id, u32 intid) = 0;
    // INT (pending = true) / CLEAR of a mapped event whose collection is mapped: true if the observer changed the
    // pending state itself (a vLPI the physical GIC injects directly, GICv4), so the model leaves its own alone.
    virtual bool on_set_pending(u32 /*device_id*/, u32 /*event_id*/, bool /*pending*/) { return false; }
    // INV of a mapped event, INVALL of a collection that targets `vcpu`: the LPI configuration may have changed.
    virtual void on_invalidate(u32 /*device_id*/, u32 /*event_id*/) {}
    virtual void on_invalidate_all(u32 /*vcpu*/) {}

protected:
    ~ItsObserver() = default;
};

struct Translation {
    u32 vcpu = 0;
    u32 intid = 0;
};

// Restore state machine (see docs/its.md):
//   idle --restore_write(CBASER)--> registers --restore_tables()--> tables_restored --restore_write(CTLR)--> idle
// CREADR needs CBASER first; restore_tables() needs IIDR, BASER0 and BASER1 restored first; CTLR needs the
// tables restored. Out-of-order steps fail with Status::bad_order and change nothing.
enum class RestorePhase : u8 { idle, registers, tables_restored };

// Outcome of one command handler.
enum class CmdResult : u8 { next, stall };

// Commands processed per guest trap (a CWRITER write, a CREADR or CTLR read, the enable): the bound on the work one
// trap does in the command queue (docs/its.md "Batching", docs/isolation.md). The rest of the queue is processed
// at the guest's next CREADR/CTLR poll or CWRITER write -- every driver polls CREADR for completion -- or by
// process_backlog().
constexpr u32 kCommandsPerTrap = 32;
// INVALL and MOVALL count as this many commands of the batch (each walks all 57344 LPIs once).
constexpr u32 kHeavyCommandCost = 16;

class Its final : public MmioHandler {
public:
    // DeviceID used for a GITS_TRANSLATER write that arrives as a CPU store through the MMIO path (it carries
    // no requester ID; QEMU likewise sees requester ID 0 for CPU writes).
    static constexpr u32 kCpuRequesterId = 0;

    Its(GuestMemory& mem, LpiSink& sink, ItsObserver* observer = nullptr);
    Its(const Its&) = delete;
    Its& operator=(const Its&) = delete;

    // `pending_calls` false: the observer never takes an event's pending state over (its on_set_pending would answer
    // false to every INT and CLEAR) and is not asked.
    void set_observer(ItsObserver* observer, bool pending_calls = true);
    // Keys the translation hash with a per-VM secret (call before the guest runs; docs/isolation.md). False if
    // something is mapped already.
    bool set_hash_seed(u64 seed);

    // MmioHandler over the whole 128 KiB window: control frame at +0, translater frame at +64 KiB.
    // The two registers a driver touches for every command batch are decoded here, inline for the exit fast path
    // (which calls this final class directly): a 64-bit GITS_CREADR read while no command waits -- the CWRITER
    // write ran them, or the ITS cannot run them (disabled, stalled), where the locked path would not run any
    // either -- is the value the last command-lock holder published (update_backlog: CREADR, then the backlog flag
    // with release), without the lock; a 64-bit GITS_CWRITER write (its region takes 64-bit accesses at its
    // offset) skips the register table. Everything else: the table (mmio_read_table, mmio_write_table).
    MmioResult mmio_read(const MmioAccess& a, u64& value) override {
        if (read_creadr_unlocked(a.offset, a.width, value)) return MmioResult::ok;
        return mmio_read_table(a, value);
    }
    // mmio_read's lock-free case (above): a 64-bit GITS_CREADR read while no command waits. False if the read needs
    // the locked path (`value` untouched). Changes nothing.
    bool read_creadr_unlocked(u64 offset, u8 width, u64& value) const {
        if (offset != reg(GitsReg::CREADR) || width != 8 || backlog_.load(MemoryOrder::acquire)) return false;
        value = creadr_reg_.load(MemoryOrder::relaxed);
        return true;
    }
    // The two words read_creadr_unlocked reads, for the exit vector's copy of it (arch/aarch64/percpu.hpp ItsPoll):
    // the backlog flag (acquire) and, while it is clear, GITS_CREADR as last published. Their addresses never change.
    const Atomic<bool>& lockfree_backlog() const { return backlog_; }
    const Atomic<u64>& lockfree_creadr() const { return creadr_reg_; }
    MmioResult mmio_write(const MmioAccess& a, u64 value) override {
        if (a.offset == reg(GitsReg::CWRITER) && a.width == 8) {
            write_cwriter_locked(value);
            return MmioResult::ok;
        }
        return mmio_write_table(a, value);
    }
    // The translater frame alone (offsets relative to the frame), for buses that register the frames apart.
    MmioHandler& translater_frame() { return translater_frame_; }

    // Translation lookup only (no side effect). Errors: busy (ITS disabled), not_found (device or event not
    // mapped), invalid_argument (the event's collection is not mapped). O(1).
    [[nodiscard]] Result<Translation> translate(u32 device_id, u32 event_id) const;
    // translate() + LpiSink::set_lpi_pending: the entry point of GITS_TRANSLATER writes and of the hypervisor's
    // physical-MSI path (a host LPI mirrored from a passed-through device).
    [[nodiscard]] Status signal_msi(u32 device_id, u32 event_id);

    // ---- Save / restore (KVM's KVM_DEV_ARM_VGIC_GRP_ITS_REGS and GRP_CTRL semantics) ----
    // Register access by offset; `width` must be the register's width (4: CTLR, IIDR, ID registers; 8: the
    // 64-bit registers). Errors: not_found (no register there), wrong_size, busy (ITS enabled), bad_order,
    // invalid_argument (a value this ITS cannot honour, e.g. an unknown IIDR revision).
    [[nodiscard]] Status save_read(u64 offset, u8 width, u64& value);
    [[nodiscard]] Status restore_write(u64 offset, u8 width, u64 value);
    // KVM_DEV_ARM_ITS_SAVE_TABLES: device table, ITTs and collection table into guest RAM (ABI rev 0).
    [[nodiscard]] Status save_tables();
    // KVM_DEV_ARM_ITS_RESTORE_TABLES: walk them back with full validation. On error the ITS has no mappings.
    [[nodiscard]] Status restore_tables();
    // KVM_DEV_ARM_ITS_CTRL_RESET.
    void reset();

    // Commands are waiting in the queue (CREADR != CWRITER, enabled, not stalled): lock-free hint for callers that
    // want to move the queue on without a guest poll (e.g. at a vCPU exit).
    bool has_backlog() const { return backlog_.load(MemoryOrder::relaxed); }
    // Processes at most one batch (kCommandsPerTrap commands) of the queue.
    void process_backlog();

    // Introspection (tests, diagnostics).
    usize device_count() const { return map_.device_count(); }
    usize ite_count() const { return map_.ite_count(); }
    usize collection_count() const { return map_.collection_count(); }
    // Read-only view of the mappings (tests and the fuzz harness: device ITT ranges, ITEs).
    const Mappings& mappings() const { return map_; }
    bool enabled() const { return enabled_.load(MemoryOrder::acquire); }
    bool stalled() const { return stalled_; }
    RestorePhase restore_phase() const { return phase_; }
    u64 typer() const;
    u32 iidr() const;

    // Register-table accessors (public for the constexpr table; not an API).
    u64 read_ctlr(const MmioAccess& a, u64 off);
    void write_ctlr(const MmioAccess& a, u64 off, u64 v);
    void restore_ctlr(const MmioAccess& a, u64 off, u64 v);
    u64 read_iidr(const MmioAccess& a, u64 off);
    void restore_iidr(const MmioAccess& a, u64 off, u64 v);
    u64 read_typer(const MmioAccess& a, u64 off);
    void restore_typer(const MmioAccess& a, u64 off, u64 v);
    u64 read_cbaser(const MmioAccess& a, u64 off);
    void write_cbaser(const MmioAccess& a, u64 off, u64 v);
    void restore_cbaser(const MmioAccess& a, u64 off, u64 v);
    u64 read_cwriter(const MmioAccess& a, u64 off);
    void write_cwriter(const MmioAccess& a, u64 off, u64 v);
    void restore_cwriter(const MmioAccess& a, u64 off, u64 v);
    u64 read_creadr(const MmioAccess& a, u64 off);
    void restore_creadr(const MmioAccess& a, u64 off, u64 v);
    u64 read_baser(const MmioAccess& a, u64 off);
    void write_baser(const MmioAccess& a, u64 off, u64 v);
    void restore_baser(const MmioAccess& a, u64 off, u64 v);
    u64 read_idreg(const MmioAccess& a, u64 off);
    void restore_idreg(const MmioAccess& a, u64 off, u64 v);
    u64 read_raz(const MmioAccess& a, u64 off);
    void write_wi(const MmioAccess& a, u64 off, u64 v);
    void write_translater(const MmioAccess& a, u64 off, u64 v);

private:
    class TranslaterFrame final : public MmioHandler {
    public:
        explicit TranslaterFrame(Its& its) : its_(its) {}
        MmioResult mmio_read(const MmioAccess& a, u64& value) override;
        MmioResult mmio_write(const MmioAccess& a, u64 value) override;

    private:
        Its& its_;
    };

    // Registers
    MmioResult mmio_read_table(const MmioAccess& a, u64& value);
    MmioResult mmio_write_table(const MmioAccess& a, u64 value);
    // A 64-bit GITS_CWRITER write (mmio_write): the lock, set_cwriter, update_backlog in one function, with the batch
    // and the INT of the last event found inline (its_commands.cpp).
    void write_cwriter_locked(u64 value);
    void set_cwriter(u64 full);  // a guest write of the whole register (cmd_lock_ held)
    // set_cwriter's and process_queue_batch's bodies, inline into write_cwriter_locked and their out-of-line copies
    // (defined and used in its_commands.cpp only).
    inline void set_cwriter_body(u64 full);
    inline void process_queue_batch_body(u32 budget);
    // The INT command (dw0, dw1) of the event lookup_event found last, if it is still that event's mapping: done as
    // cmd_int_clear_inv does it; false (nothing done) if the event is another one (its_commands.cpp).
    inline bool int_last_event(u64 dw0, u64 dw1);
    u64 queue_bytes() const { return (cbaser::Size::get(cbaser_) + 1) * 4096; }
    u64 queue_base() const { return cbaser::PhysicalAddress::get(cbaser_) << 12; }
    TableGeometry device_table() const { return decode_baser(baser_[0], kDevBits); }
    TableGeometry collection_table() const { return decode_baser(baser_[1], 16); }
    u64 sanitize_baser(unsigned n, u64 v) const;
    void set_baser(unsigned n, u64 v);
    void set_cbaser(u64 v);
    // `process`: a guest's enable works on the queue at once; a restore's leaves it to the backlog (restore_ctlr).
    void set_enabled(bool on, bool process);

    // Command queue
    void process_queue(u32 budget = kCommandsPerTrap);
    void process_queue_batch(u32 budget);
    // The command queue as host memory (GuestMemory::direct), or nullptr: commands are then read with mem_.read().
    // Looked up again whenever GITS_CBASER or the guest's memory map changed since the last lookup.
    const u8* queue_host() {
        if (queue_cbaser_ == cbaser_ && queue_map_gen_ == mem_.map_generation()) return queue_host_;
        return lookup_queue_host();
    }
    const u8* lookup_queue_host();
    // Publishes what lock-free readers see (has_backlog(), the CREADR fast path): after every change of the queue
    // state, before cmd_lock_ is released.
    void update_backlog() {
        // CREADR before the flag: a lock-free reader that sees the flag clear (acquire) sees this CREADR or a newer
        // one.
        creadr_reg_.store(creadr_ | cqueue::Stalled::make(stalled_), MemoryOrder::relaxed);
        backlog_.store(
            enabled_.load(MemoryOrder::relaxed) && !stalled_ && creadr_ != cwriter_ && cbaser::Valid::get(cbaser_) != 0,
            MemoryOrder::release);
    }
    CmdResult execute(const Command& c);
    CmdResult cmd_mapd(const Command& c);
    CmdResult cmd_mapc(const Command& c);
    CmdResult cmd_mapti(const Command& c, u32 intid);
    CmdResult cmd_movi(const Command& c);
    CmdResult cmd_discard(const Command& c);
    CmdResult cmd_int_clear_inv(const Command& c);
    CmdResult cmd_invall(const Command& c);
    CmdResult cmd_sync(const Command& c);
    CmdResult cmd_movall(const Command& c);
    // Looks up (device, event) for the event commands; logs and returns kNil on error. cmd_lock_ held.
    u16 lookup_event(const Command& c) const;
    bool valid_rdbase(u64 rd) const { return rd < sink_.vcpu_count(); }
    u32 ite_target(u16 ite) const { return map_.collection(map_.ite(ite).collection).target; }

    // Mapping changes, each under map_lock_, with the observer told afterwards.
    void unmap_device_events(u16 device_slot);
    void unmap_all();
    void notify_collection(u16 collection_slot);

    // Save / restore
    Status access_for_uaccess(u64 offset, u8 width, bool write, u64& value);
    Status save_collections();
    Status save_devices();
    Status save_itt(const Device& d);
    Status restore_collections();
    Status restore_devices();
    Status restore_dte_run(u64 gpa, u64 first_id, u64 count, u64 id_limit, bool& done);
    Status restore_device(u32 id, u64 dte);
    // Lists every guest-RAM range save_tables() writes or reads while writing -- the flat device table (or the
    // level-1 table and each valid level-2 page), the collection table, each device's ITT -- and refuses
    // (invalid_argument, with a rate-limited log line naming two of them) if any two overlap. `op` names the caller
    // in the log. The one rule for both directions: save_tables() runs it before writing anything, restore_tables()
    // on what it read (so the snapshot dry run refuses such an image).
    Status check_tables_disjoint(const char* op);

    GuestMemory& mem_;
    LpiSink& sink_;
    ItsObserver* observer_ = nullptr;
    bool observer_pending_ = false;  // observer_ != nullptr and set_observer's `pending_calls`
    TranslaterFrame translater_frame_{*this};

    mutable Spinlock map_lock_;
    Spinlock cmd_lock_;

    Atomic<bool> enabled_;  // written under the command lock; read without it by enabled()
    bool stalled_ = false;
    u32 abi_revision_ = 0;
    u64 cbaser_ = 0;
    u64 creadr_ = 0;  // offset only (Stalled lives in stalled_)
    u64 cwriter_ = 0;
    Atomic<bool> backlog_;    // mirror of "commands wait" for has_backlog(), written under cmd_lock_
    Atomic<u64> creadr_reg_;  // mirror of GITS_CREADR (creadr_ | Stalled), written with backlog_
    // queue_host()'s cache: the host address of the queue GITS_CBASER `queue_cbaser_` named under memory map
    // generation `queue_map_gen_` (nullptr: not directly readable, or not looked up yet).
    const u8* queue_host_ = nullptr;
    u64 queue_cbaser_ = ~u64{0};
    u32 queue_map_gen_ = 0;
    u64 baser_[8] = {};

    RestorePhase phase_ = RestorePhase::idle;
    bool iidr_restored_ = false;
    bool baser_restored_[2] = {};
    Status uaccess_status_ = Status::ok;  // set by restore_* accessors (the register table's writers return void)

    Mappings map_;
    Command cmd_;                    // process_queue_batch's copy of the command it executes (cmd_lock_)
    mutable u16 last_ite_ = kNil;    // lookup_event's last answer, checked before the hash lookups (cmd_lock_)
    u16 save_order_[kMaxItes] = {};  // save_itt's scratch: one device's ITE slots in EventID order
    // check_tables_disjoint's scratch, sorted by base: device table or level-1 table, collection table, at most one
    // level-2 page per 512 DeviceIDs (4 KiB pages; with the 64 KiB pages kept: 8), one ITT per device slot.
    static constexpr u32 kMaxTableRanges = 2 + (1u << kDevBits) / (4 * KiB / 8) + kMaxDevices;
    TableRange ranges_[kMaxTableRanges] = {};
};

}  // namespace hv::its
