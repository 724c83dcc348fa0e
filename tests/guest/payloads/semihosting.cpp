// semihosting: a guest's Arm semihosting call (`HLT #0xF000`, the A64 semihosting trap) is UNDEFINED -- no QEMU
// command line tools/run-guest builds enables semihosting, so no guest can reach host files or run a host command
// through it (docs/snapshot.md "No guest-reachable host interface"). Checked with the harmless SYS_ERRNO (0x13) and
// SYS_WRITE0 (0x04) operations, which would return normally if semihosting were on.
//
// guest-tests: smp=1 mem=512M append="" hv_append="vcpus=1" expect=pass
// guest-tests: variant=default
// guest-tests: variant=migratable run_guest="--migratable"
#include "tests/guest/runtime/guest.hpp"

using namespace rt;

namespace {

constexpr u64 kSysWrite0 = 0x04, kSysErrno = 0x13;
const char kMessage[] = "semihosting is ON: a guest reached the host\n";

void expect_undefined(u64 op, const void* param, const char* name) {
    u64 addr = 0;
    expect_fault();
    register u64 x0 asm("x0") = op;
    register u64 x1 asm("x1") = reinterpret_cast<u64>(param);
    asm volatile("adr %[a], 1f\n1: hlt #0xf000" : [a] "=&r"(addr), "+r"(x0) : "r"(x1) : "memory");
    const FaultRecord f = take_fault();
    printf("  HLT #0xF000 (%s): %s, ESR 0x%llx\n", name, f.taken ? ec_name(f.ec()) : "returned (semihosting ON)",
           static_cast<unsigned long long>(f.esr));
    ASSERT_TRUE(f.taken);
    EXPECT_EQ(f.ec(), ec::kUnknown);  // DDI0487 C6.2.125: HLT with halting disabled is UNDEFINED
    EXPECT_EQ(f.elr, addr);
}

}  // namespace

GUEST_TEST(sys_errno_is_undefined) { expect_undefined(kSysErrno, nullptr, "SYS_ERRNO"); }

GUEST_TEST(sys_write0_is_undefined) { expect_undefined(kSysWrite0, kMessage, "SYS_WRITE0"); }

GUEST_TEST(still_running) { EXPECT_EQ(current_el(), 1u); }
