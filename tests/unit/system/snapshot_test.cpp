// Whole-VM save -> fresh objects -> restore round trips over every register class (vCPU registers, firmware,
// vGIC, ITS) plus guest RAM, and every refusal of the register list's vGIC / ITS classes.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>

#include "core/reglist/id_regs_class.hpp"
#include "its/its_abi.hpp"
#include "tests/unit/support.hpp"
#include "tests/unit/system/vm_model.hpp"

using namespace hv;
using namespace hv::reglist;
using namespace hvsys;
using hv::its::Command;
using hv::its::GitsReg;
using hv::its::reg;

namespace {

constexpr u64 kSgi = 0x10000;               // SGI_base offset inside a redistributor
constexpr u64 kProp = kRam0 + 0x10000;      // LPI property table
constexpr u64 kPend = kRam0 + 0x20000;      // pending tables, 64 KiB apart
constexpr u64 kItsArea = kRam0 + 0x100000;  // per ITS instance: 0x40000 each
constexpr u64 kQueueOff = 0x0, kDevOff = 0x10000, kCollOff = 0x20000, kIttOff = 0x30000;

u64 gicd_r(VmModel& vm, u64 off, u8 w = 4) {
    u64 v = 0;
    EXPECT_EQ(vm.vgic->distributor().mmio_read(MmioAccess{0, off, w, false}, v), MmioResult::ok);
    return v;
}
void gicd_w(VmModel& vm, u64 off, u64 v, u8 w = 4) {
    EXPECT_EQ(vm.vgic->distributor().mmio_write(MmioAccess{0, off, w, true}, v), MmioResult::ok);
}
void gicr_w(VmModel& vm, u32 rd, u64 off, u64 v, u8 w = 4) {
    EXPECT_EQ(vm.vgic->redistributors().mmio_write(MmioAccess{rd, rd * vgic::kRedistStride + off, w, true}, v),
              MmioResult::ok);
}
void its_w(VmModel& vm, u32 i, u64 off, u64 v, u8 w = 8) {
    EXPECT_EQ(vm.its[i]->mmio_write(MmioAccess{0, off, w, true}, v), MmioResult::ok);
}
u64 its_base(u32 i) { return kItsArea + i * 0x40000; }
u64 baser(u64 addr, u64 pages) {
    return its::baser::Valid::make(1) | its::baser::PhysicalAddress::make(addr >> 12) |
           its::baser::Size::make(pages - 1);
}

// Runs commands on ITS `i` through its queue (CWRITER write).
struct Queue {
    VmModel& vm;
    u32 i;
    u64 cwriter = 0;
    void run(std::initializer_list<Command> cs) {
        for (const Command& c : cs) {
            ASSERT_EQ(vm.mem.write(its_base(i) + kQueueOff + cwriter, &c, sizeof c), Status::ok);
            cwriter += 32;
        }
        its_w(vm, i, reg(GitsReg::CWRITER), cwriter);
    }
};

// Drives a VM into a rich state: every class has non-reset values.
void build_rich_state(VmModel& vm) {
    const u32 n = vm.vcpus;
    // vCPU registers and firmware.
    for (u32 v = 0; v < n; ++v) {
        for (u32 r = 0; r < 31; ++r) vm.ctx[v].core.x[r] = 0x1000 * (v + 1) + r;
        vm.ctx[v].core.pc = 0x40080000 + v * 0x100;
        ASSERT_EQ(vm.cat.set_u64(Handle::for_vcpu(v), sysreg_id(3, 0, 12, 0, 0), 0x40001000 + v * 0x800), Status::ok);
        ASSERT_EQ(vm.cat.set_u64(Handle::for_vcpu(v), kTimerCval, 0x123456 + v), Status::ok);
        ASSERT_EQ(vm.cat.set_u64(Handle::for_vcpu(v), kPtimerCval, 0x654321 + v), Status::ok);
        ASSERT_EQ(vm.cat.set_u64(Handle::for_vcpu(v), kPtimerCtl, 3), Status::ok);  // ENABLE | IMASK
    }
    ASSERT_EQ(vm.cat.set_u64(Handle::vm(), psci::fwreg::kPsciVersion, 0x10000), Status::ok);

    // Distributor: both groups, SPIs 32..95 with priorities, some edge, routes, enables, pending, active.
    gicd_w(vm, 0x0, 3);
    for (u32 i = 32; i < 96; ++i) gicd_w(vm, 0x400 + i, (i * 40) & 0xf8, 1);
    gicd_w(vm, 0xc08, 0xaaaa0000);  // SPIs 40..47 edge
    for (u32 i = 32; i < 96; ++i) gicd_w(vm, 0x6000 + 8 * i, vm.vgic->vcpu_mpidr(i % n) & 0xff00ffffffull, 8);
    gicd_w(vm, 0x104, 0xfff0ff0f);                           // ISENABLER1
    gicd_w(vm, 0x108, 0x0000ffff);                           // ISENABLER2
    gicd_w(vm, 0x204, 0x00030300);                           // ISPENDR1 (latches)
    gicd_w(vm, 0x304, 0x00000010);                           // ISACTIVER1: SPI 36 active
    gicd_w(vm, 0x88, 0xfffffffe);                            // IGROUPR2: SPI 64 group 0
    ASSERT_EQ(vm.vgic->set_level(33, 0, true), Status::ok);  // level SPI line high
    ASSERT_EQ(vm.vgic->set_level(70, 0, true), Status::ok);
    ASSERT_EQ(vm.vgic->inject_edge(44, 0), Status::ok);

    // Redistributors: SGIs/PPIs enabled with priorities, PPI 27 line level, SGIs sent, ICC state.
    for (u32 v = 0; v < n; ++v) {
        gicr_w(vm, v, 0x14, 0);                                       // WAKER: awake
        gicr_w(vm, v, kSgi + 0x100, 0x0800ffffu | (1u << (20 + v)));  // ISENABLER0
        for (u32 k = 0; k < 8; ++k) gicr_w(vm, v, kSgi + 0x400 + 4 * k, 0x10203040u + v * 0x08080808u + k * 0x08);
        gicr_w(vm, v, kSgi + 0x200, 1u << (24 + v));  // ISPENDR0: a PPI latch
        ASSERT_EQ(vm.vgic->set_level(27, v, v % 2 == 0), Status::ok);
        ASSERT_EQ(vm.vgic->icc_write(v, vgic::IccReg::PMR, 0xf0 - v * 8), Status::ok);
        ASSERT_EQ(vm.vgic->icc_write(v, vgic::IccReg::BPR1, 3), Status::ok);
        ASSERT_EQ(vm.vgic->icc_write(v, vgic::IccReg::IGRPEN1, 1), Status::ok);
        ASSERT_EQ(vm.vgic->icc_write(v, vgic::IccReg::IGRPEN0, v & 1), Status::ok);
    }
    vm.vgic->sgi_write(0, (u64{1} << 24) | 0x6, vgic::SgiKind::sgi1r);  // SGI 1 to vCPUs 1 and 2
    vm.vgic->sgi_write(1, (u64{3} << 24) | 0x1, vgic::SgiKind::sgi1r);  // SGI 3 to vCPU 0

    // LPIs: property table (priority | enable), PROPBASER (IDbits 15), pending tables, EnableLPIs.
    for (u32 l = 0; l < 64; ++l) {
        u8 prop = static_cast<u8>(((l * 8) & 0xfc) | (l % 3 != 0 ? 1 : 0));
        ASSERT_EQ(vm.mem.write(kProp + l, &prop, 1), Status::ok);
    }
    gicr_w(vm, 0, 0x70, kProp | 15, 8);
    for (u32 v = 0; v < n; ++v) {
        gicr_w(vm, v, 0x78, kPend + v * 0x10000, 8);
        gicr_w(vm, v, 0x0, 1);
    }

    // ITS instances: devices, collections, events, pending LPIs.
    for (u32 i = 0; i < vm.its.size(); ++i) {
        its_w(vm, i, reg(GitsReg::CBASER), its::cbaser::Valid::make(1) | (its_base(i) + kQueueOff));
        its_w(vm, i, reg(GitsReg::BASER0), baser(its_base(i) + kDevOff, 1));
        its_w(vm, i, reg(GitsReg::BASER0) + 8, baser(its_base(i) + kCollOff, 1));
        its_w(vm, i, reg(GitsReg::CTLR), 1, 4);
        ASSERT_TRUE(vm.its[i]->enabled());
        Queue q{vm, i};
        const u64 itt = its_base(i) + kIttOff;
        const u32 base = 8192 + i * 32;
        q.run({Command::mapc(0, 0, true), Command::mapc(1, n - 1, true), Command::mapc(7, 1 % n, true),
               Command::mapd(1, itt, 4, true), Command::mapd(8 + i, itt + 0x1000, 2, true),
               Command::mapd(300, itt + 0x2000, 0, true), Command::mapti(1, 0, base + 0, 0),
               Command::mapti(1, 3, base + 3, 1), Command::mapti(1, 17, base + 17, 7),
               Command::mapti(8 + i, 1, base + 20, 7), Command::mapti(8 + i, 6, base + 21, 0),
               Command::mapti(300, 0, base + 30, 1), Command::movi(1, 0, 1), Command::event_cmd(its::Opcode::INT, 1, 3),
               Command::event_cmd(its::Opcode::INT, 8 + i, 6), Command::sync(0)});
        ASSERT_EQ(vm.its[i]->ite_count(), 6u);
        ASSERT_EQ(vm.its[i]->signal_msi(300, 0), Status::ok);
    }
    // Something in the second RAM region too.
    for (u32 k = 0; k < 256; ++k) vm.ram1[k * 7] = static_cast<u8>(k);

    // One guest entry/exit per vCPU: the guest acknowledged its first SGI/PPI/SPI LR (active), the rest stays
    // pending. (LPIs are not acknowledged: LPI active state is not part of the register list -- KVM carries only
    // LPI pending state, through the pending tables.)
    for (u32 v = 0; v < n; ++v) {
        vgic::VcpuIfState& s = vm.vgic->cpu_if(v);
        vm.vgic->flush(v, s);
        for (u32 k = 0; k < s.used_lrs; ++k)
            if (vgic::ich_lr::vINTID::get(s.lr[k]) < 1020) {
                s.lr[k] = vgic::ich_lr::State::set(s.lr[k], vgic::ich_lr::kStateActive);
                break;
            }
        vm.vgic->fold(v, s);
    }
}

constexpr u64 kNoTranslation = 0xdead000000000000ull;

struct Behaviour {
    std::vector<u64> translations;
    std::vector<u64> lrs;
    bool operator==(const Behaviour&) const = default;
};

// What the guest would see next: ITS translations over a grid and each vCPU's LR flush output.
Behaviour observe(VmModel& vm) {
    Behaviour b;
    for (auto& its : vm.its)
        for (u32 dev : {0u, 1u, 8u, 9u, 300u})
            for (u32 ev = 0; ev < 20; ++ev) {
                Result<its::Translation> t = its->translate(dev, ev);
                b.translations.push_back(t.ok() ? (u64{t.value().vcpu} << 32 | t.value().intid)
                                                : kNoTranslation + static_cast<u64>(t.status()));
            }
    for (u32 v = 0; v < vm.vcpus; ++v) {
        vgic::VcpuIfState& s = vm.vgic->cpu_if(v);
        vm.vgic->flush(v, s);
        for (u32 k = 0; k < s.nr_lrs; ++k) b.lrs.push_back(s.lr[k]);
        b.lrs.push_back(s.hcr);
        b.lrs.push_back(s.used_lrs);
        vm.vgic->fold(v, s);
    }
    return b;
}

// SDEI: event 0 registered-enabled on every vCPU; vCPU 0 runs its handler (interrupted context saved in the model),
// vCPU 1 is masked with event 0 pending.
u64 sdei_call(VmModel& vm, u32 v, u32 fid, u64 a1 = 0, u64 a2 = 0, u64 a3 = 0) {
    VcpuContext& c = vm.ctx[v];
    c.core.x[0] = fid;
    c.core.x[1] = a1;
    c.core.x[2] = a2;
    c.core.x[3] = a3;
    c.core.x[4] = 0;
    c.core.x[5] = 0;
    vm.sdei->handle(v, c);
    return c.core.x[0];
}
void build_sdei_state(VmModel& vm) {
    for (u32 v = 0; v < vm.vcpus; ++v) {
        ASSERT_EQ(sdei_call(vm, v, sdei::kEventRegister, 0, kRam0 + 0x3000 + v * 0x100, 0x5d000 + v), 0u);
        ASSERT_EQ(sdei_call(vm, v, sdei::kEventEnable, 0), 0u);
    }
    ASSERT_EQ(sdei_call(vm, 0, sdei::kPeUnmask), 0u);
    vm.ctx[0].core.x[7] = 0x77;
    vm.sdei->signal(0);
    ASSERT_TRUE(vm.sdei->deliver(0, vm.ctx[0]));
    vm.sdei->signal(1);
    ASSERT_FALSE(vm.sdei->deliver(1, vm.ctx[1]));
}

}  // namespace

