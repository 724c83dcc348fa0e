// fuzz_snapshot: byte streams fed to the whole-VM snapshot reader and restore over a VM model (tests/fuzz/
// snapshot_vm.hpp: 1 vCPU, firmware, vGIC with 32 SPIs, one ITS, two RAM regions). Input byte 0 selects the mode:
// even = the rest of the input is the stream; odd = a valid snapshot of a VM with live vGIC/ITS state, patched
// by (offset, xor) pairs from the input and optionally truncated (reaches deep into restore).
// Invariants: no crash / sanitizer report; the buffer and streaming validators agree; a refused stream (refused by
// the checks before anything is applied: structure, IDs, every value by a dry-run SET, each ITS's records replayed
// on a scratch ITS over the image's tables) leaves the VM's registers and RAM exactly as they were (checked by a save
// whenever a record was reached); nothing is
// refused once the restore started applying (atomic restore); a stream the destination accepts can be saved again, that
// save validates, restores into a fresh VM and saves byte-identically.
#include "core/reglist/snapshot.hpp"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <vector>

#include "tests/fuzz/fuzz_support.hpp"
#include "tests/fuzz/snapshot_vm.hpp"

using namespace hv;
using namespace hvfuzz::snapshot_vm;
using hvfuzz::ByteStream;

namespace {

// Records and RAM sections the parser hands a visitor before it stops.
class RecordCount final : public reglist::SnapshotVisitor {
public:
    Status record(u32, u64, Span<const u8>) override {
        ++n;
        return Status::ok;
    }
    Status ram_region(u32, u64, u64, u64) override {
        ++n;
        return Status::ok;
    }
    usize n = 0;
};

class SpanSource final : public reglist::SnapshotSource {
public:
    explicit SpanSource(Span<const u8> s) : s_(s) {}
    u64 size() const override { return s_.size(); }
    Status read(u64 offset, void* buf, usize n) override {
        if (offset > s_.size() || n > s_.size() - offset) return Status::out_of_range;
        std::memcpy(buf, s_.data() + offset, n);
        return Status::ok;
    }

private:
    Span<const u8> s_;
};

// The reference snapshot: a VM with state in every class (make_live).
const std::vector<u8>& reference_snapshot() {
    static const std::vector<u8> snap = [] {
        auto vm = std::make_unique<Vm>();
        make_live(*vm);
        return vm->save();
    }();
    return snap;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    hvfuzz::install_log_sink();
    const std::vector<u8>& ref = reference_snapshot();
    ByteStream in(data, size);
    static std::vector<u8> stream;  // reused storage: the patched snapshot is ~200 KiB
    stream.clear();
    if (in.u8() & 1) {
        stream = ref;
        const u32 patches = in.u8() % 16;
        for (u32 i = 0; i < patches; ++i) {
            const u32 off = in.u32() % static_cast<u32>(stream.size());
            stream[off] ^= in.u8();
        }
        if (in.u8() % 8 == 0) stream.resize(in.u32() % (stream.size() + 1));
    } else if (size > 1) {
        stream.assign(data + 1, data + size);
    }
    const Span<const u8> s(stream.data(), stream.size());

    // Every input starts from a fresh VM: two long-lived VMs, reset (Vm::reset) after an input that changed them.
    // Building them in new allocations cost more than the checks (page faults of ~0.5 MiB per VM under ASan), and
    // building them again in place -- the ITS's tables, the catalogue -- a fifth of every input; the unit test
    // SnapshotFuzzVm.ResetIsIndistinguishableFromFresh shows a reset VM saves and restores exactly as a built one.
    // A fresh VM is deterministic (FixedClock, fixed platform), so its save is computed once: `fresh` is the state
    // every input starts from. Most inputs are refused before anything is applied, and the check below proves such
    // a VM still saves as `fresh` (registers and RAM).
    static std::optional<Vm> vm_storage, vm2_storage;
    static std::vector<u8> fresh, after, again, third;
    static bool vm_changed = true;
    if (fresh.empty()) {
        vm_storage.emplace();
        vm_storage->save_into(fresh);
        vm2_storage.emplace();
        vm2_storage->save_into(after);
        FUZZ_CHECK(after == fresh);  // two fresh VMs save identically
    }
    if (vm_changed) vm_storage->reset();
    vm_changed = true;  // until the refusal check below shows it is not
    Vm* vm = &*vm_storage;
    reglist::SnapshotInfo info_stream;
    SpanSource src(s);
    const Status v_stream = reglist::snapshot_validate_stream(vm->cat, src, info_stream, &vm->mem);

    // A refusal (anything found before the restore starts applying) changes nothing: registers and RAM.
    reglist::SnapshotInfo info;
    reglist::SnapshotRefusal why;
    const Status restored = reglist::snapshot_restore(vm->cat, s, info, &vm->mem, &why);
    // snapshot_restore runs snapshot_validate (the buffer validator) before applying anything and returns its
    // refusal with `applying` clear, so the buffer validator's answer is read off the restore (calling it on its
    // own as well was a whole validation pass per input): ok if the restore started applying.
    const Status v_buf = restored != Status::ok && !why.applying ? restored : Status::ok;
    FUZZ_CHECK(v_buf == v_stream);
    if (restored != Status::ok && !why.applying) {
        // A stream refused before its first record (or RAM section) reached no register class: only the parser
        // and the header's vCPU count ran, so there is nothing a save could show (most raw streams end there).
        RecordCount reached;
        (void)reglist::snapshot_parse(s, reached);
        if (reached.n > 0) {
            vm->save_into(after);
            FUZZ_CHECK(after == fresh);
        }
        vm_changed = false;
    }
    // Atomic restore: the dry run covers every record (values, the ITS registers' order and the tables in the RAM
    // image, the ICC values), so nothing is refused once applying started (that would leave a half-restored VM).
    if (restored != Status::ok && why.applying)
        std::fprintf(stderr, "snapshot: record %#llx refused while applying (%s)\n",
                     static_cast<unsigned long long>(why.id), status_name(restored));
    FUZZ_CHECK(restored == Status::ok || !why.applying);
    if (std::getenv("HV_FUZZ_LOG"))
        std::fprintf(stderr, "snapshot: %zu bytes, validate %s, restore %s\n", stream.size(), status_name(v_buf),
                     status_name(restored));
    if (v_buf != Status::ok) FUZZ_CHECK(restored == v_buf);  // validation failures change nothing and are reported
    if (restored != Status::ok) return 0;

    // Accepted: it must save again, and that save must be a fixed point of restore + save.
    vm->save_into(again);
    reglist::SnapshotInfo info2;
    Vm* vm2 = &*vm2_storage;
    vm2->reset();  // (every round trip changes it)
    // (snapshot_restore validates first: ok means the save validates too.)
    FUZZ_CHECK(reglist::snapshot_restore(vm2->cat, Span<const u8>(again.data(), again.size()), info2, &vm2->mem) ==
               Status::ok);
    vm2->save_into(third);
    FUZZ_CHECK(third == again);
    return 0;
}
