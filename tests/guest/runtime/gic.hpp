// A minimal GICv3 driver for guest payloads (ARM IHI0069H): distributor, this CPU's redistributor, the ICC_*
// system-register CPU interface, SGIs/PPIs/SPIs, Group 1 only, EOImode 0. Frames come from the DT node compatible
// with "arm,gic-v3" (reg 0: GICD, reg 1: the redistributor region).
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
u64 rd_base();         // this CPU's redistributor RD_base
u32 spi_count();       // from GICD_TYPER.ITLinesNumber

// Handlers for up to kMaxHandlers distinct INTIDs; an IRQ without a handler is counted in unhandled_count().
constexpr usize kMaxHandlers = 32;
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

u32 ack();             // ICC_IAR1_EL1 INTID
void eoi(u32 intid);   // ICC_EOIR1_EL1 (priority drop + deactivate in EOImode 0)

}  // namespace rt::gic