class SystemSnapshot : public ::testing::TestWithParam<u32> {
protected:
    void SetUp() override { hvtest::install_log_capture(); }
};

TEST_P(SystemSnapshot, SaveRestoreSaveIsByteIdenticalAndBehavesTheSame) {
    const u32 n = GetParam();
    VmModel a(n, 2);
    build_rich_state(a);
    build_sdei_state(a);
    const std::vector<u8> s1 = a.save();

    VmModel b(n, 2);  // fresh objects, zeroed RAM
    ASSERT_EQ(b.restore(s1), Status::ok) << hvtest::captured_log();
    EXPECT_EQ(a.ram0, b.ram0);
    EXPECT_EQ(a.ram1, b.ram1);
    for (u32 i = 0; i < 2; ++i) {
        EXPECT_TRUE(b.its[i]->enabled());
        EXPECT_EQ(b.its[i]->ite_count(), a.its[i]->ite_count());
        EXPECT_EQ(b.its[i]->collection_count(), a.its[i]->collection_count());
        EXPECT_EQ(b.its[i]->restore_phase(), its::RestorePhase::idle);
    }
    for (u32 v = 0; v < n; ++v) {  // the EL1 physical timer came along
        EXPECT_EQ(b.ctx[v].sysreg(SysReg::CNTP_CVAL_EL0), 0x654321u + v);
        EXPECT_EQ(b.ctx[v].sysreg(SysReg::CNTP_CTL_EL0), 3u);
    }
    const std::vector<u8> s2 = b.save();
    ASSERT_EQ(s1.size(), s2.size());
    EXPECT_TRUE(s1 == s2) << "second save differs at byte "
                          << (std::mismatch(s1.begin(), s1.end(), s2.begin()).first - s1.begin());

    // Same behaviour: translations, then LR flush output, then after the same MSI on both sides.
    Behaviour oa = observe(a), ob = observe(b);
    EXPECT_TRUE(oa == ob);
    for (usize k = 0; k < oa.translations.size(); ++k)
        if (oa.translations[k] != ob.translations[k] || getenv("HV_DEBUG_SYS"))
            ADD_FAILURE() << k << ": " << std::hex << oa.translations[k] << " vs " << ob.translations[k];
    for (usize k = 0; k < oa.lrs.size(); ++k)
        if (oa.lrs[k] != ob.lrs[k] || getenv("HV_DEBUG_SYS"))
            ADD_FAILURE() << "lr " << k << ": " << std::hex << oa.lrs[k] << " vs " << ob.lrs[k];
    for (VmModel* vm : {&a, &b}) {
        ASSERT_EQ(vm->its[0]->signal_msi(1, 17), Status::ok);
        ASSERT_EQ(vm->its[1]->signal_msi(9, 1), Status::ok);
    }
    Behaviour ba = observe(a), bb = observe(b);
    EXPECT_TRUE(ba == bb);
    // SDEI came along: vCPU 0 is in its handler, COMPLETE returns to the same interrupted context on both; vCPU 1
    // takes its pending event once unmasked.
    EXPECT_TRUE(b.sdei->vcpu_state(0).handler.active);
    for (VmModel* vm : {&a, &b}) {
        (void)sdei_call(*vm, 0, sdei::kEventComplete);
        EXPECT_EQ(vm->ctx[0].core.x[7], 0x77u);
        ASSERT_EQ(sdei_call(*vm, 1, sdei::kPeUnmask), 0u);
        EXPECT_TRUE(vm->sdei->deliver(1, vm->ctx[1]));
        EXPECT_EQ(vm->ctx[1].core.pc, kRam0 + 0x3100);
    }
    EXPECT_EQ(a.ctx[0].core.pc, b.ctx[0].core.pc);
    // The state is rich: LPIs, SPIs and SGIs are in the LRs, translations succeed.
    EXPECT_GT(std::count_if(ba.translations.begin(), ba.translations.end(), [](u64 t) { return t < kNoTranslation; }),
              10);
    bool lpi = false, spi = false, sgi = false;
    for (u64 lr : ba.lrs) {
        if (vgic::ich_lr::State::get(lr) == 0) continue;
        const u64 intid = vgic::ich_lr::vINTID::get(lr);
        lpi |= intid >= 8192;
        spi |= intid >= 32 && intid < 1020;
        sgi |= intid < 16;
    }
    EXPECT_TRUE(lpi && spi && sgi);
}

