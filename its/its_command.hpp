// The 32-byte ITS command as a typed, layout-checked view (IHI0069H 5.3 "ITS commands").
#pragma once

#include "lib/bits.hpp"

namespace hv::its {

// GICv3 physical-LPI commands (IHI0069H Table 5-7). GICv4 commands (VMAPP, VMAPTI, ...) are not implemented
// and decode as unknown opcodes.
enum class Opcode : u8 {
    MOVI = 0x01,
    INT = 0x03,
    CLEAR = 0x04,
    SYNC = 0x05,
    MAPD = 0x08,
    MAPC = 0x09,
    MAPTI = 0x0a,
    MAPI = 0x0b,
    INV = 0x0c,
    INVALL = 0x0d,
    MOVALL = 0x0e,
    DISCARD = 0x0f,
};

constexpr const char* opcode_name(Opcode op) {
    switch (op) {
        case Opcode::MOVI:
            return "MOVI";
        case Opcode::INT:
            return "INT";
        case Opcode::CLEAR:
            return "CLEAR";
        case Opcode::SYNC:
            return "SYNC";
        case Opcode::MAPD:
            return "MAPD";
        case Opcode::MAPC:
            return "MAPC";
        case Opcode::MAPTI:
            return "MAPTI";
        case Opcode::MAPI:
            return "MAPI";
        case Opcode::INV:
            return "INV";
        case Opcode::INVALL:
            return "INVALL";
        case Opcode::MOVALL:
            return "MOVALL";
        case Opcode::DISCARD:
            return "DISCARD";
    }
    return "?";
}

constexpr bool is_known_opcode(u8 raw) {
    switch (raw) {
        case 0x01:
        case 0x03:
        case 0x04:
        case 0x05:
        case 0x08:
        case 0x09:
        case 0x0a:
        case 0x0b:
        case 0x0c:
        case 0x0d:
        case 0x0e:
        case 0x0f:
            return true;
        default:
            return false;
    }
}

// Four little-endian doublewords. Field positions from IHI0069H 5.3.1-5.3.22.
struct Command {
    u64 dw[4] = {};

    using OpcodeF = Field<7, 0>;      // DW0
    using DeviceIdF = Field<63, 32>;  // DW0
    using EventIdF = Field<31, 0>;    // DW1
    using PIntIdF = Field<63, 32>;    // DW1 (MAPTI)
    using SizeF = Field<4, 0>;        // DW1 (MAPD): EventID bits minus one
    using IttAddrF = Field<51, 8>;    // DW2 (MAPD): ITT address bits [51:8]
    using IcidF = Field<15, 0>;       // DW2
    using RdBaseF = Field<50, 16>;    // DW2 (MAPC, SYNC, MOVALL RDbase1), DW3 (MOVALL RDbase2)
    using ValidF = Bit<63>;           // DW2 (MAPD, MAPC)

    constexpr u8 raw_opcode() const { return static_cast<u8>(OpcodeF::get(dw[0])); }
    constexpr Opcode opcode() const { return static_cast<Opcode>(raw_opcode()); }
    constexpr u32 device_id() const { return static_cast<u32>(DeviceIdF::get(dw[0])); }
    constexpr u32 event_id() const { return static_cast<u32>(EventIdF::get(dw[1])); }
    constexpr u32 pintid() const { return static_cast<u32>(PIntIdF::get(dw[1])); }
    constexpr u32 size() const { return static_cast<u32>(SizeF::get(dw[1])); }
    constexpr u64 itt_addr() const { return IttAddrF::get(dw[2]) << 8; }
    constexpr u32 icid() const { return static_cast<u32>(IcidF::get(dw[2])); }
    constexpr u64 rdbase() const { return RdBaseF::get(dw[2]); }
    constexpr u64 rdbase2() const { return RdBaseF::get(dw[3]); }
    constexpr bool valid() const { return ValidF::get(dw[2]) != 0; }

