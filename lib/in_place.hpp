// Objects built in place, in storage that already exists: the one placement `operator new` of the project (the
// freestanding build has no <new>), and InPlace<T>, a slot that holds at most one T whose construction is explicit
// (no global constructor runs; the object is built when the code that owns the slot decides).
#pragma once

#include "lib/assert.hpp"
#include "lib/types.hpp"

#if defined(__STDC_HOSTED__) && __STDC_HOSTED__ && __has_include(<new>)
#include <new>  // host builds: the standard declaration (hosted headers are fine outside the freestanding build)
#else
inline void* operator new(hv::usize, void* p) noexcept { return p; }
inline void operator delete(void*, void*) noexcept {}
#endif

namespace hv {

template <typename T>
class InPlace {
public:
    constexpr InPlace() = default;
    InPlace(const InPlace&) = delete;
    InPlace& operator=(const InPlace&) = delete;
    // Never destroys on its own: slots live in static storage for the hypervisor's life (no exit-time
    // destructors in the freestanding build); call destroy() where an object really ends.
    ~InPlace() = default;

    template <typename... Args>
    T& construct(Args&&... args) {
        destroy();
        T* p = new (storage_) T(static_cast<Args&&>(args)...);
        built_ = true;
        return *p;
    }
    void destroy() {
        if (built_) get().~T();
        built_ = false;
    }
    bool built() const { return built_; }
    T& get() {
        HV_ASSERT(built_);
        return *reinterpret_cast<T*>(storage_);
    }
    const T& get() const {
        HV_ASSERT(built_);
        return *reinterpret_cast<const T*>(storage_);
    }
    T* operator->() { return &get(); }
    T& operator*() { return get(); }

private:
    alignas(T) u8 storage_[sizeof(T)] = {};
    bool built_ = false;
};

}  // namespace hv