INSTANTIATE_TEST_SUITE_P(Vcpus, SystemSnapshot, ::testing::Values(2u, 3u, 4u));

TEST(SystemSnapshot2, RestoreRunsInKvmOrderWhateverTheClassOrder) {
    // The ITS is restored after the redistributors (stage 2 after stage 1) even though its records sit in the VM
    // section, before every vCPU section.
    VmModel a(2);
    build_rich_state(a);
    const auto s = a.save();
    VmModel b(2);
    EXPECT_EQ(b.cat.restore_stage_of(its::gits_id(0, reg(GitsReg::CTLR), 4) | kScopeVm), its::kItsRestoreStage);
    EXPECT_EQ(b.cat.restore_stage_of(vgic::gicr_id(0, 4)), vgic::kVgicRestoreStage);
    EXPECT_EQ(b.cat.restore_stage_of(sdei::sdei_reg_id(sdei::reg::kVcpuActive)), sdei::kSdeiRestoreStage);
    EXPECT_EQ(b.cat.max_restore_stage(), sdei::kSdeiCommitStage);  // SDEI after the vGIC and the ITS
    ASSERT_EQ(b.restore(s), Status::ok);
    // Pending LPIs came back through the pending tables (EnableLPIs restored last).
    EXPECT_TRUE(b.vgic->lpi_pending(1, 8192 + 3));
}

