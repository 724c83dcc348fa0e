// The guest payloads' ITS driver (see its.hpp). Command layouts: IHI0069H 5.3 (one table per command).
#include "tests/guest/runtime/its.hpp"

#include "tests/guest/runtime/fdt.hpp"
#include "tests/guest/runtime/sysreg.hpp"

namespace rt::its {

namespace {

constexpr u64 kBaserValid = u64{1} << 63;
constexpr u64 kBaserIndirect = u64{1} << 62;
constexpr u64 kCbaserValid = u64{1} << 63;
constexpr u64 kQueueOffsetMask = 0xf'ffe0;  // GITS_CREADR/CWRITER.Offset [19:5]
constexpr u32 kMaxSpins = 1'000'000;

// Opcodes (IHI0069H 5.3, Table 5-5).
enum : u64 {
    kMovi = 0x01,
    kInt = 0x03,
    kClear = 0x04,
    kSync = 0x05,
    kMapd = 0x08,
    kMapc = 0x09,
    kMapti = 0x0a,
    kMapi = 0x0b,
    kInv = 0x0c,
    kInvall = 0x0d,
    kMovall = 0x0e,
    kDiscard = 0x0f,
};

// DW0: DeviceID [63:32] | opcode; DW1: EventID [31:0] (and pINTID [63:32] for MAPTI).
Cmd dev_event(u64 op, u32 dev, u32 event, u64 dw1_hi = 0, u64 dw2 = 0) {
    return {{op | u64{dev} << 32, event | dw1_hi << 32, dw2, 0}};
}

}  // namespace

Cmd mapd(u32 dev, u64 itt, u32 event_bits, bool valid) {
    // DW1 Size [4:0] = event bits - 1; DW2 V [63] | ITT_addr [51:8].
    return {{kMapd | u64{dev} << 32, event_bits > 0 ? event_bits - 1 : 0,
             (itt & 0x000f'ffff'ffff'ff00ull) | u64{valid} << 63, 0}};
}
Cmd mapc(u32 icid, u64 rdbase, bool valid) {
    // DW2 V [63] | RDbase [51:16] | ICID [15:0].
    return {{kMapc, 0, (icid & 0xffff) | (rdbase & 0xf'ffff'ffff) << 16 | u64{valid} << 63, 0}};
}
Cmd mapti(u32 dev, u32 event, u32 lpi, u32 icid) { return dev_event(kMapti, dev, event, lpi, icid & 0xffff); }
Cmd mapi(u32 dev, u32 event, u32 icid) { return dev_event(kMapi, dev, event, 0, icid & 0xffff); }
Cmd movi(u32 dev, u32 event, u32 icid) { return dev_event(kMovi, dev, event, 0, icid & 0xffff); }
Cmd discard(u32 dev, u32 event) { return dev_event(kDiscard, dev, event); }
Cmd inv(u32 dev, u32 event) { return dev_event(kInv, dev, event); }
Cmd int_(u32 dev, u32 event) { return dev_event(kInt, dev, event); }
Cmd clear(u32 dev, u32 event) { return dev_event(kClear, dev, event); }
Cmd invall(u32 icid) { return {{kInvall, 0, icid & 0xffff, 0}}; }
Cmd sync(u64 rdbase) { return {{kSync, 0, (rdbase & 0xf'ffff'ffff) << 16, 0}}; }
Cmd movall(u64 rdbase1, u64 rdbase2) {
    return {{kMovall, 0, (rdbase1 & 0xf'ffff'ffff) << 16, (rdbase2 & 0xf'ffff'ffff) << 16}};
}

u32 dt_find_all(u64* bases, u64* sizes, u32 cap) {
    const fdt::Reader& f = dt();
    u32 n = 0;
    for (i32 node = f.find_compatible("arm,gic-v3-its"); node >= 0 && n < cap;
         node = f.find_compatible("arm,gic-v3-its", node)) {
        u64 base = 0, size = 0;
        if (f.read_reg(node, 0, base, size) != Status::ok) continue;
        bases[n] = base;
        if (sizes != nullptr) sizes[n] = size;
        ++n;
    }
    return n;
}

void enable_lpis(u64 rd_base, const void* prop_table, u32 id_bits, const void* pending_table) {
    // GICR_PROPBASER (0x70): IDbits [4:0] = bits - 1; GICR_PENDBASER (0x78); GICR_CTLR.EnableLPIs (bit 0).
    mmio_write64(rd_base + 0x70, reinterpret_cast<u64>(prop_table) | ((id_bits - 1) & 0x1f));
    mmio_write64(rd_base + 0x78, reinterpret_cast<u64>(pending_table));
    mmio_write32(rd_base + 0x0, mmio_read32(rd_base) | 1);
    dsb_sy();
}

void set_lpi_config(u8* prop_table, u32 lpi, bool enable, u8 priority) {
    // IHI0069H 5.1.1: Priority [7:2], bit 1 RES1, Enable bit 0.
    prop_table[lpi - kFirstLpi] = static_cast<u8>((priority & 0xfc) | 2 | (enable ? 1 : 0));
    dsb_sy();
}

u64 baser_page_bytes(u64 baser) {
    const u64 code = (baser >> kBaserPageSizeShift) & 3;
    return code == 0 ? 4096 : code == 1 ? 16384 : 65536;
}

bool program_baser(u64 its_base, u32 n, const void* table, u64 bytes, bool indirect) {
    // GITS_BASER<n>: Valid | Indirect | Physical_Address | Page_Size | Size = pages - 1; Type/Entry_Size are RO.
    // Page_Size may be read-only (64 KiB on KVM and this hypervisor): try 64 KiB, then 16 KiB, then 4 KiB, and keep
    // the first one the ITS reads back (as Linux's driver does, IHI0069H 12.19.1).
    const u64 addr = reinterpret_cast<u64>(table);
    const u64 reg = its_base + kBaser0 + 8 * n;
    for (u64 code = 2;; --code) {
        const u64 page = code == 0 ? 4096 : code == 1 ? 16384 : 65536;
        if (addr % page == 0 && bytes % page == 0 && bytes / page <= 256) {
            mmio_write64(reg, kBaserValid | (indirect ? kBaserIndirect : 0) | addr | (code << kBaserPageSizeShift) |
                                  (bytes / page - 1));
            const u64 got = mmio_read64(reg);
            if (baser_page_bytes(got) == page)
                return (got & kBaserValid) != 0 && (got & 0xffff'ffff'f000ull & ~(page - 1)) == addr &&
                       (got & 0xff) == bytes / page - 1;
        }
        if (code == 0) return false;
    }
}

bool Its::init(u64 base, const Memory& mem) {
    base_ = base;
    queue_ = mem.queue;
    queue_bytes_ = mem.queue_bytes;
    cwriter_ = 0;
    const u32 arch_rev = (mmio_read32(base + kPidr2) >> 4) & 0xf;
    if (arch_rev != 3 && arch_rev != 4) return false;
    set_enabled(false);
    // GITS_CBASER: Valid | Physical_Address [51:12] | Size [7:0] = 4 KiB pages - 1 (IHI0069H 12.19.2).
    mmio_write64(base + kCbaser,
                 kCbaserValid | reinterpret_cast<u64>(mem.queue) | ((mem.queue_bytes / 4096 - 1) & 0xff));
    if (!program_baser(base, 0, mem.devices, mem.devices_bytes, false)) return false;
    if (!program_baser(base, 1, mem.collections, mem.collections_bytes, false)) return false;
    set_enabled(true);
    cwriter_ = mmio_read64(base + kCwriter) & kQueueOffsetMask;  // 0 after a CBASER write
    return (ctlr() & 1) != 0;
}

u64 Its::typer() const { return mmio_read64(base_ + kTyper); }
u32 Its::ctlr() const { return mmio_read32(base_ + kCtlr); }
void Its::set_enabled(bool on) { mmio_write32(base_ + kCtlr, on ? 1 : 0); }
u64 Its::creadr() const { return mmio_read64(base_ + kCreadr); }

bool Its::put(const Cmd& c, bool kick_now) {
    const u64 next = (cwriter_ + sizeof(Cmd)) % queue_bytes_;
    for (u32 spin = 0; (creadr() & kQueueOffsetMask) == next; ++spin)
        if (spin > kMaxSpins) return false;  // full and not draining (stalled or disabled)
    volatile u64* slot = reinterpret_cast<volatile u64*>(queue_ + cwriter_);
    for (u32 i = 0; i < 4; ++i) slot[i] = c.dw[i];
    cwriter_ = next;
    dsb_sy();
    if (kick_now) kick();
    return true;
}

void Its::kick() { mmio_write64(base_ + kCwriter, cwriter_); }

bool Its::drained() const {
    for (u32 spin = 0; spin < kMaxSpins; ++spin)
        if ((creadr() & kQueueOffsetMask) == cwriter_) return true;
    return false;
}

u64 Its::rdbase(u64 rd_base) const {
    if ((typer() >> 19) & 1) return rd_base >> 16;      // PTA = 1: physical address, 64 KiB units
    return (mmio_read64(rd_base + 0x8) >> 8) & 0xffff;  // GICR_TYPER.Processor_Number [23:8]
}

void Its::signal(u32 event) const { mmio_write32(base_ + kTranslater, event); }

}  // namespace rt::its
