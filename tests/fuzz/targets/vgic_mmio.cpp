// fuzz_vgic_mmio: a byte stream decoded into guest accesses to the distributor and redistributor frames
// (offset, width, value, read/write, accessing vCPU), injections, SGI register writes, CPU-interface and
// save/restore accessors, and flush/fold rounds over the list registers in which a fake guest acknowledges and
// EOIs what it was given. Invariants after every flush: used LRs <= implemented LRs, unused LRs zero, every
// LR holds a valid INTID (implemented SGI/PPI/SPI or an LPI) with a non-zero state, no INTID twice in one vCPU's
// LRs, no SPI in the LRs of two vCPUs at once; every read of a valid width returns a value that fits it.
#include <cstring>
#include <vector>

#include "tests/fuzz/fuzz_ports.hpp"
#include "tests/fuzz/fuzz_support.hpp"
#include "vgic/vgic.hpp"

using namespace hv;
using namespace hv::vgic;
using hvfuzz::ByteStream;
using hvfuzz::NullKicker;

namespace {

constexpr u64 kRamBase = 0x40000000;
constexpr u64 kRamSize = 256 * KiB;  // LPI property (<= 56 KiB) and pending tables fit
constexpr u8 kWidths[] = {1, 2, 4, 8, 4, 8, 3, 16};
constexpr u32 kMaxOps = 4096;

// Tracks which physical INTIDs are masked so an unmask without a prior mask would show up (informational).
struct FakeHw final : HwIrqControl {
    void set_physical_masked(u32 pintid, bool) override { FUZZ_CHECK(pintid < kMaxIrqs); }
    void deactivate_physical(u32 pintid) override { FUZZ_CHECK(pintid < kMaxIrqs); }
};

// Guest RAM: a seed-chosen window of a fixed pseudo-random pool, copied in page by page on first access (the vGIC
// reads only the LPI property and pending tables the guest points it at; copying 256 KiB per input cost as much as
// the operations). The pool's 4 KiB pages have mixed densities -- all zero, or one byte in 256 / 64 / 16 random --
// so the guest can point PROPBASER at a dense page and PENDBASER at a sparse one, but no pending table holds more
// than ~2 K pending LPIs: a dense random one (28 K) made every flush and wakeup check walk them all, and such
// inputs (whose loop counters look new to libFuzzer every time) came to dominate the corpus.
class LazyRam final : public GuestMemory {
public:
    static constexpr u64 kPage = 4096;