// ---- refusals ----

class SystemRefusals : public ::testing::Test {
protected:
    void SetUp() override { hvtest::install_log_capture(); }
    VmModel vm{4};
    u64 get(Handle h, u64 id) {
        u64 v = ~u64{0};
        EXPECT_EQ(vm.cat.get_u64(h, id, v), Status::ok) << std::hex << id;
        return v;
    }
};

TEST_F(SystemRefusals, WrongSize) {
    u64 v = 0;
    const u64 ctlr = vgic::gicd_id(0, 4);
    EXPECT_EQ(vm.cat.get_u64(Handle::vm(), (ctlr & ~kSizeMask) | kSizeU64, v), Status::wrong_size);
    EXPECT_EQ(vm.cat.get_u64(Handle::vm(), (vgic::gicd_id(0x6100, 8) & ~kSizeMask) | kSizeU32, v), Status::wrong_size);
    EXPECT_EQ(vm.cat.get_u64(Handle::for_vcpu(0), (vgic::icc_id(vgic::IccReg::PMR) & ~kSizeMask) | kSizeU32, v),
              Status::wrong_size);
    EXPECT_EQ(vm.cat.set_u64(Handle::vm(), (its::gits_id(0, 0, 4) & ~kSizeMask) | kSizeU64, 0), Status::wrong_size);
    u8 buf[8] = {};
    EXPECT_EQ(vm.cat.get_one_reg(Handle::vm(), ctlr, Span<u8>(buf, 8)), Status::wrong_size);
    EXPECT_EQ(vm.cat.set_one_reg(Handle::for_vcpu(1), vgic::gicr_id(0x70, 8), Span<const u8>(buf, 4)),
              Status::wrong_size);
}

