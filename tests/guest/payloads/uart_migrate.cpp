// uart_migrate: the guest's emulated PL011 keeps its registers and its receive FIFO across a live migration
// (Ctrl-] m, docs/snapshot.md; the UART class 0x0807). Driven by tests/guest/snapshot-roundtrip (check "live
// migration"): the payload programs IBRD/FBRD/LCR_H/IFLS/IMSC, prints `UART READY`, and without reading the FIFO
// waits until it has been migrated -- the new QEMU process's physical counter restarts while the virtual counter
// continues (KVM's TIMER_CNT carries it), so CNTPCT - CNTVCT changes. The driver sends "abc", `Ctrl-] m`, "def": "abc"
// sits in the FIFO when the VM is saved, "def" is held by run-guest and typed into the new process. The payload then
// checks the registers and reads exactly "abcdef".
// Without `expect_migration` (tools/guest-tests runs every payload) the migration test skips.
//
// guest-tests: smp=1 mem=512M append="" hv_append="vcpus=1" expect=pass
#include "tests/guest/runtime/guest.hpp"

using namespace rt;

namespace {

constexpr u64 kDr = 0x000, kFr = 0x018, kIbrd = 0x024, kFbrd = 0x028, kLcrH = 0x02c, kIfls = 0x034, kImsc = 0x038;
constexpr u32 kFrRxfe = 1u << 4, kIntRx = 1u << 4;

u64 uart() {
    u64 base = 0, size = 0;
    return dt_compatible_reg("arm,pl011", 0, base, size) ? base : 0x0900'0000;
}

}  // namespace

// The registers the migration check relies on read back what was written (also when no migration is expected).
GUEST_TEST(uart_registers_read_back) {
    const u64 b = uart();
    const u32 ibrd = mmio_read32(b + kIbrd), lcr_h = mmio_read32(b + kLcrH);
    mmio_write32(b + kIbrd, 0x1234);
    mmio_write32(b + kLcrH, 0x60);
    EXPECT_EQ(mmio_read32(b + kIbrd), 0x1234u);
    EXPECT_EQ(mmio_read32(b + kLcrH), 0x60u);
    mmio_write32(b + kIbrd, ibrd);
    mmio_write32(b + kLcrH, lcr_h);
}

GUEST_TEST(uart_state_survives_migration) {
    if (!bootarg_flag("expect_migration")) GUEST_SKIP("no expect_migration: run by tests/guest/snapshot-roundtrip");
    REQUIRE_HYPERVISOR();
    const u64 b = uart();
    mmio_write32(b + kIbrd, 0x27);
    mmio_write32(b + kFbrd, 0x09);
    mmio_write32(b + kLcrH, 0x70);  // 8 bits, FIFOs on
    mmio_write32(b + kIfls, 0x00);  // RX interrupt at 1/8 full (4 characters with a 32-entry FIFO)
    mmio_write32(b + kImsc, kIntRx);
    printf("UART READY\n");
    // Wait (without reading the FIFO) for a new QEMU process, at most ~120 s: its physical counter restarts while
    // the restored virtual counter continues (KVM's TIMER_CNT), so CNTPCT - CNTVCT (= CNTVOFF) changes.
    const u64 freq = RT_READ_SYSREG(cntfrq_el0);
    auto offset = [] {
        isb();
        const u64 p = RT_READ_SYSREG(cntpct_el0);
        const u64 v = RT_READ_SYSREG(cntvct_el0);
        return p - v;
    };
    const u64 before = offset();
    const u64 start = RT_READ_SYSREG(cntvct_el0);
    bool migrated = false;
    while (RT_READ_SYSREG(cntvct_el0) - start < 120 * freq) {
        const u64 d = offset() - before;
        if (static_cast<i64>(d) > static_cast<i64>(freq / 1000) ||
            static_cast<i64>(d) < -static_cast<i64>(freq / 1000)) {
            migrated = true;
            break;
        }
    }
    printf("  migrated: %s\n", migrated ? "yes (CNTPCT - CNTVCT moved)" : "no");
    ASSERT_TRUE(migrated);
    EXPECT_EQ(mmio_read32(b + kIbrd), 0x27u);
    EXPECT_EQ(mmio_read32(b + kFbrd), 0x09u);
    EXPECT_EQ(mmio_read32(b + kLcrH), 0x70u);
    EXPECT_EQ(mmio_read32(b + kIfls), 0x00u);
    EXPECT_EQ(mmio_read32(b + kImsc), kIntRx);
    // Read six characters ("abc" carried in the FIFO, "def" typed into the new process), waiting for the last ones.
    char got[7] = {};
    u32 n = 0;
    const u64 until = RT_READ_SYSREG(cntpct_el0) + 30 * freq;
    while (n < 6 && RT_READ_SYSREG(cntpct_el0) < until) {
        if (mmio_read32(b + kFr) & kFrRxfe) continue;
        got[n++] = static_cast<char>(mmio_read32(b + kDr) & 0xff);
    }
    printf("  read after migration: \"%s\"\n", got);
    EXPECT_EQ(n, 6u);
    EXPECT_TRUE(got[0] == 'a' && got[1] == 'b' && got[2] == 'c' && got[3] == 'd' && got[4] == 'e' && got[5] == 'f');
}
