// Parsing of the hypervisor's command line (/chosen/bootargs). See core/bootargs.hpp for the options.
#include "core/bootargs.hpp"

#include "lib/string.hpp"

namespace hv {

namespace {

constexpr usize kMaxArgsLen = 4096;

bool word_eq(const char* w, usize len, const char* lit) { return strlen(lit) == len && strncmp(w, lit, len) == 0; }

bool parse_uint(const char* s, usize len, u64& out) {
    if (len == 0) return false;
    u64 base = 10;
    if (len > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        base = 16;
        s += 2;
        len -= 2;
    }
    u64 v = 0;
    for (usize i = 0; i < len; ++i) {
        const char c = s[i];
        u64 d;
        if (c >= '0' && c <= '9')
            d = static_cast<u64>(c - '0');
        else if (base == 16 && c >= 'a' && c <= 'f')
            d = static_cast<u64>(c - 'a') + 10;
        else if (base == 16 && c >= 'A' && c <= 'F')
            d = static_cast<u64>(c - 'A') + 10;
        else
            return false;
        if (v > (~u64{0} - d) / base) return false;  // overflow
        v = v * base + d;
    }
    out = v;
    return true;
}

bool parse_bool(const char* s, usize len, bool& out) {
    if (word_eq(s, len, "on") || word_eq(s, len, "1") || word_eq(s, len, "yes")) return out = true, true;
    if (word_eq(s, len, "off") || word_eq(s, len, "0") || word_eq(s, len, "no")) return out = false, true;
    return false;
}

void note_unknown(HvOptions& o, const char* w, usize len) {
    if (o.unknown_count < HvOptions::kMaxUnknown) {
        char* dst = o.unknown[o.unknown_count];
        const usize n = min(len, HvOptions::kMaxWord - 1);
        memcpy(dst, w, n);
        dst[n] = 0;
    }
    ++o.unknown_count;
    HV_LOG_WARN("bootargs: unknown option '%.*s' ignored", static_cast<int>(min<usize>(len, 64)), w);
}

void note_invalid(HvOptions& o, const char* w, usize len) {
    ++o.invalid_count;
    HV_LOG_WARN("bootargs: bad value in '%.*s', keeping the default", static_cast<int>(min<usize>(len, 64)), w);
}

}  // namespace

bool parse_size(const char* s, usize len, u64& out) {
    if (len == 0) return false;
    u64 mult = 1;
    const char last = s[len - 1];
    // A trailing K/M/G is a unit (none of them is a hex digit, so "0x10M" is unambiguous).
    if (last == 'K' || last == 'k')
        mult = KiB;
    else if (last == 'M' || last == 'm')
        mult = MiB;
    else if (last == 'G' || last == 'g')
        mult = GiB;
    if (mult != 1) --len;
    u64 v = 0;
    if (!parse_uint(s, len, v)) return false;
    if (v > ~u64{0} / mult) return false;
    out = v * mult;
    return true;
}

const char* psci_version_name(PsciVersion v) {
    switch (v) {
        case PsciVersion::v0_1:
            return "0.1";
        case PsciVersion::v0_2:
            return "0.2";
        case PsciVersion::v1_0:
            return "1.0";
        case PsciVersion::v1_1:
            return "1.1";
    }
    return "?";
}

namespace {

// One option's value. A value is a string (not NUL-terminated) of `len` characters.
struct Value {
    const char* s;
    usize len;
    bool is(const char* lit) const { return word_eq(s, len, lit); }
};

// A name -> enumerator choice (psci=, loglevel=, debug_fault=, snapshot=, module_store=).
template <typename E>
struct Choice {
    const char* name;
    E value;
};

template <typename E, usize N>
bool parse_choice(Value v, const Choice<E> (&choices)[N], E& out) {
    for (const Choice<E>& c : choices)
        if (v.is(c.name)) return out = c.value, true;
    return false;
}

// An unsigned number in [lo, hi].
template <typename T>
bool parse_bounded(Value v, u64 lo, u64 hi, T& out) {
    u64 n = 0;
    if (!parse_uint(v.s, v.len, n) || n < lo || n > hi) return false;
    out = static_cast<T>(n);
    return true;
}

bool set_vcpus(Value v, HvOptions& o) { return parse_bounded(v, 1, GuestDtbConfig::kMaxVcpus, o.vcpus); }

bool set_mem(Value v, HvOptions& o) {
    u64 sz = 0;
    if (!parse_size(v.s, v.len, sz) || sz < 2 * MiB || !is_aligned(sz, 2 * MiB)) return false;  // 2 MiB blocks
    o.mem = sz;
    return true;
}

bool set_psci(Value v, HvOptions& o) {
    static constexpr Choice<PsciVersion> kChoices[] = {
        {"0.1", PsciVersion::v0_1}, {"0.2", PsciVersion::v0_2}, {"1.0", PsciVersion::v1_0}, {"1.1", PsciVersion::v1_1}};
    return parse_choice(v, kChoices, o.psci);
}

bool set_loglevel(Value v, HvOptions& o) {
    static constexpr Choice<LogLevel> kChoices[] = {
        {"error", LogLevel::error}, {"warn", LogLevel::warn}, {"info", LogLevel::info}, {"debug", LogLevel::debug}};
    return parse_choice(v, kChoices, o.loglevel) || parse_bounded(v, 0, 3, o.loglevel);
}

bool set_its(Value v, HvOptions& o) { return parse_bool(v.s, v.len, o.its); }
bool set_vits(Value v, HvOptions& o) { return parse_bounded(v, 1, kMaxVirtualIts, o.vits); }
bool set_pci(Value v, HvOptions& o) { return parse_bool(v.s, v.len, o.pci); }
bool set_smmu(Value v, HvOptions& o) { return parse_bool(v.s, v.len, o.smmu); }
bool set_gicv4(Value v, HvOptions& o) {
    bool on = false;
    if (v.is("doorbell"))
        o.gicv4 = HvOptions::Gicv4Mode::doorbell;
    else if (parse_bool(v.s, v.len, on))
        o.gicv4 = on ? HvOptions::Gicv4Mode::on : HvOptions::Gicv4Mode::off;
    else
        return false;
    return true;
}
bool set_virtio_mmio(Value v, HvOptions& o) {
    bool all = false;
    if (v.is("empty"))
        o.virtio_mmio = VirtioMmioMode::empty;
    else if (parse_bool(v.s, v.len, all))
        o.virtio_mmio = all ? VirtioMmioMode::on : VirtioMmioMode::off;
    else
        return false;
    return true;
}

// restore (the snapshot disk). The old save:PATH / restore:PATH forms went with semihosting.
bool set_snapshot(Value v, HvOptions& o) {
    static constexpr Choice<HvOptions::SnapshotMode> kChoices[] = {{"restore", HvOptions::SnapshotMode::restore}};
    return parse_choice(v, kChoices, o.snapshot);
}

bool set_module_store(Value v, HvOptions& o) {
    static constexpr Choice<HvOptions::ModuleStoreMode> kChoices[] = {
        {"copy", HvOptions::ModuleStoreMode::copy}, {"preloaded", HvOptions::ModuleStoreMode::preloaded}};
    return parse_choice(v, kChoices, o.module_store);
}

bool set_cpu_timeout(Value v, HvOptions& o) { return parse_bounded(v, 1, HvOptions::kMaxCpuWaitMs, o.cpu_timeout_ms); }

bool set_debug_fault(Value v, HvOptions& o) {
    static constexpr Choice<HvOptions::DebugFault> kChoices[] = {
        {"exec_data", HvOptions::DebugFault::exec_data},
        {"stack_overflow", HvOptions::DebugFault::stack_overflow},
        {"stack_smash", HvOptions::DebugFault::stack_smash}};
    return parse_choice(v, kChoices, o.debug_fault);
}

// N:MS -- N a secondary pCPU index (the boot pCPU is 0 and cannot be late).
bool set_late_cpu(Value v, HvOptions& o) {
    usize colon = 0;
    while (colon < v.len && v.s[colon] != ':') ++colon;
    u32 cpu = 0, ms = 0;
    if (colon >= v.len || !parse_bounded(Value{v.s, colon}, 1, GuestDtbConfig::kMaxVcpus - 1, cpu) ||
        !parse_bounded(Value{v.s + colon + 1, v.len - colon - 1}, 0, HvOptions::kMaxCpuWaitMs, ms))
        return false;
    o.late_cpu = cpu;
    o.late_cpu_ms = ms;
    return true;
}

// Every option (core/bootargs.hpp has their meaning). A setter leaves the options untouched when it returns false.
struct Option {
    const char* name;
    bool (*set)(Value v, HvOptions& o);
};
constexpr Option kOptions[] = {
    {"vcpus", set_vcpus},
    {"mem", set_mem},
    {"psci", set_psci},
    {"loglevel", set_loglevel},
    {"its", set_its},
    {"vits", set_vits},
    {"pci", set_pci},
    {"smmu", set_smmu},
    {"gicv4", set_gicv4},
    {"virtio_mmio", set_virtio_mmio},
    {"snapshot", set_snapshot},
    {"module_store", set_module_store},
    {"cpu_timeout", set_cpu_timeout},
    {"debug_fault", set_debug_fault},
    {"debug_late_cpu", set_late_cpu},
};

// One `key=value` word: a known key with a value is applied (or counted invalid); anything else is unknown.
void apply_word(const char* w, usize len, HvOptions& o) {
    usize klen = 0;
    while (klen < len && w[klen] != '=') ++klen;
    if (klen < len) {
        for (const Option& opt : kOptions) {
            if (!word_eq(w, klen, opt.name)) continue;
            if (!opt.set(Value{w + klen + 1, len - klen - 1}, o)) note_invalid(o, w, len);
            return;
        }
    }
    note_unknown(o, w, len);
}

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n'; }

}  // namespace

Status parse_bootargs(const char* args, HvOptions& o) {
    if (args == nullptr) return Status::ok;
    usize total = 0;
    while (total <= kMaxArgsLen && args[total] != 0) ++total;
    if (total > kMaxArgsLen) {
        HV_LOG_WARN("bootargs: longer than %zu characters, ignored", kMaxArgsLen);
        return Status::invalid_argument;
    }
    usize i = 0;
    while (i < total) {
        while (i < total && is_space(args[i])) ++i;
        if (i >= total) break;
        const char* w = args + i;
        usize len = 0;
        while (i + len < total && !is_space(w[len])) ++len;
        i += len;
        apply_word(w, len, o);
    }
    return Status::ok;
}

}  // namespace hv
