// A VM moved to a host that cannot give it what it was promised fails to restore, before anything changes: the ID
// registers (VM-scoped entries of the register list, lowered but never raised), the PSCI version offered
// (`psci=`), the SMCCC_ARCH_WORKAROUND levels; the refusal names the register, the saved and the host's value.
// The streaming restore reads the stream once: a source that changes after the check cannot slip a value in.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>

#include "core/reglist/id_regs_class.hpp"
#include "tests/unit/support.hpp"
#include "tests/unit/system/vm_model.hpp"

using namespace hv;
using namespace hv::reglist;
using namespace hvsys;

namespace {

constexpr u32 kIsar0Key = arm::sysreg_key(3, 0, 0, 6, 0);
constexpr u64 kIsar0Id = sysreg_id(3, 0, 0, 6, 0) | kScopeVm;
constexpr u64 kPfr0Id = sysreg_id(3, 0, 0, 4, 0) | kScopeVm;
constexpr u64 kRndr = u64{0xf} << 60;

auto without_rndr = [](VmConfig& cfg) { cfg.host_ids[idreg::HostReg::isar0] &= ~kRndr; };

class VectorSource final : public SnapshotSource {
public:
    explicit VectorSource(std::vector<u8> b) : bytes(std::move(b)) {}
    u64 size() const override { return bytes.size(); }
    Status read(u64 offset, void* buf, usize n) override {
        if (offset > bytes.size() || n > bytes.size() - offset) return Status::out_of_range;
        memcpy(buf, bytes.data() + offset, n);
        if (++reads == flip_after) bytes[flip_at] ^= flip_xor;  // the file changes under the reader
        return Status::ok;
    }
    std::vector<u8> bytes;
    usize reads = 0, flip_after = 0, flip_at = 0;
    u8 flip_xor = 0;
};

Span<u8> scratch() {
    static std::vector<u8> buf(4096 * RecordStore::kEntrySize);
    return Span<u8>(buf.data(), buf.size());
}

// Offset of the value of record `id` in a saved stream.
usize value_offset(const std::vector<u8>& s, u64 id) {
    for (usize off = kSnapshotHeaderSize; off + 16 <= s.size(); off += 8) {
        u64 v = 0;
        memcpy(&v, s.data() + off, 8);
        if (v == id) return off + 8;
    }
    return 0;
}

}  // namespace

TEST(IdRegisters, AreVmScopedEntriesWithTheSanitisedHostValues) {
    VmModel vm;
    const std::vector<u64> ids = vm.list(Handle::vm());
    usize n = 0;
    for (u64 id : ids)
        if (without_scope(id) >= sysreg_id(3, 0, 0, 1, 0) && without_scope(id) <= sysreg_id(3, 0, 0, 7, 7)) ++n;
    EXPECT_EQ(n, IdRegisterClass::kCount);
    u64 v = 0;
    ASSERT_EQ(vm.cat.get_u64(Handle::vm(), kIsar0Id, v), Status::ok);
    EXPECT_EQ(v, kHostIsar0 & ~(u64{0xf} << 24));  // TME hidden (core/id_regs)
    EXPECT_EQ(vm.machine->id_regs().guest_value(kIsar0Key), v);
    // Through a vCPU handle too (KVM lists them per vCPU): the one VM copy.
    ASSERT_EQ(vm.cat.get_u64(Handle::for_vcpu(1), without_scope(kIsar0Id), v), Status::ok);
    EXPECT_EQ(v, kHostIsar0 & ~(u64{0xf} << 24));
}

