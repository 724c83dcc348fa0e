// The streaming snapshot transport (core/reglist/snapshot.hpp: SnapshotSink / SnapshotSource): the bytes equal
// the buffer form, RAM is written in bounded chunks (no RAM-sized buffer), a stream restores into fresh objects,
// and every refusal leaves the destination untouched.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>

#include "tests/unit/support.hpp"
#include "tests/unit/system/vm_model.hpp"

using namespace hv;
using namespace hv::reglist;
using namespace hvsys;

namespace {

class VectorSink final : public SnapshotSink {
public:
    Status write(const void* data, usize n) override {
        if (fail_after >= 0 && static_cast<i64>(bytes.size() + n) > fail_after) return Status::no_memory;
        const u8* p = static_cast<const u8*>(data);
        bytes.insert(bytes.end(), p, p + n);
        largest = std::max(largest, n);
        ++writes;
        return Status::ok;
    }
    std::vector<u8> bytes;
    usize largest = 0;
    usize writes = 0;
    i64 fail_after = -1;
};

class VectorSource final : public SnapshotSource {
public:
    explicit VectorSource(std::vector<u8> b) : bytes(std::move(b)) {}
    u64 size() const override { return bytes.size(); }
    Status read(u64 offset, void* buf, usize n) override {
        ++reads;
        if (fail_reads || offset > bytes.size() || n > bytes.size() - offset) return Status::no_memory;
        memcpy(buf, bytes.data() + offset, n);
        return Status::ok;
    }
    std::vector<u8> bytes;
    usize reads = 0;
    bool fail_reads = false;
};

// The restore's record buffer (RecordStore).
Span<u8> scratch() {
    static std::vector<u8> buf(64 * 1024 * RecordStore::kEntrySize / 32);
    return Span<u8>(buf.data(), buf.size());
}

// Some state in every kind of place: core, sysreg, RAM of both regions, a vGIC register.
void build_state(VmModel& vm) {
    for (u32 v = 0; v < vm.vcpus; ++v) {
        ASSERT_EQ(vm.cat.set_u64(Handle::for_vcpu(v), core_id(kSizeU64, 8 * 5), 0x1111 * (v + 1)), Status::ok);
        ASSERT_EQ(vm.cat.set_u64(Handle::for_vcpu(v), sysreg_id(3, 0, 13, 0, 4), 0xabc0 + v), Status::ok);  // TPIDR_EL1
    }
    for (usize i = 0; i < vm.ram0.size(); i += 4093) vm.ram0[i] = static_cast<u8>(i * 7 + 3);
    for (usize i = 0; i < vm.ram1.size(); i += 17) vm.ram1[i] = static_cast<u8>(i ^ 0x5a);
    ASSERT_EQ(vm.cat.set_u64(Handle::vm(), vgic::gicd_id(0x400 + 32, 4) | kScopeVm, 0xa0a0a0a0), Status::ok);
}

std::vector<u8> save_stream(VmModel& vm, VectorSink& sink) {
    SnapshotInfo info;
    info.vcpu_count = vm.vcpus;
    u64 written = 0;
    EXPECT_EQ(snapshot_save_stream(vm.cat, info, sink, &vm.mem, written), Status::ok);
    EXPECT_EQ(written, sink.bytes.size());
    return sink.bytes;
}

}  // namespace

TEST(SnapshotStream, BytesEqualTheBufferFormAndRamGoesInBoundedChunks) {
    VmModel a(2);
    build_state(a);
    VectorSink sink;
    const std::vector<u8> streamed = save_stream(a, sink);
    const std::vector<u8> buffered = a.save();
    EXPECT_TRUE(streamed == buffered);
    u64 size = 0;
    ASSERT_EQ(snapshot_stream_size(a.cat, &a.mem, size), Status::ok);
    EXPECT_EQ(size, buffered.size());
    // 2 MiB + 64 KiB of RAM: never one write of a whole region.
    EXPECT_LE(sink.largest, usize{1} << 20);
    EXPECT_GE(sink.writes, 3u);
    struct Count final : SnapshotVisitor {
        Status ram_region(u32, u64, u64 size, u64) override {
            total += size;
            ++n;
            return Status::ok;
        }
        u64 total = 0;
        u32 n = 0;
    } count;
    VectorSource src(streamed);
    ASSERT_EQ(snapshot_parse_stream(src, count), Status::ok);
    EXPECT_EQ(count.n, 2u);
    EXPECT_EQ(count.total, kRam0Size + kRam1Size);
}

