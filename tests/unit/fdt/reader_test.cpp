#include "core/fdt/reader.hpp"

#include <gtest/gtest.h>

#include <array>
#include <cstring>
#include <string>

#include "core/fdt/writer.hpp"
#include "tests/unit/fdt/fdt_test_util.hpp"

using namespace hv;
using namespace hv::fdt;

namespace {

Reader open_data(const std::vector<unsigned char>& blob) {
    Result<Reader> r = Reader::open(blob.data(), blob.size());
    EXPECT_TRUE(r.ok()) << status_name(r.status());
    return r.value();
}

}  // namespace

TEST(FdtReader, OpensQemuVirtDtb) {
    auto blob = fdttest::load_data("qemu-virt-smp4.dtb");
    ASSERT_GT(blob.size(), 1000u);
    Reader r = open_data(blob);
    ASSERT_TRUE(r.valid());
    EXPECT_EQ(r.version(), 17u);
    EXPECT_EQ(r.total_size(), blob.size());
    EXPECT_STREQ(r.name(r.root()), "");
    EXPECT_EQ(r.parent(r.root()), kNoNode);
    EXPECT_EQ(r.depth(r.root()), 0);
}

TEST(FdtReader, NavigatesPathsChildrenAndParents) {
    auto blob = fdttest::load_data("qemu-virt-smp4.dtb");
    Reader r = open_data(blob);
    const i32 gic = r.find_path("/intc@8000000");
    ASSERT_NE(gic, kNoNode);
    EXPECT_STREQ(r.name(gic), "intc@8000000");
    EXPECT_EQ(r.parent(gic), r.root());
    // Unit-address-less lookup and nested path.
    EXPECT_EQ(r.find_path("/intc"), gic);
    const i32 its = r.find_path("/intc@8000000/its@8080000");
    ASSERT_NE(its, kNoNode);
    EXPECT_EQ(r.parent(its), gic);
    EXPECT_EQ(r.depth(its), 2);
    EXPECT_EQ(r.first_child(gic), its);
    EXPECT_EQ(r.next_sibling(its), kNoNode);
    EXPECT_EQ(r.find_path("/nonexistent"), kNoNode);
    EXPECT_EQ(r.find_path("/intc@8000000/its@1"), kNoNode);
    EXPECT_EQ(r.find_path("relative"), kNoNode);
    EXPECT_EQ(r.find_path("/"), r.root());

    // Four cpu nodes under /cpus (plus cpu-map).
    const i32 cpus = r.find_path("/cpus");
    ASSERT_NE(cpus, kNoNode);
    int n_cpu = 0;
    for (i32 c = r.first_child(cpus); c != kNoNode; c = r.next_sibling(c))
        if (std::strncmp(r.name(c), "cpu@", 4) == 0) ++n_cpu;
    EXPECT_EQ(n_cpu, 4);
}

TEST(FdtReader, PropertiesAndStringLists) {
    auto blob = fdttest::load_data("qemu-virt-smp4.dtb");
    Reader r = open_data(blob);
    const i32 gic = r.find_compatible("arm,gic-v3");
    ASSERT_NE(gic, kNoNode);
    EXPECT_TRUE(r.has_prop(gic, "interrupt-controller"));
    EXPECT_EQ(r.prop(gic, "interrupt-controller").size(), 0u);  // present, empty
    EXPECT_FALSE(r.has_prop(gic, "no-such-prop"));
    EXPECT_EQ(r.prop_u32(gic, "#interrupt-cells").value(), 3u);
    EXPECT_EQ(r.prop_u32(gic, "#interrupt-cells", 1).status(), Status::wrong_size);
    EXPECT_EQ(r.prop_u32(gic, "nope").status(), Status::not_found);
    EXPECT_EQ(r.prop_u32(gic, "#redistributor-regions").value(), 1u);
    EXPECT_NE(r.phandle(gic), 0u);
    EXPECT_EQ(r.find_phandle(r.phandle(gic)), gic);
    EXPECT_EQ(r.find_phandle(0), kNoNode);

    const i32 uart = r.find_compatible("arm,pl011");
    ASSERT_NE(uart, kNoNode);
    EXPECT_TRUE(r.has_compatible(uart, "arm,primecell"));
    EXPECT_FALSE(r.has_compatible(uart, "arm,pl01"));
    StringList names = r.prop_strings(uart, "clock-names");
    EXPECT_EQ(names.count(), 2u);
    EXPECT_STREQ(names.next(), "uartclk");
    EXPECT_STREQ(names.next(), "apb_pclk");
    EXPECT_EQ(names.next(), nullptr);

    const i32 chosen = r.find_path("/chosen");
    EXPECT_STREQ(r.prop_string(chosen, "stdout-path"), "/pl011@9000000");
    // A property is a string only if NUL-terminated: "interrupts" is binary.
    EXPECT_EQ(r.prop_string(uart, "interrupts"), nullptr);

    // Property iteration sees every property exactly once.
    int count = 0;
    bool saw_reg = false;
    for (i32 p = r.first_prop(uart); p != kNoProp; p = r.next_prop(p)) {
        Property pr = r.prop_at(p);
        ASSERT_NE(pr.name, nullptr);
        saw_reg |= std::strcmp(pr.name, "reg") == 0;
        ++count;
    }
    EXPECT_TRUE(saw_reg);
    EXPECT_EQ(count, 5);  // clock-names clocks interrupts reg compatible
}

