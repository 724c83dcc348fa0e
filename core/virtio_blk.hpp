// A small polled virtio-blk driver for the hypervisor's own disk (the snapshot disk, docs/snapshot.md): one split
// virtqueue of kQueueSize descriptors, one request in flight, no interrupts. virtio 1.1 (OASIS, 2019): §2.6 split
// virtqueues, §3.1 device initialisation, §4.2 the MMIO transport ("modern" register layout, Version 2 -- the
// legacy Version 1 layout is refused), §5.2 the block device.
//
// The transport is reached through MmioPort, which the platform implements (arch/aarch64/snapdisk: MMIO accesses,
// the counter, a DSB); the ring and request logic here is plain C++ and host-tested with a fake device
// (tests/unit/core/virtio_blk_test.cpp). The driver's rings and request header live inside the BlkDriver object, so
// the object must sit in memory the device can reach at MmioPort::dma_address().
#pragma once

#include "lib/status.hpp"
#include "lib/types.hpp"

namespace hv::virtio {

// virtio 1.1 §4.2.2: MMIO device register layout (Version 2).
enum class MmioReg : u32 {
    magic = 0x000,      // "virt"
    version = 0x004,    // 2 (1: legacy)
    device_id = 0x008,  // 2: block device (§5)
    vendor_id = 0x00c,
    device_features = 0x010,  // 32 bits selected by device_features_sel
    device_features_sel = 0x014,
    driver_features = 0x020,
    driver_features_sel = 0x024,
    queue_sel = 0x030,
    queue_num_max = 0x034,
    queue_num = 0x038,
    queue_ready = 0x044,
    queue_notify = 0x050,
    interrupt_status = 0x060,
    interrupt_ack = 0x064,
    status = 0x070,
    queue_desc_low = 0x080,
    queue_desc_high = 0x084,
    queue_driver_low = 0x090,  // the available ring
    queue_driver_high = 0x094,
    queue_device_low = 0x0a0,  // the used ring
    queue_device_high = 0x0a4,
    config_generation = 0x0fc,
    config = 0x100,  // virtio-blk: u64 capacity (512-byte sectors) first (§5.2.4)
};

constexpr u32 kMagicVirt = 0x74726976;
constexpr u32 kDeviceIdBlock = 2;

// §2.1 device status bits.
constexpr u32 kStatusAcknowledge = 1, kStatusDriver = 2, kStatusDriverOk = 4, kStatusFeaturesOk = 8,
              kStatusNeedsReset = 64, kStatusFailed = 128;

// Feature bits (§6, §5.2.3).
constexpr u32 kFeatureBlkRo = 5;
constexpr u32 kFeatureBlkFlush = 9;
constexpr u32 kFeatureVersion1 = 32;

// §5.2.6 request types and status.
constexpr u32 kBlkTypeIn = 0, kBlkTypeOut = 1, kBlkTypeFlush = 4, kBlkTypeGetId = 8;
constexpr u8 kBlkStatusOk = 0, kBlkStatusIoErr = 1, kBlkStatusUnsupported = 2;
constexpr u32 kSectorSize = 512;
constexpr u32 kBlkIdBytes = 20;  // GET_ID: the device's serial, NUL-padded, not necessarily NUL-terminated

// §2.6.5 descriptor flags.
constexpr u16 kDescNext = 1, kDescWrite = 2;

constexpr u16 kQueueSize = 4;  // one request = 3 descriptors (header, data, status)

struct alignas(16) Desc {  // §2.6.5
    u64 addr;
    u32 len;
    u16 flags;
    u16 next;
};
struct alignas(2) Avail {  // §2.6.6
    u16 flags;
    u16 idx;
    u16 ring[kQueueSize];
    u16 used_event;
};
struct UsedElem {
    u32 id;
    u32 len;
};
struct alignas(4) Used {  // §2.6.8
    u16 flags;
    u16 idx;
    UsedElem ring[kQueueSize];
    u16 avail_event;
};
struct BlkReqHeader {  // §5.2.6
    u32 type;
    u32 reserved;
    u64 sector;
};

// What the driver needs from the platform.
class MmioPort {
public:
    virtual u32 read32(MmioReg reg) = 0;
    virtual void write32(MmioReg reg, u32 value) = 0;
    // The address the device uses for `p` (identity at EL2: the pointer itself).
    virtual u64 dma_address(const volatile void* p) = 0;
    // Orders the driver's memory writes before a following MMIO write (and the device's ring writes before the
    // driver's reads of what they announce): DSB on aarch64.
    virtual void barrier() = 0;
    // A monotonic time in microseconds, for the request timeout.
    virtual u64 now_us() = 0;
    // Called while a request is outstanding: may sleep briefly (so the host thread emulating the device gets the
    // CPU) instead of spinning.
    virtual void relax() {}

protected:
    ~MmioPort() = default;
};

class BlkDriver {
public:
    static constexpr u64 kTimeoutUs = 10'000'000;  // one request; QEMU answers in microseconds to milliseconds

    BlkDriver() = default;
    BlkDriver(const BlkDriver&) = delete;
    BlkDriver& operator=(const BlkDriver&) = delete;

    // Identify and initialise the device behind `port` (§3.1.1): not_found (no block device there), unsupported
    // (legacy Version 1, or no VIRTIO_F_VERSION_1), busy (the device refused FEATURES_OK), no_memory (queue 0 is
    // smaller than kQueueSize descriptors need, or absent). On error the device is left reset.
    [[nodiscard]] Status init(MmioPort& port);
    bool ready() const { return port_ != nullptr; }
    u64 capacity_sectors() const { return capacity_; }
    u64 capacity_bytes() const { return capacity_ * kSectorSize; }
    bool read_only() const { return read_only_; }

    // `bytes` (a multiple of kSectorSize, > 0) at `sector`. out_of_range past the capacity, invalid_argument for a
    // bad length, busy (read-only device), timeout (no answer within kTimeoutUs: the device is then reset and the
    // driver unusable), corrupt (the device's status byte or used element makes no sense), not_found (IOERR /
    // UNSUPP).
    [[nodiscard]] Status read(u64 sector, void* buf, u32 bytes);
    [[nodiscard]] Status write(u64 sector, const void* buf, u32 bytes);
    // Flush the device's write cache (only if it offers VIRTIO_BLK_F_FLUSH; else ok).
    [[nodiscard]] Status flush();
    // The serial (GET_ID), NUL-terminated in `out` (kBlkIdBytes + 1 bytes).
    [[nodiscard]] Status get_id(char (&out)[kBlkIdBytes + 1]);
    // Device reset (status 0); the driver is unusable until init() again.
    void reset();

private:
    [[nodiscard]] Status request(u32 type, u64 sector, volatile void* buf, u32 bytes, bool device_writes);

    MmioPort* port_ = nullptr;
    u64 capacity_ = 0;
    bool read_only_ = false;
    bool flush_ = false;
    u16 avail_idx_ = 0;  // next free slot (free-running, §2.6.6)
    u16 used_seen_ = 0;  // used entries consumed so far (free-running)
    alignas(16) volatile Desc desc_[kQueueSize] = {};
    volatile Avail avail_ = {};
    volatile Used used_ = {};
    volatile BlkReqHeader header_ = {};
    volatile u8 status_ = 0;
};

}  // namespace hv::virtio
