#include "core/virtio_blk.hpp"

namespace hv::virtio {

namespace {

u32 lo32(u64 v) { return static_cast<u32>(v); }
u32 hi32(u64 v) { return static_cast<u32>(v >> 32); }

}  // namespace

void BlkDriver::reset() {
    if (port_ != nullptr) port_->write32(MmioReg::status, 0);
    port_ = nullptr;
}

Status BlkDriver::init(MmioPort& port) {
    port_ = nullptr;
    if (port.read32(MmioReg::magic) != kMagicVirt || port.read32(MmioReg::device_id) != kDeviceIdBlock)
        return Status::not_found;
    if (port.read32(MmioReg::version) != 2) return Status::unsupported;  // §4.2.4: legacy layout, not driven here

    // §3.1.1: reset, ACKNOWLEDGE, DRIVER, features, FEATURES_OK (re-read), queues, DRIVER_OK.
    port.write32(MmioReg::status, 0);
    if (port.read32(MmioReg::status) != 0) return Status::busy;
    port.write32(MmioReg::status, kStatusAcknowledge);
    port.write32(MmioReg::status, kStatusAcknowledge | kStatusDriver);
    u64 offered = 0;
    for (u32 sel = 0; sel < 2; ++sel) {
        port.write32(MmioReg::device_features_sel, sel);
        offered |= u64{port.read32(MmioReg::device_features)} << (32 * sel);
    }
    auto fail = [&](Status s) {
        port.write32(MmioReg::status, kStatusFailed);
        port.write32(MmioReg::status, 0);
        return s;
    };
    if ((offered & (u64{1} << kFeatureVersion1)) == 0) return fail(Status::unsupported);
    // Only what this driver understands: VERSION_1, RO (a read-only disk refuses writes), FLUSH.
    const u64 wanted =
        offered & ((u64{1} << kFeatureVersion1) | (u64{1} << kFeatureBlkRo) | (u64{1} << kFeatureBlkFlush));
    for (u32 sel = 0; sel < 2; ++sel) {
        port.write32(MmioReg::driver_features_sel, sel);
        port.write32(MmioReg::driver_features, static_cast<u32>(wanted >> (32 * sel)));
    }
    port.write32(MmioReg::status, kStatusAcknowledge | kStatusDriver | kStatusFeaturesOk);
    if ((port.read32(MmioReg::status) & kStatusFeaturesOk) == 0) return fail(Status::busy);

    // Queue 0 (§4.2.3.2): not in use yet, big enough, then our rings.
    port.write32(MmioReg::queue_sel, 0);
    if (port.read32(MmioReg::queue_ready) != 0) return fail(Status::busy);
    if (port.read32(MmioReg::queue_num_max) < kQueueSize) return fail(Status::no_memory);
    for (u16 i = 0; i < kQueueSize; ++i) {
        desc_[i].addr = 0;
        desc_[i].len = 0;
        desc_[i].flags = 0;
        desc_[i].next = 0;
    }
    avail_.flags = 1;  // VIRTQ_AVAIL_F_NO_INTERRUPT: polled (§2.6.7)
    avail_.idx = 0;
    used_.flags = 0;
    used_.idx = 0;
    avail_idx_ = 0;
    used_seen_ = 0;
    port.write32(MmioReg::queue_num, kQueueSize);
    const u64 d = port.dma_address(desc_), a = port.dma_address(&avail_), u = port.dma_address(&used_);
    port.write32(MmioReg::queue_desc_low, lo32(d));
    port.write32(MmioReg::queue_desc_high, hi32(d));
    port.write32(MmioReg::queue_driver_low, lo32(a));
    port.write32(MmioReg::queue_driver_high, hi32(a));
    port.write32(MmioReg::queue_device_low, lo32(u));
    port.write32(MmioReg::queue_device_high, hi32(u));
    port.barrier();
    port.write32(MmioReg::queue_ready, 1);

    // Capacity (§5.2.4), read under a stable configuration generation (§4.2.2 ConfigGeneration).
    u32 gen = 0;
    u64 cap = 0;
    for (u32 tries = 0; tries < 16; ++tries) {
        gen = port.read32(MmioReg::config_generation);
        cap = port.read32(MmioReg::config) |
              (u64{port.read32(static_cast<MmioReg>(static_cast<u32>(MmioReg::config) + 4))} << 32);
        if (port.read32(MmioReg::config_generation) == gen) break;
    }
    capacity_ = cap;
    read_only_ = (wanted & (u64{1} << kFeatureBlkRo)) != 0;
    flush_ = (wanted & (u64{1} << kFeatureBlkFlush)) != 0;
    port.write32(MmioReg::status, kStatusAcknowledge | kStatusDriver | kStatusFeaturesOk | kStatusDriverOk);
    if ((port.read32(MmioReg::status) & (kStatusNeedsReset | kStatusFailed)) != 0) return fail(Status::busy);
    port_ = &port;
    return Status::ok;
}

Status BlkDriver::request(u32 type, u64 sector, volatile void* buf, u32 bytes, bool device_writes) {
    if (port_ == nullptr) return Status::busy;
    MmioPort& port = *port_;
    header_.type = type;
    header_.reserved = 0;
    header_.sector = sector;
    status_ = 0xff;  // the device overwrites it
    // One chain from descriptor 0: header (device reads), data (device reads or writes), status (device writes).
    u16 n = 0;
    desc_[0].addr = port.dma_address(&header_);
    desc_[0].len = sizeof(BlkReqHeader);
    desc_[0].flags = kDescNext;
    desc_[0].next = 1;
    n = 1;
    if (bytes != 0) {
        desc_[1].addr = port.dma_address(buf);
        desc_[1].len = bytes;
        desc_[1].flags = static_cast<u16>(kDescNext | (device_writes ? kDescWrite : 0));
        desc_[1].next = 2;
        n = 2;
    } else {
        desc_[0].next = 2;
        n = 2;
    }
    desc_[2].addr = port.dma_address(&status_);
    desc_[2].len = 1;
    desc_[2].flags = kDescWrite;
    desc_[2].next = 0;
    (void)n;
    avail_.ring[avail_idx_ % kQueueSize] = 0;
    port.barrier();  // the descriptors before the index (§2.6.13.6)
    avail_idx_ = static_cast<u16>(avail_idx_ + 1);
    avail_.idx = avail_idx_;
    port.barrier();  // the index before the notification (§2.6.13.6)
    port.write32(MmioReg::queue_notify, 0);

    const u64 start = port.now_us();
    while (static_cast<u16>(used_.idx) == used_seen_) {
        if (port.now_us() - start > kTimeoutUs) {
            reset();  // the device may still use the rings: stop it before anything reuses them
            return Status::timeout;
        }
        port.relax();
    }
    port.barrier();  // the used element and the data after the index
    const u32 id = used_.ring[used_seen_ % kQueueSize].id;
    used_seen_ = static_cast<u16>(used_seen_ + 1);
    port.write32(MmioReg::interrupt_ack, port.read32(MmioReg::interrupt_status));
    if (id != 0) return Status::corrupt;
    switch (status_) {
        case kBlkStatusOk:
            return Status::ok;
        case kBlkStatusIoErr:
            return Status::not_found;
        case kBlkStatusUnsupported:
            return Status::unsupported;
        default:
            return Status::corrupt;
    }
}

Status BlkDriver::read(u64 sector, void* buf, u32 bytes) {
    if (bytes == 0 || bytes % kSectorSize != 0) return Status::invalid_argument;
    if (sector > capacity_ || bytes / kSectorSize > capacity_ - sector) return Status::out_of_range;
    return request(kBlkTypeIn, sector, buf, bytes, true);
}

Status BlkDriver::write(u64 sector, const void* buf, u32 bytes) {
    if (bytes == 0 || bytes % kSectorSize != 0) return Status::invalid_argument;
    if (sector > capacity_ || bytes / kSectorSize > capacity_ - sector) return Status::out_of_range;
    if (read_only_) return Status::busy;
    return request(kBlkTypeOut, sector, const_cast<void*>(buf), bytes, false);
}

Status BlkDriver::flush() {
    if (!flush_) return port_ != nullptr ? Status::ok : Status::busy;
    return request(kBlkTypeFlush, 0, nullptr, 0, false);
}

Status BlkDriver::get_id(char (&out)[kBlkIdBytes + 1]) {
    volatile char id[kBlkIdBytes] = {};
    const Status s = request(kBlkTypeGetId, 0, id, kBlkIdBytes, true);
    for (u32 i = 0; i < kBlkIdBytes; ++i) out[i] = s == Status::ok ? id[i] : 0;
    out[kBlkIdBytes] = 0;
    return s;
}

}  // namespace hv::virtio
