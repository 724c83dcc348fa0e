// fuzz_fdt: arbitrary blobs through the FDT reader, the platform parser and the guest-DTB builder.
// Invariants: open() either rejects the blob or every accessor stays in bounds (ASan) and terminates; the node
// walk visits each node once (bounded by the blob size); a platform the parser accepts yields a guest DTB that
// the reader opens again and that carries the configured CPUs and memory.
#include <cstdlib>
#include <vector>

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#include <sanitizer/asan_interface.h>
#endif
#endif

#include "core/fdt/reader.hpp"
#include "core/guest_dtb.hpp"
#include "core/platform.hpp"
#include "tests/fuzz/fuzz_support.hpp"

using namespace hv;

namespace {

void touch(const void* p, usize n) {
    // Every byte of a span the reader handed out must be addressable: one ASan shadow check of the whole range
    // (a byte loop here cost as much as the reader's own work).
#if defined(__has_feature) && __has_feature(address_sanitizer)
    FUZZ_CHECK(n == 0 || __asan_region_is_poisoned(const_cast<void*>(p), n) == nullptr);
#else
    volatile u8 sink = 0;
    const auto* b = static_cast<const u8*>(p);
    for (usize i = 0; i < n; ++i) sink = static_cast<u8>(sink + b[i]);
    (void)sink;
#endif
}

// By-name accessors on property `name` of node n.
void by_name(const fdt::Reader& r, i32 n, const char* name) {
    (void)r.prop_u32(n, name, 1);
    (void)r.prop_u64(n, name);
    if (const char* s = r.prop_string(n, name)) touch(s, __builtin_strlen(s));
    fdt::StringList sl = r.prop_strings(n, name);
    usize count = sl.count(), seen = 0;
    while (const char* s = sl.next()) {
        touch(s, __builtin_strlen(s));
        FUZZ_CHECK(++seen <= count);
    }
    FUZZ_CHECK(seen == count);
}

// The node index (parent, depth, sibling, phandle, compatible without walks) answers as the walks do. The walks
// cost O(n) per node, so about one node per tree (which: by the blob's size).
void check_index(const fdt::Reader& r, const fdt::Reader& walks, i32 n, usize ordinal) {
    if (ordinal % 64 != r.total_size() % 64 && !(ordinal == 1 && r.total_size() % 2 == 0)) return;
    FUZZ_CHECK(r.parent(n) == walks.parent(n));
    FUZZ_CHECK(r.depth(n) == walks.depth(n));
    FUZZ_CHECK(r.next_sibling(n) == walks.next_sibling(n));
    FUZZ_CHECK(r.has_compatible(n, "arm,gic-v3") == walks.has_compatible(n, "arm,gic-v3"));
}

constexpr usize kAccessorStride = 8;

// Every node: name, depth, parent, properties (spans in bounds), children. `host`: the blob the fuzzer wrote --
// also the by-name accessors, paths and the index-vs-walk checks; the guest DTB (our writer's output from what the
// parser accepted) gets the structural pass only.
void walk(const fdt::Reader& r, bool host) {
    const usize limit = r.total_size() / 4 + 2;  // a node takes at least 8 bytes
    const fdt::Reader walks = r.unindexed();
    usize nodes = 0;
    u32 first_phandle = 0;
    for (usize i = 0; i < r.reservation_count() && i < 64; ++i) {
        u64 a = 0, s = 0;
        (void)r.reservation(i, a, s);
    }
    // The search through the index against the walk over every node's properties: one input in four.
    if (host && (r.total_size() >> 2) % 4 == 0)
        FUZZ_CHECK(r.find_compatible("arm,pl011") == walks.find_compatible("arm,pl011"));
    for (i32 n = r.root(); n != fdt::kNoNode; n = r.next_node(n)) {
        FUZZ_CHECK(++nodes <= limit);
        if (host) check_index(r, walks, n, nodes - 1);
        const char* name = r.name(n);
        FUZZ_CHECK(name != nullptr);
        touch(name, __builtin_strlen(name));
        FUZZ_CHECK(r.depth(n) >= 0);
        i32 parent = r.parent(n);
        FUZZ_CHECK((n == r.root()) == (parent == fdt::kNoNode));
        if (parent != fdt::kNoNode) FUZZ_CHECK(r.depth(parent) + 1 == r.depth(n));
        usize props = 0;
        const char* first = nullptr;
        const char* last = nullptr;
        for (i32 p = r.first_prop(n); p != fdt::kNoProp; p = r.next_prop(p)) {
            FUZZ_CHECK(++props <= limit);
            fdt::Property pr = r.prop_at(p);
            if (pr.name) touch(pr.name, __builtin_strlen(pr.name));
            touch(pr.value.data(), pr.value.size());
            if (first == nullptr) first = pr.name;
            last = pr.name;
        }
        usize children = 0;
        for (i32 c = r.first_child(n); c != fdt::kNoNode; c = r.next_sibling(c)) {
            FUZZ_CHECK(++children <= limit);
            FUZZ_CHECK(r.parent(c) == n);
        }
        // The by-name accessors scan the node's properties (and its parent's): one node in kAccessorStride, which
        // ones by the blob's size, so that they cost O(props) per tree rather than O(props^2).
        if (host && (nodes - 1) % kAccessorStride == r.total_size() % kAccessorStride) {
            if (first != nullptr) by_name(r, n, first);
            if (last != nullptr && last != first) by_name(r, n, last);
            (void)r.address_cells(n);
            (void)r.size_cells(n);
            usize regs = r.reg_count(n);
            for (usize i = 0; i < regs && i < 16; ++i) {
                u64 a = 0, s = 0;
                (void)r.read_reg(n, i, a, s);
                (void)r.read_reg_cells(n, i, 2, 2, a, s);
            }
            u32 ph = r.phandle(n);
            if (ph != 0 && ph != 0xffffffffu) {
                FUZZ_CHECK(r.find_phandle(ph) != fdt::kNoNode);
                if (first_phandle == 0) first_phandle = ph;
            }
        }
        (void)r.has_compatible(n, "arm,gic-v3");
    }
    // parse_platform looks up /chosen, /cpus, /aliases, /reserved-memory; these are the odd forms (each scans the
    // children on its way).
    static const char* const kPaths[] = {"/", "//", "", "memory", "/chosen/", "/a/b/c/d/e/f", "/cpus/cpu@0", "/memory"};
    if (!host) return;
    for (const char* p : kPaths) (void)r.find_path(p);
    FUZZ_CHECK(r.find_phandle(first_phandle) == walks.find_phandle(first_phandle));
    for (i32 n = r.find_compatible("arm,gic-v3"); n != fdt::kNoNode; n = r.find_compatible("arm,gic-v3", n))
        FUZZ_CHECK(++nodes <= 2 * limit);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    hvfuzz::install_log_sink();
    // The reader wants an 8-byte aligned blob (the hypervisor's DTB pointer is); libFuzzer's copy of the input is
    // one (new[]), and exactly `size` bytes, so ASan catches any read past the blob. A copy only if it is not.
    std::vector<u8> copy;
    const u8* blob = data;
    if (reinterpret_cast<uintptr_t>(data) % 8 != 0) {
        copy.assign(data, data + size);
        blob = copy.data();
    }
    auto opened = fdt::Reader::open(blob, size);
    if (!opened.ok()) return 0;
    const fdt::Reader& r = opened.value();
    FUZZ_CHECK(r.total_size() <= size);
    walk(r, true);

    static PlatformInfo platform;  // large (boot module bootargs): static, reset each run
    platform = PlatformInfo{};
    if (parse_platform(r, platform) != Status::ok) return 0;
    FUZZ_CHECK(platform.memory.size() >= 1 && platform.cpus.size() >= 1);
    FUZZ_CHECK(platform.gic.gicr.size() >= 1);

    GuestDtbConfig cfg;
    for (usize i = 0; i < platform.cpus.size() && i < 2; ++i)
        FUZZ_CHECK(cfg.vcpu_mpidrs.push_back(platform.cpus[i].mpidr) == Status::ok);
    FUZZ_CHECK(cfg.memory.push_back(MemRegion{0x40000000, 0x8000000}) == Status::ok);
    cfg.bootargs = "console=ttyAMA0";
    cfg.virtual_its = platform.gic.its.size() ? 2 : 1;
    static u8 out[256 * 1024];
    usize used = 0;
    if (build_guest_dtb(r, platform, cfg, out, sizeof out, used) != Status::ok) return 0;
    FUZZ_CHECK(used <= sizeof out);
    auto guest = fdt::Reader::open(out, used);
    FUZZ_CHECK(guest.ok());
    walk(guest.value(), false);
    i32 cpus = guest.value().find_path("/cpus");
    FUZZ_CHECK(cpus != fdt::kNoNode);
    usize n = 0;
    for (i32 c = guest.value().first_child(cpus); c != fdt::kNoNode; c = guest.value().next_sibling(c))
        if (const char* t = guest.value().prop_string(c, "device_type"); t && !__builtin_strcmp(t, "cpu")) ++n;
    FUZZ_CHECK(n == cfg.vcpu_mpidrs.size());
    return 0;
}