TEST(IdRegisters, FewerFeaturesAcceptedMoreRefused) {
    VmModel vm;
    u64 v = 0;
    ASSERT_EQ(vm.cat.get_u64(Handle::vm(), kIsar0Id, v), Status::ok);
    // Lower RNDR: accepted, and the guest reads the lowered value.
    ASSERT_EQ(vm.cat.set_u64(Handle::vm(), kIsar0Id, v & ~kRndr), Status::ok);
    EXPECT_EQ(vm.machine->id_regs().guest_value(kIsar0Key), v & ~kRndr);
    // Raise it again to the host's: accepted. Above the host's (AES 2 -> 3): refused, nothing written.
    ASSERT_EQ(vm.cat.set_u64(Handle::vm(), kIsar0Id, v), Status::ok);
    EXPECT_EQ(vm.cat.set_u64(Handle::vm(), kIsar0Id, (v & ~u64{0xf0}) | 0x30), Status::invalid_argument);
    EXPECT_EQ(vm.machine->id_regs().guest_value(kIsar0Key), v);
    // Signed field (ID_AA64PFR0_EL1.FP): 0 (implemented) -> 0xF (not implemented) is fewer; 1 (FP16) is more.
    u64 pfr0 = 0;
    ASSERT_EQ(vm.cat.get_u64(Handle::vm(), kPfr0Id, pfr0), Status::ok);
    EXPECT_EQ(vm.cat.set_u64(Handle::vm(), kPfr0Id, pfr0 | (u64{0xf} << 16)), Status::ok);
    EXPECT_EQ(vm.cat.set_u64(Handle::vm(), kPfr0Id, (pfr0 & ~(u64{0xf} << 16)) | (u64{1} << 16)),
              Status::invalid_argument);
    // Fixed field (EL1 AArch64-only = 1): 0 is refused although lower.
    EXPECT_EQ(vm.cat.set_u64(Handle::vm(), kPfr0Id, pfr0 & ~u64{0xf0}), Status::invalid_argument);
    // An AArch32 register (RAZ here): only 0.
    EXPECT_EQ(vm.cat.set_u64(Handle::vm(), sysreg_id(3, 0, 0, 1, 0) | kScopeVm, 0x11), Status::invalid_argument);
    EXPECT_EQ(vm.cat.set_u64(Handle::vm(), sysreg_id(3, 0, 0, 1, 0) | kScopeVm, 0), Status::ok);
}

TEST(IdRegisters, FieldRulesNameTheFeature) {
    EXPECT_EQ(id_field_refused(kIsar0Key, kRndr, 0), 60);
    EXPECT_STREQ(id_field_name(kIsar0Key, 60), "RNDR");
    EXPECT_STREQ(id_reg_name(kIsar0Key), "ID_AA64ISAR0_EL1");
    EXPECT_EQ(id_field_refused(kIsar0Key, 0, kRndr), -1);
    EXPECT_EQ(id_reg_name(arm::sysreg_key(3, 0, 0, 3, 3)), nullptr);  // unallocated
}

TEST(Capabilities, SnapshotFromRicherHostIsRefusedBeforeAnythingChanges) {
    VmModel a;  // host with RNDR
    a.ram0[100] = 0x5a;
    ASSERT_EQ(a.cat.set_u64(Handle::for_vcpu(0), core_id(kSizeU64, 8 * 5), 0x55), Status::ok);
    const std::vector<u8> s = a.save();

    VmModel b(2, 1, 64, without_rndr);
    const std::vector<u8> before = b.save();
    VectorSource src(s);
    SnapshotInfo info;
    SnapshotRefusal why;
    EXPECT_EQ(snapshot_restore_stream(b.cat, src, info, &b.mem, scratch(), &why), Status::invalid_argument);
    EXPECT_FALSE(why.applying);
    EXPECT_EQ(why.id, kIsar0Id);
    EXPECT_EQ(why.vcpu, kSnapshotVmSection);
    EXPECT_STREQ(why.why.reg, "ID_AA64ISAR0_EL1");
    EXPECT_STREQ(why.why.feature, "RNDR");
    EXPECT_NE(why.saved & kRndr, 0u);
    EXPECT_TRUE(why.why.has_host);
    EXPECT_EQ(why.why.host & kRndr, 0u);
    EXPECT_TRUE(b.save() == before);  // nothing changed: registers and RAM
    // The buffer form too.
    SnapshotRefusal why2;
    EXPECT_EQ(snapshot_restore(b.cat, Span<const u8>(s.data(), s.size()), info, &b.mem, &why2),
              Status::invalid_argument);
    EXPECT_EQ(why2.id, kIsar0Id);
    EXPECT_TRUE(b.save() == before);

    // The other way round: a VM that saw fewer features restores on the richer host and keeps seeing fewer.
    VmModel c(2, 1, 64, without_rndr);
    const std::vector<u8> sc = c.save();
    VmModel d;
    VectorSource src2(sc);
    ASSERT_EQ(snapshot_restore_stream(d.cat, src2, info, &d.mem, scratch()), Status::ok) << hvtest::captured_log();
    EXPECT_EQ(d.machine->id_regs().guest_value(kIsar0Key) & kRndr, 0u);
}

