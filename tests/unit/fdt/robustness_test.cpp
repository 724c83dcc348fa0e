// Fuzz-ish robustness: corrupted, truncated and random blobs must never crash the reader or the platform parser
// (this binary runs under ASan + UBSan), and whatever opens must be fully walkable.
#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <random>

#include "core/fdt/reader.hpp"
#include "core/fdt/writer.hpp"
#include "core/guest_dtb.hpp"
#include "core/platform.hpp"
#include "tests/unit/fdt/fdt_test_util.hpp"

using namespace hv;
using namespace hv::fdt;

namespace {

// Exercises every accessor on every node; returns the node count. Bounded by construction.
usize walk_everything(const Reader& r) {
    usize nodes = 0;
    for (i32 n = r.next_node(kNoNode); n != kNoNode && nodes < 100000; n = r.next_node(n)) {
        ++nodes;
        (void)r.name(n);
        (void)r.parent(n);
        (void)r.first_child(n);
        (void)r.next_sibling(n);
        (void)r.has_compatible(n, "arm,gic-v3");
        (void)r.prop_string(n, "compatible");
        (void)r.prop_u64(n, "reg");
        u64 a, s;
        ignore_status(r.read_reg(n, 0, a, s));
        for (i32 p = r.first_prop(n); p != kNoProp; p = r.next_prop(p)) {
            Property pr = r.prop_at(p);
            EXPECT_NE(pr.name, nullptr);
            StringList sl(pr.value);
            while (sl.next() != nullptr) {
            }
        }
    }
    (void)r.find_path("/intc@8000000/its@8080000");
    (void)r.find_phandle(0x8005);
    return nodes;
}

// Opens, walks, parses a platform from and (if that works) builds a guest DTB from `blob`.
void exercise(const std::vector<u8>& blob, usize claimed) {
    Result<Reader> r = Reader::open(blob.data(), min(claimed, blob.size()));
    if (!r.ok()) return;
    walk_everything(r.value());
    static PlatformInfo pi;  // large: keep it off the stack
    if (parse_platform(r.value(), pi) != Status::ok) return;
    GuestDtbConfig c;
    for (usize i = 0; i < min<usize>(pi.cpu_count(), 4); ++i) ignore_status(c.vcpu_mpidrs.push_back(pi.cpus[i].mpidr));
    ignore_status(c.memory.push_back(pi.memory[0]));
    static u8 out[64 * 1024];
    usize size = 0;
    if (build_guest_dtb(r.value(), pi, c, out, sizeof out, size) == Status::ok) {
        Result<Reader> g = Reader::open(out, size);
        EXPECT_TRUE(g.ok());  // whatever we write must be readable
    }
}

}  // namespace

TEST(FdtRobustness, EveryTruncation) {
    auto blob = fdttest::load_data("qemu-virt-smp2-modules.dtb");
    for (usize len = 0; len < blob.size(); len += 7) {
        // A truncated copy in its own allocation, so ASan catches a read past `len`.
        std::vector<u8> t(blob.begin(), blob.begin() + static_cast<long>(len));
        EXPECT_FALSE(Reader::open(t.data(), t.size()).ok()) << len;  // totalsize > len
        // Also lie about totalsize so that open() looks inside.
        if (len >= 40) {
            store_be32(t.data() + 4, static_cast<u32>(len));
            exercise(t, len);
        }
    }
}

TEST(FdtRobustness, RandomBitFlips) {
    auto blob = fdttest::load_data("qemu-virt-smp4.dtb");
    std::mt19937 rng(12345);
    int opened = 0;
    for (int iter = 0; iter < 3000; ++iter) {
        std::vector<u8> b = blob;
        const int flips = 1 + static_cast<int>(rng() % 8);
        for (int f = 0; f < flips; ++f) {
            const usize pos = rng() % b.size();
            b[pos] ^= static_cast<u8>(1u << (rng() % 8));
        }
        Result<Reader> r = Reader::open(b.data(), b.size());
        opened += r.ok();
        exercise(b, b.size());
    }
    EXPECT_GT(opened, 100);  // most flips land in values, which stay structurally valid
}

