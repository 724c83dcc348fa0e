#include "tests/unit/its/its_harness.hpp"

using namespace itstest;

TEST(ItsRegisters, IdentificationAndTyper) {
    Harness h;
    u64 typer = h.read(reg(GitsReg::TYPER));
    EXPECT_EQ(typer::Physical::get(typer), 1u);
    EXPECT_EQ(typer::Virtual::get(typer), 0u);
    EXPECT_EQ(typer::ItteSize::get(typer), 7u);
    EXPECT_EQ(typer::DevBits::get(typer), 15u);
    EXPECT_EQ(typer::IdBits::get(typer), 15u);
    EXPECT_EQ(typer::Pta::get(typer), 0u);
    EXPECT_EQ(typer::Cil::get(typer), 0u);
    // 32-bit halves of a 64-bit register.
    EXPECT_EQ(h.read(reg(GitsReg::TYPER), 4), typer & 0xffffffff);
    EXPECT_EQ(h.read(reg(GitsReg::TYPER) + 4, 4), typer >> 32);

    u64 iidr = h.read(reg(GitsReg::IIDR), 4);
    EXPECT_EQ(iidr::Revision::get(iidr), 0u);
    EXPECT_EQ(iidr::ProductId::get(iidr), iidr::kProductId);
    EXPECT_EQ(iidr::Implementer::get(iidr), iidr::kImplementerArm);
    EXPECT_EQ((Field<7, 4>::get(h.read(reg(GitsReg::PIDR2), 4))), 3u);  // ArchRev: GICv3
    EXPECT_EQ(h.read(reg(GitsReg::CIDR0), 4), 0x0du);
    EXPECT_EQ(h.read(reg(GitsReg::CIDR3), 4), 0xb1u);
}

TEST(ItsRegisters, CtlrQuiescentAndEnableNeedsTables) {
    Harness h;
    EXPECT_EQ(h.read(reg(GitsReg::CTLR), 4), ctlr::Quiescent::make(1));
    h.write(reg(GitsReg::CTLR), 1, 4);  // no CBASER / BASERs yet: the enable is ignored
    EXPECT_FALSE(h.its->enabled());
    EXPECT_NE(hvtest::captured_log().find("enable with invalid"), std::string::npos);
    h.setup();
    EXPECT_EQ(h.read(reg(GitsReg::CTLR), 4), ctlr::Enabled::make(1) | ctlr::Quiescent::make(1));
    h.write(reg(GitsReg::CTLR), 0, 4);
    EXPECT_FALSE(h.its->enabled());
}

TEST(ItsRegisters, BaserReadOnlyFieldsAndRazWi) {
    Harness h;
    h.write(reg(GitsReg::BASER0), ~u64{0});
    u64 b0 = h.read(reg(GitsReg::BASER0));
    EXPECT_EQ(baser::Type::get(b0), 1u);                   // devices
    EXPECT_EQ(baser::EntrySize::get(b0), 7u);              // 8-byte entries
    EXPECT_EQ(baser::Indirect::get(b0), 1u);               // two-level supported for devices
    EXPECT_EQ(baser::PageSize::get(b0), baser::kPage64K);  // read-only 64 KiB (KVM, QEMU)
    EXPECT_EQ(b0 & mask(15, 12), 0u);                      // PA[51:48] with 64 KiB pages: RES0 under a 40-bit IPA
    h.write(reg(GitsReg::BASER0) + 8, ~u64{0});
    u64 b1 = h.read(reg(GitsReg::BASER0) + 8);
    EXPECT_EQ(baser::Type::get(b1), 4u);      // collections
    EXPECT_EQ(baser::Indirect::get(b1), 0u);  // flat only: RAZ/WI
    for (unsigned n = 2; n < 8; ++n) {
        h.write(reg(GitsReg::BASER0) + 8 * n, ~u64{0});
        EXPECT_EQ(h.read(reg(GitsReg::BASER0) + 8 * n), 0u) << n;
    }
    // Page_Size is read-only 64 KiB for both tables whatever the guest writes (4 KiB, 16 KiB, reserved 0b11, or a
    // 32-bit write of the low half), and the address keeps only its 64 KiB-aligned part.
    for (unsigned n = 0; n < 2; ++n) {
        for (u64 code : {baser::kPage4K, baser::kPage16K, baser::kPage64K, u64{3}}) {
            SCOPED_TRACE(::testing::Message() << "BASER" << n << " Page_Size " << code);
            h.write(reg(GitsReg::BASER0) + 8 * n, Harness::baser_value(kDevTable + 0x3000, 4, false, code));
            u64 v = h.read(reg(GitsReg::BASER0) + 8 * n);
            EXPECT_EQ(baser::PageSize::get(v), baser::kPage64K);
            EXPECT_EQ(baser::PhysicalAddress::get(v) << 12, kDevTable);  // bits [15:12] are PA[51:48]: RES0
            EXPECT_EQ(baser::Size::get(v), 3u);
            EXPECT_EQ(baser::Valid::get(v), 1u);
            h.write(reg(GitsReg::BASER0) + 8 * n, baser::PageSize::make(code) | kCollTable, 4);
            EXPECT_EQ(baser::PageSize::get(h.read(reg(GitsReg::BASER0) + 8 * n)), baser::kPage64K);
        }
        h.write(reg(GitsReg::BASER0) + 8 * n, 0);
    }
    // 32-bit write to the upper half only changes the upper half.
    h.write(reg(GitsReg::BASER0), Harness::baser_value(kDevTable, 2));
    h.write(reg(GitsReg::BASER0) + 4, 0, 4);
    EXPECT_EQ(h.read(reg(GitsReg::BASER0), 4), Harness::baser_value(kDevTable, 2) & 0xffffffff);
    EXPECT_EQ(baser::Valid::get(h.read(reg(GitsReg::BASER0))), 0u);
}