TEST_F(SystemRefusals, UnknownIds) {
    u64 v = 0;
    EXPECT_EQ(vm.cat.get_u64(Handle::vm(), vgic::gicd_id(0x10, 4), v), Status::not_found);  // STATUSR: not listed
    EXPECT_EQ(vm.cat.get_u64(Handle::vm(), vgic::gicd_id(0x6000 + 8 * 96, 8), v), Status::not_found);  // no SPI 96
    EXPECT_EQ(vm.cat.get_u64(Handle::vm(), vgic::gicd_id(0x6000 + 8 * 16, 8), v), Status::not_found);  // PPI
    EXPECT_EQ(vm.cat.get_u64(Handle::vm(), vgic::line_level_id(4, 0), v), Status::not_found);          // 4 vCPUs: 0..3
    EXPECT_EQ(vm.cat.get_u64(Handle::vm(), vgic::line_level_id(0, 96), v), Status::not_found);
    EXPECT_EQ(vm.cat.get_u64(Handle::vm(), its::gits_id(1, 0, 4), v), Status::not_found);  // no ITS 1
    EXPECT_EQ(vm.cat.get_u64(Handle::vm(), its::gits_id(0, reg(GitsReg::TYPER), 8), v), Status::not_found);
    EXPECT_EQ(vm.cat.get_u64(Handle::for_vcpu(0), vgic::icc_id(vgic::IccReg::AP0R1), v), Status::not_found);  // 1 APR
    EXPECT_EQ(vm.cat.get_u64(Handle::for_vcpu(4), vgic::gicr_id(0, 4), v), Status::not_found);  // no vCPU 4
    // vCPU-scoped vGIC registers: not through the VM handle, not with the scope bit.
    EXPECT_EQ(vm.cat.get_u64(Handle::vm(), vgic::gicr_id(0, 4), v), Status::not_found);
    EXPECT_EQ(vm.cat.get_u64(Handle::for_vcpu(0), vgic::gicr_id(0, 4) | kScopeVm, v), Status::not_found);
    EXPECT_EQ(vm.cat.get_u64(Handle::for_vcpu(0), vgic::icc_id(vgic::IccReg::PMR) | kScopeVm, v), Status::not_found);
    // Write-only pseudo-registers.
    EXPECT_EQ(vm.cat.get_u64(Handle::vm(), its::gits_ctrl_id(0, its::kItsCtrlSaveTables), v), Status::unsupported);
    EXPECT_EQ(vm.cat.get_u64(Handle::vm(), its::gits_ctrl_id(0, its::kItsCtrlReset), v), Status::unsupported);
}

TEST_F(SystemRefusals, VmScopedIdsThroughVcpuHandleAreTheVmCopy) {
    const u64 ctlr = vgic::gicd_id(0, 4);
    EXPECT_EQ(vm.cat.set_u64(Handle::for_vcpu(2), ctlr, 1), Status::ok);
    EXPECT_EQ(get(Handle::vm(), ctlr | kScopeVm) & 3, 1u);  // EnableGrp0 (ARE/DS read as one)
    EXPECT_EQ(get(Handle::for_vcpu(3), ctlr | kScopeVm) & 3, 1u);
    EXPECT_EQ(gicd_r(vm, 0) & 3, 1u);
    EXPECT_EQ(vm.cat.set_u64(Handle::for_vcpu(1), vgic::line_level_id(3, 0), 1u << 27), Status::ok);
    EXPECT_EQ(get(Handle::vm(), vgic::line_level_id(3, 0)), 1u << 27);
    const u64 cbaser = its::gits_id(0, reg(GitsReg::CBASER), 8);
    EXPECT_EQ(vm.cat.set_u64(Handle::for_vcpu(0), cbaser, its::cbaser::Valid::make(1) | kRam0), Status::ok);
    EXPECT_EQ(get(Handle::vm(), cbaser | kScopeVm), its::cbaser::Valid::make(1) | kRam0);
}

TEST_F(SystemRefusals, ScopeOfEveryListedRegister) {
    const auto vmids = vm.list(Handle::vm());
    for (u64 id : vmids) {
        EXPECT_TRUE(is_vm_scoped_id(id)) << std::hex << id;
        EXPECT_EQ(vm.cat.scope_of(id).value_or(Scope::vcpu), Scope::vm) << std::hex << id;
        const u64 cls = reg_class(id);
        EXPECT_TRUE(cls == kClassFw || cls == kClassFwFeatBmap || cls == kClassGicd || cls == kClassLineLevel ||
                    cls == kClassGits || cls == kClassSdei || cls == kClassUart ||
                    (cls == kClassSysreg && IdRegisterClass::owns_id(id)))
            << std::hex << id;
    }
    for (u32 v = 0; v < 4; ++v) {
        const auto ids = vm.list(Handle::for_vcpu(v));
        const auto sdei_ids = static_cast<usize>(
            std::count_if(ids.begin(), ids.end(), [](u64 id) { return reg_class(id) == kClassSdei; }));
        EXPECT_EQ(ids.size(), kCoreRegCount + kSysRegListCount + kPmuRegCount + vgic::gicr_save_count() +
                                  vgic::icc_save_count(vgic::kDefaultIchVtr) + sdei_ids + 1);  // + MP state
        // normal and critical handler state, event 0 and the 4 bound-PPI slots (the VM offers every bind slot)
        EXPECT_EQ(sdei_ids, usize{5 + 18 + 4 + 18 + (1 + sdei::kMaxPrivateBound) * 4});
        for (u64 id : ids) {
            EXPECT_FALSE(is_vm_scoped_id(id));
            EXPECT_EQ(vm.cat.scope_of(id).value_or(Scope::vm), Scope::vcpu) << std::hex << id;
            EXPECT_TRUE(std::find(vmids.begin(), vmids.end(), id | kScopeVm) == vmids.end());
            u8 buf[16];
            EXPECT_EQ(vm.cat.get_one_reg(Handle::for_vcpu(v), id, Span<u8>(buf, reg_size(id))), Status::ok);
        }
    }
    // Counts follow the configuration: 64 SPIs -> 2 SPI words of line levels + 4 PPI words; 14 GITS entries.
    usize gicd = 0, ll = 0, gits = 0;
    for (u64 id : vmids) {
        gicd += reg_class(id) == kClassGicd;
        ll += reg_class(id) == kClassLineLevel;
        gits += reg_class(id) == kClassGits;
    }
    EXPECT_EQ(gicd, vgic::gicd_save_count(96));
    EXPECT_EQ(ll, 4u + 2u);
    EXPECT_EQ(gits, its::ItsRegisterClass::kListCount);
    VmModel big(2, 3, 960);  // 3 ITSes, maximal SPI count
    const auto bigids = big.list(Handle::vm());
    gicd = gits = 0;
    for (u64 id : bigids) {
        gicd += reg_class(id) == kClassGicd;
        gits += reg_class(id) == kClassGits;
    }
    EXPECT_EQ(gicd, vgic::gicd_save_count(992));
    EXPECT_EQ(gits, 3 * its::ItsRegisterClass::kListCount);
}

