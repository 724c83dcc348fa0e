// The guest's emulated PL011 (core/pl011) at the host UART's address: transmit goes to the host console, receive is
// fed by the physical UART's interrupt (host SPI from the DT, handled at EL2 on the boot pCPU), and the model's
// interrupt line drives the guest's UART SPI on the vGIC. Accesses from every vCPU and the IRQ handler are
// serialised by one lock.
#pragma once

#include "core/pl011.hpp"
#include "core/platform.hpp"
#include "vm/vm.hpp"

namespace hv::arch {

// The model's backend for build_vm (console output, the interrupt line on the vGIC); nullptr without a UART.
Pl011Backend* guest_uart_backend(const UartInfo& uart);
// After vgic_vm_init (the line goes to the vGIC). Registers the UART frame on vm.mmio and enables the physical
// UART's receive interrupt. not_found if the platform has no UART.
[[nodiscard]] Status guest_uart_init(Vm& vm, const UartInfo& uart);

// VM reset: the emulated UART back to its reset state.
void guest_uart_reset();

// The emulated UART's output and interrupt line (console, vGIC), held by the anchor (anchor.hpp).
class GuestUartBackend final : public Pl011Backend {
public:
    void uart_tx(char c) override;
    void uart_irq(bool level) override;
    u32 intid = 0;
};

}  // namespace hv::arch
