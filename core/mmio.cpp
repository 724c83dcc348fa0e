#include "core/mmio.hpp"

namespace hv {

Status MmioBus::add(u64 base, u64 size, MmioHandler* handler) {
    if (size == 0 || base + size < base || handler == nullptr) return Status::invalid_argument;
    usize pos = 0;
    while (pos < frames_.size() && frames_[pos].base < base) ++pos;
    if (pos > 0 && frames_[pos - 1].base + frames_[pos - 1].size > base) return Status::invalid_argument;
    if (pos < frames_.size() && base + size > frames_[pos].base) return Status::invalid_argument;
    return frames_.insert(pos, Frame{base, size, handler});
}

const MmioBus::Frame* MmioBus::find(u64 gpa) const {
    usize lo = 0, hi = frames_.size();
    while (lo < hi) {
        usize mid = lo + (hi - lo) / 2;
        const Frame& f = frames_[mid];
        if (gpa < f.base)
            hi = mid;
        else if (gpa - f.base >= f.size)
            lo = mid + 1;
        else
            return &f;
    }
    return nullptr;
}

MmioResult MmioBus::dispatch(u32 vcpu, u64 gpa, u8 width, bool write, u64& value) {
    const Frame* f = find(gpa);
    if (f == nullptr || width_bit(width) == 0 || gpa - f->base + width > f->size) return MmioResult::unhandled;
    MmioAccess a{vcpu, gpa - f->base, width, write};
    if (write) return f->handler->mmio_write(a, value);
    value = 0;
    return f->handler->mmio_read(a, value);
}

}  // namespace hv
