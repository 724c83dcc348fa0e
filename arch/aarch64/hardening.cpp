#include "arch/aarch64/hardening.hpp"

#include "arch/aarch64/anchor.hpp"
#include "arch/aarch64/asm_defs.h"
#include "arch/aarch64/mmu.hpp"
#include "arch/aarch64/sysreg.hpp"
#include "lib/assert.hpp"
#include "lib/log.hpp"
#include "psci/ids.hpp"

extern "C" char _text[], __text_end[], __rodata_start[], __rodata_end[], __data_start[], _end[];
extern "C" char hv_stacks[];

// -fstack-protector-strong (CMakeLists.txt): the canary, set by boot/entry.S before any C++ runs (RNDR + counter).
// Not constant-initialised to 0 so that it is never the BSS default even before entry.S writes it.
extern "C" {
hv::u64 __stack_chk_guard = 0x2d8f3b1c6e5a9700ull;
hv::u32 hv_stack_guard_source = 0;  // 1: RNDR contributed (entry.S)
// What guest_exit_common (vectors.S) does before returning to C++: bit 0 SMCCC_ARCH_WORKAROUND_1, bit 1 the BHB
// loop (hv_entry_mitigation[1] iterations), bit 2 CLRBHB, bit 3 SMCCC_ARCH_WORKAROUND_3. Written once at boot.
// vectors.S reads the two words as plain u32s: Atomic<u32> has exactly that layout.
constinit hv::Atomic<hv::u32> hv_entry_mitigation[2];
static_assert(sizeof(hv::Atomic<hv::u32>) == 4 && alignof(hv::Atomic<hv::u32>) == 4);

[[noreturn]] void __stack_chk_fail() {
    hv::panic("stack protector: stack smashing detected in the function returning to 0x%llx",
              static_cast<unsigned long long>(reinterpret_cast<hv::u64>(__builtin_return_address(0))));
}
}

