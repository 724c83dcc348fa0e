// The hypervisor's EL2 identity map and the page-table pool shared with stage 2.
#pragma once

#include "core/platform.hpp"
#include "core/stage2.hpp"

namespace hv::arch {

// Pool of 4 KiB pages for translation tables (BSS of the image, identity mapped), plus the spare range
// extend_table_pool() added.
PageAllocator& table_pool();
// Adds [base, end) (RAM the hypervisor owns, mapped read-write at EL2, nothing else in it) to the pool: the part of
// the hypervisor region after the image (docs/boot.md "Memory layout"). Once.
void extend_table_pool(u64 base, u64 end);
// Pages the pool can still hand out.
usize table_pool_free_pages();

// Physical-address bits of this CPU (ID_AA64MMFR0_EL1.PARange) and the raw field.
u64 parange_field();
unsigned pa_bits();

// Builds the EL2 identity map from the DTB's memory regions and maps everything else below 2^min(PA bits, 40) as
// Device-nGnRE, execute-never. W^X (docs/boot.md "EL2 hardening"): the image's text is read-only + executable, its
// rodata read-only + XN, everything else in RAM read-write + XN, the guard below every pCPU stack unmapped; then
// SCTLR_EL2.WXN on top. Then enables the MMU on this pCPU.
[[nodiscard]] Status mmu_init(const FixedVector<MemRegion, PlatformInfo::kMaxMemRegions>& ram);
// The EL2 stage-1 table mmu_init built (for the hardening self-check's walk).
const PageTable& el2_table();
// Secondary pCPUs: turn on the MMU with the tables mmu_init built.
void mmu_enable_secondary();

// The EL2 page-table pool and identity map, held by the anchor (anchor.hpp); only mmu.cpp touches them.
constexpr usize kPoolPages = 256;  // 1 MiB: EL2 map (~10 pages) + stage 2 of one VM with some 4 KiB edges
// Bump allocation from up to two ranges: the BSS storage, then the spare range.
class BumpPool final : public PageAllocator {
public:
    struct Range {
        u64 base = 0;  // 4 KiB aligned
        usize pages = 0;
        usize next = 0;
    };
    u64 alloc_pages(usize pages) override;
    u64* table_ptr(u64 pa) override { return reinterpret_cast<u64*>(pa); }
    void set_range(usize i, u64 base, usize pages) { ranges_[i] = Range{base, pages, 0}; }
    usize free_pages() const;

private:
    Range ranges_[2];
};
struct MmuState {
    alignas(65536) u8 pool_storage[kPoolPages * 4096];  // zero (.bss)
    BumpPool pool;
    PageTable el2;
    u64 tcr = 0;
};

}  // namespace hv::arch
