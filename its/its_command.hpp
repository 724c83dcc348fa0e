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
static_assert(Command::mapd(5, 0x12345600, 3, true).itt_addr() == 0x12345600);
static_assert(Command::mapti(1, 2, 8192, 7).pintid() == 8192);
static_assert(Command::movall(3, 4).rdbase2() == 4);

constexpr u64 kCommandSize = sizeof(Command);

}  // namespace hv::its
