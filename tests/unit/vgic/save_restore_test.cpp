// Save/restore accessors: KVM semantics, validation, and a full round trip into a fresh Vgic.
#include <vector>

#include "tests/unit/vgic/vgic_fixture.hpp"

using namespace vgictest;

namespace {

struct Reg {
    bool redist;
    u64 offset;
    u8 width;
};

// The registers a register list would carry, in KVM's restore order (IIDR first, EnableLPIs last).
std::vector<Reg> register_list(u32 nr_irqs) {
    std::vector<Reg> r;
    r.push_back({false, 0x8, 4});  // IIDR
    r.push_back({false, 0x4, 4});  // TYPER (validated)
    r.push_back({false, 0x0, 4});  // CTLR
    for (u32 i = 32; i < nr_irqs; i += 32) {
        for (u64 base : {0x80ull, 0x100ull, 0x200ull, 0x300ull}) r.push_back({false, base + i / 8, 4});
    }
    for (u32 i = 32; i < nr_irqs; i += 4) r.push_back({false, 0x400ull + i, 4});
    for (u32 i = 32; i < nr_irqs; i += 16) r.push_back({false, 0xc00ull + i / 4, 4});
    for (u32 i = 32; i < nr_irqs; ++i) r.push_back({false, 0x6000ull + 8 * i, 8});
    for (u64 off : {0x70ull, 0x78ull, 0x14ull}) r.push_back({true, off, off != 0x14 ? u8{8} : u8{4}});
    for (u64 off : {0x10080ull, 0x10100ull, 0x10200ull, 0x10300ull, 0x10c00ull, 0x10c04ull})
        r.push_back({true, off, 4});
    for (u64 off = 0x10400; off < 0x10420; off += 4) r.push_back({true, off, 4});
    r.push_back({true, 0x0, 4});  // GICR_CTLR last: EnableLPIs loads the pending table
    return r;
}

constexpr IccReg kIccRegs[] = {IccReg::PMR,  IccReg::BPR0, IccReg::AP0R0,   IccReg::AP1R0,  IccReg::BPR1,
                               IccReg::CTLR, IccReg::SRE,  IccReg::IGRPEN0, IccReg::IGRPEN1};

}  // namespace

TEST_F(VgicTest, SaveReadPendingIsLatchOnly) {
    gicd_write(0x104, 1u << 8);  // enable SPI 40 (level)
    ASSERT_EQ(vgic->set_level(40, 0, true), Status::ok);
    EXPECT_EQ(gicd_read(0x204), 1u << 8);  // guest view: pending (line high)
    u64 v;
    ASSERT_EQ(vgic->dist_save_read(0x204, 4, v), Status::ok);
    EXPECT_EQ(v, 0u);  // save view: latch only
    u32 levels;
    ASSERT_EQ(vgic->line_level_read(0, 32, levels), Status::ok);
    EXPECT_EQ(levels, 1u << 8);
    gicd_write(0x204, 1u << 9);
    ASSERT_EQ(vgic->dist_save_read(0x204, 4, v), Status::ok);
    EXPECT_EQ(v, 1u << 9);
    ASSERT_EQ(vgic->dist_save_read(0x284, 4, v), Status::ok);
    EXPECT_EQ(v, 0u);  // ICPENDR is RAZ on the save path
    // Restore: ISPENDR zeros clear the latch, ICPENDR is WI.
    ASSERT_EQ(vgic->dist_restore_write(0x284, 4, 1u << 9), Status::ok);
    EXPECT_EQ(gicd_read(0x204) & (1u << 9), 1u << 9);
    ASSERT_EQ(vgic->dist_restore_write(0x204, 4, 1u << 10), Status::ok);
    EXPECT_EQ(gicd_read(0x204), (1u << 8) | (1u << 10));  // line level of 40 untouched
    // Line levels restore without edge detection.
    ASSERT_EQ(vgic->line_level_write(0, 32, 0), Status::ok);
    EXPECT_EQ(gicd_read(0x204), 1u << 10);
    EXPECT_EQ(vgic->line_level_write(0, 33, 0), Status::invalid_argument);
    EXPECT_EQ(vgic->line_level_write(0, 96, 0), Status::invalid_argument);
    EXPECT_EQ(vgic->line_level_read(9, 0, levels), Status::invalid_argument);
    ASSERT_EQ(vgic->line_level_write(1, 0, 0xffffffff), Status::ok);
    ASSERT_EQ(vgic->line_level_read(1, 0, levels), Status::ok);
    EXPECT_EQ(levels, 0xffff0000u);  // SGIs have no line
}

