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

Status ItsRegisterClass::apply(Its& its, u32 instance, u16 index, u8 width, u64 v) {
    Status s = Status::ok;
    if (index == kItsCtrlSaveTables || index == kItsCtrlReset) {
        if (v != 0) {
            s = Status::invalid_argument;
        } else if (index == kItsCtrlSaveTables) {
            s = its.save_tables();
        } else {
            its.reset();
        }
    } else if (index == kItsCtrlRestoreTables) {
        // The tables in guest RAM are in revision `v`; the ITS must have been told the same one through IIDR.
        s = v != iidr::Revision::get(its.iidr()) ? Status::invalid_argument : its.restore_tables();
    } else {
        s = its.restore_write(u64{index} << 2, width, v);
    }
    if (s != Status::ok)
        HV_LOG_RATELIMITED(warn, "reglist: ITS%u register %#x refused: %s", instance, u32{index}, status_name(s));
    return s;
}

Status ItsRegisterClass::set(u32, u64 id, Span<const u8> value) {
    if (!owns(id)) return Status::not_found;
    return apply(its_, instance_, static_cast<u16>(id & 0xfff), static_cast<u8>(reglist::reg_size(id)), load(value));
}

Status ItsRegisterClass::validate(u32, u64 id, Span<const u8> value, reglist::Refusal& why) {
    if (!owns(id)) return Status::not_found;
    const u16 index = static_cast<u16>(id & 0xfff);
    const u64 v = load(value);
    if (index == kItsCtrlSaveTables || index == kItsCtrlReset) {
        // Write-only controls: never in a saved register list (SAVE_TABLES would write guest RAM while applying).
        why.reason = "ITS control SAVE_TABLES / RESET is not a saved value";
        return Status::invalid_argument;
    }
    const bool iidr_reg = index == (reg(GitsReg::IIDR) >> 2);
    if ((iidr_reg && iidr::Revision::get(v) != abi::kRevision) ||
        (index == kItsCtrlRestoreTables && v != abi::kRevision)) {
        // As KVM's IIDR uaccess: only Revision (the table ABI) decides, and this ITS implements revision 0 only.
        why.reg = iidr_reg ? "GITS_IIDR" : "ITS RESTORE_TABLES";
        why.host = iidr_reg ? its_.iidr() : abi::kRevision;
        why.has_host = true;
        why.reason = "ITS table ABI revision not implemented by this hypervisor";
        return Status::invalid_argument;
    }
    return Status::ok;
}

namespace {

const char* table_refusal_reason(u16 index, Status s) {
    if (index == kItsCtrlRestoreTables && s == Status::invalid_argument)
        return "ITS tables, level-2 pages or ITTs in the saved guest RAM overlap";  // Its::check_tables_disjoint
    if (s == Status::out_of_range) return "ITS table, level-2 page or ITT outside the saved guest RAM";
    if (s == Status::corrupt) return "ITS tables in the saved guest RAM invalid";
    if (s == Status::no_memory) return "more ITS devices, events or collections than this hypervisor holds";
    if (s == Status::bad_order) return "ITS registers out of KVM's restore order";
    return "ITS state refused";
}

const char* register_name(u16 index) {
    if (index == kItsCtrlRestoreTables) return "ITS RESTORE_TABLES";
    switch (u32{index} << 2) {
        case reg(GitsReg::CTLR):
            return "GITS_CTLR";
        case reg(GitsReg::IIDR):
            return "GITS_IIDR";
        case reg(GitsReg::CBASER):
            return "GITS_CBASER";
        case reg(GitsReg::CWRITER):
            return "GITS_CWRITER";
        case reg(GitsReg::CREADR):
            return "GITS_CREADR";
        case reg(GitsReg::BASER0):
            return "GITS_BASER0";
        case reg(GitsReg::BASER0) + 8:
            return "GITS_BASER1";
        default:
            return nullptr;
    }
}

// Feeds ITS `instance`'s records to the scratch ITS in stream order; the first refusal stops the walk.
class Replay final : public reglist::SnapshotImage::RecordVisitor {
public:
    Replay(Its& its, u32 instance, reglist::ImageRefusal& refused)
        : its_(its), instance_(instance), refused_(refused) {}
    Status record(reglist::Handle h, u64 id, Span<const u8> value) override {
        const u64 canonical = reglist::without_scope(id);
        if (!h.is_vm() || (canonical & reglist::kArchMask) != reglist::kArchArm64 ||
            reglist::reg_class(canonical) != reglist::kClassGits || ((canonical >> 12) & 0xf) != instance_)
            return Status::ok;  // another class's, or another ITS's (the per-record checks placed every ID)
        const u16 index = static_cast<u16>(canonical & 0xfff);
        u64 v = load(value);
        // GITS_CTLR: the order check only; the scratch ITS is never enabled (it would run the saved command queue).
        if (index == (reg(GitsReg::CTLR) >> 2)) v &= ~ctlr::Enabled::field_mask;
        const Status s =
            ItsRegisterClass::apply(its_, instance_, index, static_cast<u8>(reglist::reg_size(canonical)), v);
        if (s == Status::ok) return Status::ok;
        refused_.id = id;
        refused_.saved = load(value);
        refused_.why.reg = register_name(index);
        refused_.why.reason = table_refusal_reason(index, s);
        return s;
    }

private:
    Its& its_;
    u32 instance_;
    reglist::ImageRefusal& refused_;
};

}  // namespace

Status ItsRestoreCheck::run(reglist::SnapshotImage& image, u32 instance, reglist::ImageRefusal& refused) {
    mem_.image_ = &image.ram();
    its_.reset();  // a fresh ITS, as the VM's is at a restore: disabled, no mappings, restore phase idle
    Replay replay(its_, instance, refused);
    const Status s = image.for_each_record(replay);
    its_.reset();
    mem_.image_ = nullptr;
    if (s != Status::ok)
        HV_LOG_WARN("its%u: snapshot refused by the dry run: %s (%s)", instance,
                    refused.why.reason != nullptr ? refused.why.reason : "record refused", status_name(s));
    return s;
}

}  // namespace hv::its