    // Builders (tests, and the hypervisor's own physical-ITS driver may reuse them).
    static constexpr Command make(Opcode op, u32 device_id = 0) {
        Command c;
        c.dw[0] = OpcodeF::make(static_cast<u8>(op)) | DeviceIdF::make(device_id);
        return c;
    }
    static constexpr Command mapd(u32 dev, u64 itt, u32 size_minus_one, bool v) {
        Command c = make(Opcode::MAPD, dev);
        c.dw[1] = SizeF::make(size_minus_one);
        c.dw[2] = IttAddrF::make(itt >> 8) | ValidF::make(v);
        return c;
    }
    static constexpr Command mapc(u32 icid, u64 rd, bool v) {
        Command c = make(Opcode::MAPC);
        c.dw[2] = IcidF::make(icid) | RdBaseF::make(rd) | ValidF::make(v);
        return c;
    }
    static constexpr Command mapti(u32 dev, u32 ev, u32 intid, u32 icid) {
        Command c = make(Opcode::MAPTI, dev);
        c.dw[1] = EventIdF::make(ev) | PIntIdF::make(intid);
        c.dw[2] = IcidF::make(icid);
        return c;
    }
    static constexpr Command mapi(u32 dev, u32 ev, u32 icid) {
        Command c = make(Opcode::MAPI, dev);
        c.dw[1] = EventIdF::make(ev);
        c.dw[2] = IcidF::make(icid);
        return c;
    }
    static constexpr Command movi(u32 dev, u32 ev, u32 icid) {
        Command c = make(Opcode::MOVI, dev);
        c.dw[1] = EventIdF::make(ev);
        c.dw[2] = IcidF::make(icid);
        return c;
    }
    static constexpr Command event_cmd(Opcode op, u32 dev, u32 ev) {  // INT, CLEAR, INV, DISCARD
        Command c = make(op, dev);
        c.dw[1] = EventIdF::make(ev);
        return c;
    }
    static constexpr Command invall(u32 icid) {
        Command c = make(Opcode::INVALL);
        c.dw[2] = IcidF::make(icid);
        return c;
    }
    static constexpr Command sync(u64 rd) {
        Command c = make(Opcode::SYNC);
        c.dw[2] = RdBaseF::make(rd);
        return c;
    }
    static constexpr Command movall(u64 rd1, u64 rd2) {
        Command c = make(Opcode::MOVALL);
        c.dw[2] = RdBaseF::make(rd1);
        c.dw[3] = RdBaseF::make(rd2);
        return c;
    }
};
static_assert(sizeof(Command) == 32, "an ITS command is 32 bytes");

// GICv4.0 virtual-LPI commands (IHI0069H 5.3), issued only by the hypervisor's physical-ITS driver
// (arch/aarch64/host_its) on a GICv4 host; the virtual ITS model does not implement them (they stay unknown
// opcodes there). Layouts (GICv4.0; the GICv4.1-only fields are left zero):
//   VMAPP   DW1 vPEID [47:32]; DW2 V [63], RDbase [51:16]; DW3 VPT_addr [51:16], VPT_size [4:0]
//   VMAPTI  DW0 DeviceID [63:32]; DW1 EventID [31:0], vPEID [47:32]; DW2 vINTID [31:0], Dbell_pINTID [63:32]
//   VMOVI   DW0 DeviceID; DW1 EventID, vPEID [47:32]; DW2 D [0], Dbell_pINTID [63:32]
//   VMOVP   DW1 vPEID [47:32] (ITSList [15:0] and SequenceNumber unused with GITS_TYPER.VMOVP = 1); DW2 RDbase
//   VSYNC, VINVALL  DW1 vPEID [47:32]
namespace v4 {
constexpr u8 kVmovi = 0x21;
constexpr u8 kVmovp = 0x22;
constexpr u8 kVsync = 0x25;
constexpr u8 kVmapp = 0x29;
constexpr u8 kVmapti = 0x2a;
constexpr u8 kVmapi = 0x2b;
constexpr u8 kVinvall = 0x2d;
constexpr u32 kNoDoorbell = 1023;  // Dbell_pINTID 1023: no doorbell

using VpeIdF = Field<47, 32>;     // DW1
using VIntIdF = Field<31, 0>;     // DW2 (VMAPTI)
using DoorbellF = Field<63, 32>;  // DW2 (VMAPTI, VMAPI, VMOVI)
using DoorbellValidF = Bit<0>;    // DW2 (VMOVI: D)
using VptAddrF = Field<51, 16>;   // DW3 (VMAPP)
using VptSizeF = Field<4, 0>;     // DW3 (VMAPP): ID bits minus one
using RdBase4F = Field<51, 16>;   // DW2 (VMAPP, VMOVP)

constexpr Command raw(u8 opcode, u32 dev = 0) {
    Command c;
    c.dw[0] = Command::OpcodeF::make(opcode) | Command::DeviceIdF::make(dev);
    return c;
}
constexpr Command vmapp(u32 vpe, u64 rd, bool v, u64 vpt, u32 id_bits) {
    Command c = raw(kVmapp);
    c.dw[1] = VpeIdF::make(vpe);
    c.dw[2] = Command::ValidF::make(v) | RdBase4F::make(rd);
    c.dw[3] = VptAddrF::make(vpt >> 16) | VptSizeF::make(id_bits - 1);
    return c;
}
constexpr Command vmapti(u32 dev, u32 ev, u32 vpe, u32 vintid, u32 doorbell) {
    Command c = raw(kVmapti, dev);
    c.dw[1] = Command::EventIdF::make(ev) | VpeIdF::make(vpe);
    c.dw[2] = VIntIdF::make(vintid) | DoorbellF::make(doorbell);
    return c;
}
constexpr Command vmapi(u32 dev, u32 ev, u32 vpe, u32 doorbell) {  // vINTID = EventID
    Command c = raw(kVmapi, dev);
    c.dw[1] = Command::EventIdF::make(ev) | VpeIdF::make(vpe);
    c.dw[2] = DoorbellF::make(doorbell);
    return c;
}
constexpr Command vmovi(u32 dev, u32 ev, u32 vpe, u32 doorbell) {
    Command c = raw(kVmovi, dev);
    c.dw[1] = Command::EventIdF::make(ev) | VpeIdF::make(vpe);
    c.dw[2] = DoorbellValidF::make(1) | DoorbellF::make(doorbell);
    return c;
}
constexpr Command vmovp(u32 vpe, u64 rd) {
    Command c = raw(kVmovp);
    c.dw[1] = VpeIdF::make(vpe);
    c.dw[2] = RdBase4F::make(rd);
    return c;
}
constexpr Command vpe_cmd(u8 opcode, u32 vpe) {  // VSYNC, VINVALL
    Command c = raw(opcode);
    c.dw[1] = VpeIdF::make(vpe);
    return c;
}
static_assert(VpeIdF::get(vmapti(1, 2, 3, 8192, 8200).dw[1]) == 3);
static_assert(VptAddrF::get(vmapp(0, 1, true, 0x40010000, 16).dw[3]) == 0x4001);
}  // namespace v4
static_assert(Command::mapd(5, 0x12345600, 3, true).itt_addr() == 0x12345600);
static_assert(Command::mapti(1, 2, 8192, 7).pintid() == 8192);
static_assert(Command::movall(3, 4).rdbase2() == 4);

constexpr u64 kCommandSize = sizeof(Command);

}  // namespace hv::its