TEST(SnapshotStream, RestoreFromSourceIntoFreshObjects) {
    VmModel a(3);
    build_state(a);
    VectorSink sink;
    const std::vector<u8> s1 = save_stream(a, sink);

    VmModel b(3);
    VectorSource src(s1);
    SnapshotInfo info;
    ASSERT_EQ(snapshot_restore_stream(b.cat, src, info, &b.mem, scratch()), Status::ok) << hvtest::captured_log();
    EXPECT_EQ(info.vcpu_count, 3u);
    EXPECT_EQ(a.ram0, b.ram0);
    EXPECT_EQ(a.ram1, b.ram1);
    u64 x5 = 0;
    ASSERT_EQ(b.cat.get_u64(Handle::for_vcpu(2), core_id(kSizeU64, 8 * 5), x5), Status::ok);
    EXPECT_EQ(x5, 0x3333u);
    VectorSink sink2;
    EXPECT_TRUE(save_stream(b, sink2) == s1);
    // The source was read through a small window, not byte by byte (records 512 bytes at a time in each of the
    // parse, validate and apply passes; RAM in large chunks).
    EXPECT_LT(src.reads, 300u);
}

TEST(SnapshotStream, RefusalsChangeNothing) {
    VmModel a(2);
    build_state(a);
    VectorSink sink;
    const std::vector<u8> good = save_stream(a, sink);

    auto expect_refused = [&](std::vector<u8> bytes, u32 vcpus, Status want, bool other_ram = false) {
        VmModel b(vcpus);
        RegionGuestMemory other;
        ASSERT_EQ(other.add_region(kRam0, kRam0Size / 2, b.ram0.data()), Status::ok);
        VectorSource src(std::move(bytes));
        SnapshotInfo info;
        EXPECT_EQ(snapshot_restore_stream(b.cat, src, info, other_ram ? &other : &b.mem, scratch()), want);
        EXPECT_TRUE(std::all_of(b.ram0.begin(), b.ram0.end(), [](u8 c) { return c == 0; }));
        EXPECT_TRUE(std::all_of(b.ram1.begin(), b.ram1.end(), [](u8 c) { return c == 0; }));
        u64 x5 = 1;
        EXPECT_EQ(b.cat.get_u64(Handle::for_vcpu(0), core_id(kSizeU64, 8 * 5), x5), Status::ok);
        EXPECT_EQ(x5, 0u);
    };
    expect_refused(good, 3, Status::invalid_argument);        // vCPU count
    expect_refused(good, 2, Status::invalid_argument, true);  // memory layout
    std::vector<u8> bad = good;
    bad[0] ^= 1;  // magic
    expect_refused(bad, 2, Status::corrupt);
    bad = good;
    bad.resize(bad.size() - 8);  // truncated
    expect_refused(bad, 2, Status::corrupt);
    bad = good;
    bad[bad.size() - 17] = 1;  // RAM padding / last bytes before END
    VmModel probe(2);
    VectorSource src(bad);
    SnapshotInfo info;
    // Either a non-zero pad byte (corrupt) or a RAM byte (accepted): the last region is 64 KiB, no padding, so
    // this one is a RAM byte and the stream stays valid.
    EXPECT_EQ(snapshot_validate_stream(probe.cat, src, info, &probe.mem), Status::ok);
    bad = good;
    {
        const u64 unknown = kArchArm64 | kSizeU64 | kScopeVm | (u64{0xfff} << kClassShift);
        memcpy(&bad[kSnapshotHeaderSize + kSnapshotSectionSize], &unknown, 8);  // first record's ID: unknown
    }
    expect_refused(bad, 2, Status::not_found);
}

TEST(SnapshotStream, TransportErrorsAreReturned) {
    VmModel a(2);
    build_state(a);
    VectorSink failing;
    failing.fail_after = 100000;  // inside RAM
    SnapshotInfo info;
    info.vcpu_count = 2;
    u64 written = 0;
    EXPECT_EQ(snapshot_save_stream(a.cat, info, failing, &a.mem, written), Status::no_memory);

    VectorSink sink;
    const std::vector<u8> good = save_stream(a, sink);
    VmModel b(2);
    VectorSource src(good);
    src.fail_reads = true;
    EXPECT_EQ(snapshot_restore_stream(b.cat, src, info, &b.mem, scratch()), Status::corrupt);
    EXPECT_TRUE(std::all_of(b.ram0.begin(), b.ram0.end(), [](u8 c) { return c == 0; }));
}
