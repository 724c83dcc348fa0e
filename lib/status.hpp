// Errors are values: every fallible operation returns a Status (or Result<T>).
#pragma once

#include "lib/types.hpp"

namespace hv {

enum class [[nodiscard]] Status : u8{
    ok,
    invalid_argument,  // a value the callee cannot honour (KVM: EINVAL)
    not_found,         // unknown ID / nothing at that address (KVM: ENOENT)
    wrong_size,        // size field does not match the register (KVM: EINVAL on size)
    busy,              // operation not allowed in the current state (KVM: EBUSY)
    out_of_range,      // address or index outside what is allowed (KVM: EFAULT)
    no_memory,         // a fixed pool is exhausted (KVM: ENOMEM)
    unsupported,       // feature not implemented by this build (KVM: ENXIO)
    bad_order,         // restore step taken out of the documented order
    timeout,           // hardware did not respond in time
    corrupt,           // a restored image fails validation
};

constexpr const char* status_name(Status s) {
    switch (s) {
        case Status::ok:
            return "ok";
        case Status::invalid_argument:
            return "invalid_argument";
        case Status::not_found:
            return "not_found";
        case Status::wrong_size:
            return "wrong_size";
        case Status::busy:
            return "busy";
        case Status::out_of_range:
            return "out_of_range";
        case Status::no_memory:
            return "no_memory";
        case Status::unsupported:
            return "unsupported";
        case Status::bad_order:
            return "bad_order";
        case Status::timeout:
            return "timeout";
        case Status::corrupt:
            return "corrupt";
    }
    return "?";
}

// A value or an error. T must be default-constructible and trivially copyable enough for our use.
template <typename T>
class [[nodiscard]] Result {
public:
    constexpr Result(T value) : value_(value), status_(Status::ok) {}  // NOLINT(implicit)
    constexpr Result(Status s) : value_(), status_(s) {}               // NOLINT(implicit)
    constexpr bool ok() const { return status_ == Status::ok; }
    constexpr Status status() const { return status_; }
    constexpr const T& value() const { return value_; }
    constexpr T& value() { return value_; }
    constexpr T value_or(T fallback) const { return ok() ? value_ : fallback; }

private:
    T value_;
    Status status_;
};

// Propagate a non-ok status to the caller.
#define HV_TRY(expr)                                                   \
    do {                                                               \
        ::hv::Status hv_try_status_ = (expr);                          \
        if (hv_try_status_ != ::hv::Status::ok) return hv_try_status_; \
    } while (0)

// Explicitly discard a status where ignoring it is the documented intent.
constexpr void ignore_status(Status) {}

}  // namespace hv
