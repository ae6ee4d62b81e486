/* bulkload.c: fills an index with synthetic live records, fast, for the
 * cost-growth and index-density benchmarks (make bench).
 *
 *     bulkload [--count=N] [--from=A] [--batch=B] [--keys=bench|photos]
 *              [--now=T] [--print] [config flags, e.g. --db=DIR]
 *
 * Key set "bench" (the default): /bench-<A> ... /bench-<A+N-1>.  Key set
 * "photos": paths like /photos/2019/07/14/IMG_123456.jpg (33 to 39 bytes,
 * sharing the prefixes of a photo library), a pseudo-random function of the
 * key number, so a rerun writes the same set.  Each record is in
 * minikeyvalue's format ("HASH<md5 of value-<i>>" + the key's placement over
 * the configured volumes) plus what mkv stores beside it: a value size in
 * [1 MiB, 1 GiB) and a write time in the year before T (default
 * 2026-12-01 00:00 UTC, fixed so that the set does not depend on the day),
 * both pseudo-random functions of the key number too.
 *
 * Into the index: B puts per transaction, commits not flushed until the end,
 * then a checkpoint (the pages reach the data files).  No value files are
 * written: the records only make the index big.  Run it while no worker has
 * the environment open (it may run recovery).  With --print the same records
 * go to stdout instead, as "key<TAB>record" lines in the original's text form
 * (%XX escapes as in mkv-dump), the input of tests/tools/ldb-write: the same
 * records in LevelDB, the original's index. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "config.h"
#include "exitcodes.h"
#include "index.h"
#include "keys.h"
#include "md5.h"
#include "num.h"
#include "placement.h"
#include "record.h"

#define KEY_CAP     64
#define BATCH_MAX   100000
#define DEFAULT_NOW 1796083200LL /* 2026-12-01 00:00:00 UTC */
#define YEAR_SECS   (365LL * 86400)

enum keyset { KEYS_BENCH, KEYS_PHOTOS };

struct options {
    long count;       /* records to write */
    long from;        /* first key number */
    int batch;        /* puts per transaction */
    enum keyset keys; /* which key names */
    long long now;    /* write times fall in the year before this */
    int print;        /* lines on stdout instead of the index */
};

struct batch {
    char (*keybuf)[KEY_CAP];
    const char **keys;
    size_t *klens;
    struct mkv_record *recs;
};

static void usage(void)
{
    fprintf(stderr,
            "usage: bulkload [--count=N] [--from=A] [--batch=B] [--keys=bench|photos] [--now=T]\n"
            "                [--print] [config flags]\n"
            "  writes N live records into the index: keys /bench-A .. /bench-(A+N-1), or\n"
            "  with --keys=photos photo-library paths (/photos/YYYY/MM/DD/IMG_NNNNNN.jpg...)\n"
            "  made from the numbers A .. A+N-1; sizes in [1 MiB, 1 GiB), write times in\n"
            "  the year before T (seconds since the epoch, default 2026-12-01 UTC).\n"
            "  --print: the records on stdout as 'key<TAB>record' lines (the original's\n"
            "  text, %%XX escapes) instead, for tests/tools/ldb-write.\n"
            "  (defaults: N=1000000, A=0, B=5000; --db=DIR, --volumes=... as mkv-fcgi)\n");
}

static int parse_keys(const char *s, enum keyset *out)
{
    if (!strcmp(s, "bench"))
        *out = KEYS_BENCH;
    else if (!strcmp(s, "photos"))
        *out = KEYS_PHOTOS;
    else
        return -1;
    return 0;
}

