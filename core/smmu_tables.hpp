// SMMUv3 data structures the hypervisor builds in memory, without touching hardware (host-tested): register
// offsets and fields, stream table entries (STE), context descriptors (CD), command and event queue records, queue
// index arithmetic, the StreamID map of a PCIe root complex and the DMA page table of a VM (guest RAM + the MSI
// doorbell pages, identity mapped, nothing else). Layouts: IHI0070 "Arm System Memory Management Unit Architecture
// Specification SMMU architecture version 3" — registers chapter 6, STE 5.2, CD 5.4, commands 4, events 7.3.
// The driver that programs the hardware is arch/aarch64/smmu.*; the design is docs/msi-passthrough.md "DMA isolation".
#pragma once

#include "core/platform.hpp"
#include "core/stage2.hpp"
#include "lib/bits.hpp"
#include "lib/span.hpp"
#include "lib/status.hpp"

namespace hv::smmu {

// --- registers (IHI0070 6.3); page 1 registers at +64 KiB
enum class Reg : u32 {
    IDR0 = 0x00,
    IDR1 = 0x04,
    IDR5 = 0x14,
    CR0 = 0x20,
    CR0ACK = 0x24,
    CR1 = 0x28,
    CR2 = 0x2c,
    GBPA = 0x44,
    IRQ_CTRL = 0x50,
    IRQ_CTRLACK = 0x54,
    GERROR = 0x60,
    GERRORN = 0x64,
    STRTAB_BASE = 0x80,  // 64-bit
    STRTAB_BASE_CFG = 0x88,
    CMDQ_BASE = 0x90,  // 64-bit
    CMDQ_PROD = 0x98,
    CMDQ_CONS = 0x9c,
    EVENTQ_BASE = 0xa0,     // 64-bit
    EVENTQ_PROD = 0x100a8,  // page 1
    EVENTQ_CONS = 0x100ac,  // page 1
};
constexpr u32 reg(Reg r) { return static_cast<u32>(r); }

namespace idr0 {
using S2p = Bit<0>;
using S1p = Bit<1>;
using Ttf = Field<3, 2>;  // 2 = AArch64 tables only, 3 = both
using Cohacc = Bit<4>;
using StLevel = Field<28, 27>;  // 0: linear stream table only
}  // namespace idr0
namespace idr1 {
using SidSize = Field<5, 0>;
using EventqS = Field<20, 16>;
using CmdqS = Field<25, 21>;
}  // namespace idr1
namespace idr5 {
using Oas = Field<2, 0>;
using Gran4k = Bit<4>;
}  // namespace idr5
namespace cr0 {
using SmmuEn = Bit<0>;
using EventqEn = Bit<2>;
using CmdqEn = Bit<3>;
}  // namespace cr0
namespace cr1 {  // attributes of the SMMU's own queue and table accesses
using QueueIc = Field<1, 0>;
using QueueOc = Field<3, 2>;
using QueueSh = Field<5, 4>;
using TableIc = Field<7, 6>;
using TableOc = Field<9, 8>;
using TableSh = Field<11, 10>;
}  // namespace cr1
namespace cr2 {
using RecInvSid = Bit<1>;  // record C_BAD_STREAMID for out-of-range StreamIDs
using Ptm = Bit<2>;        // private TLB maintenance: ignore broadcast TLBIs from PEs
}  // namespace cr2
namespace gbpa {
using Abort = Bit<20>;
using Update = Bit<31>;
}  // namespace gbpa
namespace irq_ctrl {
using GerrorIrqEn = Bit<0>;
using EventqIrqEn = Bit<2>;
}  // namespace irq_ctrl
namespace gerror {
using CmdqErr = Bit<0>;
using EventqAbtErr = Bit<2>;
using SfmErr = Bit<8>;
}  // namespace gerror
namespace strtab {
using Ra = Bit<62>;
using Addr = Field<51, 6>;
using Log2Size = Field<5, 0>;  // STRTAB_BASE_CFG
using Fmt = Field<17, 16>;     // STRTAB_BASE_CFG: 0 linear, 1 2-level
using Split = Field<10, 6>;    // STRTAB_BASE_CFG: StreamID bits an L2 table resolves (2-level)
constexpr u64 kFmtLinear = 0;
constexpr u64 kFmt2Level = 1;
}  // namespace strtab
// Level-1 stream table descriptor (IHI0070 5.1, L1STD): the L2 table holds 2^(Span - 1) STEs; Span 0 is invalid.
namespace l1std {
using Span = Field<4, 0>;
using L2Ptr = Field<51, 6>;
}  // namespace l1std
namespace queue {
using Ra = Bit<62>;  // CMDQ_BASE.RA / EVENTQ_BASE.WA
using Addr = Field<51, 5>;
using Log2Size = Field<4, 0>;
using ConsErr = Field<30, 24>;  // CMDQ_CONS.ERR
using Ovflg = Bit<31>;          // EVENTQ_PROD.OVFLG / EVENTQ_CONS.OVACKFLG
}  // namespace queue

constexpr u64 kCacheWb = 1;     // CR1 / STE / CD cacheability: Normal write-back read/write-allocate
constexpr u64 kShareInner = 3;  // inner shareable

// --- queue index arithmetic (IHI0070 3.5.1): index in the low log2 bits, wrap flag just above
struct QueueIndex {
    u32 log2 = 0;
    u32 mask() const { return (1u << (log2 + 1)) - 1; }  // index + wrap
    u32 slot(u32 v) const { return v & ((1u << log2) - 1); }
    u32 wrap(u32 v) const { return (v >> log2) & 1; }
    u32 next(u32 v) const { return (v + 1) & mask(); }
    bool empty(u32 prod, u32 cons) const { return (prod & mask()) == (cons & mask()); }
    bool full(u32 prod, u32 cons) const { return slot(prod) == slot(cons) && wrap(prod) != wrap(cons); }
};

// --- stream table entry (IHI0070 5.2), 64 bytes
struct Ste {
    u64 dw[8] = {};
};
static_assert(sizeof(Ste) == 64);
namespace ste {
using V = Bit<0>;
using Config = Field<3, 1>;  // 0b000 abort, 0b100 bypass, 0b101 stage 1, 0b110 stage 2, 0b111 both
using S1Fmt = Field<5, 4>;
using S1ContextPtr = Field<51, 6>;
using S1CdMax = Field<63, 59>;
// dword 1
using S1Cir = Field<3, 2>;
using S1Cor = Field<5, 4>;
using S1Csh = Field<7, 6>;
using S1StallD = Bit<27>;
using Eats = Field<29, 28>;
using Strw = Field<31, 30>;
// dword 2 (a VTCR_EL2 image in [50:32])
using S2Vmid = Field<15, 0>;
using S2T0sz = Field<37, 32>;
using S2Sl0 = Field<39, 38>;
using S2Ir0 = Field<41, 40>;
using S2Or0 = Field<43, 42>;
using S2Sh0 = Field<45, 44>;
using S2Tg = Field<47, 46>;
using S2Ps = Field<50, 48>;
using S2Aa64 = Bit<51>;
using S2Ptw = Bit<54>;
using S2R = Bit<58>;
// dword 3
using S2Ttb = Field<51, 4>;
constexpr u64 kConfigAbort = 0;
constexpr u64 kConfigBypass = 4;
constexpr u64 kConfigS1 = 5;
constexpr u64 kConfigS2 = 6;
}  // namespace ste

// --- context descriptor (IHI0070 5.4), 64 bytes
struct Cd {
    u64 dw[8] = {};
};
static_assert(sizeof(Cd) == 64);
namespace cd {
using T0sz = Field<5, 0>;
using Tg0 = Field<7, 6>;  // 0 = 4 KiB
using Ir0 = Field<9, 8>;
using Or0 = Field<11, 10>;
using Sh0 = Field<13, 12>;
using Epd0 = Bit<14>;
using Epd1 = Bit<30>;
using V = Bit<31>;
using Ips = Field<34, 32>;
using Aa64 = Bit<41>;
using R = Bit<45>;     // record faults
using A = Bit<46>;     // abort (not stall) terminated transactions
using Aset = Bit<47>;  // ASID not shared with the PEs' TLB maintenance
using Asid = Field<63, 48>;
using Ttb0 = Field<51, 4>;  // dword 1
// dword 3 = MAIR
}  // namespace cd

// --- commands (IHI0070 4.1), 16 bytes
struct Cmd {
    u64 dw[2] = {};
};
enum class Opcode : u8 {
    CFGI_STE = 0x03,
    CFGI_ALL = 0x04,  // CFGI_STE_RANGE with Range = 31
    CFGI_CD = 0x05,
    TLBI_NH_ALL = 0x10,
    TLBI_S12_VMALL = 0x28,
    TLBI_NSNH_ALL = 0x30,
    SYNC = 0x46,
};
Cmd cmd_cfgi_ste(u32 sid);
Cmd cmd_cfgi_all();
Cmd cmd_cfgi_cd(u32 sid, u32 ssid);
Cmd cmd_tlbi_nh_all(u16 vmid);
Cmd cmd_tlbi_s12_vmall(u16 vmid);
Cmd cmd_tlbi_nsnh_all();
Cmd cmd_sync();  // CS = SIG_NONE: completion is observed through CMDQ_CONS
u8 cmd_opcode(const Cmd& c);

// CMDQ_CONS.ERR codes (IHI0070 7.1).
const char* cmdq_error_name(u32 err);

// --- event records (IHI0070 7.3), 32 bytes
struct EventRecord {
    u64 dw[4] = {};
};
enum class EventType : u8 {
    F_UUT = 0x01,
    C_BAD_STREAMID = 0x02,
    F_STE_FETCH = 0x03,
    C_BAD_STE = 0x04,
    F_BAD_ATS_TREQ = 0x05,
    F_STREAM_DISABLED = 0x06,
    F_TRANSL_FORBIDDEN = 0x07,
    C_BAD_SUBSTREAMID = 0x08,
    F_CD_FETCH = 0x09,
    C_BAD_CD = 0x0a,
    F_WALK_EABT = 0x0b,
    F_TRANSLATION = 0x10,
    F_ADDR_SIZE = 0x11,
    F_ACCESS = 0x12,
    F_PERMISSION = 0x13,
    F_TLB_CONFLICT = 0x20,
    F_CFG_CONFLICT = 0x21,
};
struct Event {
    u8 type = 0;
    u32 sid = 0;
    bool ssv = false;
    u32 ssid = 0;
    bool read = false;  // RnW (translation-class events)
    bool stage2 = false;
    bool has_address = false;
    u64 address = 0;   // input address (IOVA) of the faulting transaction
    u64 address2 = 0;  // IPA / fetch address where the record carries one
};
Event decode_event(const EventRecord& r);
const char* event_name(u8 type);

// Consumes the event queue `ring` (2^q.log2 records) from the SMMU's EVENTQ_PROD / EVENTQ_CONS register values
// (IHI0070 3.5, 7.4): `fn` gets every record between CONS and PROD in order, at most one queue's worth per call.
// The result's `cons` is the value to write back to EVENTQ_CONS: the new index, OVACKFLG = PROD.OVFLG (which
// acknowledges an overflow; `overflowed` says records were lost since the last acknowledgement).
using EventFn = void (*)(const Event& e, void* ctx);
struct EventDrain {
    u32 cons = 0;
    u32 consumed = 0;
    bool overflowed = false;
};
EventDrain drain_event_queue(const EventRecord* ring, const QueueIndex& q, u32 prod_reg, u32 cons_reg, EventFn fn,
                             void* ctx);

// --- StreamIDs of a PCIe root complex
// iommu-map (pci-iommu.txt): requester IDs [rid_base, rid_base + length) -> StreamIDs [sid_base, ...) of the SMMU
// `phandle`; without an iommu-map, StreamID = requester ID (QEMU virt). RIDs cover the bridge's bus range.
struct StreamIdRange {
    u32 first = 0;
    u32 count = 0;
};
// The StreamIDs the root complex `pcie` emits towards the SMMU with phandle `smmu_phandle`, as at most
// `cap` ranges (requester IDs of the bus range, through the iommu-map and its mask). Returns the number written.
usize pcie_stream_ids(const PcieInfo& pcie, u32 smmu_phandle, StreamIdRange* out, usize cap);
// log2 of the linear stream table's entry count that covers every StreamID of `ranges` (at least 1 entry).
u32 stream_table_log2(const StreamIdRange* ranges, usize n);

// Fills a linear stream table of 2^log2 entries: StreamIDs inside `ranges` get `device`, all others an invalid
// STE (V = 0: the SMMU aborts the transaction and records C_BAD_STE).
void fill_stream_table(Ste* table, u32 log2, const StreamIdRange* ranges, usize n, const Ste& device);

// A 2-level stream table (STRTAB_BASE_CFG.FMT = 1) for 2^log2 StreamIDs, 2^split STEs per L2 table, with the same
// contents as fill_stream_table's: `l1` gets 2^(log2 - split) descriptors (log2 >= split); the L2 tables come from
// `l2` (room for `l2_cap` tables of 2^split STEs, each aligned to its size; `l2_pa` is the physical address of the
// first). No STE field depends on its StreamID (IHI0070 5.2), so L1 descriptors share L2 tables: every span whose
// StreamIDs are all covered points to one table of `device` STEs, every span with none covered to one table of
// invalid STEs, and only a span a range boundary cuts gets a table of its own. A root complex's whole bus range
// (65,536 StreamIDs) is then 256 descriptors and one 256-entry table instead of 65,536 STEs (4 MiB) written one by
// one. At most 8 ranges. Returns the number of L2 tables used, or Status::no_memory if `l2_cap` is too small (nothing
// usable then).
[[nodiscard]] Result<usize> fill_stream_table_2level(u64* l1, u32 log2, u32 split, Ste* l2, u64 l2_pa, usize l2_cap,
                                                     const StreamIdRange* ranges, usize n, const Ste& device);

// --- what a passed-through device may reach: the VM's RAM (identity, Normal WB, RW, XN) and the MSI doorbell
// pages (identity, Device, RW, XN, 4 KiB each). Nothing else is mapped: every other address faults.
struct DmaWindow {
    Span<const MemRegion> ram;
    Span<const u64> doorbell_pages;  // 4 KiB aligned addresses
};
// Input-address bits a table needs for `w`: stage 1 -> 39 (start at level 1) or 48; stage 2 -> 32..43 (level-1
// start with concatenation, as core/stage2). out_of_range if `oas_bits` cannot express an address of `w`.
[[nodiscard]] Result<unsigned> dma_ia_bits(const DmaWindow& w, Regime regime, unsigned oas_bits);
// Maps `w` into `table` (already init()ed); invalid_argument for an unaligned region.
[[nodiscard]] Status map_dma_window(PageTable& table, const DmaWindow& w);

// Stage 1 (one CD, S1CDMax = 0): the STE points at the CD, the CD at the stage-1 table (el2_stage1 descriptor format:
// AP[2:1] = 0b01 read/write, AttrIndx per pte::kMairValue).
Cd make_cd(const PageTable& s1, u16 asid, u64 ips_field);
Ste make_ste_stage1(u64 cd_pa);
// Stage 2 (SMMU_IDR0.S2P): the STE carries the VTCR-like fields and the table root directly.
Ste make_ste_stage2(const PageTable& s2, u16 vmid, u64 ps_field);
// IDR5.OAS / CD.IPS / STE.S2PS encoding -> bits (0 -> 32 ... 5 -> 48, 6 -> 52).
unsigned oas_bits(u64 field);

}  // namespace hv::smmu
