/* import.c: mkv-import, copies an original minikeyvalue LevelDB index into
 * ours, record for record:
 *
 *     mkv-import [--dry-run] [--overwrite] [-c FILE] [--db=DIR] LEVELDB_DIR
 *
 * The record text is the same in both (SPEC.md 4), so every value is written
 * byte for byte unchanged, after checks: the key is 1..MKV_HASHKEY_MAX bytes
 * and starts with '/'; the value decodes (record_decode), its hash is 32
 * lowercase hex digits, no volume path is empty, and it encodes back to the
 * same bytes.  A record failing them is reported and skipped.
 *
 * A key that already has a different record in our index is a conflict: it
 * is reported and left alone unless --overwrite.  An identical record counts
 * as already present.  Each key is written under its key lock, the one the
 * workers take, so an import may run while they serve.  Writes are made
 * durable by one log flush at the end (rerunning an interrupted import is
 * harmless).
 *
 * The LevelDB is opened without create_if_missing, and only after checking
 * that the directory exists and holds a CURRENT file, so a wrong path fails
 * cleanly instead of leaving an empty database behind.  The original server
 * must be stopped (LevelDB allows one process). */
#include <errno.h>
#include <leveldb/c.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "config.h"
#include "index.h"
#include "keys.h"
#include "log.h"
#include "placement.h"
#include "record.h"

#define MAX_CONFIG_ARGS 256
#define STR(x)          #x
#define XSTR(x)         STR(x)
#define SHOW_MAX        200       /* bytes of a key or value quoted in a message */
#define LOCK_TRIES      1000      /* a key held by a writer: retry this often ... */
#define LOCK_SLEEP_NS   10000000L /* ... this long apart (10 s in all) */

enum { EXIT_HELP = -1, EXIT_OK = 0, EXIT_FAILED = 1, EXIT_USAGE = 2, EXIT_SKIPPED = 3 };

struct options {
    int dry_run;
    int overwrite;
    const char *src;
};

struct tally {
    long read;
    long written;   /* new keys, or conflicts replaced with --overwrite */
    long present;   /* identical record already there */
    long malformed; /* skipped */
    long conflicts; /* different record already there */
    long busy;      /* key held by a writer the whole time: skipped */
};

struct importer {
    struct options opt;
    struct mkv_index ix;
    struct tally t;
};

static void usage(void)
{
    fprintf(stderr, "usage: mkv-import [--dry-run] [--overwrite] [-c FILE] [--name=value ...] "
                    "LEVELDB_DIR\n\n"
                    "Copies every record of an original minikeyvalue LevelDB index (the\n"
                    "server stopped) into the index named by `db`, unchanged.\n"
                    "  --dry-run    check and count only, write nothing\n"
                    "  --overwrite  replace records that differ (default: report and keep them)\n\n"
                    "Exit status: 0 done, 1 failed (cannot open, read or write), 2 bad usage,\n"
                    "3 done, but malformed records or keys a writer kept locked were\n"
                    "skipped, or conflicts were kept.\n\n");
    config_usage("mkv-import");
}

/* Quotes at most SHOW_MAX bytes of s for a message, escaped as mkv-dump
 * escapes keys; out must hold 3 * SHOW_MAX + 4 bytes. */
static const char *show(const char *s, size_t n, char *out, size_t cap)
{
    size_t m = n > SHOW_MAX ? SHOW_MAX : n;
    int len = escape_nonprint(s, m, out, cap - 3);

    if (len < 0)
        return "(unprintable)";
    if (m < n)
        memcpy(out + len, "...", 4);
    return out;
}

static int is_lower_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return 1;
}

/* Returns NULL if key is importable, else the reason. */
static const char *check_key(const char *key, size_t klen)
{
    if (klen == 0)
        return "empty key";
    if (klen > MKV_HASHKEY_MAX)
        return "key longer than " XSTR(MKV_HASHKEY_MAX) " bytes";
    if (key[0] != '/')
        return "key does not start with '/'";
    return NULL;
}

/* Returns NULL if val is a well-formed record that index_put will store
 * byte for byte, else the reason. */
static const char *check_value(const char *val, size_t vlen, struct mkv_record *rec)
{
    char enc[MKV_RECORD_MAX];
    int n;

    if (vlen >= MKV_RECORD_MAX)
        return "record too long";
    if (record_decode(val, vlen, rec) < 0)
        return "not a record (bad HASH, too many or too long volume paths)";
    if (rec->hash[0] != '\0' && (strlen(rec->hash) != 32 || !is_lower_hex(rec->hash, 32)))
        return "hash is not 32 lowercase hex digits";
    for (int i = 0; i < rec->nvols; i++)
        if (rec->vols[i][0] == '\0')
            return "empty volume path";
    n = record_encode(rec, enc, sizeof(enc));
    if (n < 0 || (size_t)n != vlen || memcmp(enc, val, vlen) != 0)
        return "does not re-encode to the same bytes";
    return NULL;
}

/* Takes key's write lock, waiting up to LOCK_TRIES * LOCK_SLEEP_NS for a
 * writer to finish.  Keys longer than MKV_KEY_MAX need none: no worker
 * accepts them, so nothing else writes them. */
