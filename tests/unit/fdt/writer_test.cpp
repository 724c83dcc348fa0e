#include "core/fdt/writer.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "core/fdt/reader.hpp"
#include "tests/unit/fdt/fdt_test_util.hpp"

using namespace hv;
using namespace hv::fdt;

namespace {

// Builds a small tree exercising every property helper.
Status build_sample(Writer& w) {
    HV_TRY(w.add_reservation(0x40000000, 0x200000));
    HV_TRY(w.begin_node(""));
    HV_TRY(w.prop_u32("#address-cells", 2));
    HV_TRY(w.prop_u32("#size-cells", 2));
    static const char* const compat[] = {"acme,board", "acme,family"};
    HV_TRY(w.prop_strings("compatible", compat, 2));
    HV_TRY(w.begin_node("memory@40000000"));
    HV_TRY(w.prop_string("device_type", "memory"));
    const Writer::AddrSize reg[2] = {{0x40000000, 0x10000000}, {0x100000000ull, 0x80000000ull}};
    HV_TRY(w.prop_reg("reg", 2, 2, reg, 2));
    HV_TRY(w.end_node());
    HV_TRY(w.begin_node("dev@1000"));
    HV_TRY(w.prop_empty("flag"));
    HV_TRY(w.prop_u64("big", 0x1122334455667788ull));
    const u32 cells[3] = {1, 2, 3};
    HV_TRY(w.prop_cells("cells", cells, 3));
    const u8 bytes[5] = {9, 8, 7, 6, 5};
    HV_TRY(w.prop("bytes", bytes, 5));
    HV_TRY(w.begin_node("child"));
    HV_TRY(w.prop_u32("x", 7));
    HV_TRY(w.end_node());
    HV_TRY(w.end_node());
    return w.end_node();
}

}  // namespace

TEST(FdtWriter, RoundTripsThroughReader) {
    std::vector<u8> buf(4096, 0xcc);
    Writer w(buf.data(), buf.size());
    ASSERT_EQ(build_sample(w), Status::ok);
    Result<usize> n = w.finish();
    ASSERT_TRUE(n.ok());
    Result<Reader> rr = Reader::open(buf.data(), n.value());
    ASSERT_TRUE(rr.ok()) << status_name(rr.status());
    const Reader& r = rr.value();
    EXPECT_EQ(r.total_size(), n.value());
    ASSERT_EQ(r.reservation_count(), 1u);
    u64 a = 0, s = 0;
    ASSERT_EQ(r.reservation(0, a, s), Status::ok);
    EXPECT_EQ(a, 0x40000000u);
    EXPECT_EQ(s, 0x200000u);

    EXPECT_TRUE(r.has_compatible(r.root(), "acme,family"));
    const i32 mem = r.find_path("/memory");
    ASSERT_NE(mem, kNoNode);
    ASSERT_EQ(r.reg_count(mem), 2u);
    ASSERT_EQ(r.read_reg(mem, 1, a, s), Status::ok);
    EXPECT_EQ(a, 0x100000000ull);
    EXPECT_EQ(s, 0x80000000ull);
    const i32 dev = r.find_path("/dev@1000");
    ASSERT_NE(dev, kNoNode);
    EXPECT_TRUE(r.has_prop(dev, "flag"));
    EXPECT_EQ(r.prop_u64(dev, "big").value(), 0x1122334455667788ull);
    EXPECT_EQ(r.prop_u32(dev, "cells", 2).value(), 3u);
    Span<const u8> b = r.prop(dev, "bytes");
    ASSERT_EQ(b.size(), 5u);
    EXPECT_EQ(b[4], 5);
    EXPECT_EQ(r.prop_u32(r.find_path("/dev@1000/child"), "x").value(), 7u);
}

TEST(FdtWriter, DtcAcceptsOutput) {
    if (!fdttest::have_dtc()) GTEST_SKIP() << "dtc not installed";
    std::vector<u8> buf(4096);
    Writer w(buf.data(), buf.size());
    ASSERT_EQ(build_sample(w), Status::ok);
    Result<usize> n = w.finish();
    ASSERT_TRUE(n.ok());
    int rc = -1;
    std::string dts = fdttest::dtc_decompile(buf.data(), n.value(), rc);
    EXPECT_EQ(rc, 0) << dts;
    EXPECT_NE(dts.find("/memreserve/\t0x0000000040000000 0x0000000000200000;"), std::string::npos) << dts;
    EXPECT_NE(dts.find("compatible = \"acme,board\\0acme,family\";"), std::string::npos) << dts;
    EXPECT_NE(dts.find("reg = <0x00 0x40000000 0x00 0x10000000 0x01 0x00 0x00 0x80000000>;"), std::string::npos) << dts;
    EXPECT_NE(dts.find("big = <0x11223344 0x55667788>;"), std::string::npos) << dts;
    EXPECT_NE(dts.find("bytes = [09 08 07 06 05];"), std::string::npos) << dts;
    EXPECT_NE(dts.find("flag;"), std::string::npos) << dts;
}

