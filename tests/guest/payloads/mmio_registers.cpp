// mmio_registers: a trapped GICD access with every transfer register and every load form. The hypervisor's exit
// vector sends a data abort whose transfer register (ISS.SRT) is not one of x19-x29 to a lean path that leaves
// x19-x29 in the CPU (vectors.S exit_mmio, fast_exit.cpp hv_fast_mmio) and the others to the path that saves every
// register first; reads resume the guest at once, writes go on to the run loop. So, for Rt = x0..x30 and xzr:
//   - an LDR W<n> of GICD_TYPER reads what a plain C read gives, and a STR W<n> to a GICD_IPRIORITYR word stores the
//     register's value (read back through C), and
//   - every other general-purpose register (but the one holding the address) keeps its value across the access;
// and the load forms (LDRB, LDRSB W/X, LDRH, LDRSH W/X, LDR W, LDRSW, LDR X) into x5 (lean path) and x22 (the other)
// give the value the architecture defines: truncated to the access, sign-extended for LDRS*, upper 32 bits zero for a
// W register (DDI0487 C6.2: LDRSB, LDRSH, LDRSW). GICD_IPRIORITYR takes byte and word accesses; GICD_IROUTER 64-bit
// ones. Halfword accesses are RAZ under the hypervisor (IHI0069H 12.1.3: not a supported width).
// Control: the IPRIORITYR words written hold a value with the top bit set, so a missing sign extension shows.
// The ITS's GITS_CREADR (LDR X<n>) and GITS_CWRITER (STR X<n>) go to a lean path of their own (fast_exit.cpp
// hv_fast_mmio64): the same checks with Rt = x0..x30 and xzr, on the (disabled) virtual ITS -- CWRITER takes and
// reads back each register's value, a distinct queue offset, and nothing runs.
//
// guest-tests: smp=1 mem=512M append="" hv_append="vcpus=1" expect=pass
#include "tests/guest/runtime/guest.hpp"
#include "tests/guest/runtime/its.hpp"

using namespace rt;