TEST_F(SystemRefusals, ItsRestoreOutOfOrderIsRefusedAndChangesNothing) {
    const Handle h = Handle::vm();
    const u64 creadr = its::gits_id(0, reg(GitsReg::CREADR), 8);
    const u64 cbaser = its::gits_id(0, reg(GitsReg::CBASER), 8);
    const u64 iidr = its::gits_id(0, reg(GitsReg::IIDR), 4);
    const u64 ctlr = its::gits_id(0, reg(GitsReg::CTLR), 4);
    const u64 tables = its::gits_ctrl_id(0, its::kItsCtrlRestoreTables);
    EXPECT_EQ(vm.cat.set_u64(h, creadr, 0x20), Status::bad_order);  // CREADR before CBASER
    EXPECT_EQ(vm.cat.set_u64(h, ctlr, 1), Status::bad_order);       // CTLR before RESTORE_TABLES
    EXPECT_EQ(vm.cat.set_u64(h, tables, 0), Status::bad_order);     // RESTORE_TABLES before IIDR + BASERs
    EXPECT_FALSE(vm.its[0]->enabled());
    EXPECT_EQ(vm.its[0]->restore_phase(), its::RestorePhase::idle);
    EXPECT_EQ(vm.cat.set_u64(h, cbaser, its::cbaser::Valid::make(1) | kRam0), Status::ok);
    EXPECT_EQ(vm.cat.set_u64(h, creadr, 0x20), Status::ok);
    EXPECT_EQ(get(h, creadr), 0x20u);
    // Unknown IIDR revision: refused, and RESTORE_TABLES with a revision other than IIDR's too.
    const u64 want = get(h, iidr);
    EXPECT_EQ(vm.cat.set_u64(h, iidr, want | (u64{1} << 12)), Status::invalid_argument);
    EXPECT_EQ(get(h, iidr), want);
    EXPECT_EQ(vm.cat.set_u64(h, iidr, want), Status::ok);
    EXPECT_EQ(vm.cat.set_u64(h, tables, 0), Status::bad_order);  // BASERs still missing
    for (u32 k = 0; k < 8; ++k) EXPECT_EQ(vm.cat.set_u64(h, its::gits_id(0, 0x100 + 8 * k, 8), 0), Status::ok);
    EXPECT_EQ(vm.cat.set_u64(h, tables, 1), Status::invalid_argument);
    EXPECT_EQ(vm.cat.set_u64(h, tables, 0), Status::ok);
    EXPECT_EQ(vm.its[0]->restore_phase(), its::RestorePhase::tables_restored);
    EXPECT_EQ(vm.cat.set_u64(h, ctlr, 0), Status::ok);
    EXPECT_EQ(vm.its[0]->restore_phase(), its::RestorePhase::idle);
    // Control pseudo-registers take 0 only.
    EXPECT_EQ(vm.cat.set_u64(h, its::gits_ctrl_id(0, its::kItsCtrlReset), 1), Status::invalid_argument);
    EXPECT_EQ(vm.cat.set_u64(h, its::gits_ctrl_id(0, its::kItsCtrlSaveTables), 0), Status::ok);
}

TEST_F(SystemRefusals, ItsResetAndSaveTablesPseudoRegisters) {
    build_rich_state(vm);
    ASSERT_EQ(vm.its[0]->ite_count(), 6u);
    const u64 coll = its_base(0) + kCollOff;
    u64 cte = 0;
    ASSERT_EQ(vm.cat.set_u64(Handle::vm(), its::gits_ctrl_id(0, its::kItsCtrlSaveTables), 0), Status::ok);
    ASSERT_EQ(vm.mem.read_obj(coll, cte), Status::ok);
    EXPECT_TRUE(its::abi::cte::Valid::get(cte));
    // A running ITS refuses register restores (busy) until RESET.
    EXPECT_EQ(vm.cat.set_u64(Handle::vm(), its::gits_id(0, reg(GitsReg::CBASER), 8), 0), Status::busy);
    ASSERT_EQ(vm.cat.set_u64(Handle::vm(), its::gits_ctrl_id(0, its::kItsCtrlReset), 0), Status::ok);
    EXPECT_EQ(vm.its[0]->ite_count(), 0u);
    EXPECT_FALSE(vm.its[0]->enabled());
    EXPECT_EQ(vm.cat.set_u64(Handle::vm(), its::gits_id(0, reg(GitsReg::CBASER), 8), 0), Status::ok);
}

