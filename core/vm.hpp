// Guest RAM carving and VM reset reasons (the VM object itself is vm/vm.hpp, a layer above the models).
#pragma once

#include "core/guest_memory.hpp"
#include "core/platform.hpp"

namespace hv {

// Why the VM is (re)starting: the guest sees it in /chosen "hv,reset-reason" (docs/boot.md "VM reset").
enum class ResetReason : u8 { cold, system_reset, system_reset2 };
const char* reset_reason_name(ResetReason r);  // "cold", "system-reset", "system-reset2"

// Guest RAM regions of a VM at most (identity-mapped ranges of host RAM).
constexpr usize kMaxRamRegions = 8;

// Guest RAM = host RAM minus [hv_base, hv_base + hv_size), optionally capped at `limit` bytes (0: no cap).
// Regions are clipped to 2 MiB boundaries so stage 2 can use blocks. Returns Status::no_memory if nothing is left.
[[nodiscard]] Status carve_guest_ram(const FixedVector<MemRegion, PlatformInfo::kMaxMemRegions>& host_ram, u64 hv_base,
                                     u64 hv_size, u64 limit, FixedVector<MemRegion, kMaxRamRegions>& out);

// Takes `size` bytes (rounded up to 2 MiB) off the top of the highest region of `ram` that can give them while
// keeping at least 2 MiB, for hypervisor-owned memory outside the guest (the reset store, docs/boot.md). `base`
// receives the start of the removed range. no_memory if no region is large enough; invalid_argument for size 0.
[[nodiscard]] Status reserve_top_of_ram(FixedVector<MemRegion, kMaxRamRegions>& ram, u64 size, u64& base);

// Keeps the lowest `limit` bytes of `ram` (regions in ascending order; `limit` rounded down to 2 MiB), dropping
// what lies above. Returns the bytes kept: less than `limit` when `ram` had less. The `mem=` option: applied after
// the module store was taken off the top, so the guest gets exactly `mem=` whenever the RAM has room for it.
u64 limit_guest_ram(FixedVector<MemRegion, kMaxRamRegions>& ram, u64 limit);

}  // namespace hv
