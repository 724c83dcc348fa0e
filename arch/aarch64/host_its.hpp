// The physical GICv3 ITS as the hypervisor drives it (IHI0069H chapter 5): the hypervisor's own device table,
// collection table and ITTs, a command queue with SYNC completion and bounded waits, host LPI property/pending tables
// on every pCPU's redistributor (GICR_PROPBASER/PENDBASER, EnableLPIs), one collection per pCPU (ICID = pCPU index)
// and a host LPI range allocator. Passed-through devices keep writing their MSIs to the physical GITS_TRANSLATER;
// the ITS translates them by requester ID (= DeviceID through the host msi-map) to host LPIs that arrive at EL2
// (gic_set_lpi_handler). The shadow mappings (core/msi_shadow) drive it through PhysicalItsOps.
//
// Every wait is bounded: an ITS that does not answer yields Status::timeout and a log line, never a hang.
#pragma once

#include "arch/aarch64/asm_defs.h"
#include "core/msi_shadow.hpp"
#include "core/platform.hpp"
#include "lib/spinlock.hpp"

namespace hv::arch {

constexpr u32 kHostLpiIdBits = 14;  // host LPIs are INTIDs [8192, 16384)
constexpr u32 kHostLpiFirst = 8192;
constexpr u32 kHostLpiCount = (1u << kHostLpiIdBits) - kHostLpiFirst;
constexpr u8 kHostLpiPriority = 0xa0;  // as the hypervisor's SPIs (gic.cpp)

class HostIts final : public PhysicalItsOps {
public:
    // After every pCPU's redistributor is up (gic_init_cpu on all of them, i.e. after the secondaries started):
    // LPIs on each of the first `cpus` redistributors, ITS tables, queue, enable, MAPC per pCPU.
    // not_found: no ITS / no LPI support; unsupported: an ITS this driver cannot use (no physical LPIs, table
    // types missing); timeout: the ITS did not answer.
    [[nodiscard]] Status init(const ItsFrame& frame, u32 cpus);
    bool ready() const { return ready_; }
    u64 translater_address() const { return base_ + 0x10040; }

    // Reserve `count` consecutive host LPIs (never released: one range per VM). no_memory when exhausted.
    [[nodiscard]] Result<u32> reserve_lpis(u32 count);

    // PhysicalItsOps
    [[nodiscard]] Status map_device(u32 device_id, u32 event_bits) override;
    [[nodiscard]] Status unmap_device(u32 device_id) override;
    [[nodiscard]] Status map_event(u32 device_id, u32 event_id, u32 host_lpi, u32 pcpu) override;
    [[nodiscard]] Status unmap_event(u32 device_id, u32 event_id, u32 host_lpi) override;
    [[nodiscard]] Status move_event(u32 device_id, u32 event_id, u32 pcpu) override;

    // ---- GICv4.0 direct injection (IHI0069H chapter 6 "Virtual LPI support") ----
    // The host GIC can inject vLPIs: GITS_TYPER.Virtual, a vPE table accepted by a GITS_BASER<n> of type vPE, and
    // GICR_TYPER.VLPIS on every redistributor the ITS serves (known after init()).
    bool virtual_capable() const { return virtual_capable_; }
    // One vPE per vCPU (vPEID = vCPU index), VMAPPed to the redistributor of the pCPU it is pinned to, with its
    // own virtual pending table and doorbell (a host LPI, enabled; rung while the vPE is not resident).
    [[nodiscard]] Status init_vpes(u32 vcpus, const u32* vcpu_pcpu, u32 doorbell_base);
    bool vpes_ready() const { return vpes_ready_; }
    u32 doorbell_of(u32 vcpu) const { return vcpu < vpes_ ? doorbell_base_ + vcpu : 0; }
    // The vCPU whose doorbell `lpi` is, or kNoVpe.
    static constexpr u32 kNoVpe = 0xffffffffu;
    u32 vpe_of_doorbell(u32 lpi) const {
        return vpes_ready_ && lpi >= doorbell_base_ && lpi - doorbell_base_ < vpes_ ? lpi - doorbell_base_ : kNoVpe;
    }
    // Residency, on the pCPU the vPE is mapped to (this pCPU's redistributor, no lock): make vCPU `vcpu`'s vPE
    // resident with the guest's LPI property table `vpropbaser` (a GICR_VPROPBASER value), or not resident; the
    // latter returns GICR_VPENDBASER.PendingLast (a vLPI was pending when it left).
    void vpe_load(u32 vcpu, u64 vpropbaser);
    bool vpe_put(u32 vcpu);
    // vLPI `vintid` is pending in vCPU `vcpu`'s virtual pending table (read while the vPE is not resident).
    bool vlpi_pending_in_vpt(u32 vcpu, u32 vintid) const;
    // VMOVP (the vCPU moved to another pCPU; unused while vCPUs are pinned). Pending vLPIs move with the VPT.
    [[nodiscard]] Status move_vpe(u32 vcpu, u32 pcpu);
    // PhysicalItsOps, direct mode
    [[nodiscard]] Status map_vlpi(u32 device_id, u32 event_id, u32 vintid, u32 vcpu) override;
    [[nodiscard]] Status move_vlpi(u32 device_id, u32 event_id, u32 vcpu) override;
    [[nodiscard]] Status set_vlpi_pending(u32 device_id, u32 event_id, bool pending) override;
    [[nodiscard]] Status invalidate_vlpi(u32 device_id, u32 event_id) override;
    [[nodiscard]] Status invalidate_vpe(u32 vcpu) override;