TEST_F(SystemRefusals, VgicValuesTheDestinationCannotHonour) {
    u64 iidr = get(Handle::vm(), vgic::gicd_id(0x8, 4));
    EXPECT_EQ(vm.cat.set_u64(Handle::vm(), vgic::gicd_id(0x8, 4), (iidr & ~0xf000ull) | 0x7000),
              Status::invalid_argument);
    const u64 typer = get(Handle::vm(), vgic::gicd_id(0x4, 4));
    EXPECT_EQ(vm.cat.set_u64(Handle::vm(), vgic::gicd_id(0x4, 4), typer + 1), Status::invalid_argument);
    EXPECT_EQ(vm.cat.set_u64(Handle::for_vcpu(0), vgic::icc_id(vgic::IccReg::SRE), 0), Status::invalid_argument);
}

TEST(SystemSnapshot2, StreamRefusals) {
    hvtest::install_log_capture();
    VmModel a(2);
    build_rich_state(a);
    const auto s = a.save();
    {
        VmModel b(3);
        EXPECT_EQ(b.restore(s), Status::invalid_argument);  // vCPU count
    }
    {
        VmModel b(2);
        SnapshotInfo info;
        EXPECT_EQ(snapshot_restore(b.cat, Span<const u8>(s.data(), s.size()), info, nullptr),
                  Status::invalid_argument);  // RAM in the stream, nowhere to put it
        EXPECT_FALSE(b.its[0]->enabled());
    }
    {
        VmModel b(2);
        RegionGuestMemory other;
        ASSERT_EQ(other.add_region(kRam0, kRam0Size / 2, b.ram0.data()), Status::ok);
        SnapshotInfo info;
        EXPECT_EQ(snapshot_restore(b.cat, Span<const u8>(s.data(), s.size()), info, &other), Status::invalid_argument);
    }
    {
        // A corrupt collection table in the RAM image: RESTORE_TABLES refuses it (KVM EINVAL), the ITS stays empty.
        auto bad = s;
        const u64 cte_at = its_base(0) + kCollOff - kRam0;
        const auto hdr = std::search(bad.begin(), bad.end(), a.ram0.begin(), a.ram0.begin() + 64);
        ASSERT_NE(hdr, bad.end());
        // The RAM section of region 0 starts 32 bytes before its bytes; find it by its header instead.
        usize ram_off = 0;
        for (usize k = 0; k + 32 < bad.size(); k += 8) {
            u32 tag;
            u64 gpa, size;
            memcpy(&tag, &bad[k], 4);
            memcpy(&gpa, &bad[k + 16], 8);
            memcpy(&size, &bad[k + 24], 8);
            if (tag == kSnapshotTagRam && gpa == kRam0 && size == kRam0Size) {
                ram_off = k + 32;
                break;
            }
        }
        ASSERT_NE(ram_off, 0u);
        u64 cte = 0;
        memcpy(&cte, &bad[ram_off + cte_at], 8);
        ASSERT_TRUE(its::abi::cte::Valid::get(cte));
        cte |= u64{1} << 55;  // RES0
        memcpy(&bad[ram_off + cte_at], &cte, 8);
        VmModel b(2);
        EXPECT_EQ(b.restore(bad), Status::corrupt);
        EXPECT_EQ(b.its[0]->ite_count(), 0u);
        EXPECT_FALSE(b.its[0]->enabled());
    }
}

namespace {

// Offset in `s` of the first byte of the RAM section of region (kRam0, kRam0Size).
usize ram0_offset(const std::vector<u8>& s) {
    for (usize k = 0; k + 32 < s.size(); k += 8) {
        u32 tag;
        u64 gpa, size;
        memcpy(&tag, &s[k], 4);
        memcpy(&gpa, &s[k + 16], 8);
        memcpy(&size, &s[k + 24], 8);
        if (tag == kSnapshotTagRam && gpa == kRam0 && size == kRam0Size) return k + 32;
    }
    return 0;
}

class BufferSource final : public SnapshotSource {
public:
    explicit BufferSource(const std::vector<u8>& b) : b_(b) {}
    u64 size() const override { return b_.size(); }
    Status read(u64 offset, void* buf, usize n) override {
        if (offset > b_.size() || n > b_.size() - offset) return Status::out_of_range;
        memcpy(buf, b_.data() + offset, n);
        return Status::ok;
    }

private:
    const std::vector<u8>& b_;
};

}  // namespace

