#include "arch/aarch64/mmu.hpp"

#include "arch/aarch64/anchor.hpp"
#include "arch/aarch64/asm_defs.h"
#include "arch/aarch64/sysreg.hpp"
#include "lib/string.hpp"

// Section boundaries (linker/hypervisor.ld, page aligned) and the stacks (boot/entry.S).
extern "C" char _text[], __text_end[], __rodata_start[], __rodata_end[], __data_start[], _end[];
extern "C" char hv_stacks[];

namespace hv::arch {

namespace {

MmuState& st() { return hyp().mmu; }

constexpr u64 kSctlrRes1 = 0x30c50830;
constexpr u64 kSctlrM = 1u << 0, kSctlrC = 1u << 2, kSctlrSa = 1u << 3, kSctlrI = 1u << 12;
constexpr u64 kSctlrWxn = 1u << 19;  // DDI0487 D19.2 SCTLR_EL2.WXN: every writable page is also execute-never

u64 addr(const char* p) { return reinterpret_cast<u64>(p); }

constexpr MapAttrs kRw{MemType::normal, true, false};   // data, BSS, stacks, tables, all other RAM: RW, XN
constexpr MapAttrs kRx{MemType::normal, false, true};   // text: read-only, executable
constexpr MapAttrs kRo{MemType::normal, false, false};  // rodata: read-only, XN
constexpr MapAttrs kDev{MemType::device, true, false};  // everything that is not RAM

// [base, end) read-write execute-never, leaving out the stack guards (the lower half of every stack slot).
Status map_data(u64 base, u64 end) {
    const u64 stacks = addr(hv_stacks);
    u64 cursor = base;
    for (u64 cpu = 0; cpu < HV_MAX_CPUS; ++cpu) {
        const u64 guard = stacks + cpu * HV_STACK_SLOT, guard_end = guard + HV_STACK_SLOT - HV_STACK_SIZE;
        if (guard_end <= cursor || guard >= end) continue;
        if (guard > cursor) HV_TRY(st().el2.map(cursor, cursor, guard - cursor, kRw));
        cursor = guard_end;
    }
    if (end > cursor) HV_TRY(st().el2.map(cursor, cursor, end - cursor, kRw));
    return Status::ok;
}

void enable(u64 ttbr, u64 tcr) {
    HV_WRITE_SYSREG(mair_el2, pte::kMairValue);
    HV_WRITE_SYSREG(tcr_el2, tcr);
    HV_WRITE_SYSREG(ttbr0_el2, ttbr);
    dsb_sy();
    asm volatile("tlbi alle2" ::: "memory");
    dsb_sy();
    isb();
    HV_WRITE_SYSREG(sctlr_el2, kSctlrRes1 | kSctlrM | kSctlrC | kSctlrSa | kSctlrI | kSctlrWxn);
    isb();
}

}  // namespace

u64 BumpPool::alloc_pages(usize pages) {
    if (pages == 0 || pages > 16 || !is_pow2(pages)) return 0;
    for (Range& r : ranges_) {
        // Naturally aligned in physical memory (concatenated stage-2 roots need it: DDI0487 D8.2.7).
        const usize skip = (align_up(r.base + r.next * 4096, pages * 4096) - r.base) / 4096 - r.next;
        if (r.next + skip + pages > r.pages) continue;
        u8* p = reinterpret_cast<u8*>(r.base + (r.next + skip) * 4096);
        r.next += skip + pages;
        memset(p, 0, pages * 4096);
        return reinterpret_cast<u64>(p);
    }
    return 0;
}

usize BumpPool::free_pages() const {
    usize n = 0;
    for (const Range& r : ranges_) n += r.pages - r.next;
    return n;
}

PageAllocator& table_pool() { return st().pool; }

void extend_table_pool(u64 base, u64 end) {
    base = align_up(base, 4096);
    if (end > base) st().pool.set_range(1, base, (end - base) / 4096);
}

usize table_pool_free_pages() { return st().pool.free_pages(); }
const PageTable& el2_table() { return st().el2; }

u64 parange_field() { return HV_READ_SYSREG(id_aa64mmfr0_el1) & 0xf; }
unsigned pa_bits() { return parange_bits(parange_field()); }

Status mmu_init(const FixedVector<MemRegion, PlatformInfo::kMaxMemRegions>& ram) {
    unsigned bits = min(pa_bits(), 48u);
    st().pool.set_range(0, reinterpret_cast<u64>(st().pool_storage), kPoolPages);
    HV_TRY(st().el2.init(st().pool, Regime::el2_stage1, bits));
    u64 limit = u64{1} << min(bits, 40u);
    u64 cursor = 0;
    // `ram` is sorted by base (platform parser); the gaps between regions are device memory. W^X (docs/boot.md
    // "EL2 hardening"): only the image's text is executable, and it is read-only; RAM is otherwise RW + XN.
    const u64 text = addr(_text), text_end = addr(__text_end), ro = addr(__rodata_start), ro_end = addr(__rodata_end);
    const u64 data = addr(__data_start), image_end = align_up(addr(_end), PageTable::kPageSize);
    bool image_mapped = false;
    for (const MemRegion& r : ram) {
        u64 base = align_down(r.base, PageTable::kPageSize);
        u64 end = align_up(r.end(), PageTable::kPageSize);
        if (base < cursor || end > limit) return Status::invalid_argument;
        if (base > cursor) HV_TRY(st().el2.map(cursor, cursor, base - cursor, kDev));
        if (text >= base && image_end <= end) {
            if (text > base) HV_TRY(st().el2.map(base, base, text - base, kRw));
            HV_TRY(st().el2.map(text, text, text_end - text, kRx));
            HV_TRY(st().el2.map(ro, ro, ro_end - ro, kRo));
            HV_TRY(map_data(data, image_end));
            if (end > image_end) HV_TRY(st().el2.map(image_end, image_end, end - image_end, kRw));
            image_mapped = true;
        } else {
            HV_TRY(st().el2.map(base, base, end - base, kRw));
        }
        cursor = end;
    }
    if (!image_mapped) return Status::invalid_argument;  // the image is not inside one RAM region
    if (cursor < limit) HV_TRY(st().el2.map(cursor, cursor, limit - cursor, kDev));

    u64 ps = min<u64>(parange_field(), 5);
    // TCR_EL2 (non-VHE): T0SZ, IRGN0/ORGN0 WBWA, SH0 inner, TG0 4K, PS, RES1 bits 31 and 23.
    st().tcr = (64 - bits) | (1u << 8) | (1u << 10) | (3u << 12) | (ps << 16) | (1u << 23) | (1u << 31);
    enable(st().el2.root_pa(), st().tcr);
    return Status::ok;
}

void mmu_enable_secondary() { enable(st().el2.root_pa(), st().tcr); }

}  // namespace hv::arch
