#include "arch/aarch64/gic.hpp"

#include "arch/aarch64/anchor.hpp"
#include "arch/aarch64/percpu.hpp"
#include "arch/aarch64/sysreg.hpp"
#include "lib/log.hpp"
#include "vgic/regs.hpp"

namespace hv::arch {

namespace {

// Register offsets and fields are the architecture's (IHI0069H 12.9-12.11): one definition in vgic/regs.hpp serves
// the physical driver and the virtual model alike.
namespace gicd_ctlr = vgic::gicd_ctlr;
namespace gicr_ctlr = vgic::gicr_ctlr;
namespace gicr_waker = vgic::gicr_waker;
using vgic::GicdReg;
using vgic::GicrReg;
using vgic::GicrSgiReg;
// Offset of a redistributor register from RD_base (SGI_base registers live in the second 64 KiB frame).
constexpr u64 rd_off(GicrReg r) { return vgic::off(r); }
constexpr u64 rd_off(GicrSgiReg r) { return vgic::kFrameSize + vgic::off(r); }
constexpr u8 kDefaultPriority = 0xa0;
constexpr u32 kMaxIntid = kGicMaxIntid;
using Slot = GicState::Slot;

GicState& st() { return hyp().gic; }

u64 gicd(GicdReg r) { return st().gicd + vgic::off(r); }

bool wait_clear(u64 addr, u32 bits) {
    for (u32 i = 0; i < 1000000; ++i) {
        if ((mmio_read<u32>(addr) & bits) == 0) return true;
        cpu_relax();
    }
    return false;
}

u64 mpidr_affinity(u64 mpidr) {  // Aff3.Aff2.Aff1.Aff0 packed as in GICR_TYPER[63:32]
    return ((mpidr >> 32) & 0xff) << 24 | (mpidr & 0xffffff);
}

}  // namespace

Status gic_init_distributor(const GicInfo& gic) {
    st().info = gic;
    st().gicd = gic.gicd_base;
    if (st().gicd == 0 || gic.gicr.empty()) return Status::not_found;
    u32 typer = mmio_read<u32>(gicd(GicdReg::TYPER));
    st().spi_lines = min<u32>(32 * ((typer & 0x1f) + 1), kMaxIntid);

    mmio_write<u32>(gicd(GicdReg::CTLR), 0);
    if (!wait_clear(gicd(GicdReg::CTLR), gicd_ctlr::RWP::make(1))) return Status::timeout;
    // SPIs: group 1, disabled, not pending/active, default priority, level-triggered, routed to the boot pCPU.
    for (u32 i = 32; i < st().spi_lines; i += 32) {
        mmio_write<u32>(gicd(GicdReg::IGROUPR) + i / 8, ~0u);
        mmio_write<u32>(gicd(GicdReg::ICENABLER) + i / 8, ~0u);
        mmio_write<u32>(gicd(GicdReg::ICPENDR) + i / 8, ~0u);
        mmio_write<u32>(gicd(GicdReg::ICACTIVER) + i / 8, ~0u);
    }
    for (u32 i = 32; i < st().spi_lines; i += 4)
        mmio_write<u32>(gicd(GicdReg::IPRIORITYR) + i, 0x01010101u * kDefaultPriority);
    for (u32 i = 32; i < st().spi_lines; i += 16) mmio_write<u32>(gicd(GicdReg::ICFGR) + i / 4, 0);
    u64 boot = mpidr_affinity(HV_READ_SYSREG(mpidr_el1));
    u64 route = ((boot >> 24) << 32) | (boot & 0xffffff);
    for (u32 i = 32; i < st().spi_lines; ++i) mmio_write<u64>(gicd(GicdReg::IROUTER) + 8 * i, route);
    // Affinity routing, then group 1 (IHI0069H 12.9.4: ARE must be set before the group enables).
    mmio_write<u32>(gicd(GicdReg::CTLR), gicd_ctlr::ARE::make(1));
    if (!wait_clear(gicd(GicdReg::CTLR), gicd_ctlr::RWP::make(1))) return Status::timeout;
    mmio_write<u32>(gicd(GicdReg::CTLR), gicd_ctlr::ARE::make(1) | gicd_ctlr::EnableGrp1::make(1));
    if (!wait_clear(gicd(GicdReg::CTLR), gicd_ctlr::RWP::make(1))) return Status::timeout;
    return Status::ok;
}

u64 gic_redistributor(u32 cpu) { return cpu < kMaxCpus ? percpu(cpu).gicr : 0; }

Status gic_init_cpu() {
    u32 cpu = this_cpu_index();
    u64 aff = mpidr_affinity(HV_READ_SYSREG(mpidr_el1));
    u64 rd = 0;
    // Without a "redistributor-stride", a redistributor with GICR_TYPER.VLPIS (GICv4: VLPI_base and a reserved
    // frame follow SGI_base) spans four 64 KiB frames, otherwise two (IHI0069H GICR_TYPER.VLPIS; the arm,gic-v3
    // binding).
    const bool explicit_stride = st().info.gicr_stride != GicInfo::kGicrFrameStride;
    for (const MemRegion& region : st().info.gicr) {
        u64 step = st().info.gicr_stride;
        for (u64 off = 0; off + GicInfo::kGicrFrameStride <= region.size; off += step) {
            u64 typer = mmio_read<u64>(region.base + off + rd_off(GicrReg::TYPER));
            step = explicit_stride                       ? st().info.gicr_stride
                   : vgic::gicr_typer::VLPIS::get(typer) ? 2 * GicInfo::kGicrFrameStride
                                                         : GicInfo::kGicrFrameStride;
            if ((typer >> 32) == aff) {
                rd = region.base + off;
                break;
            }
            if (vgic::gicr_typer::Last::get(typer)) break;
        }
        if (rd) break;
    }
    if (rd == 0) return Status::not_found;
    percpu(cpu).gicr = rd;

    // Wake the redistributor (IHI0069H 12.11.44 GICR_WAKER).
    mmio_write<u32>(rd + rd_off(GicrReg::WAKER), mmio_read<u32>(rd + rd_off(GicrReg::WAKER)) &
                                                     ~static_cast<u32>(gicr_waker::ProcessorSleep::make(1)));
    if (!wait_clear(rd + rd_off(GicrReg::WAKER), gicr_waker::ChildrenAsleep::make(1))) return Status::timeout;

    // SGIs/PPIs: group 1, disabled except our SGIs, default priority.
    mmio_write<u32>(rd + rd_off(GicrSgiReg::IGROUPR0), ~0u);
    mmio_write<u32>(rd + rd_off(GicrSgiReg::ICENABLER0), ~0u);
    mmio_write<u32>(rd + rd_off(GicrSgiReg::ICPENDR0), ~0u);
    mmio_write<u32>(rd + rd_off(GicrSgiReg::ICACTIVER0), ~0u);
    for (u32 i = 0; i < 32; i += 4)
        mmio_write<u32>(rd + rd_off(GicrSgiReg::IPRIORITYR) + i, 0x01010101u * kDefaultPriority);
    if (!wait_clear(rd + rd_off(GicrReg::CTLR), gicr_ctlr::RWP::make(1))) return Status::timeout;
    mmio_write<u32>(rd + rd_off(GicrSgiReg::ISENABLER0), (1u << kSgiKick) | (1u << kSgiStop));

    // CPU interface: system registers at EL2 and below (ICC_SRE_EL2: SRE, DFB, DIB, Enable), priority mask open,
    // EOImode = 1, group 1 on.
    write_sysreg<arm::reg::kIccSreEl2>(0xf);
    isb();
    write_sysreg<arm::reg::kIccPmrEl1>(0xff);
    write_sysreg<arm::reg::kIccBpr1El1>(0);
    write_sysreg<arm::reg::kIccCtlrEl1>(2);  // EOImode = 1
    write_sysreg<arm::reg::kIccIgrpen1El1>(1);
    isb();
    return Status::ok;
}

void gic_set_handler(u32 intid, IrqHandler handler, void* arg) {
    if (intid < kMaxIntid) st().handlers[intid] = Slot{handler, arg};
}

void gic_set_lpi_handler(IrqHandler handler, void* arg) { st().lpi = Slot{handler, arg}; }

void gic_enable(u32 intid, bool enable) {
    if (intid < 32) {
        u64 rd = this_cpu().gicr;
        if (rd == 0) return;
        mmio_write<u32>(rd + rd_off(enable ? GicrSgiReg::ISENABLER0 : GicrSgiReg::ICENABLER0), 1u << intid);
    } else if (intid < st().spi_lines) {
        mmio_write<u32>(gicd(enable ? GicdReg::ISENABLER : GicdReg::ICENABLER) + (intid / 32) * 4, 1u << (intid % 32));
    }
}

void gic_set_edge(u32 intid, bool edge) {
    // GICD_ICFGR<n>: two bits per INTID, bit 1 of the pair = edge-triggered (IHI0069H 12.9.9). Change it only while
    // the SPI is disabled.
    if (intid < 32 || intid >= st().spi_lines) return;
    const u64 reg = gicd(GicdReg::ICFGR) + (intid / 16) * 4;
    const u32 bitpos = (intid % 16) * 2 + 1;
    const u32 v = mmio_read<u32>(reg);
    mmio_write<u32>(reg, edge ? (v | (1u << bitpos)) : (v & ~(1u << bitpos)));
}

void gic_route_spi(u32 intid, u64 mpidr) {
    if (intid < 32 || intid >= st().spi_lines) return;
    u64 aff = mpidr_affinity(mpidr);
    mmio_write<u64>(gicd(GicdReg::IROUTER) + 8 * intid, ((aff >> 24) << 32) | (aff & 0xffffff));
}

void gic_deactivate(u32 intid) { write_sysreg<arm::reg::kIccDirEl1>(intid); }

void gic_clear_active(u32 intid) {
    if (intid < 32) {
        u64 rd = this_cpu().gicr;
        if (rd != 0) mmio_write<u32>(rd + rd_off(GicrSgiReg::ICACTIVER0), 1u << intid);
    } else if (intid < st().spi_lines) {
        mmio_write<u32>(gicd(GicdReg::ICACTIVER) + (intid / 32) * 4, 1u << (intid % 32));
    }
}

bool gic_ppi_pending(u32 intid) {
    if (intid >= 32) return false;
    const u64 rd = this_cpu().gicr;
    return rd != 0 && ((mmio_read<u32>(rd + rd_off(GicrSgiReg::ISPENDR0)) >> intid) & 1) != 0;
}

u32 gic_handle_irqs() { return gic_handle_irqs_from(read_sysreg<arm::reg::kIccIar1El1>()); }

namespace {
// Out of line: its rate limiter's and the log's set-up would otherwise be hoisted into every IRQ exit's loop.
[[gnu::noinline, gnu::cold]] void unhandled_irq(u32 intid) {
    HV_LOG_RATELIMITED(warn, "gic: unhandled physical interrupt %u (disabled)", intid);
    gic_enable(intid, false);
}
}  // namespace

namespace {
// The general loop: any interrupt, its handler (or the unhandled log), up to 64 per call. `budget`: taken already.
[[gnu::noinline]] u32 handle_irqs(u64 iar, u32 budget) {
    for (;; iar = read_sysreg<arm::reg::kIccIar1El1>()) {
        u32 intid = static_cast<u32>(iar & 0xffffff);
        if (intid >= 1020 && intid < 1024) return budget;  // spurious: nothing (more) pending
        bool deactivate = true;
        // kSgiKick, every kick's IRQ exit: nothing to call (its work is the exit and the sender's flag; vcpu_loop.cpp).
        const Slot* s = intid == kSgiKick   ? nullptr
                        : intid < kMaxIntid ? &st().handlers[intid]
                        : intid >= 8192     ? &st().lpi
                                            : nullptr;
        if (s != nullptr && s->fn != nullptr) {
            deactivate = s->fn(intid, s->arg);
        } else if (intid >= 16) {
            unhandled_irq(intid);
        }
        write_sysreg<arm::reg::kIccEoir1El1>(iar);  // priority drop
        if (deactivate) gic_deactivate(intid);
        if (++budget == 64) return budget;  // the rest stays pending: taken at the next exit
    }
}
}  // namespace

u32 gic_handle_irqs_from(u64 iar) {
    // Kicks first, without the general loop's set-up: a kick's IRQ exit (every IPI and LPI a vCPU sends another) is
    // one kSgiKick and then the spurious INTID, and kSgiKick has no handler to call.
    u32 budget = 0;
    while ((iar & 0xffffff) == kSgiKick) {
        write_sysreg<arm::reg::kIccEoir1El1>(iar);  // priority drop
        gic_deactivate(kSgiKick);
        if (++budget == 64) return budget;  // as the general loop
        iar = read_sysreg<arm::reg::kIccIar1El1>();
    }
    const u32 intid = static_cast<u32>(iar & 0xffffff);
    if (intid >= 1020 && intid < 1024) return budget;  // spurious: nothing (more) pending
    return handle_irqs(iar, budget);
}

void gic_send_sgi_others(u32 sgi) {
    if (st().gicd == 0) return;  // GIC not up yet
    dsb_ishst();
    write_sysreg<arm::reg::kIccSgi1rEl1>((u64{1} << 40) | (u64{sgi & 0xf} << 24));  // IRM = 1: all but self
    isb();
    sev();
}

}  // namespace hv::arch

// An IRQ taken at EL2 itself (vectors.S el2_irq): only if the hypervisor unmasked IRQs, e.g. while idling.
extern "C" void hv_el2_irq() { (void)hv::arch::gic_handle_irqs(); }