TEST(FdtReader, RegUsesParentCells) {
    auto blob = fdttest::load_data("qemu-virt-smp4.dtb");
    Reader r = open_data(blob);
    const i32 gic = r.find_compatible("arm,gic-v3");
    u64 a = 0, s = 0;
    ASSERT_EQ(r.reg_count(gic), 2u);
    ASSERT_EQ(r.read_reg(gic, 0, a, s), Status::ok);
    EXPECT_EQ(a, 0x08000000u);
    EXPECT_EQ(s, 0x10000u);
    ASSERT_EQ(r.read_reg(gic, 1, a, s), Status::ok);
    EXPECT_EQ(a, 0x080a0000u);
    EXPECT_EQ(r.read_reg(gic, 2, a, s), Status::not_found);
    const i32 its = r.find_compatible("arm,gic-v3-its");
    ASSERT_EQ(r.read_reg(its, 0, a, s), Status::ok);  // the GIC node's #address-cells = 2, #size-cells = 2
    EXPECT_EQ(a, 0x08080000u);
    EXPECT_EQ(s, 0x20000u);
    // cpus: #address-cells = 1, #size-cells = 0.
    const i32 cpu2 = r.find_path("/cpus/cpu@2");
    ASSERT_NE(cpu2, kNoNode);
    ASSERT_EQ(r.read_reg(cpu2, 0, a, s), Status::ok);
    EXPECT_EQ(a, 2u);
    EXPECT_EQ(s, 0u);
    const i32 pcie = r.find_compatible("pci-host-ecam-generic");
    ASSERT_EQ(r.read_reg(pcie, 0, a, s), Status::ok);
    EXPECT_EQ(a, 0x4010000000ull);
    EXPECT_EQ(s, 0x10000000u);
}

TEST(FdtReader, FindCompatibleIteratesAllMatches) {
    auto blob = fdttest::load_data("qemu-virt-smp4.dtb");
    Reader r = open_data(blob);
    int virtio = 0;
    for (i32 n = r.find_compatible("virtio,mmio"); n != kNoNode; n = r.find_compatible("virtio,mmio", n)) ++virtio;
    EXPECT_EQ(virtio, 32);
    // Document order walk visits every node once and ends.
    int nodes = 0;
    for (i32 n = r.next_node(kNoNode); n != kNoNode; n = r.next_node(n)) ++nodes;
    EXPECT_GT(nodes, 50);
    EXPECT_LT(nodes, 200);
}

TEST(FdtReader, ModulesInChosen) {
    auto blob = fdttest::load_data("qemu-virt-smp2-modules.dtb");
    Reader r = open_data(blob);
    const i32 chosen = r.find_path("/chosen");
    ASSERT_NE(chosen, kNoNode);
    EXPECT_STREQ(r.prop_string(chosen, "bootargs"), "vcpus=2 mem=512M psci=1.0");
    int modules = 0;
    for (i32 m = r.first_child(chosen); m != kNoNode; m = r.next_sibling(m)) {
        EXPECT_TRUE(r.has_compatible(m, "multiboot,module"));
        ++modules;
    }
    EXPECT_EQ(modules, 2);
    EXPECT_NE(r.find_compatible("multiboot,kernel"), kNoNode);
    EXPECT_NE(r.find_compatible("multiboot,ramdisk"), kNoNode);
}