TEST(FdtRobustness, HostileHeaderFields) {
    auto blob = fdttest::load_data("qemu-virt-smp4.dtb");
    const u32 interesting[] = {0,
                               1,
                               3,
                               4,
                               8,
                               39,
                               40,
                               0x7fffffff,
                               0x80000000,
                               0xfffffffc,
                               0xffffffff,
                               static_cast<u32>(blob.size()),
                               static_cast<u32>(blob.size() - 4)};
    for (u32 field = 4; field < 40; field += 4) {
        for (u32 v : interesting) {
            std::vector<u8> b = blob;
            store_be32(b.data() + field, v);
            exercise(b, b.size());
        }
    }
}

TEST(FdtRobustness, RandomTokenSoup) {
    // Valid header, random structure block made of plausible tokens: the walk must reject or accept without
    // crashing or looping.
    std::mt19937 rng(777);
    for (int iter = 0; iter < 2000; ++iter) {
        std::vector<u8> b(512, 0);
        const u32 off_struct = 64, size_struct = 256, off_strings = 320, size_strings = 64;
        store_be32(b.data(), kMagic);
        store_be32(b.data() + 4, static_cast<u32>(b.size()));
        store_be32(b.data() + 8, off_struct);
        store_be32(b.data() + 12, off_strings);
        store_be32(b.data() + 16, 40);
        store_be32(b.data() + 20, 17);
        store_be32(b.data() + 24, 16);
        store_be32(b.data() + 32, size_strings);
        store_be32(b.data() + 36, size_struct);
        for (u32 i = 0; i < size_struct; i += 4) {
            const u32 choice = rng() % 10;
            u32 v = choice < 6 ? 1 + rng() % 4 : choice < 7 ? 9 : rng() % 64;
            store_be32(b.data() + off_struct + i, v);
        }
        for (u32 i = 0; i < size_strings; ++i) b[off_strings + i] = "abc\0"[rng() % 4];
        store_be32(b.data() + off_struct, 1);  // BEGIN_NODE
        exercise(b, b.size());
    }
}

TEST(FdtRobustness, DeepNestingIsRejected) {
    std::vector<u8> buf(8192);
    // Build one with the writer up to its own limit, then hand-extend: the reader rejects depth > kMaxDepth.
    Writer w(buf.data(), buf.size());
    ASSERT_EQ(w.begin_node(""), Status::ok);
    for (usize i = 1; i < kMaxDepth; ++i) ASSERT_EQ(w.begin_node("n"), Status::ok);
    for (usize i = 0; i < kMaxDepth; ++i) ASSERT_EQ(w.end_node(), Status::ok);
    Result<usize> n = w.finish();
    ASSERT_TRUE(n.ok());
    Result<Reader> r = Reader::open(buf.data(), n.value());
    ASSERT_TRUE(r.ok());
    i32 deepest = r.value().root();
    while (r.value().first_child(deepest) != kNoNode) deepest = r.value().first_child(deepest);
    EXPECT_EQ(r.value().depth(deepest), static_cast<i32>(kMaxDepth) - 1);

    // Hand-made: kMaxDepth + 1 nested nodes is one too many.
    std::vector<u8> b(64 + (kMaxDepth + 1) * 12 + 4 + 16, 0);
    const usize size_struct = (kMaxDepth + 1) * 12 + 4;
    store_be32(b.data(), kMagic);
    store_be32(b.data() + 4, static_cast<u32>(b.size()));
    store_be32(b.data() + 8, 64);
    store_be32(b.data() + 12, static_cast<u32>(64 + size_struct));
    store_be32(b.data() + 16, 40);
    store_be32(b.data() + 20, 17);
    store_be32(b.data() + 24, 16);
    store_be32(b.data() + 36, static_cast<u32>(size_struct));
    usize off = 64;
    for (usize i = 0; i <= kMaxDepth; ++i, off += 8) store_be32(b.data() + off, 1), b[off + 4] = 0;  // BEGIN ""
    for (usize i = 0; i <= kMaxDepth; ++i, off += 4) store_be32(b.data() + off, 2);                  // END_NODE
    store_be32(b.data() + off, 9);
    EXPECT_EQ(Reader::open(b.data(), b.size()).status(), Status::corrupt);
    // The same with one level less opens.
    std::vector<u8> ok(b.size(), 0);
    std::memcpy(ok.data(), b.data(), 64);
    off = 64;
    for (usize i = 0; i < kMaxDepth; ++i, off += 8) store_be32(ok.data() + off, 1);
    for (usize i = 0; i < kMaxDepth; ++i, off += 4) store_be32(ok.data() + off, 2);
    store_be32(ok.data() + off, 9);
    EXPECT_TRUE(Reader::open(ok.data(), ok.size()).ok());
}
