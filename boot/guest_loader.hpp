// Places the guest kernel (a /chosen "multiboot,kernel" module) and its DTB in guest RAM.
// Contract (docs/boot.md): a module must lie entirely in guest RAM (above the hypervisor's 32 MiB); an arm64 Image
// runs in place if its address is 2 MiB aligned + text_offset and its image_size fits, else it is copied to the
// lowest such address that overlaps no other module; any other binary is entered at its load address. The guest DTB
// goes at the highest 2 MiB-aligned slot of guest RAM that overlaps neither the kernel nor a module.
#pragma once

#include "core/bootargs.hpp"
#include "core/fdt/reader.hpp"
#include "core/guest_dtb.hpp"
#include "core/platform.hpp"
#include "vm/vm.hpp"

namespace hv {

struct GuestImage {
    u64 entry = 0;
    u64 kernel_base = 0;
    u64 kernel_size = 0;  // including BSS for an Image
    u64 dtb = 0;
    usize dtb_size = 0;
    bool is_linux_image = false;
    bool kernel_copied = false;  // moved to a 2 MiB-aligned slot (written by EL2: cleaned to PoC)
};

// Places the kernel (and initrd) and writes the guest DTB for boot vm.boot_count (reason vm.reset_reason, both in
// /chosen) with the /psci node of version `psci` (the VM's firmware register). Used at cold boot and on every VM
// reset, after restore_modules() (`vm_reset`: EL2 or the previous guest wrote the kernel and initrd, which then are
// cleaned to the point of coherency; at cold boot QEMU loaded them and only a moved kernel is).
[[nodiscard]] Status load_guest(const fdt::Reader& host, const PlatformInfo& platform, const HvOptions& options,
                                PsciVersion psci, bool vm_reset, Vm& vm, GuestImage& out);

// Pristine copies of the kernel / initrd modules for VM reset (docs/boot.md "VM reset"). The store lives in
// hypervisor-owned RAM outside guest RAM (taken off the top of guest RAM by reserve_module_store before stage 2 is
// built, so /memory and stage 2 exclude it).
using ModuleStore = MemRegion;  // base 0: no store (modules are not restored on reset)
// Bytes the store needs for the modules of `platform` (each rounded up to 4 KiB); 0 if there is no kernel module.
u64 module_store_size(const PlatformInfo& platform);
// Removes the store from the top of vm.ram unless it would overlap a module (then store.base stays 0 and a warning
// is logged). Call before vm_init_memory.
void reserve_module_store(const PlatformInfo& platform, Vm& vm, ModuleStore& store);
// Fills the store (cold boot, before load_guest moves anything): copies the modules into it, or with
// module_store=preloaded checks by sampling that the host already put them there (and copies if not).
void save_modules(const PlatformInfo& platform, const ModuleStore& store, HvOptions::ModuleStoreMode mode);
// Copies them back to their load addresses (VM reset, before load_guest). false if there is no store.
bool restore_modules(const PlatformInfo& platform, const ModuleStore& store);

}  // namespace hv
