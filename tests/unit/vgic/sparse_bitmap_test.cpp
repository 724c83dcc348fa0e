#include <gtest/gtest.h>

#include <random>
#include <set>

#include "vgic/vgic.hpp"

using namespace hv;
using namespace hv::vgic;

namespace {

// Every set bit, in order, through find_next; checked against the reference set.
template <usize Bits>
void expect_same(const SparseBitmap<Bits>& b, const std::set<usize>& ref) {
    std::set<usize> seen;
    for (usize i = b.find_next(0); i < Bits; i = b.find_next(i + 1)) seen.insert(i);
    EXPECT_EQ(seen, ref);
    EXPECT_EQ(b.any(), !ref.empty());
    for (usize from : {usize{0}, usize{63}, usize{64}, usize{4095}, usize{4096}, usize{8191}, Bits - 1}) {
        auto it = ref.lower_bound(from);
        EXPECT_EQ(b.find_next(from), it == ref.end() ? Bits : *it) << "from " << from;
    }
}

}  // namespace

TEST(SparseBitmap, SetClearFindAndAnyAgreeWithAReferenceSet) {
    static SparseBitmap<kNumLpis> b;
    std::set<usize> ref;
    expect_same(b, ref);
    std::mt19937 rng(12);
    for (int round = 0; round < 2000; ++round) {
        // Mostly clustered indices (one 4096-bit block, word edges), some anywhere.
        const usize i = round % 3 == 0 ? rng() % kNumLpis : (rng() % 3) * 4096 + (rng() % 130);
        if (rng() % 2) {
            b.set(i);
            ref.insert(i);
        } else {
            b.clear(i);
            ref.erase(i);
        }
        if (round % 97 == 0) expect_same(b, ref);
    }
    expect_same(b, ref);
    for (usize i : std::set<usize>(ref)) {
        b.clear(i);
        ref.erase(i);
    }
    expect_same(b, ref);  // empty again: any() false, find_next at the end
    b.set(kNumLpis - 1);
    b.set(0);
    ref = {0, kNumLpis - 1};
    expect_same(b, ref);
    b.reset();
    expect_same(b, {});
    b.set(kNumLpis);  // out of range: ignored
    EXPECT_FALSE(b.any());
}
