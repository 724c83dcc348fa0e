// The snapshot disk (docs/snapshot.md "The snapshot disk"): one of QEMU's virtio-mmio transports holding a
// virtio-blk device whose serial is "hvsnap" (`-drive if=none,file=F,format=raw,id=hvsnap -device
// virtio-blk-device,drive=hvsnap,serial=hvsnap -global virtio-mmio.force-legacy=false`, what tools/run-guest adds
// with --save/--restore/--migratable). The hypervisor claims it for itself at boot: the transport and every other
// transport in its 4 KiB page (stage 2 maps whole pages) are removed from the platform's list, so they are never in
// the guest's DT or stage 2; the hypervisor drives it with core/virtio_blk (polled, no interrupt). A snapshot is
// the core/reglist/snapshot stream written from sector 0; its header says how long it is.
#pragma once

#include "core/platform.hpp"
#include "core/reglist/snapshot.hpp"
#include "core/virtio_blk.hpp"

namespace hv::arch {

constexpr const char kSnapdiskSerial[] = "hvsnap";

// Before the virtio-mmio passthrough and the guest DT: looks for the snapshot disk among `info`'s transports
// (highest address first, where QEMU puts the first -device) and claims it. not_found if there is none (every
// virtio-blk device probed on the way is left reset, as the guest finds it at boot).
[[nodiscard]] Status snapdisk_claim(VirtioMmioInfo& info);
bool snapdisk_present();
u64 snapdisk_capacity();

// Writes a stream from sector 0 through a bounce buffer; finish() writes the last partial sector and flushes.
class SnapdiskSink final : public reglist::SnapshotSink {
public:
    [[nodiscard]] Status write(const void* data, usize n) override;
    [[nodiscard]] Status finish();
    u64 written() const { return pos_; }

private:
    u64 pos_ = 0;
};

// Reads the stream written by SnapdiskSink: open() reads the header and sets size() to the stream's length.
class SnapdiskSource final : public reglist::SnapshotSource {
public:
    [[nodiscard]] Status open();
    u64 size() const override { return size_; }
    [[nodiscard]] Status read(u64 offset, void* buf, usize n) override;

private:
    u64 size_ = 0;
};

// --- the driver's state, held by the anchor (anchor.hpp); only snapdisk.cpp touches it ---
// The claimed transport's registers (EL2 identity map), polled.
class SnapdiskTransport final : public virtio::MmioPort {
public:
    u32 read32(virtio::MmioReg r) override;
    void write32(virtio::MmioReg r, u32 v) override;
    u64 dma_address(const volatile void* p) override;
    void barrier() override;
    u64 now_us() override;
    void relax() override;
    u64 base = 0;
};
struct SnapdiskState {
    static constexpr u32 kBounceBytes = 1024 * 1024;
    alignas(4096) u8 bounce[kBounceBytes];  // zero (.bss): the anchor leaves it as it is
    SnapdiskTransport port;
    virtio::BlkDriver drv;
};

}  // namespace hv::arch
