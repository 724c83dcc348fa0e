// faults: what the guest may not touch gives it the architected answer, and the guest keeps running.
//  - reads/writes of the hypervisor's memory and of unassigned addresses: synchronous external abort at EL1;
//  - unknown HVC / SMC function IDs: NOT_SUPPORTED (-1) in x0 (DEN0028 7.1);
//  - an SVE instruction (trapped by CPTR_EL2.TZ, not handled): UNDEF injected at EL1 (ESR_EL1.EC == 0).
//
// guest-tests: smp=1 mem=512M append="" hv_append="vcpus=1" expect=pass
#include "tests/guest/runtime/guest.hpp"

using namespace rt;

namespace {

constexpr u64 kHypervisorBase = 0x4000'0000;
constexpr u64 kHypervisorSize = 32 * MiB;
// A host device frame that is not given to the guest: QEMU virt's PL031 RTC (the virtio-mmio transports at
// 0x0a00_0000 are passed through since the virtio-mmio work, docs/device-tree.md).
constexpr u64 kHostRtc = 0x0901'0000;

// ESR_ELx ISS for data aborts (DDI0487 D17.2.40): FnV, FAR not valid.
using EsrFnV = Bit<10>;

void expect_external_abort(const FaultRecord& f, u64 addr, bool write, const char* what) {
    printf("  %s 0x%llx: %s, ESR 0x%llx FAR 0x%llx\n", what, static_cast<unsigned long long>(addr),
           f.taken ? ec_name(f.ec()) : "no fault", static_cast<unsigned long long>(f.esr),
           static_cast<unsigned long long>(f.far));
    if (!EXPECT_TRUE(f.taken)) return;
    EXPECT_EQ(f.ec(), ec::kDataAbortSameEl);
    EXPECT_EQ(f.dfsc(), kDfscSyncExternalAbort);
    EXPECT_EQ(f.is_write(), write);
    if (EsrFnV::get(f.esr) == 0) EXPECT_EQ(f.far, addr);
}

}  // namespace

GUEST_TEST(read_hypervisor_memory_aborts) {
    REQUIRE_HYPERVISOR();  // on plain QEMU this is ordinary RAM
    const u64 addrs[] = {kHypervisorBase, kHypervisorBase + kHypervisorSize / 2, kHypervisorBase + kHypervisorSize - 8};
    for (u64 a : addrs) {
        ProbeResult r = probe_read64(a, 0x5a5a'5a5a'5a5a'5a5aull);
        expect_external_abort(r.fault, a, false, "read");
        EXPECT_EQ(r.value, 0x5a5a'5a5a'5a5a'5a5aull);  // the load did not complete
    }
}

GUEST_TEST(write_hypervisor_memory_aborts) {
    REQUIRE_HYPERVISOR();
    u64 a = kHypervisorBase + kHypervisorSize / 2;
    expect_external_abort(probe_write64(a, 0xdead'beef'dead'beefull), a, true, "write");
    expect_external_abort(probe_write32(kHypervisorBase, 0xdeadbeef), kHypervisorBase, true, "write");
}

GUEST_TEST(unassigned_above_ram_aborts) {
    u64 end = dt_ram_end();
    ASSERT_NE(end, 0u);
    u64 a = align_up(end, 4096) + 0x1000;
    ProbeResult r = probe_read32(a, 0x1234);
    expect_external_abort(r.fault, a, false, "read");
    EXPECT_EQ(r.value, 0x1234u);
    expect_external_abort(probe_write32(a, 1), a, true, "write");
}

GUEST_TEST(host_device_frame_aborts) {
    REQUIRE_HYPERVISOR();  // plain QEMU has its RTC here
    ProbeResult r = probe_read32(kHostRtc, 0);
    expect_external_abort(r.fault, kHostRtc, false, "read");
    expect_external_abort(probe_write32(kHostRtc + 0x4, 0), kHostRtc + 0x4, true, "write");  // RTCMR
}

namespace {
// Each call returns NOT_SUPPORTED in x0 and is not an exception at EL1.
template <usize N>
void expect_not_supported(Conduit conduit, const u32 (&fids)[N]) {
    for (u32 fid : fids) {
        expect_fault();
        SmcccResult r = conduit == Conduit::smc ? smc_call(fid, 1, 2, 3) : hvc_call(fid, 1, 2, 3);
        FaultRecord f = take_fault();
        const char* insn = conduit == Conduit::smc ? "smc" : "hvc";
        if (f.taken) printf("  %s 0x%x trapped at EL1: %s\n", insn, fid, ec_name(f.ec()));
        EXPECT_FALSE(f.taken);
        EXPECT_EQ(r.x0, psci::kSmcccNotSupported);
    }
}
}  // namespace

GUEST_TEST(unknown_hvc_returns_not_supported) {
    // Unallocated IDs in the standard-secure, vendor-hypervisor and OEM ranges, SMC32 and SMC64 forms. (Not the
    // SMC32 Call Count queries 0x8400FF00 / 0x8600FF00: DEN0028 6.2 defines them and docs/firmware.md answers them.)
    const u32 fids[] = {0x8400'fe00u, 0xc400'ff00u, 0x8600'1234u, 0xc300'0001u, 0x8300'1234u};
    expect_not_supported(Conduit::hvc, fids);
}

GUEST_TEST(unknown_smc_returns_not_supported) {
    REQUIRE_HYPERVISOR();  // plain QEMU without EL3 makes SMC UNDEFINED
    const u32 fids[] = {0x8400'fe00u, 0xc300'0001u, 0x8200'ff00u};
    expect_not_supported(Conduit::smc, fids);
}

GUEST_TEST(sve_instruction_is_undefined) {
    REQUIRE_HYPERVISOR();  // plain QEMU -cpu max implements SVE
    // Enable FP and SVE at EL1 (CPACR_EL1.FPEN = ZEN = 0b11) so that only EL2's CPTR_EL2.TZ can trap it.
    u64 cpacr = RT_READ_SYSREG(cpacr_el1);
    RT_WRITE_SYSREG(cpacr_el1, cpacr | (3ull << 20) | (3ull << 16));
    isb();
    expect_fault();
    u64 addr = 0;
    asm volatile("adr %0, 1f\n1: .inst 0x04bf5020  // rdvl x0, #1" : "=&r"(addr) : : "x0", "memory");
    FaultRecord f = take_fault();
    RT_WRITE_SYSREG(cpacr_el1, cpacr);
    isb();
    printf("  rdvl: %s, ESR 0x%llx\n", f.taken ? ec_name(f.ec()) : "no exception",
           static_cast<unsigned long long>(f.esr));
    ASSERT_TRUE(f.taken);
    EXPECT_EQ(f.ec(), ec::kUnknown);
    EXPECT_EQ(f.elr, addr);
    EXPECT_EQ(EsrIl::get(f.esr), 1u);  // 32-bit instruction
}

GUEST_TEST(still_alive_after_faults) {
    // The UART still answers and the guest still runs; the summary line and SYSTEM_OFF follow.
    EXPECT_EQ(mmio_read32(console_base() + 0xfe0) & 0xff, 0x11u);
    printf("  still alive after the faults\n");
    EXPECT_EQ(current_el(), 1u);
}
