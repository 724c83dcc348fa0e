// A minimal GICv3 ITS driver for guest payloads (ARM IHI0069H chapter 5; registers 12.19, command layouts 5.3).
// One `Its` object per ITS: several ITSes can be driven at once, each with its own command queue and device /
// collection tables in memory the payload owns (flat tables; pages of the size the ITS keeps in GITS_BASER.Page_Size,
// which is read-only 64 KiB on KVM and this hypervisor, so give 64 KiB-aligned multiples of 64 KiB). The LPI side of
// the redistributors
// (property table, pending tables, EnableLPIs) is shared by every ITS and set up with enable_lpis().
#pragma once

#include "lib/types.hpp"

namespace rt::its {

using namespace hv;

// GITS_* register offsets (IHI0069H 12.19); the translater frame is the second 64 KiB page.
constexpr u64 kCtlr = 0x0000;
constexpr u64 kIidr = 0x0004;
constexpr u64 kTyper = 0x0008;
constexpr u64 kCbaser = 0x0080;
constexpr u64 kCwriter = 0x0088;
constexpr u64 kCreadr = 0x0090;
constexpr u64 kBaser0 = 0x0100;
constexpr u64 kPidr2 = 0xffe8;
constexpr u64 kBaserPageSizeShift = 8;  // GITS_BASER.Page_Size [9:8]: 0 = 4 KiB, 1 = 16 KiB, 2 = 64 KiB
constexpr u64 kTranslater = 0x1'0040;
constexpr u32 kFirstLpi = 8192;

// One 32-byte command (IHI0069H 5.3): four little-endian doublewords.
struct Cmd {
    u64 dw[4];
};
static_assert(sizeof(Cmd) == 32);

// Command encodings. `rdbase` is what the ITS expects in RDbase fields: see Its::rdbase().
Cmd mapd(u32 dev, u64 itt, u32 event_bits, bool valid);  // event_bits >= 1: the ITT covers 2^event_bits events
Cmd mapc(u32 icid, u64 rdbase, bool valid);
Cmd mapti(u32 dev, u32 event, u32 lpi, u32 icid);
Cmd mapi(u32 dev, u32 event, u32 icid);
Cmd movi(u32 dev, u32 event, u32 icid);
Cmd discard(u32 dev, u32 event);
Cmd inv(u32 dev, u32 event);
Cmd invall(u32 icid);
Cmd int_(u32 dev, u32 event);
Cmd clear(u32 dev, u32 event);
Cmd sync(u64 rdbase);
Cmd movall(u64 rdbase1, u64 rdbase2);

// Every DT node compatible with "arm,gic-v3-its" (DT order): frame base and size; returns how many (<= cap).
u32 dt_find_all(u64* bases, u64* sizes, u32 cap);

// LPIs on one redistributor (IHI0069H 12.11.29/12.11.31/12.11.2): GICR_PROPBASER = prop_table | (id_bits - 1),
// GICR_PENDBASER = pending_table, GICR_CTLR.EnableLPIs = 1. The property table covers INTIDs < 2^id_bits (entry
// lpi - 8192); the pending table 2^id_bits bits, 64 KiB aligned. All redistributors should share one property table.
void enable_lpis(u64 rd_base, const void* prop_table, u32 id_bits, const void* pending_table);
// Property byte of `lpi` (priority | Enable), then a DSB so the redistributor sees it (an INV makes it take effect
// for a mapped event).
void set_lpi_config(u8* prop_table, u32 lpi, bool enable, u8 priority = 0xa0);

// Bytes per table page GITS_BASER<n> `baser` describes.
u64 baser_page_bytes(u64 baser);
// Programs GITS_BASER<n> (ITS disabled) for a table of `bytes` at `table`, flat or two-level (`indirect`): tries
// Page_Size 64 KiB, 16 KiB, 4 KiB (those `table`/`bytes` are aligned to) and keeps the first the ITS reads back.
// False if none sticks or the ITS did not keep Valid, the address or the size.
bool program_baser(u64 its_base, u32 n, const void* table, u64 bytes, bool indirect);

struct Memory {
    u8* queue = nullptr;  // 64 KiB aligned is always safe; queue_bytes a multiple of 4 KiB (<= 1 MiB)
    u64 queue_bytes = 0;
    u8* devices = nullptr;  // flat device table (64 KiB aligned, multiple of 64 KiB: see program_baser)
    u64 devices_bytes = 0;
    u8* collections = nullptr;  // flat collection table (64 KiB aligned, multiple of 64 KiB)
    u64 collections_bytes = 0;
};

class Its {
public:
    // Programs GITS_CBASER, GITS_BASER0 (devices) and GITS_BASER1 (collections) with `mem` (the ITS must be
    // disabled; it is disabled first) and enables it. False if the frame does not look like an ITS (PIDR2.ArchRev
    // not 3 or 4) or the enable does not stick.
    bool init(u64 base, const Memory& mem);
    u64 base() const { return base_; }
    u64 typer() const;
    u32 ctlr() const;
    void set_enabled(bool on);

    // Appends one command and (if `kick`) advances GITS_CWRITER; waits (bounded) while the queue is full.
    bool put(const Cmd& c, bool kick = true);
    void kick();  // GITS_CWRITER = the driver's write offset
    // True once GITS_CREADR reaches the write offset (bounded wait).
    bool drained() const;
    u64 creadr() const;
    u64 cwriter() const { return cwriter_; }
    bool stalled() const { return (creadr() & 1) != 0; }
    u64 queue_bytes() const { return queue_bytes_; }

    // RDbase of the redistributor at `rd_base` as this ITS wants it: GITS_TYPER.PTA = 1 -> the physical address
    // >> 16; PTA = 0 -> GICR_TYPER.Processor_Number (IHI0069H 5.3, 12.11.35).
    u64 rdbase(u64 rd_base) const;
    // A 32-bit write of `event` to this ITS's GITS_TRANSLATER (DeviceID = the CPU's requester ID, 0 on QEMU).
    void signal(u32 event) const;

private:
    u64 base_ = 0;
    u8* queue_ = nullptr;
    u64 queue_bytes_ = 0;
    u64 cwriter_ = 0;
};

}  // namespace rt::its