TEST(Capabilities, PsciVersionAboveTheOfferIsRefused) {
    VmModel a;  // PSCI 1.1
    const std::vector<u8> s = a.save();
    VmModel b(2, 1, 64, [](VmConfig& cfg) { cfg.firmware.psci_version = psci::PsciVersion::v1_0; });
    const std::vector<u8> before = b.save();
    SnapshotInfo info;
    SnapshotRefusal why;
    EXPECT_EQ(snapshot_restore(b.cat, Span<const u8>(s.data(), s.size()), info, &b.mem, &why),
              Status::invalid_argument);
    EXPECT_EQ(why.id, psci::fwreg::kPsciVersion | kScopeVm);
    EXPECT_STREQ(why.why.reg, "KVM_REG_ARM_PSCI_VERSION");
    EXPECT_EQ(why.saved, 0x10001u);
    EXPECT_EQ(why.why.host, 0x10000u);
    EXPECT_TRUE(b.save() == before);
    // A 1.0 VM onto a 1.1 hypervisor: fine, and it stays 1.0.
    const std::vector<u8> s10 = b.save();
    VmModel c;
    ASSERT_EQ(c.restore(s10), Status::ok);
    EXPECT_EQ(c.fw.psci_version(), psci::PsciVersion::v1_0);
}

TEST(Capabilities, WorkaroundLevelAboveTheHostsIsRefused) {
    VmModel a;  // default host: NOT_REQUIRED everywhere
    const std::vector<u8> s = a.save();
    VmModel b(2, 1, 64, [](VmConfig& cfg) { cfg.firmware.host.wa1 = psci::wa::kWa1NotAvail; });
    SnapshotInfo info;
    SnapshotRefusal why;
    EXPECT_EQ(snapshot_restore(b.cat, Span<const u8>(s.data(), s.size()), info, &b.mem, &why),
              Status::invalid_argument);
    EXPECT_EQ(why.id, psci::fwreg::kWorkaround1 | kScopeVm);
    EXPECT_EQ(why.saved, psci::wa::kWa1NotRequired);
    EXPECT_EQ(why.why.host, psci::wa::kWa1NotAvail);
}

