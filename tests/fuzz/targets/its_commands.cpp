// fuzz_its_commands: a byte stream decoded into ITS commands written into the guest's command queue (structured
// ones with plausible IDs/addresses, and raw 32-byte ones), GITS_CWRITER moves (own and arbitrary values),
// GITS_TRANSLATER writes and physical MSIs, arbitrary register accesses, resets and save/reset/restore round
// trips, over a checking LpiSink and ItsObserver.
// Invariants: the ITS only makes LPIs pending on existing vCPUs with INTIDs in [8192, 2^16); the observer sees a
// consistent map/unmap sequence whose live set matches the ITS's ITE count and its translations; CREADR stays
// 32-byte aligned inside the queue; a successful SAVE_TABLES + reset + RESTORE_TABLES gives back the same
// devices, events, collections and translations; GITS_BASER0/1.Page_Size reads 64 KiB whatever was written.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <set>
#include <utility>
#include <vector>

#include "its/its.hpp"
#include "tests/fuzz/fuzz_support.hpp"

using namespace hv;
using namespace hv::its;
using hvfuzz::ByteStream;

namespace {

constexpr u64 kRamBase = 0x40000000;
// GITS_BASER<n>.Page_Size is read-only 64 KiB (as KVM and QEMU): table pages are 64 KiB and 64 KiB aligned; the
// command queue (GITS_CBASER) still counts 4 KiB pages.
constexpr u64 kTablePage = 64 * KiB;
constexpr u64 kRamSize = 1 * MiB;
constexpr u64 kQueue = kRamBase;                // up to 4 x 4 KiB
constexpr u64 kDevTable = kRamBase + 0x10000;   // up to 2 pages (flat) or a level-1 page
constexpr u64 kCollTable = kRamBase + 0x30000;  // 1 page
constexpr u64 kL2Pages = kRamBase + 0x40000;    // 8 level-2 device table pages
constexpr u64 kL2Count = 8;
constexpr u64 kItts = kRamBase + 0xc0000;  // 64 ITTs, 4 KiB apart
static_assert(kL2Pages + kL2Count * kTablePage <= kItts && kItts + 64 * 0x1000 <= kRamBase + kRamSize);
constexpr u32 kMaxOps = 2048;
// SAVE_TABLES + reset + RESTORE_TABLES rewrites and rescans every device-table page (64 KiB each): the first
// kMaxRoundTrips of an input run, later ones are skipped (inputs of 2 KiB held dozens, which made them ~10x
// costlier than short ones without reaching anything new -- the fuzzer moves the round trips instead).
constexpr u32 kMaxRoundTrips = 2;

// Pending LPIs per vCPU as sets of INTIDs: an input makes a few pending, so clearing and MOVALL cost what is
// pending, not the 56 Ki LPIs of each vCPU.
class CheckingSink final : public LpiSink {
public:
    u32 n = 1;
    u32 vcpu_count() const override { return n; }
    void set_lpi_pending(u32 vcpu, u32 intid, bool pending) override {
        check(vcpu, intid);
        if (pending)
            pending_[vcpu].insert(intid);
        else
            pending_[vcpu].erase(intid);
    }
    bool lpi_pending(u32 vcpu, u32 intid) const override {
        check(vcpu, intid);
        return pending_[vcpu].count(intid) != 0;
    }
    void invalidate_lpi(u32 vcpu, u32 intid) override { check(vcpu, intid); }
    void invalidate_all_lpis(u32 vcpu) override { FUZZ_CHECK(vcpu < n); }
    void move_all_lpis(u32 from, u32 to) override {
        FUZZ_CHECK(from < n && to < n);
        if (from == to) return;
        pending_[to].insert(pending_[from].begin(), pending_[from].end());
        pending_[from].clear();
    }
    void clear() {
        for (auto& p : pending_) p.clear();
    }

private:
    void check(u32 vcpu, u32 intid) const {
        FUZZ_CHECK(vcpu < n);
        FUZZ_CHECK(intid >= 8192 && intid < 65536);
    }
    std::set<u32> pending_[4];
};

class CheckingObserver final : public ItsObserver {
public:
    void on_map(u32 dev, u32 ev, u32 intid, u32 vcpu) override {
        FUZZ_CHECK(intid >= 8192 && intid < 65536);
        FUZZ_CHECK(vcpu == kNoVcpu || vcpu < n);
        auto it = live.find({dev, ev});
        if (it != live.end()) FUZZ_CHECK(it->second.first == intid);  // a re-notification is a target change
        live[{dev, ev}] = {intid, vcpu};
    }
    void on_unmap(u32 dev, u32 ev, u32 intid) override {
        auto it = live.find({dev, ev});
        FUZZ_CHECK(it != live.end());
        FUZZ_CHECK(it->second.first == intid);
        live.erase(it);
    }
    u32 n = 1;
    std::map<std::pair<u32, u32>, std::pair<u32, u32>> live;  // (device, event) -> (intid, vcpu)
};

// Guest RAM: one buffer at kRamBase that remembers which 4 KiB pages were written since the last scrub, so each
// input starts from zero RAM by clearing only those (not 1 MiB per input), and a read of pages never written is a
// memset (RESTORE_TABLES scans 64 KiB device-table pages that are mostly still zero).
class DirtyTrackingMemory final : public GuestMemory {
public:
    static constexpr u64 kPage = 4096;

