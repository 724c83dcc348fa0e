// Emulated Arm PL011 UART (ARM DDI0183G) for a guest: enough for Linux's amba-pl011 driver and earlycon and for
// bare-metal payloads. Transmit is instantaneous (characters go straight to the backend), receive is a small FIFO the
// platform fills from the physical UART. The interrupt line level (RIS & IMSC != 0) is reported to the backend on
// every change; the vGIC decides what to do with it.
//
// Receive back-pressure: with a Pl011RxSource attached, characters are only taken from the physical UART while the
// emulated FIFO has room. When it is full the source's receive interrupt is masked, so further input waits in the
// physical UART (and, behind it, in whatever feeds that UART: QEMU stops reading its chardev when the PL011 FIFO is
// full); the guest's next DR read refills the FIFO from the source and unmasks it again once the source is empty.
// Pasting more than kRxFifo characters therefore loses none.
#pragma once

#include "core/mmio.hpp"

namespace hv {

class Pl011Backend {
public:
    virtual void uart_tx(char c) = 0;
    virtual void uart_irq(bool level) = 0;

protected:
    ~Pl011Backend() = default;
};

// The physical side of the receive path (the platform's UART; a fake in tests).
class Pl011RxSource {
public:
    virtual int rx_getc() = 0;                // next received character, or -1 if none is waiting
    virtual void rx_irq_enable(bool on) = 0;  // mask / unmask the physical receive interrupt

protected:
    ~Pl011RxSource() = default;
};

enum class Pl011Reg : u32 {
    DR = 0x000,          // data
    RSR = 0x004,         // receive status / error clear
    FR = 0x018,          // flags (RO)
    ILPR = 0x020,        // IrDA low-power counter
    IBRD = 0x024,        // integer baud rate
    FBRD = 0x028,        // fractional baud rate
    LCR_H = 0x02c,       // line control
    CR = 0x030,          // control
    IFLS = 0x034,        // FIFO level select
    IMSC = 0x038,        // interrupt mask set/clear
    RIS = 0x03c,         // raw interrupt status (RO)
    MIS = 0x040,         // masked interrupt status (RO)
    ICR = 0x044,         // interrupt clear (WO)
    DMACR = 0x048,       // DMA control
    PERIPH_ID0 = 0xfe0,  // PeriphID0..3, PCellID0..3 (RO)
};

// The model's whole guest-visible state (snapshots: vm/uart_class). The receive FIFO's 32 slots from its oldest
// character (the first rx_count are waiting).
struct Pl011State {
    u32 rsr = 0, ilpr = 0, ibrd = 0, fbrd = 0, lcr_h = 0, cr = 0, ifls = 0, imsc = 0, ris = 0, dmacr = 0;
    u32 rx_count = 0;
    u8 rx[32] = {};
};

class Pl011 final : public MmioHandler {
public:
    static constexpr u64 kFrameSize = 0x1000;
    static constexpr usize kRxFifo = 32;
    // Interrupt bits (RIS/MIS/IMSC/ICR).
    static constexpr u32 kIntRx = 1u << 4;
    static constexpr u32 kIntTx = 1u << 5;
    static constexpr u32 kIntRt = 1u << 6;
    static constexpr u32 kIntAll = 0x7ff;
    // Flag register bits.
    static constexpr u32 kFrRxfe = 1u << 4;
    static constexpr u32 kFrTxff = 1u << 5;
    static constexpr u32 kFrRxff = 1u << 6;
    static constexpr u32 kFrTxfe = 1u << 7;

    explicit Pl011(Pl011Backend& backend) : backend_(backend) { reset(); }
    void reset();

    MmioResult mmio_read(const MmioAccess& a, u64& value) override;
    MmioResult mmio_write(const MmioAccess& a, u64 value) override;

    // Input from the platform (physical UART / test). Returns false if the FIFO is full (character dropped).
    bool push_rx(char c);
    bool rx_full() const { return rx_count_ == kRxFifo; }
    usize rx_count() const { return rx_count_; }

    // Back-pressure (see the top of this file). attach_rx_source pulls what fits and sets the source's interrupt;
    // pull_rx (the platform's receive-interrupt handler) moves characters until the source is empty or the FIFO is
    // full, then leaves the source's interrupt enabled exactly when the FIFO has room. Returns how many it moved.
    void attach_rx_source(Pl011RxSource* source);
    usize pull_rx();
    bool rx_source_irq_enabled() const { return rx_source_irq_on_; }
    bool irq_level() const { return (ris_ & imsc_) != 0; }

    // Snapshot state. set_state refuses (invalid_argument, nothing changed) a FIFO count above kRxFifo or bits
    // outside a register's fields (DDI0183G 3.3), then drives the interrupt line from the restored RIS & IMSC and
    // re-evaluates the receive source's back-pressure.
    Pl011State state() const;
    [[nodiscard]] Status set_state(const Pl011State& s);

    // Register accessors used by the region table.
    u64 read_dr(const MmioAccess&, u64);
    void write_dr(const MmioAccess&, u64, u64 v);
    u64 read_rsr(const MmioAccess&, u64) { return rsr_; }
    void write_rsr(const MmioAccess&, u64, u64) { rsr_ = 0; }
    u64 read_fr(const MmioAccess&, u64);
    u64 read_simple(const MmioAccess&, u64 reg_offset);
    void write_simple(const MmioAccess&, u64 reg_offset, u64 v);
    u64 read_ris(const MmioAccess&, u64) { return ris_; }
    u64 read_mis(const MmioAccess&, u64) { return ris_ & imsc_; }
    void write_imsc(const MmioAccess&, u64, u64 v);
    void write_icr(const MmioAccess&, u64, u64 v);
    u64 read_id(const MmioAccess&, u64 reg_offset);
    u64 read_raz(const MmioAccess&, u64) { return 0; }
    void write_ignore(const MmioAccess&, u64, u64);

private:
    void update_irq();
    void set_rx_source_irq(bool on);
    Pl011Backend& backend_;
    Pl011RxSource* rx_source_ = nullptr;
    bool rx_source_irq_on_ = false;
    char rx_[kRxFifo] = {};
    usize rx_head_ = 0, rx_count_ = 0;
    u32 rsr_ = 0, ilpr_ = 0, ibrd_ = 0, fbrd_ = 0, lcr_h_ = 0, cr_ = 0, ifls_ = 0, imsc_ = 0, ris_ = 0, dmacr_ = 0;
    bool last_level_ = false;
};

}  // namespace hv
