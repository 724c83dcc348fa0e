#include "tests/guest/runtime/smp.hpp"

#include "lib/string.hpp"
#include "tests/guest/runtime/smccc.hpp"
#include "tests/guest/runtime/sysreg.hpp"
#include "tests/guest/runtime/test.hpp"

extern "C" {
void rt_secondary_entry();
void rt_capture_entry();
void rt_secondary_main(hv::u64 slot);
extern volatile rt::EntryCapture rt_entry_capture;
}

namespace rt {
namespace {

struct Slot {
    CpuFn fn;
    void* arg;
    volatile u32 started;
    volatile u32 finished;
};
Slot g_slots[kMaxCpus];
u32 g_cpu_off_fid = psci::kCpuOff;

}  // namespace

bool prepare_cpu(u32 slot, CpuFn fn, void* arg) {
    if (slot == 0 || slot >= kMaxCpus || fn == nullptr) return false;
    g_slots[slot].fn = fn;
    g_slots[slot].arg = arg;
    g_slots[slot].started = 0;
    g_slots[slot].finished = 0;
    dsb_sy();
    return true;
}

u64 secondary_entry_address() { return reinterpret_cast<uptr>(&rt_secondary_entry); }
void set_cpu_off_function(u32 fid) { g_cpu_off_fid = fid; }

i64 start_cpu(u32 slot, u64 target_mpidr, CpuFn fn, void* arg) {
    if (!prepare_cpu(slot, fn, arg)) return psci::kPsciInvalidParameters;
    return psci_cpu_on(target_mpidr, secondary_entry_address(), slot);
}

const volatile EntryCapture& entry_capture() { return rt_entry_capture; }
u64 capture_entry_address() { return reinterpret_cast<uptr>(&rt_capture_entry); }

bool prepare_captured_cpu(u32 slot, CpuFn fn, void* arg) {
    if (!prepare_cpu(slot, fn, arg)) return false;
    rt_entry_capture.valid = 0;
    rt_entry_capture.x0 = 0;
    rt_entry_capture.current_el = 0;
    rt_entry_capture.spsel = 0;
    rt_entry_capture.sctlr_el1 = 0;
    rt_entry_capture.daif = 0;
    rt_entry_capture.slot = slot;
    dsb_sy();
    return true;
}

i64 start_cpu_captured(u32 slot, u64 target_mpidr, u64 context_id, CpuFn fn, void* arg) {
    if (!prepare_captured_cpu(slot, fn, arg)) return psci::kPsciInvalidParameters;
    return psci_cpu_on(target_mpidr, capture_entry_address(), context_id);
}

bool cpu_started(u32 slot) { return slot < kMaxCpus && g_slots[slot].started; }
bool cpu_finished(u32 slot) { return slot < kMaxCpus && g_slots[slot].finished; }

bool wait_slot(bool (*cond)(u32 slot), u32 slot, u64 ms) {
    const u64 deadline = counter() + ms_ticks(ms);
    while (!cond(slot) && counter() < deadline) {
    }
    return cond(slot);
}

u32 dt_cpu_mpidrs(u64* out, u32 cap) {
    const fdt::Reader& f = dt();
    u32 n = 0;
    for (i32 c = f.first_child(f.find_path("/cpus")); c >= 0 && n < cap; c = f.next_sibling(c)) {
        const char* type = f.prop_string(c, "device_type");
        u64 base = 0, size = 0;
        if (type && strcmp(type, "cpu") == 0 && f.read_reg(c, 0, base, size) == Status::ok) out[n++] = base;
    }
    return n;
}

u64 self_mpidr() { return RT_READ_SYSREG(mpidr_el1) & psci::kMpidrAffinityMask; }

u32 dt_other_cpus(u64* out, u32 cap) {
    u64 all[kMaxCpus];
    const u32 n = dt_cpu_mpidrs(all, kMaxCpus);
    const u64 self = self_mpidr();
    u32 k = 0;
    for (u32 i = 0; i < n && k < cap; ++i)
        if (all[i] != self) out[k++] = all[i];
    return k;
}

u64 dt_other_cpu() {
    u64 other = ~0ull;
    return dt_other_cpus(&other, 1) == 1 ? other : ~0ull;
}

}  // namespace rt

extern "C" void rt_secondary_main(hv::u64 slot) {
    using namespace rt;
    Slot& s = g_slots[slot];
    s.started = 1;
    dsb_sy();
    s.fn(static_cast<u32>(slot), s.arg);
    s.finished = 1;
    dsb_sy();
    smccc_call(psci_conduit(), g_cpu_off_fid);
    for (;;) wfi();
}