TEST(ItsRegisters, BadWidthsAndReservedOffsetsAreRazWi) {
    Harness h;
    h.setup();
    hvtest::captured_log().clear();
    EXPECT_EQ(h.read(reg(GitsReg::CTLR), 1), 0u);  // 8-bit
    EXPECT_EQ(h.read(reg(GitsReg::CTLR), 8), 0u);  // 64-bit access to a 32-bit register
    EXPECT_EQ(h.read(reg(GitsReg::TYPER) + 2, 2), 0u);
    EXPECT_EQ(h.read(0x200, 4), 0u);    // reserved
    h.write(reg(GitsReg::CTLR), 0, 1);  // 8-bit write must not disable
    h.write(reg(GitsReg::CTLR), 0, 8);
    EXPECT_TRUE(h.its->enabled());
    EXPECT_NE(hvtest::captured_log().find("bad"), std::string::npos);
    EXPECT_NE(hvtest::captured_log().find("reserved"), std::string::npos);
    // Read-only registers ignore writes.
    u64 typer = h.read(reg(GitsReg::TYPER));
    h.write(reg(GitsReg::TYPER), 0);
    EXPECT_EQ(h.read(reg(GitsReg::TYPER)), typer);
    h.write(reg(GitsReg::CREADR), 0x40);
    EXPECT_EQ(h.creadr(), 0u);
}

TEST(ItsRegisters, CbaserAndBaserIgnoredWhileEnabledAndCbaserResetsCreadr) {
    Harness h;
    h.setup();
    h.mapd(1);
    EXPECT_EQ(h.creadr(), 32u);
    u64 cb = h.read(reg(GitsReg::CBASER));
    h.write(reg(GitsReg::CBASER), 0);
    EXPECT_EQ(h.read(reg(GitsReg::CBASER)), cb);
    u64 b0 = h.read(reg(GitsReg::BASER0));
    h.write(reg(GitsReg::BASER0), 0);
    EXPECT_EQ(h.read(reg(GitsReg::BASER0)), b0);
    h.write(reg(GitsReg::CTLR), 0, 4);
    h.write(reg(GitsReg::CBASER), cb);
    EXPECT_EQ(h.creadr(), 0u);
    EXPECT_EQ(h.read(reg(GitsReg::CWRITER)), 0u);
    // Clearing BASER0.Valid drops every device (KVM).
    EXPECT_EQ(h.its->device_count(), 1u);
    h.write(reg(GitsReg::BASER0), b0 & ~baser::Valid::field_mask);
    EXPECT_EQ(h.its->device_count(), 0u);
}

TEST(ItsRegisters, CwriterBeyondQueueIgnoredAndLowBitsMasked) {
    Harness h;
    h.setup();
    hvtest::captured_log().clear();
    h.write(reg(GitsReg::CWRITER), kQueuePages * 4096);  // one past the end
    EXPECT_EQ(h.read(reg(GitsReg::CWRITER)), 0u);
    EXPECT_NE(hvtest::captured_log().find("beyond"), std::string::npos);
    h.write(reg(GitsReg::CWRITER), 0x1e);  // RES0 bits [4:1]; Retry without a stall does nothing
    EXPECT_EQ(h.read(reg(GitsReg::CWRITER)), 0u);
    EXPECT_EQ(h.creadr(), 0u);
}

TEST(ItsRegisters, TranslaterWidthsAndSeparateFrame) {
    Harness h;
    h.setup();
    h.mapd(Its::kCpuRequesterId);
    h.cmds({Command::mapc(0, 2, true), Command::mapti(0, 3, 8200, 0), Command::mapti(0, 0x1f, 8201, 0)});
    h.write(reg(GitsReg::TRANSLATER), 3, 4);
    EXPECT_TRUE(h.sink.lpi_pending(2, 8200));
    h.write(reg(GitsReg::TRANSLATER), 0xffff001f, 2);  // 16-bit: EventID = low half
    EXPECT_TRUE(h.sink.lpi_pending(2, 8201));
    h.sink.clear_pending();
    h.write(reg(GitsReg::TRANSLATER), 3, 1);  // 8-bit: WI
    EXPECT_TRUE(h.sink.pending().empty());
    EXPECT_EQ(h.read(reg(GitsReg::TRANSLATER), 4), 0u);  // write-only: RAZ
    u64 v = 0;
    EXPECT_EQ(h.its->translater_frame().mmio_write(MmioAccess{0, kTranslaterOffsetInFrame, 4, true}, 3),
              MmioResult::ok);
    EXPECT_TRUE(h.sink.lpi_pending(2, 8200));
    EXPECT_EQ(h.its->translater_frame().mmio_read(MmioAccess{0, 0, 4, false}, v), MmioResult::ok);
    EXPECT_EQ(v, 0u);
}

TEST(ItsRegisters, WorksThroughMmioBus) {
    Harness h;
    MmioBus bus;
    ASSERT_EQ(bus.add(0x08080000, kControlFrameSize + kTranslaterFrameSize, h.its.get()), Status::ok);
    u64 v = 0;
    EXPECT_EQ(bus.dispatch(0, 0x08080000 + reg(GitsReg::PIDR2), 4, false, v), MmioResult::ok);
    EXPECT_EQ(v, 0x3bu);
}
