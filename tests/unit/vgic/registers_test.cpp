// Distributor and redistributor registers: reset values, RAZ/WI and read-only fields, set/clear semantics,
// access-width rules, IROUTER halves, GICR_TYPER.Last.
#include "tests/unit/vgic/vgic_fixture.hpp"

using namespace vgictest;

TEST_F(VgicTest, GicdResetValuesAndIds) {
    EXPECT_EQ(gicd_read(0x0), gicd_ctlr::ARE::make(1) | gicd_ctlr::DS::make(1));
    const u64 typer = gicd_read(0x4);
    EXPECT_EQ(gicd_typer::ITLinesNumber::get(typer), (32u + 64u) / 32 - 1);
    EXPECT_EQ(gicd_typer::CPUNumber::get(typer), 3u);
    EXPECT_EQ(gicd_typer::LPIS::get(typer), 1u);
    EXPECT_EQ(gicd_typer::MBIS::get(typer), 0u);
    EXPECT_EQ(gicd_typer::IDbits::get(typer), 15u);
    EXPECT_EQ(gicd_typer::SecurityExtn::get(typer), 0u);
    EXPECT_EQ(gicd_typer::No1N::get(typer), 1u);
    const u64 iidr = gicd_read(0x8);
    EXPECT_EQ(gic_iidr::Implementer::get(iidr), kImplementer);
    EXPECT_EQ(gic_iidr::Revision::get(iidr), kImplRevLatest);
    EXPECT_EQ(gicd_read(0xc), 0u);                  // TYPER2
    EXPECT_EQ(gicd_read(0x10), 0u);                 // STATUSR
    EXPECT_EQ((gicd_read(0xffe8) >> 4) & 0xf, 3u);  // PIDR2.ArchRev
    EXPECT_EQ(gicd_read(0xfff0), 0x0du);            // CIDR0
    EXPECT_EQ(gicd_read(0xfffc), 0xb1u);            // CIDR3
    // SPIs 32..95 reset to group 1, disabled, idle, priority 0, level, routed to 0.0.0.0.
    EXPECT_EQ(gicd_read(0x84), 0xffffffffu);
    EXPECT_EQ(gicd_read(0x88), 0xffffffffu);
    EXPECT_EQ(gicd_read(0x8c), 0u);  // INTIDs 96.. do not exist
    EXPECT_EQ(gicd_read(0x104), 0u);
    EXPECT_EQ(gicd_read(0x204), 0u);
    EXPECT_EQ(gicd_read(0x304), 0u);
    EXPECT_EQ(gicd_read(0x420), 0u);
    EXPECT_EQ(gicd_read(0xc08), 0u);
    EXPECT_EQ(gicd_read(0x6000 + 8 * 40, 8), 0u);
}

TEST_F(VgicTest, GicdTyperTracksSpiCount) {
    make(1, 992);
    EXPECT_EQ(gicd_typer::ITLinesNumber::get(gicd_read(0x4)), 31u);
    EXPECT_EQ(gicd_typer::CPUNumber::get(gicd_read(0x4)), 0u);
    make(8, 32);
    EXPECT_EQ(gicd_typer::ITLinesNumber::get(gicd_read(0x4)), 1u);
    EXPECT_EQ(gicd_typer::CPUNumber::get(gicd_read(0x4)), 7u);
}

// reset() covers the implemented SPIs and vCPUs only; an init() that implements more must still start them from
// their reset state, whatever an earlier, larger configuration left there.
TEST_F(VgicTest, ReinitWithMoreSpisAndVcpusStartsThemFromReset) {
    VgicConfig big;
    big.nr_vcpus = 4;
    big.nr_spis = 128;
    big.ich_vtr = kDefaultIchVtr;
    VgicConfig small = big;
    small.nr_vcpus = 1;
    small.nr_spis = 32;
    ASSERT_EQ(vgic->init(big, mem, kicker, &hw), Status::ok);
    gicd_write(0x100 + 4 * (140 / 32), 1u << (140 % 32));  // SPI 140: enabled, pending, priority 0x20
    gicd_write(0x200 + 4 * (140 / 32), 1u << (140 % 32));
    gicd_write(0x400 + 140, 0x20, 1);
    gicr_write(3, kSgi + 0x200, 1u << 5);  // vCPU 3: SGI 5 pending
    ASSERT_EQ(gicd_read(0x200 + 4 * (140 / 32)) & (1u << (140 % 32)), 1u << (140 % 32));
    ASSERT_EQ(vgic->init(small, mem, kicker, &hw), Status::ok);  // SPI 140 and vCPU 3 not implemented
    vgic->reset();
    ASSERT_EQ(vgic->init(big, mem, kicker, &hw), Status::ok);
    EXPECT_EQ(gicd_read(0x100 + 4 * (140 / 32)), 0u);
    EXPECT_EQ(gicd_read(0x200 + 4 * (140 / 32)), 0u);
    EXPECT_EQ(gicd_read(0x400 + 140, 1), 0u);
    EXPECT_EQ(gicr_read(3, kSgi + 0x200), 0u);
}