// The ITS tables live in the snapshot's RAM image, so they used to be checked only while applying (RESTORE_TABLES
// after RAM and every earlier record were written: a half-restored VM). The dry run replays each ITS's records on a
// scratch ITS over the image: a bad table, an ITT outside RAM or an unknown IIDR revision is refused before anything
// of the destination changes, naming the record; the buffer and the streaming forms alike.
TEST(SystemSnapshot2, ItsTablesInTheImageAreCheckedBeforeAnythingChanges) {
    hvtest::install_log_capture();
    VmModel a(2);
    build_rich_state(a);
    const std::vector<u8> s = a.save();
    const usize ram_off = ram0_offset(s);
    ASSERT_NE(ram_off, 0u);
    const u64 tables_id = its::gits_ctrl_id(0, its::kItsCtrlRestoreTables) | kScopeVm;
    const u64 iidr_id = its::gits_id(0, reg(GitsReg::IIDR), 4) | kScopeVm;

    struct Case {
        const char* what;
        usize at;  // byte offset in the stream
        u64 bits;  // xor-ed into the 8 bytes there
        Status want;
        u64 id;
    };
    const usize cte_at = ram_off + (its_base(0) + kCollOff - kRam0);
    const usize dte1_at = ram_off + (its_base(0) + kDevOff - kRam0) + 1 * 8;  // DeviceID 1's entry
    usize iidr_at = 0;
    for (usize k = kSnapshotHeaderSize; k + 16 <= s.size(); k += 8) {
        u64 v;
        memcpy(&v, &s[k], 8);
        if (v == iidr_id) {
            iidr_at = k + 8;
            break;
        }
    }
    ASSERT_NE(iidr_at, 0u);
    u64 dte1 = 0;
    memcpy(&dte1, &s[dte1_at], 8);
    ASSERT_TRUE(its::abi::dte::Valid::get(dte1));
    const Case cases[] = {
        {"collection entry with RES0 bits", cte_at, u64{1} << 55, Status::corrupt, tables_id},
        // ITT_addr moved far beyond guest RAM (DTE bits [48:5] hold ITT_addr[51:8]).
        {"ITT outside guest RAM", dte1_at, u64{1} << 40, Status::out_of_range, tables_id},
        {"IIDR revision 1", iidr_at, u64{1} << 12, Status::invalid_argument, iidr_id},
    };
    for (const Case& c : cases) {
        std::vector<u8> bad = s;
        u64 v;
        memcpy(&v, &bad[c.at], 8);
        v ^= c.bits;
        memcpy(&bad[c.at], &v, 8);
        for (bool streaming : {false, true}) {
            VmModel b(2);
            b.ram0[0x123] = 0x5a;  // RAM the snapshot would overwrite
            const std::vector<u8> before = b.save();
            SnapshotInfo info;
            SnapshotRefusal why;
            Status st;
            if (streaming) {
                BufferSource src(bad);
                std::vector<u8> records(4096 * RecordStore::kEntrySize);
                st = snapshot_restore_stream(b.cat, src, info, &b.mem, Span<u8>(records.data(), records.size()), &why);
            } else {
                st = snapshot_restore(b.cat, Span<const u8>(bad.data(), bad.size()), info, &b.mem, &why);
            }
            EXPECT_EQ(st, c.want) << c.what;
            EXPECT_FALSE(why.applying) << c.what;  // refused by the dry run, not while applying
            EXPECT_EQ(why.id, c.id) << c.what;
            EXPECT_EQ(why.vcpu, kSnapshotVmSection);
            EXPECT_NE(why.why.reason, nullptr) << c.what;
            EXPECT_EQ(b.ram0[0x123], 0x5a) << c.what;
            EXPECT_FALSE(b.its[0]->enabled()) << c.what;
            EXPECT_EQ(b.its[0]->ite_count(), 0u) << c.what;
            EXPECT_TRUE(b.save() == before) << c.what << (streaming ? " (stream)" : " (buffer)");
            // The validators agree with the restore.
            SnapshotInfo vi;
            EXPECT_EQ(snapshot_validate(b.cat, Span<const u8>(bad.data(), bad.size()), vi, &b.mem), c.want) << c.what;
        }
    }
    // The unpatched snapshot passes the same dry run and restores.
    VmModel b(2);
    SnapshotInfo info;
    SnapshotRefusal why;
    ASSERT_EQ(snapshot_restore(b.cat, Span<const u8>(s.data(), s.size()), info, &b.mem, &why), Status::ok)
        << hvtest::captured_log();
    EXPECT_EQ(b.its[0]->ite_count(), a.its[0]->ite_count());
}

// ICC values this CPU interface refuses are refused by the dry run (they used to fail while applying, after RAM and
// the earlier records: found by the snapshot fuzz target, reproducer corpus/snapshot/icc_sre_applying).
TEST(SystemSnapshot2, IccValuesAreCheckedBeforeAnythingChanges) {
    hvtest::install_log_capture();
    VmModel a(2);
    const std::vector<u8> s = a.save();
    const u64 sre_id = vgic::icc_id(vgic::IccReg::SRE);
    usize at = 0;
    for (usize k = kSnapshotHeaderSize; k + 16 <= s.size(); k += 8) {
        u64 v;
        memcpy(&v, &s[k], 8);
        if (v == sre_id) at = k + 8;  // the last one: vCPU 1's section
    }
    ASSERT_NE(at, 0u);
    std::vector<u8> bad = s;
    bad[at] &= ~u8{1};  // ICC_SRE_EL1.SRE = 0
    VmModel b(2);
    b.ram0[9] = 0x99;
    const std::vector<u8> before = b.save();
    SnapshotInfo info;
    SnapshotRefusal why;
    EXPECT_EQ(snapshot_restore(b.cat, Span<const u8>(bad.data(), bad.size()), info, &b.mem, &why),
              Status::invalid_argument);
    EXPECT_FALSE(why.applying);
    EXPECT_EQ(why.vcpu, 1u);
    EXPECT_STREQ(why.why.reg, "ICC_SRE_EL1");
    EXPECT_EQ(b.ram0[9], 0x99);
    EXPECT_TRUE(b.save() == before);
}
