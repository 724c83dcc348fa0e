#include "arch/aarch64/console_escape.hpp"

#include "arch/aarch64/anchor.hpp"
#include "arch/aarch64/console.hpp"
#include "arch/aarch64/vm_reset.hpp"
#include "arch/aarch64/vm_run.hpp"
#include "arch/aarch64/vm_snapshot.hpp"
#include "core/console_escape.hpp"
#include "lib/atomic.hpp"
#include "lib/log.hpp"

namespace hv::arch {

namespace {

ConsoleEscapeState& st() { return hyp().console_escape; }

void help() {
    HV_LOG_INFO(
        "console escape: Ctrl-] then m = migrate (save to the snapshot disk, resume in a new QEMU), "
        "s = save (tools/run-guest --save FILE) and exit, i = VM summary, h = this help, Ctrl-] = send 0x1d");
}

const char* power_name(psci::PowerState p) {
    switch (p) {
        case psci::PowerState::off:
            return "off";
        case psci::PowerState::on_pending:
            return "on-pending";
        case psci::PowerState::on:
            return "on";
    }
    return "?";
}

// Pending / active SGIs+PPIs of one vCPU (its redistributor's SGI frame) and SPIs (the distributor), through the
// save-side register reads (the vCPUs are stopped and their list registers folded).
void print_irqs(Vm& vm) {
    constexpr u64 kGicdIspendr = 0x0200, kGicdIsactiver = 0x0300;      // IHI0069H 12.9
    constexpr u64 kGicrIspendr0 = 0x10200, kGicrIsactiver0 = 0x10300;  // SGI frame + 0x200 / 0x300
    for (u32 c = 0; c < vm.vcpu_count; ++c) {
        u64 pend = 0, act = 0;
        (void)vm.vgic.redist_save_read(c, kGicrIspendr0, 4, pend);
        (void)vm.vgic.redist_save_read(c, kGicrIsactiver0, 4, act);
        u32 lpis = 0;
        for (u32 intid = 8192; intid < 8192 + 8192; ++intid) lpis += vm.vgic.lpi_pending(c, intid) ? 1 : 0;
        HV_LOG_INFO("  vcpu%u: SGI/PPI pending 0x%08llx active 0x%08llx, LPIs pending %u", c,
                    static_cast<unsigned long long>(pend), static_cast<unsigned long long>(act), lpis);
    }
    for (u32 first = 32; first < vm.vgic.nr_irqs(); first += 32) {
        u64 pend = 0, act = 0;
        (void)vm.vgic.dist_save_read(kGicdIspendr + first / 8, 4, pend);
        (void)vm.vgic.dist_save_read(kGicdIsactiver + first / 8, 4, act);
        if (pend != 0 || act != 0)
            HV_LOG_INFO("  SPIs %u..%u: pending 0x%08llx active 0x%08llx", first, first + 31,
                        static_cast<unsigned long long>(pend), static_cast<unsigned long long>(act));
    }
}

void print_its(Vm& vm) {
    for (u32 i = 0; i < vm.its_count; ++i) {
        const its::Its& its = vm.its[i].get();
        const its::Mappings& m = its.mappings();
        HV_LOG_INFO("  ITS %u: %s, %zu device(s), %zu mapping(s), %zu collection(s)", i,
                    its.enabled() ? "enabled" : "disabled", m.device_count(), m.ite_count(), m.collection_count());
        u32 shown = 0;
        for (u16 d = 0; d < its::Mappings::device_slots() && shown < 16; ++d) {
            const its::Device& dev = m.device(d);
            if (!dev.used) continue;
            ++shown;
            HV_LOG_INFO("    device 0x%x: ITT 0x%llx, %u event ID bit(s), %u mapping(s)", dev.id,
                        static_cast<unsigned long long>(dev.itt_addr), dev.event_bits, dev.ite_count);
            u32 ites = 0;
            for (u16 e = dev.first_ite; e != its::kNil && ites < 8; e = m.ite(e).next, ++ites) {
                const its::Ite& ite = m.ite(e);
                const its::Collection& col = m.collection(ite.collection);
                HV_LOG_INFO("      event %u -> LPI %u, collection %u (vcpu %d)", ite.event, ite.intid, col.icid,
                            col.mapped() ? static_cast<int>(col.target) : -1);
            }
        }
    }
}

void print_sdei(Vm& vm) {
    u32 regs = 0;
    for (u32 c = 0; c < vm.vcpu_count; ++c) {
        const sdei::VcpuSdei& s = vm.sdei.vcpu_state(c);
        for (u32 e = 0; e < sdei::kPrivateEvents; ++e) {
            if (s.priv[e].state == sdei::EventState::unregistered) continue;
            ++regs;
            HV_LOG_INFO("  SDEI vcpu%u private slot %u: state %u, ep 0x%llx%s", c, e,
                        static_cast<unsigned>(s.priv[e].state), static_cast<unsigned long long>(s.priv[e].ep),
                        s.priv[e].pending ? ", pending" : "");
        }
        if (s.handler.active) HV_LOG_INFO("  SDEI vcpu%u: handler of event %u running", c, s.handler.event);
    }
    for (u32 k = 0; k < sdei::kMaxSharedBound; ++k) {
        const sdei::EventRecord& r = vm.sdei.shared_event(k);
        if (r.state == sdei::EventState::unregistered) continue;
        ++regs;
        HV_LOG_INFO("  SDEI shared slot %u: state %u, ep 0x%llx%s", k, static_cast<unsigned>(r.state),
                    static_cast<unsigned long long>(r.ep), r.pending ? ", pending" : "");
    }
    if (regs == 0) HV_LOG_INFO("  SDEI: no registered events");
}

void info(Vm& vm, Vcpu& self) {
    if (!vm_stop_others(vm, self)) return;
    HV_LOG_INFO("VM summary: %u vCPU(s), boot %u", vm.vcpu_count, vm.boot_count);
    for (u32 c = 0; c < vm.vcpu_count; ++c) {
        const Vcpu& v = vm.vcpus[c];
        HV_LOG_INFO("  vcpu%u: PSCI %s, pc 0x%llx", c, power_name(vm.firmware.power_state(c)),
                    static_cast<unsigned long long>(v.ctx.core.pc));
    }
    print_irqs(vm);
    print_its(vm);
    print_sdei(vm);
    if (const char* why = vm_snapshot_refusal(); why != nullptr)
        HV_LOG_INFO("  migration: not possible: %s", why);
    else
        HV_LOG_INFO("  migration: possible (Ctrl-] m)");
    vm_release_others(vm, self);
}

}  // namespace

int console_escape_getc() {
    for (;;) {
        const int raw = console_getc();
        if (raw < 0) return -1;
        EscapeCommand cmd = EscapeCommand::none;
        const int c = st().escape.feed(static_cast<u8>(raw), cmd);
        switch (cmd) {
            case EscapeCommand::none:
                break;
            case EscapeCommand::help:
                help();
                break;
            case EscapeCommand::unknown:
                HV_LOG_INFO("console escape: unknown command 0x%02x (Ctrl-] h: help)", static_cast<unsigned>(raw));
                break;
            case EscapeCommand::migrate:
            case EscapeCommand::save:
            case EscapeCommand::info:
                st().command.store(static_cast<u8>(cmd));
                kick_vcpu(0);
                break;
        }
        if (c >= 0) return c;
    }
}

bool console_command_pending() { return st().command.load() != static_cast<u8>(EscapeCommand::none); }

void console_command_run(Vm& vm, Vcpu& self) {
    const auto cmd = static_cast<EscapeCommand>(st().command.exchange(static_cast<u8>(EscapeCommand::none)));
    switch (cmd) {
        case EscapeCommand::migrate:
        case EscapeCommand::save: {
            const bool migrate = cmd == EscapeCommand::migrate;
            HV_LOG_INFO("console escape: %s: stopping %u vCPU(s)", migrate ? "migrate" : "save", vm.vcpu_count);
            const Status s = vm_snapshot_save_and_stop(vm, self, migrate ? kMigrateMarker : kSavedMarker);
            HV_LOG_ERROR("console escape: %s not done (%s): the VM continues", migrate ? "migration" : "save",
                         status_name(s));
            break;
        }
        case EscapeCommand::info:
            info(vm, self);
            break;
        case EscapeCommand::none:
        case EscapeCommand::help:
        case EscapeCommand::unknown:
            break;
    }
}

DeviceHooks console_escape_device() {
    DeviceHooks d;
    d.name = "console-escape";
    d.run_pending = [](void*, Vm& vm, Vcpu& v) {
        if (v.id != 0 || !console_command_pending()) return false;
        (void)vcpu_context_for_write(v);  // the whole context may be saved
        console_command_run(vm, v);
        return true;
    };
    d.entry_needs_context = [](void*, Vcpu& v) { return v.id == 0 && console_command_pending(); };
    return d;
}

}  // namespace hv::arch
