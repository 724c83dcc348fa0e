// tools/snapshot (hv-snapshot) over real snapshots of the whole-VM model: list, validate, diff.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>

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

TEST(SnapshotTool, ListNamesEveryRegister) {
    VmModel a(2);
    const std::string f = write_tmp("names", a.save());
    ToolRun l = run("list " + f);
    ASSERT_EQ(l.rc, 0) << l.out;
    for (const char* name :
         {"KVM ID", "ID_AA64ISAR0_EL1", "KVM_REG_ARM_PSCI_VERSION", "KVM_REG_ARM_SMCCC_ARCH_WORKAROUND_1", " x0 ",
          " pc ", " v31 ", " fpcr ", "SCTLR_EL1", "TIMER_CNT", "GICD+0x8"})
        EXPECT_NE(l.out.find(name), std::string::npos) << name;
    // The ID register line: VM scope, its KVM ID (scope bit set), name and value.
    EXPECT_NE(l.out.find("vm     0x603000001013c030 sysreg       ID_AA64ISAR0_EL1"), std::string::npos) << l.out;
}

TEST(SnapshotTool, ExportAsOlderRevision) {
    hvtest::install_log_capture();
    VmModel a(2);  // PSCI 1.1, GICD_IIDR revision 3
    const std::vector<u8> s = a.save();
    const std::string f = write_tmp("exp-in", s);

    // PSCI 1.1 -> 1.0: restores on a psci=1.0 hypervisor, which refuses the original.
    const std::string f10 = ::testing::TempDir() + "hv-snapshot-exp-psci10";
    ToolRun e = run("export --psci 1.0 " + f + " " + f10);
    ASSERT_EQ(e.rc, 0) << e.out;
    ToolRun d = run("diff " + f + " " + f10);
    EXPECT_NE(d.out.find("KVM_REG_ARM_PSCI_VERSION 0x0000000000010001 -> 0x0000000000010000"), std::string::npos)
        << d.out;
    EXPECT_NE(d.out.find("1 difference"), std::string::npos) << d.out;
    auto psci10 = [](VmConfig& cfg) { cfg.firmware.psci_version = psci::PsciVersion::v1_0; };
    VmModel old_hv(2, 1, 64, psci10);
    EXPECT_EQ(old_hv.restore(s), Status::invalid_argument);
    std::ifstream in(f10, std::ios::binary);
    const std::vector<u8> exported((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    ASSERT_EQ(old_hv.restore(exported), Status::ok) << hvtest::captured_log();
    EXPECT_EQ(old_hv.fw.psci_version(), psci::PsciVersion::v1_0);

    // GICD_IIDR revision 3 -> 2: GICR_CTLR loses CES/IR; the restored vGIC reports revision 2.
    const std::string fr2 = ::testing::TempDir() + "hv-snapshot-exp-rev2";
    ASSERT_EQ(run("export --gicd-rev 2 " + f + " " + fr2).rc, 0);
    std::ifstream in2(fr2, std::ios::binary);
    const std::vector<u8> rev2((std::istreambuf_iterator<char>(in2)), std::istreambuf_iterator<char>());
    VmModel b(2);
    ASSERT_EQ(b.restore(rev2), Status::ok) << hvtest::captured_log();
    u64 iidr = 0, ctlr = 0;
    ASSERT_EQ(b.cat.get_u64(reglist::Handle::vm(), vgic::gicd_id(0x8, 4) | reglist::kScopeVm, iidr), Status::ok);
    EXPECT_EQ((iidr >> 12) & 0xf, 2u);
    ASSERT_EQ(b.cat.get_u64(reglist::Handle::for_vcpu(0), vgic::gicr_id(0, 4), ctlr), Status::ok);
    EXPECT_EQ(ctlr & 0x6, 0u);

    // Not representable: refused with the reason, no file written.
    const std::string no = ::testing::TempDir() + "hv-snapshot-exp-no";
    std::remove(no.c_str());
    ToolRun r01 = run("export --psci 0.1 " + f + " " + no);
    EXPECT_EQ(r01.rc, 1);
    EXPECT_NE(r01.out.find("cannot export: PSCI 0x1: a VM that saw 0x10001 uses other function IDs"), std::string::npos)
        << r01.out;
    ToolRun rnew = run("export --gicd-rev 4 " + f + " " + no);
    EXPECT_EQ(rnew.rc, 1);
    EXPECT_NE(rnew.out.find("GICD_IIDR revision 4 is newer than the saved 3"), std::string::npos) << rnew.out;
    ToolRun r1 = run("export --gicd-rev 1 " + f + " " + no);
    EXPECT_EQ(r1.rc, 1);
    EXPECT_NE(r1.out.find("interrupt groups are not configurable"), std::string::npos) << r1.out;
    EXPECT_FALSE(std::ifstream(no).good());
    EXPECT_EQ(run("export " + f + " " + no).rc, 2);  // nothing to export
}
