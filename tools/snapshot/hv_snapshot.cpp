// hv-snapshot: list, validate, diff and export snapshot files. See README.md.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "core/el1_regs.hpp"
#include "core/reglist/id_regs_class.hpp"
#include "core/reglist/snapshot.hpp"
#include "psci/fw_registers.hpp"
#include "vgic/reglist_class.hpp"

using namespace hv;
using namespace hv::reglist;

namespace {

const char* class_name(u64 id) {
    switch (reg_class(id) >> kClassShift) {
        case 0x0010:
            return "core";
        case 0x0013:
            return "sysreg";
        case 0x0014:
            return "fw";
        case 0x0016:
            return "fw_feat_bmap";
        case 0x0800:
            return "gicd";
        case 0x0801:
            return "gicr";
        case 0x0802:
            return "icc";
        case 0x0803:
            return "line_level";
        case 0x0804:
            return "gits";
        case 0x0805:
            return "sdei";
        default:
            return "?";
    }
}

// A person's name for a register ID (scope bit ignored): core and FP registers by their kvm_regs field, system
// registers by name (EL1 register table, ID registers, timers) or encoding, firmware registers by KVM's names,
// GIC registers by frame offset; otherwise the class and index.
std::string reg_name(u64 full_id) {
    const u64 id = without_scope(full_id);
    const u64 index = id & 0xffff;
    char b[64];
    switch (reg_class(id) >> kClassShift) {
        case 0x0010: {  // KVM_REG_ARM_CORE: index = byte offset in struct kvm_regs / 4
            const u64 off = index * 4;
            if (off < 31 * 8)
                snprintf(b, sizeof b, "x%llu", (unsigned long long)(off / 8));
            else if (off == 248)
                snprintf(b, sizeof b, "sp");
            else if (off == 256)
                snprintf(b, sizeof b, "pc");
            else if (off == 264)
                snprintf(b, sizeof b, "pstate");
            else if (off == 272)
                snprintf(b, sizeof b, "sp_el1");
            else if (off == 280)
                snprintf(b, sizeof b, "elr_el1");
            else if (off >= 288 && off < 328)
                snprintf(b, sizeof b, "spsr[%llu]", (unsigned long long)((off - 288) / 8));
            else if (off >= 336 && off < 848)
                snprintf(b, sizeof b, "v%llu", (unsigned long long)((off - 336) / 16));
            else if (off == 848)
                snprintf(b, sizeof b, "fpsr");
            else if (off == 852)
                snprintf(b, sizeof b, "fpcr");
            else
                snprintf(b, sizeof b, "core+%#llx", (unsigned long long)off);
            return b;
        }
        case 0x0013: {
            const u32 key = static_cast<u32>(index);
#define HV_SNAPSHOT_NAME(name, op0, op1, crn, crm, op2, reset, access) \
    if (key == arm::sysreg_key(op0, op1, crn, crm, op2)) return #name;
            HV_EL1_REGS(HV_SNAPSHOT_NAME)
#undef HV_SNAPSHOT_NAME
            if (const char* n = id_reg_name(key)) return n;
            if (id == kTimerCtl) return "TIMER_CTL";
            if (id == kTimerCnt) return "TIMER_CNT";
            if (id == kTimerCval) return "TIMER_CVAL";
            if (id == kPtimerCtl) return "PTIMER_CTL";
            if (id == kPtimerCnt) return "PTIMER_CNT";
            if (id == kPtimerCval) return "PTIMER_CVAL";
            snprintf(b, sizeof b, "S%u_%u_C%u_C%u_%u", (key >> 14) & 3, (key >> 11) & 7, (key >> 7) & 15,
                     (key >> 3) & 15, key & 7);
            return b;
        }
        case 0x0014:
        case 0x0016:
            if (const char* n = psci::FirmwareRegisterClass::reg_name(id)) return n;
            break;
        case 0x0800:
            snprintf(b, sizeof b, "GICD+%#llx", (unsigned long long)(index * 4));
            return b;  // index = off/4
        case 0x0801:
            snprintf(b, sizeof b, "GICR+%#llx", (unsigned long long)(index * 4));
            return b;
        default:
            break;
    }
    snprintf(b, sizeof b, "%s[%#llx]", class_name(id), (unsigned long long)index);
    return b;
}

struct Ram {
    u64 gpa;
    std::vector<u8> bytes;
};

struct Parsed final : SnapshotVisitor {
    SnapshotInfo info;
    // (section vCPU, ID) -> value bytes, in stream order
    std::vector<std::tuple<u32, u64, std::vector<u8>>> records;
    std::vector<Ram> regions;
    std::string scope_error;
    Status header(const SnapshotInfo& i) override {
        info = i;
        return Status::ok;
    }
    Status record(u32 vcpu, u64 id, Span<const u8> v) override {
        // Structural scope rule: VM section <=> scope bit set.
        if (is_vm_scoped_id(id) != (vcpu == kSnapshotVmSection)) {
            char b[96];
            snprintf(b, sizeof b, "ID %#llx in the wrong section", (unsigned long long)id);
            scope_error = b;
            return Status::corrupt;
        }
        records.emplace_back(vcpu, id, std::vector<u8>(v.begin(), v.end()));
        return Status::ok;
    }
    Status ram_region(u64 gpa, Span<const u8> b) {
        regions.push_back({gpa, std::vector<u8>(b.begin(), b.end())});
        return Status::ok;
    }
    Status ram(u32, u64 gpa, Span<const u8> b) override { return ram_region(gpa, b); }
};

bool read_file(const char* path, std::vector<u8>& out) {
    FILE* f = fopen(path, "rb");
    if (!f) return false;
    u8 buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) out.insert(out.end(), buf, buf + n);
    fclose(f);
    return true;
}

