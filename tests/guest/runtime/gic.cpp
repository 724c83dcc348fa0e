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
    ctlr = 0x0000,        // RW  GICD_CTLR
    typer = 0x0004,       // RO  GICD_TYPER
    igroupr = 0x0080,     // RW  GICD_IGROUPR<n>
    isenabler = 0x0100,   // RW  GICD_ISENABLER<n>
    icenabler = 0x0180,   // RW  GICD_ICENABLER<n>
    ispendr = 0x0200,     // RW  GICD_ISPENDR<n>
    icpendr = 0x0280,     // RW  GICD_ICPENDR<n>
    isactiver = 0x0300,   // RW  GICD_ISACTIVER<n>
    icactiver = 0x0380,   // RW  GICD_ICACTIVER<n>
    ipriorityr = 0x0400,  // RW  GICD_IPRIORITYR<n> (byte access)
    icfgr = 0x0c00,       // RW  GICD_ICFGR<n>
    irouter = 0x6000,     // RW  GICD_IROUTER<n> (64-bit)
};
using GicdCtlrRwp = Bit<31>;
using GicdCtlrAre = Bit<4>;
using GicdCtlrEnableGrp1 = Bit<1>;
using GicdCtlrEnableGrp0 = Bit<0>;
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
u64 g_redist = 0;  // the redistributor region (DT reg 1)
u64 g_redist_size = 0;
u64 g_rd_of[8];  // per CPU (index cpu_slot()), set by init() / init_cpu()
u32 g_spis = 0;
bool g_ready = false;
HandlerSlot g_handlers[kMaxHandlers];
usize g_handler_count = 0;
u32 g_unhandled = 0;

// Index of this CPU in the per-CPU tables: MPIDR Aff1 * 16 + Aff0 (the runtime supports at most 8 CPUs).
usize cpu_slot() {
    u64 mpidr = RT_READ_SYSREG(mpidr_el1);
    return static_cast<usize>(((mpidr >> 8 & 0xff) * 16 + (mpidr & 0xff)) % 8);
}
u64 my_rd() { return g_rd_of[cpu_slot()]; }
u64 gicd(Gicd r) { return g_gicd + static_cast<u64>(r); }
u64 gicr(Gicr r) { return my_rd() + static_cast<u64>(r); }
// Registers of SGIs/PPIs live in the redistributor's SGI frame at the same offsets as the distributor's.
u64 bank(Gicd r, u32 intid) { return intid < kFirstSpi ? my_rd() + kSgiBase + static_cast<u64>(r) : gicd(r); }

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
        if (intid >= 1020 && intid < 8192) return;  // 1020..1023 special/spurious; >= 8192 are LPIs (IHI0069H 2.2.1)
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
    dist = 0x0800'0000;  // QEMU virt defaults when there is no DT
    redist = 0x080a'0000;
    redist_size = 0x00f6'0000;
    if (!dt().valid()) return true;
    u64 size = 0;
    if (!dt_compatible_reg("arm,gic-v3", 0, dist, size)) {
        printf("gic: no arm,gic-v3 node with a GICD reg in the DT\n");
        return false;
    }
    return dt_compatible_reg("arm,gic-v3", 1, redist, redist_size);
}

// Finds and wakes this CPU's redistributor and sets up its CPU interface (shared by init() and init_cpu()).
bool init_this_cpu_interface() {
    u64 rd = rd_base_of(RT_READ_SYSREG(mpidr_el1));
    if (!rd) {
        printf("gic: no redistributor for affinity 0x%llx\n", static_cast<unsigned long long>(my_affinity()));
        return false;
    }
    g_rd_of[cpu_slot()] = rd;

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
    mmio_write32(rd + kSgiBase + static_cast<u64>(Gicd::icenabler), ~0u);
    mmio_write32(rd + kSgiBase + static_cast<u64>(Gicd::igroupr), ~0u);

    // CPU interface: system-register access, all priorities unmasked, Group 1 on.
    RT_WRITE_SYSREG(icc_sre_el1, RT_READ_SYSREG(icc_sre_el1) | 1);
    isb();
    RT_WRITE_SYSREG(icc_pmr_el1, 0xff);
    RT_WRITE_SYSREG(icc_bpr1_el1, 0);
    RT_WRITE_SYSREG(icc_ctlr_el1, RT_READ_SYSREG(icc_ctlr_el1) & ~u64{2});  // EOImode = 0
    RT_WRITE_SYSREG(icc_igrpen1_el1, 1);
    isb();
    return true;
}

}  // namespace

