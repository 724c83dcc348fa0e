#include "boot/guest_loader.hpp"

#include "arch/aarch64/anchor.hpp"
#include "arch/aarch64/pmu.hpp"
#include "arch/aarch64/vm_run.hpp"
#include "core/guest_dtb.hpp"
#include "lib/log.hpp"
#include "lib/string.hpp"

namespace hv {

namespace {

constexpr u64 kImageMagicOffset = 56;
constexpr u32 kImageMagic = 0x644d5241;  // "ARM\x64" little endian (Linux Documentation/arm64/booting.rst)
constexpr u64 kAlign = 2 * MiB;

struct Range {
    u64 base, size;
    bool overlaps(u64 b, u64 s) const { return size != 0 && s != 0 && b < base + size && base < b + s; }
};

u64 le64(const u8* p) {
    u64 v = 0;
    for (int i = 7; i >= 0; --i) v = v << 8 | p[i];
    return v;
}

bool overlaps_any(const FixedVector<Range, 4>& busy, u64 base, u64 size) {
    for (const Range& r : busy)
        if (r.overlaps(base, size)) return true;
    return false;
}

bool in_ram(const Vm& vm, u64 base, u64 size) { return vm.memory.contains(base, size); }

constexpr u64 kStoreAlign = 4 * KiB;

bool is_guest_module(const BootModule& m) { return m.kind == ModuleKind::kernel || m.kind == ModuleKind::ramdisk; }

}  // namespace

u64 module_store_size(const PlatformInfo& platform) {
    if (platform.chosen.module(ModuleKind::kernel) == nullptr) return 0;
    u64 total = 0;
    for (const BootModule& m : platform.chosen.modules)
        if (is_guest_module(m)) total += align_up(m.size, kStoreAlign);
    return total;
}

void reserve_module_store(const PlatformInfo& platform, Vm& vm, ModuleStore& store) {
    store = {};
    const u64 need = module_store_size(platform);
    if (need == 0) return;
    FixedVector<MemRegion, kMaxRamRegions> trial = vm.ram;
    u64 base = 0;
    if (reserve_top_of_ram(trial, need, base) != Status::ok) {
        HV_LOG_WARN("no room for the %llu KiB module store: SYSTEM_RESET will not restore the guest's images",
                    static_cast<unsigned long long>(need / KiB));
        return;
    }
    const u64 end = base + align_up(need, 2 * MiB);
    for (const BootModule& m : platform.chosen.modules) {
        if (is_guest_module(m) && m.base < end && base < m.base + m.size) {
            HV_LOG_WARN(
                "module at 0x%llx overlaps the top of RAM needed for the module store: SYSTEM_RESET will "
                "not restore the guest's images (load modules lower)",
                static_cast<unsigned long long>(m.base));
            return;
        }
    }
    vm.ram = trial;
    store.base = base;
    store.size = end - base;
    HV_LOG_INFO("module store (pristine kernel/initrd for VM reset): 0x%llx..0x%llx, excluded from guest RAM",
                static_cast<unsigned long long>(store.base), static_cast<unsigned long long>(end));
}

namespace {

// The store's layout: the kernel module(s) first, then the initrd(s), each at the next 4 KiB-aligned offset -- by
// kind, not in DT order, so that the host can compute it (tools/run-guest preloads the store: module_store=).
constexpr ModuleKind kStoreOrder[] = {ModuleKind::kernel, ModuleKind::ramdisk};

template <typename F>
void for_each_stored(const PlatformInfo& platform, const ModuleStore& store, F&& f) {
    u64 at = store.base;
    for (ModuleKind kind : kStoreOrder) {
        for (const BootModule& m : platform.chosen.modules) {
            if (m.kind != kind) continue;
            f(m, at);
            at += align_up(m.size, kStoreAlign);
        }
    }
}

// n <= 8 bytes: one word compare when both are 8-byte aligned and n == 8 (the usual case: modules and store
// 4 KiB aligned), else byte by byte.
bool bytes_equal(u64 a, u64 b, u64 n) {
    if (n == 8 && ((a | b) & 7) == 0) return *reinterpret_cast<const u64*>(a) == *reinterpret_cast<const u64*>(b);
    return memcmp(reinterpret_cast<const void*>(a), reinterpret_cast<const void*>(b), n) == 0;
}

// Does the store at `at` hold module `m`? The first 8 bytes of every 64 KiB and the last 8 bytes: what tells a store
// the host filled with this module from anything else (no copy at all, another file, another layout) at a tiny
// fraction of a copy's cost -- ~530 samples for 33 MiB, each touching one page of each side (a TLB fill under TCG).
// The host is trusted (it loads the modules themselves); this catches a mismatched set-up.
constexpr u64 kSampleStride = 64 * KiB;
bool preloaded_matches(const BootModule& m, u64 at, u64& bad_offset) {
    for (u64 off = 0; off < m.size; off += kSampleStride) {
        if (!bytes_equal(m.base + off, at + off, min<u64>(8, m.size - off))) return bad_offset = off, false;
    }
    const u64 tail = min<u64>(8, m.size);
    if (!bytes_equal(m.base + m.size - tail, at + m.size - tail, tail)) return bad_offset = m.size - tail, false;
    return true;
}

}  // namespace

void save_modules(const PlatformInfo& platform, const ModuleStore& store, HvOptions::ModuleStoreMode mode) {
    if (store.base == 0) return;
    // Preloaded: QEMU wrote the copies when it loaded the modules (native speed); copying ~35 MiB here instead took
    // 8 M instructions, the largest part of the set-up before the guest's first instruction (docs/boot.md "Boot
    // cost").
    bool copy = mode != HvOptions::ModuleStoreMode::preloaded;
    u64 total = 0;
    if (!copy) {
        for_each_stored(platform, store, [&](const BootModule& m, u64 at) {
            u64 bad = 0;
            if (copy || preloaded_matches(m, at, bad)) return (void)(total += m.size);
            HV_LOG_WARN(
                "module store: the preloaded copy at 0x%llx differs from the module at 0x%llx (offset 0x%llx): "
                "copying the modules",
                static_cast<unsigned long long>(at), static_cast<unsigned long long>(m.base),
                static_cast<unsigned long long>(bad));
            copy = true;
        });
        if (!copy)
            HV_LOG_INFO("module store: %llu KiB preloaded by the host, checked, not copied",
                        static_cast<unsigned long long>(total / KiB));
    }
    if (!copy) return;
    for_each_stored(platform, store, [](const BootModule& m, u64 at) {
        memcpy(reinterpret_cast<void*>(at), reinterpret_cast<const void*>(m.base), m.size);
    });
}

bool restore_modules(const PlatformInfo& platform, const ModuleStore& store) {
    if (store.base == 0) return false;
    for_each_stored(platform, store, [](const BootModule& m, u64 at) {
        memcpy(reinterpret_cast<void*>(m.base), reinterpret_cast<const void*>(at), m.size);
    });
    return true;
}

namespace {

Status check_in_ram(const Vm& vm, const char* what, const BootModule* m) {
    if (m == nullptr || in_ram(vm, m->base, m->size)) return Status::ok;
    HV_LOG_ERROR("%s module 0x%llx+0x%llx is not inside guest RAM", what, static_cast<unsigned long long>(m->base),
                 static_cast<unsigned long long>(m->size));
    return Status::out_of_range;
}

// The first 2 MiB-aligned address + text_offset in guest RAM where the image fits clear of `busy` and of the module
// it is copied from; 0 if none.
u64 find_kernel_slot(const Vm& vm, const FixedVector<Range, 4>& busy, const BootModule& kernel, u64 text_offset,
                     u64 image_size) {
    for (const MemRegion& r : vm.ram) {
        for (u64 a = align_up(r.base, kAlign) + text_offset; a + image_size <= r.end(); a += kAlign) {
            if (!overlaps_any(busy, a, image_size) && !Range{kernel.base, kernel.size}.overlaps(a, image_size))
                return a;
        }
    }
    return 0;
}

// The kernel where it is entered: an arm64 Image at a 2 MiB boundary + text_offset (in place if it already is,
// else copied), anything else entered at its load address.
Status place_kernel(Vm& vm, const BootModule& kernel, const FixedVector<Range, 4>& busy, GuestImage& out) {
    u8 hdr[64] = {};
    if (kernel.size >= sizeof hdr) ignore_status(vm.memory.read(kernel.base, hdr, sizeof hdr));
    const bool is_image = kernel.size >= sizeof hdr && (le64(hdr + kImageMagicOffset) & 0xffffffffu) == kImageMagic;
    out.is_linux_image = is_image;
    if (!is_image) {
        out.entry = out.kernel_base = kernel.base;
        out.kernel_size = kernel.size;
        HV_LOG_INFO("guest kernel: raw binary of %llu bytes, entered at its load address 0x%llx",
                    static_cast<unsigned long long>(kernel.size), static_cast<unsigned long long>(kernel.base));
        return Status::ok;
    }
    u64 text_offset = le64(hdr + 8);
    u64 image_size = le64(hdr + 16);
    if (image_size == 0) text_offset = 0x80000;  // pre-3.17 kernels: booting.rst
    image_size = max(image_size, kernel.size);
    if (text_offset >= kAlign) return Status::invalid_argument;
    u64 dst = kernel.base;
    const bool in_place = is_aligned(kernel.base - text_offset, kAlign) && in_ram(vm, dst, image_size) &&
                          !overlaps_any(busy, dst, image_size);
    if (!in_place) {
        dst = find_kernel_slot(vm, busy, kernel, text_offset, image_size);
        if (dst == 0) return Status::no_memory;
        memmove(reinterpret_cast<void*>(dst), reinterpret_cast<const void*>(kernel.base), kernel.size);
    }
    HV_LOG_INFO("guest kernel: arm64 Image, text_offset 0x%llx, image_size 0x%llx, %s at 0x%llx",
                static_cast<unsigned long long>(text_offset), static_cast<unsigned long long>(image_size),
                in_place ? "in place" : "copied", static_cast<unsigned long long>(dst));
    out.entry = out.kernel_base = dst;
    out.kernel_size = image_size;
    out.kernel_copied = !in_place;
    return Status::ok;
}

GuestDtbConfig guest_dtb_config(const Vm& vm, const HvOptions& options, PsciVersion psci, const BootModule& kernel,
                                const BootModule* ramdisk) {
    GuestDtbConfig cfg;
    for (u32 i = 0; i < vm.vcpu_count; ++i) ignore_status(cfg.vcpu_mpidrs.push_back(vm.vcpus[i].mpidr));
    for (const MemRegion& r : vm.ram) ignore_status(cfg.memory.push_back(r));
    cfg.psci = psci;
    cfg.boot_count = vm.boot_count;
    cfg.reset_reason = reset_reason_name(vm.reset_reason);
    cfg.bootargs = kernel.bootargs[0] ? kernel.bootargs : nullptr;
    if (ramdisk != nullptr) {
        cfg.initrd_start = ramdisk->base;
        cfg.initrd_end = ramdisk->base + ramdisk->size;
    }
    cfg.include_its = options.its;
    cfg.virtual_its = options.vits;  // the same frames arch/aarch64/msi_passthrough registers
    cfg.include_pcie = options.pci;
    cfg.include_pmu = arch::pmu_config().present();  // ID_AA64DFR0_EL1.PMUVer != 0 (docs/boot.md "PMU")
    cfg.include_virtio_mmio =
        options.virtio_mmio != VirtioMmioMode::off;  // cleared by boot/main.cpp if the passthrough failed
    return cfg;
}

// The highest 2 MiB block of guest RAM clear of `busy` (the DTB's slot); 0 if none.
u64 find_dtb_slot(const Vm& vm, const FixedVector<Range, 4>& busy) {
    for (usize i = vm.ram.size(); i-- > 0;) {
        const MemRegion& r = vm.ram[i];
        for (u64 a = align_down(r.end() - kAlign, kAlign); a >= r.base && a + kAlign <= r.end(); a -= kAlign) {
            if (!overlaps_any(busy, a, kAlign)) return a;
            if (a < kAlign) break;
        }
    }
    return 0;
}

}  // namespace

Status load_guest(const fdt::Reader& host, const PlatformInfo& platform, const HvOptions& options, PsciVersion psci,
                  bool vm_reset, Vm& vm, GuestImage& out) {
    const BootModule* kernel = platform.chosen.module(ModuleKind::kernel);
    if (kernel == nullptr) {
        HV_LOG_ERROR("no /chosen module with compatible \"multiboot,kernel\" (QEMU: -device guest-loader,kernel=...)");
        return Status::not_found;
    }
    const BootModule* ramdisk = platform.chosen.module(ModuleKind::ramdisk);
    HV_TRY(check_in_ram(vm, "kernel", kernel));
    HV_TRY(check_in_ram(vm, "ramdisk", ramdisk));
    FixedVector<Range, 4> busy;
    if (ramdisk != nullptr) ignore_status(busy.push_back({ramdisk->base, ramdisk->size}));
    HV_TRY(place_kernel(vm, *kernel, busy, out));
    ignore_status(busy.push_back({out.kernel_base, out.kernel_size}));

    const GuestDtbConfig cfg = guest_dtb_config(vm, options, psci, *kernel, ramdisk);
    usize size = 0;
    HV_TRY(build_guest_dtb(host, platform, cfg, arch::hyp().boot.guest_dtb, sizeof arch::hyp().boot.guest_dtb, size));
    const u64 slot = find_dtb_slot(vm, busy);
    if (slot == 0) return Status::no_memory;
    HV_TRY(vm.memory.write(slot, arch::hyp().boot.guest_dtb, size));
    // The guest starts with its MMU off: its data accesses are then Device-nGnRnE (DDI0487 D8, "The effects of
    // disabling an address translation stage"; combined with stage 2's Normal they stay Device: "Combining the stage 1
    // and stage 2 attributes") and do not look up the caches. Whatever EL2 wrote through its cacheable identity map
    // must therefore be cleaned to the point of coherency first (arm64 booting.rst asks the same of a boot loader).
    // Only dirty lines need it, and EL2 dirtied only what it wrote: the DTB always, the kernel when it was moved, and
    // after a VM reset kernel and initrd (copied back from the module store, or as the previous guest left them). At
    // cold boot an in-place kernel and the initrd are what QEMU loaded before EL2 turned its caches on; EL2 only read
    // them since (the module store's copy, the Image header), and reads, speculative ones included, leave only clean
    // lines, which hold what memory holds: cleaning them writes nothing. Skipping them saves one DC CVAC per 64-byte
    // line of the ~35 MiB of kernel image and initrd (2.2 M instructions per boot, docs/boot.md "Boot cost"). A clean
    // never removed stale clean lines anyway; the guest invalidates what it writes with its MMU off (Linux head.S).
    if (vm_reset || out.kernel_copied) arch::clean_dcache_to_poc(out.kernel_base, out.kernel_size);
    if (vm_reset && ramdisk != nullptr) arch::clean_dcache_to_poc(ramdisk->base, ramdisk->size);
    arch::clean_dcache_to_poc(slot, size);
    out.dtb = slot;
    out.dtb_size = size;
    HV_LOG_INFO("guest DTB: %zu bytes at 0x%llx", size, static_cast<unsigned long long>(slot));
    return Status::ok;
}

}  // namespace hv
