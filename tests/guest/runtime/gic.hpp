// A minimal GICv3 driver for guest payloads (ARM IHI0069H): distributor, each CPU's redistributor (init() on the
// boot CPU, init_cpu() on secondaries), the ICC_* system-register CPU interface, SGIs/PPIs/SPIs. Group 1 and
// EOImode 0 by default; Group 0, EOImode 1 and raw SGI0R/ASGI1R writes are available below. Frames come from the
// DT node compatible with "arm,gic-v3" (reg 0: GICD, reg 1: the redistributor region).
#pragma once

#include "lib/types.hpp"

namespace rt::gic {

using namespace hv;

constexpr u32 kSpurious = 1023;
constexpr u32 kFirstSpi = 32;
constexpr u32 kVirtualTimerPpi = 27;

using Handler = void (*)(u32 intid, void* ctx);

// Initialise distributor (affinity routing, Group 1 enabled), this CPU's redistributor (woken up, SGIs/PPIs in
// Group 1, disabled) and the CPU interface (SRE, PMR = 0xff, Group 1 enabled), and install the IRQ dispatcher.
// Returns false (after printing why) if the GIC is not found or does not respond.
bool init();
bool initialised();

u64 gicd_base();
u64 rd_base();              // this CPU's redistributor RD_base (the one init()/init_cpu() found for it)
u64 rd_base_of(u64 mpidr);  // any CPU's RD_base by walking the redistributor frames; 0 if none matches
u32 spi_count();            // from GICD_TYPER.ITLinesNumber

// Handlers for up to kMaxHandlers distinct INTIDs; an IRQ without a handler is counted in unhandled_count().
constexpr usize kMaxHandlers = 64;
bool set_handler(u32 intid, Handler h, void* ctx = nullptr);
u32 unhandled_count();

void enable(u32 intid, u8 priority = 0xa0);
void disable(u32 intid);
void set_pending(u32 intid);
void clear_pending(u32 intid);
bool is_pending(u32 intid);
void set_edge_triggered(u32 intid, bool edge);
void route_spi_to_self(u32 intid);

// SGIs through ICC_SGI1R_EL1 (IHI0069H 12.11.7).
void send_sgi_self(u32 sgi);
void send_sgi(u32 sgi, u64 target_mpidr);

u32 ack();            // ICC_IAR1_EL1 INTID
void eoi(u32 intid);  // ICC_EOIR1_EL1 (priority drop + deactivate in EOImode 0)

// --- SMP and the less common parts of the architecture (additive; the calls above are unchanged) -------------
// On a secondary CPU after init() ran on the primary: wake this CPU's redistributor (SGIs/PPIs Group 1, disabled)
// and set up its CPU interface like init() does. The distributor is left alone.
bool init_cpu();
void set_priority(u32 intid, u8 priority);
void set_group(u32 intid, u32 group);  // 0 or 1 (IGROUPR of this CPU's bank for SGIs/PPIs)
bool is_active(u32 intid);             // GICD/GICR ISACTIVER (this CPU's bank for SGIs/PPIs)
void clear_active(u32 intid);          // GICD/GICR ICACTIVER
bool is_enabled(u32 intid);
// Banked SGI/PPI registers of another CPU's redistributor (SGI_base + offset of the GICD-equivalent register).
bool is_pending_on(u64 rd, u32 intid);
void set_eoi_mode(bool split);  // ICC_CTLR_EL1.EOImode of this CPU (true: EOIR drops priority, DIR deactivates)
void deactivate(u32 intid);     // ICC_DIR_EL1
void set_group_enable(u32 group, bool on);  // GICD_CTLR.EnableGrp0/EnableGrp1 (waits for RWP)
// Raw SGI register writes (IHI0069H 12.11: ICC_SGI1R_EL1, ICC_SGI0R_EL1, ICC_ASGI1R_EL1 share the layout).
u64 sgi_value(u32 sgi, u64 aff3, u64 aff2, u64 aff1, u32 rs, u32 target_list, bool irm);
void write_sgi1r(u64 v);
void write_sgi0r(u64 v);
void write_asgi1r(u64 v);
u32 ack0();            // ICC_IAR0_EL1 INTID (Group 0)
void eoi0(u32 intid);  // ICC_EOIR0_EL1

}  // namespace rt::gic
