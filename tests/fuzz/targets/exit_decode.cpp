// fuzz_exit_decode: the guest-controlled half of an exit -- the syndrome (core/esr) and the emulated-MMIO path
// (core/mmio MmioBus) -- plus the trapped ID-register reads (core/id_regs). The input gives an MMIO bus layout (frames
// that may overlap, be empty or wrap; add() must refuse those) and then exits: ESR values (random, or a data abort
// with a chosen syndrome), FAR/HPFAR and a register value. Each data abort runs the same steps as
// arch/aarch64/exits.cpp handle_data_abort (not host-compilable: it reads FAR/HPFAR_EL2): emulatable? -> dispatch
// -> width mask, sign extension, 32-bit register view; sysreg exits in the ID space go to guest_id_value.
// Invariants: decoded fields are in range (SRT <= 31, access size 1..8, ...); esr::make round-trips the EC/IL/ISS;
// dispatch claims an access exactly when one frame contains all of it and hands the device an in-frame offset with
// offset + width <= frame size; a read result never has bits above the register view; frames stay sorted and
// disjoint; an ID-register value never advertises EL2/EL3 (ID_AA64PFR0_EL1.EL2/EL3 = 0) nor a PARange above the IPA.
#include <cstring>

#include "core/esr.hpp"
#include "core/id_regs.hpp"
#include "core/mmio.hpp"
#include "tests/fuzz/fuzz_support.hpp"

using namespace hv;
using hvfuzz::ByteStream;

namespace {

struct Device final : MmioHandler {
    u64 size = 0;
    u64 reg = 0;
    u64 calls = 0;
    MmioResult mmio_read(const MmioAccess& a, u64& value) override {
        check(a);
        value = reg >> ((a.offset & 7) * 8);  // may have bits above the width: the exit path must mask them
        return MmioResult::ok;
    }
    MmioResult mmio_write(const MmioAccess& a, u64 value) override {
        check(a);
        reg = value;
        return MmioResult::ok;
    }
    void check(const MmioAccess& a) {
        ++calls;
        FUZZ_CHECK(width_bit(a.width) != 0);
        FUZZ_CHECK(a.offset < size && a.offset + a.width <= size);
    }
};

constexpr usize kDevices = 8;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    hvfuzz::install_log_sink();
    ByteStream in(data, size);
    Device dev[kDevices];
    MmioBus bus;
    struct Range {
        u64 base, size;
        bool added;
    } ranges[kDevices] = {};
    for (usize i = 0; i < kDevices; ++i) {
        u64 base = in.below(4) == 0 ? in.u64() : 0x08000000 + (u64{in.u16()} << 8);
        u64 sz = in.below(4) == 0 ? in.u64() : (u64{in.u8()} + 1) << (in.below(4) * 4);
        dev[i].size = sz;
        bool ok = bus.add(base, sz, &dev[i]) == Status::ok;
        bool overlaps = sz == 0 || base + sz < base;
        for (usize j = 0; j < i; ++j)
            if (ranges[j].added && base < ranges[j].base + ranges[j].size && ranges[j].base < base + sz)
                overlaps = true;
        FUZZ_CHECK(ok == !overlaps);
        ranges[i] = {base, sz, ok};
    }
    idreg::HostIdRegs host;
    for (u64& v : host.value) v = in.u64();
    unsigned ipa_bits = 32 + in.below(17);

