#include "arch/aarch64/snapdisk.hpp"

#include "arch/aarch64/anchor.hpp"
#include "arch/aarch64/sysreg.hpp"
#include "core/virtio_blk.hpp"
#include "lib/log.hpp"
#include "lib/string.hpp"

namespace hv::arch {

namespace {

using virtio::kSectorSize;
using virtio::MmioReg;

constexpr u32 kBounceBytes = SnapdiskState::kBounceBytes;

SnapdiskState& st() { return hyp().snapdisk; }

constexpr u64 kPage = 4096;

}  // namespace

u32 SnapdiskTransport::read32(virtio::MmioReg r) { return mmio_read<u32>(base + static_cast<u32>(r)); }
void SnapdiskTransport::write32(virtio::MmioReg r, u32 v) { mmio_write<u32>(base + static_cast<u32>(r), v); }
u64 SnapdiskTransport::dma_address(const volatile void* p) { return reinterpret_cast<u64>(p); }  // EL2: identity map
void SnapdiskTransport::barrier() { dsb_sy(); }
u64 SnapdiskTransport::now_us() {
    const u64 f = HV_READ_SYSREG(cntfrq_el0);
    return HV_READ_SYSREG(cntpct_el0) / (f / 1'000'000 ? f / 1'000'000 : 1);
}
// Sleep ~20 us on the EL2 physical timer (PPI 26, the hypervisor's): under QEMU a WFI frees the host CPU for the
// thread that does the disk I/O. WFI wakes on the pending timer interrupt even with IRQs masked (DDI0487 D1.6.2);
// disabling the timer drops the line again.
void SnapdiskTransport::relax() {
    const u64 f = HV_READ_SYSREG(cntfrq_el0);
    HV_WRITE_SYSREG(cnthp_cval_el2, HV_READ_SYSREG(cntpct_el0) + f / 50'000 + 1);
    HV_WRITE_SYSREG(cnthp_ctl_el2, 1);
    isb();
    wfi();
    HV_WRITE_SYSREG(cnthp_ctl_el2, 0);
    isb();
}

Status snapdisk_claim(VirtioMmioInfo& info) {
    for (usize k = info.devices.size(); k-- > 0;) {
        const VirtioMmioDevice& d = info.devices[k];
        if (mmio_read<u32>(d.base + static_cast<u32>(MmioReg::magic)) != virtio::kMagicVirt ||
            mmio_read<u32>(d.base + static_cast<u32>(MmioReg::device_id)) != virtio::kDeviceIdBlock)
            continue;
        st().port.base = d.base;
        Status s = st().drv.init(st().port);
        if (s == Status::unsupported) {
            HV_LOG_INFO(
                "virtio-mmio 0x%llx: a legacy virtio-blk (not a snapshot disk: those need "
                "-global virtio-mmio.force-legacy=false)",
                static_cast<unsigned long long>(d.base));
            continue;
        }
        if (s != Status::ok) continue;
        char id[virtio::kBlkIdBytes + 1];
        s = st().drv.get_id(id);
        if (s != Status::ok || strcmp(id, kSnapdiskSerial) != 0) {
            st().drv.reset();  // someone else's disk: back to its reset state for the guest
            continue;
        }
        if (st().drv.read_only()) {
            HV_LOG_WARN("snapshot disk at 0x%llx is read-only: restore only", static_cast<unsigned long long>(d.base));
        }
        // Out of the guest's reach: this transport and its page neighbours (stage 2 maps 4 KiB pages).
        const u64 page = align_down(d.base, kPage);
        u32 dropped = 0;
        for (usize j = info.devices.size(); j-- > 0;) {
            if (align_down(info.devices[j].base, kPage) != page) continue;
            info.devices.erase(j);
            ++dropped;
        }
        HV_LOG_INFO(
            "snapshot disk: virtio-blk '%s' at 0x%llx, %llu MiB, the hypervisor's (%u transport(s) of its "
            "page kept from the guest)",
            id, static_cast<unsigned long long>(st().port.base),
            static_cast<unsigned long long>(st().drv.capacity_bytes() >> 20), dropped);
        return Status::ok;
    }
    return Status::not_found;
}

bool snapdisk_present() { return st().drv.ready(); }
u64 snapdisk_capacity() { return st().drv.ready() ? st().drv.capacity_bytes() : 0; }

Status SnapdiskSink::write(const void* data, usize n) {
    const u8* p = static_cast<const u8*>(data);
    while (n > 0) {
        const usize at = static_cast<usize>(pos_ % kBounceBytes);
        const usize take = min<usize>(n, kBounceBytes - at);
        memcpy(st().bounce + at, p, take);
        p += take;
        n -= take;
        pos_ += take;
        if (pos_ % kBounceBytes == 0)
            HV_TRY(st().drv.write((pos_ - kBounceBytes) / kSectorSize, st().bounce, kBounceBytes));
    }
    return Status::ok;
}

Status SnapdiskSink::finish() {
    const usize at = static_cast<usize>(pos_ % kBounceBytes);
    if (at != 0) {
        const usize len = static_cast<usize>(align_up(at, kSectorSize));
        memset(st().bounce + at, 0, len - at);
        HV_TRY(st().drv.write((pos_ - at) / kSectorSize, st().bounce, static_cast<u32>(len)));
    }
    return st().drv.flush();
}

Status SnapdiskSource::open() {
    size_ = 0;
    if (!st().drv.ready()) return Status::not_found;
    HV_TRY(st().drv.read(0, st().bounce, kSectorSize));
    u64 magic = 0, payload = 0;
    memcpy(&magic, st().bounce, 8);
    memcpy(&payload, st().bounce + 40, 8);  // header: payload_size at +40 (core/reglist/snapshot.hpp)
    if (magic != reglist::kSnapshotMagic) return Status::corrupt;
    if (payload > st().drv.capacity_bytes() - reglist::kSnapshotHeaderSize) return Status::out_of_range;
    size_ = reglist::kSnapshotHeaderSize + payload;
    return Status::ok;
}

Status SnapdiskSource::read(u64 offset, void* buf, usize n) {
    if (offset > size_ || n > size_ - offset) return Status::out_of_range;
    u8* out = static_cast<u8*>(buf);
    while (n > 0) {
        const u64 first = offset / kSectorSize;
        const usize skip = static_cast<usize>(offset % kSectorSize);
        const usize span = min<usize>(kBounceBytes, static_cast<usize>(align_up(skip + n, kSectorSize)));
        const u64 cap_left = st().drv.capacity_sectors() - first;
        const u32 len = static_cast<u32>(min<u64>(span, cap_left * kSectorSize));
        HV_TRY(st().drv.read(first, st().bounce, len));
        const usize take = min<usize>(n, len - skip);
        memcpy(out, st().bounce + skip, take);
        out += take;
        offset += take;
        n -= take;
    }
    return Status::ok;
}

}  // namespace hv::arch
