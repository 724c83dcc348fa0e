#include "arch/aarch64/pci_passthrough.hpp"

#include "arch/aarch64/gic.hpp"
#include "arch/aarch64/vgic_glue.hpp"
#include "lib/log.hpp"

namespace hv::arch {

namespace {

const char* space_name(PciRange::Space s) {
    switch (s) {
        case PciRange::Space::config:
            return "config";
        case PciRange::Space::io:
            return "I/O";
        case PciRange::Space::mmio32:
            return "MMIO32";
        case PciRange::Space::mmio64:
            return "MMIO64";
    }
    return "?";
}

bool overlaps_ram(const Vm& vm, u64 base, u64 size) {
    for (const MemRegion& r : vm.ram)
        if (base < r.end() && r.base < base + size) return true;
    return false;
}

Status map_device_window(Vm& vm, u64 base, u64 size, const char* what) {
    if (size == 0) return Status::ok;
    if (!is_aligned(base, 4096) || !is_aligned(size, 4096) || base + size < base) return Status::invalid_argument;
    if (overlaps_ram(vm, base, size)) return Status::invalid_argument;
    if (base + size > (u64{1} << vm.stage2.ia_bits())) {
        HV_LOG_WARN("pci: %s window 0x%llx+0x%llx beyond the %u-bit IPA space: not mapped", what,
                    static_cast<unsigned long long>(base), static_cast<unsigned long long>(size), vm.stage2.ia_bits());
        return Status::out_of_range;
    }
    // Identity, Device-nGnRE, never executable (ECAM and BARs are MMIO).
    HV_TRY(vm.stage2.map(base, base, size, MapAttrs{MemType::device, true, false}));
    HV_LOG_INFO("pci: %s 0x%llx..0x%llx passed through", what, static_cast<unsigned long long>(base),
                static_cast<unsigned long long>(base + size - 1));
    return Status::ok;
}

}  // namespace

Status pci_passthrough_map(Vm& vm, const PcieInfo& pcie) {
    if (!pcie.present) return Status::not_found;
    HV_TRY(map_device_window(vm, pcie.ecam_base, pcie.ecam_size, "ECAM"));
    for (const PciRange& r : pcie.ranges) {
        Status s = map_device_window(vm, r.cpu_addr, r.size, space_name(r.space));
        if (s == Status::out_of_range) continue;  // logged; the guest sees the window but cannot use it
        HV_TRY(s);
    }
    return Status::ok;
}

Status pci_passthrough_intx(Vm& vm, const PcieInfo& pcie) {
    (void)vm;
    if (!pcie.present || !vgic_ready()) return Status::not_found;
    u32 done[PcieInfo::kMaxIntx] = {};
    usize n = 0;
    for (const PciIntxRoute& route : pcie.intx) {
        if (!route.irq.valid || route.irq.type != DtIrq::kSpi) continue;
        const u32 intid = route.irq.intid();
        bool seen = false;
        for (usize i = 0; i < n; ++i) seen |= done[i] == intid;
        if (seen || intid < 32 || intid >= 1020) continue;
        done[n++] = intid;
        // INTx is level-triggered, but the device's line cannot be sampled from here: each physical activation
        // latches the virtual SPI pending once; a line still asserted after the guest's deactivation fires again.
        HV_TRY(vgic_forward_hw_spi(intid, "pci: INTx"));
    }
    HV_LOG_INFO("pci: %zu INTx SPI(s) forwarded as hardware-linked virtual SPIs", n);
    return Status::ok;
}

}  // namespace hv::arch