TEST(FdtReader, RejectsBadHeaders) {
    auto blob = fdttest::load_data("qemu-virt-smp4.dtb");
    EXPECT_EQ(Reader::open(nullptr, 100).status(), Status::corrupt);
    EXPECT_EQ(Reader::open(blob.data(), 39).status(), Status::corrupt);
    EXPECT_EQ(Reader::open(blob.data(), blob.size() - 1).status(), Status::corrupt);  // totalsize > max_size
    auto bad = blob;
    bad[0] ^= 1;  // magic
    EXPECT_EQ(Reader::open(bad.data(), bad.size()).status(), Status::corrupt);
    bad = blob;
    store_be32(bad.data() + 20, 15);  // version 15
    EXPECT_EQ(Reader::open(bad.data(), bad.size()).status(), Status::unsupported);
    bad = blob;
    store_be32(bad.data() + 8, 0x42);  // misaligned struct offset
    EXPECT_EQ(Reader::open(bad.data(), bad.size()).status(), Status::corrupt);
    bad = blob;
    store_be32(bad.data() + 36, 0xfffffff0);  // struct size beyond the blob
    EXPECT_EQ(Reader::open(bad.data(), bad.size()).status(), Status::corrupt);
    bad = blob;
    store_be32(bad.data() + 32, 0xfffffff0);  // strings size beyond the blob (and offset+size wraps)
    EXPECT_EQ(Reader::open(bad.data(), bad.size()).status(), Status::corrupt);
    bad = blob;
    store_be32(bad.data() + 4, 0xffffffff);  // huge totalsize
    EXPECT_EQ(Reader::open(bad.data(), bad.size()).status(), Status::corrupt);
}

TEST(FdtReader, RejectsBadStructure) {
    auto blob = fdttest::load_data("qemu-virt-smp4.dtb");
    const u32 off_struct = load_be32(blob.data() + 8);
    const u32 size_struct = load_be32(blob.data() + 36);
    // Replace the final END token with END_NODE: unbalanced tree.
    auto bad = blob;
    ASSERT_EQ(load_be32(bad.data() + off_struct + size_struct - 4), 9u);
    store_be32(bad.data() + off_struct + size_struct - 4, 2);
    EXPECT_EQ(Reader::open(bad.data(), bad.size()).status(), Status::corrupt);
    // Unknown token.
    bad = blob;
    store_be32(bad.data() + off_struct + size_struct - 4, 7);
    EXPECT_EQ(Reader::open(bad.data(), bad.size()).status(), Status::corrupt);
    // First property of the root: name offset outside the strings block.
    bad = blob;
    ASSERT_EQ(load_be32(bad.data() + off_struct), 1u);      // BEGIN_NODE ""
    ASSERT_EQ(load_be32(bad.data() + off_struct + 8), 3u);  // PROP
    store_be32(bad.data() + off_struct + 16, 0x7fffffff);
    EXPECT_EQ(Reader::open(bad.data(), bad.size()).status(), Status::corrupt);
    // ... or a length that runs off the structure block.
    bad = blob;
    store_be32(bad.data() + off_struct + 12, size_struct);
    EXPECT_EQ(Reader::open(bad.data(), bad.size()).status(), Status::corrupt);
}

TEST(FdtReader, ReservationBlock) {
    auto blob = fdttest::load_data("qemu-virt-smp4.dtb");
    Reader r = open_data(blob);
    EXPECT_EQ(r.reservation_count(), 0u);
    u64 a, s;
    EXPECT_EQ(r.reservation(0, a, s), Status::not_found);
}

