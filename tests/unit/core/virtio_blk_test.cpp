// core/virtio_blk: the polled driver against a fake modern virtio-mmio block device that walks the split virtqueue
// the way a device does (virtio 1.1 §2.6, §4.2, §5.2): descriptors read through the addresses the driver
// programmed, data written back, used ring and status byte filled in.
#include "core/virtio_blk.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

using namespace hv;
using namespace hv::virtio;

namespace {

constexpr u32 R(MmioReg r) { return static_cast<u32>(r); }

class FakeBlk final : public MmioPort {
public:
    explicit FakeBlk(u64 sectors) : disk(sectors * kSectorSize, 0) {}

    u32 read32(MmioReg r) override {
        switch (static_cast<u32>(r)) {
            case R(MmioReg::magic):
                return kMagicVirt;
            case R(MmioReg::version):
                return version;
            case R(MmioReg::device_id):
                return device_id;
            case R(MmioReg::device_features):
                return static_cast<u32>(features >> (32 * features_sel));
            case R(MmioReg::queue_num_max):
                return 256;
            case R(MmioReg::queue_ready):
                return queue_ready;
            case R(MmioReg::status):
                return status;
            case R(MmioReg::interrupt_status):
                return 1;
            case R(MmioReg::config_generation):
                return 0;
            case R(MmioReg::config):
                return static_cast<u32>(disk.size() / kSectorSize);
            default:
                if (static_cast<u32>(r) == static_cast<u32>(MmioReg::config) + 4)
                    return static_cast<u32>((disk.size() / kSectorSize) >> 32);
                return 0;
        }
    }
    void write32(MmioReg r, u32 v) override {
        switch (static_cast<u32>(r)) {
            case R(MmioReg::device_features_sel):
                features_sel = v;
                break;
            case R(MmioReg::driver_features_sel):
                driver_sel = v;
                break;
            case R(MmioReg::driver_features):
                accepted |= u64{v} << (32 * driver_sel);
                break;
            case R(MmioReg::status):
                if (v == 0) {
                    status = 0;
                    queue_ready = 0;
                    accepted = 0;
                    last_avail = 0;
                    ++resets;
                } else {
                    status = v;
                }
                break;
            case R(MmioReg::queue_num):
                num = v;
                break;
            case R(MmioReg::queue_desc_low):
                desc = (desc & ~0xffffffffull) | v;
                break;
            case R(MmioReg::queue_desc_high):
                desc = (desc & 0xffffffffull) | (u64{v} << 32);
                break;
            case R(MmioReg::queue_driver_low):
                avail = (avail & ~0xffffffffull) | v;
                break;
            case R(MmioReg::queue_driver_high):
                avail = (avail & 0xffffffffull) | (u64{v} << 32);
                break;
            case R(MmioReg::queue_device_low):
                used = (used & ~0xffffffffull) | v;
                break;
            case R(MmioReg::queue_device_high):
                used = (used & 0xffffffffull) | (u64{v} << 32);
                break;
            case R(MmioReg::queue_ready):
                queue_ready = v;
                break;
            case R(MmioReg::queue_notify):
                if (!stalled) process();
                break;
            default:
                break;
        }
    }
    u64 dma_address(const volatile void* p) override { return reinterpret_cast<u64>(p); }
    void barrier() override {}
    u64 now_us() override { return clock += 1000; }

    // The device side of §2.6: every new available entry, its chain, the request, the used element.
    void process() {
        ASSERT_TRUE(status & kStatusDriverOk);
        ASSERT_EQ(queue_ready, 1u);
        auto* a = reinterpret_cast<volatile Avail*>(avail);
        auto* u = reinterpret_cast<volatile Used*>(used);
        auto* d = reinterpret_cast<volatile Desc*>(desc);
        while (last_avail != a->idx) {
            u16 head = a->ring[last_avail % num];
            std::vector<const volatile Desc*> chain;
            for (u16 i = head;; i = d[i].next) {
                chain.push_back(&d[i]);
                if (!(d[i].flags & kDescNext) || chain.size() > num) break;
            }
            ASSERT_GE(chain.size(), 2u);
            auto* hdr = reinterpret_cast<const volatile BlkReqHeader*>(chain[0]->addr);
            auto* st = reinterpret_cast<volatile u8*>(chain.back()->addr);
            ASSERT_EQ(chain.back()->flags & kDescWrite, kDescWrite);
            u8 result = kBlkStatusOk;
            const volatile Desc* data = chain.size() == 3 ? chain[1] : nullptr;
            const u64 off = hdr->sector * kSectorSize;
            requests.push_back(static_cast<u32>(hdr->type));
            if (hdr->type == kBlkTypeIn || hdr->type == kBlkTypeOut) {
                EXPECT_EQ(data->flags & kDescWrite, hdr->type == kBlkTypeIn ? kDescWrite : 0);
                if (off + data->len > disk.size()) {
                    result = kBlkStatusIoErr;
                } else if (hdr->type == kBlkTypeIn) {
                    memcpy(reinterpret_cast<void*>(data->addr), disk.data() + off, data->len);
                } else {
                    memcpy(disk.data() + off, reinterpret_cast<const void*>(data->addr), data->len);
                }
            } else if (hdr->type == kBlkTypeGetId) {
                memset(reinterpret_cast<void*>(data->addr), 0, data->len);
                memcpy(reinterpret_cast<void*>(data->addr), serial.data(), std::min<size_t>(serial.size(), 20));
            } else if (hdr->type != kBlkTypeFlush) {
                result = kBlkStatusUnsupported;
            }
            *st = result;
            u->ring[u->idx % num].id = head;
            u->ring[u->idx % num].len = 1;
            u->idx = static_cast<u16>(u->idx + 1);
            ++last_avail;
        }
    }

