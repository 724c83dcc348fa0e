// hv-snapshot: list, validate and diff snapshot files. See README.md.
#include <cstdio>
#include <cstring>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "core/reglist/snapshot.hpp"

using namespace hv;
using namespace hv::reglist;

namespace {

const char* class_name(u64 id) {
    switch (reg_class(id) >> kClassShift) {
        case 0x0010: return "core";
        case 0x0013: return "sysreg";
        case 0x0014: return "fw";
        case 0x0016: return "fw_feat_bmap";
        case 0x0800: return "gicd";
        case 0x0801: return "gicr";
        case 0x0802: return "icc";
        case 0x0803: return "line_level";
        case 0x0804: return "gits";
        case 0x0805: return "sdei";
        default: return "?";
    }
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
    for (auto& [vcpu, id, value] : p.records)
        printf("%-6s 0x%016llx %-12s %s\n", section_name(vcpu).c_str(), (unsigned long long)id, class_name(id),
               hex_value(value).c_str());
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
            printf("- %-6s 0x%016llx %-12s %s\n", section_name(k.first).c_str(), (unsigned long long)k.second,
                   class_name(k.second), hex_value(val).c_str());
            ++diffs;
        } else if (it->second != val) {
            printf("~ %-6s 0x%016llx %-12s %s -> %s\n", section_name(k.first).c_str(), (unsigned long long)k.second,
                   class_name(k.second), hex_value(val).c_str(), hex_value(it->second).c_str());
            ++diffs;
        }
    }
    for (auto& [k, val] : mb)
        if (!ma.count(k)) {
            printf("+ %-6s 0x%016llx %-12s %s\n", section_name(k.first).c_str(), (unsigned long long)k.second,
                   class_name(k.second), hex_value(val).c_str());
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

int usage() {
    fprintf(stderr, "usage: hv-snapshot list FILE | validate FILE | diff A B\n");
    return 2;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc == 3 && !strcmp(argv[1], "list")) return cmd_list(argv[2]);
    if (argc == 3 && !strcmp(argv[1], "validate")) return cmd_validate(argv[2]);
    if (argc == 4 && !strcmp(argv[1], "diff")) return cmd_diff(argv[2], argv[3]);
    return usage();
}