// 0 = parsed, 1 = invalid, 2 = unreadable
int load(const char* path, Parsed& p, bool quiet = false) {
    std::vector<u8> bytes;
    if (!read_file(path, bytes)) {
        fprintf(stderr, "%s: cannot read\n", path);
        return 2;
    }
    Status s = snapshot_parse(Span<const u8>(bytes.data(), bytes.size()), p);
    if (s != Status::ok) {
        if (!quiet)
            fprintf(stdout, "%s: INVALID (%s%s%s)\n", path, status_name(s), p.scope_error.empty() ? "" : ": ",
                    p.scope_error.c_str());
        return 1;
    }
    return 0;
}

std::string hex_value(const std::vector<u8>& v) {
    std::string s = "0x";
    char b[4];
    for (size_t i = v.size(); i-- > 0;) {
        snprintf(b, sizeof b, "%02x", v[i]);
        s += b;
    }
    return s;
}

std::string section_name(u32 vcpu) { return vcpu == kSnapshotVmSection ? "vm" : "vcpu" + std::to_string(vcpu); }

int cmd_list(const char* path) {
    Parsed p;
    int rc = load(path, p);
    if (rc) return rc;
    printf("snapshot %s: format %u, vcpus %u, abi [%u %u %u %u], %zu registers, %zu RAM regions\n", path,
           kSnapshotFormatVersion, p.info.vcpu_count, p.info.abi[0], p.info.abi[1], p.info.abi[2], p.info.abi[3],
           p.records.size(), p.regions.size());
    printf("%-6s %-18s %-12s %-24s %s\n", "scope", "KVM ID", "class", "name", "value");
    for (auto& [vcpu, id, value] : p.records)
        printf("%-6s 0x%016llx %-12s %-24s %s\n", section_name(vcpu).c_str(), (unsigned long long)id, class_name(id),
               reg_name(id).c_str(), hex_value(value).c_str());
    for (size_t i = 0; i < p.regions.size(); ++i)
        printf("ram%zu  gpa 0x%llx size 0x%zx\n", i, (unsigned long long)p.regions[i].gpa, p.regions[i].bytes.size());
    return 0;
}