TEST_F(VgicTest, RestoreValidation) {
    u64 iidr;
    ASSERT_EQ(vgic->dist_save_read(0x8, 4, iidr), Status::ok);
    EXPECT_EQ(vgic->dist_restore_write(0x8, 4, gic_iidr::Revision::set(iidr, 2)), Status::ok);
    EXPECT_EQ(gic_iidr::Revision::get(gicd_read(0x8)), 2u);
    EXPECT_EQ(gicr_read(0, 0x0) & (gicr_ctlr::CES::field_mask | gicr_ctlr::IR::field_mask), 0u);  // rev 2
    EXPECT_EQ(vgic->dist_restore_write(0x8, 4, gic_iidr::Revision::set(iidr, 1)), Status::invalid_argument);
    EXPECT_EQ(vgic->dist_restore_write(0x8, 4, gic_iidr::Revision::set(iidr, 4)), Status::invalid_argument);
    EXPECT_EQ(gic_iidr::Revision::get(gicd_read(0x8)), 2u);  // unchanged by the failures
}

// KVM's GICD_IIDR (arch/arm64/kvm/vgic/vgic-mmio-v3.c: ProductID 0x4b 'K' in [31:24], implementation revision in
// [15:12], implementer 0x43b Arm in [11:0]; include/kvm/arm_vgic.h: revisions 2 and 3, 3 the latest). Only the
// revision decides on restore: KVM's states restore, with the revision they carry; reads keep our own IDs.
TEST_F(VgicTest, RestoreAcceptsKvmGicdIidrByRevisionOnly) {
    constexpr u64 kKvmIidrRev3 = 0x4b00343b, kKvmIidrRev2 = 0x4b00243b;
    EXPECT_EQ(vgic->dist_restore_write(0x8, 4, kKvmIidrRev2), Status::ok);
    EXPECT_EQ(gicd_read(0x8), (u64{kProductId} << 24) | (2u << 12) | kImplementer);
    EXPECT_EQ(gicr_read(0, 0x0) & (gicr_ctlr::CES::field_mask | gicr_ctlr::IR::field_mask), 0u);  // rev 2 semantics
    EXPECT_EQ(vgic->dist_restore_write(0x8, 4, kKvmIidrRev3), Status::ok);
    EXPECT_EQ(gicd_read(0x8), (u64{kProductId} << 24) | (3u << 12) | kImplementer);
    EXPECT_NE(gicr_read(0, 0x0) & gicr_ctlr::CES::field_mask, 0u);  // rev 3: GICR_CTLR.{IR,CES} advertised
    // Revisions KVM's GICv3 never restores (0, 1) or that do not exist yet (4..15): refused, whoever made them.
    for (u64 rev : {0u, 1u, 4u, 15u}) {
        SCOPED_TRACE(rev);
        EXPECT_EQ(vgic->dist_restore_write(0x8, 4, gic_iidr::Revision::set(kKvmIidrRev3, rev)),
                  Status::invalid_argument);
        EXPECT_EQ(gic_iidr::Revision::get(gicd_read(0x8)), 3u);
    }
    // Another implementer, product or variant: not a reason to refuse (only the revision carries meaning).
    EXPECT_EQ(vgic->dist_restore_write(0x8, 4, 0x0102243bu), Status::ok);
    EXPECT_EQ(vgic->dist_restore_write(0x8, 4, (u64{kProductId} << 24) | (3u << 12) | 0x123), Status::ok);
    EXPECT_EQ(gicd_read(0x8), (u64{kProductId} << 24) | (3u << 12) | kImplementer);
    u64 typer;
    ASSERT_EQ(vgic->dist_save_read(0x4, 4, typer), Status::ok);
    EXPECT_EQ(vgic->dist_restore_write(0x4, 4, typer), Status::ok);
    EXPECT_EQ(vgic->dist_restore_write(0x4, 4, typer + 1), Status::invalid_argument);
    u64 v;
    EXPECT_EQ(vgic->dist_save_read(0x5000, 4, v), Status::not_found);
    EXPECT_EQ(vgic->dist_save_read(0x104, 2, v), Status::wrong_size);
    EXPECT_EQ(vgic->dist_save_read(0x106, 4, v), Status::wrong_size);
    EXPECT_EQ(vgic->redist_save_read(4, 0x0, 4, v), Status::invalid_argument);
    EXPECT_EQ(vgic->redist_save_read(0, 0x20000, 4, v), Status::not_found);
    EXPECT_EQ(vgic->redist_restore_write(0, 0x8, 2, 0), Status::wrong_size);
}

