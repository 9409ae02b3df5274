/*
 * Guest instruction counter for QEMU TCG (plugin API version 1), for mote's benchmarks.
 *
 * Counts every executed guest instruction (inline add per translation block). Optional
 * arguments:
 *   start=ADDR,end=ADDR  also count instructions between executions of the blocks that begin
 *                        at these addresses (the firmware's bench markers), per region pass
 *   profile=on           count per translation-block address inside the region (or the whole
 *                        run without markers), for a per-function profile
 *   out=FILE             write results there (default: stderr)
 * Output lines: "total N", "region N" (sum over passes), "passes N", "block 0xADDR N".
 *
 * QEMU does not install its plugin header with Debian's packages, so the few declarations used
 * are written out here, matching include/qemu/qemu-plugin.h of API version 1.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef uint64_t qemu_plugin_id_t;
struct qemu_plugin_tb;
typedef struct qemu_info_t qemu_info_t;
enum qemu_plugin_cb_flags { QEMU_PLUGIN_CB_NO_REGS = 0 };
enum qemu_plugin_op { QEMU_PLUGIN_INLINE_ADD_U64 = 0 };
typedef void (*tb_trans_cb_t)(qemu_plugin_id_t id, struct qemu_plugin_tb *tb);
typedef void (*vcpu_udata_cb_t)(unsigned int vcpu_index, void *userdata);
typedef void (*udata_cb_t)(qemu_plugin_id_t id, void *userdata);

void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id, tb_trans_cb_t cb);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *tb);
uint64_t qemu_plugin_tb_vaddr(const struct qemu_plugin_tb *tb);
void qemu_plugin_register_vcpu_tb_exec_inline(struct qemu_plugin_tb *tb, enum qemu_plugin_op op,
                                              void *ptr, uint64_t imm);
void qemu_plugin_register_vcpu_tb_exec_cb(struct qemu_plugin_tb *tb, vcpu_udata_cb_t cb,
                                          enum qemu_plugin_cb_flags flags, void *userdata);
void qemu_plugin_register_atexit_cb(qemu_plugin_id_t id, udata_cb_t cb, void *userdata);

__attribute__((visibility("default"))) int qemu_plugin_version = 1;

struct block {
    uint64_t vaddr;
    uint64_t n_insns;
    uint64_t count; /* instructions executed inside the region */
    struct block *next;
};

static uint64_t total, region, region_begin, passes;
static uint64_t start_addr = UINT64_MAX, end_addr = UINT64_MAX;
static int inside, profile;
static struct block *blocks;
static const char *out_path;

static void on_start(unsigned int vcpu, void *u) {
    (void)vcpu;
    (void)u;
    inside = 1;
    region_begin = total;
}

static void on_end(unsigned int vcpu, void *u) {
    (void)vcpu;
    (void)u;
    if (inside) {
        region += total - region_begin;
        passes++;
    }
    inside = 0;
}

static void on_block(unsigned int vcpu, void *u) {
    (void)vcpu;
    struct block *b = u;
    if (inside || start_addr == UINT64_MAX)
        b->count += b->n_insns;
}

static void on_translate(qemu_plugin_id_t id, struct qemu_plugin_tb *tb) {
    (void)id;
    uint64_t va = qemu_plugin_tb_vaddr(tb);
    size_t n = qemu_plugin_tb_n_insns(tb);
    /* markers first so the marker block's own instructions fall outside the region */
    if (va == start_addr)
        qemu_plugin_register_vcpu_tb_exec_cb(tb, on_start, QEMU_PLUGIN_CB_NO_REGS, NULL);
    if (va == end_addr)
        qemu_plugin_register_vcpu_tb_exec_cb(tb, on_end, QEMU_PLUGIN_CB_NO_REGS, NULL);
    qemu_plugin_register_vcpu_tb_exec_inline(tb, QEMU_PLUGIN_INLINE_ADD_U64, &total, n);
    if (profile) {
        struct block *b = calloc(1, sizeof *b);
        b->vaddr = va;
        b->n_insns = n;
        b->next = blocks;
        blocks = b;
        qemu_plugin_register_vcpu_tb_exec_cb(tb, on_block, QEMU_PLUGIN_CB_NO_REGS, b);
    }
}

static void on_exit_(qemu_plugin_id_t id, void *u) {
    (void)id;
    (void)u;
    FILE *f = out_path ? fopen(out_path, "w") : stderr;
    if (!f)
        f = stderr;
    fprintf(f, "total %" PRIu64 "\n", total);
    if (start_addr != UINT64_MAX)
        fprintf(f, "region %" PRIu64 "\npasses %" PRIu64 "\n", region, passes);
    for (struct block *b = blocks; b; b = b->next)
        if (b->count)
            fprintf(f, "block 0x%" PRIx64 " %" PRIu64 "\n", b->vaddr, b->count);
    if (f != stderr)
        fclose(f);
}

int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc, char **argv) {
    (void)info;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (!strncmp(a, "start=", 6))
            start_addr = strtoull(a + 6, NULL, 0) & ~1ull; /* drop the Thumb bit */
        else if (!strncmp(a, "end=", 4))
            end_addr = strtoull(a + 4, NULL, 0) & ~1ull;
        else if (!strcmp(a, "profile=on"))
            profile = 1;
        else if (!strncmp(a, "out=", 4))
            out_path = a + 4;
        else {
            fprintf(stderr, "insn_count: unknown argument '%s'\n", a);
            return -1;
        }
    }
    qemu_plugin_register_vcpu_tb_trans_cb(id, on_translate);
    qemu_plugin_register_atexit_cb(id, on_exit_, NULL);
    return 0;
}