namespace hv::arch {

namespace {

u64 addr(const char* p) { return reinterpret_cast<u64>(p); }

HardeningState& st() { return hyp().hardening; }

enum class Want : u8 { rx, ro, rw, unmapped };

const char* want_name(Want w) {
    switch (w) {
        case Want::rx:
            return "read-only + executable";
        case Want::ro:
            return "read-only + execute-never";
        case Want::rw:
            return "read-write + execute-never";
        case Want::unmapped:
            return "unmapped (stack guard)";
    }
    return "?";
}

bool stack_guard(u64 a) {
    const u64 stacks = addr(hv_stacks);
    if (a < stacks || a >= stacks + u64{HV_MAX_CPUS} * HV_STACK_SLOT) return false;
    return (a - stacks) % HV_STACK_SLOT < HV_STACK_SLOT - HV_STACK_SIZE;
}

// Checks [base, end) page by page against `want`.
void check_range(const PageTable& t, u64 base, u64 end, Want want) {
    for (u64 a = base; a < end; a += PageTable::kPageSize) {
        Want expect = want == Want::rw && stack_guard(a) ? Want::unmapped : want;
        auto tr = t.translate(a);
        bool ok;
        if (expect == Want::unmapped) {
            ok = !tr.ok();
        } else if (!tr.ok()) {
            ok = false;
        } else {
            const u64 d = tr.value().descriptor;
            const bool ro = pte::Ap::get(d) == pte::kS1ApEl2ReadOnly;
            const bool xn = pte::S1Xn::get(d) != 0;
            ok = expect == Want::rx ? (ro && !xn) : expect == Want::ro ? (ro && xn) : (!ro && xn);
        }
        if (!ok) panic("hardening: EL2 page 0x%llx is not %s", static_cast<unsigned long long>(a), want_name(expect));
    }
}

}  // namespace

void hardening_self_check() {
    const PageTable& t = el2_table();
    const u64 text = addr(_text), text_end = addr(__text_end), ro = addr(__rodata_start), ro_end = addr(__rodata_end);
    const u64 data = addr(__data_start), end = align_up(addr(_end), PageTable::kPageSize);
    check_range(t, text, text_end, Want::rx);
    check_range(t, ro, ro_end, Want::ro);
    check_range(t, data, end, Want::rw);
    // Nothing outside the text is executable: walk the whole EL2 address space leaf by leaf.
    u64 executable = 0, a = 0, leaves = 0;
    const u64 limit = u64{1} << min(t.ia_bits(), 40u);  // what mmu_init maps
    while (a < limit) {
        auto tr = t.translate(a);
        u64 step = PageTable::kPageSize;
        if (tr.ok()) {
            step = tr.value().block_size;
            ++leaves;
            if (pte::S1Xn::get(tr.value().descriptor) == 0) {
                if (a < text || a + step > text_end)
                    panic("hardening: EL2 mapping at 0x%llx (%llu KiB) is executable outside the text",
                          static_cast<unsigned long long>(a), static_cast<unsigned long long>(step / 1024));
                executable += step;
            }
        }  // unmapped (a stack guard: the only holes below the limit): next page
        a = align_down(a, step) + step;
    }
    const u64 sctlr = HV_READ_SYSREG(sctlr_el2);
    if ((sctlr & (u64{1} << 19)) == 0) panic("hardening: SCTLR_EL2.WXN is clear");
    HV_LOG_INFO(
        "hardening: W^X ok: text 0x%llx..0x%llx RX (%llu KiB executable, nothing else), rodata %llu KiB R, "
        "data/bss/stacks %llu KiB RW XN, SCTLR_EL2.WXN; %u stack guards of %u KiB unmapped (%llu mappings)",
        static_cast<unsigned long long>(text), static_cast<unsigned long long>(text_end),
        static_cast<unsigned long long>(executable / 1024), static_cast<unsigned long long>((ro_end - ro) / 1024),
        static_cast<unsigned long long>((end - data) / 1024), HV_MAX_CPUS, (HV_STACK_SLOT - HV_STACK_SIZE) / 1024,
        static_cast<unsigned long long>(leaves));
    HV_LOG_INFO("hardening: stack protector on (-fstack-protector-strong), canary from %s",
                hv_stack_guard_source ? "RNDR and the counter" : "the counter (no FEAT_RNG)");
}

void bp_mitigation_init() {
    mitigation::CpuInputs in;
    in.midr = HV_READ_SYSREG(midr_el1);
    in.pfr0 = HV_READ_SYSREG(id_aa64pfr0_el1);
    in.mmfr1 = HV_READ_SYSREG(id_aa64mmfr1_el1);
    in.isar2 = HV_READ_SYSREG(s3_0_c0_c6_2);  // ID_AA64ISAR2_EL1 (RAZ before Armv8.7)
    // The firmware: SMCCC >= 1.1 (found through PSCI_FEATURES, DEN0028 7.2), then SMCCC_ARCH_FEATURES per call.
    if (static_cast<i64>(hv_smc_call(psci::kPsciFeatures, psci::kSmcccVersion, 0, 0)) == 0 &&
        hv_smc_call(psci::kSmcccVersion, 0, 0, 0) >= psci::kSmcccVersion1_1) {
        in.fw_wa1 = static_cast<i64>(hv_smc_call(psci::kSmcccArchFeatures, psci::kSmcccArchWorkaround1, 0, 0)) == 0;
        in.fw_wa3 = static_cast<i64>(hv_smc_call(psci::kSmcccArchFeatures, psci::kSmcccArchWorkaround3, 0, 0)) == 0;
    }
    const mitigation::Decision& bp = st().bp = mitigation::decide(in);
    u32 flags = 0;
    if (bp.v2 == mitigation::V2Action::firmware_wa1) flags |= 1;
    if (bp.bhb == mitigation::BhbAction::loop) flags |= 2;
    if (bp.bhb == mitigation::BhbAction::clrbhb) flags |= 4;
    if (bp.bhb == mitigation::BhbAction::firmware_wa3) flags |= 8;
    hv_entry_mitigation[1].store(bp.loop_k, MemoryOrder::relaxed);
    hv_entry_mitigation[0].store(flags, MemoryOrder::release);
    dsb_ish();
    HV_LOG_INFO(
        "hardening: branch predictor: MIDR 0x%llx CSV2 %llu ECBHB %llu CLRBHB %llu, firmware WA1 %s WA3 %s; "
        "Spectre-v2: %s; BHB: %s (k=%u); guest WORKAROUND_1 level %llu, WORKAROUND_3 level %llu",
        static_cast<unsigned long long>(in.midr), static_cast<unsigned long long>((in.pfr0 >> 56) & 0xf),
        static_cast<unsigned long long>(in.mmfr1 >> 60), static_cast<unsigned long long>((in.isar2 >> 28) & 0xf),
        in.fw_wa1 ? "yes" : "no", in.fw_wa3 ? "yes" : "no", mitigation::v2_name(bp.v2), mitigation::bhb_name(bp.bhb),
        bp.loop_k, static_cast<unsigned long long>(bp.host.wa1), static_cast<unsigned long long>(bp.host.wa3));
    if (bp.v2 == mitigation::V2Action::vulnerable)
        HV_LOG_WARN(
            "hardening: this CPU is exposed to Spectre-v2 from the guest (only the firmware could invalidate "
            "the branch predictor, and it does not offer SMCCC_ARCH_WORKAROUND_1); the guest is told so "
            "(WORKAROUND_1 NOT_AVAIL)");
}

const mitigation::Decision& bp_mitigation() { return st().bp; }

namespace {

// Deliberately faulty code for the debug_fault= hooks. Not inlined, and with values the compiler cannot see through:
// `keep` makes a value observable without storing it anywhere.
void keep(u64 v) { asm volatile("" : : "r"(v) : "memory"); }

[[gnu::noinline]] u64 recurse(u64 depth, const volatile u64& limit) {
    volatile u8 frame[1024];
    frame[depth % sizeof frame] = static_cast<u8>(depth);
    if (depth >= limit) return frame[0];
    return recurse(depth + 1, limit) + frame[depth % sizeof frame];
}

[[gnu::noinline]] void smash() {
    char buf[16];
    volatile usize n = 64;  // the compiler cannot prove the overflow
    for (usize i = 0; i < n; ++i) buf[i] = 'A';
    keep(static_cast<u64>(buf[3]));
}

}  // namespace

void debug_fault(HvOptions::DebugFault which) {
    switch (which) {
        case HvOptions::DebugFault::exec_data: {
            // A `ret` written into the anchor (.bss: RW + XN, like all data) and branched to.
            u32* code = st().fault_code;
            code[0] = 0xd65f03c0u;  // ret
            HV_LOG_WARN("debug_fault=exec_data: branching to 0x%llx in .bss (must be an EL2 instruction abort)",
                        static_cast<unsigned long long>(reinterpret_cast<u64>(code)));
            dsb_ish();
            asm volatile("ic iallu" ::: "memory");
            dsb_ish();
            isb();
            auto fn = reinterpret_cast<void (*)()>(reinterpret_cast<u64>(code));
            fn();
            break;
        }
        case HvOptions::DebugFault::stack_overflow:
            HV_LOG_WARN("debug_fault=stack_overflow: recursing on pCPU 0's %u KiB stack (must hit its guard)",
                        HV_STACK_SIZE / 1024);
            keep(recurse(0, st().recursion_limit));
            break;
        case HvOptions::DebugFault::stack_smash:
            HV_LOG_WARN("debug_fault=stack_smash: overwriting a stack canary (must end in __stack_chk_fail)");
            smash();
            break;
        case HvOptions::DebugFault::none:
            break;
    }
    panic("debug_fault: the deliberate fault did not fault");
}

}  // namespace hv::arch
