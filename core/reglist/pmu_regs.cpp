#include "core/reglist/pmu_regs.hpp"

#include "core/reglist/id_index.hpp"
#include "lib/log.hpp"
#include "lib/string.hpp"

namespace hv::reglist {

namespace {

enum class Kind : u8 { intenset, pmcr, cntenset, ovsset, swinc, selr, ccntr, userenr, evcntr, evtyper, ccfiltr };

struct Desc {
    u64 id;
    Kind kind;
    u8 n;  // counter index for evcntr / evtyper
};

constexpr u64 sr(u32 op0, u32 op1, u32 crn, u32 crm, u32 op2) { return sysreg_id(op0, op1, crn, crm, op2); }

// Encodings: DDI0487 D19 "Performance Monitors registers"; PMEVCNTR<n>_EL0 = (3,3,14,8 + n/8, n%8),
// PMEVTYPER<n>_EL0 = (3,3,14,12 + n/8, n%8). Sorted by ID, which is KVM's enumeration order.
struct Table {
    Desc e[kPmuRegCount];
};
constexpr Table make_table() {
    Table t{};
    usize k = 0;
    t.e[k++] = {sr(3, 0, 9, 14, 1), Kind::intenset, 0};  // PMINTENSET_EL1
    t.e[k++] = {sr(3, 0, 9, 14, 2), Kind::intenset, 0};  // PMINTENCLR_EL1
    t.e[k++] = {sr(3, 3, 9, 12, 0), Kind::pmcr, 0};      // PMCR_EL0
    t.e[k++] = {sr(3, 3, 9, 12, 1), Kind::cntenset, 0};  // PMCNTENSET_EL0
    t.e[k++] = {sr(3, 3, 9, 12, 2), Kind::cntenset, 0};  // PMCNTENCLR_EL0
    t.e[k++] = {sr(3, 3, 9, 12, 3), Kind::ovsset, 0};    // PMOVSCLR_EL0
    t.e[k++] = {sr(3, 3, 9, 12, 4), Kind::swinc, 0};     // PMSWINC_EL0
    t.e[k++] = {sr(3, 3, 9, 12, 5), Kind::selr, 0};      // PMSELR_EL0
    t.e[k++] = {sr(3, 3, 9, 13, 0), Kind::ccntr, 0};     // PMCCNTR_EL0
    t.e[k++] = {sr(3, 3, 9, 14, 0), Kind::userenr, 0};   // PMUSERENR_EL0
    t.e[k++] = {sr(3, 3, 9, 14, 3), Kind::ovsset, 0};    // PMOVSSET_EL0
    for (u32 n = 0; n < PmuRegs::kMaxEventCounters; ++n)
        t.e[k++] = {sr(3, 3, 14, 8 + n / 8, n % 8), Kind::evcntr, static_cast<u8>(n)};
    for (u32 n = 0; n < PmuRegs::kMaxEventCounters; ++n)
        t.e[k++] = {sr(3, 3, 14, 12 + n / 8, n % 8), Kind::evtyper, static_cast<u8>(n)};
    t.e[k++] = {sr(3, 3, 14, 15, 7), Kind::ccfiltr, 0};  // PMCCFILTR_EL0
    return t;
}
constexpr Table kTable = make_table();

constexpr bool table_sorted() {
    for (usize i = 1; i < kPmuRegCount; ++i)
        if (kTable.e[i - 1].id >= kTable.e[i].id) return false;
    return true;
}
static_assert(table_sorted(), "PMU register table must be sorted by ID");
static_assert(kTable.e[2].id == 0x603000000013dce0ull);                 // PMCR_EL0, as KVM numbers it
static_assert(kTable.e[kPmuRegCount - 1].id == 0x603000000013df7full);  // PMCCFILTR_EL0
static_assert(kTable.e[11 + 30].id == 0x603000000013df5eull);           // PMEVCNTR30_EL0 (3,3,14,11,6)

constexpr IdIndex<8> kIndex(kTable.e, kPmuRegCount);  // 256 slots for the 74 IDs (reglist/id_index.hpp)
static_assert(kPmuRegCount * 2 <= decltype(kIndex)::kSlots);

const Desc* find(u64 id) {
    const int i = kIndex.find(kTable.e, id);
    return i < 0 ? nullptr : &kTable.e[i];
}

// Where a register's value lives in the vCPU's PmuRegs (the SET/CLR pairs share one field); nullptr for the
// write-only PMSWINC_EL0.
template <typename Regs>
auto field(Regs& r, const Desc& d) -> decltype(&r.pmcr) {
    switch (d.kind) {
        case Kind::intenset:
            return &r.intenset;
        case Kind::pmcr:
            return &r.pmcr;
        case Kind::cntenset:
            return &r.cntenset;
        case Kind::ovsset:
            return &r.ovsset;
        case Kind::swinc:
            return nullptr;
        case Kind::selr:
            return &r.selr;
        case Kind::ccntr:
            return &r.ccntr;
        case Kind::userenr:
            return &r.userenr;
        case Kind::evcntr:
            return &r.evcntr[d.n];
        case Kind::evtyper:
            return &r.evtyper[d.n];
        case Kind::ccfiltr:
            return &r.ccfiltr;
    }
    return nullptr;
}

// The bits a value of the register may have on this PMU; anything else is refused.
u64 allowed_bits(const pmu::Config& cfg, const Desc& d) {
    switch (d.kind) {
        case Kind::intenset:
        case Kind::cntenset:
        case Kind::ovsset:
            return cfg.counter_mask();
        case Kind::pmcr:
            // IMP and IDCODE are read-only and ignored (another CPU model's values are not an error); P and C are
            // actions that read 0.
            return pmu::pmcr::kReadOnly | cfg.pmcr_writable();
        case Kind::swinc:
            return ~u64{0};
        case Kind::selr:
            return pmu::Config::kSelrMask;
        case Kind::ccntr:
            return ~u64{0};
        case Kind::userenr:
            return pmu::Config::kUserenrMask;
        case Kind::evcntr:
            return d.n < cfg.counters ? cfg.evcntr_mask() : 0;
        case Kind::evtyper:
            return d.n < cfg.counters ? cfg.evtyper_mask() : 0;
        case Kind::ccfiltr:
            return cfg.ccfiltr_mask();
    }
    return 0;
}

}  // namespace

u64 PmuRegisterClass::id_at(u32, usize i) const { return i < count(0) ? kTable.e[i].id : 0; }

bool PmuRegisterClass::owns(u64 id) const { return cfg_.present() && find(id) != nullptr; }

Status PmuRegisterClass::get(u32 vcpu, u64 id, Span<u8> value) {
    const Desc* d = find(id);
    VcpuContext* c = ctx_.context(vcpu);
    if (d == nullptr || c == nullptr || !cfg_.present()) return Status::not_found;
    const PmuRegs& r = c->pmu;
    u64 v = 0;  // PMSWINC_EL0 is write-only: RAZ (KVM get_raz_reg)
    if (d->kind == Kind::pmcr)
        v = cfg_.pmcr_ro | (r.pmcr & cfg_.pmcr_writable());
    else if (const u64* f = field(r, *d))
        v = *f;
    memcpy(value.data(), &v, 8);
    return Status::ok;
}

Status PmuRegisterClass::set(u32 vcpu, u64 id, Span<const u8> value) { return check_or_set(vcpu, id, value, true); }

Status PmuRegisterClass::validate(u32 vcpu, u64 id, Span<const u8> value, Refusal& why) {
    const Status s = check_or_set(vcpu, id, value, false);
    if (s == Status::invalid_argument) why.reason = "a value this host's PMU cannot hold (counters, version fields)";
    return s;
}

Status PmuRegisterClass::check_or_set(u32 vcpu, u64 id, Span<const u8> value, bool write) {
    const Desc* d = find(id);
    VcpuContext* c = ctx_.context(vcpu);
    if (d == nullptr || c == nullptr || !cfg_.present()) return Status::not_found;
    u64 v = 0;
    memcpy(&v, value.data(), 8);
    if (d->kind == Kind::swinc) return Status::ok;  // write-ignored (KVM set_wi_reg)
    // PMCR_EL0.N is the host's (it reads MDCR_EL2.HPMN = the host's N).
    if (d->kind == Kind::pmcr && pmu::pmcr::N::get(v) != cfg_.counters) {
        HV_LOG_RATELIMITED(warn, "reglist: vcpu%u PMCR_EL0.N %llu refused (this PMU has %u counters)", vcpu,
                           static_cast<unsigned long long>(pmu::pmcr::N::get(v)), cfg_.counters);
        return Status::invalid_argument;
    }
    // A failed SET changes nothing.
    const u64 allowed = allowed_bits(cfg_, *d);
    if ((v & ~allowed) != 0) {
        HV_LOG_RATELIMITED(warn, "reglist: vcpu%u PMU register %#llx value %#llx refused (bits %#llx)", vcpu,
                           static_cast<unsigned long long>(id), static_cast<unsigned long long>(v),
                           static_cast<unsigned long long>(v & ~allowed));
        return Status::invalid_argument;
    }
    if (write) *field(c->pmu, *d) = d->kind == Kind::pmcr ? v & cfg_.pmcr_writable() : v;
    return Status::ok;
}

void PmuRegisterClass::reset(u32 vcpu) {
    VcpuContext* c = ctx_.context(vcpu);
    if (c != nullptr) pmu::reset(c->pmu);
}

}  // namespace hv::reglist
