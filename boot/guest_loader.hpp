// Places the guest kernel (a /chosen "multiboot,kernel" module) and its DTB in guest RAM.
// Contract (docs/boot.md): a module must lie entirely in guest RAM (above the hypervisor's 32 MiB); an arm64 Image
// runs in place if its address is 2 MiB aligned + text_offset and its image_size fits, else it is copied to the
// lowest such address that overlaps no other module; any other binary is entered at its load address. The guest DTB
// goes at the highest 2 MiB-aligned slot of guest RAM that overlaps neither the kernel nor a module.
#pragma once

#include "core/bootargs.hpp"
#include "core/fdt/reader.hpp"
#include "core/platform.hpp"
#include "core/vm.hpp"

namespace hv {

struct GuestImage {
    u64 entry = 0;
    u64 kernel_base = 0;
    u64 kernel_size = 0;  // including BSS for an Image
    u64 dtb = 0;
    usize dtb_size = 0;
    bool is_linux_image = false;
};

[[nodiscard]] Status load_guest(const fdt::Reader& host, const PlatformInfo& platform, const HvOptions& options, Vm& vm,
                                GuestImage& out);

}  // namespace hv
