// The only way a device model touches guest RAM: every access is checked against the VM's memory map.
#pragma once

#include "lib/containers.hpp"
#include "lib/status.hpp"

namespace hv {

class GuestMemory {
public:
    [[nodiscard]] virtual Status read(u64 gpa, void* dst, usize len) = 0;
    [[nodiscard]] virtual Status write(u64 gpa, const void* src, usize len) = 0;
    virtual bool contains(u64 gpa, usize len) const = 0;

    // [gpa, gpa + len) as host memory a model may read directly, or nullptr (then it uses read()). The pointer stays
    // valid while map_generation() is unchanged; a model that keeps one (the ITS command queue) checks that before
    // every use. The guest may write that memory concurrently: copy what is validated before validating it.
    virtual const u8* direct(u64 /*gpa*/, usize /*len*/) const { return nullptr; }
    // Changes whenever the memory map changes (regions added or removed).
    u32 map_generation() const { return map_generation_; }

    template <typename T>
    [[nodiscard]] Status read_obj(u64 gpa, T& out) {
        return read(gpa, &out, sizeof(T));
    }
    template <typename T>
    [[nodiscard]] Status write_obj(u64 gpa, const T& v) {
        return write(gpa, &v, sizeof(T));
    }

protected:
    ~GuestMemory() = default;
    void map_changed() { ++map_generation_; }

private:
    u32 map_generation_ = 0;
};

// Guest RAM as a small set of regions, each backed by host memory at `host` (on the hypervisor, host == gpa
// because stage 2 is an identity map; in tests, a buffer).
class RegionGuestMemory final : public GuestMemory {
public:
    struct Region {
        u64 gpa = 0;
        u64 size = 0;
        u8* host = nullptr;
    };
    static constexpr usize kMaxRegions = 8;

    [[nodiscard]] Status add_region(u64 gpa, u64 size, u8* host);
    void clear() {
        regions_.clear();
        map_changed();
    }
    Span<const Region> regions() const { return {regions_.begin(), regions_.size()}; }

    [[nodiscard]] Status read(u64 gpa, void* dst, usize len) override;
    [[nodiscard]] Status write(u64 gpa, const void* src, usize len) override;
    bool contains(u64 gpa, usize len) const override;
    const u8* direct(u64 gpa, usize len) const override { return host_ptr(gpa, len); }
    // Host pointer for [gpa, gpa+len) if it lies inside one region, else nullptr.
    u8* host_ptr(u64 gpa, usize len) const;

private:
    FixedVector<Region, kMaxRegions> regions_;
};

}  // namespace hv