TEST(FdtWriter, DeduplicatesPropertyNames) {
    std::vector<u8> buf(2048);
    Writer w(buf.data(), buf.size());
    ASSERT_EQ(w.begin_node(""), Status::ok);
    for (int i = 0; i < 20; ++i) {
        char name[16];
        snprintf(name, sizeof name, "n%d", i);
        ASSERT_EQ(w.begin_node(name), Status::ok);
        ASSERT_EQ(w.prop_u32("same-name", static_cast<u32>(i)), Status::ok);
        ASSERT_EQ(w.end_node(), Status::ok);
    }
    ASSERT_EQ(w.end_node(), Status::ok);
    Result<usize> n = w.finish();
    ASSERT_TRUE(n.ok());
    EXPECT_EQ(load_be32(buf.data() + 32), std::strlen("same-name") + 1);  // size_dt_strings
}

TEST(FdtWriter, BufferFullIsAStickyStatus) {
    for (usize cap : {0u, 100u, 200u, 256u, 300u, 400u}) {
        std::vector<u8> buf(cap + 1, 0xee);
        Writer w(cap ? buf.data() : nullptr, cap);
        Status s = build_sample(w);
        Result<usize> n = w.finish();
        EXPECT_FALSE(n.ok()) << cap;
        EXPECT_EQ(n.status(), Status::no_memory) << cap;
        if (s != Status::ok) {
            EXPECT_EQ(s, Status::no_memory);
        }
        EXPECT_EQ(buf[cap], 0xee) << "wrote past the buffer at cap " << cap;
    }
    // Exactly the needed size works; one byte less fails.
    std::vector<u8> big(4096);
    Writer w0(big.data(), big.size());
    ASSERT_EQ(build_sample(w0), Status::ok);
    Result<usize> total = w0.finish();
    ASSERT_TRUE(total.ok());
    bool found_fail = false, found_ok = false;
    for (usize cap = total.value() - 8; cap < total.value() + 200; cap += 4) {
        std::vector<u8> b(cap);
        Writer w(b.data(), cap);
        Status s = build_sample(w);
        Result<usize> n = w.finish();
        if (n.ok()) {
            found_ok = true;
            EXPECT_EQ(s, Status::ok);
            EXPECT_EQ(n.value(), total.value());
            EXPECT_EQ(std::memcmp(b.data(), big.data(), n.value()), 0);
        } else {
            found_fail = true;
        }
    }
    EXPECT_TRUE(found_fail);
    EXPECT_TRUE(found_ok);
}

TEST(FdtWriter, RejectsMisuse) {
    std::vector<u8> buf(1024);
    {
        Writer w(buf.data(), buf.size());
        EXPECT_EQ(w.prop_u32("x", 1), Status::bad_order);  // property outside any node
        EXPECT_EQ(w.finish().status(), Status::bad_order);
    }
    {
        Writer w(buf.data(), buf.size());
        ASSERT_EQ(w.begin_node(""), Status::ok);
        EXPECT_EQ(w.add_reservation(0, 0x1000), Status::bad_order);  // too late
    }
    {
        Writer w(buf.data(), buf.size());
        ASSERT_EQ(w.begin_node(""), Status::ok);
        EXPECT_EQ(w.finish().status(), Status::bad_order);  // root still open
    }
    {
        Writer w(buf.data(), buf.size());
        EXPECT_EQ(w.end_node(), Status::bad_order);
    }
    {
        Writer w(buf.data(), buf.size());
        ASSERT_EQ(w.begin_node(""), Status::ok);
        EXPECT_EQ(w.begin_node(""), Status::invalid_argument);  // only the root may be unnamed
    }
    {
        Writer w(buf.data(), buf.size());
        ASSERT_EQ(w.begin_node(""), Status::ok);
        ASSERT_EQ(w.end_node(), Status::ok);
        EXPECT_EQ(w.begin_node("second-root"), Status::bad_order);
    }
    {
        Writer w(buf.data(), buf.size());
        ASSERT_EQ(w.begin_node(""), Status::ok);
        const Writer::AddrSize e{0x100000000ull, 1};
        EXPECT_EQ(w.prop_reg("reg", 1, 1, &e, 1), Status::out_of_range);  // does not fit one cell
    }
    {
        Writer w(buf.data(), buf.size());
        ASSERT_EQ(w.begin_node(""), Status::ok);
        Status s = Status::ok;
        for (usize i = 0; i < kMaxDepth + 1 && s == Status::ok; ++i) s = w.begin_node("d");
        EXPECT_EQ(s, Status::out_of_range);
    }
}

