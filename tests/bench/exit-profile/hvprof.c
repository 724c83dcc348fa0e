/* A QEMU TCG plugin for tests/bench/exit-profile/run: per-instruction execution counts inside [base, base + size)
 * (the hypervisor's text), and one total for every other instruction (the guest). At exit it writes `other N` and
 * one `ADDR COUNT` line per executed instruction to `out`. Arguments: base=0x..,size=0x..,out=FILE.
 * Plugin API version 1 (QEMU 7.2): the few entry points it uses are declared here, no QEMU header needed.
 * Single-threaded TCG (-icount) only: the inline adds are not atomic. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
typedef uint64_t qemu_plugin_id_t;
struct qemu_plugin_tb;
struct qemu_plugin_insn;
typedef struct {
    const char* target_name;
    struct {
        int min, cur;
    } version;
    bool system_emulation;
    union {
        struct {
            int smp_vcpus, max_vcpus;
        } system;
    };
} qemu_info_t;
enum qemu_plugin_op { QEMU_PLUGIN_INLINE_ADD_U64 };
typedef void (*tb_trans_cb)(qemu_plugin_id_t, struct qemu_plugin_tb*);
typedef void (*udata_cb)(qemu_plugin_id_t, void*);
extern void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t, tb_trans_cb);
extern size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb*);
extern struct qemu_plugin_insn* qemu_plugin_tb_get_insn(const struct qemu_plugin_tb*, size_t);
extern uint64_t qemu_plugin_insn_vaddr(const struct qemu_plugin_insn*);
extern void qemu_plugin_register_vcpu_insn_exec_inline(struct qemu_plugin_insn*, enum qemu_plugin_op, void*, uint64_t);
extern void qemu_plugin_register_atexit_cb(qemu_plugin_id_t, udata_cb, void*);
__attribute__((visibility("default"))) int qemu_plugin_version = 1;
static uint64_t base = 0x40200000, size = 0x40000;
static uint64_t* counts;
static uint64_t other;
static char out[512] = "/tmp/hvprof.txt";
static void trans(qemu_plugin_id_t id, struct qemu_plugin_tb* tb) {
    size_t n = qemu_plugin_tb_n_insns(tb);
    for (size_t i = 0; i < n; i++) {
        struct qemu_plugin_insn* insn = qemu_plugin_tb_get_insn(tb, i);
        uint64_t pc = qemu_plugin_insn_vaddr(insn);
        uint64_t* c = (pc >= base && pc < base + size) ? &counts[(pc - base) / 4] : &other;
        qemu_plugin_register_vcpu_insn_exec_inline(insn, QEMU_PLUGIN_INLINE_ADD_U64, c, 1);
    }
}
static void fin(qemu_plugin_id_t id, void* p) {
    FILE* f = fopen(out, "w");
    if (!f) return;
    fprintf(f, "other %llu\n", (unsigned long long)other);
    for (uint64_t i = 0; i < size / 4; i++)
        if (counts[i]) fprintf(f, "%llx %llu\n", (unsigned long long)(base + 4 * i), (unsigned long long)counts[i]);
    fclose(f);
}
__attribute__((visibility("default"))) int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t* info, int argc,
                                                               char** argv) {
    for (int i = 0; i < argc; i++) {
        if (!strncmp(argv[i], "base=", 5))
            base = strtoull(argv[i] + 5, 0, 0);
        else if (!strncmp(argv[i], "size=", 5))
            size = strtoull(argv[i] + 5, 0, 0);
        else if (!strncmp(argv[i], "out=", 4))
            snprintf(out, sizeof out, "%s", argv[i] + 4);
    }
    counts = calloc(size / 4, 8);
    qemu_plugin_register_vcpu_tb_trans_cb(id, trans);
    qemu_plugin_register_atexit_cb(id, fin, 0);
    return 0;
}