TEST_F(VgicTest, InitRejectsBadConfig) {
    Vgic v;
    VgicConfig c;
    c.nr_vcpus = 0;
    EXPECT_EQ(v.init(c, mem, kicker, nullptr), Status::invalid_argument);
    c.nr_vcpus = kMaxVcpus + 1;
    EXPECT_EQ(v.init(c, mem, kicker, nullptr), Status::invalid_argument);
    c.nr_vcpus = 2;
    c.nr_spis = 33;
    EXPECT_EQ(v.init(c, mem, kicker, nullptr), Status::invalid_argument);
    c.nr_spis = 1024;
    EXPECT_EQ(v.init(c, mem, kicker, nullptr), Status::invalid_argument);
    c.nr_spis = 32;
    c.mpidr[0] = 0x101;
    c.mpidr[1] = 0x101;  // duplicate affinity
    EXPECT_EQ(v.init(c, mem, kicker, nullptr), Status::invalid_argument);
}

TEST_F(VgicTest, GicdCtlrEnablesAndRaoWiBits) {
    gicd_write(0x0, 0xffffffff);
    EXPECT_EQ(gicd_read(0x0), 0x53u);  // EnableGrp0|EnableGrp1|ARE|DS; RWP, E1NWF read 0
    gicd_write(0x0, 0);
    EXPECT_EQ(gicd_read(0x0), 0x50u);  // ARE and DS cannot be cleared
    gicd_write(0x0, 2);
    EXPECT_EQ(gicd_read(0x0), 0x52u);
}

TEST_F(VgicTest, GicdReadOnlyRegistersIgnoreWrites) {
    const u64 typer = gicd_read(0x4), iidr = gicd_read(0x8);
    gicd_write(0x4, 0);
    gicd_write(0x8, 0);
    gicd_write(0xffe8, 0);
    EXPECT_EQ(gicd_read(0x4), typer);
    EXPECT_EQ(gicd_read(0x8), iidr);
    EXPECT_EQ(gicd_read(0xffe8), 0x3bu);
}

TEST_F(VgicTest, GicdPrivateBanksAreRazWi) {
    // ARE == 1: SGI/PPI registers of the distributor are RAZ/WI.
    gicd_write(0x100, 0xffffffff);
    gicd_write(0x200, 0xffffffff);
    gicd_write(0x400, 0xffffffff);
    gicd_write(0x80, 0);
    EXPECT_EQ(gicd_read(0x100), 0u);
    EXPECT_EQ(gicd_read(0x200), 0u);
    EXPECT_EQ(gicd_read(0x400), 0u);
    EXPECT_EQ(gicd_read(0x80), 0u);
    EXPECT_EQ(gicr_read(0, kSgi + 0x100), 0u);  // nothing leaked into a redistributor
    EXPECT_EQ(gicr_read(0, kSgi + 0x80), 0xffffffffu);
    EXPECT_EQ(gicd_read(0x6000, 8), 0u);  // IROUTER0..31 reserved
    gicd_write(0x6000, 0x1, 8);
    EXPECT_EQ(gicd_read(0x6000, 8), 0u);
}