TEST(FdtWriter, CopyNodeReemitsSubtreeWithFilter) {
    auto host = fdttest::load_data("qemu-virt-smp4.dtb");
    Result<Reader> hr = Reader::open(host.data(), host.size());
    ASSERT_TRUE(hr.ok());
    const Reader& h = hr.value();
    const i32 gic = h.find_compatible("arm,gic-v3");
    ASSERT_NE(gic, kNoNode);

    struct Ctx {
        int props = 0;
    } ctx;
    CopyFilter f;
    f.ctx = &ctx;
    f.property = [](void* c, const Reader&, i32, const Property& p, Writer& w) {
        static_cast<Ctx*>(c)->props++;
        if (std::strcmp(p.name, "phandle") == 0) {
            ignore_status(w.prop_u32("phandle", 0x77));
            return CopyAction::handled;
        }
        if (std::strcmp(p.name, "interrupts") == 0) return CopyAction::drop;
        return CopyAction::keep;
    };

    std::vector<u8> buf(4096);
    Writer w(buf.data(), buf.size());
    ASSERT_EQ(w.begin_node(""), Status::ok);
    ASSERT_EQ(w.prop_u32("#address-cells", 2), Status::ok);
    ASSERT_EQ(w.prop_u32("#size-cells", 2), Status::ok);
    ASSERT_EQ(copy_node(h, gic, w, &f), Status::ok);
    ASSERT_EQ(copy_node(h, h.find_compatible("arm,armv8-timer"), w, nullptr, "renamed-timer"), Status::ok);
    ASSERT_EQ(w.end_node(), Status::ok);
    Result<usize> n = w.finish();
    ASSERT_TRUE(n.ok());
    Result<Reader> rr = Reader::open(buf.data(), n.value());
    ASSERT_TRUE(rr.ok());
    const Reader& r = rr.value();
    const i32 g = r.find_path("/intc@8000000");
    ASSERT_NE(g, kNoNode);
    EXPECT_EQ(r.phandle(g), 0x77u);
    EXPECT_FALSE(r.has_prop(g, "interrupts"));
    EXPECT_TRUE(r.has_prop(g, "interrupt-controller"));
    const i32 its = r.find_path("/intc@8000000/its@8080000");
    ASSERT_NE(its, kNoNode);
    EXPECT_EQ(r.phandle(its), 0x77u);
    EXPECT_TRUE(r.has_prop(its, "msi-controller"));
    u64 a, s;
    ASSERT_EQ(r.read_reg(its, 0, a, s), Status::ok);
    EXPECT_EQ(a, 0x08080000u);
    // The GIC node has 10 properties, its ITS child 5.
    EXPECT_EQ(ctx.props, 15);
    const i32 t = r.find_path("/renamed-timer");
    ASSERT_NE(t, kNoNode);
    EXPECT_EQ(r.prop(t, "interrupts").size(), 48u);
    EXPECT_EQ(r.next_sibling(t), kNoNode);  // the copy did not run into the host node's siblings
}

TEST(FdtWriter, CopyNodeSkipsFilteredChildren) {
    auto host = fdttest::load_data("qemu-virt-smp4.dtb");
    Result<Reader> hr = Reader::open(host.data(), host.size());
    ASSERT_TRUE(hr.ok());
    const Reader& h = hr.value();
    CopyFilter f;
    f.child = [](void*, const Reader& r, i32 c) {
        return std::strncmp(r.name(c), "cpu@", 4) == 0 && std::strcmp(r.name(c), "cpu@1") != 0;
    };
    std::vector<u8> buf(4096);
    Writer w(buf.data(), buf.size());
    ASSERT_EQ(w.begin_node(""), Status::ok);
    ASSERT_EQ(copy_node(h, h.find_path("/cpus"), w, &f), Status::ok);
    ASSERT_EQ(w.end_node(), Status::ok);
    Result<usize> n = w.finish();
    ASSERT_TRUE(n.ok());
    Result<Reader> rr = Reader::open(buf.data(), n.value());
    ASSERT_TRUE(rr.ok());
    const Reader& r = rr.value();
    std::string names;
    for (i32 c = r.first_child(r.find_path("/cpus")); c != kNoNode; c = r.next_sibling(c))
        names += std::string(r.name(c)) + " ";
    EXPECT_EQ(names, "cpu@0 cpu@2 cpu@3 ");
}
