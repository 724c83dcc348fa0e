// fuzz_snapshot: byte streams fed to the whole-VM snapshot reader and restore over a VM model (2 vCPUs, firmware,
// vGIC, one ITS, two RAM regions, wired as tests/unit/system/vm_model.hpp does). Input byte 0 selects the mode:
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

#include "core/reglist/catalogue.hpp"
#include "core/reglist/id_regs_class.hpp"
#include "core/reglist/pmu_regs.hpp"
#include "core/reglist/vcpu_regs.hpp"
#include "its/its.hpp"
#include "its/reglist_class.hpp"
#include "psci/fw_registers.hpp"
#include "tests/fuzz/fuzz_ports.hpp"
#include "tests/fuzz/fuzz_support.hpp"
#include "vgic/reglist_class.hpp"

using namespace hv;
using hvfuzz::ByteStream;
using hvfuzz::FixedClock;
using hvfuzz::NullKicker;

namespace {

constexpr u32 kVcpus = 2;
constexpr u64 kRam0 = 0x40000000;
constexpr u64 kRam0Size = 64 * KiB;
constexpr u64 kRam1 = 0x80000000;
constexpr u64 kRam1Size = 128 * KiB;  // the ITS device and collection tables: 64 KiB pages (Page_Size is read-only)

struct Platform final : psci::FirmwarePlatform {
    u32 vcpu_count() const override { return kVcpus; }
    u64 vcpu_mpidr(u32 v) const override { return 0x80000000ull | v; }
    Status start_vcpu(u32, u64, u64) override { return Status::ok; }
    bool random64(u64& out) override {
        out = 0x1234567887654321ull;
        return true;
    }
};

struct Vm {
    Vm()
        : ids(host_ids(), 40),
          contexts(ctx, kVcpus),
          core(contexts),
          sys(contexts, clock),
          pmu(contexts, pmu::make_config(u64{6} << 8, 0x41013000)),
          fwc(fw),
          cat(kVcpus) {
        FUZZ_CHECK(mem.add_region(kRam0, kRam0Size, ram0) == Status::ok);
        FUZZ_CHECK(mem.add_region(kRam1, kRam1Size, ram1) == Status::ok);
        FUZZ_CHECK(fw.init(platform, mem, psci::FirmwareConfig{}) == Status::ok);
        vgic::VgicConfig cfg;
        cfg.nr_vcpus = kVcpus;
        cfg.nr_spis = 64;
        FUZZ_CHECK(vgic.init(cfg, mem, kicker, nullptr) == Status::ok);
        vgic_regs.emplace(vgic, cfg.ich_vtr);  // members, not heap objects: see LLVMFuzzerTestOneInput
        its.emplace(mem, vgic);
        its_regs.emplace(*its, 0);
        its_check.emplace(kVcpus);  // the dry run of the ITS tables (as build_vm)
        its_regs->set_restore_check(&*its_check);
        FUZZ_CHECK(cat.add(ids) == Status::ok);  // the VM's ID registers: SET refuses features the host lacks
        FUZZ_CHECK(cat.add(core) == Status::ok);
        FUZZ_CHECK(cat.add(sys) == Status::ok);
        FUZZ_CHECK(cat.add(pmu) == Status::ok);  // QEMU 7.2's PMU: PMUv3p5, 6 counters (SET validation)
        FUZZ_CHECK(cat.add(fwc) == Status::ok);
        FUZZ_CHECK(vgic_regs->add_to(cat) == Status::ok);
        FUZZ_CHECK(cat.add(*its_regs) == Status::ok);
        cat.reset_all();
    }
    std::vector<u8> save() {
        std::vector<u8> buf;
        save_into(buf);
        return buf;
    }
    // Saves into `buf`, reusing its storage (a save is ~200 KiB: a fresh allocation per save cost page faults).
    void save_into(std::vector<u8>& buf) {
        reglist::SnapshotInfo info;
        info.vcpu_count = kVcpus;
        usize used = 0;
        buf.resize(buf.capacity());
        Status s = reglist::snapshot_save(cat, info, Span<u8>(buf.data(), buf.size()), used, &mem);
        if (s == Status::out_of_range) {
            buf.resize(used);
            s = reglist::snapshot_save(cat, info, Span<u8>(buf.data(), buf.size()), used, &mem);
        }
        FUZZ_CHECK(s == Status::ok && used <= buf.size());
        buf.resize(used);
    }
    void mmio(MmioHandler& h, u64 off, u64 v, u8 width = 4, u32 vcpu = 0) {
        FUZZ_CHECK(h.mmio_write(MmioAccess{vcpu, off, width, true}, v) == MmioResult::ok);
    }

