#include "arch/aarch64/host_its.hpp"

#include "arch/aarch64/anchor.hpp"
#include "arch/aarch64/gic.hpp"
#include "arch/aarch64/percpu.hpp"
#include "arch/aarch64/sysreg.hpp"
#include "its/its_command.hpp"
#include "its/its_regs.hpp"
#include "lib/log.hpp"
#include "lib/string.hpp"

namespace hv::arch {

namespace {

using its::Command;
using its::Opcode;

// Redistributor LPI registers (IHI0069H 12.11.2 CTLR, 12.11.28 PROPBASER, 12.11.27 PENDBASER, 12.11.37 TYPER).
constexpr u64 kGicrCtlr = 0x0000;
constexpr u64 kGicrTyper = 0x0008;
constexpr u64 kGicrPropbaser = 0x0070;
constexpr u64 kGicrPendbaser = 0x0078;
using GicrCtlrEnableLpis = Bit<0>;
using GicrTyperPlpis = Bit<0>;
using GicrTyperProcessorNumber = Field<23, 8>;
using PropIdBits = Field<4, 0>;
using PropInnerCache = Field<9, 7>;
using PropShareability = Field<11, 10>;
using PropAddress = Field<51, 12>;
using PendInnerCache = Field<9, 7>;
using PendShareability = Field<11, 10>;
using PendAddress = Field<51, 16>;
using PendPtz = Bit<62>;
// GICv4 (IHI0069H GICR_VPROPBASER, GICR_VPENDBASER): the VLPI_base frame follows SGI_base (RD_base + 128 KiB).
constexpr u64 kGicrVlpiFrame = 0x20000;
constexpr u64 kGicrVpropbaser = kGicrVlpiFrame + 0x0070;
constexpr u64 kGicrVpendbaser = kGicrVlpiFrame + 0x0078;
using GicrTyperVlpis = Bit<1>;
using VpendValid = Bit<63>;
using VpendIdai = Bit<62>;
using VpendPendingLast = Bit<61>;
using VpendDirty = Bit<60>;
using VpendAddress = Field<51, 16>;
using VpendInnerCache = Field<9, 7>;
using VpendShareability = Field<11, 10>;
constexpr u64 kCacheWbRaWa = 7;  // Normal, inner write-back, read- and write-allocate
constexpr u64 kShareInner = 1;

// LPI property entry (IHI0069H 5.1.1): priority [7:2], Enable bit 0.
constexpr u8 kPropEnable = 1;

// GITS_BASER<n>.Type (IHI0069H 12.19.1).
constexpr u64 kBaserTypeDevice = 1;
constexpr u64 kBaserTypeVpe = 2;
constexpr u64 kBaserTypeCollection = 4;

constexpr u32 kSpinLimit = 2000000;  // bounded waits: ~ms on hardware, plenty under TCG

constexpr u32 kQueuePages = HostItsMemory::kQueuePages;
constexpr u64 kQueueBytes = HostItsMemory::kQueueBytes;
constexpr u64 kTableBytes = HostItsMemory::kTableBytes;
constexpr u32 kIttSlots = HostItsMemory::kIttSlots;
constexpr u64 kIttBytes = HostItsMemory::kIttBytes;

HostItsMemory& mem() { return hyp().host_its_mem; }

u64 pa(const void* p) { return reinterpret_cast<u64>(p); }  // identity map at EL2

void clean_dcache(const void* p, usize len) {
    u64 ctr = HV_READ_SYSREG(ctr_el0);
    u64 line = u64{4} << ((ctr >> 16) & 0xf);
    for (u64 a = align_down(pa(p), line); a < pa(p) + len; a += line) asm volatile("dc civac, %0" ::"r"(a) : "memory");
    dsb_sy();
}

}  // namespace

HostIts& host_its() { return hyp().host_its; }

u64 HostIts::rdbase(u32 cpu) const {
    const u64 rd = gic_redistributor(cpu);
    // IHI0069H 5.3 "RDbase": GITS_TYPER.PTA = 1: physical address bits [51:16]; 0: the processor number.
    if (pta_) return rd >> 16;
    return GicrTyperProcessorNumber::get(mmio_read<u64>(rd + kGicrTyper));
}

Status HostIts::setup_redistributor(u32 cpu) {
    const u64 rd = gic_redistributor(cpu);
    if (rd == 0) return Status::not_found;
    if (!GicrTyperPlpis::get(mmio_read<u64>(rd + kGicrTyper))) return Status::unsupported;
    if (GicrCtlrEnableLpis::get(mmio_read<u32>(rd + kGicrCtlr))) {
        // PROPBASER/PENDBASER are UNPREDICTABLE to change once LPIs are on (IHI0069H 12.11.2): refuse.
        HV_LOG_ERROR("host ITS: LPIs already enabled on pCPU %u's redistributor", cpu);
        return Status::busy;
    }
    const u64 prop = PropAddress::make(pa(mem().prop) >> 12) | PropIdBits::make(kHostLpiIdBits - 1) |
                     PropInnerCache::make(kCacheWbRaWa) | PropShareability::make(kShareInner);
    mmio_write<u64>(rd + kGicrPropbaser, prop);
    const u64 pend = PendAddress::make(pa(mem().pending[cpu]) >> 16) | PendInnerCache::make(kCacheWbRaWa) |
                     PendShareability::make(kShareInner) | PendPtz::make(1);
    mmio_write<u64>(rd + kGicrPendbaser, pend);
    if (PropShareability::get(mmio_read<u64>(rd + kGicrPropbaser)) == 0) flush_ = true;
    dsb_sy();
    mmio_write<u32>(rd + kGicrCtlr, mmio_read<u32>(rd + kGicrCtlr) | GicrCtlrEnableLpis::make(1));
    dsb_sy();
    return Status::ok;
}

Status HostIts::setup_tables() {
    namespace baser = its::baser;
    bool have_devices = false;
    for (unsigned n = 0; n < 8; ++n) {
        const u64 off = its::reg(its::GitsReg::BASER0) + 8 * n;
        const u64 cur = mmio_read<u64>(base_ + off);
        const u64 type = baser::Type::get(cur);
        // The vPE table only where the ITS can use it (GITS_TYPER.Virtual, GICv4); otherwise Valid stays 0.
        u8* table = type == kBaserTypeDevice                    ? mem().device_table
                    : type == kBaserTypeCollection              ? mem().collection_table
                    : type == kBaserTypeVpe && virtual_capable_ ? mem().vpe_table
                                                                : nullptr;
        if (table == nullptr) {
            mmio_write<u64>(base_ + off, 0);
            continue;
        }
        const u64 entry = baser::EntrySize::get(cur) + 1;
        // Try 4 KiB pages, then 16 KiB, then 64 KiB: an ITS may support only some (IHI0069H 12.19.1 Page_Size).
        u64 got = 0;
        u64 page = 0;
        for (u64 code = 0; code < 3; ++code) {
            page = code == 0 ? 4 * KiB : code == 1 ? 16 * KiB : 64 * KiB;
            const u64 v = baser::Valid::make(1) | baser::InnerCache::make(kCacheWbRaWa) |
                          baser::Shareability::make(kShareInner) | baser::PageSize::make(code) |
                          baser::PhysicalAddress::make(pa(table) >> 12) | baser::Size::make(kTableBytes / page - 1);
            mmio_write<u64>(base_ + off, v);
            got = mmio_read<u64>(base_ + off);
            if (baser::PageSize::get(got) == code) break;
        }
        if (type == kBaserTypeVpe &&
            (!baser::Valid::get(got) || baser::PhysicalAddress::get(got) != (pa(table) >> 12))) {
            HV_LOG_WARN("host ITS: vPE table not accepted (BASER%u = 0x%llx): no direct vLPI injection", n,
                        static_cast<unsigned long long>(got));
            mmio_write<u64>(base_ + off, 0);
            virtual_capable_ = false;
            continue;
        }
        if (!baser::Valid::get(got) || baser::PhysicalAddress::get(got) != (pa(table) >> 12)) {
            HV_LOG_ERROR("host ITS: BASER%u (type %llu) not accepted (0x%llx)", n,
                         static_cast<unsigned long long>(type), static_cast<unsigned long long>(got));
            return Status::unsupported;
        }
        if (baser::Shareability::get(got) == 0) flush_ = true;
        if (type == kBaserTypeDevice) {
            have_devices = true;
            device_limit_ = static_cast<u32>(min<u64>(kTableBytes / entry, device_limit_));
        }
    }
    return have_devices ? Status::ok : Status::unsupported;
}

Status HostIts::init(const ItsFrame& frame, u32 cpus) {
    LockGuard g(lock_);
    if (frame.base == 0) return Status::not_found;
    base_ = frame.base;
    cpus_ = min<u32>(cpus, kMaxCpus);
    namespace typer = its::typer;
    const u64 type = mmio_read<u64>(base_ + its::reg(its::GitsReg::TYPER));
    if (!typer::Physical::get(type)) return Status::unsupported;
    pta_ = typer::Pta::get(type) != 0;
    itt_entry_size_ = static_cast<u32>(typer::ItteSize::get(type) + 1);
    event_bits_max_ = static_cast<u32>(typer::IdBits::get(type) + 1);
    device_limit_ = static_cast<u32>(min<u64>(u64{1} << (typer::DevBits::get(type) + 1), 0xffffffffull));
    if (itt_entry_size_ * (u64{1} << MsiShadow::kEventBits) > kIttBytes) return Status::unsupported;

    // Disable, then wait for quiescence before touching BASER/CBASER (IHI0069H 12.19.6 GITS_CTLR).
    const u64 ctlr = base_ + its::reg(its::GitsReg::CTLR);
    mmio_write<u32>(ctlr, mmio_read<u32>(ctlr) & ~u32{1});
    u32 spin = 0;
    while (!its::ctlr::Quiescent::get(mmio_read<u32>(ctlr)) && spin < kSpinLimit) ++spin, cpu_relax();
    if (spin >= kSpinLimit) {
        HV_LOG_ERROR("host ITS at 0x%llx: no quiescence after disable", static_cast<unsigned long long>(base_));
        return Status::timeout;
    }

    for (u32 c = 0; c < cpus_; ++c) HV_TRY(setup_redistributor(c));
    // GICv4.0 (IHI0069H GITS_TYPER.Virtual, GICR_TYPER.VLPIS): vLPIs on every redistributor.
    virtual_capable_ = typer::Virtual::get(type) != 0;
    for (u32 c = 0; c < cpus_ && virtual_capable_; ++c)
        if (!GicrTyperVlpis::get(mmio_read<u64>(gic_redistributor(c) + kGicrTyper))) virtual_capable_ = false;
    HV_TRY(setup_tables());

    namespace cbaser = its::cbaser;
    const u64 cb = cbaser::Valid::make(1) | cbaser::InnerCache::make(kCacheWbRaWa) |
                   cbaser::Shareability::make(kShareInner) | cbaser::PhysicalAddress::make(pa(mem().queue) >> 12) |
                   cbaser::Size::make(kQueuePages - 1);
    mmio_write<u64>(base_ + its::reg(its::GitsReg::CBASER), cb);
    if (cbaser::Shareability::get(mmio_read<u64>(base_ + its::reg(its::GitsReg::CBASER))) == 0) flush_ = true;
    mmio_write<u64>(base_ + its::reg(its::GitsReg::CWRITER), 0);
    cwriter_ = 0;
    if (flush_) {
        clean_dcache(mem().prop, sizeof mem().prop);
        clean_dcache(mem().device_table, sizeof mem().device_table);
        clean_dcache(mem().collection_table, sizeof mem().collection_table);
    }
    dsb_sy();
    mmio_write<u32>(ctlr, mmio_read<u32>(ctlr) | 1u);

    // One collection per pCPU: ICID = pCPU index.
    for (u32 c = 0; c < cpus_; ++c) {
        Cmd cmds[2];
        Command m = Command::mapc(c, rdbase(c), true);
        Command inv = Command::invall(c);
        memcpy(cmds[0].dw, m.dw, 32);
        memcpy(cmds[1].dw, inv.dw, 32);
        HV_TRY(submit(cmds, 2, c));
    }
    ready_ = true;
    HV_LOG_INFO("host ITS at 0x%llx: %u pCPU collection(s), DeviceIDs < 0x%x, ITT entry %u bytes, PTA %u%s%s",
                static_cast<unsigned long long>(base_), cpus_, device_limit_, itt_entry_size_, pta_ ? 1 : 0,
                flush_ ? ", cache maintenance on" : "", virtual_capable_ ? ", GICv4 vLPIs" : "");
    return Status::ok;
}

Result<u32> HostIts::reserve_lpis(u32 count) {
    LockGuard g(lock_);
    if (count == 0 || count > kHostLpiFirst + kHostLpiCount - next_lpi_) return Status::no_memory;
    u32 first = next_lpi_;
    next_lpi_ += count;
    return first;
}

Status HostIts::wait_for_space(u64 next_writer) {
    // The queue is full when advancing CWRITER would make it equal CREADR (IHI0069H 5.2.1).
    const u64 creadr_reg = base_ + its::reg(its::GitsReg::CREADR);
    for (u32 spin = 0; spin < kSpinLimit; ++spin) {
        const u64 rd = mmio_read<u64>(creadr_reg);
        if (its::cqueue::Stalled::get(rd)) return Status::busy;
        if (its::cqueue::Offset::get(rd) << 5 != next_writer) return Status::ok;
        cpu_relax();
    }
    return Status::timeout;
}

Status HostIts::submit(const Cmd* cmds, u32 n, u32 sync_cpu) {
    if (base_ == 0) return Status::not_found;
    const u64 creadr_reg = base_ + its::reg(its::GitsReg::CREADR);
    for (u32 i = 0; i <= n; ++i) {
        Command c;
        if (i < n)
            memcpy(c.dw, cmds[i].dw, 32);
        else
            c = Command::sync(rdbase(sync_cpu < cpus_ ? sync_cpu : 0));
        const u64 next = (cwriter_ + 32) % kQueueBytes;
        if (Status s = wait_for_space(next); s != Status::ok) {
            ++timeouts_;
            HV_LOG_RATELIMITED(error, "host ITS: command queue %s (CREADR 0x%llx, CWRITER 0x%llx)",
                               s == Status::busy ? "stalled" : "full: timeout",
                               static_cast<unsigned long long>(mmio_read<u64>(creadr_reg)),
                               static_cast<unsigned long long>(cwriter_));
            return s;
        }
        memcpy(mem().queue + cwriter_, c.dw, 32);
        if (flush_) clean_dcache(mem().queue + cwriter_, 32);
        cwriter_ = next;
        ++commands_;
    }
    dsb_sy();  // commands visible before the ITS sees the new CWRITER
    mmio_write<u64>(base_ + its::reg(its::GitsReg::CWRITER), cwriter_);
    // SYNC completion: CREADR reaches CWRITER once every command (including the SYNC) took effect.
    for (u32 spin = 0; spin < kSpinLimit; ++spin) {
        const u64 rd = mmio_read<u64>(creadr_reg);
        if (its::cqueue::Stalled::get(rd)) {
            ++timeouts_;
            HV_LOG_RATELIMITED(error, "host ITS: command queue stalled at 0x%llx", static_cast<unsigned long long>(rd));
            return Status::busy;
        }
        if ((its::cqueue::Offset::get(rd) << 5) == cwriter_) return Status::ok;
        cpu_relax();
    }
    ++timeouts_;
    HV_LOG_RATELIMITED(error, "host ITS: SYNC timed out (CREADR 0x%llx, CWRITER 0x%llx)",
                       static_cast<unsigned long long>(mmio_read<u64>(creadr_reg)),
                       static_cast<unsigned long long>(cwriter_));
    return Status::timeout;
}

i32 HostIts::itt_slot_of(u32 device_id) const {
    for (u32 i = 0; i < kIttSlots; ++i)
        if (mem().itt_used[i] && mem().itt_owner[i] == device_id) return static_cast<i32>(i);
    return -1;
}

void HostIts::set_lpi_config(u32 lpi, bool enable) {
    if (lpi < kHostLpiFirst || lpi - kHostLpiFirst >= kHostLpiCount) return;
    u8& p = mem().prop[lpi - kHostLpiFirst];
    p = static_cast<u8>((kHostLpiPriority & 0xfc) | (enable ? kPropEnable : 0));
    if (flush_) clean_dcache(&p, 1);
    dsb_sy();
}

Status HostIts::map_device(u32 device_id, u32 event_bits) {
    LockGuard g(lock_);
    if (!ready_) return Status::not_found;
    if (device_id >= device_limit_) return Status::out_of_range;
    if (event_bits == 0 || event_bits > MsiShadow::kEventBits || event_bits > event_bits_max_)
        return Status::invalid_argument;
    if (itt_slot_of(device_id) >= 0) return Status::busy;
    i32 slot = -1;
    for (u32 i = 0; i < kIttSlots && slot < 0; ++i)
        if (!mem().itt_used[i]) slot = static_cast<i32>(i);
    if (slot < 0) return Status::no_memory;
    memset(mem().itt[slot], 0, kIttBytes);
    if (flush_) clean_dcache(mem().itt[slot], kIttBytes);
    Cmd c;
    Command m = Command::mapd(device_id, pa(mem().itt[slot]), event_bits - 1, true);
    memcpy(c.dw, m.dw, 32);
    HV_TRY(submit(&c, 1, 0));
    mem().itt_used[slot] = true;
    mem().itt_owner[slot] = device_id;
    return Status::ok;
}

Status HostIts::unmap_device(u32 device_id) {
    LockGuard g(lock_);
    if (!ready_) return Status::not_found;
    const i32 slot = itt_slot_of(device_id);
    if (slot < 0) return Status::not_found;
    Cmd c;
    Command m = Command::mapd(device_id, 0, 0, false);
    memcpy(c.dw, m.dw, 32);
    HV_TRY(submit(&c, 1, 0));
    mem().itt_used[slot] = false;  // only once the ITS is done with it
    return Status::ok;
}

Status HostIts::map_event(u32 device_id, u32 event_id, u32 host_lpi, u32 pcpu) {
    LockGuard g(lock_);
    if (!ready_) return Status::not_found;
    if (itt_slot_of(device_id) < 0) return Status::not_found;
    if (event_id >> MsiShadow::kEventBits) return Status::out_of_range;
    if (host_lpi < kHostLpiFirst || host_lpi - kHostLpiFirst >= kHostLpiCount || pcpu >= cpus_)
        return Status::invalid_argument;
    set_lpi_config(host_lpi, true);
    Cmd cmds[2];
    Command m = Command::mapti(device_id, event_id, host_lpi, pcpu);
    Command inv = Command::event_cmd(Opcode::INV, device_id, event_id);  // re-read the property entry
    memcpy(cmds[0].dw, m.dw, 32);
    memcpy(cmds[1].dw, inv.dw, 32);
    Status s = submit(cmds, 2, pcpu);
    if (s != Status::ok) set_lpi_config(host_lpi, false);
    return s;
}

Status HostIts::unmap_event(u32 device_id, u32 event_id, u32 host_lpi) {
    LockGuard g(lock_);
    if (!ready_) return Status::not_found;
    if (itt_slot_of(device_id) < 0) return Status::not_found;
    set_lpi_config(host_lpi, false);
    Cmd c;
    Command d = Command::event_cmd(Opcode::DISCARD, device_id, event_id);  // also clears the pending state
    memcpy(c.dw, d.dw, 32);
    return submit(&c, 1, 0);
}

Status HostIts::move_event(u32 device_id, u32 event_id, u32 pcpu) {
    LockGuard g(lock_);
    if (!ready_) return Status::not_found;
    if (itt_slot_of(device_id) < 0) return Status::not_found;
    if (pcpu >= cpus_) return Status::invalid_argument;
    Cmd c;
    Command m = Command::movi(device_id, event_id, pcpu);  // moves a pending LPI too (IHI0069H 5.3.13)
    memcpy(c.dw, m.dw, 32);
    return submit(&c, 1, pcpu);
}

// ---------------------------------------------------------------- GICv4.0 direct injection

Status HostIts::init_vpes(u32 vcpus, const u32* vcpu_pcpu, u32 doorbell_base) {
    LockGuard g(lock_);
    if (!ready_ || !virtual_capable_) return Status::unsupported;
    if (vcpus == 0 || vcpus > PlatformInfo::kMaxCpus || vcpus > HV_MAX_CPUS) return Status::invalid_argument;
    if (doorbell_base < kHostLpiFirst || doorbell_base - kHostLpiFirst + vcpus > kHostLpiCount)
        return Status::invalid_argument;
    for (u32 i = 0; i < vcpus; ++i)
        if (vcpu_pcpu[i] >= cpus_) return Status::invalid_argument;
    for (u32 i = 0; i < vcpus; ++i) {
        memset(mem().vpt[i], 0, sizeof mem().vpt[i]);
        if (flush_) clean_dcache(mem().vpt[i], sizeof mem().vpt[i]);
        // IHI0069H 5.3 VMAPP: vPE i -> the redistributor of its pCPU, with its pending table.
        Cmd cmds[2];
        Command m = its::v4::vmapp(i, rdbase(vcpu_pcpu[i]), true, pa(mem().vpt[i]), HostItsMemory::kVptIdBits);
        Command sy = its::v4::vpe_cmd(its::v4::kVsync, i);
        memcpy(cmds[0].dw, m.dw, 32);
        memcpy(cmds[1].dw, sy.dw, 32);
        HV_TRY(submit(cmds, 2, vcpu_pcpu[i]));
        vpe_pcpu_[i] = vcpu_pcpu[i];
        // The doorbell: a host LPI on that pCPU's redistributor, rung by the GIC while the vPE is not resident.
        set_lpi_config(doorbell_base + i, true);
    }
    // Each redistributor re-reads the doorbells' property entries (they were disabled when its LPIs came on).
    for (u32 c = 0; c < cpus_; ++c) {
        Cmd cmd;
        Command inv = Command::invall(c);
        memcpy(cmd.dw, inv.dw, 32);
        HV_TRY(submit(&cmd, 1, c));
    }
    vpes_ = vcpus;
    doorbell_base_ = doorbell_base;
    vpes_ready_ = true;
    return Status::ok;
}

void HostIts::vpe_load(u32 vcpu, u64 vpropbaser) {
    if (!vpes_ready_ || vcpu >= vpes_) return;
    const u64 rd = gic_redistributor(vpe_pcpu_[vcpu]);
    // IHI0069H GICR_VPROPBASER: it may change only while VPENDBASER.Valid = 0 (the caller's state says so).
    mmio_write<u64>(rd + kGicrVpropbaser, vpropbaser);
    const u64 pend = VpendValid::make(1) | VpendAddress::make(pa(mem().vpt[vcpu]) >> 16) |
                     VpendInnerCache::make(kCacheWbRaWa) | VpendShareability::make(kShareInner);
    dsb_sy();
    mmio_write<u64>(rd + kGicrVpendbaser, pend);
}

bool HostIts::vpe_put(u32 vcpu) {
    if (!vpes_ready_ || vcpu >= vpes_) return false;
    const u64 rd = gic_redistributor(vpe_pcpu_[vcpu]);
    const u64 pend = VpendAddress::make(pa(mem().vpt[vcpu]) >> 16) | VpendInnerCache::make(kCacheWbRaWa) |
                     VpendShareability::make(kShareInner);
    mmio_write<u64>(rd + kGicrVpendbaser, pend);
    // IHI0069H GICR_VPENDBASER: Dirty = 1 while the redistributor still writes the pending table back; PendingLast is
    // valid once it is 0. Bounded: a GIC that never clears it reads as "something pending" (the vCPU re-enters).
    u64 v = mmio_read<u64>(rd + kGicrVpendbaser);
    for (u32 spin = 0; VpendDirty::get(v) && spin < kSpinLimit; ++spin) {
        cpu_relax();
        v = mmio_read<u64>(rd + kGicrVpendbaser);
    }
    return VpendDirty::get(v) || VpendPendingLast::get(v);
}

bool HostIts::vlpi_pending_in_vpt(u32 vcpu, u32 vintid) const {
    if (!vpes_ready_ || vcpu >= vpes_ || vintid >= (1u << HostItsMemory::kVptIdBits)) return false;
    // IHI0069H chapter 6, the virtual LPI pending table: one bit per INTID, written by the GIC (not resident:
    // synchronised by VPENDBASER.Dirty = 0).
    const u8* byte = &mem().vpt[vcpu][vintid / 8];
    if (flush_) clean_dcache(byte, 1);  // clean+invalidate: the next read fetches what the GIC wrote
    return ((*reinterpret_cast<const volatile u8*>(byte) >> (vintid % 8)) & 1) != 0;
}

Status HostIts::move_vpe(u32 vcpu, u32 pcpu) {
    LockGuard g(lock_);
    if (!vpes_ready_ || vcpu >= vpes_ || pcpu >= cpus_) return Status::invalid_argument;
    Cmd cmds[2];
    Command m = its::v4::vmovp(vcpu, rdbase(pcpu));  // IHI0069H 5.3 VMOVP; GITS_TYPER.VMOVP = 1: no ITSList
    Command sy = its::v4::vpe_cmd(its::v4::kVsync, vcpu);
    memcpy(cmds[0].dw, m.dw, 32);
    memcpy(cmds[1].dw, sy.dw, 32);
    HV_TRY(submit(cmds, 2, pcpu));
    vpe_pcpu_[vcpu] = pcpu;
    return Status::ok;
}

Status HostIts::map_vlpi(u32 device_id, u32 event_id, u32 vintid, u32 vcpu) {
    LockGuard g(lock_);
    if (!vpes_ready_ || vcpu >= vpes_) return Status::not_found;
    if (itt_slot_of(device_id) < 0) return Status::not_found;
    if (event_id >> MsiShadow::kEventBits) return Status::out_of_range;
    if (vintid < kHostLpiFirst || vintid >= (1u << HostItsMemory::kVptIdBits)) return Status::invalid_argument;
    // IHI0069H 5.3 VMAPTI: the event becomes vLPI `vintid` of the vPE, rung as its doorbell while not resident.
    Cmd cmds[2];
    // (VMAPI when the vINTID is the EventID: the guest's MAPI, or a MAPTI that names it.)
    Command m = vintid == event_id ? its::v4::vmapi(device_id, event_id, vcpu, doorbell_base_ + vcpu)
                                   : its::v4::vmapti(device_id, event_id, vcpu, vintid, doorbell_base_ + vcpu);
    Command sy = its::v4::vpe_cmd(its::v4::kVsync, vcpu);
    memcpy(cmds[0].dw, m.dw, 32);
    memcpy(cmds[1].dw, sy.dw, 32);
    return submit(cmds, 2, vpe_pcpu_[vcpu]);
}

Status HostIts::move_vlpi(u32 device_id, u32 event_id, u32 vcpu) {
    LockGuard g(lock_);
    if (!vpes_ready_ || vcpu >= vpes_) return Status::not_found;
    if (itt_slot_of(device_id) < 0) return Status::not_found;
    // IHI0069H 5.3 VMOVI: the vLPI (and its pending state) to another vPE, with that vPE's doorbell (D = 1).
    Cmd cmds[2];
    Command m = its::v4::vmovi(device_id, event_id, vcpu, doorbell_base_ + vcpu);
    Command sy = its::v4::vpe_cmd(its::v4::kVsync, vcpu);
    memcpy(cmds[0].dw, m.dw, 32);
    memcpy(cmds[1].dw, sy.dw, 32);
    return submit(cmds, 2, vpe_pcpu_[vcpu]);
}

Status HostIts::set_vlpi_pending(u32 device_id, u32 event_id, bool pending) {
    LockGuard g(lock_);
    if (!vpes_ready_ || itt_slot_of(device_id) < 0) return Status::not_found;
    // INT / CLEAR on a virtual ITE set / clear the vLPI's bit in its vPE's pending table (IHI0069H 5.3 CLEAR, INT).
    Cmd c;
    Command m = Command::event_cmd(pending ? Opcode::INT : Opcode::CLEAR, device_id, event_id);
    memcpy(c.dw, m.dw, 32);
    return submit(&c, 1, 0);
}

Status HostIts::invalidate_vlpi(u32 device_id, u32 event_id) {
    LockGuard g(lock_);
    if (!vpes_ready_ || itt_slot_of(device_id) < 0) return Status::not_found;
    Cmd c;  // INV on a virtual ITE: the vPE's redistributor re-reads the vLPI's property byte (IHI0069H 5.3 INV)
    Command m = Command::event_cmd(Opcode::INV, device_id, event_id);
    memcpy(c.dw, m.dw, 32);
    return submit(&c, 1, 0);
}

Status HostIts::invalidate_vpe(u32 vcpu) {
    LockGuard g(lock_);
    if (!vpes_ready_ || vcpu >= vpes_) return Status::not_found;
    Cmd cmds[2];  // IHI0069H 5.3 VINVALL: every vLPI property of the vPE is re-read
    Command m = its::v4::vpe_cmd(its::v4::kVinvall, vcpu);
    Command sy = its::v4::vpe_cmd(its::v4::kVsync, vcpu);
    memcpy(cmds[0].dw, m.dw, 32);
    memcpy(cmds[1].dw, sy.dw, 32);
    return submit(cmds, 2, vpe_pcpu_[vcpu]);
}

}  // namespace hv::arch
