// sdei_basic: the SDEI 1.1 dispatcher (Arm DEN0054) over HVC: VERSION / FEATURES, event 0 registered, enabled and
// signalled to this PE (handler entry x0..x3, EVENT_CONTEXT = the interrupted x0..x17, COMPLETE returns with every
// register intact), PE_MASK holding delivery back until PE_UNMASK, COMPLETE_AND_RESUME entering the resume address
// as an IRQ would (ELR_EL1/SPSR_EL1 = the interrupted PC/PSTATE, DAIF masked), unregister while running (PENDING,
// then unregistered at completion), a signal to the other vCPU, and the error answers.
//
// guest-tests: smp=2 mem=512M append="" hv_append="vcpus=2" expect=pass timeout=60
#include "sdei/ids.hpp"
#include "tests/guest/runtime/guest.hpp"
#include "tests/guest/runtime/sdei.hpp"

using namespace rt;

extern "C" {
// Handler bookkeeping (written by the handler, read by the tests).
volatile u64 g_count[kMaxCpus];
volatile u64 g_ev, g_arg, g_pc, g_pstate, g_ctx[18], g_sp_sel;
volatile u64 g_resume_addr;  // non-zero: complete with COMPLETE_AND_RESUME here
volatile u64 g_unregister_in_handler;
volatile i64 g_unregister_result, g_status_in_handler;
volatile u64 g_probe[31];   // x0..x30 right after the probe's HVC returned
volatile u64 g_landing[4];  // ELR_EL1, SPSR_EL1, DAIF at the resume address; [3] = 1 once taken
void sdei_probe(u64 target_mpidr);
void sdei_probe_resume();
void sdei_resume_landing();

u64 sdei_handler_c(u64 ev, u64 arg, u64 pc, u64 pstate) {
    const u32 cpu = static_cast<u32>(RT_READ_SYSREG(mpidr_el1) & 0xff) % kMaxCpus;
    g_ev = ev;
    g_arg = arg;
    g_pc = pc;
    g_pstate = pstate;
    g_sp_sel = RT_READ_SYSREG(spsel);
    for (u64 i = 0; i < 18; ++i) g_ctx[i] = hvc_call(hv::sdei::kEventContext, i).x0;
    if (g_unregister_in_handler) {
        g_unregister_result = hvc_call(hv::sdei::kEventUnregister, ev).status();
        g_status_in_handler = hvc_call(hv::sdei::kEventStatus, ev).status();
    }
    g_count[cpu] = g_count[cpu] + 1;
    dsb_sy();
    return g_resume_addr;
}
}