static int lock_key(struct importer *im, const char *key, size_t klen, struct mkv_keylock *kl)
{
    const struct timespec pause = {0, LOCK_SLEEP_NS};
    int rc = MKV_BUSY;

    kl->txn = NULL;
    if (klen > MKV_KEY_MAX)
        return MKV_OK;
    for (int i = 0; i < LOCK_TRIES && rc == MKV_BUSY; i++) {
        rc = index_lock(&im->ix, key, klen, kl);
        if (rc == MKV_BUSY)
            nanosleep(&pause, NULL);
    }
    return rc;
}

/* Compares with the record in our index and writes.  Returns 0, or -1 when
 * the index failed (the import stops). */
static int store(struct importer *im, const char *key, size_t klen, const char *val, size_t vlen,
                 const struct mkv_record *rec)
{
    char cur[MKV_RECORD_MAX], qk[3 * SHOW_MAX + 4], qa[3 * SHOW_MAX + 4], qb[3 * SHOW_MAX + 4];
    struct mkv_keylock kl;
    size_t curlen = 0;
    int rc;

    if ((rc = lock_key(im, key, klen, &kl)) != MKV_OK) {
        if (rc != MKV_BUSY)
            return -1;
        fprintf(stderr, "mkv-import: skipped key '%s': a worker kept it locked\n",
                show(key, klen, qk, sizeof(qk)));
        im->t.busy++;
        return 0;
    }
    rc = index_get_raw(&im->ix, key, klen, cur, sizeof(cur), &curlen);
    if (rc == MKV_ERR)
        goto cleanup;
    if (rc == MKV_OK && curlen == vlen && !memcmp(cur, val, vlen)) {
        im->t.present++;
        goto cleanup;
    }
    if (rc == MKV_OK) {
        im->t.conflicts++;
        fprintf(stderr, "mkv-import: conflict on key '%s': index has '%s', LevelDB has '%s'%s\n",
                show(key, klen, qk, sizeof(qk)), show(cur, curlen, qa, sizeof(qa)),
                show(val, vlen, qb, sizeof(qb)),
                im->opt.overwrite ? (im->opt.dry_run ? " (would overwrite)" : " (overwritten)")
                                  : " (kept the index's)");
        if (!im->opt.overwrite)
            goto cleanup;
    }
    rc = im->opt.dry_run ? MKV_OK : index_put(&im->ix, key, klen, rec);
    if (rc == MKV_OK)
        im->t.written++;

cleanup:
    index_unlock(&im->ix, &kl);
    if (rc < 0) {
        fprintf(stderr, "mkv-import: index error on key '%s'\n", show(key, klen, qk, sizeof(qk)));
        return -1;
    }
    return 0;
}

static int import_one(struct importer *im, const char *key, size_t klen, const char *val,
                      size_t vlen)
{
    static struct mkv_record rec; /* ~8 KiB: keep it off the stack */
    char qk[3 * SHOW_MAX + 4], qv[3 * SHOW_MAX + 4];
    const char *why;

    im->t.read++;
    if ((why = check_key(key, klen)) || (why = check_value(val, vlen, &rec))) {
        fprintf(stderr, "mkv-import: skipped key '%s': %s: record '%s'\n",
                show(key, klen, qk, sizeof(qk)), why, show(val, vlen, qv, sizeof(qv)));
        im->t.malformed++;
        return 0;
    }
    return store(im, key, klen, val, vlen, &rec);
}

/* The directory must exist and look like a LevelDB: leveldb_open would
 * otherwise create the directory, a LOCK and a LOG file before failing. */
static int check_source(const char *dir)
{
    char path[PATH_MAX];
    struct stat sb;
    int n;

    if (stat(dir, &sb) != 0) {
        fprintf(stderr, "mkv-import: %s: %s\n", dir, strerror(errno));
        return -1;
    }
    if (!S_ISDIR(sb.st_mode)) {
        fprintf(stderr, "mkv-import: %s: not a directory\n", dir);
        return -1;
    }
    n = snprintf(path, sizeof(path), "%s/CURRENT", dir);
    if (n < 0 || (size_t)n >= sizeof(path)) {
        fprintf(stderr, "mkv-import: %s: path too long\n", dir);
        return -1;
    }
    if (stat(path, &sb) != 0) {
        fprintf(stderr, "mkv-import: %s is not a LevelDB database (no CURRENT file)\n", dir);
        return -1;
    }
    return 0;
}

/* Walks the LevelDB in key order.  Returns 0, or -1 on a LevelDB or index
 * error (after printing it). */
