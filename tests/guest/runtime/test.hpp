// The guest test framework: GUEST_TEST(name) { ... } bodies registered in the `guest_tests` linker section, counted
// EXPECT_* checks, and a run that ends with the line `N passed, M failed` followed by PSCI SYSTEM_OFF.
//
// A test passes if none of its checks failed. ASSERT_* also return from the test on failure. GUEST_SKIP(reason)
// ends a test as skipped (not counted as passed or failed; a separate `K skipped` line precedes the summary).
// Tests run in link order (the order of GUEST_TEST in the payload file).
#pragma once

#include "lib/types.hpp"
#include "tests/guest/runtime/fdt.hpp"

namespace rt {

using namespace hv;

struct TestCase {
    const char* name;
    void (*fn)();
};
static_assert(sizeof(TestCase) == 16);

// --- results of the running test -----------------------------------------------------------------------------
void check_failed(const char* file, int line, const char* fmt, ...) __attribute__((format(printf, 3, 4)));
void check_passed();
void skip_current(const char* why);
// End the whole run now: fail the running test, print the summary, SYSTEM_OFF. For unrecoverable states.
[[noreturn]] void abort_run(const char* why);

// --- what the runtime learnt at boot ---------------------------------------------------------------------------
// dt(), dtb_address(): tests/guest/runtime/fdt.hpp
const char* bootargs();  // /chosen/bootargs, "" if absent
// `key=value` lookup in the bootargs (space separated). Returns false if the key is absent.
bool bootarg(const char* key, const char*& value, usize& len);
u64 bootarg_u64(const char* key, u64 fallback);  // decimal or 0x-hex; optional K/M/G suffix
bool bootarg_flag(const char* key);              // `key` or `key=1`
// False when the bootargs carry `nohv`: the payload runs on plain QEMU (developer check of the payload itself),
// and hypervisor-specific expectations are skipped through REQUIRE_HYPERVISOR().
bool under_hypervisor();

// --- comparison helpers behind the macros ------------------------------------------------------------------------
template <typename T>
constexpr u64 to_u64(T* p) {
    return reinterpret_cast<uptr>(p);
}
template <typename T>
constexpr u64 to_u64(T v) {
    return static_cast<u64>(v);
}

enum class Cmp : u8 { eq, ne, lt, le, gt, ge };
bool expect_cmp_u64(Cmp op, u64 a, u64 b, const char* ea, const char* eb, const char* file, int line);
bool expect_true(bool v, bool want, const char* expr, const char* file, int line);

}  // namespace rt

#define GUEST_TEST(name)                                                                                            \
    static void guest_test_fn_##name();                                                                             \
    [[gnu::used, gnu::section("guest_tests"), gnu::aligned(8)]] static const ::rt::TestCase guest_test_case_##name{ \
        #name, guest_test_fn_##name};                                                                               \
    static void guest_test_fn_##name()

// Values are compared as 64-bit unsigned numbers (so `EXPECT_EQ(ret, -1)` works for SMCCC returns); the
// ordering checks are unsigned.
#define RT_EXPECT_CMP(op, a, b) \
    ::rt::expect_cmp_u64(::rt::Cmp::op, ::rt::to_u64(a), ::rt::to_u64(b), #a, #b, __FILE__, __LINE__)
#define EXPECT_EQ(a, b) RT_EXPECT_CMP(eq, a, b)
#define EXPECT_NE(a, b) RT_EXPECT_CMP(ne, a, b)
#define EXPECT_LT(a, b) RT_EXPECT_CMP(lt, a, b)
#define EXPECT_LE(a, b) RT_EXPECT_CMP(le, a, b)
#define EXPECT_GT(a, b) RT_EXPECT_CMP(gt, a, b)
#define EXPECT_GE(a, b) RT_EXPECT_CMP(ge, a, b)
#define EXPECT_TRUE(c) ::rt::expect_true(static_cast<bool>(c), true, #c, __FILE__, __LINE__)
#define EXPECT_FALSE(c) ::rt::expect_true(static_cast<bool>(c), false, #c, __FILE__, __LINE__)

#define ASSERT_EQ(a, b)               \
    do {                              \
        if (!EXPECT_EQ(a, b)) return; \
    } while (0)
#define ASSERT_NE(a, b)               \
    do {                              \
        if (!EXPECT_NE(a, b)) return; \
    } while (0)
#define ASSERT_GE(a, b)               \
    do {                              \
        if (!EXPECT_GE(a, b)) return; \
    } while (0)
#define ASSERT_GT(a, b)               \
    do {                              \
        if (!EXPECT_GT(a, b)) return; \
    } while (0)
#define ASSERT_LE(a, b)               \
    do {                              \
        if (!EXPECT_LE(a, b)) return; \
    } while (0)
#define ASSERT_LT(a, b)               \
    do {                              \
        if (!EXPECT_LT(a, b)) return; \
    } while (0)
#define ASSERT_TRUE(c)               \
    do {                             \
        if (!EXPECT_TRUE(c)) return; \
    } while (0)
#define ASSERT_FALSE(c)               \
    do {                              \
        if (!EXPECT_FALSE(c)) return; \
    } while (0)

#define GUEST_SKIP(why)          \
    do {                         \
        ::rt::skip_current(why); \
        return;                  \
    } while (0)
#define REQUIRE_HYPERVISOR()                                                      \
    do {                                                                          \
        if (!::rt::under_hypervisor()) GUEST_SKIP("needs the hypervisor (nohv)"); \
    } while (0)
