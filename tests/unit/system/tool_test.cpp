// tools/snapshot (hv-snapshot) over real snapshots of the whole-VM model: list, validate, diff.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <sys/wait.h>

#include "tests/unit/support.hpp"
#include "tests/unit/system/vm_model.hpp"

using namespace hv;
using namespace hvsys;

namespace {

const std::string kTool = std::string(HV_BINARY_DIR) + "/tools/snapshot/hv-snapshot";

struct ToolRun {
    int rc;
    std::string out;
};
ToolRun run(const std::string& args) {
    ToolRun r{-1, {}};
    FILE* p = popen((kTool + " " + args + " 2>&1").c_str(), "r");
    if (!p) return r;
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
    int st = pclose(p);
    r.rc = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    return r;
}
std::string write_tmp(const std::string& name, const std::vector<u8>& bytes) {
    std::string path = ::testing::TempDir() + "hv-snapshot-" + name;
    std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    return path;
}
usize count_lines(const std::string& s, const std::string& prefix) {
    usize n = 0, pos = 0;
    while ((pos = s.find("\n" + prefix, pos)) != std::string::npos) {
        ++n;
        ++pos;
    }
    return n;
}

}  // namespace

TEST(SnapshotTool, ListValidateDiff) {
    hvtest::install_log_capture();
    VmModel a(2);
    ASSERT_EQ(a.cat.set_u64(reglist::Handle::vm(), vgic::gicd_id(0, 4), 3), Status::ok);
    const auto s1 = a.save();
    const std::string f1 = write_tmp("a", s1);

    ToolRun l = run("list " + f1);
    ASSERT_EQ(l.rc, 0) << l.out;
    EXPECT_NE(l.out.find("vcpus 2"), std::string::npos) << l.out;
    EXPECT_EQ(count_lines(l.out, "vm "), a.list(reglist::Handle::vm()).size());
    EXPECT_EQ(count_lines(l.out, "vcpu1 "), a.list(reglist::Handle::for_vcpu(1)).size());
    EXPECT_NE(l.out.find("gits"), std::string::npos);
    EXPECT_NE(l.out.find("ram1  gpa 0x80000000 size 0x10000"), std::string::npos) << l.out;

    ToolRun v = run("validate " + f1);
    EXPECT_EQ(v.rc, 0) << v.out;
    EXPECT_NE(v.out.find("OK"), std::string::npos);

    // Same state -> no differences; then one register and RAM changed.
    EXPECT_EQ(run("diff " + f1 + " " + f1).rc, 0);
    VmModel b(2);
    ASSERT_EQ(b.restore(s1), Status::ok);
    ASSERT_EQ(b.cat.set_u64(reglist::Handle::for_vcpu(1), reglist::core_id(reglist::kSizeU64, 0), 0x1234), Status::ok);
    b.ram1[0x20] = 0x5a;
    const std::string f2 = write_tmp("b", b.save());
    ToolRun d = run("diff " + f1 + " " + f2);
    EXPECT_EQ(d.rc, 1) << d.out;
    EXPECT_NE(d.out.find("~ vcpu1  0x6030000000100000 core"), std::string::npos) << d.out;
    EXPECT_NE(d.out.find("-> 0x0000000000001234"), std::string::npos) << d.out;
    EXPECT_NE(d.out.find("ram1: 1 bytes differ, first at gpa 0x80000020"), std::string::npos) << d.out;
    EXPECT_NE(d.out.find("2 differences"), std::string::npos) << d.out;

    // Corrupt: truncated, bad magic, a VM-scoped ID moved into a vCPU section.
    auto bad = s1;
    bad.resize(bad.size() - 8);
    ToolRun t = run("validate " + write_tmp("trunc", bad));
    EXPECT_EQ(t.rc, 1);
    EXPECT_NE(t.out.find("INVALID (corrupt)"), std::string::npos) << t.out;
    bad = s1;
    bad[0] ^= 0xff;
    EXPECT_EQ(run("validate " + write_tmp("magic", bad)).rc, 1);
    bad = s1;
    // First record of vCPU 0's section: after the header, the VM section and vCPU 0's section header.
    const usize vm_records = a.list(reglist::Handle::vm()).size();
    const usize first_vcpu_record = 48 + 16 + vm_records * 16 + 16;
    bad[first_vcpu_record + 3] |= 0x10;  // set bit 28 of the ID
    ToolRun sc = run("validate " + write_tmp("scope", bad));
    EXPECT_EQ(sc.rc, 1);
    EXPECT_NE(sc.out.find("wrong section"), std::string::npos) << sc.out;
    EXPECT_EQ(run("validate /nonexistent/file").rc, 2);
    EXPECT_EQ(run("frobnicate").rc, 2);
}
