#include "arch/aarch64/guest_uart.hpp"

#include "arch/aarch64/anchor.hpp"
#include "arch/aarch64/console.hpp"
#include "arch/aarch64/console_escape.hpp"
#include "arch/aarch64/gic.hpp"
#include "arch/aarch64/sysreg.hpp"
#include "arch/aarch64/vgic_glue.hpp"
#include "arch/aarch64/vm_run.hpp"
#include "core/pl011.hpp"
#include "lib/log.hpp"

namespace hv::arch {

namespace {

// Host PL011 registers (DDI0183G 3.2) used for the receive interrupt.
constexpr u64 kHostImsc = 0x038;
constexpr u64 kHostIcr = 0x044;
constexpr u32 kHostRxim = 1u << 4;
constexpr u32 kHostRtim = 1u << 6;

void write_host(u64 reg, u32 v) { mmio_write<u32>(console_base() + reg, v); }

// The host PL011's receiver as the model's input. Masking its RX/RT interrupts while the guest's FIFO is full
// leaves further input in the host UART (back-pressure, core/pl011.hpp) instead of dropping it.
class HostUartRx final : public Pl011RxSource {
public:
    int rx_getc() override { return console_escape_getc(); }  // Ctrl-] commands never reach the guest
    void rx_irq_enable(bool on) override { write_host(kHostImsc, on ? kHostRxim | kHostRtim : 0); }
};

// A stateless port (vtable only): constant at file scope (docs/architecture.md §4 "The anchors").
constinit const HostUartRx kHostRx;

// The host UART's receive interrupt: move what fits into the guest's FIFO.
void pull_host(LockedPl011& uart) {
    uart.locked([](Pl011& u) {
        // Clear RX/RT before reading, so a character arriving after the last read raises them again (QEMU's PL011
        // clears RXRIS on an ICR write even with data waiting).
        write_host(kHostIcr, kHostRxim | kHostRtim);
        (void)u.pull_rx();
    });
}

bool host_uart_irq(u32, void*) {
    Vm& vm = the_vm();
    if (vm.uart.built()) pull_host(*vm.uart);
    return true;
}

}  // namespace

void GuestUartBackend::uart_tx(char c) { console_guest_putc(c); }
// Called with the UART lock held; the vGIC takes its own locks and kicks the target after dropping them.
void GuestUartBackend::uart_irq(bool level) { vgic_set_line(intid, 0, level); }

Pl011Backend* guest_uart_backend(const UartInfo& uart) {
    if (!uart.present) return nullptr;
    hyp().uart_backend.intid = uart.irq.valid ? uart.irq.intid() : 0;
    return &hyp().uart_backend;
}

Status guest_uart_init(Vm& vm, const UartInfo& uart) {
    if (!uart.present || !vm.uart.built()) return Status::not_found;
    HV_TRY(vm.mmio.add(uart.base, Pl011::kFrameSize, &*vm.uart));
    DeviceHooks d;  // the UART as one of the VM's devices: reset with the VM
    d.name = "uart";
    d.reset = [](void*, Vm&) { guest_uart_reset(); };
    HV_TRY(vm.add_device(d));
    HV_TRY(vm.add_device(console_escape_device()));  // Ctrl-] commands typed on this console
    if (uart.irq.valid && uart.irq.type == DtIrq::kSpi) {
        u32 host = uart.irq.intid();
        gic_set_handler(host, host_uart_irq, nullptr);
        gic_route_spi(host, HV_READ_SYSREG(mpidr_el1));
        vm.uart->locked([](Pl011& u) {
            u.attach_rx_source(&const_cast<HostUartRx&>(kHostRx));
        });  // unmasks the host UART's RX/RT interrupts while the FIFO has room
        gic_enable(host, true);
    } else {
        HV_LOG_WARN("guest UART: no host UART interrupt in the DT: no console input");
    }
    return Status::ok;
}

void guest_uart_reset() {
    Vm& vm = the_vm();
    if (vm.uart.built()) vm.uart->locked([](Pl011& u) { u.reset(); });
}

}  // namespace hv::arch