    Status read(u64 gpa, void* dst, usize len) override {
        if (!contains(gpa, len)) return Status::out_of_range;
        if (len == 0) return Status::ok;
        const u64 off = gpa - kRamBase;
        if (any_dirty(off, len))
            std::memcpy(dst, &ram_[off], len);
        else
            std::memset(dst, 0, len);
        return Status::ok;
    }
    Status write(u64 gpa, const void* src, usize len) override {
        if (!contains(gpa, len)) return Status::out_of_range;
        if (len == 0) return Status::ok;
        // Zeros over pages never written (SAVE_TABLES clears whole tables and ITTs first) leave them clean.
        if (!any_dirty(gpa - kRamBase, len) && all_zero(src, len)) return Status::ok;
        std::memcpy(at(gpa - kRamBase, len), src, len);
        return Status::ok;
    }
    bool contains(u64 gpa, usize len) const override {
        return gpa >= kRamBase && len <= kRamSize && gpa - kRamBase <= kRamSize - len;
    }
    // The harness's own stores (offsets into RAM).
    u8* at(u64 off, u64 len) {
        FUZZ_CHECK(off < kRamSize && len != 0 && len <= kRamSize - off);
        for (u64 p = off / kPage; p <= (off + len - 1) / kPage; ++p) dirty_[p] = true;
        return &ram_[off];
    }
    void scrub() {
        for (u64 p = 0; p < kPages; ++p)
            if (dirty_[p]) std::memset(&ram_[p * kPage], 0, kPage);
        std::memset(dirty_, 0, sizeof dirty_);
    }

private:
    static constexpr u64 kPages = kRamSize / kPage;
    static bool all_zero(const void* p, usize len) {
        static const u8 kZeros[kPage] = {};
        for (usize done = 0; done < len; done += kPage)
            if (std::memcmp(static_cast<const u8*>(p) + done, kZeros, std::min<usize>(kPage, len - done)) != 0)
                return false;
        return true;
    }
    bool any_dirty(u64 off, u64 len) const {
        for (u64 p = off / kPage; p <= (off + len - 1) / kPage; ++p)
            if (dirty_[p]) return true;
        return false;
    }
    u8 ram_[kRamSize] = {};
    bool dirty_[kPages] = {};
};

struct World {
    DirtyTrackingMemory mem;
    CheckingSink sink;
    CheckingObserver obs;
    Its its{mem, sink, &obs};
};

World& world() {
    static World* w = new World;
    return *w;
}

u64 read_reg(World& w, u64 off, u8 width = 8) {
    u64 v = 0;
    FUZZ_CHECK(w.its.mmio_read(MmioAccess{0, off, width, false}, v) == MmioResult::ok);
    return v;
}
void write_reg(World& w, u64 off, u64 v, u8 width = 8) {
    FUZZ_CHECK(w.its.mmio_write(MmioAccess{0, off, width, true}, v) == MmioResult::ok);
}

// `page_code`: the Page_Size the guest writes (any of 4/16/64 KiB or the reserved 0b11); the ITS keeps 64 KiB.
u64 baser_value(u64 addr, u64 pages, bool indirect, u64 page_code) {
    return baser::Valid::make(1) | baser::Indirect::make(indirect) | baser::PageSize::make(page_code) |
           baser::PhysicalAddress::make(addr >> 12) | baser::Size::make(pages - 1);
}

Command structured(ByteStream& in) {
    static constexpr Opcode kOps[] = {Opcode::MAPD, Opcode::MAPC,   Opcode::MAPTI,  Opcode::MAPI,
                                      Opcode::MOVI, Opcode::INT,    Opcode::CLEAR,  Opcode::INV,
                                      Opcode::SYNC, Opcode::INVALL, Opcode::MOVALL, Opcode::DISCARD};
    const Opcode op = kOps[in.u8() % 12];
    const u8 sel = in.u8();
    const u32 dev = sel & 0x80 ? in.u32() : in.u8() % 8;
    const u32 ev = sel & 0x40 ? in.u32() : in.u8() % 16;
    const u32 icid = sel & 0x20 ? in.u16() : in.u8() % 8;
    const u64 rd = sel & 0x10 ? in.u64() : in.u8() % 5;
    switch (op) {
        case Opcode::MAPD: {
            const u64 itt = sel & 0x08 ? in.u64() : kItts + (in.u8() % 64u) * u64{0x1000};
            return Command::mapd(dev, itt, in.u8() % 24, (sel & 0x04) == 0);
        }
        case Opcode::MAPC:
            return Command::mapc(icid, rd, (sel & 0x04) == 0);
        case Opcode::MAPTI: {
            const u32 intid = sel & 0x08 ? in.u32() : 8192 + in.u8();
            return Command::mapti(dev, ev, intid, icid);
        }
        case Opcode::MAPI:
            return Command::mapi(dev, ev, icid);
        case Opcode::MOVI:
            return Command::movi(dev, ev, icid);
        case Opcode::INT:
        case Opcode::CLEAR:
        case Opcode::INV:
        case Opcode::DISCARD:
            return Command::event_cmd(op, dev, ev);
        case Opcode::SYNC:
            return Command::sync(rd);
        case Opcode::INVALL:
            return Command::invall(icid);
        case Opcode::MOVALL:
            return Command::movall(rd, in.u8() % 5);
    }
    return Command{};
}

void check_consistent(World& w) {
    FUZZ_CHECK(w.obs.live.size() == w.its.ite_count());
    for (const auto& [key, val] : w.obs.live) {
        auto t = w.its.translate(key.first, key.second);
        if (!w.its.enabled()) {
            FUZZ_CHECK(t.status() == Status::busy);
            continue;
        }
        if (val.second == ItsObserver::kNoVcpu) {
            FUZZ_CHECK(!t.ok());
        } else {
            FUZZ_CHECK(t.ok());
            FUZZ_CHECK(t.value().intid == val.first && t.value().vcpu == val.second);
        }
    }
    const u64 creadr = read_reg(w, reg(GitsReg::CREADR));
    FUZZ_CHECK((creadr & 0x1f) == 0 || (creadr & 0x1f) == 1);  // Stalled is bit 0
    for (unsigned n = 0; n < 2; ++n)                           // Page_Size is read-only 64 KiB, PA[51:48] RES0
        FUZZ_CHECK((read_reg(w, reg(GitsReg::BASER0) + 8 * n) & (mask(15, 12) | baser::PageSize::field_mask)) ==
                   baser::PageSize::make(baser::kPage64K));  // Shareability [11:10] stays writable
}

struct Range {
    u64 base, size;
};

// Device table (and its level-2 pages), collection table, command queue and every device's ITT: pairwise
// disjoint? Sizes are bounded by RAM; a range outside RAM makes the save fail anyway.
bool tables_disjoint(World& w, u64 cbaser_v, u64 baser0, u64 baser1) {
    std::vector<Range> r;
    const TableGeometry dt = decode_baser(baser0, kDevBits);
    const TableGeometry ct = decode_baser(baser1, 16);
    if (dt.valid) {
        r.push_back({dt.base, dt.indirect ? dt.bytes : dt.id_limit * 8});
        if (dt.indirect) {
            for (u64 i = 0; i < dt.l1_entries() && i * dt.ids_per_page() < dt.id_limit; ++i) {
                u64 l1 = 0;
                if (w.mem.read_obj(dt.base + i * 8, l1) != Status::ok) return false;
                if (l1 >> 63) r.push_back({(l1 & 0x000ffffffffff000ull) & ~(dt.page_size - 1), dt.page_size});
            }
        }
    }
    if (ct.valid) r.push_back({ct.base, ct.bytes});
    r.push_back({cbaser::PhysicalAddress::get(cbaser_v) << 12, (cbaser::Size::get(cbaser_v) + 1) * 4096});
    const Mappings& m = w.its.mappings();
    for (u16 i = 0; i < m.device_slot_end(); ++i) {
        const Device& d = m.device(i);
        if (d.used) r.push_back({d.itt_addr, u64{d.event_limit()} * 8});
    }
    for (usize i = 0; i < r.size(); ++i)
        for (usize j = 0; j < i; ++j)
            if (r[i].base < r[j].base + r[j].size && r[j].base < r[i].base + r[i].size) return false;
    return true;
}

// SAVE_TABLES, reset, the KVM restore order; if the save succeeded the restored ITS must be the same.
void round_trip(World& w) {
    // Commands run in bounded batches (docs/its.md): poll CREADR as a driver does until the queue is drained or
    // stalled. Commands still queued at save legitimately run after the restore, so then only the restore's
    // success is checked, not that the state is unchanged.
    // A read that leaves CREADR where it was made no progress (disabled, stalled, no queue), nor will the next.
    const u64 cwriter = read_reg(w, reg(GitsReg::CWRITER)) & cqueue::kOffsetMask;
    u64 creadr = read_reg(w, reg(GitsReg::CREADR)) & cqueue::kOffsetMask;
    for (int i = 0; i < 4096 && creadr != cwriter; ++i) {
        const u64 now = read_reg(w, reg(GitsReg::CREADR)) & cqueue::kOffsetMask;
        if (now == creadr) break;
        creadr = now;
    }
    const u32 regs64[] = {reg(GitsReg::CBASER), reg(GitsReg::CREADR), reg(GitsReg::CWRITER), reg(GitsReg::BASER0),
                          reg(GitsReg::BASER0) + 8};
    u64 v64[5] = {};
    for (int i = 0; i < 5; ++i) FUZZ_CHECK(w.its.save_read(regs64[i], 8, v64[i]) == Status::ok);
    u64 iidr = 0, ctlr = 0;
    FUZZ_CHECK(w.its.save_read(reg(GitsReg::IIDR), 4, iidr) == Status::ok);
    FUZZ_CHECK(w.its.save_read(reg(GitsReg::CTLR), 4, ctlr) == Status::ok);
    // IHI0069H 5.2 / 12.19.1: the tables and ITTs are memory the guest gives the ITS; if the guest made them
    // overlap, what a save writes into one clobbers another (UNPREDICTABLE), so the restored state is only
    // compared when every region is disjoint.
    const bool drained = (v64[1] & cqueue::kOffsetMask) == (v64[2] & cqueue::kOffsetMask);
    const bool disjoint = drained && tables_disjoint(w, v64[0], v64[3], v64[4]);
    if (w.its.save_tables() != Status::ok) return;
    const usize devs = w.its.device_count(), ites = w.its.ite_count(), colls = w.its.collection_count();
    const auto live = w.obs.live;
    w.its.reset();
    FUZZ_CHECK(w.its.ite_count() == 0 && w.obs.live.empty());
    FUZZ_CHECK(w.its.restore_write(reg(GitsReg::CBASER), 8, v64[0]) == Status::ok);
    FUZZ_CHECK(w.its.restore_write(reg(GitsReg::CREADR), 8, v64[1]) == Status::ok);
    FUZZ_CHECK(w.its.restore_write(reg(GitsReg::CWRITER), 8, v64[2]) == Status::ok);
    FUZZ_CHECK(w.its.restore_write(reg(GitsReg::IIDR), 4, iidr) == Status::ok);
    FUZZ_CHECK(w.its.restore_write(reg(GitsReg::BASER0), 8, v64[3]) == Status::ok);
    FUZZ_CHECK(w.its.restore_write(reg(GitsReg::BASER0) + 8, 8, v64[4]) == Status::ok);
    const Status tables = w.its.restore_tables();
    if (!disjoint) {
        ignore_status(w.its.restore_write(reg(GitsReg::CTLR), 4, ctlr));
        return;
    }
    FUZZ_CHECK(tables == Status::ok);
    FUZZ_CHECK(w.its.restore_write(reg(GitsReg::CTLR), 4, ctlr) == Status::ok);
    if (std::getenv("HV_FUZZ_LOG"))
        std::fprintf(stderr, "round trip: devices %zu -> %zu, ites %zu -> %zu, collections %zu -> %zu\n", devs,
                     w.its.device_count(), ites, w.its.ite_count(), colls, w.its.collection_count());
    FUZZ_CHECK(w.its.device_count() == devs);
    FUZZ_CHECK(w.its.ite_count() == ites);
    FUZZ_CHECK(w.its.collection_count() == colls);
    FUZZ_CHECK(w.obs.live == live);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    hvfuzz::install_log_sink();
    ByteStream in(data, size);
    World& w = world();
    w.its.reset();
    w.mem.scrub();
    w.sink.clear();
    w.obs.live.clear();
    w.sink.n = w.obs.n = 1 + in.u8() % 4;

    // Setup: command queue, device table (flat or two-level), collection table, enable -- each skippable.
    // setup bits: [1:0] queue pages - 1, [2] two-level, [4:3] the Page_Size code written, [5] flat pages - 1,
    // [6] leave disabled, [7] no CBASER.
    const u8 setup = in.u8();
    const u64 page_code = (setup >> 3) & 3;
    const u64 queue_pages = 1 + (setup & 3);
    const u64 queue_bytes = queue_pages * 4096;
    if (!(setup & 0x80)) write_reg(w, reg(GitsReg::CBASER), cbaser::Valid::make(1) | kQueue | (queue_pages - 1));
    if (setup & 0x04) {
        write_reg(w, reg(GitsReg::BASER0), baser_value(kDevTable, 1, true, page_code));
        // Level-1 entries 0, 1 and 7 point at level-2 pages (DeviceIDs 0..16383 and 57344..65535); the others are
        // invalid. Every round trip's restore scans each valid level-2 page (8192 DTEs), so the three pages keep
        // the cases (neighbouring pages, a distant one, holes) at 3/8 of the cost of all eight.
        for (u64 i : {0, 1, 7}) {
            const u64 l1 = (u64{1} << 63) | (kL2Pages + i * kTablePage);
            std::memcpy(w.mem.at(kDevTable - kRamBase + i * 8, 8), &l1, 8);
        }
    } else {
        write_reg(w, reg(GitsReg::BASER0), baser_value(kDevTable, 1 + ((setup >> 5) & 1), false, page_code));
    }
    write_reg(w, reg(GitsReg::BASER0) + 8, baser_value(kCollTable, 1, false, page_code));
    if (!(setup & 0x40)) write_reg(w, reg(GitsReg::CTLR), 1, 4);
    u64 cwriter = read_reg(w, reg(GitsReg::CWRITER));
    u32 round_trips = 0;

    for (u32 op = 0; op < kMaxOps && !in.empty(); ++op) {
        switch (in.u8() % 16) {
            case 0:
            case 1:
            case 2:
            case 3:
            case 4:
            case 5: {  // a structured command
                const Command c = structured(in);
                std::memcpy(w.mem.at(kQueue - kRamBase + cwriter % queue_bytes, sizeof c), &c, sizeof c);
                cwriter = (cwriter + 32) % queue_bytes;
                if (in.u8() & 1) write_reg(w, reg(GitsReg::CWRITER), cwriter);
                break;
            }
            case 6: {  // raw command bytes
                in.copy(w.mem.at(kQueue - kRamBase + cwriter % queue_bytes, 32), 32);
                cwriter = (cwriter + 32) % queue_bytes;
                break;
            }
            case 7:
                write_reg(w, reg(GitsReg::CWRITER), cwriter);
                break;
            case 8: {  // an arbitrary CWRITER (unaligned, beyond the queue, Retry)
                write_reg(w, reg(GitsReg::CWRITER), in.u64(), in.u8() & 1 ? 8 : 4);
                cwriter = read_reg(w, reg(GitsReg::CWRITER)) & ~u64{0x1f};
                break;
            }
            case 9: {  // MSIs: a CPU store to GITS_TRANSLATER (DeviceID 0) or a physical one
                if (in.u8() & 1) {
                    const u8 widths[] = {2, 4, 1, 8};
                    write_reg(w, reg(GitsReg::TRANSLATER), in.u32() % 32, widths[in.u8() % 4]);
                } else {
                    const u8 sel = in.u8();
                    ignore_status(
                        w.its.signal_msi(sel & 1 ? in.u32() : in.u8() % 8, sel & 2 ? in.u32() : in.u8() % 16));
                }
                break;
            }
            case 10: {  // any register access, any width (offset inside the 128 KiB window or a little beyond)
                const u8 widths[] = {1, 2, 4, 8, 3, 16};
                MmioAccess a{in.u8() % 4u, in.u32() % (2 * 64 * KiB + 0x100), widths[in.u8() % 6], (in.u8() & 1) != 0};
                u64 value = in.u64();
                if (a.write)
                    (void)w.its.mmio_write(a, value);
                else
                    (void)w.its.mmio_read(a, value);
                cwriter = read_reg(w, reg(GitsReg::CWRITER)) & ~u64{0x1f};
                break;
            }
            case 11:
                check_consistent(w);
                break;
            case 12:  // the costly check (save, reset, restore: whole device-table pages): bounded per input
                if (round_trips++ < kMaxRoundTrips) round_trip(w);
                cwriter = read_reg(w, reg(GitsReg::CWRITER)) & ~u64{0x1f};
                break;
            case 13: {  // save/restore accessors out of order / with junk
                const u8 widths[] = {4, 8, 2};
                u64 value = in.u64();
                const u64 off = in.u16();
                if (in.u8() & 1)
                    ignore_status(w.its.restore_write(off, widths[in.u8() % 3], value));
                else
                    ignore_status(w.its.save_read(off, widths[in.u8() % 3], value));
                if (in.u8() % 8 == 0) ignore_status(w.its.restore_tables());
                break;
            }
            case 14: {  // the guest scribbles over a table or an ITT in RAM
                const u64 off = in.u32() % kRamSize;
                const u64 v = in.u64();
                std::memcpy(w.mem.at(off & ~u64{7}, 8), &v, 8);
                break;
            }
            default:
                if (in.u8() % 16 == 0) {
                    w.its.reset();
                    FUZZ_CHECK(w.obs.live.empty());
                    cwriter = 0;
                }
                break;
        }
    }
    check_consistent(w);
    // Free what this input allocated: libFuzzer re-runs an input under LeakSanitizer when it made more
    // allocations than it freed (the observer's map, the sink's sets), which doubled the cost of most inputs.
    // The reset unmaps everything through the observer, which must end up empty.
    w.its.reset();
    FUZZ_CHECK(w.obs.live.empty());
    w.sink.clear();
    return 0;
}
