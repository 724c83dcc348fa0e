// The hypervisor's EL2 identity map and the page-table pool shared with stage 2.
#pragma once

#include "core/platform.hpp"
#include "core/stage2.hpp"

namespace hv::arch {

// Pool of 4 KiB pages for translation tables (BSS of the image, identity mapped).
PageAllocator& table_pool();

// Physical-address bits of this CPU (ID_AA64MMFR0_EL1.PARange) and the raw field.
u64 parange_field();
unsigned pa_bits();

// Builds the EL2 identity map from the DTB's memory regions (normal WB, executable) and maps everything else below
// 2^min(PA bits, 40) as Device-nGnRE, execute-never. Then enables the MMU on this pCPU.
[[nodiscard]] Status mmu_init(const FixedVector<MemRegion, PlatformInfo::kMaxMemRegions>& ram);
// Secondary pCPUs: turn on the MMU with the tables mmu_init built.
void mmu_enable_secondary();

}  // namespace hv::arch
