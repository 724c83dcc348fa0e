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
        while (i < total && (args[i] == ' ' || args[i] == '\t' || args[i] == '\n')) ++i;
        if (i >= total) break;
        const char* w = args + i;
        usize len = 0;
        while (i + len < total && w[len] != ' ' && w[len] != '\t' && w[len] != '\n') ++len;
        i += len;

        usize klen = 0;
        while (klen < len && w[klen] != '=') ++klen;
        const char* val = w + klen + 1;
        const usize vlen = klen < len ? len - klen - 1 : 0;
        const bool has_val = klen < len;

        if (word_eq(w, klen, "vcpus") && has_val) {
            u64 n = 0;
            if (parse_uint(val, vlen, n) && n >= 1 && n <= GuestDtbConfig::kMaxVcpus)
                o.vcpus = static_cast<u32>(n);
            else
                note_invalid(o, w, len);
        } else if (word_eq(w, klen, "mem") && has_val) {
            u64 sz = 0;
            if (parse_size(val, vlen, sz) && sz >= 2 * MiB && is_aligned(sz, 2 * MiB))
                o.mem = sz;
            else
                note_invalid(o, w, len);  // guest RAM is mapped with 2 MiB blocks
        } else if (word_eq(w, klen, "psci") && has_val) {
            if (word_eq(val, vlen, "0.1"))
                o.psci = PsciVersion::v0_1;
            else if (word_eq(val, vlen, "0.2"))
                o.psci = PsciVersion::v0_2;
            else if (word_eq(val, vlen, "1.0"))
                o.psci = PsciVersion::v1_0;
            else if (word_eq(val, vlen, "1.1"))
                o.psci = PsciVersion::v1_1;
            else
                note_invalid(o, w, len);
        } else if (word_eq(w, klen, "loglevel") && has_val) {
            u64 n = 0;
            if (word_eq(val, vlen, "error"))
                o.loglevel = LogLevel::error;
            else if (word_eq(val, vlen, "warn"))
                o.loglevel = LogLevel::warn;
            else if (word_eq(val, vlen, "info"))
                o.loglevel = LogLevel::info;
            else if (word_eq(val, vlen, "debug"))
                o.loglevel = LogLevel::debug;
            else if (parse_uint(val, vlen, n) && n <= 3)
                o.loglevel = static_cast<LogLevel>(n);
            else
                note_invalid(o, w, len);
        } else if (word_eq(w, klen, "its") && has_val) {
            if (!parse_bool(val, vlen, o.its)) note_invalid(o, w, len);
        } else if (word_eq(w, klen, "vits") && has_val) {
            u64 n = 0;
            if (parse_uint(val, vlen, n) && n >= 1 && n <= kMaxVirtualIts)
                o.vits = static_cast<u32>(n);
            else
                note_invalid(o, w, len);
        } else if (word_eq(w, klen, "pci") && has_val) {
            if (!parse_bool(val, vlen, o.pci)) note_invalid(o, w, len);
        } else if (word_eq(w, klen, "smmu") && has_val) {
            if (!parse_bool(val, vlen, o.smmu)) note_invalid(o, w, len);
        } else if (word_eq(w, klen, "virtio_mmio") && has_val) {
            bool all = false;
            if (word_eq(val, vlen, "empty"))
                o.virtio_mmio = VirtioMmioMode::empty;
            else if (parse_bool(val, vlen, all))
                o.virtio_mmio = all ? VirtioMmioMode::on : VirtioMmioMode::off;
            else
                note_invalid(o, w, len);
        } else if (word_eq(w, klen, "snapshot") && has_val) {
            // restore (the snapshot disk). The old save:PATH / restore:PATH forms went with semihosting.
            if (word_eq(val, vlen, "restore"))
                o.snapshot = HvOptions::SnapshotMode::restore;
            else
                note_invalid(o, w, len);
        } else if (word_eq(w, klen, "cpu_timeout") && has_val) {
            u64 ms = 0;
            if (parse_uint(val, vlen, ms) && ms >= 1 && ms <= HvOptions::kMaxCpuWaitMs)
                o.cpu_timeout_ms = static_cast<u32>(ms);
            else
                note_invalid(o, w, len);
        } else if (word_eq(w, klen, "debug_fault") && has_val) {
            if (word_eq(val, vlen, "exec_data"))
                o.debug_fault = HvOptions::DebugFault::exec_data;
            else if (word_eq(val, vlen, "stack_overflow"))
                o.debug_fault = HvOptions::DebugFault::stack_overflow;
            else if (word_eq(val, vlen, "stack_smash"))
                o.debug_fault = HvOptions::DebugFault::stack_smash;
            else
                note_invalid(o, w, len);
        } else if (word_eq(w, klen, "debug_late_cpu") && has_val) {
            // N:MS -- N a secondary pCPU index (the boot pCPU is 0 and cannot be late).
            usize colon = 0;
            while (colon < vlen && val[colon] != ':') ++colon;
            u64 cpu = 0, ms = 0;
            if (colon < vlen && parse_uint(val, colon, cpu) && cpu >= 1 && cpu < GuestDtbConfig::kMaxVcpus &&
                parse_uint(val + colon + 1, vlen - colon - 1, ms) && ms <= HvOptions::kMaxCpuWaitMs) {
                o.late_cpu = static_cast<u32>(cpu);
                o.late_cpu_ms = static_cast<u32>(ms);
            } else {
                note_invalid(o, w, len);
            }
        } else {
            note_unknown(o, w, len);
        }
    }
    return Status::ok;
}

}  // namespace hv