    alignas(4096) u8 ram0[kRam0Size] = {};
    alignas(4096) u8 ram1[kRam1Size] = {};
    RegionGuestMemory mem;
    Platform platform;
    psci::Firmware fw;
    FixedClock clock;
    static idreg::HostIdRegs host_ids() {
        idreg::HostIdRegs h;
        h[idreg::HostReg::isar0] = 0x1221111110212120ull;  // QEMU 7.2 -cpu max
        h[idreg::HostReg::pfr0] = 0x0100000001000011ull;
        h[idreg::HostReg::mmfr0] = 0x5;
        return h;
    }
    reglist::IdRegisterClass ids;
    VcpuContext ctx[kVcpus];
    reglist::ArrayVcpuContexts contexts;
    reglist::CoreRegisterClass core;
    reglist::SysRegisterClass sys;
    reglist::PmuRegisterClass pmu;
    psci::FirmwareRegisterClass fwc;
    NullKicker kicker;
    vgic::Vgic vgic;
    std::optional<vgic::VgicRegisterClasses> vgic_regs;
    std::optional<its::Its> its;
    std::optional<its::ItsRegisterClass> its_regs;
    std::optional<its::ItsRestoreCheck> its_check;
    reglist::RegisterCatalogue cat;
};

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

// A VM with state in every class: registers, distributor/redistributor settings, LPIs on, an ITS with a
// device, events and collections (so the snapshot carries ITS tables and pending tables in RAM).
const std::vector<u8>& reference_snapshot() {
    static const std::vector<u8> snap = [] {
        auto vm = std::make_unique<Vm>();
        vm->ctx[0].core.x[0] = 0x1122334455667788ull;
        vm->ctx[1].core.pc = 0x40001000;
        auto& d = vm->vgic.distributor();
        auto& r = vm->vgic.redistributors();
        vm->mmio(d, 0x0, 0x13);              // GICD_CTLR: ARE, both groups
        vm->mmio(d, 0x104, 0xff00ff);        // ISENABLER1
        vm->mmio(d, 0x204, 0x10001);         // ISPENDR1
        vm->mmio(d, 0x420, 0xa0a0a0a0);      // IPRIORITYR8
        vm->mmio(d, 0x6100 + 33 * 8, 1, 8);  // IROUTER33 -> vCPU 1
        for (u32 c = 0; c < kVcpus; ++c) {
            const u64 rd = c * vgic::kRedistStride;
            vm->mmio(r, rd + 0x14, 0);                                 // GICR_WAKER: awake
            vm->mmio(r, rd + 0x70, kRam0 + 0x8000 | 13, 8);            // PROPBASER: IDbits 14
            vm->mmio(r, rd + 0x78, (kRam0 + 0xa000 + c * 0x1000), 8);  // PENDBASER
            vm->mmio(r, rd + 0x10100, 0x8000ffff);                     // ISENABLER0
            vm->mmio(r, rd + 0x0, 1);                                  // EnableLPIs
        }
        std::memset(vm->ram0 + 0x8000, 0xa1, 64);  // LPI 8192..8255 enabled, priority 0xa0
        its::Its& its = *vm->its;
        vm->mmio(its, its::reg(its::GitsReg::CBASER), its::cbaser::Valid::make(1) | kRam0, 8);
        const u64 page64k = its::baser::PageSize::make(its::baser::kPage64K);
        vm->mmio(its, its::reg(its::GitsReg::BASER0),
                 its::baser::Valid::make(1) | page64k | its::baser::PhysicalAddress::make(kRam1 >> 12), 8);
        vm->mmio(its, its::reg(its::GitsReg::BASER0) + 8,
                 its::baser::Valid::make(1) | page64k | its::baser::PhysicalAddress::make((kRam1 + 0x10000) >> 12), 8);
        vm->mmio(its, its::reg(its::GitsReg::CTLR), 1);
        const its::Command cmds[] = {its::Command::mapc(0, 0, true),
                                     its::Command::mapc(1, 1, true),
                                     its::Command::mapd(3, kRam0 + 0x3000, 3, true),
                                     its::Command::mapti(3, 0, 8192, 0),
                                     its::Command::mapti(3, 5, 8200, 1),
                                     its::Command::event_cmd(its::Opcode::INT, 3, 5)};
        std::memcpy(vm->ram0, cmds, sizeof cmds);
        vm->mmio(its, its::reg(its::GitsReg::CWRITER), sizeof cmds, 8);
        FUZZ_CHECK(its.ite_count() == 2);
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

    // Every input starts from a fresh VM, in storage that lives across inputs (building them in new allocations
    // cost more than the checks: page faults of ~0.5 MiB per VM under ASan). A fresh VM is deterministic
    // (FixedClock, fixed platform), so its save is computed once: `fresh` is the state every input starts from.
    // Most inputs are refused before anything is applied, and the check below proves such a VM still saves as
    // `fresh` (registers and RAM); it is rebuilt only after an input that changed it (building one -- the ITS's
    // tables, the catalogue -- cost a fifth of every input).
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
    if (vm_changed) vm_storage.emplace();
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
    Vm* vm2 = &vm2_storage.emplace();
    // (snapshot_restore validates first: ok means the save validates too.)
    FUZZ_CHECK(reglist::snapshot_restore(vm2->cat, Span<const u8>(again.data(), again.size()), info2, &vm2->mem) ==
               Status::ok);
    vm2->save_into(third);
    FUZZ_CHECK(third == again);
    return 0;
}
