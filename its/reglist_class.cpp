#include "its/reglist_class.hpp"

#include "its/its_abi.hpp"
#include "lib/log.hpp"
#include "lib/string.hpp"

namespace hv::its {

namespace {

struct ListEntry {
    u32 offset;  // GITS offset, or kCtrl for the RESTORE_TABLES pseudo-register
    u8 width;
};
constexpr u32 kCtrl = 0xffffffffu;
// KVM's restore order: CBASER, the other registers, RESTORE_TABLES, CTLR last.
constexpr ListEntry kList[ItsRegisterClass::kListCount] = {
    {reg(GitsReg::CBASER), 8},
    {reg(GitsReg::IIDR), 4},
    {reg(GitsReg::CREADR), 8},
    {reg(GitsReg::CWRITER), 8},
    {reg(GitsReg::BASER0) + 0x00, 8},
    {reg(GitsReg::BASER0) + 0x08, 8},
    {reg(GitsReg::BASER0) + 0x10, 8},
    {reg(GitsReg::BASER0) + 0x18, 8},
    {reg(GitsReg::BASER0) + 0x20, 8},
    {reg(GitsReg::BASER0) + 0x28, 8},
    {reg(GitsReg::BASER0) + 0x30, 8},
    {reg(GitsReg::BASER7), 8},
    {kCtrl, 8},
    {reg(GitsReg::CTLR), 4},
};

u64 load(Span<const u8> v) {
    u64 x = 0;
    memcpy(&x, v.data(), min<usize>(v.size(), 8));
    return x;
}
void store(Span<u8> out, u64 x) { memcpy(out.data(), &x, min<usize>(out.size(), 8)); }

}  // namespace

u64 ItsRegisterClass::id_at(u32, usize i) const {
    if (i >= kListCount) return 0;
    return kList[i].offset == kCtrl ? gits_ctrl_id(instance_, kItsCtrlRestoreTables)
                                    : gits_id(instance_, kList[i].offset, kList[i].width);
}

bool ItsRegisterClass::owns(u64 id) const {
    if (id == gits_ctrl_id(instance_, kItsCtrlSaveTables) || id == gits_ctrl_id(instance_, kItsCtrlReset)) return true;
    for (usize i = 0; i < kListCount; ++i)
        if (id_at(0, i) == id) return true;
    return false;
}

Status ItsRegisterClass::get(u32, u64 id, Span<u8> value) {
    if (!owns(id)) return Status::not_found;
    const u16 index = static_cast<u16>(id & 0xfff);
    if (index == kItsCtrlSaveTables || index == kItsCtrlReset) return Status::unsupported;  // write-only
    if (index == kItsCtrlRestoreTables) {
        store(value, abi::kRevision);  // the layout SAVE_TABLES writes
        return Status::ok;
    }
    u64 v = 0;
    HV_TRY(its_.save_read(u64{index} << 2, static_cast<u8>(reglist::reg_size(id)), v));
    store(value, v);
    return Status::ok;
}

Status ItsRegisterClass::set(u32, u64 id, Span<const u8> value) {
    if (!owns(id)) return Status::not_found;
    const u16 index = static_cast<u16>(id & 0xfff);
    const u64 v = load(value);
    Status s = Status::ok;
    if (index == kItsCtrlSaveTables || index == kItsCtrlReset) {
        if (v != 0) {
            s = Status::invalid_argument;
        } else if (index == kItsCtrlSaveTables) {
            s = its_.save_tables();
        } else {
            its_.reset();
        }
    } else if (index == kItsCtrlRestoreTables) {
        // The tables in guest RAM are in revision `v`; the ITS must have been told the same one through IIDR.
        s = v != iidr::Revision::get(its_.iidr()) ? Status::invalid_argument : its_.restore_tables();
    } else {
        s = its_.restore_write(u64{index} << 2, static_cast<u8>(reglist::reg_size(id)), v);
    }
    if (s != Status::ok)
        HV_LOG_RATELIMITED(warn, "reglist: ITS%u register %#x refused: %s", instance_, u32{index}, status_name(s));
    return s;
}

}  // namespace hv::its
