// Trapped MSR/MRS (EC 0x18): the sanitised ID registers (HCR_EL2.TID3), the devices' hooks (the vGIC's SGI
// registers), RAZ/WI for the SGI registers without a vGIC, UNDEF for everything else.
#include "arch/aarch64/sysreg.hpp"
#include "arch/aarch64/vcpu_internal.hpp"
#include "arch/aarch64/vm_run.hpp"
#include "lib/log.hpp"

namespace hv::arch {

void handle_sysreg(Vcpu& v, u64 esr) {
    auto s = esr::SysRegAccess::from_esr(esr);
    if (idreg::is_id_space(s.op0, s.op1, s.crn, s.crm)) {
        // HCR_EL2.TID3: the sanitised ID registers (core/id_regs.hpp). The ID registers are read-only: an MSR to
        // one of these encodings is UNDEFINED (and does not normally trap; be safe if it does).
        if (!s.read) {
            HV_LOG_RATELIMITED(warn, "vcpu%u: write to ID register S3_0_C0_C%u_%u: UNDEF", v.id, s.crm, s.op2);
            inject_undef(sys_for_write(v));
            return;
        }
        write_gpr(v.ctx, s.rt, idreg::guest_id_value(s.key(), host_id_regs(), guest_ipa_bits()));
        advance_pc(v.ctx);
        return;
    }
    u64 value = s.read ? 0 : read_gpr(v.ctx, s.rt);
    if (the_vm().devices().sysreg(v, s, value)) {
        if (s.read) write_gpr(v.ctx, s.rt, value);
        advance_pc(v.ctx);
        return;
    }
    using K = esr::SysRegAccess;
    switch (s.key()) {
        // SGI generation without a vGIC: write-ignored.
        case K::sysreg_key(3, 0, 12, 11, 5):  // ICC_SGI1R_EL1
        case K::sysreg_key(3, 0, 12, 11, 6):  // ICC_ASGI1R_EL1
        case K::sysreg_key(3, 0, 12, 11, 7):  // ICC_SGI0R_EL1
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