TEST_F(VgicTest, GicdSetClearSemantics) {
    gicd_write(0x104, 0x00000005);  // ISENABLER1: enable 32, 34
    gicd_write(0x104, 0x00000010);  // set 36: others unchanged
    EXPECT_EQ(gicd_read(0x104), 0x15u);
    EXPECT_EQ(gicd_read(0x184), 0x15u);  // ICENABLER reads the same state
    gicd_write(0x184, 0x00000001);       // clear 32 only
    EXPECT_EQ(gicd_read(0x104), 0x14u);
    gicd_write(0x184, 0);  // zeros have no effect
    EXPECT_EQ(gicd_read(0x104), 0x14u);

    gicd_write(0x204, 0x30);  // ISPENDR: 36, 37
    EXPECT_EQ(gicd_read(0x204), 0x30u);
    EXPECT_EQ(gicd_read(0x284), 0x30u);
    gicd_write(0x284, 0x10);
    EXPECT_EQ(gicd_read(0x204), 0x20u);

    gicd_write(0x308, 0x80000001);  // ISACTIVER2: 64, 95
    EXPECT_EQ(gicd_read(0x308), 0x80000001u);
    gicd_write(0x388, 0x1);
    EXPECT_EQ(gicd_read(0x388), 0x80000000u);

    gicd_write(0x84, 0x0000ffff);  // IGROUPR: plain read/write
    EXPECT_EQ(gicd_read(0x84), 0xffffu);
}

TEST_F(VgicTest, GicdPriorityByteAndWordAccess) {
    gicd_write(0x420, 0x44332211);             // INTIDs 32..35
    EXPECT_EQ(gicd_read(0x420), 0x40302010u);  // 5 bits implemented: low three bits RAZ
    gicd_write(0x422, 0xff, 1);
    EXPECT_EQ(gicd_read(0x422, 1), 0xf8u);
    EXPECT_EQ(gicd_read(0x420), 0x40f82010u);
    EXPECT_EQ(gicd_read(0x423, 1), 0x40u);
    // Halfword access is not allowed: RAZ/WI with a log line.
    hvtest::captured_log().clear();
    gicd_write(0x420, 0xffff, 2);
    EXPECT_EQ(gicd_read(0x420, 2), 0u);
    // The log is rate limited per call site (first 8, then 1 in 1024): enough attempts always log one line.
    for (int i = 0; i < 1100; ++i) gicd_write(0x420, 0xffff, 2);
    EXPECT_EQ(gicd_read(0x420), 0x40f82010u);
    EXPECT_NE(hvtest::captured_log().find("not allowed"), std::string::npos);
}

TEST_F(VgicTest, GicdConfigOnlyUpperBitWritable) {
    gicd_write(0xc08, 0xffffffff);  // ICFGR2: INTIDs 32..47
    EXPECT_EQ(gicd_read(0xc08), 0xaaaaaaaau);
    gicd_write(0xc08, 0x00000008);  // INTID 33 edge, others level
    EXPECT_EQ(gicd_read(0xc08), 0x8u);
}

TEST_F(VgicTest, WidthAndAlignmentRules) {
    gicd_write(0x104, 0xff);
    hvtest::captured_log().clear();
    EXPECT_EQ(gicd_read(0x104, 1), 0u);  // byte access to a word-only register
    EXPECT_EQ(gicd_read(0x104, 8), 0u);  // doubleword access to a word register
    EXPECT_EQ(gicd_read(0x106, 4), 0u);  // misaligned
    gicd_write(0x104, 0xff00, 8);        // ignored
    gicd_write(0x105, 0xff, 1);          // ignored
    EXPECT_EQ(gicd_read(0x104), 0xffu);
    EXPECT_EQ(gicd_read(0x0, 8), 0u);                                 // CTLR is 32-bit only
    for (int i = 0; i < 1100; ++i) EXPECT_EQ(gicd_read(0x0, 8), 0u);  // past the rate limit
    EXPECT_NE(hvtest::captured_log().find("GICD"), std::string::npos);
    // Reserved offsets are RAZ/WI.
    gicd_write(0x5000, 0xffffffff);
    EXPECT_EQ(gicd_read(0x5000), 0u);
    EXPECT_EQ(gicd_read(0x0f00), 0u);  // GICD_SGIR: not implemented with ARE
    // GICR: TYPER allows 32 and 64; CTLR only 32; IPRIORITYR bytes.
    EXPECT_NE(gicr_read(0, 0x8, 8), 0u);
    EXPECT_EQ(gicr_read(0, 0x0, 8), 0u);
    EXPECT_EQ(gicr_read(0, 0x8, 2), 0u);
    gicr_write(0, kSgi + 0x401, 0xa0, 1);
    EXPECT_EQ(gicr_read(0, kSgi + 0x400), 0xa000u);
    gicr_write(0, kSgi + 0x400, 0xffff, 2);
    EXPECT_EQ(gicr_read(0, kSgi + 0x400), 0xa000u);
}

