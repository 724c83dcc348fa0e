#include "core/guest_memory.hpp"

#include "lib/string.hpp"

namespace hv {

Status RegionGuestMemory::add_region(u64 gpa, u64 size, u8* host) {
    if (size == 0 || gpa + size < gpa || host == nullptr) return Status::invalid_argument;
    for (const Region& r : regions_)
        if (gpa < r.gpa + r.size && r.gpa < gpa + size) return Status::invalid_argument;
    HV_TRY(regions_.push_back(Region{gpa, size, host}));
    map_changed();
    return Status::ok;
}

u8* RegionGuestMemory::host_ptr(u64 gpa, usize len) const {
    for (const Region& r : regions_)
        if (range_within(gpa, len, r.gpa, r.size)) return r.host + (gpa - r.gpa);
    return nullptr;
}

bool RegionGuestMemory::contains(u64 gpa, usize len) const { return host_ptr(gpa, len) != nullptr; }

Status RegionGuestMemory::read(u64 gpa, void* dst, usize len) {
    u8* p = host_ptr(gpa, len);
    if (p == nullptr) return Status::out_of_range;
    memcpy(dst, p, len);
    return Status::ok;
}

Status RegionGuestMemory::write(u64 gpa, const void* src, usize len) {
    u8* p = host_ptr(gpa, len);
    if (p == nullptr) return Status::out_of_range;
    memcpy(p, src, len);
    return Status::ok;
}

}  // namespace hv