static int import_all(struct importer *im, leveldb_t *ldb)
{
    leveldb_readoptions_t *ro = leveldb_readoptions_create();
    leveldb_iterator_t *it;
    char *lerr = NULL;
    int rc = 0;

    leveldb_readoptions_set_verify_checksums(ro, 1);
    leveldb_readoptions_set_fill_cache(ro, 0);
    it = leveldb_create_iterator(ldb, ro);
    for (leveldb_iter_seek_to_first(it); leveldb_iter_valid(it); leveldb_iter_next(it)) {
        size_t klen, vlen;
        const char *key = leveldb_iter_key(it, &klen);
        const char *val = leveldb_iter_value(it, &vlen);

        if (import_one(im, key, klen, val, vlen) < 0) {
            rc = -1;
            break;
        }
    }
    leveldb_iter_get_error(it, &lerr);
    if (lerr) {
        fprintf(stderr, "mkv-import: reading %s: %s\n", im->opt.src, lerr);
        leveldb_free(lerr);
        rc = -1;
    }
    leveldb_iter_destroy(it);
    leveldb_readoptions_destroy(ro);
    return rc;
}

static leveldb_t *open_source(const char *dir)
{
    leveldb_options_t *o = leveldb_options_create();
    leveldb_t *ldb;
    char *lerr = NULL;

    leveldb_options_set_create_if_missing(o, 0);
    leveldb_options_set_paranoid_checks(o, 1);
    ldb = leveldb_open(o, dir, &lerr);
    leveldb_options_destroy(o);
    if (lerr) {
        fprintf(stderr, "mkv-import: cannot open LevelDB %s: %s%s\n", dir, lerr,
                strstr(lerr, "lock") ? " (stop the original server first)" : "");
        leveldb_free(lerr);
        if (ldb)
            leveldb_close(ldb);
        return NULL;
    }
    return ldb;
}

static void print_summary(const struct importer *im)
{
    const struct tally *t = &im->t;

    printf("records read: %ld\n", t->read);
    printf("%s: %ld\n", im->opt.dry_run ? "would write" : "written", t->written);
    printf("already present: %ld\n", t->present);
    printf("skipped (malformed): %ld\n", t->malformed);
    printf("skipped (locked by a writer): %ld\n", t->busy);
    printf("conflicts: %ld (%s)\n", t->conflicts,
           im->opt.overwrite ? (im->opt.dry_run ? "would overwrite" : "overwritten") : "kept");
}

/* Splits argv into the tool's own flags, the source and the settings for
 * config_load.  Returns EXIT_OK to go on, EXIT_HELP after printing the
 * help, or EXIT_USAGE. */
static int parse_args(int argc, char **argv, struct options *opt, char **cargv, int *cargc)
{
    *cargc = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];

        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage();
            return EXIT_HELP;
        } else if (!strcmp(a, "--dry-run")) {
            opt->dry_run = 1;
        } else if (!strcmp(a, "--overwrite")) {
            opt->overwrite = 1;
        } else if (i == 0 || !strcmp(a, "-c") || !strncmp(a, "--", 2)) {
            if (*cargc + 2 >= MAX_CONFIG_ARGS) {
                fprintf(stderr, "mkv-import: too many arguments\n");
                return EXIT_USAGE;
            }
            cargv[(*cargc)++] = argv[i];
            if (!strcmp(a, "-c") && i + 1 < argc)
                cargv[(*cargc)++] = argv[++i];
        } else if (!opt->src) {
            opt->src = a;
        } else {
            fprintf(stderr, "mkv-import: more than one LevelDB directory given\n");
            return EXIT_USAGE;
        }
    }
    cargv[*cargc] = NULL;
    if (!opt->src) {
        usage();
        return EXIT_USAGE;
    }
    return EXIT_OK;
}

int main(int argc, char **argv)
{
    static struct importer im;
    struct mkv_config cfg;
    char *cargv[MAX_CONFIG_ARGS], err[512];
    leveldb_t *ldb;
    int cargc, rc;

    if ((rc = parse_args(argc, argv, &im.opt, cargv, &cargc)) != EXIT_OK)
        return rc == EXIT_HELP ? EXIT_OK : rc;
    if (config_load(&cfg, cargc, cargv, err, sizeof(err)) < 0) {
        fprintf(stderr, "mkv-import: %s\n", err);
        return EXIT_USAGE;
    }
    log_set_level(cfg.log_level);
    if (check_source(im.opt.src) < 0 || !(ldb = open_source(im.opt.src)))
        return EXIT_FAILED;
    if (index_open(&im.ix, cfg.db, cfg.cache_mb, err, sizeof(err)) < 0) {
        fprintf(stderr, "mkv-import: %s\n", err);
        leveldb_close(ldb);
        return EXIT_FAILED;
    }
    /* Commits without a log flush each, one flush at the end: an import
     * that dies midway is simply run again (what is there counts as
     * already present). */
    im.ix.nosync = 1;
    rc = import_all(&im, ldb);
    if (index_flush(&im.ix) != MKV_OK) {
        fprintf(stderr, "mkv-import: flushing the index log failed\n");
        rc = -1;
    }
    index_close(&im.ix);
    leveldb_close(ldb);
    print_summary(&im);
    if (fflush(stdout) != 0 || rc < 0)
        return EXIT_FAILED;
    if (im.t.malformed || im.t.busy || (im.t.conflicts && !im.opt.overwrite))
        return EXIT_SKIPPED;
    return EXIT_OK;
}