TEST_F(VgicTest, IrouterWidthsAndHalves) {
    const u64 off = 0x6000 + 8 * 40;
    gicd_write(off, 0x0000000f81020304ull, 8);
    // IRM (bit 31) is RAZ/WI (No1N), reserved bits [30:24] RAZ; Aff3 kept.
    EXPECT_EQ(gicd_read(off, 8), 0x0000000f00020304ull);
    EXPECT_EQ(gicd_read(off, 4), 0x00020304u);
    EXPECT_EQ(gicd_read(off + 4, 4), 0x0fu);
    gicd_write(off + 4, 0x12, 4);  // upper half only
    EXPECT_EQ(gicd_read(off, 8), 0x0000001200020304ull);
    gicd_write(off, 0x000001, 4);  // lower half only
    EXPECT_EQ(gicd_read(off, 8), 0x0000001200000001ull);
    EXPECT_EQ(gicd_read(off + 2, 2), 0u);  // halfword: RAZ
    EXPECT_EQ(gicd_read(off + 4, 8), 0u);  // misaligned doubleword: RAZ
    // SPI beyond nr_irqs: RAZ/WI.
    gicd_write(0x6000 + 8 * 200, 1, 8);
    EXPECT_EQ(gicd_read(0x6000 + 8 * 200, 8), 0u);
}

TEST_F(VgicTest, GicrTyperAffinityAndLast) {
    for (u32 i = 0; i < 4; ++i) {
        const u64 typer = gicr_read(i, 0x8, 8);
        EXPECT_EQ(gicr_typer::ProcessorNumber::get(typer), i);
        EXPECT_EQ(gicr_typer::PLPIS::get(typer), 1u);
        EXPECT_EQ(gicr_typer::Last::get(typer), i == 3 ? 1u : 0u);
        EXPECT_EQ(gicr_typer::AffinityValue::get(typer), vgic->vcpu_mpidr(i) & 0xff);
        EXPECT_EQ(gicr_read(i, 0x8, 4), typer & 0xffffffffu);
        EXPECT_EQ(gicr_read(i, 0xc, 4), typer >> 32);
    }
    const u64 mp[2] = {0x0000000100020304ull, 0x0};
    make(2, 32, mp);
    EXPECT_EQ(gicr_typer::AffinityValue::get(gicr_read(0, 0x8, 8)), 0x01020304u);
    EXPECT_EQ(gicr_typer::Last::get(gicr_read(0, 0x8, 8)), 0u);
    EXPECT_EQ(gicr_typer::Last::get(gicr_read(1, 0x8, 8)), 1u);
    // Beyond the last redistributor: not ours.
    u64 v;
    EXPECT_EQ(vgic->redistributors().mmio_read(MmioAccess{0, 2 * kRedistStride, 4, false}, v), MmioResult::unhandled);
}

