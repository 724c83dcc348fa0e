// memory_size: `tools/run-guest --mem SIZE` is the guest's RAM, exactly. The guest DT has one memory node with one
// reg range of exactly SIZE (`expect_mem=SIZE` in the bootargs; the harness passes the same value as --mem),
// starting at the start of guest RAM (RAM base + the hypervisor's 32 MiB; RAM base on plain QEMU, where --mem is
// QEMU's -m), and that range is real: its last bytes hold what is written there, the first address above it
// aborts, and (under the hypervisor) so does the last address below it.
//
// guest-tests: smp=1 hv_append="vcpus=1"
// guest-tests: variant=128M mem=128M append="expect_mem=128M"
// guest-tests: variant=512M mem=512M append="expect_mem=512M"
// guest-tests: variant=3G mem=3G append="expect_mem=3G" console="stage 2: guest RAM in 4 KiB pages"
// guest-tests: variant=12G mem=12G append="expect_mem=12G" console="stage 2: guest RAM in 1 GiB / 2 MiB blocks"
//   (12 GiB of 4 KiB pages would need more stage-2 tables than the hypervisor region holds: the fallback, docs/boot.md
//   "Stage-2 granularity")
#include "lib/string.hpp"
#include "tests/guest/runtime/guest.hpp"

using namespace rt;

namespace {

constexpr u64 kRamBase = 0x4000'0000;       // QEMU virt
constexpr u64 kGuestRamBase = 0x4200'0000;  // RAM base + the hypervisor's 32 MiB (docs/boot.md)

u32 memory_nodes() {
    const fdt::Reader& f = dt();
    u32 n = 0;
    for (i32 node = f.first_child(f.root()); node >= 0; node = f.next_sibling(node)) {
        const char* type = f.prop_string(node, "device_type");
        if (type && strcmp(type, "memory") == 0) ++n;
    }
    return n;
}

void expect_abort(const FaultRecord& f, u64 addr) {
    printf("  read 0x%llx: %s, ESR 0x%llx\n", static_cast<unsigned long long>(addr),
           f.taken ? ec_name(f.ec()) : "no fault", static_cast<unsigned long long>(f.esr));
    if (!EXPECT_TRUE(f.taken)) return;
    EXPECT_EQ(f.ec(), ec::kDataAbortSameEl);
    EXPECT_EQ(f.dfsc(), kDfscSyncExternalAbort);
}

}  // namespace

GUEST_TEST(one_memory_range_of_exactly_mem) {
    ASSERT_TRUE(dt().valid());
    const u64 want = bootarg_u64("expect_mem", 0);
    ASSERT_NE(want, 0u);  // every run names its size
    MemRange mem[8];
    const u32 n = dt_memory_ranges(mem, 8);
    for (u32 i = 0; i < n; ++i)
        printf("  /memory: 0x%llx + 0x%llx (%llu MiB)\n", static_cast<unsigned long long>(mem[i].base),
               static_cast<unsigned long long>(mem[i].size), static_cast<unsigned long long>(mem[i].size / MiB));
    EXPECT_EQ(memory_nodes(), 1u);
    ASSERT_EQ(n, 1u);
    EXPECT_EQ(mem[0].size, want);
    EXPECT_EQ(mem[0].base, under_hypervisor() ? kGuestRamBase : kRamBase);
}

GUEST_TEST(the_whole_range_is_ram) {
    MemRange mem[1];
    ASSERT_EQ(dt_memory_ranges(mem, 1), 1u);
    const u64 end = mem[0].base + mem[0].size;
    // The last 8 bytes (the guest DTB sits at the start of the top 2 MiB slot, far below) and one in the middle.
    const u64 addrs[] = {end - 8, mem[0].base + mem[0].size / 2, end - 2 * MiB + 4096};
    for (u64 a : addrs) {
        const u64 v = 0x5eed'0000'0000'0000ull ^ a;
        EXPECT_FALSE(probe_write64(a, v).taken);
        ProbeResult r = probe_read64(a, 0);
        EXPECT_FALSE(r.fault.taken);
        EXPECT_EQ(r.value, v);
    }
}

GUEST_TEST(nothing_beyond_the_range) {
    MemRange mem[1];
    ASSERT_EQ(dt_memory_ranges(mem, 1), 1u);
    const u64 end = mem[0].base + mem[0].size;
    expect_abort(probe_read64(end, 0x1234).fault, end);  // the module store or unassigned
    if (under_hypervisor()) expect_abort(probe_read64(mem[0].base - 8, 0).fault, mem[0].base - 8);  // hypervisor
}