TEST(FdtReader, BadHandlesAreHarmless) {
    auto blob = fdttest::load_data("qemu-virt-smp4.dtb");
    Reader r = open_data(blob);
    for (i32 h : {-5, 1, 2, 3, 6, 0x7ffffff0, static_cast<i32>(blob.size())}) {
        EXPECT_EQ(r.name(h), nullptr);
        EXPECT_EQ(r.first_child(h), kNoNode);
        EXPECT_EQ(r.next_sibling(h), kNoNode);
        EXPECT_EQ(r.parent(h), kNoNode);
        EXPECT_EQ(r.prop(h, "reg").data(), nullptr);
        EXPECT_EQ(r.prop_at(h).name, nullptr);
    }
    Reader empty;
    EXPECT_EQ(empty.root(), kNoNode);
    EXPECT_EQ(empty.find_path("/"), kNoNode);
    EXPECT_EQ(empty.find_compatible("x"), kNoNode);
}

// ---------------------------------------------------------------- node index

namespace {

// Every answer the node index gives (parent, depth, next sibling, phandle search, compatible search) equals the
// walk's, for every node of the tree.
void expect_index_matches_walks(const Reader& r) {
    ASSERT_TRUE(r.indexed());
    const Reader walks = r.unindexed();
    ASSERT_FALSE(walks.indexed());
    int nodes = 0;
    for (i32 n = r.root(); n != kNoNode; n = r.next_node(n)) {
        ++nodes;
        SCOPED_TRACE(r.name(n));
        EXPECT_EQ(r.parent(n), walks.parent(n));
        EXPECT_EQ(r.depth(n), walks.depth(n));
        EXPECT_EQ(r.next_sibling(n), walks.next_sibling(n));
        EXPECT_EQ(r.find_phandle(r.phandle(n)), walks.find_phandle(walks.phandle(n)));
        for (const char* c : {"arm,gic-v3", "arm,gic-v3-its", "virtio,mmio", "arm,pl011", "no,such"}) {
            EXPECT_EQ(r.has_compatible(n, c), walks.has_compatible(n, c));
            EXPECT_EQ(r.find_compatible(c, n), walks.find_compatible(c, n));
        }
    }
    EXPECT_GT(nodes, 0);
    for (const char* c : {"arm,gic-v3", "virtio,mmio", "arm,psci-1.0", "no,such"})
        EXPECT_EQ(r.find_compatible(c), walks.find_compatible(c));
    for (u32 ph : {0u, 1u, 2u, 0x8000u, 0xffffffffu}) EXPECT_EQ(r.find_phandle(ph), walks.find_phandle(ph));
}

}  // namespace

TEST(FdtReaderIndex, AnswersAsTheWalksOnQemuDtbs) {
    for (const char* name : {"qemu-virt-smp4.dtb", "qemu-virt-smp2-modules.dtb", "qemu-virt-smmuv3.dtb"}) {
        SCOPED_TRACE(name);
        auto blob = fdttest::load_data(name);
        expect_index_matches_walks(open_data(blob));
    }
}

