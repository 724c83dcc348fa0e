#include "arch/aarch64/mmu.hpp"

#include "arch/aarch64/sysreg.hpp"
#include "lib/string.hpp"

namespace hv::arch {

namespace {

constexpr usize kPoolPages = 256;  // 1 MiB: EL2 map (~10 pages) + stage 2 of one VM with some 4 KiB edges

alignas(65536) u8 g_pool_storage[kPoolPages * 4096];

class BumpPool final : public PageAllocator {
public:
    u64 alloc_pages(usize pages) override {
        if (pages == 0 || pages > 16 || !is_pow2(pages)) return 0;
        usize start = align_up(next_, pages);
        if (start + pages > kPoolPages) return 0;
        next_ = start + pages;
        u8* p = g_pool_storage + start * 4096;
        memset(p, 0, pages * 4096);
        return reinterpret_cast<u64>(p);
    }
    u64* table_ptr(u64 pa) override { return reinterpret_cast<u64*>(pa); }

private:
    usize next_ = 0;
};

BumpPool g_pool;
PageTable g_el2;
u64 g_tcr = 0;

constexpr u64 kSctlrRes1 = 0x30c50830;
constexpr u64 kSctlrM = 1u << 0, kSctlrC = 1u << 2, kSctlrSa = 1u << 3, kSctlrI = 1u << 12;

void enable(u64 ttbr, u64 tcr) {
    HV_WRITE_SYSREG(mair_el2, pte::kMairValue);
    HV_WRITE_SYSREG(tcr_el2, tcr);
    HV_WRITE_SYSREG(ttbr0_el2, ttbr);
    dsb_sy();
    asm volatile("tlbi alle2" ::: "memory");
    dsb_sy();
    isb();
    HV_WRITE_SYSREG(sctlr_el2, kSctlrRes1 | kSctlrM | kSctlrC | kSctlrSa | kSctlrI);
    isb();
}

}  // namespace

PageAllocator& table_pool() { return g_pool; }

u64 parange_field() { return HV_READ_SYSREG(id_aa64mmfr0_el1) & 0xf; }
unsigned pa_bits() { return parange_bits(parange_field()); }

Status mmu_init(const FixedVector<MemRegion, PlatformInfo::kMaxMemRegions>& ram) {
    unsigned bits = min(pa_bits(), 48u);
    HV_TRY(g_el2.init(g_pool, Regime::el2_stage1, bits));
    u64 limit = u64{1} << min(bits, 40u);
    u64 cursor = 0;
    // `ram` is sorted by base (platform parser); the gaps between regions are device memory.
    for (const MemRegion& r : ram) {
        u64 base = align_down(r.base, PageTable::kPageSize);
        u64 end = align_up(r.end(), PageTable::kPageSize);
        if (base < cursor || end > limit) return Status::invalid_argument;
        if (base > cursor) HV_TRY(g_el2.map(cursor, cursor, base - cursor, {MemType::device, true, false}));
        HV_TRY(g_el2.map(base, base, end - base, {MemType::normal, true, true}));
        cursor = end;
    }
    if (cursor < limit) HV_TRY(g_el2.map(cursor, cursor, limit - cursor, {MemType::device, true, false}));

    u64 ps = min<u64>(parange_field(), 5);
    // TCR_EL2 (non-VHE): T0SZ, IRGN0/ORGN0 WBWA, SH0 inner, TG0 4K, PS, RES1 bits 31 and 23.
    g_tcr = (64 - bits) | (1u << 8) | (1u << 10) | (3u << 12) | (ps << 16) | (1u << 23) | (1u << 31);
    enable(g_el2.root_pa(), g_tcr);
    return Status::ok;
}

void mmu_enable_secondary() { enable(g_el2.root_pa(), g_tcr); }

}  // namespace hv::arch
