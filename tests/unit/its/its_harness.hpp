// Test harness for the ITS model: guest RAM over a std::vector, a recording LpiSink and ItsObserver.
#pragma once

#include <gtest/gtest.h>

#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <utility>
#include <vector>

#include "core/guest_memory.hpp"
#include "its/its.hpp"
#include "its/its_abi.hpp"
#include "tests/unit/support.hpp"

namespace itstest {

using namespace hv;
using namespace hv::its;

constexpr u64 kRamBase = 0x40000000;
constexpr u64 kRamSize = 32 * MiB;
constexpr u64 kQueue = kRamBase;  // 64 KiB command queue
constexpr u64 kQueuePages = 16;
// GITS_BASER.Page_Size is read-only 64 KiB (as KVM and QEMU): every table page below is 64 KiB. CBASER.Size still
// counts 4 KiB pages (IHI0069H 12.19.2).
constexpr u64 kTablePage = 64 * KiB;
constexpr u64 kDevTable = kRamBase + 0x100000;  // flat: 1 x 64 KiB = 8192 DTEs
constexpr u64 kDevTablePages = 1;
constexpr u64 kCollTable = kRamBase + 0x200000;  // 1 x 64 KiB = 8192 CTEs
constexpr u64 kCollIds = kTablePage / 8;         // first ICID beyond the collection table
constexpr u64 kL2Pages = kRamBase + 0x300000;    // 16 level-2 pages (64 KiB each) for two-level tests
constexpr u64 kItts = kRamBase + 0x400000;       // ITTs, 128 KiB apart

inline u64 itt_for(u32 dev) { return kItts + u64{dev % 128} * 0x20000; }  // room for 14 EventID bits

class FakeSink final : public LpiSink {
public:
    explicit FakeSink(u32 vcpus = 4) : vcpus_(vcpus) {}
    u32 vcpu_count() const override { return vcpus_; }
    void set_lpi_pending(u32 vcpu, u32 intid, bool pending) override {
        std::lock_guard<std::mutex> g(m_);
        if (pending)
            pending_.insert({vcpu, intid});
        else
            pending_.erase({vcpu, intid});
        ++set_calls;
    }
    bool lpi_pending(u32 vcpu, u32 intid) const override {
        std::lock_guard<std::mutex> g(m_);
        return pending_.count({vcpu, intid}) != 0;
    }
    void invalidate_lpi(u32 vcpu, u32 intid) override {
        std::lock_guard<std::mutex> g(m_);
        invalidated.push_back({vcpu, intid});
    }
    void invalidate_all_lpis(u32 vcpu) override {
        std::lock_guard<std::mutex> g(m_);
        invalidated_all.push_back(vcpu);
    }
    void move_all_lpis(u32 from, u32 to) override {
        std::lock_guard<std::mutex> g(m_);
        std::set<std::pair<u32, u32>> out;
        for (auto p : pending_) out.insert(p.first == from ? std::make_pair(to, p.second) : p);
        pending_ = out;
        moves.push_back({from, to});
    }
    std::set<std::pair<u32, u32>> pending() const {
        std::lock_guard<std::mutex> g(m_);
        return pending_;
    }
    void clear_pending() {
        std::lock_guard<std::mutex> g(m_);
        pending_.clear();
    }

    std::vector<std::pair<u32, u32>> invalidated;
    std::vector<u32> invalidated_all;
    std::vector<std::pair<u32, u32>> moves;
    u64 set_calls = 0;

private:
    u32 vcpus_;
    mutable std::mutex m_;
    std::set<std::pair<u32, u32>> pending_;
};

class RecordingObserver final : public ItsObserver {
public:
    void on_map(u32 dev, u32 ev, u32 intid, u32 vcpu) override {
        live[{dev, ev}] = {intid, vcpu};
        ++maps;
    }
    void on_unmap(u32 dev, u32 ev, u32 intid) override {
        auto it = live.find({dev, ev});
        EXPECT_TRUE(it != live.end()) << "unmap of unknown mapping " << dev << "/" << ev;
        if (it != live.end()) {
            EXPECT_EQ(it->second.first, intid);
            live.erase(it);
        }
        ++unmaps;
    }
    std::map<std::pair<u32, u32>, std::pair<u32, u32>> live;  // (dev, ev) -> (intid, vcpu)
    int maps = 0, unmaps = 0;
};

struct Harness {
    explicit Harness(u32 vcpus = 4) : ram(kRamSize, 0), sink(vcpus) {
        hvtest::install_log_capture();
        EXPECT_EQ(mem.add_region(kRamBase, kRamSize, ram.data()), Status::ok);
        its = std::make_unique<Its>(mem, sink, &obs);
    }

    u64 read(u64 off, u8 width = 8) {
        u64 v = 0;
        EXPECT_EQ(its->mmio_read(MmioAccess{0, off, width, false}, v), MmioResult::ok);
        return v;
    }
    void write(u64 off, u64 v, u8 width = 8) {
        EXPECT_EQ(its->mmio_write(MmioAccess{0, off, width, true}, v), MmioResult::ok);
    }