u64 rd_base_of(u64 mpidr) {
    // Walk the frames until GICR_TYPER.Last (IHI0069H, GICR_TYPER).
    u64 aff = (mpidr & 0xff'ffffull) | ((mpidr >> 32) & 0xff) << 24;
    for (u64 rd = g_redist; rd < g_redist + g_redist_size;) {
        u64 typer = mmio_read64(rd + static_cast<u64>(Gicr::typer));
        if (GicrTyperAffinity::get(typer) == aff) return rd;
        if (GicrTyperLast::get(typer)) break;
        rd += GicrTyperVlpis::get(typer) ? 0x4'0000 : 0x2'0000;
    }
    return 0;
}

bool init() {
    if (!find_frames(g_gicd, g_redist, g_redist_size)) return false;
    g_spis = min<u32>(32 * (static_cast<u32>(GicdTyperItLines::get(mmio_read32(gicd(Gicd::typer)))) + 1), 1020) - 32;

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
    if (!init_this_cpu_interface()) return false;
    set_irq_handler(dispatch);
    g_ready = true;
    return true;
}

bool init_cpu() {
    if (!g_ready) {
        printf("gic: init_cpu() before init()\n");
        return false;
    }
    if (!init_this_cpu_interface()) return false;
    set_irq_handler(dispatch);
    return true;
}

bool initialised() { return g_ready; }
u64 gicd_base() { return g_gicd; }
u64 rd_base() { return my_rd(); }
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
bool is_pending(u32 intid) { return (mmio_read32(bank(Gicd::ispendr, intid) + 4 * (intid / 32)) >> (intid % 32)) & 1; }

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

void set_priority(u32 intid, u8 priority) { mmio_write8(bank(Gicd::ipriorityr, intid) + intid, priority); }

void set_group(u32 intid, u32 group) {
    u64 reg = bank(Gicd::igroupr, intid) + 4 * (intid / 32);
    u32 v = mmio_read32(reg);
    mmio_write32(reg, group ? (v | 1u << (intid % 32)) : (v & ~(1u << (intid % 32))));
}

bool is_active(u32 intid) { return (mmio_read32(bank(Gicd::isactiver, intid) + 4 * (intid / 32)) >> (intid % 32)) & 1; }
void clear_active(u32 intid) { mmio_write32(bank(Gicd::icactiver, intid) + 4 * (intid / 32), 1u << (intid % 32)); }
bool is_enabled(u32 intid) {
    return (mmio_read32(bank(Gicd::isenabler, intid) + 4 * (intid / 32)) >> (intid % 32)) & 1;
}
bool is_pending_on(u64 rd, u32 intid) {
    if (intid >= kFirstSpi) return false;
    return (mmio_read32(rd + kSgiBase + static_cast<u64>(Gicd::ispendr)) >> intid) & 1;
}

void set_eoi_mode(bool split) {
    u64 ctlr = RT_READ_SYSREG(icc_ctlr_el1);
    RT_WRITE_SYSREG(icc_ctlr_el1, split ? (ctlr | 2) : (ctlr & ~u64{2}));
    isb();
}

void deactivate(u32 intid) {
    RT_WRITE_SYSREG(icc_dir_el1, intid);
    isb();
}

void set_group_enable(u32 group, bool on) {
    u32 ctlr = mmio_read32(gicd(Gicd::ctlr));
    u32 bit =
        group ? static_cast<u32>(GicdCtlrEnableGrp1::field_mask) : static_cast<u32>(GicdCtlrEnableGrp0::field_mask);
    mmio_write32(gicd(Gicd::ctlr), on ? (ctlr | bit) : (ctlr & ~bit));
    if (!wait_rwp()) printf("gic: GICD_CTLR.RWP stuck after changing group enables\n");
}

u64 sgi_value(u32 sgi, u64 aff3, u64 aff2, u64 aff1, u32 rs, u32 target_list, bool irm) {
    return SgiTargetList::make(target_list & 0xffff) | SgiAff1::make(aff1 & 0xff) | SgiIntid::make(sgi & 0xf) |
           SgiAff2::make(aff2 & 0xff) | (irm ? u64{1} << 40 : 0) | SgiRs::make(rs & 0xf) | SgiAff3::make(aff3 & 0xff);
}

void write_sgi1r(u64 v) {
    isb();
    RT_WRITE_SYSREG(icc_sgi1r_el1, v);
    isb();
}
void write_sgi0r(u64 v) {
    isb();
    RT_WRITE_SYSREG(icc_sgi0r_el1, v);
    isb();
}
void write_asgi1r(u64 v) {
    isb();
    RT_WRITE_SYSREG(icc_asgi1r_el1, v);
    isb();
}

u32 ack0() {
    u32 intid = static_cast<u32>(RT_READ_SYSREG(icc_iar0_el1) & 0xff'ffff);
    asm volatile("dsb sy" ::: "memory");
    return intid;
}

void eoi0(u32 intid) {
    RT_WRITE_SYSREG(icc_eoir0_el1, intid);
    isb();
}

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
