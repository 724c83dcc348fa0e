#include "arch/aarch64/smmu.hpp"

#include "arch/aarch64/anchor.hpp"
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

constexpr u32 kSpinLimit = 2000000;
constexpr u16 kAsid = 1;
constexpr u16 kVmid = 1;
constexpr usize kMaxRanges = PcieInfo::kMaxMsiMaps;
constexpr usize kMaxDoorbells = GicInfo::kMaxIts;

SmmuState& st() { return hyp().smmu; }
SmmuMemory& mem() { return hyp().smmu_mem; }

u64 pa(const void* p) { return reinterpret_cast<u64>(p); }  // identity map at EL2

u32 rd32(Reg r) { return mmio_read<u32>(st().base + reg(r)); }
void wr32(Reg r, u32 v) { mmio_write<u32>(st().base + reg(r), v); }
void wr64(Reg r, u64 v) { mmio_write<u64>(st().base + reg(r), v); }

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
    if (!st().coherent) dcache_op(p, len, false);
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
    const QueueIndex& q = st().cmdq;
    for (u32 i = 0; i <= n; ++i) {
        const Cmd c = i < n ? cmds[i] : cmd_sync();
        u32 spin = 0;
        while (q.full(st().cmd_prod, rd32(Reg::CMDQ_CONS) & q.mask()) && spin < kSpinLimit) ++spin, cpu_relax();
        if (spin >= kSpinLimit) {
            ++st().stats.timeouts;
            HV_LOG_RATELIMITED(error, "smmu: command queue full: timeout");
            return Status::timeout;
        }
        mem().cmdq[q.slot(st().cmd_prod)] = c;
        publish(&mem().cmdq[q.slot(st().cmd_prod)], sizeof(Cmd));
        st().cmd_prod = q.next(st().cmd_prod);
        ++st().stats.commands;
    }
    dsb_sy();  // commands visible before the SMMU sees the new PROD
    wr32(Reg::CMDQ_PROD, st().cmd_prod);
    for (u32 spin = 0; spin < kSpinLimit; ++spin) {
        const u32 cons = rd32(Reg::CMDQ_CONS);
        const u32 gerr = rd32(Reg::GERROR) ^ rd32(Reg::GERRORN);
        if (gerror::CmdqErr::get(gerr)) {
            // IHI0070 7.1: the queue stops at the bad command; report it, skip it, acknowledge, and let the rest run.
            ++st().stats.timeouts;
            HV_LOG_RATELIMITED(error, "smmu: command 0x%x at CONS 0x%x failed: %s",
                               cmd_opcode(mem().cmdq[q.slot(cons)]), cons & q.mask(),
                               cmdq_error_name(static_cast<u32>(queue::ConsErr::get(cons))));
            mem().cmdq[q.slot(cons)] = cmd_sync();
            publish(&mem().cmdq[q.slot(cons)], sizeof(Cmd));
            wr32(Reg::GERRORN, rd32(Reg::GERRORN) ^ gerror::CmdqErr::make(1));
            return Status::busy;
        }
        if ((cons & q.mask()) == st().cmd_prod) return Status::ok;
        cpu_relax();
    }
    ++st().stats.timeouts;
    HV_LOG_RATELIMITED(error, "smmu: CMD_SYNC timed out (PROD 0x%x, CONS 0x%x)", st().cmd_prod, rd32(Reg::CMDQ_CONS));
    return Status::timeout;
}

Status submit(const Cmd* cmds, u32 n) {
    LockGuard g(st().cmd_lock);
    return submit_locked(cmds, n);
}

void log_event(const Event& e) {
    const bool fault = e.has_address;
    if (fault) {
        ++st().stats.faults;
        // StreamID = requester ID on the PCIe root complex: bus:device.function.
        HV_LOG_RATELIMITED(warn, "smmu: DMA %s blocked: %s StreamID 0x%x (%02x:%02x.%u) address 0x%llx%s",
                           e.read ? "read" : "write", event_name(e.type), e.sid, (e.sid >> 8) & 0xff,
                           (e.sid >> 3) & 0x1f, e.sid & 7, static_cast<unsigned long long>(e.address),
                           e.stage2 ? " (stage 2)" : "");
    } else {
        ++st().stats.config_errors;
        HV_LOG_RATELIMITED(warn, "smmu: %s StreamID 0x%x (%02x:%02x.%u): transaction aborted", event_name(e.type),
                           e.sid, (e.sid >> 8) & 0xff, (e.sid >> 3) & 0x1f, e.sid & 7);
    }
}