TEST_F(VgicTest, IccAccessors) {
    u64 v;
    ASSERT_EQ(vgic->icc_write(0, IccReg::PMR, 0xff), Status::ok);
    ASSERT_EQ(vgic->icc_read(0, IccReg::PMR, v), Status::ok);
    EXPECT_EQ(v, 0xf8u);  // 5 priority bits
    EXPECT_EQ(ich_vmcr::VPMR::get(vgic->cpu_if(0).vmcr), 0xf8u);
    ASSERT_EQ(vgic->icc_write(0, IccReg::BPR0, 2), Status::ok);
    ASSERT_EQ(vgic->icc_write(0, IccReg::BPR1, 5), Status::ok);
    ASSERT_EQ(vgic->icc_read(0, IccReg::BPR1, v), Status::ok);
    EXPECT_EQ(v, 5u);
    ASSERT_EQ(vgic->icc_read(0, IccReg::CTLR, v), Status::ok);
    EXPECT_EQ(icc_ctlr::PRIbits::get(v), 4u);
    EXPECT_EQ(icc_ctlr::A3V::get(v), 1u);
    ASSERT_EQ(vgic->icc_write(0, IccReg::CTLR, v | icc_ctlr::CBPR::make(1) | icc_ctlr::EOImode::make(1)), Status::ok);
    EXPECT_EQ(ich_vmcr::VEOIM::get(vgic->cpu_if(0).vmcr), 1u);
    ASSERT_EQ(vgic->icc_read(0, IccReg::BPR1, v), Status::ok);
    EXPECT_EQ(v, 3u);                                            // CBPR: BPR0 + 1
    ASSERT_EQ(vgic->icc_write(0, IccReg::BPR1, 7), Status::ok);  // ignored with CBPR
    EXPECT_EQ(ich_vmcr::VBPR1::get(vgic->cpu_if(0).vmcr), 5u);
    EXPECT_EQ(vgic->icc_write(0, IccReg::CTLR, icc_ctlr::PRIbits::make(6)), Status::invalid_argument);
    EXPECT_EQ(vgic->icc_write(0, IccReg::SRE, 0), Status::invalid_argument);
    ASSERT_EQ(vgic->icc_read(0, IccReg::SRE, v), Status::ok);
    EXPECT_EQ(v, 7u);
    ASSERT_EQ(vgic->icc_write(0, IccReg::AP1R0, 0x80000001), Status::ok);
    EXPECT_EQ(vgic->cpu_if(0).ap1r[0], 0x80000001u);
    EXPECT_EQ(vgic->icc_write(0, IccReg::AP1R1, 1), Status::invalid_argument);  // 5 preemption bits: one APR
    EXPECT_EQ(vgic->icc_read(0, IccReg::AP0R3, v), Status::invalid_argument);
    ASSERT_EQ(vgic->icc_write(0, IccReg::IGRPEN1, 1), Status::ok);
    EXPECT_EQ(ich_vmcr::VENG1::get(vgic->cpu_if(0).vmcr), 1u);
    EXPECT_EQ(vgic->icc_read(7, IccReg::PMR, v), Status::invalid_argument);
    // 7 preemption bits: four APRs.
    make(1, 32, nullptr, kDefaultIchVtr | ich_vtr::PREbits::make(6));
    EXPECT_EQ(vgic->icc_write(0, IccReg::AP0R3, 5), Status::ok);
    // Encodings.
    auto r = icc_reg_from_encoding(3, 0, 12, 12, 7);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r.value(), IccReg::IGRPEN1);
    EXPECT_EQ(icc_reg_from_encoding(3, 0, 4, 6, 0).value(), IccReg::PMR);
    EXPECT_EQ(icc_reg_from_encoding(3, 0, 12, 9, 2).value(), IccReg::AP1R2);
    EXPECT_FALSE(icc_reg_from_encoding(3, 0, 12, 12, 0).ok());  // IAR1 is not state
}

