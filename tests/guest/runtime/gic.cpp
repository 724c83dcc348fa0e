#include "tests/guest/runtime/gic.hpp"

#include "lib/bits.hpp"
#include "tests/guest/runtime/console.hpp"
#include "tests/guest/runtime/exceptions.hpp"
#include "tests/guest/runtime/sysreg.hpp"
#include "tests/guest/runtime/test.hpp"

namespace rt::gic {
namespace {

// Distributor registers (IHI0069H ch. 12).
enum class Gicd : u64 {
    ctlr = 0x0000,       // RW  GICD_CTLR
    typer = 0x0004,      // RO  GICD_TYPER
    igroupr = 0x0080,    // RW  GICD_IGROUPR<n>
    isenabler = 0x0100,  // RW  GICD_ISENABLER<n>
    icenabler = 0x0180,  // RW  GICD_ICENABLER<n>
    ispendr = 0x0200,    // RW  GICD_ISPENDR<n>
    icpendr = 0x0280,    // RW  GICD_ICPENDR<n>
    ipriorityr = 0x0400, // RW  GICD_IPRIORITYR<n> (byte access)
    icfgr = 0x0c00,      // RW  GICD_ICFGR<n>
    irouter = 0x6000,    // RW  GICD_IROUTER<n> (64-bit)
};
using GicdCtlrRwp = Bit<31>;
using GicdCtlrAre = Bit<4>;
using GicdCtlrEnableGrp1 = Bit<1>;
using GicdTyperItLines = Field<4, 0>;

// Redistributor RD_base and SGI_base = RD_base + 64 KiB.
enum class Gicr : u64 {
    ctlr = 0x0000,   // RW  GICR_CTLR
    typer = 0x0008,  // RO  GICR_TYPER (64-bit)
    waker = 0x0014,  // RW  GICR_WAKER
};
constexpr u64 kSgiBase = 0x1'0000;
using GicrTyperAffinity = Field<63, 32>;
using GicrTyperLast = Bit<4>;
using GicrTyperVlpis = Bit<1>;
using GicrWakerProcessorSleep = Bit<1>;
using GicrWakerChildrenAsleep = Bit<2>;

// ICC_SGI1R_EL1 fields (IHI0069H, ICC_SGI1R_EL1).
using SgiTargetList = Field<15, 0>;
using SgiAff1 = Field<23, 16>;
using SgiIntid = Field<27, 24>;
using SgiAff2 = Field<39, 32>;
using SgiRs = Field<47, 44>;
using SgiAff3 = Field<55, 48>;

constexpr u32 kMaxPolls = 1u << 20;

struct HandlerSlot {
    u32 intid;
    Handler fn;
    void* ctx;
};

u64 g_gicd = 0;
u64 g_rd = 0;
u32 g_spis = 0;
bool g_ready = false;
HandlerSlot g_handlers[kMaxHandlers];
usize g_handler_count = 0;
u32 g_unhandled = 0;

u64 gicd(Gicd r) { return g_gicd + static_cast<u64>(r); }
u64 gicr(Gicr r) { return g_rd + static_cast<u64>(r); }
// Registers of SGIs/PPIs live in the redistributor's SGI frame at the same offsets as the distributor's.
u64 bank(Gicd r, u32 intid) { return intid < kFirstSpi ? g_rd + kSgiBase + static_cast<u64>(r) : gicd(r); }

bool wait_rwp() {
    for (u32 i = 0; i < kMaxPolls; ++i)
        if (!GicdCtlrRwp::get(mmio_read32(gicd(Gicd::ctlr)))) return true;
    return false;
}

u64 my_affinity() {
    u64 mpidr = RT_READ_SYSREG(mpidr_el1);
    return (mpidr & 0xff'ffffull) | ((mpidr >> 32) & 0xff) << 24;  // Aff3.Aff2.Aff1.Aff0 as in GICR_TYPER
}

void dispatch(ExceptionFrame&) {
    for (u32 n = 0; n < 64; ++n) {  // bounded: drain what is pending now
        u32 intid = ack();
        if (intid >= kSpurious) return;
        bool handled = false;
        for (usize i = 0; i < g_handler_count; ++i) {
            if (g_handlers[i].intid == intid) {
                g_handlers[i].fn(intid, g_handlers[i].ctx);
                handled = true;
                break;
            }
        }
        if (!handled) {
            ++g_unhandled;
            printf("gic: IRQ %u without a handler\n", intid);
        }
        eoi(intid);
    }
}

bool find_frames(u64& dist, u64& redist, u64& redist_size) {
    const Fdt& f = dt();
    dist = 0x0800'0000;  // QEMU virt defaults when there is no DT
    redist = 0x080a'0000;
    redist_size = 0x00f6'0000;
    if (!f.valid()) return true;
    int node = f.find_compatible("arm,gic-v3");
    if (node < 0) {
        printf("gic: no arm,gic-v3 node in the DT\n");
        return false;
    }
    u64 size = 0;
    return f.reg(f.root(), node, 0, dist, size) && f.reg(f.root(), node, 1, redist, redist_size);
}

}  // namespace

bool init() {
    u64 redist = 0, redist_size = 0;
    if (!find_frames(g_gicd, redist, redist_size)) return false;
    g_spis = min<u32>(32 * (static_cast<u32>(GicdTyperItLines::get(mmio_read32(gicd(Gicd::typer)))) + 1), 1020) - 32;

    // Find this CPU's redistributor: walk the frames until GICR_TYPER.Last (IHI0069H, GICR_TYPER).
    u64 aff = my_affinity();
    g_rd = 0;
    for (u64 rd = redist; rd < redist + redist_size;) {
        u64 typer = mmio_read64(rd + static_cast<u64>(Gicr::typer));
        if (GicrTyperAffinity::get(typer) == aff) {
            g_rd = rd;
            break;
        }
        if (GicrTyperLast::get(typer)) break;
        rd += GicrTyperVlpis::get(typer) ? 0x4'0000 : 0x2'0000;
    }
    if (!g_rd) {
        printf("gic: no redistributor for affinity 0x%llx\n", static_cast<unsigned long long>(aff));
        return false;
    }

    // Distributor: affinity routing + Group 1 (IHI0069H, GICD_CTLR).
    mmio_write32(gicd(Gicd::ctlr), static_cast<u32>(GicdCtlrAre::make(1) | GicdCtlrEnableGrp1::make(1)));
    if (!wait_rwp()) {
        printf("gic: GICD_CTLR.RWP stuck\n");
        return false;
    }
    for (u32 n = 1; n <= g_spis / 32; ++n) {
        mmio_write32(gicd(Gicd::icenabler) + 4 * n, ~0u);
        mmio_write32(gicd(Gicd::igroupr) + 4 * n, ~0u);
    }

    // Redistributor: wake it (IHI0069H, GICR_WAKER), SGIs/PPIs to Group 1, all disabled.
    u32 waker = mmio_read32(gicr(Gicr::waker));
    mmio_write32(gicr(Gicr::waker), waker & ~static_cast<u32>(GicrWakerProcessorSleep::field_mask));
    u32 polls = 0;
    while (GicrWakerChildrenAsleep::get(mmio_read32(gicr(Gicr::waker))) && ++polls < kMaxPolls) {
    }
    if (polls >= kMaxPolls) {
        printf("gic: GICR_WAKER.ChildrenAsleep stuck\n");
        return false;
    }
    mmio_write32(g_rd + kSgiBase + static_cast<u64>(Gicd::icenabler), ~0u);
    mmio_write32(g_rd + kSgiBase + static_cast<u64>(Gicd::igroupr), ~0u);

    // CPU interface: system-register access, all priorities unmasked, Group 1 on.
    RT_WRITE_SYSREG(icc_sre_el1, RT_READ_SYSREG(icc_sre_el1) | 1);
    isb();
    RT_WRITE_SYSREG(icc_pmr_el1, 0xff);
    RT_WRITE_SYSREG(icc_bpr1_el1, 0);
    RT_WRITE_SYSREG(icc_ctlr_el1, RT_READ_SYSREG(icc_ctlr_el1) & ~u64{2});  // EOImode = 0
    RT_WRITE_SYSREG(icc_igrpen1_el1, 1);
    isb();
    set_irq_handler(dispatch);
    g_ready = true;
    return true;
}

bool initialised() { return g_ready; }
u64 gicd_base() { return g_gicd; }
u64 rd_base() { return g_rd; }
u32 spi_count() { return g_spis; }
u32 unhandled_count() { return g_unhandled; }

bool set_handler(u32 intid, Handler h, void* ctx) {
    for (usize i = 0; i < g_handler_count; ++i) {
        if (g_handlers[i].intid == intid) {
            g_handlers[i] = {intid, h, ctx};
            return true;
        }
    }
    if (g_handler_count >= kMaxHandlers) return false;
    g_handlers[g_handler_count++] = {intid, h, ctx};
    return true;
}

void enable(u32 intid, u8 priority) {
    mmio_write8(bank(Gicd::ipriorityr, intid) + intid, priority);
    mmio_write32(bank(Gicd::isenabler, intid) + 4 * (intid / 32), 1u << (intid % 32));
}

void disable(u32 intid) {
    mmio_write32(bank(Gicd::icenabler, intid) + 4 * (intid / 32), 1u << (intid % 32));
    if (intid >= kFirstSpi && !wait_rwp()) printf("gic: GICD_CTLR.RWP stuck after disabling %u\n", intid);
}

void set_pending(u32 intid) { mmio_write32(bank(Gicd::ispendr, intid) + 4 * (intid / 32), 1u << (intid % 32)); }
void clear_pending(u32 intid) { mmio_write32(bank(Gicd::icpendr, intid) + 4 * (intid / 32), 1u << (intid % 32)); }
bool is_pending(u32 intid) {
    return (mmio_read32(bank(Gicd::ispendr, intid) + 4 * (intid / 32)) >> (intid % 32)) & 1;
}

void set_edge_triggered(u32 intid, bool edge) {
    u64 reg = bank(Gicd::icfgr, intid) + 4 * (intid / 16);
    u32 shift = 2 * (intid % 16) + 1;
    u32 v = mmio_read32(reg);
    mmio_write32(reg, edge ? (v | 1u << shift) : (v & ~(1u << shift)));
}

void route_spi_to_self(u32 intid) {
    if (intid < kFirstSpi) return;
    u64 mpidr = RT_READ_SYSREG(mpidr_el1);
    mmio_write64(gicd(Gicd::irouter) + 8 * intid, mpidr & 0xff'00ff'ffffull);  // Aff3, Aff2, Aff1, Aff0; IRM = 0
}

void send_sgi(u32 sgi, u64 mpidr) {
    u64 aff0 = mpidr & 0xff;
    u64 v = SgiTargetList::make(1ull << (aff0 % 16)) | SgiRs::make(aff0 / 16) | SgiAff1::make((mpidr >> 8) & 0xff) |
            SgiAff2::make((mpidr >> 16) & 0xff) | SgiAff3::make((mpidr >> 32) & 0xff) | SgiIntid::make(sgi & 0xf);
    isb();
    RT_WRITE_SYSREG(icc_sgi1r_el1, v);
    isb();
}

void send_sgi_self(u32 sgi) { send_sgi(sgi, RT_READ_SYSREG(mpidr_el1)); }

u32 ack() {
    u32 intid = static_cast<u32>(RT_READ_SYSREG(icc_iar1_el1) & 0xff'ffff);
    asm volatile("dsb sy" ::: "memory");
    return intid;
}

void eoi(u32 intid) {
    RT_WRITE_SYSREG(icc_eoir1_el1, intid);
    isb();
}

}  // namespace rt::gic
