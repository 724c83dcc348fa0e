#include "tests/guest/runtime/smp.hpp"

#include "lib/string.hpp"
#include "tests/guest/runtime/smccc.hpp"
#include "tests/guest/runtime/sysreg.hpp"
#include "tests/guest/runtime/test.hpp"

extern "C" {
void rt_secondary_entry();
void rt_secondary_main(hv::u64 slot);
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

}  // namespace

i64 start_cpu(u32 slot, u64 target_mpidr, CpuFn fn, void* arg) {
    if (slot == 0 || slot >= kMaxCpus || fn == nullptr) return psci::kInvalidParameters;
    g_slots[slot].fn = fn;
    g_slots[slot].arg = arg;
    g_slots[slot].started = 0;
    g_slots[slot].finished = 0;
    dsb_sy();
    return psci::cpu_on(target_mpidr, reinterpret_cast<uptr>(&rt_secondary_entry), slot);
}

bool cpu_started(u32 slot) { return slot < kMaxCpus && g_slots[slot].started; }
bool cpu_finished(u32 slot) { return slot < kMaxCpus && g_slots[slot].finished; }

u32 dt_cpu_mpidrs(u64* out, u32 cap) {
    const Fdt& f = dt();
    int cpus = f.path("/cpus");
    u32 n = 0;
    for (int c = f.first_child(cpus); c >= 0 && n < cap; c = f.next_sibling(c)) {
        const char* type = f.prop_str(c, "device_type");
        u64 base = 0, size = 0;
        if (type && strcmp(type, "cpu") == 0 && f.reg(cpus, c, 0, base, size)) out[n++] = base;
    }
    return n;
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
    smccc_call(psci_conduit(), psci::kCpuOff);
    for (;;) wfi();
}
