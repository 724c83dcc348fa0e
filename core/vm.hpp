// A VM as plain data: its vCPUs, guest RAM, stage-2 tables and MMIO bus. arch/aarch64 runs it.
#pragma once

#include "core/guest_memory.hpp"
#include "core/mmio.hpp"
#include "core/platform.hpp"
#include "core/stage2.hpp"
#include "core/vcpu.hpp"

namespace hv {

// Why the VM is (re)starting: the guest sees it in /chosen "hv,reset-reason" (docs/boot.md "VM reset").
enum class ResetReason : u8 { cold, system_reset, system_reset2 };
const char* reset_reason_name(ResetReason r);  // "cold", "system-reset", "system-reset2"

struct Vm {
    static constexpr u32 kMaxVcpus = PlatformInfo::kMaxCpus;
    static constexpr usize kMaxRam = 8;

    u16 vmid = 1;
    u32 vcpu_count = 0;
    Vcpu vcpus[kMaxVcpus];
    FixedVector<MemRegion, kMaxRam> ram;  // guest RAM (identity mapped: IPA == PA)
    RegionGuestMemory memory;
    MmioBus mmio;
    PageTable stage2;
    // Boots of this VM since the hypervisor started (1 = cold boot) and why the current one happened.
    u32 boot_count = 1;
    ResetReason reset_reason = ResetReason::cold;

    Vcpu* vcpu(u32 i) { return i < vcpu_count ? &vcpus[i] : nullptr; }
    // The vCPU whose MPIDR affinity (Aff3..Aff0) equals `mpidr`, or nullptr.
    Vcpu* vcpu_by_mpidr(u64 mpidr) {
        for (u32 i = 0; i < vcpu_count; ++i)
            if ((vcpus[i].mpidr & 0xff00ffffffull) == (mpidr & 0xff00ffffffull)) return &vcpus[i];
        return nullptr;
    }
};

// Guest RAM = host RAM minus [hv_base, hv_base + hv_size), optionally capped at `limit` bytes (0: no cap).
// Regions are clipped to 2 MiB boundaries so stage 2 can use blocks. Returns Status::no_memory if nothing is left.
[[nodiscard]] Status carve_guest_ram(const FixedVector<MemRegion, PlatformInfo::kMaxMemRegions>& host_ram, u64 hv_base,
                                     u64 hv_size, u64 limit, FixedVector<MemRegion, Vm::kMaxRam>& out);

// Takes `size` bytes (rounded up to 2 MiB) off the top of the highest region of `ram` that can give them while
// keeping at least 2 MiB, for hypervisor-owned memory outside the guest (the reset store, docs/boot.md). `base`
// receives the start of the removed range. no_memory if no region is large enough; invalid_argument for size 0.
[[nodiscard]] Status reserve_top_of_ram(FixedVector<MemRegion, Vm::kMaxRam>& ram, u64 size, u64& base);

// Keeps the lowest `limit` bytes of `ram` (regions in ascending order; `limit` rounded down to 2 MiB), dropping
// what lies above. Returns the bytes kept: less than `limit` when `ram` had less. The `mem=` option: applied after
// the module store was taken off the top, so the guest gets exactly `mem=` whenever the RAM has room for it.
u64 limit_guest_ram(FixedVector<MemRegion, Vm::kMaxRam>& ram, u64 limit);

}  // namespace hv
