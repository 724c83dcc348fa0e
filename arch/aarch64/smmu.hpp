// The host SMMUv3 as the hypervisor drives it (IHI0070; docs/msi-passthrough.md "DMA isolation"). The hypervisor
// owns the SMMU: it is not in the guest's DT and not in stage 2. Every StreamID of the passed-through PCIe root
// complex gets one translation that admits exactly the VM's RAM (identity) and the physical ITS doorbell page(s);
// any other DMA address faults, and StreamIDs outside the root complex abort. Stage 2 when the SMMU offers it
// (SMMU_IDR0.S2P), else stage 1 with one context descriptor (QEMU 7.2 implements stage 1 only).
//
// Structures: a 2-level stream table (BSS: 2^16 StreamIDs as 256 L1 descriptors sharing L2 tables of 256 STEs;
// a linear table of up to 2^11 entries on an SMMU without 2-level tables or for fewer than 2^9 StreamIDs), one CD, the
// DMA page table (core/smmu_tables over the EL2 table pool), a command queue (CFGI / TLBI / SYNC, bounded waits) and an
// event queue drained from the eventq SPI: faults become rate-limited log lines. GERROR is logged and acknowledged.
#pragma once

#include "arch/aarch64/mmu.hpp"
#include "core/platform.hpp"
#include "core/smmu_tables.hpp"
#include "lib/spinlock.hpp"
#include "vm/vm.hpp"

namespace hv::arch {

struct SmmuStats {
    u64 events = 0;         // event records consumed
    u64 faults = 0;         // translation-class events (DMA outside the VM's window)
    u64 config_errors = 0;  // C_BAD_* / fetch events (StreamIDs without a valid STE land here)
    u64 overflows = 0;      // event queue overflows seen
    u64 gerrors = 0;        // global errors
    u64 commands = 0;       // commands issued (SYNCs included)
    u64 timeouts = 0;       // command waits that timed out or hit CMDQ_ERR
};

// After the VM's RAM is final and the PCIe windows are mapped, before any vCPU runs. `passthrough`: the PCIe root
// complex is passed through (its StreamIDs get the VM's translation; otherwise every StreamID aborts). `msi`: the
// physical ITS doorbell(s) the root complex's msi-map names are reachable. not_found: no SMMU in the host DT;
// unsupported: an SMMU this driver cannot use; timeout: it did not answer. On failure the SMMU is left disabled.
[[nodiscard]] Status smmu_vm_init(const Vm& vm, const PlatformInfo& plat, bool passthrough, bool msi);

bool smmu_active();
// Drain the event queue now (the eventq interrupt does this; also usable as a poll).
void smmu_poll_events();
const SmmuStats& smmu_stats();
// `stats: smmu active=... faults=...` (after draining the event queue); logged at power-off with the other stats.
void smmu_log_stats();
// The SMMU's counters at power-off as a device of the VM (log_stats only; registered whether or not the SMMU is on,
// so `stats: smmu active=0` says it was off).
DeviceHooks smmu_stats_device();

// --- the driver's state, held by the anchor (anchor.hpp); only smmu.cpp touches it ---
constexpr u32 kSmmuMaxSidBits = 16;  // StreamIDs the stream table covers (2-level)
constexpr u32 kSmmuL2Split = 8;      // STRTAB_BASE_CFG.SPLIT: 256 STEs (16 KiB) per L2 table, the split Linux uses
// L2 tables: one of device STEs and one of invalid STEs shared by every span all / none of whose StreamIDs go to the
// VM, and one per span a range boundary cuts (a range cuts at most the spans of its two ends).
constexpr usize kSmmuL2Tables = 2 + 2 * PcieInfo::kMaxMsiMaps;
// Without 2-level support (IDR0.ST_LEVEL = 0) the L2 tables' memory is one linear table of up to 2^11 entries.
constexpr u32 kSmmuLinearMaxLog2 = 11;
constexpr u32 kSmmuCmdqLog2 = 8;    // 256 commands, 4 KiB
constexpr u32 kSmmuEventqLog2 = 7;  // 128 records, 4 KiB
constexpr usize kSmmuMaxTablePages = 64;

// The SMMU's memory: BSS (zeroed at boot), identity mapped Normal WB at EL2. A linear stream table must be aligned
// to its size, an L2 table to its size, the L1 table to its size (IHI0070 6.3.23 STRTAB_BASE, 5.1 L1STD): the anchor
// places this first, aligned to kSmmuStrtabAlign (the largest linear table), and the struct itself carries no such
// alignment, so its size is not rounded up.
constexpr usize kSmmuStrtabAlign = sizeof(smmu::Ste) << kSmmuLinearMaxLog2;  // 128 KiB
struct SmmuMemory {
    smmu::Ste l2[kSmmuL2Tables << kSmmuL2Split];  // L2 tables, or the linear table
    alignas(2048) u64 l1[1u << (kSmmuMaxSidBits - kSmmuL2Split)];
    alignas(64) smmu::Cd cd;
    alignas(4096) smmu::Cmd cmdq[1u << kSmmuCmdqLog2];
    alignas(4096) smmu::EventRecord eventq[1u << kSmmuEventqLog2];
};
static_assert((kSmmuL2Tables << kSmmuL2Split) >= (1u << kSmmuLinearMaxLog2));
static_assert(sizeof SmmuMemory::l1 == 2048 && alignof(SmmuMemory) <= kSmmuStrtabAlign);

// Page tables come from the EL2 pool; the pages are remembered so a non-coherent SMMU can be given clean copies.
class SmmuTablePool final : public PageAllocator {
public:
    u64 alloc_pages(usize pages) override {
        const u64 pa = table_pool().alloc_pages(pages);
        if (pa != 0 && count_ < kSmmuMaxTablePages) pages_[count_++] = {pa, pages};
        return pa;
    }
    u64* table_ptr(u64 pa) override { return table_pool().table_ptr(pa); }
    usize count() const { return count_; }
    u64 base(usize i) const { return pages_[i].pa; }
    usize pages(usize i) const { return pages_[i].n; }

private:
    struct Block {
        u64 pa;
        usize n;
    };
    Block pages_[kSmmuMaxTablePages] = {};
    usize count_ = 0;
};

struct SmmuState {
    u64 base = 0;
    bool coherent = false;
    bool active = false;
    bool stage2 = false;
    u32 sid_log2 = 0;
    bool two_level_capable = false;  // IDR0.ST_LEVEL = 1
    bool two_level = false;          // the stream table in use is 2-level
    smmu::QueueIndex cmdq{kSmmuCmdqLog2};
    smmu::QueueIndex eventq{kSmmuEventqLog2};
    u32 cmd_prod = 0;
    Spinlock cmd_lock;
    Spinlock event_lock;
    SmmuStats stats;
    SmmuTablePool pool;
    PageTable dma_table;
};

}  // namespace hv::arch