    std::vector<u8> disk;
    std::string serial = "hvsnap";
    u32 version = 2, device_id = kDeviceIdBlock;
    u64 features = (u64{1} << kFeatureVersion1) | (u64{1} << kFeatureBlkFlush) | (u64{1} << 29);
    u64 accepted = 0;
    u32 features_sel = 0, driver_sel = 0, status = 0, queue_ready = 0, num = 0, resets = 0;
    u64 desc = 0, avail = 0, used = 0, clock = 0;
    u16 last_avail = 0;
    bool stalled = false;
    std::vector<u32> requests;
};

}  // namespace

TEST(VirtioBlk, InitNegotiatesOnlyKnownFeaturesAndReadsCapacity) {
    FakeBlk dev(2048);
    BlkDriver drv;
    ASSERT_EQ(drv.init(dev), Status::ok);
    EXPECT_EQ(drv.capacity_sectors(), 2048u);
    EXPECT_EQ(dev.accepted, (u64{1} << kFeatureVersion1) | (u64{1} << kFeatureBlkFlush));  // not EVENT_IDX (29)
    EXPECT_EQ(dev.status, kStatusAcknowledge | kStatusDriver | kStatusFeaturesOk | kStatusDriverOk);
    EXPECT_EQ(dev.num, kQueueSize);
}

TEST(VirtioBlk, WriteThenReadBackManyRequestsAcrossRingWrap) {
    FakeBlk dev(64);
    BlkDriver drv;
    ASSERT_EQ(drv.init(dev), Status::ok);
    std::vector<u8> buf(1024), back(1024);
    for (int round = 0; round < 40; ++round) {  // 80 requests: the 4-entry rings wrap many times
        for (size_t i = 0; i < buf.size(); ++i) buf[i] = static_cast<u8>(i * 7 + round);
        ASSERT_EQ(drv.write(static_cast<u64>(round % 30), buf.data(), 1024), Status::ok);
        ASSERT_EQ(drv.read(static_cast<u64>(round % 30), back.data(), 1024), Status::ok);
        ASSERT_EQ(buf, back);
        EXPECT_EQ(0, memcmp(dev.disk.data() + (round % 30) * 512, buf.data(), 1024));
    }
    ASSERT_EQ(drv.flush(), Status::ok);
    EXPECT_EQ(dev.requests.back(), kBlkTypeFlush);
}

TEST(VirtioBlk, SerialFromGetId) {
    FakeBlk dev(8);
    dev.serial = "hvsnap-and-a-long-serial";
    BlkDriver drv;
    ASSERT_EQ(drv.init(dev), Status::ok);
    char id[kBlkIdBytes + 1];
    ASSERT_EQ(drv.get_id(id), Status::ok);
    EXPECT_STREQ(id, "hvsnap-and-a-long-se");  // all 20 bytes kept, NUL-terminated by the driver
}

TEST(VirtioBlk, RefusalsAndErrors) {
    BlkDriver drv;
    {
        FakeBlk dev(8);
        dev.device_id = 1;  // a network device
        EXPECT_EQ(drv.init(dev), Status::not_found);
    }
    {
        FakeBlk dev(8);
        dev.version = 1;  // legacy
        EXPECT_EQ(drv.init(dev), Status::unsupported);
    }
    {
        FakeBlk dev(8);
        dev.features = 0;  // no VERSION_1
        EXPECT_EQ(drv.init(dev), Status::unsupported);
        EXPECT_EQ(dev.status, 0u);  // left reset
    }
    FakeBlk dev(8);
    ASSERT_EQ(drv.init(dev), Status::ok);
    u8 buf[512] = {};
    EXPECT_EQ(drv.read(8, buf, 512), Status::out_of_range);
    EXPECT_EQ(drv.read(7, buf, 1024), Status::out_of_range);
    EXPECT_EQ(drv.read(0, buf, 100), Status::invalid_argument);
    dev.stalled = true;  // the device never answers: timeout, and the device is reset
    const u32 resets = dev.resets;
    EXPECT_EQ(drv.write(0, buf, 512), Status::timeout);
    EXPECT_EQ(dev.resets, resets + 1);
    EXPECT_FALSE(drv.ready());
    EXPECT_EQ(drv.read(0, buf, 512), Status::busy);
}