/* Our own flags (config_split): 1 taken, 0 a setting's, -1 a bad value. */
static int own_arg(void *ctx, const char *a, char *err, size_t errlen)
{
    struct options *o = ctx;
    long long v;

    if (!strncmp(a, "--count=", 8)) {
        if (num_parse(a + 8, 0, 1000000000L, &v) < 0)
            goto bad;
        o->count = (long)v;
    } else if (!strncmp(a, "--from=", 7)) {
        if (num_parse(a + 7, 0, 1000000000L, &v) < 0)
            goto bad;
        o->from = (long)v;
    } else if (!strncmp(a, "--batch=", 8)) {
        if (num_parse(a + 8, 1, BATCH_MAX, &v) < 0)
            goto bad;
        o->batch = (int)v;
    } else if (!strncmp(a, "--now=", 6)) {
        /* at least a year after the epoch: write times stay positive */
        if (num_parse(a + 6, YEAR_SECS, 1LL << 40, &o->now) < 0)
            goto bad;
    } else if (!strncmp(a, "--keys=", 7)) {
        if (parse_keys(a + 7, &o->keys) < 0)
            goto bad;
    } else if (!strcmp(a, "--print")) {
        o->print = 1;
    } else {
        return 0;
    }
    return 1;
bad:
    snprintf(err, errlen, "bad value in %.64s", a);
    return -1;
}

/* splitmix64: a good 64-bit mix of (key number, purpose), so that each
 * property of a record is a fixed pseudo-random function of its number. */
