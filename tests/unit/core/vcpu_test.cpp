#include "core/vcpu.hpp"

#include <gtest/gtest.h>

#include "core/esr.hpp"
#include "core/vm.hpp"

using namespace hv;

TEST(Vcpu, ResetEntersEl1hMaskedWithMmuOff) {
    Vcpu v;
    v.mpidr = 0x101;
    v.ctx.core.x[5] = 99;
    vcpu_reset(v, 0x4008'0000, 0x4800'0000);
    EXPECT_EQ(v.ctx.core.pc, 0x4008'0000u);
    EXPECT_EQ(v.ctx.core.x[0], 0x4800'0000u);
    EXPECT_EQ(v.ctx.core.x[5], 0u);
    EXPECT_EQ(v.ctx.core.pstate, 0x3c5u);
    EXPECT_EQ(v.ctx.sysreg(SysReg::SCTLR_EL1) & 1, 0u);  // M = 0
    EXPECT_EQ(v.ctx.sysreg(SysReg::MPIDR_EL1), 0x101u);
    EXPECT_TRUE(v.fp_dirty);
}

TEST(Vcpu, XzrReadsZeroAndIgnoresWrites) {
    VcpuContext c{};
    c.core.x[30] = 7;
    write_gpr(c, 31, 1234);
    EXPECT_EQ(read_gpr(c, 31), 0u);
    EXPECT_EQ(read_gpr(c, 30), 7u);
    write_gpr(c, 3, 5);
    EXPECT_EQ(c.core.x[3], 5u);
}

TEST(Vcpu, VectorOffsetsFollowSourceState) {
    EXPECT_EQ(el1_vector_offset(0x3c5, VectorKind::sync), 0x200u);  // EL1h
    EXPECT_EQ(el1_vector_offset(0x3c4, VectorKind::sync), 0x000u);  // EL1t
    EXPECT_EQ(el1_vector_offset(0x000, VectorKind::sync), 0x400u);  // EL0
    EXPECT_EQ(el1_vector_offset(0x005, VectorKind::irq), 0x280u);
    EXPECT_EQ(el1_vector_offset(0x000, VectorKind::serror), 0x580u);
}

TEST(Vcpu, InjectedDataAbortLooksLikeHardware) {
    VcpuContext c{};
    c.sysreg(SysReg::VBAR_EL1) = 0xffff'8000'1000'0800ull;
    c.core.pc = 0xffff'8000'1234'5678ull;
    c.core.pstate = 0x005;  // EL1h, interrupts unmasked
    inject_data_abort(c, 0x0a00'0100, true);
    u64 esr = c.sysreg(SysReg::ESR_EL1);
    EXPECT_EQ(esr::exception_class(esr), esr::ExceptionClass::dabt_current);
    EXPECT_TRUE(esr::is_32bit_instruction(esr));
    auto d = esr::DataAbort::from_esr(esr);
    EXPECT_EQ(d.dfsc, esr::kFscSyncExternal);
    EXPECT_TRUE(d.write);
    EXPECT_FALSE(d.isv);
    EXPECT_EQ(c.sysreg(SysReg::FAR_EL1), 0x0a00'0100u);
    EXPECT_EQ(c.core.elr_el1, 0xffff'8000'1234'5678ull);
    EXPECT_EQ(c.core.spsr[0], 0x005u);
    EXPECT_EQ(c.core.pc, 0xffff'8000'1000'0800ull + 0x200);
    EXPECT_EQ(c.core.pstate, 0x3c5u);
}

TEST(Vcpu, InjectionFromEl0UsesLowerElVectorAndClass) {
    VcpuContext c{};
    c.sysreg(SysReg::VBAR_EL1) = 0x4000'0000;
    c.core.pc = 0x1000;
    c.core.pstate = 0x0;  // EL0t
    inject_data_abort(c, 0x1234, false);
    EXPECT_EQ(esr::exception_class(c.sysreg(SysReg::ESR_EL1)), esr::ExceptionClass::dabt_lower);
    EXPECT_EQ(c.core.pc, 0x4000'0400u);

    VcpuContext u{};
    u.sysreg(SysReg::VBAR_EL1) = 0x4000'0000;
    u.sysreg(SysReg::FAR_EL1) = 0xdead;
    u.core.pc = 0x2000;
    u.core.pstate = 0x3c4;  // EL1t
    inject_undef(u);
    EXPECT_EQ(u.sysreg(SysReg::ESR_EL1), 1ull << 25);  // EC 0, IL
    EXPECT_EQ(u.sysreg(SysReg::FAR_EL1), 0xdeadu);     // untouched
    EXPECT_EQ(u.core.pc, 0x4000'0000u);
    EXPECT_EQ(u.core.elr_el1, 0x2000u);

    VcpuContext i{};
    i.core.pstate = 0x3c5;
    inject_instruction_abort(i, 0x9000'0000);
    EXPECT_EQ(esr::exception_class(i.sysreg(SysReg::ESR_EL1)), esr::ExceptionClass::iabt_current);
}

TEST(Vm, GuestRamExcludesHypervisorRegionAndHonoursLimit) {
    FixedVector<MemRegion, PlatformInfo::kMaxMemRegions> host;
    ASSERT_EQ(host.push_back({0x4000'0000, GiB}), Status::ok);
    FixedVector<MemRegion, kMaxRamRegions> out;
    ASSERT_EQ(carve_guest_ram(host, 0x4000'0000, 32 * MiB, 0, out), Status::ok);
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].base, 0x4200'0000u);
    EXPECT_EQ(out[0].end(), 0x8000'0000u);

    ASSERT_EQ(carve_guest_ram(host, 0x4000'0000, 32 * MiB, 256 * MiB + 5, out), Status::ok);
    EXPECT_EQ(out[0].size, 256 * MiB);

    FixedVector<MemRegion, PlatformInfo::kMaxMemRegions> tiny;
    ASSERT_EQ(tiny.push_back({0x4000'0000, 32 * MiB}), Status::ok);
    EXPECT_EQ(carve_guest_ram(tiny, 0x4000'0000, 32 * MiB, 0, out), Status::no_memory);
}

TEST(Vm, ReserveTopOfRamTakesFromTheHighestRegion) {
    FixedVector<MemRegion, kMaxRamRegions> ram;
    ASSERT_EQ(ram.push_back({0x4200'0000, 0x1e00'0000}), Status::ok);  // ..0x6000_0000
    ASSERT_EQ(ram.push_back({0x1'0000'0000, 4 * MiB}), Status::ok);
    u64 base = 0;
    // 3 MiB + 1 rounds up to 4 MiB: the second region cannot give that and keep 2 MiB, the first can.
    ASSERT_EQ(reserve_top_of_ram(ram, 3 * MiB + 1, base), Status::ok);
    EXPECT_EQ(base, 0x6000'0000u - 4 * MiB);
    EXPECT_EQ(ram[0].end(), 0x6000'0000u - 4 * MiB);
    EXPECT_EQ(ram[1].size, 4 * MiB);
    ASSERT_EQ(reserve_top_of_ram(ram, 4096, base), Status::ok);  // 2 MiB from the top region
    EXPECT_EQ(base, 0x1'0000'0000u + 2 * MiB);
    EXPECT_EQ(ram[1].size, 2 * MiB);
    EXPECT_EQ(reserve_top_of_ram(ram, 0, base), Status::invalid_argument);
    EXPECT_EQ(reserve_top_of_ram(ram, 1ull << 40, base), Status::no_memory);
    EXPECT_EQ(reserve_top_of_ram(ram, ~u64{0}, base), Status::invalid_argument);
}

TEST(Vm, LimitGuestRamKeepsTheLowestBytes) {
    FixedVector<MemRegion, kMaxRamRegions> ram;
    ASSERT_EQ(ram.push_back({0x4200'0000, 256 * MiB}), Status::ok);
    ASSERT_EQ(ram.push_back({0x1'0000'0000, 64 * MiB}), Status::ok);
    FixedVector<MemRegion, kMaxRamRegions> a = ram;
    EXPECT_EQ(limit_guest_ram(a, 128 * MiB), 128 * MiB);
    ASSERT_EQ(a.size(), 1u);
    EXPECT_EQ(a[0].base, 0x4200'0000u);
    EXPECT_EQ(a[0].size, 128 * MiB);
    FixedVector<MemRegion, kMaxRamRegions> b = ram;
    EXPECT_EQ(limit_guest_ram(b, 256 * MiB + 32 * MiB + MiB), 288 * MiB);  // rounded down to 2 MiB, spans both
    ASSERT_EQ(b.size(), 2u);
    EXPECT_EQ(b[1].size, 32 * MiB);
    FixedVector<MemRegion, kMaxRamRegions> c = ram;
    EXPECT_EQ(limit_guest_ram(c, 4 * GiB), 320 * MiB);  // less than asked: everything kept
    EXPECT_EQ(c.size(), 2u);
}

TEST(Vm, ResetReasonNamesAreTheDtStrings) {
    EXPECT_STREQ(reset_reason_name(ResetReason::cold), "cold");
    EXPECT_STREQ(reset_reason_name(ResetReason::system_reset), "system-reset");
    EXPECT_STREQ(reset_reason_name(ResetReason::system_reset2), "system-reset2");
}