// mmio_probe_<op>_<r><n>(addr, regs): x0..x30 but the base register loaded from regs[0..30], one `<op> <r><n>,
// [x<base>]` with x<base> = addr (base: x1 if n is 0, else x0), then x0..x30 but the base stored back to regs.
// x19-x30 are restored before returning.
asm(R"(
    .macro mmio_probe op, r, n, base
    .text
    .balign 4
    .global mmio_probe_\op\()_\r\n
    .type mmio_probe_\op\()_\r\n, %function
mmio_probe_\op\()_\r\n:
    sub     sp, sp, #112
    stp     x19, x20, [sp, #0]
    stp     x21, x22, [sp, #16]
    stp     x23, x24, [sp, #32]
    stp     x25, x26, [sp, #48]
    stp     x27, x28, [sp, #64]
    stp     x29, x30, [sp, #80]
    stp     x0, x1, [sp, #96]
    mov     x\base, x1
    .irp    i, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30
    .if     \i != \base
    ldr     x\i, [x\base, #(8 * \i)]
    .endif
    .endr
    ldr     x\base, [sp, #96]
    \op     \r\n, [x\base]
    ldr     x\base, [sp, #104]
    .irp    i, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30
    .if     \i != \base
    str     x\i, [x\base, #(8 * \i)]
    .endif
    .endr
    ldp     x19, x20, [sp, #0]
    ldp     x21, x22, [sp, #16]
    ldp     x23, x24, [sp, #32]
    ldp     x25, x26, [sp, #48]
    ldp     x27, x28, [sp, #64]
    ldp     x29, x30, [sp, #80]
    add     sp, sp, #112
    ret
    .endm

    mmio_probe ldr, w, 0, 1
    mmio_probe str, w, 0, 1
    .irp    n, 1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30
    mmio_probe ldr, w, \n, 0
    mmio_probe str, w, \n, 0
    .endr
    mmio_probe ldr, w, zr, 0
    mmio_probe str, w, zr, 0
    mmio_probe str, x, 0, 1
    mmio_probe ldr, x, 0, 1
    .irp    n, 1,2,3,4,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,23,24,25,26,27,28,29,30
    mmio_probe ldr, x, \n, 0
    .endr
    .irp    n, 1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30
    mmio_probe str, x, \n, 0
    .endr
    mmio_probe ldr, x, zr, 0
    mmio_probe str, x, zr, 0
    .irp    n, 5, 22
    mmio_probe ldrb, w, \n, 0
    mmio_probe ldrsb, w, \n, 0
    mmio_probe ldrsb, x, \n, 0
    mmio_probe ldrh, w, \n, 0
    mmio_probe ldrsh, w, \n, 0
    mmio_probe ldrsh, x, \n, 0
    mmio_probe ldrsw, x, \n, 0
    mmio_probe ldr, x, \n, 0
    .endr
)");

namespace {

using Probe = void (*)(u64 addr, u64* regs);

// clang-format off
#define RT_REGS(X) \
    X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11) X(12) X(13) X(14) X(15) X(16) X(17) X(18) X(19) \
    X(20) X(21) X(22) X(23) X(24) X(25) X(26) X(27) X(28) X(29) X(30)
// clang-format on
// The LDR/STR probes of W<n> and X<n> (n = 0..30) and of the zero register, one family per width.
#define RT_DECLARE(w, n)                              \
    extern "C" void mmio_probe_ldr_##w##n(u64, u64*); \
    extern "C" void mmio_probe_str_##w##n(u64, u64*);
#define RT_DECLARE_W(n) RT_DECLARE(w, n)
#define RT_DECLARE_X(n) RT_DECLARE(x, n)
RT_REGS(RT_DECLARE_W)
RT_REGS(RT_DECLARE_X)
RT_DECLARE(w, zr)
RT_DECLARE(x, zr)
#define RT_LOAD(n) mmio_probe_ldr_w##n,
#define RT_STORE(n) mmio_probe_str_w##n,
#define RT_LOAD_X(n) mmio_probe_ldr_x##n,
#define RT_STORE_X(n) mmio_probe_str_x##n,
constexpr Probe kLoads[31] = {RT_REGS(RT_LOAD)};
constexpr Probe kStores[31] = {RT_REGS(RT_STORE)};
constexpr Probe kLoads64[31] = {RT_REGS(RT_LOAD_X)};
constexpr Probe kStores64[31] = {RT_REGS(RT_STORE_X)};

#define RT_FORMS(n)                                   \
    extern "C" void mmio_probe_ldrb_w##n(u64, u64*);  \
    extern "C" void mmio_probe_ldrsb_w##n(u64, u64*); \
    extern "C" void mmio_probe_ldrsb_x##n(u64, u64*); \
    extern "C" void mmio_probe_ldrh_w##n(u64, u64*);  \
    extern "C" void mmio_probe_ldrsh_w##n(u64, u64*); \
    extern "C" void mmio_probe_ldrsh_x##n(u64, u64*); \
    extern "C" void mmio_probe_ldrsw_x##n(u64, u64*);
RT_FORMS(5)
RT_FORMS(22)

constexpr u64 kGicdTyper = 0x4;
constexpr u64 kGicdIpriorityr = 0x400;
constexpr u64 kGicdIrouter = 0x6000;
constexpr u32 kSpi = 32;  // its IPRIORITYR word (SPIs 32..35) and IROUTER are written

u64 gicd() { return gic::gicd_base(); }
u32 read32(u64 addr) { return *reinterpret_cast<volatile u32*>(addr); }
void write32(u64 addr, u32 v) { *reinterpret_cast<volatile u32*>(addr) = v; }
u64 read64(u64 addr) { return *reinterpret_cast<volatile u64*>(addr); }

// A value per register that shows which register it came from, with the top bit of every byte of the low word set.
u64 pattern(u32 i) { return 0xa5a5'0000'0000'0000ull | u64{i} << 32 | (0x8088'9098u + 0x0101'0101u * (i % 8)); }

// Runs `p` on `addr` with x0..x30 preloaded with pattern(i); regs[] gets their values afterwards.
void run(Probe p, u64 addr, u64 (&regs)[31]) {
    for (u32 i = 0; i < 31; ++i) regs[i] = pattern(i);
    p(addr, regs);
}

// Registers other than `skip1`/`skip2` (the base, the transfer register) that do not hold their preloaded value.
u32 changed(const u64 (&regs)[31], u32 skip1, u32 skip2) {
    u32 n = 0;
    for (u32 i = 0; i < 31; ++i)
        if (i != skip1 && i != skip2 && regs[i] != pattern(i)) {
            if (n == 0)
                printf("    x%u = 0x%llx, expected 0x%llx\n", i, static_cast<unsigned long long>(regs[i]),
                       static_cast<unsigned long long>(pattern(i)));
            ++n;
        }
    return n;
}

constexpr u32 kNone = 99;

}  // namespace

GUEST_TEST(setup) { ASSERT_TRUE(gic::init()); }

GUEST_TEST(load_into_every_register) {
    const u64 addr = gicd() + kGicdTyper;
    const u64 want = read32(addr);
    ASSERT_NE(want, 0u);
    u32 bad_value = 0, bad_others = 0;
    for (u32 n = 0; n < 31; ++n) {
        u64 regs[31];
        run(kLoads[n], addr, regs);
        const u32 base = n == 0 ? 1 : 0;
        if (regs[n] != want) {
            printf("    ldr w%u: 0x%llx, expected 0x%llx\n", n, static_cast<unsigned long long>(regs[n]),
                   static_cast<unsigned long long>(want));
            ++bad_value;
        }
        bad_others += changed(regs, base, n) != 0;
    }
    EXPECT_EQ(bad_value, 0u);
    EXPECT_EQ(bad_others, 0u);
    u64 regs[31];
    run(mmio_probe_ldr_wzr, addr, regs);  // the value goes nowhere
    EXPECT_EQ(changed(regs, 0, kNone), 0u);
}

GUEST_TEST(store_from_every_register) {
    const u64 addr = gicd() + kGicdIpriorityr + kSpi;
    write32(addr, 0xffff'ffffu);
    const u32 mask = read32(addr);  // the implemented priority bits
    ASSERT_NE(mask & 0x8080'8080u, 0u);
    u32 bad_value = 0, bad_others = 0;
    for (u32 n = 0; n < 31; ++n) {
        write32(addr, 0);
        u64 regs[31];
        run(kStores[n], addr, regs);
        const u32 base = n == 0 ? 1 : 0;
        const u32 got = read32(addr), want = static_cast<u32>(pattern(n)) & mask;
        if (got != want) {
            printf("    str w%u: stored 0x%x, expected 0x%x\n", n, got, want);
            ++bad_value;
        }
        bad_others += changed(regs, base, kNone) != 0;
    }
    EXPECT_EQ(bad_value, 0u);
    EXPECT_EQ(bad_others, 0u);
    write32(addr, mask);
    u64 regs[31];
    run(mmio_probe_str_wzr, addr, regs);
    EXPECT_EQ(read32(addr), 0u);
    EXPECT_EQ(changed(regs, 0, kNone), 0u);
}

namespace {
struct Forms {
    Probe ldrb_w, ldrsb_w, ldrsb_x, ldrh_w, ldrsh_w, ldrsh_x, ldrsw_x, ldr_x;
    u32 n;
};
#define RT_FORMS_OF(n)                                                                                  \
    Forms {                                                                                             \
        mmio_probe_ldrb_w##n, mmio_probe_ldrsb_w##n, mmio_probe_ldrsb_x##n, mmio_probe_ldrh_w##n,       \
            mmio_probe_ldrsh_w##n, mmio_probe_ldrsh_x##n, mmio_probe_ldrsw_x##n, mmio_probe_ldr_x##n, n \
    }

void check_forms(const Forms& f) {
    const u64 prio = gicd() + kGicdIpriorityr + kSpi;
    write32(prio, 0xffff'ffffu);
    const u32 word = read32(prio) & 0xc0a0'80e0u;  // top bits set in every byte; all within the implemented mask
    write32(prio, word);
    ASSERT_EQ(read32(prio), word);
    const u8 byte = static_cast<u8>(word);
    ASSERT_GE(byte, 0x80u);
    u64 regs[31];
    const u32 n = f.n;
    printf("    transfer register x%u\n", n);
    run(f.ldrb_w, prio, regs);
    EXPECT_EQ(regs[n], byte);
    EXPECT_EQ(changed(regs, 0, n), 0u);
    run(f.ldrsb_w, prio, regs);
    EXPECT_EQ(regs[n], 0xffff'ff00u | byte);  // sign-extended to 32 bits, upper half zero
    run(f.ldrsb_x, prio, regs);
    EXPECT_EQ(regs[n], 0xffff'ffff'ffff'ff00ull | byte);
    run(f.ldrsw_x, prio, regs);
    EXPECT_EQ(regs[n], 0xffff'ffff'0000'0000ull | word);
    EXPECT_EQ(changed(regs, 0, n), 0u);
    if (under_hypervisor()) {  // halfword: not a width GICD_IPRIORITYR takes (RAZ here; QEMU's GIC may differ)
        run(f.ldrh_w, prio, regs);
        EXPECT_EQ(regs[n], 0u);
        run(f.ldrsh_w, prio, regs);
        EXPECT_EQ(regs[n], 0u);
        run(f.ldrsh_x, prio, regs);
        EXPECT_EQ(regs[n], 0u);
    }
    const u64 router = gicd() + kGicdIrouter + 8 * kSpi;
    const u64 want = read64(router);
    run(f.ldr_x, router, regs);
    EXPECT_EQ(regs[n], want);
    EXPECT_EQ(changed(regs, 0, n), 0u);
}
}  // namespace

GUEST_TEST(load_forms_lean_path) { check_forms(RT_FORMS_OF(5)); }

GUEST_TEST(load_forms_x19_to_x29) { check_forms(RT_FORMS_OF(22)); }

namespace {
constexpr u64 kGitsCwriter = 0x88;
constexpr u64 kGitsCreadr = 0x90;
u64 its_base() {
    u64 base = 0, size = 0;
    return its::dt_find_all(&base, &size, 1) == 1 ? base : 0;
}
}  // namespace

GUEST_TEST(its_creadr_into_every_register) {
    const u64 its = its_base();
    ASSERT_NE(its, 0u);
    const u64 addr = its + kGitsCreadr;
    const u64 want = read64(addr);
    u32 bad_value = 0, bad_others = 0;
    for (u32 n = 0; n < 31; ++n) {
        u64 regs[31];
        run(kLoads64[n], addr, regs);
        if (regs[n] != want) {
            printf("    ldr x%u: 0x%llx, expected 0x%llx\n", n, static_cast<unsigned long long>(regs[n]),
                   static_cast<unsigned long long>(want));
            ++bad_value;
        }
        bad_others += changed(regs, n == 0 ? 1 : 0, n) != 0;
    }
    EXPECT_EQ(bad_value, 0u);
    EXPECT_EQ(bad_others, 0u);
    u64 regs[31];
    run(mmio_probe_ldr_xzr, addr, regs);
    EXPECT_EQ(changed(regs, 0, kNone), 0u);
}

GUEST_TEST(its_cwriter_from_every_register) {
    const u64 its = its_base();
    ASSERT_NE(its, 0u);
    ASSERT_EQ(read32(its) & 1, 0u);  // GITS_CTLR.Enabled: nothing is run, CWRITER just holds what is written
    const u64 addr = its + kGitsCwriter;
    u32 bad_value = 0, bad_others = 0;
    for (u32 n = 0; n < 31; ++n) {
        const u64 offset = 32 * (n + 1);  // within the 4 KiB queue GITS_CBASER.Size 0 gives
        u64 regs[31];
        for (u32 i = 0; i < 31; ++i) regs[i] = pattern(i);
        regs[n] = offset;
        kStores64[n](addr, regs);
        if (read64(addr) != offset) {
            printf("    str x%u: CWRITER 0x%llx, expected 0x%llx\n", n, static_cast<unsigned long long>(read64(addr)),
                   static_cast<unsigned long long>(offset));
            ++bad_value;
        }
        bad_others += changed(regs, n == 0 ? 1 : 0, n) != 0 || regs[n] != offset;
    }
    EXPECT_EQ(bad_value, 0u);
    EXPECT_EQ(bad_others, 0u);
    u64 regs[31];
    run(mmio_probe_str_xzr, addr, regs);
    EXPECT_EQ(read64(addr), 0u);
    EXPECT_EQ(changed(regs, 0, kNone), 0u);
}