static uint64_t mix(uint64_t n, uint64_t salt)
{
    uint64_t z = n * 0x9e3779b97f4a7c15ULL + salt * 0xbf58476d1ce4e5b9ULL + 0x632be59bd9b4e5b1ULL;

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static int days_in(int year, int month)
{
    static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;

    return days[month - 1] + (month == 2 && leap);
}

/* /photos/YYYY/MM/DD/<camera prefix><number>[_edit].<ext>.  The number is a
 * permutation of i mod 10^6 (an odd multiplier not divisible by 5 is prime
 * to 10^6) plus 10^6 per million above: distinct for every i, so no two key
 * numbers collide on one key, whatever dates they draw. */
static int photo_key(long i, char *out, size_t cap)
{
    static const char *const still[] = {".jpg", ".jpg", ".jpg",  ".jpg",  ".jpg",  ".jpg",
                                        ".jpg", ".jpg", ".heic", ".heic", ".jpeg", ".png"};
    uint64_t r = mix((uint64_t)i, 1), s = mix((uint64_t)i, 2);
    long long num = ((long long)(i % 1000000) * 736279 + 12345) % 1000000 + i / 1000000 * 1000000LL;
    int year = 2015 + (int)(r % 12), month = 1 + (int)((r >> 8) % 12);
    int day = 1 + (int)((r >> 16) % (uint64_t)days_in(year, month));
    unsigned kind = (unsigned)(s % 20); /* 14 IMG_, 3 DSC_, 2 PXL_, 1 VID_ in 20 */
    const char *pre = kind < 14 ? "IMG_" : kind < 17 ? "DSC_" : kind < 19 ? "PXL_" : "VID_";
    const char *ext = kind == 19 ? ".mp4" : still[(s >> 8) % 12];
    const char *edit = kind != 19 && (s >> 16) % 10 == 0 ? "_edit" : "";

    return snprintf(out, cap, "/photos/%04d/%02d/%02d/%s%06lld%s%s", year, month, day, pre, num,
                    edit, ext);
}

/* Log-uniform in [1 MiB, 1 GiB): a power of two 2^20..2^29 drawn evenly,
 * then a size evenly in [2^e, 2^(e+1)): as many 2 MiB values as 200 MiB
 * ones, closer to a blob store than an even draw over the range (where 99%
 * would be above 10 MiB). */
static unsigned long long value_size(long i)
{
    uint64_t r = mix((uint64_t)i, 3);
    unsigned e = 20 + (unsigned)(r % 10);

    return (1ULL << e) + (r >> 8) % (1ULL << e);
}

static int make_key(const struct options *o, long i, char *out, size_t cap)
{
    if (o->keys == KEYS_PHOTOS)
        return photo_key(i, out, cap);
    return snprintf(out, cap, "/bench-%ld", i);
}

/* Key number i's key into key (KEY_CAP bytes, *klen) and its record. */
static int make_record(const struct mkv_config *cfg, const struct options *o, long i, char *key,
                       size_t *klen, struct mkv_record *rec)
{
    struct mkv_placement p;
    unsigned char d[16];
    char val[32];
    int kl = make_key(o, i, key, KEY_CAP);
    int vlen = snprintf(val, sizeof(val), "value-%ld", i);

    if (kl < 0 || kl >= KEY_CAP || vlen < 0 || vlen >= (int)sizeof(val))
        return -1;
    *klen = (size_t)kl;
    if (key2volumes(cfg, key, (size_t)kl, &p) < 0 || md5_digest(val, (size_t)vlen, d) < 0)
        return -1;
    rec->deleted = 0;
    md5_hex(d, rec->hash);
    record_set_vols(rec, &p);
    rec->has_size = 1;
    rec->size = value_size(i);
    rec->mtime = o->now - 1 - (long long)(mix((uint64_t)i, 4) % (uint64_t)YEAR_SECS);
    rec->extlen = 0;
    return 0;
}

static void batch_free(struct batch *b)
{
    free(b->keybuf);
    free(b->keys);
    free(b->klens);
    free(b->recs);
}

static int batch_alloc(struct batch *b, int n)
{
    b->keybuf = calloc((size_t)n, KEY_CAP);
    b->keys = calloc((size_t)n, sizeof(*b->keys));
    b->klens = calloc((size_t)n, sizeof(*b->klens));
    b->recs = calloc((size_t)n, sizeof(*b->recs));
    if (!b->keybuf || !b->keys || !b->klens || !b->recs) {
        batch_free(b);
        return -1;
    }
    for (int i = 0; i < n; i++)
        b->keys[i] = b->keybuf[i];
    return 0;
}

#define TRIM_EVERY 1000000 /* records between log trims */

/* Makes what was written durable, checkpoints and removes the log files
 * the checkpoint made unneeded: a load of 10M records would otherwise keep
 * every byte of log it wrote (gigabytes).  A bulk load owns the index while
 * it runs (workers stopped, no backup under way: see the usage). */
static int trim_log(struct mkv_index *ix)
{
    DB_ENV *env;
    int ret;

    if (index_flush(ix) != MKV_OK || index_checkpoint(ix, 0, 0) != MKV_OK ||
        !(env = index_env_hold(ix)))
        return -1;
    ret = env->log_archive(env, NULL, DB_ARCH_REMOVE);
    index_env_release(ix);
    if (ret != 0)
        fprintf(stderr, "bulkload: trimming the log: %s\n", db_strerror(ret));
    return ret == 0 ? 0 : -1;
}

static int load(const struct mkv_config *cfg, struct mkv_index *ix, const struct options *o)
{
    struct batch b;
    long done = 0;

    if (batch_alloc(&b, o->batch) < 0) {
        fprintf(stderr, "bulkload: out of memory\n");
        return -1;
    }
    while (done < o->count) {
        int n = (int)(o->count - done < o->batch ? o->count - done : o->batch);

        for (int j = 0; j < n; j++)
            if (make_record(cfg, o, o->from + done + j, b.keybuf[j], &b.klens[j], &b.recs[j]) < 0) {
                fprintf(stderr, "bulkload: cannot build record %ld\n", o->from + done + j);
                goto fail;
            }
        if (index_put_batch(ix, b.keys, b.klens, b.recs, n) != MKV_OK) {
            fprintf(stderr, "bulkload: write failed after %ld records\n", done);
            goto fail;
        }
        done += n;
        if (done % TRIM_EVERY < n && done < o->count && trim_log(ix) < 0)
            goto fail;
    }
    batch_free(&b);
    return 0;

fail:
    batch_free(&b);
    return -1;
}

/* One "key<TAB>record" line, both escaped as mkv-dump does (ldb-write
 * decodes them): the original's record text, without size and time, which
 * its format has no room for.  Adds the key's and the record's bytes (not
 * escaped: what LevelDB is given) to *text. */
static int print_one(const struct mkv_config *cfg, const struct options *o, long i,
                     unsigned long long *text)
{
    static struct mkv_record rec;
    static char rtext[MKV_RECORD_MAX + 1], esc[3 * MKV_RECORD_MAX + 1];
    char key[KEY_CAP], kesc[3 * KEY_CAP + 1];
    size_t klen;
    int tlen;

    if (make_record(cfg, o, i, key, &klen, &rec) < 0 ||
        (tlen = record_encode(&rec, rtext, sizeof(rtext))) < 0 ||
        escape_nonprint(key, klen, kesc, sizeof(kesc)) < 0 ||
        escape_nonprint(rtext, (size_t)tlen, esc, sizeof(esc)) < 0) {
        fprintf(stderr, "bulkload: cannot build record %ld\n", i);
        return -1;
    }
    if (printf("%s\t%s\n", kesc, esc) < 0) {
        perror("bulkload: stdout");
        return -1;
    }
    *text += klen + (size_t)tlen;
    return 0;
}

/* Every record on stdout; their keys' and records' bytes in *text. */
static int print_all(const struct mkv_config *cfg, const struct options *o,
                     unsigned long long *text)
{
    for (long i = 0; i < o->count; i++)
        if (print_one(cfg, o, o->from + i, text) < 0)
            return -1;
    if (fflush(stdout) != 0) {
        perror("bulkload: stdout");
        return -1;
    }
    return 0;
}

/* The index part: open, load, flush, checkpoint (so that the data files
 * hold every page: their size is what the density bench measures), close. */
static int into_index(const struct mkv_config *cfg, const struct options *o)
{
    struct mkv_index ix;
    char err[512];
    int rc;

    if (index_open(&ix, cfg->db, cfg->cache_mb, err, sizeof(err)) < 0) {
        fprintf(stderr, "bulkload: %s\n", err);
        return MKV_EXIT_INDEX;
    }
    if (index_use_cfg(&ix, cfg) != MKV_OK) {
        fprintf(stderr, "bulkload: cannot record the volume set in the index\n");
        index_close(&ix);
        return MKV_EXIT_INDEX;
    }
    ix.nosync = 1;
    rc = load(cfg, &ix, o);
    if (rc == 0 && index_flush(&ix) != MKV_OK)
        rc = -1;
    if (rc == 0 && index_checkpoint(&ix, 0, 0) != MKV_OK)
        rc = -1;
    index_close(&ix);
    return rc < 0 ? MKV_EXIT_INCOMPLETE : MKV_EXIT_OK;
}

int main(int argc, char **argv)
{
    struct options o = {1000000, 0, 5000, KEYS_BENCH, DEFAULT_NOW, 0};
    const struct mkv_tool tool = {"bulkload", own_arg, &o, usage, NULL};
    struct mkv_config cfg;
    unsigned long long text = 0;
    double t0, dt;
    int rc;

    if (admin_start(&tool, argc, argv, &cfg, &rc) < 0)
        return rc;
    t0 = clock_ms() / 1e3;
    if (o.print)
        rc = print_all(&cfg, &o, &text) < 0 ? MKV_EXIT_INCOMPLETE : MKV_EXIT_OK;
    else
        rc = into_index(&cfg, &o);
    dt = clock_ms() / 1e3 - t0;
    if (rc != MKV_EXIT_OK)
        return rc;
    /* On stderr when printing (stdout is the records), with the text's size:
     * tools/bench reads it, "text=<bytes>". */
    fprintf(o.print ? stderr : stdout,
            "bulkload: %ld %s records (from number %ld) in %.1fs, %.0f records/s", o.count,
            o.keys == KEYS_PHOTOS ? "photos" : "bench", o.from, dt,
            dt > 0 ? (double)o.count / dt : 0.0);
    if (o.print)
        fprintf(stderr, "; keys + records text=%llu bytes", text);
    fprintf(o.print ? stderr : stdout, "\n");
    return MKV_EXIT_OK;
}
