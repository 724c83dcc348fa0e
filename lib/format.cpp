#include "lib/format.hpp"

namespace hv {
namespace {

struct Out {
    char* buf;
    usize cap;
    usize len = 0;
    void put(char c) {
        if (len + 1 < cap) buf[len] = c;
        ++len;
    }
};

void put_padded(Out& o, const char* s, usize n, int width, bool left, char pad) {
    int fill = width > static_cast<int>(n) ? width - static_cast<int>(n) : 0;
    if (!left)
        for (int i = 0; i < fill; ++i) o.put(pad);
    for (usize i = 0; i < n; ++i) o.put(s[i]);
    if (left)
        for (int i = 0; i < fill; ++i) o.put(' ');
}

void put_number(Out& o, u64 v, bool negative, unsigned base, bool upper, int width, bool left, char pad,
                const char* prefix) {
    char tmp[24];
    usize n = 0;
    const char* digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
    do {
        tmp[n++] = digits[v % base];
        v /= base;
    } while (v != 0);
    usize plen = 0;
    char head[4];
    if (negative) head[plen++] = '-';
    for (const char* p = prefix; p && *p; ++p) head[plen++] = *p;
    int total = static_cast<int>(n + plen);
    int fill = width > total ? width - total : 0;
    if (!left && pad == ' ')
        for (int i = 0; i < fill; ++i) o.put(' ');
    for (usize i = 0; i < plen; ++i) o.put(head[i]);
    if (!left && pad == '0')
        for (int i = 0; i < fill; ++i) o.put('0');
    while (n > 0) o.put(tmp[--n]);
    if (left)
        for (int i = 0; i < fill; ++i) o.put(' ');
}

// One conversion's flags, width, precision and length.
struct Spec {
    bool left = false;
    char pad = ' ';
    bool alt = false;
    int width = 0;
    int precision = -1;
    int longness = 0;  // 0 int, 1 long, 2 long long / size_t
};

// A width or precision: `*` (the next int argument) or decimal digits.
int parse_count(const char*& p, va_list* ap) {
    if (*p == '*') {
        ++p;
        return va_arg(*ap, int);
    }
    int n = 0;
    while (*p >= '0' && *p <= '9') n = n * 10 + (*p++ - '0');
    return n;
}

// Parses what follows a '%' up to the conversion character, whose position it returns.
const char* parse_spec(const char* p, va_list* ap, Spec& s) {
    for (;; ++p) {
        if (*p == '-')
            s.left = true;
        else if (*p == '0')
            s.pad = '0';
        else if (*p == '#')
            s.alt = true;
        else
            break;
    }
    s.width = parse_count(p, ap);
    if (*p == '.') {
        ++p;
        s.precision = parse_count(p, ap);
    }
    while (*p == 'l' || *p == 'z' || *p == 'h') {
        if (*p == 'l') ++s.longness;
        if (*p == 'z') s.longness = 2;
        ++p;
    }
    return p;
}

u64 get_unsigned(va_list* ap, int longness) {
    if (longness >= 2) return va_arg(*ap, unsigned long long);
    if (longness == 1) return va_arg(*ap, unsigned long);
    return va_arg(*ap, unsigned int);
}

i64 get_signed(va_list* ap, int longness) {
    if (longness >= 2) return va_arg(*ap, long long);
    if (longness == 1) return va_arg(*ap, long);
    return va_arg(*ap, int);
}

// One conversion (not '\0'): its argument formatted, or an unknown conversion echoed.
void put_conversion(Out& o, char conv, const Spec& s, va_list* ap) {
    switch (conv) {
        case 'd':
        case 'i': {
            i64 v = get_signed(ap, s.longness);
            u64 mag = v < 0 ? u64(0) - static_cast<u64>(v) : static_cast<u64>(v);
            put_number(o, mag, v < 0, 10, false, s.width, s.left, s.pad, nullptr);
            break;
        }
        case 'u':
            put_number(o, get_unsigned(ap, s.longness), false, 10, false, s.width, s.left, s.pad, nullptr);
            break;
        case 'x':
            put_number(o, get_unsigned(ap, s.longness), false, 16, false, s.width, s.left, s.pad,
                       s.alt ? "0x" : nullptr);
            break;
        case 'X':
            put_number(o, get_unsigned(ap, s.longness), false, 16, true, s.width, s.left, s.pad,
                       s.alt ? "0X" : nullptr);
            break;
        case 'p':
            put_number(o, reinterpret_cast<uptr>(va_arg(*ap, void*)), false, 16, false, s.width, s.left, s.pad, "0x");
            break;
        case 'c': {
            char c = static_cast<char>(va_arg(*ap, int));
            put_padded(o, &c, 1, s.width, s.left, ' ');
            break;
        }
        case 's': {
            const char* str = va_arg(*ap, const char*);
            if (!str) str = "(null)";
            usize n = 0;
            while (str[n] && (s.precision < 0 || n < static_cast<usize>(s.precision))) ++n;
            put_padded(o, str, n, s.width, s.left, ' ');
            break;
        }
        case '%':
            o.put('%');
            break;
        default:
            o.put('%');
            o.put(conv);
            break;
    }
}

}  // namespace

usize vformat(char* buf, usize cap, const char* fmt, va_list ap) {
    Out o{buf, cap};
    va_list args;  // passed on by pointer (va_list may be an array type)
    va_copy(args, ap);
    for (const char* p = fmt; *p; ++p) {
        if (*p != '%') {
            o.put(*p);
            continue;
        }
        Spec spec;
        p = parse_spec(p + 1, &args, spec);
        if (*p == '\0') break;  // a lone '%' at the end
        put_conversion(o, *p, spec, &args);
    }
    va_end(args);
    if (cap > 0) buf[o.len < cap ? o.len : cap - 1] = '\0';
    return o.len;
}

usize format(char* buf, usize cap, const char* fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    usize n = vformat(buf, cap, fmt, ap);
    va_end(ap);
    return n;
}

}  // namespace hv
