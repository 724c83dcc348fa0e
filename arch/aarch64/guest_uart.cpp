#include "arch/aarch64/guest_uart.hpp"

#include "arch/aarch64/console.hpp"
#include "arch/aarch64/gic.hpp"
#include "arch/aarch64/sysreg.hpp"
#include "arch/aarch64/vgic_glue.hpp"
#include "arch/aarch64/vm_run.hpp"
#include "core/pl011.hpp"
#include "lib/log.hpp"
#include "lib/spinlock.hpp"

// Placement new (no <new> in the freestanding build).
inline void* operator new(hv::usize, void* p) noexcept { return p; }

namespace hv::arch {

namespace {

// Host PL011 registers (DDI0183G 3.2) used for the receive interrupt.
constexpr u64 kHostImsc = 0x038;
constexpr u64 kHostIcr = 0x044;
constexpr u32 kHostRxim = 1u << 4;
constexpr u32 kHostRtim = 1u << 6;

class UartBackend final : public Pl011Backend {
public:
    void uart_tx(char c) override { console_guest_putc(c); }
    // Called with the UART lock held; the vGIC takes its own locks and kicks the target after dropping them.
    void uart_irq(bool level) override { vgic_set_line(intid, 0, level); }
    u32 intid = 0;
};

// The model behind one lock: MMIO from any vCPU and input from the IRQ handler.
class LockedUart final : public MmioHandler {
public:
    explicit LockedUart(Pl011Backend& backend) : uart_(backend) {}
    MmioResult mmio_read(const MmioAccess& a, u64& value) override {
        LockGuard guard(lock_);
        return uart_.mmio_read(a, value);
    }
    MmioResult mmio_write(const MmioAccess& a, u64 value) override {
        LockGuard guard(lock_);
        return uart_.mmio_write(a, value);
    }
    // Moves everything the host UART has received into the guest's FIFO; returns how many were dropped (full).
    u32 drain_host() {
        LockGuard guard(lock_);
        u32 dropped = 0;
        for (u32 i = 0; i < 64; ++i) {
            int c = console_getc();
            if (c < 0) break;
            if (!uart_.push_rx(static_cast<char>(c))) ++dropped;
        }
        return dropped;
    }
    void reset() {
        LockGuard guard(lock_);
        uart_.reset();
    }

private:
    Spinlock lock_;
    Pl011 uart_;
};

UartBackend g_backend;
alignas(LockedUart) u8 g_storage[sizeof(LockedUart)];
LockedUart* g_uart = nullptr;

bool host_uart_irq(u32, void*) {
    if (g_uart == nullptr) return true;
    u32 dropped = g_uart->drain_host();
    // QEMU's PL011 drops RXRIS once the FIFO is read empty; clear RX/RT explicitly for other implementations.
    mmio_write<u32>(console_base() + kHostIcr, kHostRxim | kHostRtim);
    if (dropped != 0) HV_LOG_RATELIMITED(warn, "guest UART receive FIFO full: %u character(s) dropped", dropped);
    return true;
}

}  // namespace

Status guest_uart_init(Vm& vm, const UartInfo& uart) {
    if (!uart.present) return Status::not_found;
    g_backend.intid = uart.irq.valid ? uart.irq.intid() : 0;
    g_uart = new (g_storage) LockedUart(g_backend);
    HV_TRY(vm.mmio.add(uart.base, Pl011::kFrameSize, g_uart));
    HV_TRY(add_reset_hook([](Vm&, void*) { guest_uart_reset(); }, nullptr));
    if (uart.irq.valid && uart.irq.type == DtIrq::kSpi) {
        u32 host = uart.irq.intid();
        gic_set_handler(host, host_uart_irq, nullptr);
        gic_route_spi(host, HV_READ_SYSREG(mpidr_el1));
        mmio_write<u32>(console_base() + kHostImsc, kHostRxim | kHostRtim);
        gic_enable(host, true);
    } else {
        HV_LOG_WARN("guest UART: no host UART interrupt in the DT: no console input");
    }
    return Status::ok;
}

void guest_uart_reset() {
    if (g_uart != nullptr) g_uart->reset();
}

}  // namespace hv::arch