// What prop() sees decides phandle() and has_compatible(): the first of duplicate properties, only the properties
// before the first child, "linux,phandle" when "phandle" is shorter than a cell.
TEST(FdtReaderIndex, PhandlesAndCompatiblesAsPropSeesThem) {
    std::vector<u8> buf(8192);
    Writer w(buf.data(), buf.size());
    const u8 short_ph[2] = {0, 7};
    ASSERT_EQ(w.begin_node(""), Status::ok);
    ASSERT_EQ(w.begin_node("a"), Status::ok);
    ASSERT_EQ(w.prop("phandle", short_ph, sizeof short_ph), Status::ok);  // too short: linux,phandle counts
    ASSERT_EQ(w.prop_u32("linux,phandle", 5), Status::ok);
    ASSERT_EQ(w.prop_string("compatible", "x,first"), Status::ok);
    ASSERT_EQ(w.prop_string("compatible", "x,second"), Status::ok);  // a duplicate: prop() returns the first
    ASSERT_EQ(w.begin_node("child"), Status::ok);
    ASSERT_EQ(w.prop_u32("phandle", 6), Status::ok);
    ASSERT_EQ(w.end_node(), Status::ok);
    ASSERT_EQ(w.prop_u32("phandle", 9), Status::ok);               // after a child: prop() does not see it
    ASSERT_EQ(w.prop_string("compatible", "x,late"), Status::ok);  // nor this
    ASSERT_EQ(w.end_node(), Status::ok);
    ASSERT_EQ(w.begin_node("b"), Status::ok);
    ASSERT_EQ(w.prop_u32("phandle", 5), Status::ok);  // the same phandle again: the first node wins
    ASSERT_EQ(w.prop_strings("compatible", std::array<const char*, 2>{"x,one", "x,two"}.data(), 2), Status::ok);
    ASSERT_EQ(w.end_node(), Status::ok);
    ASSERT_EQ(w.end_node(), Status::ok);
    Result<usize> size = w.finish();
    ASSERT_TRUE(size.ok());
    Reader r = Reader::open(buf.data(), size.value()).value();
    expect_index_matches_walks(r);
    const i32 a = r.find_path("/a"), b = r.find_path("/b"), child = r.find_path("/a/child");
    EXPECT_EQ(r.phandle(a), 5u);
    EXPECT_EQ(r.find_phandle(5), a);
    EXPECT_EQ(r.find_phandle(6), child);
    EXPECT_EQ(r.find_phandle(9), kNoNode);
    EXPECT_EQ(r.find_phandle(7), kNoNode);
    EXPECT_TRUE(r.has_compatible(a, "x,first"));
    EXPECT_FALSE(r.has_compatible(a, "x,second"));
    EXPECT_FALSE(r.has_compatible(a, "x,late"));
    EXPECT_EQ(r.find_compatible("x,two"), b);
    EXPECT_EQ(r.find_compatible("x,two", b), kNoNode);
    EXPECT_EQ(r.next_sibling(a), b);
    EXPECT_EQ(r.next_sibling(child), kNoNode);
    EXPECT_EQ(r.depth(child), 2);
    // A handle that is not a node of the tree: the same (walk) answers as without the index.
    const i32 bogus = a + 4;
    EXPECT_EQ(r.parent(bogus), r.unindexed().parent(bogus));
    EXPECT_EQ(r.depth(bogus), r.unindexed().depth(bogus));
}

// More nodes than the index holds: no index, the same answers by walks.
TEST(FdtReaderIndex, BigTreesAreReadWithoutIt) {
    std::vector<u8> buf(64 * 1024);
    Writer w(buf.data(), buf.size());
    ASSERT_EQ(w.begin_node(""), Status::ok);
    const usize n = Reader::kIndexNodes + 10;
    for (usize i = 0; i < n; ++i) {
        const std::string name = "n@" + std::to_string(i);
        ASSERT_EQ(w.begin_node(name.c_str()), Status::ok);
        ASSERT_EQ(w.prop_u32("phandle", static_cast<u32>(i + 1)), Status::ok);
        ASSERT_EQ(w.end_node(), Status::ok);
    }
    ASSERT_EQ(w.end_node(), Status::ok);
    Result<usize> size = w.finish();
    ASSERT_TRUE(size.ok());
    Reader r = Reader::open(buf.data(), size.value()).value();
    EXPECT_FALSE(r.indexed());
    const i32 last = r.find_phandle(static_cast<u32>(n));
    ASSERT_NE(last, kNoNode);
    EXPECT_STREQ(r.name(last), ("n@" + std::to_string(n - 1)).c_str());
    EXPECT_EQ(r.parent(last), r.root());
    EXPECT_EQ(r.depth(last), 1);
    EXPECT_EQ(r.next_sibling(last), kNoNode);

    // One node fewer than the limit's worth: indexed, and the same answers.
    std::vector<u8> buf2(64 * 1024);
    Writer w2(buf2.data(), buf2.size());
    ASSERT_EQ(w2.begin_node(""), Status::ok);
    for (usize i = 0; i + 1 < Reader::kIndexNodes; ++i) {
        const std::string name = "n@" + std::to_string(i);
        ASSERT_EQ(w2.begin_node(name.c_str()), Status::ok);
        ASSERT_EQ(w2.prop_u32("phandle", static_cast<u32>(i + 1)), Status::ok);
        ASSERT_EQ(w2.end_node(), Status::ok);
    }
    ASSERT_EQ(w2.end_node(), Status::ok);
    size = w2.finish();
    ASSERT_TRUE(size.ok());
    expect_index_matches_walks(Reader::open(buf2.data(), size.value()).value());
}
