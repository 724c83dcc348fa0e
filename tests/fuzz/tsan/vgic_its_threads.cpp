// tsan_vgic_its: the vGIC and a virtual ITS driven concurrently by several threads the way the hypervisor drives them
// from its pCPUs, built with -fsanitize=thread (a data race, a lock-order inversion or a deadlock report fails the
// run). One thread per vCPU loops over: distributor / redistributor MMIO (enables, priorities, pending, routing,
// GICR_CTLR), SPI and PPI line changes and edges (device interrupts, hardware-linked timers), SGI register writes,
// and entry/exit rounds (flush -> a fake guest acknowledges / EOIs the list registers -> the IRQ exits' direct
// flushes (flush_live) -> fold -> WFI check). vCPU 0 also owns the ITS command queue (MAPD / MAPC / MAPTI / MOVI /
// DISCARD / INV / SYNC written to guest RAM and pushed with CWRITER) and one more thread plays the devices' MSIs
// (signal_msi = GITS_TRANSLATER writes and the host-LPI path). Usage: tsan_vgic_its [seconds] (default 3). Exit
// status 0 and a count of operations per thread when clean.
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <thread>
#include <vector>

#include "core/guest_memory.hpp"
#include "its/its.hpp"
#include "its/its_command.hpp"
#include "its/its_regs.hpp"
#include "lib/log.hpp"
#include "vgic/regs.hpp"
#include "vgic/vgic.hpp"

using namespace hv;
using namespace hv::its;
using namespace hv::vgic;

extern "C" void hv_host_spin_yield() { std::this_thread::yield(); }

namespace hv {
[[noreturn]] void panic(const char* fmt, ...) {
    std::fprintf(stderr, "HYPERVISOR PANIC: %s\n", fmt);
    std::abort();
}
}  // namespace hv