TEST_F(VgicTest, RoundTripIntoFreshVgic) {
    // Build up varied state on the source.
    gicd_write(0x0, 3);
    gicd_write(0x84, 0xf0f0f0f0);
    gicd_write(0x104, 0x12345678);
    gicd_write(0x108, 0x0000ffff);
    gicd_write(0x204, 0x00000101);
    gicd_write(0x308, 0x80000000);
    for (u32 i = 32; i < 96; ++i) gicd_write(0x400 + i, (i * 37) & 0xff, 1);
    gicd_write(0xc08, 0xa0a0a0a0);
    gicd_write(0x6000 + 8 * 50, vgic->vcpu_mpidr(3), 8);
    gicd_write(0x6000 + 8 * 51, 0x0000000500000007ull, 8);  // nobody there
    ASSERT_EQ(vgic->set_level(60, 0, true), Status::ok);
    for (u32 v = 0; v < 4; ++v) {
        gicr_write(v, kSgi + 0x80, 0xffff0000u | v);
        gicr_write(v, kSgi + 0x100, 0x08000000u | (1u << v));
        gicr_write(v, kSgi + 0x200, 1u << (v + 4));
        gicr_write(v, kSgi + 0x300, 1u << (v + 8));
        gicr_write(v, kSgi + 0x404, 0x10203040u * (v + 1));
        ASSERT_EQ(vgic->set_level(27, v, v % 2 == 0), Status::ok);
        ASSERT_EQ(vgic->icc_write(v, IccReg::PMR, 0x80 + v * 8), Status::ok);
        ASSERT_EQ(vgic->icc_write(v, IccReg::AP1R0, 1u << v), Status::ok);
        ASSERT_EQ(vgic->icc_write(v, IccReg::IGRPEN1, 1), Status::ok);
        gicr_write(v, 0x14, 0);
    }
    const u64 prop = kRamBase + 0x10000;
    ram[0x10000 + 100] = 0x41;
    gicr_write(0, 0x70, prop | 15, 8);
    gicr_write(1, 0x78, kRamBase + 0x40000, 8);
    gicr_write(1, 0x0, 1);
    vgic->set_lpi_pending(1, 8292, true);
    vgic->set_lpi_pending(1, 40000, true);
    ASSERT_EQ(vgic->save_pending_tables(), Status::ok);

    const auto list = register_list(vgic->nr_irqs());
    struct Saved {
        Reg reg;
        u32 vcpu;
        u64 value;
    };
    std::vector<Saved> saved;
    auto save_all = [&](Vgic& g, std::vector<Saved>& out) {
        out.clear();
        for (const Reg& r : list) {
            for (u32 v = 0; v < (r.redist ? 4u : 1u); ++v) {
                u64 val = 0;
                const Status st =
                    r.redist ? g.redist_save_read(v, r.offset, r.width, val) : g.dist_save_read(r.offset, r.width, val);
                EXPECT_EQ(st, Status::ok) << std::hex << r.offset;
                out.push_back({r, v, val});
            }
        }
    };
    save_all(*vgic, saved);
    std::vector<u64> icc;
    std::vector<u32> levels;
    for (u32 v = 0; v < 4; ++v) {
        for (IccReg reg : kIccRegs) {
            u64 val;
            ASSERT_EQ(vgic->icc_read(v, reg, val), Status::ok);
            icc.push_back(val);
        }
        u32 l;
        ASSERT_EQ(vgic->line_level_read(v, 0, l), Status::ok);
        levels.push_back(l);
    }
    for (u32 first = 32; first < vgic->nr_irqs(); first += 32) {
        u32 l;
        ASSERT_EQ(vgic->line_level_read(0, first, l), Status::ok);
        levels.push_back(l);
    }

    // Restore into a fresh Vgic over the same guest RAM.
    FakeKicker k2;
    auto dst = std::make_unique<Vgic>();
    VgicConfig cfg;
    cfg.nr_vcpus = 4;
    cfg.nr_spis = 64;
    ASSERT_EQ(dst->init(cfg, mem, k2, nullptr), Status::ok);
    for (const Saved& s : saved) {
        const Status st = s.reg.redist ? dst->redist_restore_write(s.vcpu, s.reg.offset, s.reg.width, s.value)
                                       : dst->dist_restore_write(s.reg.offset, s.reg.width, s.value);
        EXPECT_EQ(st, Status::ok) << std::hex << s.reg.offset;
    }
    usize k = 0;
    for (u32 v = 0; v < 4; ++v) {
        for (IccReg reg : kIccRegs) ASSERT_EQ(dst->icc_write(v, reg, icc[k++]), Status::ok);
        ASSERT_EQ(dst->line_level_write(v, 0, levels[v]), Status::ok);
    }
    for (u32 first = 32, i = 4; first < dst->nr_irqs(); first += 32, ++i)
        ASSERT_EQ(dst->line_level_write(0, first, levels[i]), Status::ok);

    std::vector<Saved> again;
    save_all(*dst, again);
    ASSERT_EQ(again.size(), saved.size());
    for (usize i = 0; i < saved.size(); ++i)
        EXPECT_EQ(again[i].value, saved[i].value)
            << "offset 0x" << std::hex << saved[i].reg.offset << " vcpu " << saved[i].vcpu;
    EXPECT_TRUE(dst->lpi_pending(1, 8292));
    EXPECT_TRUE(dst->lpi_pending(1, 40000));
    EXPECT_FALSE(dst->lpi_pending(0, 8292));
    EXPECT_EQ(dst->lpi_config(8292), 0x41u);
    for (u32 v = 0; v < 4; ++v) EXPECT_EQ(dst->cpu_if(v).vmcr, vgic->cpu_if(v).vmcr);
    // Guest-visible state matches too (pending includes line levels).
    for (u64 off = 0x200; off < 0x20c; off += 4) {
        u64 a = 0, b = 1;
        EXPECT_EQ(vgic->distributor().mmio_read(MmioAccess{0, off, 4, false}, a), MmioResult::ok);
        EXPECT_EQ(dst->distributor().mmio_read(MmioAccess{0, off, 4, false}, b), MmioResult::ok);
        EXPECT_EQ(a, b);
    }
}

