// The guest DTB as the payloads see it: the hypervisor's own bounds-checked reader (core/fdt/reader.hpp, linked
// into every payload) plus the few lookups several payloads need. The MMU is off in the guest, so the blob is
// Device memory: the reader only makes byte loads and naturally aligned 32/64-bit ones (-mstrict-align).
#pragma once

#include "core/fdt/reader.hpp"
#include "lib/types.hpp"

namespace rt {

using namespace hv;

// Opens the blob at `addr` as the guest DTB (the runtime does this at start). False if it is not a valid FDT.
bool dt_open(u64 addr);
const fdt::Reader& dt();  // the guest DTB (dt().valid() is false if none was found)
u64 dtb_address();        // 0 if none was found

struct MemRange {
    u64 base = 0;
    u64 size = 0;
};

// Every reg range of every `device_type = "memory"` node below the root, in DT order; returns how many (<= cap).
u32 dt_memory_ranges(MemRange* out, u32 cap);
// End of the highest /memory range: the first address above guest RAM (0 without a DT).
u64 dt_ram_end();
// reg entry `index` of the first node compatible with `compat` (parent's #address-cells/#size-cells).
bool dt_compatible_reg(const char* compat, u32 index, u64& base, u64& size);

}  // namespace rt
