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

}  // namespace

usize vformat(char* buf, usize cap, const char* fmt, va_list ap) {
    Out o{buf, cap};
    for (const char* p = fmt; *p; ++p) {
        if (*p != '%') {
            o.put(*p);
            continue;
        }
        ++p;
        bool left = false;
        char pad = ' ';
        bool alt = false;
        for (;; ++p) {
            if (*p == '-')
                left = true;
            else if (*p == '0')
                pad = '0';
            else if (*p == '#')
                alt = true;
            else
                break;
        }
        int width = 0;
        if (*p == '*') {
            width = va_arg(ap, int);
            ++p;
        } else {
            while (*p >= '0' && *p <= '9') width = width * 10 + (*p++ - '0');
        }
        int precision = -1;
        if (*p == '.') {
            ++p;
            precision = 0;
            if (*p == '*') {
                precision = va_arg(ap, int);
                ++p;
            } else {
                while (*p >= '0' && *p <= '9') precision = precision * 10 + (*p++ - '0');
            }
        }
        int longness = 0;  // 0 int, 1 long, 2 long long / size_t
        while (*p == 'l' || *p == 'z' || *p == 'h') {
            if (*p == 'l') ++longness;
            if (*p == 'z') longness = 2;
            ++p;
        }
        auto get_unsigned = [&]() -> u64 {
            if (longness >= 2) return va_arg(ap, unsigned long long);
            if (longness == 1) return va_arg(ap, unsigned long);
            return va_arg(ap, unsigned int);
        };
        auto get_signed = [&]() -> i64 {
            if (longness >= 2) return va_arg(ap, long long);
            if (longness == 1) return va_arg(ap, long);
            return va_arg(ap, int);
        };
        switch (*p) {
            case 'd':
            case 'i': {
                i64 v = get_signed();
                u64 mag = v < 0 ? u64(0) - static_cast<u64>(v) : static_cast<u64>(v);
                put_number(o, mag, v < 0, 10, false, width, left, pad, nullptr);
                break;
            }
            case 'u':
                put_number(o, get_unsigned(), false, 10, false, width, left, pad, nullptr);
                break;
            case 'x':
                put_number(o, get_unsigned(), false, 16, false, width, left, pad, alt ? "0x" : nullptr);
                break;
            case 'X':
                put_number(o, get_unsigned(), false, 16, true, width, left, pad, alt ? "0X" : nullptr);
                break;
            case 'p':
                put_number(o, reinterpret_cast<uptr>(va_arg(ap, void*)), false, 16, false, width, left, pad, "0x");
                break;
            case 'c': {
                char c = static_cast<char>(va_arg(ap, int));
                put_padded(o, &c, 1, width, left, ' ');
                break;
            }
            case 's': {
                const char* s = va_arg(ap, const char*);
                if (!s) s = "(null)";
                usize n = 0;
                while (s[n] && (precision < 0 || n < static_cast<usize>(precision))) ++n;
                put_padded(o, s, n, width, left, ' ');
                break;
            }
            case '%':
                o.put('%');
                break;
            case '\0':
                --p;
                break;
            default:
                o.put('%');
                o.put(*p);
                break;
        }
    }
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