    // Diagnostics.
    u32 device_id_limit() const { return device_limit_; }
    u64 commands_issued() const { return commands_; }
    u64 timeouts() const { return timeouts_; }

private:
    struct Cmd {
        u64 dw[4];
    };
    [[nodiscard]] Status setup_redistributor(u32 cpu);
    [[nodiscard]] Status setup_tables();
    // Queue `n` commands followed by a SYNC to pCPU `sync_cpu` and wait (bounded) until the ITS consumed them.
    [[nodiscard]] Status submit(const Cmd* cmds, u32 n, u32 sync_cpu);
    [[nodiscard]] Status wait_for_space(u64 next_writer);
    u64 rdbase(u32 cpu) const;
    void set_lpi_config(u32 lpi, bool enable);
    i32 itt_slot_of(u32 device_id) const;

    Spinlock lock_;  // queue, tables and ITT slots
    u64 base_ = 0;
    u32 cpus_ = 0;
    bool ready_ = false;
    bool pta_ = false;
    bool flush_ = false;  // tables are non-shareable / non-cacheable for the ITS: clean the data cache
    u32 itt_entry_size_ = 8;
    u32 device_limit_ = 0;  // DeviceIDs < device_limit_ are backed by our device table
    u32 event_bits_max_ = 0;
    u64 cwriter_ = 0;  // next free byte offset in the queue
    u32 next_lpi_ = kHostLpiFirst;
    u64 commands_ = 0;
    u64 timeouts_ = 0;
    bool virtual_capable_ = false;
    bool vpes_ready_ = false;
    u32 vpes_ = 0;
    u32 doorbell_base_ = 0;
    u32 vpe_pcpu_[PlatformInfo::kMaxCpus] = {};
};

HostIts& host_its();

// The ITS's own memory: BSS (zeroed at boot; the anchor leaves it as it is), identity mapped Normal WB at EL2. Held by
// the anchor (anchor.hpp); only host_its.cpp touches it.
struct HostItsMemory {
    static constexpr u32 kQueuePages = 4;  // 16 KiB: 512 commands
    static constexpr u64 kQueueBytes = kQueuePages * 4096;
    static constexpr u64 kTableBytes = 64 * KiB;  // device table and collection table: one 64 KiB block each
    static constexpr u32 kIttSlots = MsiShadow::kMaxDevices;
    static constexpr u64 kIttBytes = 4096;  // 2^8 events x up to 16 bytes per entry

    alignas(64 * KiB) u8 pending[HV_MAX_CPUS][64 * KiB];  // 2 KiB used each; PENDBASER needs 64 KiB alignment
    alignas(64 * KiB) u8 device_table[kTableBytes];
    alignas(64 * KiB) u8 collection_table[kTableBytes];
    alignas(64 * KiB) u8 vpe_table[kTableBytes];  // GICv4: the ITS's vPE table (GITS_BASER type vPE)
    // GICv4: one virtual LPI pending table per vPE (vCPU), 64 KiB aligned for VMAPP/GICR_VPENDBASER; the guest's
    // LPIs are < 2^16 (vgic kIdBits), so 8 KiB of each are used.
    static constexpr u32 kVptIdBits = 16;
    alignas(64 * KiB) u8 vpt[HV_MAX_CPUS][64 * KiB];
    alignas(4096) u8 prop[kHostLpiCount];  // shared by every redistributor
    alignas(4096) u8 queue[kQueueBytes];
    alignas(4096) u8 itt[kIttSlots][kIttBytes];
    u32 itt_owner[kIttSlots];
    bool itt_used[kIttSlots];
};

}  // namespace hv::arch
