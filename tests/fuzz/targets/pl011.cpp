// fuzz_pl011: the emulated PL011 (core/pl011) behind the VM's lock (vm/vm.hpp LockedPl011) on an MMIO bus: random
// guest accesses (any offset in and around the frame, any width, reads and writes), characters arriving from a fake
// physical UART with back-pressure (Pl011RxSource), attach/detach of the source and resets.
// Invariants: reads fit the access width; the FIFO never holds more than kRxFifo characters; FR.RXFE / RXFF agree
// with the FIFO count; the backend's interrupt line always equals (RIS & IMSC) != 0 after every access; no character
// is lost or duplicated between the source and the guest's DR reads while a source is attached; the source's
// interrupt is enabled exactly when the FIFO has room after a pull (docs in core/pl011.hpp).
#include "core/pl011.hpp"

#include <cstring>
#include <deque>

#include "core/mmio.hpp"
#include "tests/fuzz/fuzz_support.hpp"
#include "vm/vm.hpp"

using namespace hv;
using hvfuzz::ByteStream;

namespace {

constexpr u64 kBase = 0x09000000;

struct Backend final : Pl011Backend {
    void uart_tx(char) override { ++tx; }
    void uart_irq(bool level) override { line = level; }
    u64 tx = 0;
    bool line = false;
};

struct Source final : Pl011RxSource {
    int rx_getc() override {
        if (queue.empty()) return -1;
        int c = static_cast<unsigned char>(queue.front());
        queue.pop_front();
        return c;
    }
    void rx_irq_enable(bool on) override { irq_on = on; }
    std::deque<char> queue;
    bool irq_on = false;
};

u64 width_mask(u8 w) { return w == 8 ? ~u64{0} : (u64{1} << (8 * w)) - 1; }

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    hvfuzz::install_log_sink();
    ByteStream in(data, size);
    Backend backend;
    Source source;
    LockedPl011 uart(backend);
    MmioBus bus;
    FUZZ_CHECK(bus.add(kBase, Pl011::kFrameSize, &uart) == Status::ok);
    bool attached = false;
    std::deque<char> expected;  // characters the guest should read next, in order (source attached)
    char next_char = 'a';

    for (int ops = 0; ops < 512 && !in.empty(); ++ops) {
        u8 op = in.u8();
        switch (op % 8) {
            case 0:
            case 1:
            case 2: {  // guest access
                static constexpr u8 kWidths[] = {1, 2, 4, 8, 3, 0, 16};
                u8 width = kWidths[in.below(op & 0x80 ? 7 : 4)];
                u64 off = in.below(4) == 0 ? in.u16() : (in.u8() & 0x3f) * 4 + (in.below(8) == 0 ? in.below(4) : 0);
                if (in.below(8) == 0) off = 0xfe0 + in.below(32);
                bool write = in.below(2);
                u64 value = in.u64();
                u64 before = uart.locked([](Pl011& u) { return u64{u.rx_count()}; });
                MmioResult r = bus.dispatch(0, kBase + off, width, write, value);
                if (off + (width ? width : 1) > Pl011::kFrameSize || !width_bit(width)) {
                    FUZZ_CHECK(r == MmioResult::unhandled);
                    break;
                }
                FUZZ_CHECK(r == MmioResult::ok);
                if (!write) FUZZ_CHECK((value & ~width_mask(width)) == 0);
                // A DR read (any byte of it) takes the oldest character; at offset 0 its value is that character.
                u64 total = uart.locked([](Pl011& u) { return u64{u.rx_count()}; }) + source.queue.size();
                if (attached && total < expected.size()) {
                    FUZZ_CHECK(!write && off < 4 && before > 0 && total + 1 == expected.size());
                    if (off == 0) FUZZ_CHECK((value & 0xff) == static_cast<unsigned char>(expected.front()));
                    expected.pop_front();
                }
                break;
            }
            case 3: {  // input from the physical UART (no source: pushed directly, dropped when full)
                u32 n = in.below(40);
                for (u32 i = 0; i < n; ++i) {
                    char c = next_char;
                    next_char = next_char == 'z' ? 'a' : static_cast<char>(next_char + 1);
                    if (attached) {
                        source.queue.push_back(c);
                        expected.push_back(c);
                    } else {
                        (void)uart.locked([&](Pl011& u) { return u.push_rx(c); });
                    }
                }
                if (attached && source.irq_on) (void)uart.locked([](Pl011& u) { return u.pull_rx(); });
                break;
            }
            case 4:
                if (!attached && uart.locked([](Pl011& u) { return u.rx_count(); }) == 0) {
                    uart.locked([&](Pl011& u) { u.attach_rx_source(&source); });
                    attached = true;
                }
                break;
            case 5:
                uart.locked([](Pl011& u) { u.reset(); });
                if (attached) {
                    // Reset drops the FIFO: whatever it held is gone; what is still in the source stays.
                    while (expected.size() > source.queue.size()) expected.pop_front();
                    (void)uart.locked([](Pl011& u) { return u.pull_rx(); });
                }
                break;
            case 6:
                if (attached) (void)uart.locked([](Pl011& u) { return u.pull_rx(); });
                break;
            case 7: {  // MMIO past the frame / between frames
                u64 v = 0;
                FUZZ_CHECK(bus.dispatch(0, kBase - 1 - in.u8(), 4, in.below(2), v) == MmioResult::unhandled);
                break;
            }
        }
        uart.locked([&](Pl011& u) {
            FUZZ_CHECK(u.rx_count() <= Pl011::kRxFifo);
            FUZZ_CHECK(backend.line == u.irq_level());
            MmioAccess fr{0, static_cast<u64>(Pl011Reg::FR), 4, false};
            u64 flags = 0;
            FUZZ_CHECK(u.mmio_read(fr, flags) == MmioResult::ok);
            FUZZ_CHECK(((flags & Pl011::kFrRxfe) != 0) == (u.rx_count() == 0));
            FUZZ_CHECK(((flags & Pl011::kFrRxff) != 0) == u.rx_full());
            if (attached) {
                FUZZ_CHECK(u.rx_count() + source.queue.size() == expected.size());
                FUZZ_CHECK(source.irq_on == (u.rx_source_irq_enabled()));
            }
            return 0;
        });
    }
    return 0;
}