// The probe: an HVC with known values in x3..x28 (x0..x2 the call's arguments), and what came back in every
// register.
asm(R"(
    .text
    .balign 4
    .global sdei_probe
sdei_probe:
    stp x29, x30, [sp, #-96]!
    stp x19, x20, [sp, #16]
    stp x21, x22, [sp, #32]
    stp x23, x24, [sp, #48]
    stp x25, x26, [sp, #64]
    stp x27, x28, [sp, #80]
    mov x2, x0
    movz x0, #0x002f
    movk x0, #0xc400, lsl #16
    mov x1, #0
    mov x3, #0x303
    mov x4, #0x404
    mov x5, #0x505
    mov x6, #0x606
    mov x7, #0x707
    mov x8, #0x808
    mov x9, #0x909
    mov x10, #0xa0a
    mov x11, #0xb0b
    mov x12, #0xc0c
    mov x13, #0xd0d
    mov x14, #0xe0e
    mov x15, #0xf0f
    mov x16, #0x1010
    mov x17, #0x1111
    mov x19, #0x1313
    mov x20, #0x1414
    mov x21, #0x1515
    mov x22, #0x1616
    mov x23, #0x1717
    mov x24, #0x1818
    mov x25, #0x1919
    mov x26, #0x1a1a
    mov x27, #0x1b1b
    mov x28, #0x1c1c
    hvc #0
    .global sdei_probe_resume
sdei_probe_resume:
    stp x0, x1, [sp, #-16]!
    adrp x0, g_probe
    add x0, x0, :lo12:g_probe
    stp x2, x3, [x0, #16]
    stp x4, x5, [x0, #32]
    stp x6, x7, [x0, #48]
    stp x8, x9, [x0, #64]
    stp x10, x11, [x0, #80]
    stp x12, x13, [x0, #96]
    stp x14, x15, [x0, #112]
    stp x16, x17, [x0, #128]
    stp x18, x19, [x0, #144]
    stp x20, x21, [x0, #160]
    stp x22, x23, [x0, #176]
    stp x24, x25, [x0, #192]
    stp x26, x27, [x0, #208]
    stp x28, x29, [x0, #224]
    str x30, [x0, #240]
    ldp x2, x3, [sp], #16
    stp x2, x3, [x0]
    ldp x19, x20, [sp, #16]
    ldp x21, x22, [sp, #32]
    ldp x23, x24, [sp, #48]
    ldp x25, x26, [sp, #64]
    ldp x27, x28, [sp, #80]
    ldp x29, x30, [sp], #96
    ret

    .balign 4
    .global sdei_resume_landing
sdei_resume_landing:
    stp x0, x1, [sp, #-16]!
    adrp x0, g_landing
    add x0, x0, :lo12:g_landing
    mrs x1, elr_el1
    str x1, [x0]
    mrs x1, spsr_el1
    str x1, [x0, #8]
    mrs x1, daif
    str x1, [x0, #16]
    mov x1, #1
    str x1, [x0, #24]
    ldp x0, x1, [sp], #16
    eret
)");

namespace {

namespace sd = hv::sdei;

i64 call(u32 fid, u64 a1 = 0, u64 a2 = 0, u64 a3 = 0, u64 a4 = 0, u64 a5 = 0) {
    return hvc_call(fid, a1, a2, a3, a4, a5).status();
}
u32 self_index() { return static_cast<u32>(self_mpidr() & 0xff) % kMaxCpus; }
u64 entry() { return rt::sdei::entry_point(&sdei_handler_c); }

void check_probe_registers() {
    EXPECT_EQ(g_probe[0], 0u);  // EVENT_SIGNAL's SUCCESS
    for (u32 r = 4; r <= 17; ++r) EXPECT_EQ(g_probe[r], 0x101ull * r);
    for (u32 r = 19; r <= 28; ++r) EXPECT_EQ(g_probe[r], 0x101ull * r);  // callee-saved: the handler preserved them
}

bool wait_count(u32 cpu, u64 want, u64 ms) {
    u64 deadline = counter() + counter_frequency() / 1000 * ms;
    while (g_count[cpu] < want && counter() < deadline) {
    }
    return g_count[cpu] >= want;
}

volatile u32 g_other_ready = 0;

void other_cpu(u32, void*) {
    if (call(sd::kEventRegister, 0, entry(), 0x77, 0, 0) != sd::kSuccess) return;
    (void)call(sd::kEventEnable, 0);
    (void)call(sd::kPeUnmask);
    g_other_ready = 1;
    dsb_sy();
    const u32 me = self_index();
    u64 deadline = counter() + counter_frequency() * 2;
    while (g_count[me] == 0 && counter() < deadline) {
    }
}

}  // namespace

GUEST_TEST(version_and_features) {
    REQUIRE_HYPERVISOR();
    EXPECT_EQ(static_cast<u64>(call(sd::kVersion)), 0x0001'0001'0000'0000ull);  // 1.1, vendor 0
    EXPECT_EQ(call(sd::kFeatures, sd::kFeatureBindSlots), 4 | 8 << 16);         // 4 PPI, 8 SPI bind slots
    EXPECT_EQ(call(sd::kFeatures, sd::kFeatureRelativeMode), 0);
    EXPECT_EQ(call(sd::kFeatures, 2), sd::kInvalidParameters);
}

GUEST_TEST(error_answers) {
    REQUIRE_HYPERVISOR();
    EXPECT_EQ(call(sd::kEventRegister, 1, entry(), 0, 0, 0), sd::kInvalidParameters);  // no such event
    EXPECT_EQ(call(sd::kEventRegister, 0, 0x1000, 0, 0, 0), sd::kInvalidParameters);   // entry not in RAM
    EXPECT_EQ(call(sd::kEventRegister, 0, entry() + 2, 0, 0, 0), sd::kInvalidParameters);
    EXPECT_EQ(call(sd::kEventEnable, 0), sd::kDenied);   // not registered
    EXPECT_EQ(call(sd::kEventContext, 0), sd::kDenied);  // no handler running
    EXPECT_EQ(call(sd::kEventComplete, 0), sd::kDenied);
    EXPECT_EQ(call(sd::kEventSignal, 1, self_mpidr()), sd::kInvalidParameters);  // only event 0
    EXPECT_EQ(call(sd::kEventSignal, 0, 0xff'00ff'ff00ull), sd::kInvalidParameters);
    EXPECT_EQ(call(sd::kEventStatus, 7), sd::kInvalidParameters);
    EXPECT_EQ(call(sd::kInterruptBind, 5), sd::kInvalidParameters);  // an SGI cannot be bound (sdei_bound: the rest)
    EXPECT_EQ(call(sd::kFnBase + 0x1f), sd::kNotSupported);
}

GUEST_TEST(signal_self_runs_handler_and_complete_restores) {
    REQUIRE_HYPERVISOR();
    const u32 me = self_index();
    ASSERT_EQ(call(sd::kEventRegister, 0, entry(), 0x5d, 0, 0), sd::kSuccess);
    EXPECT_EQ(call(sd::kEventRegister, 0, entry(), 0x5d, 0, 0), sd::kDenied);  // double register
    ASSERT_EQ(call(sd::kEventEnable, 0), sd::kSuccess);
    (void)call(sd::kPeUnmask);
    const u64 before = g_count[me];
    sdei_probe(self_mpidr());
    EXPECT_EQ(g_count[me], before + 1);
    EXPECT_EQ(g_ev, 0u);
    EXPECT_EQ(g_arg, 0x5du);
    EXPECT_EQ(g_pc, reinterpret_cast<u64>(&sdei_probe_resume));
    EXPECT_EQ(g_pstate & 0xf, 0x5u);  // interrupted at EL1h
    EXPECT_EQ(g_sp_sel, 1u);          // handler on SP_EL1
    EXPECT_EQ(g_ctx[0], 0u);          // the interrupted x0 (SIGNAL returned SUCCESS)
    for (u32 r = 4; r <= 17; ++r) EXPECT_EQ(g_ctx[r], 0x101ull * r);
    check_probe_registers();
    EXPECT_EQ(call(sd::kEventStatus, 0), static_cast<i64>(sd::kStatusRegistered | sd::kStatusEnabled));
}

GUEST_TEST(pe_mask_holds_delivery_until_unmask) {
    REQUIRE_HYPERVISOR();
    const u32 me = self_index();
    EXPECT_EQ(call(sd::kPeMask), 1);
    EXPECT_EQ(call(sd::kPeMask), 0);
    const u64 before = g_count[me];
    EXPECT_EQ(call(sd::kEventSignal, 0, self_mpidr()), sd::kSuccess);
    delay_us(1000);
    EXPECT_EQ(g_count[me], before);
    EXPECT_EQ(call(sd::kPeUnmask), sd::kSuccess);
    EXPECT_EQ(g_count[me], before + 1);  // delivered on the way back from PE_UNMASK
}

GUEST_TEST(complete_and_resume_enters_like_an_irq) {
    REQUIRE_HYPERVISOR();
    g_landing[3] = 0;
    g_resume_addr = reinterpret_cast<u64>(&sdei_resume_landing);
    sdei_probe(self_mpidr());
    g_resume_addr = 0;
    EXPECT_EQ(g_landing[3], 1u);
    EXPECT_EQ(g_landing[0], reinterpret_cast<u64>(&sdei_probe_resume));  // ELR_EL1 = interrupted PC
    EXPECT_EQ(g_landing[1] & 0xf, 0x5u);                                 // SPSR_EL1 = interrupted PSTATE
    EXPECT_EQ(g_landing[2] & 0x3c0, 0x3c0u);                             // DAIF masked at the resume address
    check_probe_registers();
}

GUEST_TEST(unregister_while_running_is_pending) {
    REQUIRE_HYPERVISOR();
    g_unregister_in_handler = 1;
    sdei_probe(self_mpidr());
    g_unregister_in_handler = 0;
    EXPECT_EQ(g_unregister_result, sd::kPending);
    EXPECT_EQ(g_status_in_handler, static_cast<i64>(sd::kStatusRegistered | sd::kStatusRunning));
    EXPECT_EQ(call(sd::kEventStatus, 0), 0);  // unregistered once the handler completed
    EXPECT_EQ(call(sd::kEventEnable, 0), sd::kDenied);
}

GUEST_TEST(signal_to_the_other_vcpu) {
    REQUIRE_HYPERVISOR();
    const u64 other = dt_other_cpu();
    if (other == ~u64{0}) GUEST_SKIP("needs a second CPU");
    const u32 idx = static_cast<u32>(other & 0xff) % kMaxCpus;
    ASSERT_EQ(start_cpu(1, other, other_cpu, nullptr), psci::kPsciSuccess);
    u64 deadline = counter() + counter_frequency();
    while (!g_other_ready && counter() < deadline) {
    }
    ASSERT_TRUE(g_other_ready != 0);
    EXPECT_EQ(call(sd::kEventSignal, 0, other), sd::kSuccess);
    EXPECT_TRUE(wait_count(idx, 1, 1000));
    EXPECT_EQ(g_arg, 0x77u);
    EXPECT_TRUE(wait_slot(cpu_finished, 1, 2000));
}
