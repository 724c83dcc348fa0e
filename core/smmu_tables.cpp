#include "core/smmu_tables.hpp"

namespace hv::smmu {

namespace {

constexpr u64 kPage = 4096;

// Command fields (IHI0070 4.1.x): opcode in dword 0 [7:0].
using CmdOpcode = Field<7, 0>;
using CmdSid = Field<63, 32>;   // CFGI_STE / CFGI_CD
using CmdSsid = Field<31, 12>;  // CFGI_CD
using CmdLeaf = Bit<0>;         // dword 1 of CFGI_STE / CFGI_CD
using CmdRange = Field<4, 0>;   // dword 1 of CFGI_STE_RANGE
using CmdVmid = Field<47, 32>;  // TLBI_NH_ALL / TLBI_S12_VMALL
using CmdSyncCs = Field<13, 12>;

// Event record fields (IHI0070 7.3).
using EvtType = Field<7, 0>;
using EvtSsv = Bit<11>;
using EvtSsid = Field<31, 12>;
using EvtSid = Field<63, 32>;
using EvtRnw = Bit<35>;  // dword 1
using EvtS2 = Bit<39>;   // dword 1

Cmd make(Opcode op, u64 dw0 = 0, u64 dw1 = 0) {
    Cmd c;
    c.dw[0] = CmdOpcode::make(static_cast<u64>(op)) | dw0;
    c.dw[1] = dw1;
    return c;
}

unsigned bits_for(u64 end) {  // smallest n with end <= 2^n
    unsigned n = 0;
    while (n < 64 && (u64{1} << n) < end) ++n;
    return n;
}

u64 window_end(const DmaWindow& w) {
    u64 end = 0;
    for (const MemRegion& r : w.ram) end = max(end, r.end());
    for (u64 p : w.doorbell_pages) end = max(end, p + kPage);
    return end;
}

}  // namespace

Cmd cmd_cfgi_ste(u32 sid) { return make(Opcode::CFGI_STE, CmdSid::make(sid), CmdLeaf::make(1)); }
Cmd cmd_cfgi_all() { return make(Opcode::CFGI_ALL, 0, CmdRange::make(31)); }
Cmd cmd_cfgi_cd(u32 sid, u32 ssid) {
    return make(Opcode::CFGI_CD, CmdSid::make(sid) | CmdSsid::make(ssid), CmdLeaf::make(1));
}
Cmd cmd_tlbi_nh_all(u16 vmid) { return make(Opcode::TLBI_NH_ALL, CmdVmid::make(vmid)); }
Cmd cmd_tlbi_s12_vmall(u16 vmid) { return make(Opcode::TLBI_S12_VMALL, CmdVmid::make(vmid)); }
Cmd cmd_tlbi_nsnh_all() { return make(Opcode::TLBI_NSNH_ALL); }
Cmd cmd_sync() { return make(Opcode::SYNC, CmdSyncCs::make(0)); }
u8 cmd_opcode(const Cmd& c) { return static_cast<u8>(CmdOpcode::get(c.dw[0])); }

const char* cmdq_error_name(u32 err) {
    switch (err) {
        case 0:
            return "none";
        case 1:
            return "CERROR_ILL";
        case 2:
            return "CERROR_ABT";
        case 3:
            return "CERROR_ATC_INV_SYNC";
        default:
            return "unknown";
    }
}

Event decode_event(const EventRecord& r) {
    Event e;
    e.type = static_cast<u8>(EvtType::get(r.dw[0]));
    e.sid = static_cast<u32>(EvtSid::get(r.dw[0]));
    e.ssv = EvtSsv::get(r.dw[0]) != 0;
    e.ssid = static_cast<u32>(EvtSsid::get(r.dw[0]));
    switch (e.type) {  // the raw code: reserved / IMPDEF types are possible
        case static_cast<u8>(EventType::F_UUT):
        case static_cast<u8>(EventType::F_TRANSL_FORBIDDEN):
        case static_cast<u8>(EventType::F_WALK_EABT):
        case static_cast<u8>(EventType::F_TRANSLATION):
        case static_cast<u8>(EventType::F_ADDR_SIZE):
        case static_cast<u8>(EventType::F_ACCESS):
        case static_cast<u8>(EventType::F_PERMISSION):
            e.has_address = true;
            e.address = r.dw[2];
            e.address2 = r.dw[3] & mask(51, 3);
            e.read = EvtRnw::get(r.dw[1]) != 0;
            e.stage2 = EvtS2::get(r.dw[1]) != 0;
            break;
        case static_cast<u8>(EventType::F_STE_FETCH):
        case static_cast<u8>(EventType::F_CD_FETCH):
            e.address2 = r.dw[3] & mask(51, 3);
            break;
        default:
            break;
    }
    return e;
}

const char* event_name(u8 type) {
    switch (static_cast<EventType>(type)) {
        case EventType::F_UUT:
            return "F_UUT";
        case EventType::C_BAD_STREAMID:
            return "C_BAD_STREAMID";
        case EventType::F_STE_FETCH:
            return "F_STE_FETCH";
        case EventType::C_BAD_STE:
            return "C_BAD_STE";
        case EventType::F_BAD_ATS_TREQ:
            return "F_BAD_ATS_TREQ";
        case EventType::F_STREAM_DISABLED:
            return "F_STREAM_DISABLED";
        case EventType::F_TRANSL_FORBIDDEN:
            return "F_TRANSL_FORBIDDEN";
        case EventType::C_BAD_SUBSTREAMID:
            return "C_BAD_SUBSTREAMID";
        case EventType::F_CD_FETCH:
            return "F_CD_FETCH";
        case EventType::C_BAD_CD:
            return "C_BAD_CD";
        case EventType::F_WALK_EABT:
            return "F_WALK_EABT";
        case EventType::F_TRANSLATION:
            return "F_TRANSLATION";
        case EventType::F_ADDR_SIZE:
            return "F_ADDR_SIZE";
        case EventType::F_ACCESS:
            return "F_ACCESS";
        case EventType::F_PERMISSION:
            return "F_PERMISSION";
        case EventType::F_TLB_CONFLICT:
            return "F_TLB_CONFLICT";
        case EventType::F_CFG_CONFLICT:
            return "F_CFG_CONFLICT";
    }
    return "unknown";
}

EventDrain drain_event_queue(const EventRecord* ring, const QueueIndex& q, u32 prod_reg, u32 cons_reg, EventFn fn,
                             void* ctx) {
    EventDrain d;
    const u32 ovflg = static_cast<u32>(queue::Ovflg::field_mask);
    d.overflowed = (prod_reg & ovflg) != (cons_reg & ovflg);
    const u32 prod = prod_reg & q.mask();
    u32 cons = cons_reg & q.mask();
    for (u32 n = 0; !q.empty(prod, cons) && n < (1u << q.log2); ++n) {
        fn(decode_event(ring[q.slot(cons)]), ctx);
        cons = q.next(cons);
        ++d.consumed;
    }
    d.cons = cons | (prod_reg & ovflg);
    return d;
}

usize pcie_stream_ids(const PcieInfo& pcie, u32 smmu_phandle, StreamIdRange* out, usize cap) {
    if (!pcie.present || cap == 0) return 0;
    const u32 rid_first = pcie.bus_start << 8;
    const u32 rid_last = (pcie.bus_end << 8) | 0xff;
    if (pcie.iommu_map.empty()) {
        out[0] = {rid_first, rid_last - rid_first + 1};  // StreamID = requester ID
        return 1;
    }
    usize n = 0;
    for (const PciIommuMap& m : pcie.iommu_map) {
        if (m.phandle != smmu_phandle || m.length == 0 || n == cap) continue;
        // The mask applies to the requester ID before the lookup (pci-iommu.txt); with a mask, the map's input range
        // is what the masked RIDs can hit. Intersect [rid_base, rid_base + length) with the bus range (masked).
        const u64 lo = max<u64>(m.rid_base, rid_first & pcie.iommu_map_mask);
        const u64 hi = min<u64>(u64{m.rid_base} + m.length, u64{rid_last & pcie.iommu_map_mask} + 1);
        if (lo >= hi) continue;
        const u64 first = u64{m.sid_base} + (lo - m.rid_base);
        if (first > 0xffffffffull) continue;
        out[n++] = {static_cast<u32>(first), static_cast<u32>(min<u64>(hi - lo, 0x100000000ull - first))};
    }
    return n;
}

u32 stream_table_log2(const StreamIdRange* ranges, usize n) {
    u64 end = 1;
    for (usize i = 0; i < n; ++i) end = max<u64>(end, u64{ranges[i].first} + ranges[i].count);
    return bits_for(end);
}

constexpr Ste kAbortSte{};

void fill_stream_table(Ste* table, u32 log2, const StreamIdRange* ranges, usize n, const Ste& device) {
    const u64 entries = u64{1} << log2;
    for (u64 sid = 0; sid < entries; ++sid) {
        bool covered = false;
        for (usize i = 0; i < n && !covered; ++i)
            covered = sid >= ranges[i].first && sid - ranges[i].first < ranges[i].count;
        // Word by word: a 64-byte struct assignment is a memcpy call per entry, and the table has up to 65,536
        // entries (about 4 M instructions per boot, docs/benchmarks.md).
        const Ste& src = covered ? device : kAbortSte;
        u64* dst = table[sid].dw;
        dst[0] = src.dw[0];
        dst[1] = src.dw[1];
        dst[2] = src.dw[2];
        dst[3] = src.dw[3];
        dst[4] = src.dw[4];
        dst[5] = src.dw[5];
        dst[6] = src.dw[6];
        dst[7] = src.dw[7];
    }
}

namespace {

// How many StreamIDs of [first, first + count) the ranges cover (ranges may overlap: an iommu-map is not checked
// for that, so count each StreamID once by clipping against the ones before).
u64 covered_in(u64 first, u64 count, const StreamIdRange* ranges, usize n) {
    u64 covered = 0;
    for (u64 sid = first; sid < first + count;) {
        // The next StreamID at or after `sid` that some range covers, and how far that coverage runs.
        u64 best_start = first + count, best_end = first + count;
        for (usize i = 0; i < n; ++i) {
            const u64 lo = ranges[i].first, hi = u64{ranges[i].first} + ranges[i].count;
            if (hi <= sid || lo >= first + count || ranges[i].count == 0) continue;
            const u64 start = max(lo, sid);
            if (start < best_start || (start == best_start && hi > best_end)) best_start = start, best_end = hi;
        }
        if (best_start >= first + count) break;
        const u64 end = min(best_end, first + count);
        covered += end - best_start;
        sid = end;
    }
    return covered;
}

}  // namespace

Result<usize> fill_stream_table_2level(u64* l1, u32 log2, u32 split, Ste* l2, u64 l2_pa, usize l2_cap,
                                       const StreamIdRange* ranges, usize n, const Ste& device) {
    constexpr usize kMaxRanges = 8;
    if (split == 0 || split > log2 || split > 12 || n > kMaxRanges) return Status::invalid_argument;
    const u64 per_table = u64{1} << split;
    const u64 spans = u64{1} << (log2 - split);
    usize used = 0;
    usize device_table = l2_cap, abort_table = l2_cap;  // l2_cap: not allocated yet
    auto take = [&](usize& index) -> bool {
        if (index != l2_cap) return true;
        if (used == l2_cap) return false;
        index = used++;
        return true;
    };
    for (u64 span = 0; span < spans; ++span) {
        const u64 first = span * per_table;
        const u64 covered = covered_in(first, per_table, ranges, n);
        usize table = l2_cap;
        if (covered == per_table || covered == 0) {
            usize& shared = covered != 0 ? device_table : abort_table;
            const bool fresh = shared == l2_cap;
            if (!take(shared)) return Status::no_memory;
            table = shared;
            if (fresh) {
                const StreamIdRange all{0, static_cast<u32>(per_table)};
                fill_stream_table(l2 + table * per_table, split, &all, covered != 0 ? 1 : 0, device);
            }
        } else {
            if (!take(table)) return Status::no_memory;
            // Its own table: StreamIDs relative to the span.
            StreamIdRange rel[kMaxRanges];
            usize m = 0;
            for (usize i = 0; i < n; ++i) {
                const u64 lo = max<u64>(ranges[i].first, first);
                const u64 hi = min<u64>(u64{ranges[i].first} + ranges[i].count, first + per_table);
                if (lo < hi) rel[m++] = {static_cast<u32>(lo - first), static_cast<u32>(hi - lo)};
            }
            fill_stream_table(l2 + table * per_table, split, rel, m, device);
        }
        l1[span] = l1std::Span::make(split + 1) | l1std::L2Ptr::make((l2_pa + table * per_table * sizeof(Ste)) >> 6);
    }
    return used;
}

unsigned oas_bits(u64 field) { return parange_bits(field); }  // same encoding as ID_AA64MMFR0_EL1.PARange

Result<unsigned> dma_ia_bits(const DmaWindow& w, Regime regime, unsigned oas) {
    const unsigned need = max(bits_for(window_end(w)), 32u);
    if (need > oas) return Status::out_of_range;  // identity: input = output address
    if (regime == Regime::stage2) {
        if (need > 43) return Status::out_of_range;  // core/stage2: level-1 start, <= 16 concatenated tables
        return need;
    }
    if (need > 48) return Status::out_of_range;
    return need <= 39 ? 39u : 48u;  // level-1 or level-0 start, full root table
}

Status map_dma_window(PageTable& table, const DmaWindow& w) {
    for (const MemRegion& r : w.ram) {
        if (!is_aligned(r.base, kPage) || !is_aligned(r.size, kPage)) return Status::invalid_argument;
        HV_TRY(table.map(r.base, r.base, r.size, MapAttrs{MemType::normal, true, false}));
    }
    for (u64 p : w.doorbell_pages) {
        if (!is_aligned(p, kPage)) return Status::invalid_argument;
        HV_TRY(table.map(p, p, kPage, MapAttrs{MemType::device, true, false}));
    }
    return Status::ok;
}

Cd make_cd(const PageTable& s1, u16 asid, u64 ips_field) {
    Cd c;
    // TTB0 walks: 4 KiB granule, inner/outer write-back, inner shareable; TTB1 disabled (EPD1). AA64 tables, faults
    // recorded (R) and terminated transactions aborted (A; no stall model).
    c.dw[0] = cd::T0sz::make(64 - s1.ia_bits()) | cd::Tg0::make(0) | cd::Ir0::make(kCacheWb) | cd::Or0::make(kCacheWb) |
              cd::Sh0::make(kShareInner) | cd::Epd1::make(1) | cd::V::make(1) | cd::Ips::make(ips_field) |
              cd::Aa64::make(1) | cd::R::make(1) | cd::A::make(1) | cd::Aset::make(1) | cd::Asid::make(asid);
    c.dw[1] = cd::Ttb0::make(s1.root_pa() >> 4);
    c.dw[3] = pte::kMairValue;
    return c;
}

Ste make_ste_stage1(u64 cd_pa) {
    Ste s;
    s.dw[0] = ste::V::make(1) | ste::Config::make(ste::kConfigS1) | ste::S1Fmt::make(0) |
              ste::S1ContextPtr::make(cd_pa >> 6) | ste::S1CdMax::make(0);
    // CD fetches: write-back, inner shareable. STRW = 0 (EL1 stream world), no ATS, no stall.
    s.dw[1] = ste::S1Cir::make(kCacheWb) | ste::S1Cor::make(kCacheWb) | ste::S1Csh::make(kShareInner);
    return s;
}

Ste make_ste_stage2(const PageTable& s2, u16 vmid, u64 ps_field) {
    Ste s;
    s.dw[0] = ste::V::make(1) | ste::Config::make(ste::kConfigS2);
    const u64 sl0 = s2.start_level() == 0 ? 2 : s2.start_level() == 1 ? 1 : 0;  // as VTCR_EL2.SL0, 4 KiB granule
    s.dw[2] = ste::S2Vmid::make(vmid) | ste::S2T0sz::make(64 - s2.ia_bits()) | ste::S2Sl0::make(sl0) |
              ste::S2Ir0::make(kCacheWb) | ste::S2Or0::make(kCacheWb) | ste::S2Sh0::make(kShareInner) |
              ste::S2Tg::make(0) | ste::S2Ps::make(ps_field) | ste::S2Aa64::make(1) | ste::S2R::make(1);
    s.dw[3] = ste::S2Ttb::make(s2.root_pa() >> 4);
    return s;
}

}  // namespace hv::smmu