    // Per input: RAM = pool[offset, offset + kRamSize).
    void reset(u64 offset) {
        offset_ = offset;
        std::memset(present_, 0, sizeof present_);
    }
    Status read(u64 gpa, void* dst, usize len) override {
        if (!contains(gpa, len)) return Status::out_of_range;
        if (len == 0) return Status::ok;
        std::memcpy(dst, at(gpa - kRamBase, len), len);
        return Status::ok;
    }
    Status write(u64 gpa, const void* src, usize len) override {
        if (!contains(gpa, len)) return Status::out_of_range;
        if (len == 0) return Status::ok;
        std::memcpy(at(gpa - kRamBase, len), src, len);
        return Status::ok;
    }
    bool contains(u64 gpa, usize len) const override {
        return gpa >= kRamBase && len <= kRamSize && gpa - kRamBase <= kRamSize - len;
    }

private:
    static constexpr u64 kPages = kRamSize / kPage;
    u8* at(u64 off, u64 len) {
        for (u64 p = off / kPage; p <= (off + len - 1) / kPage; ++p) {
            if (present_[p]) continue;
            std::memcpy(&ram_[p * kPage], &pool()[offset_ + p * kPage], kPage);
            present_[p] = true;
        }
        return &ram_[off];
    }
    static const std::vector<u8>& pool() {
        static const std::vector<u8> p = [] {
            std::vector<u8> v(2 * kRamSize);
            u32 x = 1;
            auto next = [&x] {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                return x;
            };
            static constexpr u32 kOneIn[] = {0, 256, 64, 16};  // 0: the page stays zero
            for (usize page = 0; page < v.size() / kPage; ++page) {
                const u32 one_in = kOneIn[next() % 4];
                for (usize i = 0; one_in != 0 && i < kPage; ++i)
                    if (next() % one_in == 0) v[page * kPage + i] = static_cast<u8>(next() % 255 + 1);
            }
            return v;
        }();
        return p;
    }
    u64 offset_ = 0;
    u8 ram_[kRamSize] = {};
    bool present_[kPages] = {};
};

struct World {
    LazyRam mem;
    NullKicker kicker;
    FakeHw hw;
    Vgic vgic;
    bool in_flight[kMaxVcpus] = {};
};

World& world() {
    static World* w = new World;
    return *w;
}

bool valid_width(u8 w) { return w == 1 || w == 2 || w == 4 || w == 8; }

void check_lrs(World& w, u32 nr_vcpus, u32 vcpu) {
    const VcpuIfState& s = w.vgic.cpu_if(vcpu);
    FUZZ_CHECK(s.nr_lrs >= 1 && s.nr_lrs <= kMaxLrs);
    FUZZ_CHECK(s.used_lrs <= s.nr_lrs);
    for (u32 i = s.used_lrs; i < kMaxLrs; ++i) FUZZ_CHECK(s.lr[i] == 0);
    for (u32 i = 0; i < s.used_lrs; ++i) {
        const u64 lr = s.lr[i];
        const u32 intid = static_cast<u32>(ich_lr::vINTID::get(lr));
        FUZZ_CHECK(ich_lr::State::get(lr) != 0);
        FUZZ_CHECK(intid < kMaxIntid);
        FUZZ_CHECK(intid < w.vgic.nr_irqs() || intid >= kLpiBase);
        FUZZ_CHECK(intid < 1020 || intid >= kLpiBase);
        if (ich_lr::HW::get(lr)) FUZZ_CHECK(intid < kLpiBase && ich_lr::pINTID::get(lr) < kMaxIrqs);
        for (u32 j = 0; j < i; ++j) FUZZ_CHECK(ich_lr::vINTID::get(s.lr[j]) != intid);
        // IHI0069H 4.4: an SPI is delivered to one PE at a time.
        if (intid >= kNumPrivate && intid < kLpiBase) {
            for (u32 other = 0; other < nr_vcpus; ++other) {
                if (other == vcpu || !w.in_flight[other]) continue;
                const VcpuIfState& o = w.vgic.cpu_if(other);
                for (u32 j = 0; j < o.used_lrs; ++j) FUZZ_CHECK(ich_lr::vINTID::get(o.lr[j]) != intid);
            }
        }
    }
}

// The fake guest: per LR, acknowledge (pending -> active), EOI (drop the active state) or leave it; it may also
// EOI interrupts that are not in an LR (ICH_HCR_EL2.EOIcount).
void guest_runs(World& w, u32 vcpu, ByteStream& in) {
    VcpuIfState& s = w.vgic.cpu_if(vcpu);
    for (u32 i = 0; i < s.used_lrs; ++i) {
        u64 lr = s.lr[i];
        u64 st = ich_lr::State::get(lr);
        switch (in.u8() % 4) {
            case 0:  // acknowledge
                if (st == ich_lr::kStatePending) st = ich_lr::kStateActive;
                break;
            case 1:  // EOI + deactivate
                st &= ~ich_lr::kStateActive;
                break;
            case 2:  // acknowledge and complete at once
                if (st == ich_lr::kStatePending) st = 0;
                break;
            default:
                break;
        }
        s.lr[i] = ich_lr::State::set(lr, st);
    }
    if (in.u8() % 8 == 0) s.hcr = ich_hcr::EOIcount::set(s.hcr, in.u8() % 4);
    s.elrsr = 0;
    for (u32 i = 0; i < s.used_lrs; ++i)
        if (ich_lr::State::get(s.lr[i]) == 0) s.elrsr |= u64{1} << i;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    hvfuzz::install_log_sink();
    ByteStream in(data, size);
    World& w = world();

    // Configuration: vCPUs, SPIs, list registers, and the RAM contents (LPI tables) from a seed.
    VgicConfig cfg;
    cfg.nr_vcpus = 1 + in.u8() % 4;
    cfg.nr_spis = 32 * (1 + in.u8() % 4);
    cfg.ich_vtr = ich_vtr::ListRegs::make(in.u8() % kMaxLrs) | ich_vtr::A3V::make(1) | ich_vtr::PREbits::make(4) |
                  ich_vtr::PRIbits::make(4);
    const u32 seed = in.u32();  // RAM: the window of the pool (LazyRam)
    w.mem.reset(u64{seed % (kRamSize / 8)} * 8);
    const bool with_hw = in.u8() & 1;
    FUZZ_CHECK(w.vgic.init(cfg, w.mem, w.kicker, with_hw ? &w.hw : nullptr) == Status::ok);
    const u32 n = cfg.nr_vcpus;
    for (bool& f : w.in_flight) f = false;

    for (u32 op = 0; op < kMaxOps && !in.empty(); ++op) {
        const u32 vcpu = in.u8() % (n + 1);  // n: an out-of-range vCPU index
        const u32 v = vcpu % n;              // a valid one
        switch (in.u8() % 14) {
            case 0:
            case 1:
            case 2: {  // distributor access
                MmioAccess a{vcpu, in.u16(), kWidths[in.u8() % 8], (in.u8() & 1) != 0};
                if (a.write) {
                    FUZZ_CHECK(w.vgic.distributor().mmio_write(a, in.u64()) == MmioResult::ok);
                } else {
                    u64 value = 0;
                    FUZZ_CHECK(w.vgic.distributor().mmio_read(a, value) == MmioResult::ok);
                    if (valid_width(a.width) && a.width < 8) FUZZ_CHECK(value >> (8 * a.width) == 0);
                }
                break;
            }
            case 3:
            case 4:
            case 5: {  // redistributor access (anywhere in the region, plus a little beyond)
                const u64 off = (u64{in.u8() % (n + 1)} * kRedistStride + (in.u32() % (kRedistStride + 0x100)));
                MmioAccess a{vcpu, off, kWidths[in.u8() % 8], (in.u8() & 1) != 0};
                if (a.write) {
                    (void)w.vgic.redistributors().mmio_write(a, in.u64());
                } else {
                    u64 value = 0;
                    if (w.vgic.redistributors().mmio_read(a, value) == MmioResult::ok && valid_width(a.width) &&
                        a.width < 8)
                        FUZZ_CHECK(value >> (8 * a.width) == 0);
                }
                break;
            }
            case 6: {  // device input
                const u32 intid = in.u16() % 1100;
                if (in.u8() & 1)
                    ignore_status(w.vgic.set_level(intid, vcpu, in.u8() & 1));
                else
                    ignore_status(w.vgic.inject_edge(intid, vcpu));
                break;
            }
            case 7: {  // trapped SGI register writes
                const SgiKind kinds[] = {SgiKind::sgi1r, SgiKind::asgi1r, SgiKind::sgi0r};
                w.vgic.sgi_write(vcpu, in.u64(), kinds[in.u8() % 3]);
                break;
            }
            case 8:  // entry
                w.vgic.flush(v, w.vgic.cpu_if(v));
                w.in_flight[v] = true;
                check_lrs(w, n, v);
                break;
            case 9:  // the guest ran; exit
                guest_runs(w, v, in);
                w.vgic.fold(v, w.vgic.cpu_if(v));
                w.in_flight[v] = false;
                (void)w.vgic.has_pending_for_wakeup(v);
                break;
            case 10: {  // CPU interface registers (KVM's CPU_SYSREGS group) and the guest's VMCR
                const IccReg reg = static_cast<IccReg>(in.u8() % 15);
                u64 value = in.u64();
                if (in.u8() & 1)
                    ignore_status(w.vgic.icc_write(vcpu, reg, value));
                else
                    ignore_status(w.vgic.icc_read(vcpu, reg, value));
                if (in.u8() % 4 == 0) w.vgic.cpu_if(v).vmcr = in.u64();
                break;
            }
            case 11: {  // save/restore accessors with arbitrary offsets/widths
                const u64 off = in.u16();
                const u8 width = kWidths[in.u8() % 8];
                u64 value = in.u64();
                u32 bits = 0;
                switch (in.u8() % 6) {
                    case 0:
                        ignore_status(w.vgic.dist_save_read(off, width, value));
                        break;
                    case 1:
                        ignore_status(w.vgic.dist_restore_write(off, width, value));
                        break;
                    case 2:
                        ignore_status(w.vgic.redist_save_read(vcpu, off | (in.u8() & 1 ? 0x10000 : 0), width, value));
                        break;
                    case 3:
                        ignore_status(
                            w.vgic.redist_restore_write(vcpu, off | (in.u8() & 1 ? 0x10000 : 0), width, value));
                        break;
                    case 4:
                        ignore_status(w.vgic.line_level_read(vcpu, in.u16(), bits));
                        break;
                    default:
                        ignore_status(w.vgic.line_level_write(vcpu, in.u16(), static_cast<u32>(value)));
                        break;
                }
                break;
            }
            case 12: {  // what the ITS does through LpiSink (it validates vCPU and INTID width)
                const u32 intid = kLpiBase + in.u16() % kNumLpis;
                switch (in.u8() % 5) {
                    case 0:
                        w.vgic.set_lpi_pending(v, intid, in.u8() & 1);
                        break;
                    case 1:
                        (void)w.vgic.lpi_pending(v, intid);
                        break;
                    case 2:
                        w.vgic.invalidate_lpi(v, intid);
                        break;
                    case 3:
                        w.vgic.invalidate_all_lpis(v);
                        break;
                    default:
                        w.vgic.move_all_lpis(v, in.u8() % n);
                        break;
                }
                break;
            }
            default: {  // hardware links, save of pending tables, reset
                switch (in.u8() % 8) {
                    case 0:
                    case 1:
                        ignore_status(w.vgic.map_hw(vcpu, in.u16() % 1100, in.u16() % 1100));
                        break;
                    case 2:
                        ignore_status(w.vgic.unmap_hw(vcpu, in.u16() % 1100));
                        break;
                    case 3:  // save needs stopped, folded vCPUs
                        for (u32 i = 0; i < n; ++i) {
                            w.vgic.fold(i, w.vgic.cpu_if(i));
                            w.in_flight[i] = false;
                        }
                        ignore_status(w.vgic.save_pending_tables());
                        break;
                    case 4:
                        w.vgic.reset();
                        for (bool& f : w.in_flight) f = false;
                        break;
                    default:
                        (void)w.vgic.lpi_config(in.u32());
                        break;
                }
                break;
            }
        }
    }
    return 0;
}
