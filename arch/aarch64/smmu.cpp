#include "arch/aarch64/smmu.hpp"

#include "arch/aarch64/gic.hpp"
#include "arch/aarch64/mmu.hpp"
#include "arch/aarch64/sysreg.hpp"
#include "core/smmu_tables.hpp"
#include "lib/log.hpp"
#include "lib/spinlock.hpp"
#include "lib/string.hpp"

namespace hv::arch {

namespace {

using namespace hv::smmu;

constexpr u32 kMaxSidBits = 16;  // linear stream table capacity: 2^16 x 64 B = 4 MiB
constexpr u32 kCmdqLog2 = 8;     // 256 commands, 4 KiB
constexpr u32 kEventqLog2 = 7;   // 128 records, 4 KiB
constexpr u32 kSpinLimit = 2000000;
constexpr u16 kAsid = 1;
constexpr u16 kVmid = 1;
constexpr usize kMaxRanges = PcieInfo::kMaxMsiMaps;
constexpr usize kMaxDoorbells = GicInfo::kMaxIts;
constexpr usize kMaxTablePages = 64;

// The SMMU's memory: BSS (zeroed at boot), identity mapped Normal WB at EL2. A linear stream table must be aligned
// to its size (IHI0070 6.3.23 STRTAB_BASE).
// Its own input section, so that only the table (not the driver's other statics) carries the 4 MiB alignment.
__attribute__((section(".bss.hv_smmu_strtab"))) alignas(4 * MiB) Ste g_strtab[u64{1} << kMaxSidBits];
alignas(64) Cd g_cd;
alignas(4096) Cmd g_cmdq[1u << kCmdqLog2];
alignas(4096) EventRecord g_eventq[1u << kEventqLog2];
static_assert(sizeof g_strtab == 4 * MiB);

// Page tables come from the EL2 pool; the pages are remembered so a non-coherent SMMU can be given clean copies.
class RecordingPool final : public PageAllocator {
public:
    u64 alloc_pages(usize pages) override {
        const u64 pa = table_pool().alloc_pages(pages);
        if (pa != 0 && count_ < kMaxTablePages) pages_[count_++] = {pa, pages};
        return pa;
    }
    u64* table_ptr(u64 pa) override { return table_pool().table_ptr(pa); }
    usize count() const { return count_; }
    u64 base(usize i) const { return pages_[i].pa; }
    usize pages(usize i) const { return pages_[i].n; }

private:
    struct Block {
        u64 pa;
        usize n;
    };
    Block pages_[kMaxTablePages] = {};
    usize count_ = 0;
};

struct Smmu {
    u64 base = 0;
    bool coherent = false;
    bool active = false;
    bool stage2 = false;
    u32 sid_log2 = 0;
    QueueIndex cmdq{kCmdqLog2};
    QueueIndex eventq{kEventqLog2};
    u32 cmd_prod = 0;
    Spinlock cmd_lock;
    Spinlock event_lock;
    SmmuStats stats;
};

constinit Smmu g_smmu;
RecordingPool g_pool;
PageTable g_dma_table;

u64 pa(const void* p) { return reinterpret_cast<u64>(p); }  // identity map at EL2

u32 rd32(Reg r) { return mmio_read<u32>(g_smmu.base + reg(r)); }
void wr32(Reg r, u32 v) { mmio_write<u32>(g_smmu.base + reg(r), v); }
void wr64(Reg r, u64 v) { mmio_write<u64>(g_smmu.base + reg(r), v); }

void dcache_op(const void* p, usize len, bool invalidate) {
    const u64 ctr = HV_READ_SYSREG(ctr_el0);
    const u64 line = u64{4} << ((ctr >> 16) & 0xf);
    for (u64 a = align_down(pa(p), line); a < pa(p) + len; a += line) {
        if (invalidate)
            asm volatile("dc civac, %0" ::"r"(a) : "memory");
        else
            asm volatile("dc cvac, %0" ::"r"(a) : "memory");
    }
    dsb_sy();
}
// Make CPU writes visible to a non-coherent SMMU (a coherent one snoops).
void publish(const void* p, usize len) {
    if (!g_smmu.coherent) dcache_op(p, len, false);
}

// Writes `v` to an enable register and waits for its ACK register to match (IHI0070 6.3.9 CR0ACK).
Status write_acked(Reg r, Reg ack, u32 v) {
    wr32(r, v);
    for (u32 spin = 0; spin < kSpinLimit; ++spin) {
        if (rd32(ack) == v) return Status::ok;
        cpu_relax();
    }
    HV_LOG_ERROR("smmu: register 0x%x = 0x%x not acknowledged (0x%x)", reg(r), v, rd32(ack));
    return Status::timeout;
}

// Queue `n` commands and a CMD_SYNC; wait (bounded) until the SMMU consumed all of them. Caller holds cmd_lock.
Status submit_locked(const Cmd* cmds, u32 n) {
    const QueueIndex& q = g_smmu.cmdq;
    for (u32 i = 0; i <= n; ++i) {
        const Cmd c = i < n ? cmds[i] : cmd_sync();
        u32 spin = 0;
        while (q.full(g_smmu.cmd_prod, rd32(Reg::CMDQ_CONS) & q.mask()) && spin < kSpinLimit) ++spin, cpu_relax();
        if (spin >= kSpinLimit) {
            ++g_smmu.stats.timeouts;
            HV_LOG_RATELIMITED(error, "smmu: command queue full: timeout");
            return Status::timeout;
        }
        g_cmdq[q.slot(g_smmu.cmd_prod)] = c;
        publish(&g_cmdq[q.slot(g_smmu.cmd_prod)], sizeof(Cmd));
        g_smmu.cmd_prod = q.next(g_smmu.cmd_prod);
        ++g_smmu.stats.commands;
    }
    dsb_sy();  // commands visible before the SMMU sees the new PROD
    wr32(Reg::CMDQ_PROD, g_smmu.cmd_prod);
    for (u32 spin = 0; spin < kSpinLimit; ++spin) {
        const u32 cons = rd32(Reg::CMDQ_CONS);
        const u32 gerr = rd32(Reg::GERROR) ^ rd32(Reg::GERRORN);
        if (gerror::CmdqErr::get(gerr)) {
            // IHI0070 7.1: the queue stops at the bad command; report it, skip it, acknowledge, and let the rest run.
            ++g_smmu.stats.timeouts;
            HV_LOG_RATELIMITED(error, "smmu: command 0x%x at CONS 0x%x failed: %s", cmd_opcode(g_cmdq[q.slot(cons)]),
                               cons & q.mask(), cmdq_error_name(static_cast<u32>(queue::ConsErr::get(cons))));
            g_cmdq[q.slot(cons)] = cmd_sync();
            publish(&g_cmdq[q.slot(cons)], sizeof(Cmd));
            wr32(Reg::GERRORN, rd32(Reg::GERRORN) ^ gerror::CmdqErr::make(1));
            return Status::busy;
        }
        if ((cons & q.mask()) == g_smmu.cmd_prod) return Status::ok;
        cpu_relax();
    }
    ++g_smmu.stats.timeouts;
    HV_LOG_RATELIMITED(error, "smmu: CMD_SYNC timed out (PROD 0x%x, CONS 0x%x)", g_smmu.cmd_prod, rd32(Reg::CMDQ_CONS));
    return Status::timeout;
}

Status submit(const Cmd* cmds, u32 n) {
    LockGuard g(g_smmu.cmd_lock);
    return submit_locked(cmds, n);
}

void log_event(const Event& e) {
    const bool fault = e.has_address;
    if (fault) {
        ++g_smmu.stats.faults;
        // StreamID = requester ID on the PCIe root complex: bus:device.function.
        HV_LOG_RATELIMITED(warn, "smmu: DMA %s blocked: %s StreamID 0x%x (%02x:%02x.%u) address 0x%llx%s",
                           e.read ? "read" : "write", event_name(e.type), e.sid, (e.sid >> 8) & 0xff,
                           (e.sid >> 3) & 0x1f, e.sid & 7, static_cast<unsigned long long>(e.address),
                           e.stage2 ? " (stage 2)" : "");
    } else {
        ++g_smmu.stats.config_errors;
        HV_LOG_RATELIMITED(warn, "smmu: %s StreamID 0x%x (%02x:%02x.%u): transaction aborted", event_name(e.type),
                           e.sid, (e.sid >> 8) & 0xff, (e.sid >> 3) & 0x1f, e.sid & 7);
    }
}

void drain_events() {
    if (!g_smmu.active) return;
    LockGuard g(g_smmu.event_lock);
    if (!g_smmu.coherent) dcache_op(g_eventq, sizeof g_eventq, true);  // the SMMU wrote them behind the caches
    const EventDrain d = drain_event_queue(
        g_eventq, g_smmu.eventq, rd32(Reg::EVENTQ_PROD), rd32(Reg::EVENTQ_CONS),
        [](const Event& e, void*) { log_event(e); }, nullptr);
    g_smmu.stats.events += d.consumed;
    if (d.overflowed) {
        ++g_smmu.stats.overflows;
        HV_LOG_RATELIMITED(warn, "smmu: event queue overflowed: DMA faults were lost");
    }
    dsb_sy();  // the records are read before the slots are handed back
    wr32(Reg::EVENTQ_CONS, d.cons);
}

bool eventq_irq(u32, void*) {
    drain_events();
    return true;
}

bool gerror_irq(u32, void*) {
    const u32 active = rd32(Reg::GERROR) ^ rd32(Reg::GERRORN);
    if (active == 0) return true;
    ++g_smmu.stats.gerrors;
    HV_LOG_RATELIMITED(error, "smmu: global error 0x%x%s%s", active,
                       gerror::EventqAbtErr::get(active) ? " (event queue write aborted)" : "",
                       gerror::SfmErr::get(active) ? " (service failure mode: the SMMU stopped translating)" : "");
    // CMDQ_ERR is handled by the command path (it must fix the queue before acknowledging).
    wr32(Reg::GERRORN, rd32(Reg::GERRORN) ^ (active & ~static_cast<u32>(gerror::CmdqErr::field_mask)));
    return true;
}

// The ITS translater pages the root complex's MSIs go to (msi-map / msi-parent targets; every ITS if neither).
usize doorbell_pages(const PlatformInfo& plat, u64* out, usize cap) {
    usize n = 0;
    auto add = [&](const ItsFrame& f) {
        const u64 page = f.base + 0x10000;  // GITS_TRANSLATER frame (IHI0069H 12.19: ITS_base + 64 KiB)
        for (usize i = 0; i < n; ++i)
            if (out[i] == page) return;
        if (n < cap) out[n++] = page;
    };
    for (const ItsFrame& f : plat.gic.its) {
        bool named = plat.pcie.msi_map.empty() && plat.pcie.msi_parent == 0;
        for (const PciMsiMap& m : plat.pcie.msi_map) named |= m.phandle == f.phandle;
        named |= plat.pcie.msi_parent != 0 && plat.pcie.msi_parent == f.phandle;
        if (named) add(f);
    }
    return n;
}

Status disable_smmu() {
    HV_TRY(write_acked(Reg::CR0, Reg::CR0ACK, 0));
    return write_acked(Reg::IRQ_CTRL, Reg::IRQ_CTRLACK, 0);
}

}  // namespace

bool smmu_active() { return g_smmu.active; }
const SmmuStats& smmu_stats() { return g_smmu.stats; }
void smmu_poll_events() { drain_events(); }

DeviceHooks smmu_stats_device() {
    DeviceHooks d;
    d.name = "smmu";
    d.log_stats = [](void*) { smmu_log_stats(); };
    return d;
}

void smmu_log_stats() {
    drain_events();
    const SmmuStats& s = g_smmu.stats;
    HV_LOG_INFO(
        "stats: smmu active=%u stage=%u events=%llu faults=%llu config_errors=%llu overflows=%llu gerrors=%llu "
        "commands=%llu timeouts=%llu",
        g_smmu.active ? 1 : 0, g_smmu.active ? (g_smmu.stage2 ? 2 : 1) : 0, static_cast<unsigned long long>(s.events),
        static_cast<unsigned long long>(s.faults), static_cast<unsigned long long>(s.config_errors),
        static_cast<unsigned long long>(s.overflows), static_cast<unsigned long long>(s.gerrors),
        static_cast<unsigned long long>(s.commands), static_cast<unsigned long long>(s.timeouts));
}

Status smmu_vm_init(const Vm& vm, const PlatformInfo& plat, bool passthrough, bool msi) {
    const SmmuInfo& info = plat.smmu;
    if (!info.present) return Status::not_found;
    if (info.size < 128 * KiB) return Status::unsupported;  // page 0 + page 1
    g_smmu.base = info.base;

    const u32 idr0 = rd32(Reg::IDR0), idr1 = rd32(Reg::IDR1), idr5 = rd32(Reg::IDR5);
    const bool s1 = idr0::S1p::get(idr0) != 0, s2 = idr0::S2p::get(idr0) != 0;
    if ((!s1 && !s2) || (idr0::Ttf::get(idr0) & 2) == 0 || !idr5::Gran4k::get(idr5)) {
        HV_LOG_ERROR("smmu at 0x%llx: no AArch64 4 KiB translation (IDR0 0x%x, IDR5 0x%x)",
                     static_cast<unsigned long long>(info.base), idr0, idr5);
        return Status::unsupported;
    }
    if (idr1::CmdqS::get(idr1) < kCmdqLog2 || idr1::EventqS::get(idr1) < kEventqLog2) return Status::unsupported;
    g_smmu.stage2 = s2;
    // COHACC: the SMMU's table and queue accesses snoop the CPU caches, when the DT also says the bus is coherent.
    g_smmu.coherent = idr0::Cohacc::get(idr0) != 0 && info.coherent;
    const u64 oas_field = min<u64>(idr5::Oas::get(idr5), 5);  // 52-bit output needs LPA descriptors: not used
    const unsigned oas = oas_bits(oas_field);

    // Stop it first: a previous owner (firmware, a kexec) may have left it translating.
    HV_TRY(disable_smmu());

    // StreamIDs of the passed-through root complex.
    StreamIdRange ranges[kMaxRanges];
    const usize nranges = passthrough ? pcie_stream_ids(plat.pcie, info.phandle, ranges, kMaxRanges) : 0;
    u32 log2 = stream_table_log2(ranges, nranges);
    const u32 sid_cap = min<u32>(static_cast<u32>(idr1::SidSize::get(idr1)), kMaxSidBits);
    if (log2 > sid_cap) {
        HV_LOG_WARN("smmu: StreamIDs up to 2^%u needed, the stream table covers 2^%u: the rest abort", log2, sid_cap);
        log2 = sid_cap;
    }
    g_smmu.sid_log2 = log2;

    // The DMA window: the VM's RAM and the doorbell page(s), nothing else.
    u64 doorbells[kMaxDoorbells];
    const usize ndoorbells = msi ? doorbell_pages(plat, doorbells, kMaxDoorbells) : 0;
    const DmaWindow window{Span<const MemRegion>(vm.ram.begin(), vm.ram.size()),
                           Span<const u64>(doorbells, ndoorbells)};
    const Regime regime = g_smmu.stage2 ? Regime::stage2 : Regime::el2_stage1;
    Result<unsigned> ia = dma_ia_bits(window, regime, oas);
    if (!ia.ok()) {
        HV_LOG_ERROR("smmu: guest RAM beyond the SMMU's %u-bit output addresses", oas);
        return ia.status();
    }
    HV_TRY(g_dma_table.init(g_pool, regime, ia.value()));
    HV_TRY(map_dma_window(g_dma_table, window));

    Ste device;
    if (g_smmu.stage2) {
        device = make_ste_stage2(g_dma_table, kVmid, oas_field);
    } else {
        g_cd = make_cd(g_dma_table, kAsid, oas_field);
        publish(&g_cd, sizeof g_cd);
        device = make_ste_stage1(pa(&g_cd));
    }
    fill_stream_table(g_strtab, log2, ranges, nranges, device);
    publish(g_strtab, sizeof(Ste) << log2);
    for (usize i = 0; i < g_pool.count(); ++i)
        publish(reinterpret_cast<const void*>(g_pool.base(i)), g_pool.pages(i) * PageTable::kPageSize);

    // Registers (IHI0070 6.3): table/queue attributes, tables, queues; then CMDQ on, invalidate, EVENTQ on,
    // interrupts, SMMUEN.
    const u64 cache = g_smmu.coherent ? kCacheWb : 0;
    const u64 share = g_smmu.coherent ? kShareInner : 0;
    wr32(Reg::CR1, static_cast<u32>(cr1::QueueIc::make(cache) | cr1::QueueOc::make(cache) | cr1::QueueSh::make(share) |
                                    cr1::TableIc::make(cache) | cr1::TableOc::make(cache) | cr1::TableSh::make(share)));
    wr32(Reg::CR2, static_cast<u32>(cr2::RecInvSid::make(1) | cr2::Ptm::make(1)));
    wr64(Reg::STRTAB_BASE, strtab::Ra::make(1) | strtab::Addr::make(pa(g_strtab) >> 6));
    wr32(Reg::STRTAB_BASE_CFG, static_cast<u32>(strtab::Fmt::make(0) | strtab::Log2Size::make(log2)));
    wr64(Reg::CMDQ_BASE, queue::Ra::make(1) | queue::Addr::make(pa(g_cmdq) >> 5) | queue::Log2Size::make(kCmdqLog2));
    wr32(Reg::CMDQ_PROD, 0);
    wr32(Reg::CMDQ_CONS, 0);
    g_smmu.cmd_prod = 0;
    wr64(Reg::EVENTQ_BASE,
         queue::Ra::make(1) | queue::Addr::make(pa(g_eventq) >> 5) | queue::Log2Size::make(kEventqLog2));
    wr32(Reg::EVENTQ_PROD, 0);
    wr32(Reg::EVENTQ_CONS, 0);
    dsb_sy();

    u32 cr0 = static_cast<u32>(cr0::CmdqEn::make(1));
    HV_TRY(write_acked(Reg::CR0, Reg::CR0ACK, cr0));
    // Nothing cached may survive from before: every STE/CD, every TLB entry (IHI0070 4.3, 4.4).
    const Cmd inval[] = {cmd_cfgi_all(), g_smmu.stage2 ? cmd_tlbi_s12_vmall(kVmid) : cmd_tlbi_nh_all(0),
                         cmd_tlbi_nsnh_all()};
    if (Status s = submit(inval, 3); s != Status::ok) {
        ignore_status(disable_smmu());
        return s;
    }
    cr0 |= static_cast<u32>(cr0::EventqEn::make(1));
    HV_TRY(write_acked(Reg::CR0, Reg::CR0ACK, cr0));

    // Faults arrive on the eventq SPI (edge: the SMMU pulses it), global errors on gerror; both to the boot pCPU.
    const DtIrq irqs[] = {info.eventq, info.gerror};
    const IrqHandler handlers[] = {eventq_irq, gerror_irq};
    for (usize i = 0; i < 2; ++i) {
        if (!irqs[i].valid || irqs[i].type != DtIrq::kSpi) continue;
        if (i == 1 && info.gerror.number == info.eventq.number) continue;  // "combined"
        gic_set_edge(irqs[i].intid(), (irqs[i].flags & 0xf) == 1);
        gic_set_handler(irqs[i].intid(), handlers[i], nullptr);
        gic_enable(irqs[i].intid(), true);
    }
    HV_TRY(write_acked(Reg::IRQ_CTRL, Reg::IRQ_CTRLACK,
                       static_cast<u32>(irq_ctrl::EventqIrqEn::make(1) | irq_ctrl::GerrorIrqEn::make(1))));

    g_smmu.active = true;
    cr0 |= static_cast<u32>(cr0::SmmuEn::make(1));
    if (Status s = write_acked(Reg::CR0, Reg::CR0ACK, cr0); s != Status::ok) {
        g_smmu.active = false;
        return s;
    }

    // The SMMU's own frame must never be reachable by the guest.
    if (vm.stage2.translate(info.base).ok() || vm.stage2.translate(info.base + info.size - 1).ok())
        HV_LOG_ERROR("smmu: its registers are mapped at stage 2: the guest could reprogram it");

    HV_LOG_INFO(
        "smmu at 0x%llx: stage %u, %u-bit IOVA, StreamIDs < 0x%x (%zu range(s) to the VM), %zu doorbell "
        "page(s), eventq INTID %u%s",
        static_cast<unsigned long long>(info.base), g_smmu.stage2 ? 2 : 1, ia.value(), 1u << log2, nranges, ndoorbells,
        info.eventq.valid ? info.eventq.intid() : 0, g_smmu.coherent ? "" : ", non-coherent");
    for (usize i = 0; i < nranges; ++i)
        HV_LOG_INFO("smmu: StreamIDs 0x%x..0x%x -> guest RAM + doorbell", ranges[i].first,
                    ranges[i].first + ranges[i].count - 1);
    return Status::ok;
}

}  // namespace hv::arch