int cmd_validate(const char* path) {
    Parsed p;
    int rc = load(path, p);
    if (rc) return rc;
    printf("%s: OK (%u vCPUs, %zu registers, %zu RAM regions)\n", path, p.info.vcpu_count, p.records.size(),
           p.regions.size());
    return 0;
}

int cmd_diff(const char* a_path, const char* b_path) {
    Parsed a, b;
    int ra = load(a_path, a), rb = load(b_path, b);
    if (ra || rb) return ra == 2 || rb == 2 ? 2 : 1;
    int diffs = 0;
    if (a.info.vcpu_count != b.info.vcpu_count) {
        printf("header: vcpus %u vs %u\n", a.info.vcpu_count, b.info.vcpu_count);
        ++diffs;
    }
    for (usize i = 0; i < SnapshotInfo::kAbiSlots; ++i)
        if (a.info.abi[i] != b.info.abi[i]) {
            printf("header: abi[%zu] %u vs %u\n", i, a.info.abi[i], b.info.abi[i]);
            ++diffs;
        }
    std::map<std::pair<u32, u64>, std::vector<u8>> ma, mb;
    for (auto& [v, id, val] : a.records) ma[{v, id}] = val;
    for (auto& [v, id, val] : b.records) mb[{v, id}] = val;
    for (auto& [k, val] : ma) {
        auto it = mb.find(k);
        if (it == mb.end()) {
            printf("- %-6s 0x%016llx %-12s %-24s %s\n", section_name(k.first).c_str(), (unsigned long long)k.second,
                   class_name(k.second), reg_name(k.second).c_str(), hex_value(val).c_str());
            ++diffs;
        } else if (it->second != val) {
            printf("~ %-6s 0x%016llx %-12s %-24s %s -> %s\n", section_name(k.first).c_str(),
                   (unsigned long long)k.second, class_name(k.second), reg_name(k.second).c_str(),
                   hex_value(val).c_str(), hex_value(it->second).c_str());
            ++diffs;
        }
    }
    for (auto& [k, val] : mb)
        if (!ma.count(k)) {
            printf("+ %-6s 0x%016llx %-12s %-24s %s\n", section_name(k.first).c_str(), (unsigned long long)k.second,
                   class_name(k.second), reg_name(k.second).c_str(), hex_value(val).c_str());
            ++diffs;
        }
    for (size_t i = 0; i < std::max(a.regions.size(), b.regions.size()); ++i) {
        if (i >= a.regions.size() || i >= b.regions.size() || a.regions[i].gpa != b.regions[i].gpa ||
            a.regions[i].bytes.size() != b.regions[i].bytes.size()) {
            printf("ram%zu: layout differs\n", i);
            ++diffs;
            continue;
        }
        size_t first = SIZE_MAX, count = 0;
        for (size_t k = 0; k < a.regions[i].bytes.size(); ++k)
            if (a.regions[i].bytes[k] != b.regions[i].bytes[k]) {
                if (first == SIZE_MAX) first = k;
                ++count;
            }
        if (count) {
            printf("ram%zu: %zu bytes differ, first at gpa 0x%llx\n", i, count,
                   (unsigned long long)(a.regions[i].gpa + first));
            ++diffs;
        }
    }
    printf("%d difference%s\n", diffs, diffs == 1 ? "" : "s");
    return diffs ? 1 : 0;
}

u64 value_u64(const std::vector<u8>& v) {
    u64 x = 0;
    memcpy(&x, v.data(), std::min<size_t>(v.size(), 8));
    return x;
}
void set_u64(std::vector<u8>& v, u64 x) { memcpy(v.data(), &x, std::min<size_t>(v.size(), 8)); }

void put(std::vector<u8>& out, const void* p, size_t n) {
    const u8* b = static_cast<const u8*>(p);
    out.insert(out.end(), b, b + n);
}
void put32(std::vector<u8>& out, u32 v) { put(out, &v, 4); }
void put64(std::vector<u8>& out, u64 v) { put(out, &v, 8); }