#include "vgic/save_list.hpp"

// A pending table outside guest RAM (found by the snapshot fuzz target: a restore accepted it, the save then failed):
// with no LPI pending there is nothing to lose and the save succeeds; with one pending it has nowhere to go.
TEST_F(VgicTest, PendingTableOutsideRamSavesWhenNothingIsPending) {
    gicr_write(0, 0x70, (kRamBase + 0x10000) | 15, 8);
    gicr_write(0, 0x78, 0xd000040000000ull, 8);  // PENDBASER far outside RAM
    gicr_write(0, 0x0, 1);                       // EnableLPIs: the table is unreadable, nothing pending
    EXPECT_EQ(vgic->save_pending_tables(), Status::ok);
    vgic->set_lpi_pending(0, 8200, true);
    EXPECT_NE(vgic->save_pending_tables(), Status::ok);
}

TEST_F(VgicTest, SaveListCoversStateWithValueSemantics) {
    // Source state.
    gicd_write(0x0, 2);
    gicd_write(0x104, 0xff00ff00);
    gicd_write(0x308, 0x0f);
    gicd_write(0x20c, 0x3);  // beyond nr_irqs (96): ignored
    gicd_write(0x6000 + 8 * 95, vgic->vcpu_mpidr(1), 8);
    gicr_write(2, kSgi + 0x100, 0xa5a5);
    gicr_write(2, kSgi + 0x300, 0x5a5a0000);
    ASSERT_EQ(vgic->icc_write(2, IccReg::PMR, 0x70), Status::ok);

    // Destination with unrelated dirty state: value semantics must overwrite it, not merge.
    FakeKicker k2;
    auto dst = std::make_unique<Vgic>();
    VgicConfig cfg;
    cfg.nr_vcpus = 4;
    cfg.nr_spis = 64;
    ASSERT_EQ(dst->init(cfg, mem, k2, nullptr), Status::ok);
    ASSERT_EQ(dst->dist_restore_write(0x104, 4, 0x00ff00ff), Status::ok);
    ASSERT_EQ(dst->dist_restore_write(0x308, 4, 0xf0), Status::ok);
    ASSERT_EQ(dst->redist_restore_write(2, 0x10100, 4, 0x5a5a), Status::ok);

    const u32 nr = vgic->nr_irqs();
    ASSERT_EQ(gicd_save_count(nr), 3u + 4 * 2 + 64 / 4 + 64 / 16 + 64);
    for (usize i = 0; i < gicd_save_count(nr); ++i) {
        const SaveReg r = gicd_save_at(nr, i);
        u64 v;
        ASSERT_EQ(vgic->dist_save_read(r.offset, r.width, v), Status::ok) << std::hex << r.offset;
        ASSERT_EQ(restore_dist_value(*dst, r.offset, r.width, v), Status::ok) << std::hex << r.offset;
        u64 back;
        ASSERT_EQ(dst->dist_save_read(r.offset, r.width, back), Status::ok);
        EXPECT_EQ(back, v) << std::hex << r.offset;
        EXPECT_EQ(gic_reg_offset(gic_reg_index(r.offset)), r.offset);
    }
    for (u32 c = 0; c < 4; ++c) {
        for (usize i = 0; i < gicr_save_count(); ++i) {
            const SaveReg r = gicr_save_at(i);
            u64 v;
            ASSERT_EQ(vgic->redist_save_read(c, r.offset, r.width, v), Status::ok) << std::hex << r.offset;
            ASSERT_EQ(restore_redist_value(*dst, c, r.offset, r.width, v), Status::ok) << std::hex << r.offset;
            u64 back;
            ASSERT_EQ(dst->redist_save_read(c, r.offset, r.width, back), Status::ok);
            EXPECT_EQ(back, v) << std::hex << r.offset << " vcpu " << c;
        }
        for (usize i = 0; i < icc_save_count(kDefaultIchVtr); ++i) {
            const IccReg reg = icc_save_at(kDefaultIchVtr, i);
            u64 v;
            ASSERT_EQ(vgic->icc_read(c, reg, v), Status::ok);
            ASSERT_EQ(dst->icc_write(c, reg, v), Status::ok);
        }
        EXPECT_EQ(dst->cpu_if(c).vmcr, vgic->cpu_if(c).vmcr);
    }
    EXPECT_EQ(icc_save_count(kDefaultIchVtr), 9u);
    EXPECT_EQ(icc_save_count(kDefaultIchVtr | ich_vtr::PREbits::make(6)), 15u);
    EXPECT_EQ(icc_index(IccReg::PMR), (3u << 14) | (4u << 7) | (6u << 3));
    EXPECT_EQ(icc_index(IccReg::IGRPEN1), (3u << 14) | (12u << 7) | (12u << 3) | 7u);
    EXPECT_EQ(line_level_first_intid(line_level_index(3, 0)), 0u);
    EXPECT_EQ(line_level_vcpu(line_level_index(3, 0)), 3u);
    EXPECT_EQ(line_level_first_intid(line_level_index(3, 64)), 64u);
    EXPECT_EQ(line_level_vcpu(line_level_index(3, 64)), 0u);
}

