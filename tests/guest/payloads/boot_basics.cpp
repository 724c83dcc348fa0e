// boot_basics: the guest is entered the way the boot contract says (EL1, DTB in x0) and the DTB describes what the
// guest owns: /memory without the hypervisor's region, the expected number of vCPUs, PSCI over HVC.
//
// guest-tests: smp=2 mem=512M append="expect_cpus=2 expect_psci=1.1" hv_append="vcpus=2 psci=1.1" expect=pass
#include "lib/string.hpp"
#include "tests/guest/runtime/guest.hpp"

using namespace rt;

namespace {

constexpr u64 kHypervisorBase = 0x4000'0000;  // start of host RAM, owned by the hypervisor (docs/architecture.md §2)
constexpr u64 kHypervisorSize = 32 * MiB;
constexpr u64 kImageBase = 0x4200'0000;  // linker/guest.ld: the start of guest RAM

bool covered(const MemRange* r, u32 n, u64 addr, u64 len) {
    for (u32 i = 0; i < n; ++i)
        if (range_within(addr, len, r[i].base, r[i].size)) return true;
    return false;
}

bool overlaps(const MemRange* r, u32 n, u64 addr, u64 len) {
    for (u32 i = 0; i < n; ++i)
        if (addr < r[i].base + r[i].size && r[i].base < addr + len) return true;
    return false;
}

extern "C" char __image_start[], __image_end[];

}  // namespace

GUEST_TEST(runs_at_el1) {
    EXPECT_EQ(current_el(), 1u);
    // EL1h: SPSel selects SP_EL1.
    EXPECT_EQ(RT_READ_SYSREG(spsel) & 1, 1u);
}

GUEST_TEST(dtb_in_x0) {
    REQUIRE_HYPERVISOR();  // plain QEMU boots the ELF without x0; the runtime then finds the DTB itself
    ASSERT_TRUE(dt().valid());
    EXPECT_NE(dtb_address(), 0u);
    EXPECT_EQ(dtb_address() & 7, 0u);  // DTSpec 5.1: 8-byte aligned
}

GUEST_TEST(memory_covers_image_and_dtb) {
    ASSERT_TRUE(dt().valid());
    MemRange mem[16];
    u32 n = dt_memory_ranges(mem, 16);
    ASSERT_GE(n, 1u);
    for (u32 i = 0; i < n; ++i)
        printf("  /memory: 0x%llx + 0x%llx\n", static_cast<unsigned long long>(mem[i].base),
               static_cast<unsigned long long>(mem[i].size));
    u64 image_len = to_u64(__image_end) - to_u64(__image_start);
    EXPECT_EQ(to_u64(__image_start), kImageBase);
    EXPECT_TRUE(covered(mem, n, kImageBase, image_len));
    EXPECT_TRUE(covered(mem, n, dtb_address(), dt().total_size()));
}

GUEST_TEST(memory_excludes_hypervisor) {
    REQUIRE_HYPERVISOR();
    ASSERT_TRUE(dt().valid());
    MemRange mem[16];
    u32 n = dt_memory_ranges(mem, 16);
    ASSERT_GE(n, 1u);
    EXPECT_FALSE(overlaps(mem, n, kHypervisorBase, kHypervisorSize));
}

GUEST_TEST(cpu_count_matches_bootargs) {
    ASSERT_TRUE(dt().valid());
    u64 expected = bootarg_u64("expect_cpus", 0);
    ASSERT_NE(expected, 0u);  // the harness passes expect_cpus=N
    const fdt::Reader& f = dt();
    i32 cpus = f.find_path("/cpus");
    ASSERT_GE(cpus, 0);
    u64 count = 0;
    for (i32 c = f.first_child(cpus); c >= 0; c = f.next_sibling(c)) {
        const char* type = f.prop_string(c, "device_type");
        if (type && strcmp(type, "cpu") == 0) ++count;
    }
    EXPECT_EQ(count, expected);
    // This CPU's MPIDR appears as the reg of one of them.
    u64 mpidr = RT_READ_SYSREG(mpidr_el1) & 0xff00ffffffull;
    bool found = false;
    for (i32 c = f.first_child(cpus); c >= 0; c = f.next_sibling(c)) {
        u64 base = 0, size = 0;
        if (f.read_reg(c, 0, base, size) == Status::ok && base == mpidr) found = true;
    }
    EXPECT_TRUE(found);
}

