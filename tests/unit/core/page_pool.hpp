// A PageAllocator over one contiguous host buffer of `Pages` pages (64 KiB aligned, zeroed) whose "physical"
// addresses start at `Base`: concatenated stage-2 roots are indexed as one array, so they need contiguous storage.
// Shared by the page-table tests (stage2_test, smmu_tables_test).
#pragma once

#include <cstdlib>
#include <cstring>

#include "core/stage2.hpp"

namespace hvtest {

template <hv::u64 Base, hv::usize Pages>
class ContiguousPagePool final : public hv::PageAllocator {
public:
    ContiguousPagePool() : buf_(static_cast<hv::u8*>(std::aligned_alloc(65536, Pages * 4096))) {
        std::memset(buf_, 0, Pages * 4096);
    }
    ContiguousPagePool(const ContiguousPagePool&) = delete;
    ContiguousPagePool& operator=(const ContiguousPagePool&) = delete;
    ~ContiguousPagePool() { std::free(buf_); }
    hv::u64 alloc_pages(hv::usize pages) override {
        const hv::usize start = hv::align_up(next_, pages);
        if (start + pages > Pages) return 0;
        next_ = start + pages;
        return Base + start * 4096;
    }
    hv::u64* table_ptr(hv::u64 pa) override { return reinterpret_cast<hv::u64*>(buf_ + (pa - Base)); }
    hv::usize used() const { return next_; }

private:
    hv::u8* buf_;
    hv::usize next_ = 0;
};

}  // namespace hvtest
