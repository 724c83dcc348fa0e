#include "tests/guest/runtime/exceptions.hpp"

#include "core/esr.hpp"
#include "tests/guest/runtime/console.hpp"
#include "tests/guest/runtime/sysreg.hpp"
#include "tests/guest/runtime/test.hpp"

extern "C" {
hv::u64 rt_probe_read64(hv::u64 addr, hv::u64 fallback);
hv::u32 rt_probe_read32(hv::u64 addr, hv::u32 fallback);
void rt_probe_write64(hv::u64 addr, hv::u64 value);
void rt_probe_write32(hv::u64 addr, hv::u32 value);
void rt_exception(rt::ExceptionFrame* frame, hv::u32 kind);
}

namespace rt {
namespace {

bool g_armed = false;
FaultAction g_action = FaultAction::skip;
FaultRecord g_record;
SyncHandler g_sync_handler = nullptr;
IrqHandler g_irq_handler = nullptr;
// Exception nesting depth per CPU (several CPUs take IRQs at the same time in SMP payloads), indexed by
// MPIDR Aff1 * 16 + Aff0 (the runtime supports at most 8 CPUs).
u32 g_depth_of[8];
u32& depth() {
    u64 mpidr = RT_READ_SYSREG(mpidr_el1);
    return g_depth_of[((mpidr >> 8 & 0xff) * 16 + (mpidr & 0xff)) % 8];
}

const char* kind_name(u32 kind) {
    switch (kind) {
        case 0:
            return "sync";
        case 1:
            return "irq";
        case 2:
            return "fiq";
        case 3:
            return "serror";
        default:
            return kind < 8 ? "from SP_EL0" : "from lower EL";
    }
}

[[noreturn]] void unexpected(const ExceptionFrame& f, u32 kind) {
    printf("UNEXPECTED EXCEPTION (%s): ESR_EL1=0x%llx (EC 0x%x %s) FAR_EL1=0x%llx ELR_EL1=0x%llx SPSR=0x%llx\n",
           kind_name(kind), static_cast<unsigned long long>(f.esr), static_cast<unsigned>(EsrEc::get(f.esr)),
           ec_name(static_cast<u32>(EsrEc::get(f.esr))), static_cast<unsigned long long>(f.far),
           static_cast<unsigned long long>(f.elr), static_cast<unsigned long long>(f.spsr));
    abort_run("unexpected exception");
}

}  // namespace

// The hypervisor's table of exception-class names (core/esr.cpp): one list for both sides.
const char* ec_name(u32 e) { return hv::esr::ec_name(hv::esr::Ec::make(e)); }

void expect_fault(FaultAction action) {
    g_record = FaultRecord{};
    g_action = action;
    __atomic_store_n(&g_armed, true, __ATOMIC_SEQ_CST);
}

FaultRecord take_fault() {
    __atomic_store_n(&g_armed, false, __ATOMIC_SEQ_CST);
    FaultRecord r = g_record;
    g_record = FaultRecord{};
    return r;
}

void set_sync_handler(SyncHandler h) { g_sync_handler = h; }
void set_irq_handler(IrqHandler h) { g_irq_handler = h; }

ProbeResult probe_read64(u64 addr, u64 fallback) {
    expect_fault();
    u64 v = rt_probe_read64(addr, fallback);
    return {v, take_fault()};
}

ProbeResult probe_read32(u64 addr, u32 fallback) {
    expect_fault();
    u32 v = rt_probe_read32(addr, fallback);
    return {v, take_fault()};
}

FaultRecord probe_write64(u64 addr, u64 value) {
    expect_fault();
    rt_probe_write64(addr, value);
    return take_fault();
}

FaultRecord probe_write32(u64 addr, u32 value) {
    expect_fault();
    rt_probe_write32(addr, value);
    return take_fault();
}

}  // namespace rt

extern "C" void rt_exception(rt::ExceptionFrame* frame, hv::u32 kind) {
    using namespace rt;
    ExceptionFrame& f = *frame;
    u32& g_depth = depth();
    if (++g_depth > 2) {
        // A fault inside the fault path: print with the least machinery possible and stop.
        console_puts("NESTED EXCEPTION in the guest runtime\n");
        abort_run("nested exception");
    }
    if (kind == static_cast<u32>(VectorKind::sync)) {
        if (g_armed && !g_record.taken) {
            g_record = FaultRecord{true, kind, f.esr, f.far, f.elr};
            if (g_action == FaultAction::skip) f.elr += 4;
            --g_depth;
            return;
        }
        if (g_sync_handler && g_sync_handler(f)) {
            --g_depth;
            return;
        }
        unexpected(f, kind);
    }
    if (kind == static_cast<u32>(VectorKind::irq) && g_irq_handler) {
        g_irq_handler(f);
        --g_depth;
        return;
    }
    unexpected(f, kind);
}