void drain_events() {
    if (!st().active) return;
    LockGuard g(st().event_lock);
    if (!st().coherent) dcache_op(mem().eventq, sizeof mem().eventq, true);  // the SMMU wrote them behind the caches
    const EventDrain d = drain_event_queue(
        mem().eventq, st().eventq, rd32(Reg::EVENTQ_PROD), rd32(Reg::EVENTQ_CONS),
        [](const Event& e, void*) { log_event(e); }, nullptr);
    st().stats.events += d.consumed;
    if (d.overflowed) {
        ++st().stats.overflows;
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
    ++st().stats.gerrors;
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

// smmu_vm_init's steps, in order (IHI0070 6.3 for the register sequence).

// The features the hypervisor needs (AArch64 4 KiB tables at stage 1 or 2, queues of our size); records the stage
// and coherency. Returns IDR5.OAS, capped at 48 bits (52-bit output needs LPA descriptors: not used).
Result<u64> probe_features(const SmmuInfo& info) {
    const u32 idr0 = rd32(Reg::IDR0), idr1 = rd32(Reg::IDR1), idr5 = rd32(Reg::IDR5);
    const bool s1 = idr0::S1p::get(idr0) != 0, s2 = idr0::S2p::get(idr0) != 0;
    if ((!s1 && !s2) || (idr0::Ttf::get(idr0) & 2) == 0 || !idr5::Gran4k::get(idr5)) {
        HV_LOG_ERROR("smmu at 0x%llx: no AArch64 4 KiB translation (IDR0 0x%x, IDR5 0x%x)",
                     static_cast<unsigned long long>(info.base), idr0, idr5);
        return Status::unsupported;
    }
    if (idr1::CmdqS::get(idr1) < kSmmuCmdqLog2 || idr1::EventqS::get(idr1) < kSmmuEventqLog2)
        return Status::unsupported;
    st().stage2 = s2;
    st().two_level_capable = idr0::StLevel::get(idr0) == 1;
    // COHACC: the SMMU's table and queue accesses snoop the CPU caches, when the DT also says the bus is coherent.
    st().coherent = idr0::Cohacc::get(idr0) != 0 && info.coherent;
    return min<u64>(idr5::Oas::get(idr5), 5);
}

// The stream table's size for these StreamIDs, capped at what the SMMU and our table hold (the rest abort), and its
// format: 2-level when the SMMU has it and there is more than one L2 table's worth of StreamIDs.
u32 stream_table_log2_capped(const StreamIdRange* ranges, usize nranges) {
    u32 log2 = stream_table_log2(ranges, nranges);
    st().two_level = st().two_level_capable && log2 > kSmmuL2Split;
    const u32 ours = st().two_level ? kSmmuMaxSidBits : kSmmuLinearMaxLog2;
    const u32 sid_cap = min<u32>(static_cast<u32>(idr1::SidSize::get(rd32(Reg::IDR1))), ours);
    if (log2 > sid_cap) {
        HV_LOG_WARN("smmu: StreamIDs up to 2^%u needed, the stream table covers 2^%u: the rest abort", log2, sid_cap);
        log2 = sid_cap;
        st().two_level = st().two_level && log2 > kSmmuL2Split;
    }
    return log2;
}

// The stream table: every StreamID of `ranges` gets `device`, every other one an invalid STE; published.
Status fill_and_publish_stream_table(u32 log2, const StreamIdRange* ranges, usize nranges, const Ste& device) {
    if (!st().two_level) {
        fill_stream_table(mem().l2, log2, ranges, nranges, device);
        publish(mem().l2, sizeof(Ste) << log2);
        return Status::ok;
    }
    const Result<usize> used = fill_stream_table_2level(mem().l1, log2, kSmmuL2Split, mem().l2, pa(mem().l2),
                                                        kSmmuL2Tables, ranges, nranges, device);
    if (!used.ok()) return used.status();
    publish(mem().l1, sizeof(u64) << (log2 - kSmmuL2Split));
    publish(mem().l2, (sizeof(Ste) << kSmmuL2Split) * used.value());
    return Status::ok;
}

// The DMA translation (the VM's RAM and the doorbell pages, nothing else), the STE every passed-through StreamID
// gets, the stream table; all published to the SMMU. Returns the IOVA width.
Result<unsigned> build_dma_tables(const DmaWindow& window, u64 oas_field, const StreamIdRange* ranges, usize nranges,
                                  u32 log2) {
    const unsigned oas = oas_bits(oas_field);
    const Regime regime = st().stage2 ? Regime::stage2 : Regime::el2_stage1;
    Result<unsigned> ia = dma_ia_bits(window, regime, oas);
    if (!ia.ok()) {
        HV_LOG_ERROR("smmu: guest RAM beyond the SMMU's %u-bit output addresses", oas);
        return ia.status();
    }
    HV_TRY(st().dma_table.init(st().pool, regime, ia.value()));
    HV_TRY(map_dma_window(st().dma_table, window));

    Ste device;
    if (st().stage2) {
        device = make_ste_stage2(st().dma_table, kVmid, oas_field);
    } else {
        mem().cd = make_cd(st().dma_table, kAsid, oas_field);
        publish(&mem().cd, sizeof mem().cd);
        device = make_ste_stage1(pa(&mem().cd));
    }
    HV_TRY(fill_and_publish_stream_table(log2, ranges, nranges, device));
    for (usize i = 0; i < st().pool.count(); ++i)
        publish(reinterpret_cast<const void*>(st().pool.base(i)), st().pool.pages(i) * PageTable::kPageSize);
    return ia;
}

// Table/queue attributes, the stream table, the command and event queues (IHI0070 6.3), all still disabled.
void program_tables_and_queues(u32 log2) {
    const u64 cache = st().coherent ? kCacheWb : 0;
    const u64 share = st().coherent ? kShareInner : 0;
    wr32(Reg::CR1, static_cast<u32>(cr1::QueueIc::make(cache) | cr1::QueueOc::make(cache) | cr1::QueueSh::make(share) |
                                    cr1::TableIc::make(cache) | cr1::TableOc::make(cache) | cr1::TableSh::make(share)));
    wr32(Reg::CR2, static_cast<u32>(cr2::RecInvSid::make(1) | cr2::Ptm::make(1)));
    const void* base = st().two_level ? static_cast<const void*>(mem().l1) : static_cast<const void*>(mem().l2);
    wr64(Reg::STRTAB_BASE, strtab::Ra::make(1) | strtab::Addr::make(pa(base) >> 6));
    wr32(Reg::STRTAB_BASE_CFG,
         static_cast<u32>(st().two_level ? strtab::Fmt::make(strtab::kFmt2Level) | strtab::Split::make(kSmmuL2Split)
                                         : strtab::Fmt::make(strtab::kFmtLinear)) |
             static_cast<u32>(strtab::Log2Size::make(log2)));
    wr64(Reg::CMDQ_BASE,
         queue::Ra::make(1) | queue::Addr::make(pa(mem().cmdq) >> 5) | queue::Log2Size::make(kSmmuCmdqLog2));
    wr32(Reg::CMDQ_PROD, 0);
    wr32(Reg::CMDQ_CONS, 0);
    st().cmd_prod = 0;
    wr64(Reg::EVENTQ_BASE,
         queue::Ra::make(1) | queue::Addr::make(pa(mem().eventq) >> 5) | queue::Log2Size::make(kSmmuEventqLog2));
    wr32(Reg::EVENTQ_PROD, 0);
    wr32(Reg::EVENTQ_CONS, 0);
    dsb_sy();
}

// Faults arrive on the eventq SPI (edge: the SMMU pulses it), global errors on gerror; both to the boot pCPU.
void wire_interrupts(const SmmuInfo& info) {
    const DtIrq irqs[] = {info.eventq, info.gerror};
    const IrqHandler handlers[] = {eventq_irq, gerror_irq};
    for (usize i = 0; i < 2; ++i) {
        if (!irqs[i].valid || irqs[i].type != DtIrq::kSpi) continue;
        if (i == 1 && info.gerror.number == info.eventq.number) continue;  // "combined"
        gic_set_edge(irqs[i].intid(), (irqs[i].flags & 0xf) == 1);
        gic_set_handler(irqs[i].intid(), handlers[i], nullptr);
        gic_enable(irqs[i].intid(), true);
    }
}

// CMDQ on, invalidate everything, EVENTQ on, interrupts, SMMUEN.
Status enable_translation(const SmmuInfo& info) {
    u32 cr0 = static_cast<u32>(cr0::CmdqEn::make(1));
    HV_TRY(write_acked(Reg::CR0, Reg::CR0ACK, cr0));
    // Nothing cached may survive from before: every STE/CD, every TLB entry (IHI0070 4.3, 4.4).
    const Cmd inval[] = {cmd_cfgi_all(), st().stage2 ? cmd_tlbi_s12_vmall(kVmid) : cmd_tlbi_nh_all(0),
                         cmd_tlbi_nsnh_all()};
    if (Status s = submit(inval, 3); s != Status::ok) {
        ignore_status(disable_smmu());
        return s;
    }
    cr0 |= static_cast<u32>(cr0::EventqEn::make(1));
    HV_TRY(write_acked(Reg::CR0, Reg::CR0ACK, cr0));

    wire_interrupts(info);
    HV_TRY(write_acked(Reg::IRQ_CTRL, Reg::IRQ_CTRLACK,
                       static_cast<u32>(irq_ctrl::EventqIrqEn::make(1) | irq_ctrl::GerrorIrqEn::make(1))));

    st().active = true;
    cr0 |= static_cast<u32>(cr0::SmmuEn::make(1));
    if (Status s = write_acked(Reg::CR0, Reg::CR0ACK, cr0); s != Status::ok) {
        st().active = false;
        return s;
    }
    return Status::ok;
}

}  // namespace

bool smmu_active() { return st().active; }
const SmmuStats& smmu_stats() { return st().stats; }
void smmu_poll_events() { drain_events(); }

DeviceHooks smmu_stats_device() {
    DeviceHooks d;
    d.name = "smmu";
    d.log_stats = [](void*) { smmu_log_stats(); };
    return d;
}

void smmu_log_stats() {
    drain_events();
    const SmmuStats& s = st().stats;
    HV_LOG_INFO(
        "stats: smmu active=%u stage=%u events=%llu faults=%llu config_errors=%llu overflows=%llu gerrors=%llu "
        "commands=%llu timeouts=%llu",
        st().active ? 1 : 0, st().active ? (st().stage2 ? 2 : 1) : 0, static_cast<unsigned long long>(s.events),
        static_cast<unsigned long long>(s.faults), static_cast<unsigned long long>(s.config_errors),
        static_cast<unsigned long long>(s.overflows), static_cast<unsigned long long>(s.gerrors),
        static_cast<unsigned long long>(s.commands), static_cast<unsigned long long>(s.timeouts));
}

Status smmu_vm_init(const Vm& vm, const PlatformInfo& plat, bool passthrough, bool msi) {
    const SmmuInfo& info = plat.smmu;
    if (!info.present) return Status::not_found;
    if (info.size < 128 * KiB) return Status::unsupported;  // page 0 + page 1
    st().base = info.base;
    const Result<u64> oas_field = probe_features(info);
    if (!oas_field.ok()) return oas_field.status();

    // Stop it first: a previous owner (firmware, a kexec) may have left it translating.
    HV_TRY(disable_smmu());

    // StreamIDs of the passed-through root complex.
    StreamIdRange ranges[kMaxRanges];
    const usize nranges = passthrough ? pcie_stream_ids(plat.pcie, info.phandle, ranges, kMaxRanges) : 0;
    const u32 log2 = stream_table_log2_capped(ranges, nranges);
    st().sid_log2 = log2;

    // The DMA window: the VM's RAM and the doorbell page(s), nothing else.
    u64 doorbells[kMaxDoorbells];
    const usize ndoorbells = msi ? doorbell_pages(plat, doorbells, kMaxDoorbells) : 0;
    const DmaWindow window{Span<const MemRegion>(vm.ram.begin(), vm.ram.size()),
                           Span<const u64>(doorbells, ndoorbells)};
    const Result<unsigned> ia = build_dma_tables(window, oas_field.value(), ranges, nranges, log2);
    if (!ia.ok()) return ia.status();

    program_tables_and_queues(log2);
    HV_TRY(enable_translation(info));

    // The SMMU's own frame must never be reachable by the guest.
    if (vm.stage2.translate(info.base).ok() || vm.stage2.translate(info.base + info.size - 1).ok())
        HV_LOG_ERROR("smmu: its registers are mapped at stage 2: the guest could reprogram it");

    HV_LOG_INFO(
        "smmu at 0x%llx: stage %u, %u-bit IOVA, StreamIDs < 0x%x (%s stream table, %zu range(s) to the VM), %zu "
        "doorbell page(s), eventq INTID %u%s",
        static_cast<unsigned long long>(info.base), st().stage2 ? 2 : 1, ia.value(), 1u << log2,
        st().two_level ? "2-level" : "linear", nranges, ndoorbells, info.eventq.valid ? info.eventq.intid() : 0,
        st().coherent ? "" : ", non-coherent");
    for (usize i = 0; i < nranges; ++i)
        HV_LOG_INFO("smmu: StreamIDs 0x%x..0x%x -> guest RAM + doorbell", ranges[i].first,
                    ranges[i].first + ranges[i].count - 1);
    return Status::ok;
}

}  // namespace hv::arch