// The stream of `p` (the format of core/reglist/snapshot.hpp), records in their original order.
std::vector<u8> serialize(const Parsed& p) {
    std::vector<u8> out;
    put64(out, kSnapshotMagic);
    put32(out, kSnapshotFormatVersion);
    put32(out, static_cast<u32>(kSnapshotHeaderSize));
    put32(out, p.info.vcpu_count);
    put32(out, static_cast<u32>(SnapshotInfo::kAbiSlots));
    for (u32 a : p.info.abi) put32(out, a);
    put64(out, 0);  // payload size, patched below
    auto section = [&](u32 tag, u32 vcpu) {
        u32 n = 0;
        for (auto& r : p.records) n += std::get<0>(r) == vcpu;
        put32(out, tag), put32(out, vcpu), put32(out, n), put32(out, 0);
        for (auto& [v, id, val] : p.records) {
            if (v != vcpu) continue;
            put64(out, id);
            put(out, val.data(), val.size());
            out.resize(out.size() + (8 - val.size() % 8) % 8, 0);
        }
    };
    section(kSnapshotTagVm, kSnapshotVmSection);
    for (u32 c = 0; c < p.info.vcpu_count; ++c) section(kSnapshotTagVcpu, c);
    for (size_t i = 0; i < p.regions.size(); ++i) {
        put32(out, kSnapshotTagRam), put32(out, static_cast<u32>(i)), put32(out, 0), put32(out, 0);
        put64(out, p.regions[i].gpa), put64(out, p.regions[i].bytes.size());
        put(out, p.regions[i].bytes.data(), p.regions[i].bytes.size());
        out.resize(out.size() + (8 - p.regions[i].bytes.size() % 8) % 8, 0);
    }
    put32(out, kSnapshotTagEnd), put32(out, kSnapshotVmSection), put32(out, 0), put32(out, 0);
    const u64 payload = out.size() - kSnapshotHeaderSize;
    memcpy(out.data() + kSnapshotHeaderSize - 8, &payload, 8);
    return out;
}

bool parse_psci(const char* s, u64& v) {
    static const std::pair<const char*, u64> kVersions[] = {{"0.1", 1}, {"0.2", 2}, {"1.0", 0x10000}, {"1.1", 0x10001}};
    for (auto& [name, val] : kVersions)
        if (!strcmp(s, name)) return v = val, true;
    return false;
}

// Rewrites `p` as an older revision: PSCI version and/or GICD_IIDR revision. Returns "" or why it cannot be
// represented (nothing changed then).
std::string export_older(Parsed& p, const u64* psci, const u32* gicd_rev) {
    const u64 psci_id = psci::fwreg::kPsciVersion | kScopeVm;
    const u64 iidr_id = vgic::gicd_id(0x0008, 4) | kScopeVm;
    const u64 gicr_ctlr_id = vgic::gicr_id(0x0000, 4);
    Parsed out = p;
    char b[160];
    if (psci != nullptr) {
        bool found = false;
        for (auto& [vcpu, id, val] : out.records) {
            if (id != psci_id) continue;
            found = true;
            const u64 saved = value_u64(val);
            if (*psci > saved) {
                snprintf(b, sizeof b, "PSCI %#llx is newer than the saved %#llx (export writes older revisions only)",
                         (unsigned long long)*psci, (unsigned long long)saved);
                return b;
            }
            if ((saved == 1) != (*psci == 1)) {
                snprintf(b, sizeof b,
                         "PSCI %#llx: a VM that saw %#llx uses other function IDs (0.1 vs 0.2+, KVM's "
                         "PSCI_0_2 vCPU feature) and has them in its device tree",
                         (unsigned long long)*psci, (unsigned long long)saved);
                return b;
            }
            set_u64(val, *psci);
        }
        if (!found) return "no KVM_REG_ARM_PSCI_VERSION record";
    }
    if (gicd_rev != nullptr) {
        bool found = false;
        for (auto& [vcpu, id, val] : out.records) {
            if (id != iidr_id) continue;
            found = true;
            const u32 saved = static_cast<u32>((value_u64(val) >> 12) & 0xf);
            if (*gicd_rev > saved) {
                snprintf(b, sizeof b, "GICD_IIDR revision %u is newer than the saved %u", *gicd_rev, saved);
                return b;
            }
            if (*gicd_rev < 2) {
                snprintf(b, sizeof b,
                         "GICD_IIDR revision %u: before revision 2 the interrupt groups are not "
                         "configurable (KVM), and the saved state has its own IGROUPR values",
                         *gicd_rev);
                return b;
            }
            set_u64(val, (value_u64(val) & ~(u64{0xf} << 12)) | (u64{*gicd_rev} << 12));
        }
        if (!found) return "no GICD_IIDR record";
        // Revision 3's GICR_CTLR.{CES,IR} read as 0 before it (vgic/redistributor).
        if (*gicd_rev < 3)
            for (auto& [vcpu, id, val] : out.records)
                if (id == gicr_ctlr_id) set_u64(val, value_u64(val) & ~u64{0x6});
    }
    p = std::move(out);
    return "";
}

