// MMIO dispatch: stage-2 data aborts on emulated frames end up here, decoded to (gpa, width, direction, value).
//
// Two levels:
//  * MmioBus: a sorted set of frames (base, size, handler) for one VM. Lookup is a binary search.
//  * RegisterRegion<Device> tables: inside a device, a sorted constexpr array of register regions with their allowed
//    access widths and the guest and save/restore accessors (see vgic/ for the model use).
//    Lookup is a binary search (find_region), or O(1) with a compile-time index (make_region_index, the vGIC's).
#pragma once

#include "lib/containers.hpp"
#include "lib/log.hpp"
#include "lib/status.hpp"

namespace hv {

enum class MmioResult : u8 {
    ok,         // handled (including RAZ/WI answers)
    unhandled,  // no device claims the address: the caller injects an external abort
};

struct MmioAccess {
    u32 vcpu = 0;    // the accessing vCPU
    u64 offset = 0;  // offset inside the frame
    u8 width = 4;    // bytes: 1, 2, 4 or 8
    bool write = false;
};

class MmioHandler {
public:
    // Reads return the value in `value`; widths the device does not allow are RAZ/WI (logged by the device).
    virtual MmioResult mmio_read(const MmioAccess& a, u64& value) = 0;
    virtual MmioResult mmio_write(const MmioAccess& a, u64 value) = 0;

protected:
    ~MmioHandler() = default;
};

class MmioBus {
public:
    static constexpr usize kMaxFrames = 64;
    struct Frame {
        u64 base = 0;
        u64 size = 0;
        MmioHandler* handler = nullptr;
    };

    // Frames may not overlap; kept sorted by base.
    [[nodiscard]] Status add(u64 base, u64 size, MmioHandler* handler);
    void clear() { frames_.clear(); }
    const Frame* find(u64 gpa) const;
    // Dispatch one access at guest-physical `gpa`. Widths other than 1/2/4/8 are refused here.
    MmioResult dispatch(u32 vcpu, u64 gpa, u8 width, bool write, u64& value);
    usize frame_count() const { return frames_.size(); }

private:
    FixedVector<Frame, kMaxFrames> frames_;
};

// Allowed access widths as a bit mask.
enum AccessWidth : u8 { kW8 = 1, kW16 = 2, kW32 = 4, kW64 = 8 };
constexpr u8 width_bit(u8 width) {
    return width == 1 ? kW8 : width == 2 ? kW16 : width == 4 ? kW32 : width == 8 ? kW64 : 0;
}

// A register region of a device: [offset, offset + length), accessed with the given widths. For per-IRQ
// registers `bits_per_irq` says how many bits describe one interrupt (1, 2, 8 or 64), so handlers can map
// (offset, width) to the first INTID and the number of INTIDs covered.
template <typename Device>
struct RegisterRegion {
    using Read = u64 (Device::*)(const MmioAccess& a, u64 reg_offset);
    using Write = void (Device::*)(const MmioAccess& a, u64 reg_offset, u64 value);

    u32 offset;
    u32 length;
    u8 bits_per_irq;
    u8 widths;
    Read read;            // guest read
    Write write;          // guest write (set/clear semantics where the architecture has them)
    Read save_read;       // save/restore read (nullptr: same as read)
    Write restore_write;  // save/restore write: sets the latch directly (nullptr: same as write)
};

template <typename Device, usize N>
constexpr bool regions_sorted(const RegisterRegion<Device> (&t)[N]) {
    for (usize i = 1; i < N; ++i)
        if (t[i].offset < t[i - 1].offset + t[i - 1].length) return false;
    return true;
}

// Binary search of a sorted region table; nullptr if `offset` falls in no region.
template <typename Device>
const RegisterRegion<Device>* find_region(const RegisterRegion<Device>* table, usize n, u64 offset) {
    usize lo = 0, hi = n;
    while (lo < hi) {
        usize mid = lo + (hi - lo) / 2;
        const auto& r = table[mid];
        if (offset < r.offset)
            hi = mid;
        else if (offset >= u64{r.offset} + r.length)
            lo = mid + 1;
        else
            return &r;
    }
    return nullptr;
}

// O(1) lookup of a sorted region table (the vGIC's guest path: a trapped GICD/GICR access,
// docs/benchmarks-exits.md): one byte per 4-byte word of [0, end of the last region) names the region holding that
// word (its index + 1; 0 = no region). Built at compile time by make_region_index; the regions must start and end on
// 4-byte boundaries (regions_word_aligned), so every byte of a word belongs to the same region.
template <typename Device, usize N>
constexpr bool regions_word_aligned(const RegisterRegion<Device> (&t)[N]) {
    for (usize i = 0; i < N; ++i)
        if (t[i].offset % 4 != 0 || t[i].length % 4 != 0 || t[i].length == 0) return false;
    return true;
}

template <typename Device, usize N>
constexpr usize region_index_words(const RegisterRegion<Device> (&t)[N]) {
    return (usize{t[N - 1].offset} + t[N - 1].length) / 4;
}

template <usize Words>
struct RegionIndex {
    u8 region[Words];  // per word: region index + 1, 0 = a hole
};

template <usize Words, typename Device, usize N>
constexpr RegionIndex<Words> make_region_index(const RegisterRegion<Device> (&t)[N]) {
    static_assert(N < 255, "a region index names regions in one byte");
    RegionIndex<Words> x{};
    for (usize i = 0; i < N; ++i)
        for (usize w = t[i].offset / 4; w < (usize{t[i].offset} + t[i].length) / 4; ++w)
            x.region[w] = static_cast<u8>(i + 1);
    return x;
}

// A region table with its index: what find_region answers, in O(1).
template <typename Device>
struct IndexedRegions {
    const RegisterRegion<Device>* regions;
    const u8* index;  // RegionIndex::region
    usize words;      // entries of index

    const RegisterRegion<Device>* find(u64 offset) const {
        const u64 w = offset / 4;
        if (w >= words) return nullptr;
        const u8 i = index[w];
        return i == 0 ? nullptr : &regions[i - 1];
    }
};

// First INTID covered by an access at `reg_offset` inside a per-IRQ region.
constexpr u32 first_intid(u64 reg_offset, u8 bits_per_irq) { return static_cast<u32>(reg_offset * 8 / bits_per_irq); }

}  // namespace hv