TEST(Capabilities, StreamIsReadOnceAValueChangedAfterTheCheckIsNotApplied) {
    VmModel a;
    a.ram0[3] = 0x77;
    const std::vector<u8> s = a.save();
    const usize at = value_offset(s, kIsar0Id);
    ASSERT_NE(at, 0u);
    u64 isar0 = 0;
    ASSERT_EQ(a.cat.get_u64(Handle::vm(), kIsar0Id, isar0), Status::ok);
    // The "file" changes after the reader's n-th read: ISAR0.RNDR becomes 2, more than this host has. Read before
    // the record, the change is refused and nothing changes; read after it, the checked value is what is applied
    // (a restore that read the stream again to apply it would fail half-way, RAM already overwritten).
    usize refused = 0, accepted = 0;
    for (usize after = 1; after < 12; ++after) {
        VmModel b;
        const std::vector<u8> before = b.save();
        VectorSource src(s);
        src.flip_after = after;
        src.flip_at = at + 7;
        src.flip_xor = 0x30;
        SnapshotInfo info;
        const Status st = snapshot_restore_stream(b.cat, src, info, &b.mem, scratch());
        if (st == Status::ok) {
            ++accepted;
            u64 v = 0;
            ASSERT_EQ(b.cat.get_u64(Handle::vm(), kIsar0Id, v), Status::ok);
            EXPECT_EQ(v, isar0);
            EXPECT_EQ(b.ram0[3], 0x77);
        } else {
            ++refused;
            EXPECT_EQ(st, Status::invalid_argument);
            EXPECT_TRUE(b.save() == before) << "after " << after;
        }
    }
    EXPECT_GT(refused, 0u);
    EXPECT_GT(accepted, 0u);
}

TEST(Capabilities, RecordBufferTooSmallIsRefusedBeforeAnythingChanges) {
    VmModel a;
    a.ram0[7] = 9;
    const std::vector<u8> s = a.save();
    VmModel b;
    const std::vector<u8> before = b.save();
    VectorSource src(s);
    SnapshotInfo info;
    std::vector<u8> small(16 * RecordStore::kEntrySize);
    EXPECT_EQ(snapshot_restore_stream(b.cat, src, info, &b.mem, Span<u8>(small.data(), small.size())),
              Status::no_memory);
    EXPECT_TRUE(b.save() == before);
}

TEST(Capabilities, GicdRevisionAndTyperAreCheckedBeforeAnythingChanges) {
    VmModel a;
    a.ram0[11] = 0x42;
    const std::vector<u8> s = a.save();
    const usize iidr_at = value_offset(s, vgic::gicd_id(0x8, 4) | kScopeVm);
    const usize typer_at = value_offset(s, vgic::gicd_id(0x4, 4) | kScopeVm);
    ASSERT_NE(iidr_at, 0u);
    ASSERT_NE(typer_at, 0u);
    struct Case {
        usize at;
        u8 x;
        const char* reg;
    } cases[] = {{iidr_at + 1, 0x70, "GICD_IIDR"},  // revision 3 -> 4
                 {typer_at, 0x01, "GICD_TYPER"}};   // another ITLinesNumber
    for (const Case& c : cases) {
        std::vector<u8> bad = s;
        bad[c.at] ^= c.x;
        VmModel b;
        const std::vector<u8> before = b.save();
        SnapshotInfo info;
        SnapshotRefusal why;
        EXPECT_EQ(snapshot_restore(b.cat, Span<const u8>(bad.data(), bad.size()), info, &b.mem, &why),
                  Status::invalid_argument);
        EXPECT_FALSE(why.applying);
        EXPECT_STREQ(why.why.reg, c.reg);
        EXPECT_TRUE(b.save() == before) << c.reg;
    }
}

TEST(Capabilities, PmuWithFewerCountersIsRefusedBeforeAnythingChanges) {
    VmModel a;  // PMUv3p5, 6 counters
    a.ram0[5] = 0x33;
    const std::vector<u8> s = a.save();
    VmModel b(2, 1, 64, [](VmConfig& cfg) {
        cfg.pmu = pmu::make_config(kHostDfr0, (kHostPmcr & ~(u64{0x1f} << 11)) | (u64{4} << 11));
    });
    const std::vector<u8> before = b.save();
    SnapshotInfo info;
    SnapshotRefusal why;
    EXPECT_EQ(snapshot_restore(b.cat, Span<const u8>(s.data(), s.size()), info, &b.mem, &why),
              Status::invalid_argument);
    EXPECT_FALSE(why.applying);
    EXPECT_NE(why.vcpu, kSnapshotVmSection);
    EXPECT_TRUE(b.save() == before);
}
