// Trapped MSR/MRS (EC 0x18): the sanitised ID registers (HCR_EL2.TID3), the devices' hooks (the vGIC's SGI
// registers), the EL1 register table (core/el1_regs.hpp; ACTLR_EL1, trapped by HCR_EL2.TACR: its saved value, writes
// ignored), RAZ/WI for the SGI registers without a vGIC, UNDEF for everything else (the IMPLEMENTATION DEFINED
// registers HCR_EL2.TIDCP traps included).
#include "arch/aarch64/sysreg.hpp"
#include "arch/aarch64/vcpu_internal.hpp"
#include "arch/aarch64/vm_run.hpp"
#include "core/arm_defs.hpp"
#include "core/el1_regs.hpp"
#include "lib/log.hpp"

namespace hv::arch {

void handle_sysreg(Vcpu& v, u64 esr) {
    auto s = esr::SysRegAccess::from_esr(esr);
    if (idreg::is_id_space(s.op0, s.op1, s.crn, s.crm)) {
        // HCR_EL2.TID3: the VM's ID registers (core/id_regs.hpp, core/reglist/id_regs_class.hpp). The ID registers are
        // read-only: an MSR to one of these encodings is UNDEFINED (and does not normally trap; be safe if it does).
        if (!s.read) {
            HV_LOG_RATELIMITED(warn, "vcpu%u: write to ID register S3_0_C0_C%u_%u: UNDEF", v.id, s.crm, s.op2);
            inject_undef(sys_for_write(v));
            return;
        }
        // The VM's values (reglist idregs: the host's sanitised values unless a restore set fewer features).
        write_gpr(v.ctx, s.rt, the_vm().id_regs().guest_value(s.key()));
        advance_pc(v.ctx);
        return;
    }
    u64 value = s.read ? 0 : read_gpr(v.ctx, s.rt);
    if (the_vm().devices().sysreg(v, s, value)) {
        if (s.read) write_gpr(v.ctx, s.rt, value);
        advance_pc(v.ctx);
        return;
    }
    // A register of the EL1 table (none traps today -- no TVM/TRVM -- but a trap bit set later must not lose the
    // access): the saved copy, synchronised lazily like every other reader and writer of ctx.sys.
    if (const el1::Reg* r = el1::guest_access(s.key(), s.read)) {
        if (r->access == el1::Access::shadow) {
            // HCR_EL2.TACR (DDI0487 D19.2): ACTLR_EL1 reads the vCPU's value, writes are ignored (KVM: access_actlr).
            // Never in the CPU, so ctx.sys holds it whatever the lazy switch's state.
            if (s.read)
                write_gpr(v.ctx, s.rt, v.ctx.sysreg(r->index));
            else
                HV_LOG_RATELIMITED(debug, "vcpu%u: %s write 0x%llx ignored", v.id, r->name,
                                   static_cast<unsigned long long>(value));
        } else if (s.read) {
            sys_sync(v);
            write_gpr(v.ctx, s.rt, v.ctx.sysreg(r->index));
        } else {
            sys_for_write(v).sysreg(r->index) = value;
        }
        advance_pc(v.ctx);
        return;
    }
    switch (s.key()) {
        // SGI generation without a vGIC: write-ignored.
        case arm::reg::kIccSgi1rEl1:
        case arm::reg::kIccAsgi1rEl1:
        case arm::reg::kIccSgi0rEl1:
            HV_LOG_RATELIMITED(debug, "vcpu%u: %s of trapped sysreg S%u_%u_C%u_C%u_%u: RAZ/WI", v.id,
                               s.read ? "read" : "write", s.op0, s.op1, s.crn, s.crm, s.op2);
            if (s.read) write_gpr(v.ctx, s.rt, 0);
            advance_pc(v.ctx);
            return;
        default:
            break;
    }
    HV_LOG_RATELIMITED(warn, "vcpu%u: %s of unhandled sysreg S%u_%u_C%u_C%u_%u at PC 0x%llx: UNDEF", v.id,
                       s.read ? "read" : "write", s.op0, s.op1, s.crn, s.crm, s.op2,
                       static_cast<unsigned long long>(v.ctx.core.pc));
    inject_undef(sys_for_write(v));
}

}  // namespace hv::arch
