#include "arch/aarch64/virtio_mmio_passthrough.hpp"

#include "arch/aarch64/sysreg.hpp"
#include "arch/aarch64/vgic_glue.hpp"
#include "arch/aarch64/vm_run.hpp"
#include "lib/log.hpp"

namespace hv::arch {

namespace {

constexpr u64 kPage = PageTable::kPageSize;

// One 4 KiB page holds several transports (8 of QEMU's 0x200-byte ones): map each page once.
Status map_pages(Vm& vm, u64 base, u64 size) {
    const u64 first = align_down(base, kPage), end = align_up(base + size, kPage);
    if (end <= first || end > (u64{1} << vm.stage2.ia_bits())) return Status::out_of_range;
    for (u64 page = first; page < end; page += kPage) {
        if (vm.stage2.translate(page).ok()) continue;     // a neighbour's page, mapped already
        for (u64 a = page; a < page + kPage; a += 0x100)  // never hide an emulated device (frames: >= 256 B)
            if (vm.mmio.find(a) != nullptr) return Status::invalid_argument;
        HV_TRY(vm.stage2.map(page, page, kPage, MapAttrs{MemType::device, true, false}));
    }
    return Status::ok;
}

// virtio v1.2 4.2.2: MagicValue "virt" at 0x000, DeviceID at 0x008 (0: no device), Status at 0x070 (writing 0
// resets the device, legacy and modern alike).
constexpr u64 kRegMagic = 0x000, kRegDeviceId = 0x008, kRegStatus = 0x070;
constexpr u32 kMagicVirt = 0x74726976;

bool has_device(u64 base) {
    return mmio_read<u32>(base + kRegMagic) == kMagicVirt && mmio_read<u32>(base + kRegDeviceId) != 0;
}

// VM reset: the devices live on in QEMU with the old guest's queues and would keep using (DMA into) them until the
// rebooted guest's driver resets them. Reset every transport that has a device, as a machine reset would.
void reset_hook(void* arg, Vm&) {
    const VirtioMmioInfo& info = *static_cast<const VirtioMmioInfo*>(arg);
    u32 n = 0;
    for (const VirtioMmioDevice& d : info.devices) {
        if (!has_device(d.base)) continue;
        mmio_write<u32>(d.base + kRegStatus, 0);
        ++n;
    }
    if (n != 0) HV_LOG_INFO("virtio-mmio: %u device(s) reset", n);
}

}  // namespace

u32 virtio_mmio_keep_empty(VirtioMmioInfo& info) {
    u32 dropped = 0;
    for (usize k = info.devices.size(); k-- > 0;) {
        if (k >= info.devices.size() || !has_device(info.devices[k].base)) continue;
        const u64 base = info.devices[k].base, page = align_down(base, kPage);
        HV_LOG_INFO(
            "virtio-mmio 0x%llx: device %u not passed through (its DMA is behind no IOMMU; virtio_mmio=on "
            "passes it through, unsafe)",
            static_cast<unsigned long long>(base), mmio_read<u32>(base + kRegDeviceId));
        for (usize j = info.devices.size(); j-- > 0;) {
            if (align_down(info.devices[j].base, kPage) != page) continue;
            info.devices.erase(j);
            ++dropped;
        }
    }
    return dropped;
}

Status virtio_mmio_passthrough(Vm& vm, const VirtioMmioInfo& info) {
    if (info.devices.empty()) return Status::not_found;
    for (const VirtioMmioDevice& d : info.devices) {
        Status s = map_pages(vm, d.base, d.size);
        if (s == Status::ok) s = vgic_forward_hw_spi(d.irq.intid(), "virtio-mmio");
        if (s != Status::ok) {
            HV_LOG_WARN("virtio-mmio 0x%llx (SPI %u): not passed through: %s", static_cast<unsigned long long>(d.base),
                        d.irq.intid(), status_name(s));
            return s;
        }
    }
    DeviceHooks d;  // the transports as one of the VM's devices: reset with the VM
    d.name = "virtio-mmio";
    d.self = const_cast<VirtioMmioInfo*>(&info);
    d.reset = reset_hook;
    HV_TRY(vm.add_device(d));
    const VirtioMmioDevice& lo = info.devices[0];
    const VirtioMmioDevice& hi = info.devices[info.devices.size() - 1];
    HV_LOG_INFO("virtio-mmio: %zu transport(s) passed through (0x%llx.., INTIDs %u..%u hardware-linked)",
                info.devices.size(), static_cast<unsigned long long>(min(lo.base, hi.base)),
                min(lo.irq.intid(), hi.irq.intid()), max(lo.irq.intid(), hi.irq.intid()));
    return Status::ok;
}

}  // namespace hv::arch
