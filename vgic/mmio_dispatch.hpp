// Internal to vgic/: dispatch of one access through a sorted RegisterRegion table and its O(1) index
// (core/mmio.hpp IndexedRegions), for the guest path (bad widths / holes are RAZ/WI) and the save/restore path (they
// are errors).
#pragma once

#include "core/mmio.hpp"
#include "lib/log.hpp"
#include "lib/status.hpp"

namespace hv::vgic {

enum class Lookup : u8 { ok, no_region, bad_width };

// IHI0069H 12.1.3: accesses must be naturally aligned and of a width the register supports.
template <typename D>
inline Lookup lookup_region(const IndexedRegions<D>& t, u64 offset, u8 width, const RegisterRegion<D>*& out) {
    out = nullptr;
    if (width_bit(width) == 0 || (offset & (width - 1u)) != 0) return Lookup::bad_width;  // (a power of 2)
    const RegisterRegion<D>* r = t.find(offset);
    if (r == nullptr) return Lookup::no_region;
    // An aligned access of up to 4 bytes stays in its word, so in its region (the index's regions are word aligned);
    // 8 bytes may run past the region's end.
    if ((r->widths & width_bit(width)) == 0 || (width == 8 && offset + 8 > u64{r->offset} + r->length))
        return Lookup::bad_width;
    out = r;
    return Lookup::ok;
}

template <typename D>
void guest_read(D& dev, const IndexedRegions<D>& t, const MmioAccess& a, u64 offset, u64& value, const char* what) {
    const RegisterRegion<D>* r;
    value = 0;
    switch (lookup_region(t, offset, a.width, r)) {
        case Lookup::ok:
            value = (dev.*(r->read))(a, offset - r->offset);
            break;
        case Lookup::no_region:
            break;  // reserved: RAZ/WI
        case Lookup::bad_width:
            HV_LOG_RATELIMITED(warn, "vgic: %s read at 0x%llx width %u not allowed (RAZ)", what,
                               static_cast<unsigned long long>(offset), a.width);
            break;
    }
}

template <typename D>
void guest_write(D& dev, const IndexedRegions<D>& t, const MmioAccess& a, u64 offset, u64 value, const char* what) {
    const RegisterRegion<D>* r;
    switch (lookup_region(t, offset, a.width, r)) {
        case Lookup::ok:
            (dev.*(r->write))(a, offset - r->offset, value);
            break;
        case Lookup::no_region:
            break;
        case Lookup::bad_width:
            HV_LOG_RATELIMITED(warn, "vgic: %s write at 0x%llx width %u not allowed (WI)", what,
                               static_cast<unsigned long long>(offset), a.width);
            break;
    }
}

template <typename D>
Status uaccess_read(D& dev, const IndexedRegions<D>& t, const MmioAccess& a, u64 offset, u64& value) {
    const RegisterRegion<D>* r;
    value = 0;
    switch (lookup_region(t, offset, a.width, r)) {
        case Lookup::ok:
            break;
        case Lookup::no_region:
            return Status::not_found;
        case Lookup::bad_width:
            return Status::wrong_size;
    }
    value = (dev.*(r->save_read ? r->save_read : r->read))(a, offset - r->offset);
    return Status::ok;
}

template <typename D>
Status uaccess_write(D& dev, const IndexedRegions<D>& t, const MmioAccess& a, u64 offset, u64 value,
                     Status& restore_status) {
    const RegisterRegion<D>* r;
    switch (lookup_region(t, offset, a.width, r)) {
        case Lookup::ok:
            break;
        case Lookup::no_region:
            return Status::not_found;
        case Lookup::bad_width:
            return Status::wrong_size;
    }
    restore_status = Status::ok;  // accessors that validate set it
    (dev.*(r->restore_write ? r->restore_write : r->write))(a, offset - r->offset, value);
    return restore_status;
}

}  // namespace hv::vgic
