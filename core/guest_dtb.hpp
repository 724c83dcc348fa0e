// Builds the device tree handed to a guest in x0. Content and rationale: docs/device-tree.md.
// Phandles are fixed (kPhandle*), so device models and tests can rely on them; every interrupt specifier in the
// guest tree refers to the guest GIC through the root's interrupt-parent or the GIC phandle explicitly.
#pragma once

#include "core/fdt/reader.hpp"
#include "core/platform.hpp"

namespace hv {

enum class PsciVersion : u8 { v0_1, v0_2, v1_0, v1_1 };

constexpr u32 kPhandleGic = 1;
constexpr u32 kPhandleClock = 2;
constexpr u32 kPhandleItsBase = 0x10;  // ITS i gets kPhandleItsBase + i
constexpr u32 kPhandleCpuBase = 0x20;  // cpu i gets kPhandleCpuBase + i

// PSCI 0.1 function IDs as used by KVM and QEMU (KVM_PSCI_FN_BASE + n); PSCI 0.1 had no standard IDs.
constexpr u32 kPsci01CpuSuspend = 0x95c1ba5e;
constexpr u32 kPsci01CpuOff = 0x95c1ba5f;
constexpr u32 kPsci01CpuOn = 0x95c1ba60;
constexpr u32 kPsci01Migrate = 0x95c1ba61;

struct GuestDtbConfig {
    static constexpr usize kMaxVcpus = PlatformInfo::kMaxCpus;
    static constexpr usize kMaxMemRegions = 8;

    FixedVector<u64, kMaxVcpus> vcpu_mpidrs;        // vCPU i has MPIDR affinity vcpu_mpidrs[i]
    FixedVector<MemRegion, kMaxMemRegions> memory;  // guest RAM (the hypervisor's region excluded)
    PsciVersion psci = PsciVersion::v1_1;
    const char* bootargs = nullptr;        // /chosen/bootargs (nullptr: none)
    u64 initrd_start = 0, initrd_end = 0;  // linux,initrd-start/end if end > start
    bool include_its = true;               // emit the ITS node(s) as msi-controller
    bool include_pcie = true;              // keep the host PCIe node (with msi-map -> our ITS)
    bool include_uart = true;              // the pl011 (emulated) + stdout-path
    // GIC redistributor base for vCPU 0; 0 = the host's first GICR region base. The region emitted is exactly
    // vcpu count x 128 KiB.
    u64 gicr_base = 0;
    // VM reset bookkeeping for the guest (docs/boot.md "VM reset"): /chosen "hv,boot-count" (u32) and
    // "hv,reset-reason" ("cold" | "system-reset" | "system-reset2"). Omitted when boot_count is 0.
    u32 boot_count = 0;
    const char* reset_reason = nullptr;
};

// Writes the guest DTB into out[0, cap) and sets size. Errors: invalid_argument (no vCPUs / no memory / a
// vCPU count above the GIC's capacity), no_memory (cap too small), whatever the host tree yields when copied.
[[nodiscard]] Status build_guest_dtb(const fdt::Reader& host, const PlatformInfo& platform, const GuestDtbConfig& cfg,
                                     u8* out, usize cap, usize& size);

}  // namespace hv