    for (int exits = 0; exits < 256 && !in.empty(); ++exits) {
        u64 esr_value;
        if (in.below(2)) {
            // A data abort from the guest with a chosen syndrome.
            u64 iss = in.u32() & 0x1ffffff;
            esr_value = esr::make(esr::ExceptionClass::dabt_lower, in.below(8) != 0, iss);
        } else {
            esr_value = in.u64();
        }
        u64 far = in.below(2) ? 0x08000000 + in.u32() % 0x01000000 : in.u64();
        u64 hpfar = (far >> 12) << 4;
        if (in.below(8) == 0) hpfar = in.u64();
        u64 reg_value = in.u64();

        u32 ec = static_cast<u32>(esr::Ec::get(esr_value));
        FUZZ_CHECK(esr::make(esr::exception_class(esr_value), esr::is_32bit_instruction(esr_value),
                             esr::Iss::get(esr_value)) == (esr_value & 0xffffffffull));
        FUZZ_CHECK(esr::ec_name(esr_value) != nullptr);
        switch (ec) {
            case 0x24: {  // data abort, lower EL
                auto d = esr::DataAbort::from_esr(esr_value);
                FUZZ_CHECK(d.srt <= 31 && d.dfsc <= 0x3f);
                FUZZ_CHECK(d.access_size == 1 || d.access_size == 2 || d.access_size == 4 || d.access_size == 8);
                u64 ipa = esr::fault_ipa(hpfar, far);
                FUZZ_CHECK((ipa & 0xfff) == (far & 0xfff));
                FUZZ_CHECK(ipa < (u64{1} << 52));
                bool unmapped = d.is_translation_fault() || d.is_access_flag_fault();
                if (!unmapped || !d.emulatable()) break;  // external abort injected
                u64 width_mask = d.access_size >= 8 ? ~u64{0} : (u64{1} << (d.access_size * 8)) - 1;
                u64 value = d.write ? reg_value & width_mask : 0;
                bool covered = false;
                for (const Range& r : ranges)
                    if (r.added && ipa >= r.base && ipa - r.base < r.size && ipa - r.base + d.access_size <= r.size)
                        covered = true;
                MmioResult res = bus.dispatch(0, ipa, d.access_size, d.write, value);
                FUZZ_CHECK((res == MmioResult::ok) == covered);
                if (res != MmioResult::ok || d.write) break;
                value &= width_mask;
                if (d.sign_extend && d.access_size < 8) {
                    u64 sign = u64{1} << (d.access_size * 8 - 1);
                    value = (value ^ sign) - sign;
                }
                if (!d.sf) value &= 0xffffffffull;
                if (!d.sf) FUZZ_CHECK(value >> 32 == 0);
                if (!d.sign_extend && d.access_size < 8) FUZZ_CHECK((value & ~width_mask) == 0);
                break;
            }
            case 0x20: {  // instruction abort, lower EL
                auto a = esr::InstructionAbort::from_esr(esr_value);
                FUZZ_CHECK(a.ifsc <= 0x3f);
                break;
            }
            case 0x18: {  // MSR/MRS
                auto s = esr::SysRegAccess::from_esr(esr_value);
                FUZZ_CHECK(s.op0 <= 3 && s.op1 <= 7 && s.crn <= 15 && s.crm <= 15 && s.op2 <= 7 && s.rt <= 31);
                FUZZ_CHECK(s.key() == idreg::key(s.op0, s.op1, s.crn, s.crm, s.op2));
                if (!idreg::is_id_space(s.op0, s.op1, s.crn, s.crm) || !s.read) break;
                u64 v = idreg::guest_id_value(s.key(), host, ipa_bits);
                if (s.key() == idreg::host_reg_key(idreg::HostReg::pfr0)) {
                    FUZZ_CHECK(((v >> 8) & 0xff) == 0);  // EL2, EL3
                }
                if (s.key() == idreg::host_reg_key(idreg::HostReg::mmfr0))
                    FUZZ_CHECK((v & 0xf) <= idreg::parange_for_bits(ipa_bits));
                break;
            }
            case 0x16:
            case 0x17: {
                auto h = esr::HvcSmc::from_esr(esr_value);
                FUZZ_CHECK(h.smc == (ec == 0x17));
                break;
            }
            case 0x01:
                (void)esr::Wfx::from_esr(esr_value);
                break;
            default:
                break;
        }
    }
    return 0;
}