// gicd_save_index is the O(1) inverse of gicd_save_at that GicdRegisterClass::owns uses: every listed offset maps
// back to its index, and no other offset of the frame maps to anything.
TEST(VgicSaveRestore, GicdSaveIndexInvertsTheSaveList) {
    for (u32 nr = kNumPrivate; nr <= kMaxIrqs; nr += 32) {
        std::vector<i64> want(0x10000 / 4, -1);
        for (usize i = 0; i < gicd_save_count(nr); ++i) {
            const SaveReg r = gicd_save_at(nr, i);
            ASSERT_EQ(gicd_save_index(nr, r.offset), static_cast<i64>(i)) << nr << " " << std::hex << r.offset;
            want[r.offset / 4] = static_cast<i64>(i);
        }
        for (u32 off = 0; off < 0x10000; ++off) {
            const i64 got = gicd_save_index(nr, off);
            ASSERT_EQ(got, off % 4 ? -1 : want[off / 4]) << nr << " " << std::hex << off;
        }
    }
}

// SparseBitmap::reset clears only the words its summary marks: after any set/clear history every bit reads clear.
TEST(VgicSparseBitmap, ResetClearsEveryBitThroughTheSummary) {
    auto b = std::make_unique<SparseBitmap<kNumLpis>>();
    const usize bits[] = {0, 1, 63, 64, 4095, 4096, 30000, kNumLpis - 1};
    for (usize i : bits) b->set(i);
    b->clear(64);
    b->set(65);
    b->reset();
    EXPECT_FALSE(b->any());
    for (usize i = 0; i < kNumLpis; ++i) ASSERT_FALSE(b->test(i)) << i;
    EXPECT_EQ(b->find_next(0), kNumLpis);
    b->set(77);
    EXPECT_EQ(b->find_next(0), 77u);
}
