#include "core/vm.hpp"

namespace hv {

const char* reset_reason_name(ResetReason r) {
    switch (r) {
        case ResetReason::cold:
            return "cold";
        case ResetReason::system_reset:
            return "system-reset";
        case ResetReason::system_reset2:
            return "system-reset2";
    }
    return "cold";
}

Status reserve_top_of_ram(FixedVector<MemRegion, kMaxRamRegions>& ram, u64 size, u64& base) {
    if (size == 0) return Status::invalid_argument;
    const u64 need = align_up(size, 2 * MiB);
    if (need < size) return Status::invalid_argument;  // overflow
    for (usize i = ram.size(); i-- > 0;) {
        MemRegion& r = ram[i];
        if (r.size < need + 2 * MiB) continue;
        r.size -= need;
        base = r.base + r.size;
        return Status::ok;
    }
    return Status::no_memory;
}

u64 limit_guest_ram(FixedVector<MemRegion, kMaxRamRegions>& ram, u64 limit) {
    limit = align_down(limit, 2 * MiB);
    FixedVector<MemRegion, kMaxRamRegions> kept;
    u64 total = 0;
    for (const MemRegion& r : ram) {
        if (total >= limit) break;
        const u64 size = min(r.size, limit - total);
        ignore_status(kept.push_back(MemRegion{r.base, size}));  // never more regions than `ram` has
        total += size;
    }
    ram = kept;
    return total;
}

Status carve_guest_ram(const FixedVector<MemRegion, PlatformInfo::kMaxMemRegions>& host_ram, u64 hv_base, u64 hv_size,
                       u64 limit, FixedVector<MemRegion, kMaxRamRegions>& out) {
    out.clear();
    u64 total = 0;
    u64 hv_end = hv_base + hv_size;
    for (const MemRegion& r : host_ram) {
        // Up to two pieces: below and above the hypervisor region.
        MemRegion pieces[2] = {{r.base, r.size}, {0, 0}};
        if (hv_base < r.end() && r.base < hv_end) {
            pieces[0] = {r.base, hv_base > r.base ? hv_base - r.base : 0};
            pieces[1] = {hv_end, r.end() > hv_end ? r.end() - hv_end : 0};
        }
        for (MemRegion p : pieces) {
            u64 base = align_up(p.base, 2 * MiB);
            u64 end = align_down(p.base + p.size, 2 * MiB);
            if (p.size == 0 || end <= base) continue;
            u64 size = end - base;
            if (limit != 0) {
                if (total >= limit) continue;
                size = min(size, align_down(limit - total, 2 * MiB));
                if (size == 0) continue;
            }
            HV_TRY(out.push_back(MemRegion{base, size}));
            total += size;
        }
    }
    return out.empty() ? Status::no_memory : Status::ok;
}

}  // namespace hv