    // Page_Size defaults to the only value the ITS keeps (64 KiB); a test may write another to see it ignored.
    static u64 baser_value(u64 addr, u64 pages, bool indirect = false, u64 page_size_code = baser::kPage64K) {
        return baser::Valid::make(1) | baser::Indirect::make(indirect) | baser::PageSize::make(page_size_code) |
               baser::PhysicalAddress::make(addr >> 12) | baser::Size::make(pages - 1);
    }

    // CBASER + BASER0 (flat unless told) + BASER1, then enable.
    void setup(bool indirect = false) {
        write(reg(GitsReg::CBASER), cbaser::Valid::make(1) | (kQueue) | (kQueuePages - 1));
        if (indirect)
            write(reg(GitsReg::BASER0), baser_value(kDevTable, 1, true));
        else
            write(reg(GitsReg::BASER0), baser_value(kDevTable, kDevTablePages));
        write(reg(GitsReg::BASER0) + 8, baser_value(kCollTable, 1));
        write(reg(GitsReg::CTLR), 1, 4);
        EXPECT_TRUE(its->enabled());
        cwriter = read(reg(GitsReg::CWRITER));
    }

    void put(const Command& c) {
        std::memcpy(&ram[kQueue - kRamBase + cwriter], &c, sizeof c);
        cwriter = (cwriter + 32) % (kQueuePages * 4096);
    }
    // Like a driver: write CWRITER, then poll CREADR (each poll moves the queue on by one batch, its.hpp
    // kCommandsPerTrap) until it reaches CWRITER or stops moving (stalled, disabled).
    void kick() {
        write(reg(GitsReg::CWRITER), cwriter);
        drain();
    }
    void drain() {
        u64 prev = ~u64{0};
        for (int i = 0; i < 100000; ++i) {
            const u64 r = creadr();
            if ((r & ~u64{1}) == cwriter || r == prev) return;
            prev = r;
        }
    }
    void cmd(const Command& c) {
        put(c);
        kick();
    }
    void cmds(std::initializer_list<Command> cs) {
        for (const auto& c : cs) put(c);
        kick();
    }
    u64 creadr() { return read(reg(GitsReg::CREADR)); }

    // Maps device `dev` with 2^bits events at itt_for(dev).
    void mapd(u32 dev, u32 bits = 5) { cmd(Command::mapd(dev, itt_for(dev), bits - 1, true)); }

    Result<Translation> tr(u32 dev, u32 ev) { return its->translate(dev, ev); }
    void expect_tr(u32 dev, u32 ev, u32 vcpu, u32 intid) {
        auto t = tr(dev, ev);
        ASSERT_TRUE(t.ok()) << "dev " << dev << " ev " << ev << ": " << status_name(t.status());
        EXPECT_EQ(t.value().vcpu, vcpu);
        EXPECT_EQ(t.value().intid, intid);
    }

    u64 peek64(u64 gpa) {
        u64 v;
        std::memcpy(&v, &ram[gpa - kRamBase], 8);
        return v;
    }
    void poke64(u64 gpa, u64 v) { std::memcpy(&ram[gpa - kRamBase], &v, 8); }

    // The KVM restore sequence for this ITS's own current register values.
    struct Regs {
        u64 cbaser, creadr, cwriter, baser0, baser1, iidr, ctlr;
    };
    Regs save_regs() {
        Regs r{};
        EXPECT_EQ(its->save_read(reg(GitsReg::CBASER), 8, r.cbaser), Status::ok);
        EXPECT_EQ(its->save_read(reg(GitsReg::CREADR), 8, r.creadr), Status::ok);
        EXPECT_EQ(its->save_read(reg(GitsReg::CWRITER), 8, r.cwriter), Status::ok);
        EXPECT_EQ(its->save_read(reg(GitsReg::BASER0), 8, r.baser0), Status::ok);
        EXPECT_EQ(its->save_read(reg(GitsReg::BASER0) + 8, 8, r.baser1), Status::ok);
        EXPECT_EQ(its->save_read(reg(GitsReg::IIDR), 4, r.iidr), Status::ok);
        EXPECT_EQ(its->save_read(reg(GitsReg::CTLR), 4, r.ctlr), Status::ok);
        return r;
    }
    Status restore_regs_and_tables(const Regs& r) {
        HV_TRY(its->restore_write(reg(GitsReg::CBASER), 8, r.cbaser));
        HV_TRY(its->restore_write(reg(GitsReg::CREADR), 8, r.creadr));
        HV_TRY(its->restore_write(reg(GitsReg::CWRITER), 8, r.cwriter));
        HV_TRY(its->restore_write(reg(GitsReg::IIDR), 4, r.iidr));
        HV_TRY(its->restore_write(reg(GitsReg::BASER0), 8, r.baser0));
        HV_TRY(its->restore_write(reg(GitsReg::BASER0) + 8, 8, r.baser1));
        HV_TRY(its->restore_tables());
        return its->restore_write(reg(GitsReg::CTLR), 4, r.ctlr);
    }

    std::vector<u8> ram;
    RegionGuestMemory mem;
    FakeSink sink;
    RecordingObserver obs;
    std::unique_ptr<Its> its;
    u64 cwriter = 0;
};

}  // namespace itstest