int cmd_export(int argc, char** argv) {
    // hv-snapshot export [--psci VER] [--gicd-rev N] IN OUT
    const char* in = nullptr;
    const char* out_path = nullptr;
    u64 psci = 0;
    u32 rev = 0;
    bool have_psci = false, have_rev = false;
    for (int i = 2; i < argc; ++i) {
        if (!strcmp(argv[i], "--psci") && i + 1 < argc) {
            if (!parse_psci(argv[++i], psci)) {
                fprintf(stderr, "hv-snapshot: --psci takes 0.1, 0.2, 1.0 or 1.1\n");
                return 2;
            }
            have_psci = true;
        } else if (!strcmp(argv[i], "--gicd-rev") && i + 1 < argc) {
            rev = static_cast<u32>(strtoul(argv[++i], nullptr, 0));
            have_rev = true;
        } else if (!in) {
            in = argv[i];
        } else if (!out_path) {
            out_path = argv[i];
        } else {
            return 2;
        }
    }
    if (!in || !out_path || (!have_psci && !have_rev)) return 2;
    Parsed p;
    int rc = load(in, p);
    if (rc) return rc;
    const std::string why = export_older(p, have_psci ? &psci : nullptr, have_rev ? &rev : nullptr);
    if (!why.empty()) {
        printf("%s: cannot export: %s\n", in, why.c_str());
        return 1;
    }
    const std::vector<u8> bytes = serialize(p);
    Parsed check;
    if (snapshot_parse(Span<const u8>(bytes.data(), bytes.size()), check) != Status::ok) {
        printf("%s: export produced an invalid stream\n", in);
        return 1;
    }
    FILE* f = fopen(out_path, "wb");
    if (!f || fwrite(bytes.data(), 1, bytes.size(), f) != bytes.size()) {
        fprintf(stderr, "%s: cannot write\n", out_path);
        if (f) fclose(f);
        return 2;
    }
    fclose(f);
    printf("%s: exported to %s (%zu bytes)\n", in, out_path, bytes.size());
    return 0;
}

int usage() {
    fprintf(stderr,
            "usage: hv-snapshot list FILE | validate FILE | diff A B | export [--psci VER] [--gicd-rev N] IN OUT\n");
    return 2;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc == 3 && !strcmp(argv[1], "list")) return cmd_list(argv[2]);
    if (argc == 3 && !strcmp(argv[1], "validate")) return cmd_validate(argv[2]);
    if (argc == 4 && !strcmp(argv[1], "diff")) return cmd_diff(argv[2], argv[3]);
    if (argc >= 5 && !strcmp(argv[1], "export")) {
        const int rc = cmd_export(argc, argv);
        return rc == 2 ? usage() : rc;
    }
    return usage();
}
