// The hypervisor console's escape (docs/snapshot.md "Console escape"): Ctrl-] (0x1d) followed by a command letter,
// recognised in the host UART's input before any byte reaches the guest's emulated UART. `Ctrl-] Ctrl-]` sends one
// 0x1d to the guest; an unknown letter is dropped (and reported as EscapeCommand::unknown).
#pragma once

#include "lib/types.hpp"

namespace hv {

enum class EscapeCommand : u8 { none, migrate, save, info, help, unknown };

class ConsoleEscape {
public:
    static constexpr u8 kEscape = 0x1d;  // Ctrl-]

    // One byte of host input: the byte the guest gets, or -1 if the escape consumed it. `cmd` is set to the
    // command a letter completed (none otherwise).
    int feed(u8 c, EscapeCommand& cmd) {
        cmd = EscapeCommand::none;
        if (!armed_) {
            if (c != kEscape) return c;
            armed_ = true;
            return -1;
        }
        armed_ = false;
        switch (c) {
            case kEscape:
                return kEscape;
            case 'm':
                cmd = EscapeCommand::migrate;
                break;
            case 's':
                cmd = EscapeCommand::save;
                break;
            case 'i':
                cmd = EscapeCommand::info;
                break;
            case 'h':
            case '?':
                cmd = EscapeCommand::help;
                break;
            default:
                cmd = EscapeCommand::unknown;
                break;
        }
        return -1;
    }
    bool armed() const { return armed_; }

private:
    bool armed_ = false;
};

}  // namespace hv
