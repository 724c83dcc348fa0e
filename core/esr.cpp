#include "core/esr.hpp"

namespace hv::esr {

const char* ec_name(u64 esr) {
    switch (Ec::get(esr)) {
        case 0x00:
            return "unknown";
        case 0x01:
            return "WFx";
        case 0x07:
            return "FP/SIMD access";
        case 0x0e:
            return "illegal execution state";
        case 0x15:
            return "SVC64";
        case 0x16:
            return "HVC64";
        case 0x17:
            return "SMC64";
        case 0x18:
            return "MSR/MRS";
        case 0x19:
            return "SVE access";
        case 0x1d:
            return "SME access";
        case 0x20:
            return "instruction abort (lower EL)";
        case 0x21:
            return "instruction abort (same EL)";
        case 0x22:
            return "PC alignment";
        case 0x24:
            return "data abort (lower EL)";
        case 0x25:
            return "data abort (same EL)";
        case 0x26:
            return "SP alignment";
        case 0x2c:
            return "FP exception";
        case 0x2f:
            return "SError";
        case 0x30:
            return "breakpoint (lower EL)";
        case 0x31:
            return "breakpoint (same EL)";
        case 0x32:
            return "software step (lower EL)";
        case 0x33:
            return "software step (same EL)";
        case 0x34:
            return "watchpoint (lower EL)";
        case 0x35:
            return "watchpoint (same EL)";
        case 0x3c:
            return "BRK";
        default:
            return "reserved";
    }
}

}  // namespace hv::esr
