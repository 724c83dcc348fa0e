#include <gtest/gtest.h>

#include <cstring>

#include "lib/bits.hpp"
#include "lib/containers.hpp"
#include "lib/format.hpp"
#include "lib/log.hpp"
#include "tests/unit/support.hpp"

using namespace hv;

TEST(Format, IntegersStringsAndPadding) {
    char buf[128];
    format(buf, sizeof buf, "%d|%u|%x|%08lx|%-4s|%c|%%|%5d|%lld", -42, 7u, 0xbeefu, 0x1234ul, "ab", 'z', 3,
           -9000000000ll);
    EXPECT_STREQ(buf, "-42|7|beef|00001234|ab  |z|%|    3|-9000000000");
    format(buf, sizeof buf, "%#x %p %s", 255u, reinterpret_cast<void*>(0x10), static_cast<const char*>(nullptr));
    EXPECT_STREQ(buf, "0xff 0x10 (null)");
}

TEST(Format, TruncatesAndReportsFullLength) {
    char buf[5];
    EXPECT_EQ(format(buf, sizeof buf, "%s", "abcdefgh"), 8u);
    EXPECT_STREQ(buf, "abcd");
}

TEST(Bits, FieldsAndBytes) {
    using F = Field<11, 8>;
    EXPECT_EQ(F::get(0xabcd), 0xbu);
    EXPECT_EQ(F::set(0, 0x1f), 0xf00u);
    EXPECT_TRUE(F::fits(15));
    EXPECT_FALSE(F::fits(16));
    EXPECT_EQ(extract_bytes(0xaabbccdd, 1, 2), 0xbbccu);
}

TEST(Containers, FixedVectorBitmapPool) {
    FixedVector<int, 3> v;
    EXPECT_EQ(v.push_back(1), Status::ok);
    EXPECT_EQ(v.push_back(3), Status::ok);
    EXPECT_EQ(v.insert(1, 2), Status::ok);
    EXPECT_EQ(v.push_back(4), Status::no_memory);
    EXPECT_EQ(v[1], 2);
    v.erase(0);
    EXPECT_EQ(v.size(), 2u);
    EXPECT_EQ(v[0], 2);

    Bitmap<130> b;
    EXPECT_EQ(b.find_next(0), 130u);
    b.set(129);
    b.set(64);
    EXPECT_EQ(b.find_next(0), 64u);
    EXPECT_EQ(b.find_next(65), 129u);
    b.set(200);  // out of range: ignored
    EXPECT_FALSE(b.test(200));

    ObjectPool<int, 2> pool;
    int* a = pool.allocate();
    int* c = pool.allocate();
    EXPECT_NE(a, nullptr);
    EXPECT_NE(c, nullptr);
    EXPECT_EQ(pool.allocate(), nullptr);
    pool.release(a);
    EXPECT_EQ(pool.allocate(), a);
}

struct Item {
    int v;
    ListNode node;
};

TEST(Containers, IntrusiveList) {
    IntrusiveList<Item, &Item::node> list;
    Item a{1, {}}, b{2, {}}, c{3, {}};
    list.push_back(a);
    list.push_back(c);
    list.insert_before(c, b);
    int sum = 0, order = 0;
    for (Item* i = list.front(); i; i = list.next(*i)) sum = sum * 10 + i->v, ++order;
    EXPECT_EQ(sum, 123);
    decltype(list)::remove(b);
    EXPECT_FALSE(b.node.linked());
    EXPECT_EQ(list.next(a), &c);
}

TEST(Log, RateLimitedSiteIsBounded) {
    hvtest::install_log_capture();
    hvtest::captured_log().clear();
    for (int i = 0; i < 2000; ++i) HV_LOG_RATELIMITED(warn, "guest did a bad thing %d", i);
    size_t lines = 0;
    for (char ch : hvtest::captured_log()) lines += ch == '\n';
    EXPECT_EQ(lines, 8u + 1u);  // burst of 8, then one at n == 1024
}