GUEST_TEST(psci_node_uses_hvc) {
    const fdt::Reader& f = dt();
    i32 psci = f.find_path("/psci");
    ASSERT_GE(psci, 0);
    const char* method = f.prop_string(psci, "method");
    ASSERT_TRUE(method != nullptr);
    EXPECT_EQ(strcmp(method, "hvc"), 0);
    EXPECT_TRUE(f.has_compatible(psci, "arm,psci-0.2") || f.has_compatible(psci, "arm,psci-1.0"));
    EXPECT_TRUE(psci_conduit() == Conduit::hvc);
}

GUEST_TEST(psci_version_answers) {
    u32 v = psci_version();
    printf("  PSCI version %u.%u\n", v >> 16, v & 0xffff);
    EXPECT_GE(v, 0x0001'0000u);  // at least PSCI 1.0
    EXPECT_EQ(v >> 31, 0u);      // not an error code
    const char* want = nullptr;
    usize len = 0;
    if (bootarg("expect_psci", want, len) && len == 3 && want[1] == '.') {
        u32 expected = static_cast<u32>(want[0] - '0') << 16 | static_cast<u32>(want[2] - '0');
        EXPECT_EQ(v, expected);
    }
}

GUEST_TEST(psci_features) {
    // DEN0022D 5.15: PSCI_FEATURES reports the mandatory functions as present and unknown IDs as NOT_SUPPORTED.
    EXPECT_EQ(psci_features(psci::kPsciVersionFn), 0);
    EXPECT_EQ(psci_features(psci::kSystemOff), 0);
    EXPECT_EQ(psci_features((psci::kCpuOn | psci::kSmc64)), 0);
    EXPECT_EQ(psci_features(0x8400'00ffu), psci::kPsciNotSupported);
}

GUEST_TEST(smccc_version) {
    // DEN0028: SMCCC_VERSION is discovered through PSCI_FEATURES; if present it must say 1.1 or later.
    i64 present = psci_features(psci::kSmcccVersion);
    if (present != 0) GUEST_SKIP("SMCCC_VERSION not advertised");
    SmcccResult r = hvc_call(psci::kSmcccVersion);
    EXPECT_GE(r.x0, 0x1'0001u);
    EXPECT_EQ(r.x0 >> 31, 0u);
}

GUEST_TEST(uart_is_a_pl011) {
    // PrimeCell identification registers (ARM DDI0183G 3.3.14): 0x0D, 0xF0, 0x05, 0xB1 at 0xFF0..0xFFC.
    u64 base = console_base();
    EXPECT_EQ(mmio_read32(base + 0xff0) & 0xff, 0x0du);
    EXPECT_EQ(mmio_read32(base + 0xff4) & 0xff, 0xf0u);
    EXPECT_EQ(mmio_read32(base + 0xff8) & 0xff, 0x05u);
    EXPECT_EQ(mmio_read32(base + 0xffc) & 0xff, 0xb1u);
    // UARTPeriphID0/1: part number 0x011 (PL011).
    EXPECT_EQ(mmio_read32(base + 0xfe0) & 0xff, 0x11u);
    EXPECT_EQ(mmio_read32(base + 0xfe4) & 0x0f, 0x0u);
    printf("  hello from the guest over the PL011\n");
}

GUEST_TEST(virtual_counter_runs) {
    EXPECT_NE(counter_frequency(), 0u);
    u64 a = counter();
    delay_us(100);
    u64 b = counter();
    EXPECT_GT(b, a);
}