TEST_F(VgicTest, GicrRdBaseRegisters) {
    EXPECT_EQ(gicr_read(1, 0x0), gicr_ctlr::CES::make(1) | gicr_ctlr::IR::make(1));
    EXPECT_EQ(gicr_read(1, 0x4), gicd_read(0x8));  // IIDR
    EXPECT_EQ(gicr_read(1, 0x14), 0x6u);           // WAKER: ProcessorSleep | ChildrenAsleep at reset
    gicr_write(1, 0x14, 0);
    EXPECT_EQ(gicr_read(1, 0x14), 0u);
    gicr_write(1, 0x14, 0x2);
    EXPECT_EQ(gicr_read(1, 0x14), 0x6u);
    EXPECT_EQ(gicr_read(1, 0xc0), 0u);  // SYNCR.Busy
    EXPECT_EQ(gicr_read(1, 0x10), 0u);  // STATUSR
    EXPECT_EQ(gicr_read(1, 0xffe8), 0x3bu);
    gicr_write(1, 0x70, 0xffffffffffffffffull, 8);
    EXPECT_EQ(gicr_read(1, 0x70, 8), gicr_propbaser::kWritable);
    EXPECT_EQ(gicr_read(2, 0x70, 8), gicr_propbaser::kWritable);  // one table for the VM (CommonLPIAff == 0)
    gicr_write(1, 0x78, 0xffffffffffffffffull, 8);
    EXPECT_EQ(gicr_read(1, 0x78, 8), gicr_pendbaser::kWritable & ~gicr_pendbaser::PTZ::field_mask);  // PTZ RAZ
    gicr_write(1, 0x7c, 0, 4);                                                                       // upper half
    EXPECT_EQ(gicr_read(1, 0x78, 8), gicr_pendbaser::kWritable & 0xffffffffu);
    EXPECT_EQ(gicr_read(1, 0xa0, 8), 0u);  // INVLPIR is write-only
}

TEST_F(VgicTest, GicrSgiFrameRegisters) {
    EXPECT_EQ(gicr_read(2, kSgi + 0xc00), 0xaaaaaaaau);  // SGIs always edge
    EXPECT_EQ(gicr_read(2, kSgi + 0xc04), 0u);           // PPIs level
    gicr_write(2, kSgi + 0xc00, 0);
    gicr_write(2, kSgi + 0xc04, 0xffffffff);
    EXPECT_EQ(gicr_read(2, kSgi + 0xc00), 0xaaaaaaaau);
    EXPECT_EQ(gicr_read(2, kSgi + 0xc04), 0u);  // read-only (as KVM)
    gicr_write(2, kSgi + 0x100, 0x08000001);
    EXPECT_EQ(gicr_read(2, kSgi + 0x100), 0x08000001u);
    EXPECT_EQ(gicr_read(1, kSgi + 0x100), 0u);  // banked per redistributor
    gicr_write(2, kSgi + 0x180, 0x1);
    EXPECT_EQ(gicr_read(2, kSgi + 0x180), 0x08000000u);
    gicr_write(2, kSgi + 0x200, 0x3);
    gicr_write(2, kSgi + 0x280, 0x1);
    EXPECT_EQ(gicr_read(2, kSgi + 0x200), 0x2u);
    gicr_write(2, kSgi + 0x300, 0x10000);
    gicr_write(2, kSgi + 0x380, 0x0);
    EXPECT_EQ(gicr_read(2, kSgi + 0x300), 0x10000u);
    gicr_write(2, kSgi + 0x80, 0xfffffffe);
    EXPECT_EQ(gicr_read(2, kSgi + 0x80), 0xfffffffeu);
    gicr_write(2, kSgi + 0xd00, 0xffffffff);  // IGRPMODR0: RAZ/WI with DS == 1
    EXPECT_EQ(gicr_read(2, kSgi + 0xd00), 0u);
    gicr_write(2, kSgi + 0xe00, 0xffffffff);  // NSACR
    EXPECT_EQ(gicr_read(2, kSgi + 0xe00), 0u);
    gicr_write(2, kSgi + 0x41c, 0x12345678);
    EXPECT_EQ(gicr_read(2, kSgi + 0x41c), 0x10305078u);
    EXPECT_EQ(gicr_read(2, kSgi + 0x420), 0u);  // past IPRIORITYR7
}

TEST_F(VgicTest, ResetRestoresEverything) {
    gicd_write(0x0, 3);
    gicd_write(0x104, 0xffffffff);
    gicd_write(0x6000 + 8 * 33, 1, 8);
    gicr_write(0, kSgi + 0x200, 0xffff);
    gicr_write(0, 0x14, 0);
    vgic->reset();
    EXPECT_EQ(gicd_read(0x0), 0x50u);
    EXPECT_EQ(gicd_read(0x104), 0u);
    EXPECT_EQ(gicd_read(0x6000 + 8 * 33, 8), 0u);
    EXPECT_EQ(gicr_read(0, kSgi + 0x200), 0u);
    EXPECT_EQ(gicr_read(0, 0x14), 0x6u);
}