namespace {

constexpr u32 kVcpus = 4;
constexpr u64 kRamBase = 0x40000000;
constexpr u64 kRamSize = 8 * MiB;
constexpr u64 kQueue = kRamBase;  // 64 KiB command queue (16 x 4 KiB)
constexpr u64 kQueueBytes = 16 * 4096;
constexpr u64 kDevTable = kRamBase + 0x100000;  // 64 KiB pages
constexpr u64 kCollTable = kRamBase + 0x200000;
constexpr u64 kProp = kRamBase + 0x300000;  // LPI configuration table
constexpr u64 kPend = kRamBase + 0x400000;  // + 64 KiB per vCPU
constexpr u64 kItts = kRamBase + 0x600000;  // 4 KiB per device
constexpr u32 kDevices = 8, kEvents = 32;

struct Kicker final : VcpuKicker {
    std::atomic<u64> kicks{0};
    void kick(u32) override { kicks.fetch_add(1, std::memory_order_relaxed); }
};

struct World {
    std::vector<u8> ram = std::vector<u8>(kRamSize, 0);
    RegionGuestMemory mem;
    Kicker kicker;
    Vgic vgic;
    std::unique_ptr<its::Its> its;
};

void check(bool ok, const char* what) {
    if (!ok) {
        std::fprintf(stderr, "tsan_vgic_its: setup failed: %s\n", what);
        std::exit(2);
    }
}

u64 baser_value(u64 addr) {
    return baser::Valid::make(1) | baser::PageSize::make(baser::kPage64K) | baser::PhysicalAddress::make(addr >> 12);
}

void setup(World& w) {
    check(w.mem.add_region(kRamBase, kRamSize, w.ram.data()) == Status::ok, "RAM");
    vgic::VgicConfig cfg;
    cfg.nr_vcpus = kVcpus;
    cfg.nr_spis = 64;
    check(w.vgic.init(cfg, w.mem, w.kicker, nullptr) == Status::ok, "vgic init");
    w.its = std::make_unique<its::Its>(w.mem, w.vgic, nullptr);
    // LPIs 8192.. enabled at priority 0xa0 on every redistributor.
    for (u32 i = 0; i < 1024; ++i) w.ram[kProp - kRamBase + i] = 0xa0 | 1;
    auto gicr = [&](u32 v, u64 off, u64 val) {
        check(w.vgic.redistributors().mmio_write(MmioAccess{v, v * vgic::kRedistStride + off, 8, true}, val) ==
                  MmioResult::ok,
              "gicr write");
    };
    for (u32 v = 0; v < kVcpus; ++v) {
        gicr(v, vgic::off(vgic::GicrReg::PROPBASER), kProp | 13);  // 14 ID bits
        gicr(v, vgic::off(vgic::GicrReg::PENDBASER), kPend + v * 0x10000);
        gicr(v, vgic::off(vgic::GicrReg::WAKER), 0);
        gicr(v, vgic::off(vgic::GicrReg::CTLR), 1);  // EnableLPIs
    }
    // GICD_CTLR: affinity routing + group 1.
    check(w.vgic.distributor().mmio_write(MmioAccess{0, 0, 4, true}, 0x12) == MmioResult::ok, "gicd ctlr");
    auto gits = [&](u64 off, u64 val, u8 width) {
        check(w.its->mmio_write(MmioAccess{0, off, width, true}, val) == MmioResult::ok, "gits write");
    };
    gits(reg(GitsReg::CBASER), cbaser::Valid::make(1) | kQueue | 15, 8);
    gits(reg(GitsReg::BASER0), baser_value(kDevTable), 8);
    gits(reg(GitsReg::BASER0) + 8, baser_value(kCollTable), 8);
    gits(reg(GitsReg::CTLR), 1, 4);
    check(w.its->enabled(), "its enable");
}

// vCPU 0's command queue writer: a few commands at a time, then CWRITER.
struct CommandWriter {
    World& w;
    u64 cwriter = 0;
    void put(const Command& c) {
        std::memcpy(&w.ram[kQueue - kRamBase + cwriter], &c, sizeof c);
        cwriter = (cwriter + 32) % kQueueBytes;
    }
    void kick() { (void)w.its->mmio_write(MmioAccess{0, reg(GitsReg::CWRITER), 8, true}, cwriter); }
};

void fake_guest(VcpuIfState& s, std::mt19937_64& rng) {
    for (u32 i = 0; i < s.used_lrs; ++i) {
        u64 st = vgic::ich_lr::State::get(s.lr[i]);
        switch (rng() % 3) {
            case 0:
                if (st == vgic::ich_lr::kStatePending) st = vgic::ich_lr::kStateActive;
                break;
            case 1:
                st &= ~vgic::ich_lr::kStateActive;
                break;
            default:
                break;
        }
        s.lr[i] = vgic::ich_lr::State::set(s.lr[i], st);
    }
    s.elrsr = 0;
    for (u32 i = 0; i < s.used_lrs; ++i)
        if (vgic::ich_lr::State::get(s.lr[i]) == 0) s.elrsr |= u64{1} << i;
}

void vcpu_thread(World& w, u32 v, std::atomic<bool>& stop, u64& ops) {
    std::mt19937_64 rng(0x9e3779b97f4a7c15ull * (v + 1));
    CommandWriter q{w};
    if (v == 0) {
        for (u32 c = 0; c < kVcpus; ++c) q.put(Command::mapc(c, c, true));
        for (u32 d = 0; d < kDevices; ++d) q.put(Command::mapd(d, kItts + d * 0x1000, 4, true));  // 32 events
        q.put(Command::sync(0));
        q.kick();
    }
    while (!stop.load(std::memory_order_relaxed)) {
        ++ops;
        u64 r = rng();
        switch (r % 10) {
            case 0: {  // distributor: enable / pend / priority / route an SPI
                u32 spi = 32 + static_cast<u32>((r >> 8) % 64);
                u64 offs[] = {0x100 + (spi / 32) * 4, 0x200 + (spi / 32) * 4, 0x280 + (spi / 32) * 4};
                u64 off = offs[(r >> 16) % 3];
                (void)w.vgic.distributor().mmio_write(MmioAccess{v, off, 4, true}, u64{1} << (spi % 32));
                (void)w.vgic.distributor().mmio_write(MmioAccess{v, 0x6000 + spi * 8, 8, true}, (r >> 24) % kVcpus);
                (void)w.vgic.distributor().mmio_write(MmioAccess{v, 0x400 + spi, 1, true}, (r >> 32) & 0xf0);
                break;
            }
            case 1: {  // own redistributor: SGI/PPI enables and priorities
                u64 base = v * vgic::kRedistStride + vgic::kFrameSize;
                (void)w.vgic.redistributors().mmio_write(MmioAccess{v, base + 0x100, 4, true}, r >> 32);
                (void)w.vgic.redistributors().mmio_write(MmioAccess{v, base + 0x400 + (r >> 8) % 32, 1, true}, 0x80);
                u64 val = 0;
                (void)w.vgic.redistributors().mmio_read(MmioAccess{v, base + 0x200, 4, false}, val);
                break;
            }
            case 2: {  // device lines
                u32 intid =
                    (r >> 8) % 2 ? 32 + static_cast<u32>((r >> 16) % 64) : 16 + static_cast<u32>((r >> 16) % 16);
                (void)w.vgic.set_level(intid, v, (r >> 40) & 1);
                if ((r >> 41) & 1) (void)w.vgic.inject_edge(intid, v);
                break;
            }
            case 3: {  // SGI to another vCPU (ICC_SGI1R_EL1: TargetList bit, INTID)
                u64 target = (r >> 8) % kVcpus;
                w.vgic.sgi_write(v, (u64{1} << target) | (((r >> 16) % 16) << 24), SgiKind::sgi1r);
                break;
            }
            case 4:
            case 5:
            case 6: {  // entry / exit
                VcpuIfState& s = w.vgic.cpu_if(v);
                w.vgic.flush(v, s);
                fake_guest(s, rng);
                // IRQ exits of the fast path in between: the direct flush on the LRs as the guest left them.
                for (u64 k = (r >> 8) % 3; k > 0; --k) {
                    (void)w.vgic.flush_live(v, s);
                    fake_guest(s, rng);
                }
                w.vgic.fold(v, s);
                (void)w.vgic.has_pending_for_wakeup(v);
                break;
            }
            case 7:
                if (v == 0) {  // ITS commands
                    u32 dev = static_cast<u32>((r >> 8) % kDevices), ev = static_cast<u32>((r >> 16) % kEvents);
                    u32 col = static_cast<u32>((r >> 24) % kVcpus);
                    switch ((r >> 32) % 5) {
                        case 0:
                            q.put(Command::mapti(dev, ev, 8192 + dev * kEvents + ev, col));
                            break;
                        case 1:
                            q.put(Command::movi(dev, ev, col));
                            break;
                        case 2:
                            q.put(Command::event_cmd(Opcode::DISCARD, dev, ev));
                            break;
                        case 3:
                            q.put(Command::event_cmd(Opcode::INV, dev, ev));
                            break;
                        default:
                            q.put(Command::sync(col));
                            break;
                    }
                    q.kick();
                } else {  // redistributor reads of another vCPU's frame (GICR_TYPER, CTLR)
                    u64 val = 0;
                    u32 other = static_cast<u32>((r >> 8) % kVcpus);
                    (void)w.vgic.redistributors().mmio_read(MmioAccess{v, other * vgic::kRedistStride + 8, 8, false},
                                                            val);
                }
                break;
            case 8: {  // ICC registers of the own CPU interface
                u64 val = 0;
                (void)w.vgic.icc_read(v, static_cast<vgic::IccReg>((r >> 8) % 15), val);
                break;
            }
            default: {  // GICD reads
                u64 val = 0;
                (void)w.vgic.distributor().mmio_read(MmioAccess{v, (r >> 8) % 0x800 & ~u64{3}, 4, false}, val);
                break;
            }
        }
    }
}

std::atomic<u64> g_msis_translated{0};

void msi_thread(World& w, std::atomic<bool>& stop, u64& ops) {
    std::mt19937_64 rng(42);
    while (!stop.load(std::memory_order_relaxed)) {
        ++ops;
        u64 r = rng();
        if (w.its->signal_msi(static_cast<u32>(r % kDevices), static_cast<u32>((r >> 8) % kEvents)) == Status::ok)
            g_msis_translated.fetch_add(1, std::memory_order_relaxed);
        std::this_thread::yield();  // a device is slower than a vCPU; and spinlocks + 2 cores: let the vCPUs run
        if ((r >> 16) % 4 == 0)
            (void)w.its->translate(static_cast<u32>(r % kDevices), static_cast<u32>((r >> 8) % kEvents));
    }
}

}  // namespace

int main(int argc, char** argv) {
    double seconds = argc > 1 ? std::atof(argv[1]) : 3.0;
    log_hooks().threshold = LogLevel::error;
    log_hooks().write = [](const char*, usize) {};
    World w;
    setup(w);
    std::atomic<bool> stop{false};
    u64 ops[kVcpus + 1] = {};
    std::vector<std::thread> threads;
    for (u32 v = 0; v < kVcpus; ++v)
        threads.emplace_back(vcpu_thread, std::ref(w), v, std::ref(stop), std::ref(ops[v]));
    threads.emplace_back(msi_thread, std::ref(w), std::ref(stop), std::ref(ops[kVcpus]));
    std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
    stop = true;
    for (auto& t : threads) t.join();
    u64 total = 0;
    for (u64 n : ops) total += n;
    std::printf("tsan_vgic_its: %u vCPU threads + 1 MSI thread, %.1f s, %llu operations (", kVcpus, seconds,
                static_cast<unsigned long long>(total));
    for (u32 i = 0; i <= kVcpus; ++i) std::printf("%s%llu", i ? " " : "", static_cast<unsigned long long>(ops[i]));
    std::printf("), %llu MSIs translated, %llu kicks\n", static_cast<unsigned long long>(g_msis_translated.load()),
                static_cast<unsigned long long>(w.kicker.kicks.load()));
    return 0;
}
