/* import.c: mkv-import, copies an original minikeyvalue LevelDB index into
 * ours, record for record:
 *
 *     mkv-import [--dry-run] [--overwrite] [-c FILE] [--db=DIR] LEVELDB_DIR
 *
 * The record text is the same in both, so every value is written byte for
 * byte unchanged, after checks: the key is 1..MKV_HASHKEY_MAX bytes and
 * starts with '/'; the value decodes (record_decode validates every field:
 * the hash is 32 lowercase hex digits, each volume path host[:port][/svXX],
 * so no stray byte reaches a worker's Location or Key-Volumes header), and it
 * encodes back to the same bytes.  A record failing them is reported and
 * skipped.
 *
 * Some keys the original stores cannot be reached through a front and the
 * workers (key_unreachable: a NUL byte, longer than 189 bytes, base64 ending
 * in '/', a '..' above the root).  They are imported (the volumes may hold
 * their files, which mkv-rebuild would bring back anyway) and each is
 * reported with the mkv-delete command that removes it, files included.
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
 * must be stopped (LevelDB allows one process).  --dry-run creates nothing
 * either: it opens our index only if one exists (else every key is new). */
#include <errno.h>
#include <leveldb/c.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "config.h"
#include "exitcodes.h"
#include "index.h"
#include "keys.h"
#include "placement.h"
#include "record.h"

#define STR(x)       #x
#define XSTR(x)      STR(x)
#define SHOW_MAX     200   /* bytes of a key or value quoted in a message */
#define LOCK_WAIT_MS 10000 /* a key held by a writer: wait this long for it */

struct options {
    int dry_run;
    int overwrite;
    const char *src;
};

struct tally {
    long read;
    long written;     /* new keys, or conflicts replaced with --overwrite */
    long present;     /* identical record already there */
    long malformed;   /* skipped */
    long conflicts;   /* different record already there */
    long busy;        /* key held by a writer the whole time: skipped */
    long unreachable; /* in our index, but no worker reaches it: reported */
};

struct importer {
    struct options opt;
    struct mkv_index ix;
    int have_ix; /* 0: a dry run without an index to compare with */
    struct tally t;
};

static void usage(void)
{
    fprintf(stderr,
            "usage: mkv-import [--dry-run] [--overwrite] [-c FILE] [--name=value ...] "
            "LEVELDB_DIR\n\n"
            "Copies every record of an original minikeyvalue LevelDB index (the\n"
            "server stopped) into the index named by `db`, unchanged.\n"
            "  --dry-run    check and count only, write nothing\n"
            "  --overwrite  replace records that differ (default: report and keep them)\n\n"
            "Records whose volume paths are not host[:port][/svXX], or whose HASH is\n"
            "not 32 lowercase hex digits, are listed and skipped.  Keys no worker can\n"
            "serve (a NUL byte, over 189 bytes, base64 ending in '/', '..' above the\n"
            "root) are imported and listed, each with the mkv-delete command that\n"
            "removes it.  --dry-run creates nothing, not even the index directory.\n"
            "Malformed records, keys a writer kept locked and conflicts kept count as\n"
            "keys it could not handle (1); so does a source it cannot open or read.\n\n"
            "%s\n",
            MKV_EXIT_HELP);
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

/* Returns NULL if val is a well-formed record whose text comes back byte
 * for byte (mkv-dump prints what the original's index held), else the
 * reason. */
static const char *check_value(const char *val, size_t vlen, struct mkv_record *rec)
{
    static char why[160];
    char enc[MKV_RECORD_MAX];
    int n;

    if (vlen >= MKV_RECORD_MAX)
        return "record too long";
    if (record_decode_why(val, vlen, rec, why, sizeof(why)) < 0)
        return why;
    n = record_encode(rec, enc, sizeof(enc));
    if (n < 0 || (size_t)n != vlen || memcmp(enc, val, vlen) != 0)
        return "does not re-encode to the same bytes";
    return NULL;
}

/* Takes key's write lock, waiting up to LOCK_WAIT_MS for a
 * writer to finish.  Keys longer than MKV_KEY_MAX need none: no worker
 * accepts them, so nothing else writes them. */
static int lock_key(struct importer *im, const char *key, size_t klen, struct mkv_keylock *kl)
{
    kl->txn = NULL;
    if (klen > MKV_KEY_MAX || !im->have_ix)
        return MKV_OK;
    return index_lock_wait(&im->ix, key, klen, kl, LOCK_WAIT_MS);
}

/* A key in our index (or one a dry run would write) that no worker reaches:
 * says so, with the command that removes it.  The key is given as mkv-dump
 * shows keys (%XX escapes), "'" escaped too so the line pastes into a shell. */
static void report_unreachable(struct importer *im, const char *key, size_t klen)
{
    static char esc[3 * MKV_HASHKEY_MAX + 1];
    const char *why = key_unreachable(key, klen);

    if (!why)
        return;
    im->t.unreachable++;
    if (escape_nonprint(key, klen, esc, sizeof(esc)) < 0) {
        fprintf(stderr, "mkv-import: a key of %zu bytes cannot be served: %s\n", klen, why);
        return;
    }
    fprintf(stderr,
            "mkv-import: key '%s' %s no worker can serve it: %s; remove it with: mkv-delete '", esc,
            im->opt.dry_run ? "would be imported, but" : "imported, but", why);
    for (const char *p = esc; *p; p++) {
        if (*p == '\'')
            fputs("%27", stderr);
        else
            fputc(*p, stderr);
    }
    fputs("'\n", stderr);
}

/* Our index's record of key in the original's text, into cur (cap bytes):
 * MKV_OK with *len, MKV_NOTFOUND, MKV_ERR; a malformed one reads as
 * "(malformed)", a conflict with any sound record. */
static int current_text(struct importer *im, const char *key, size_t klen, char *cur, size_t cap,
                        size_t *len)
{
    static struct mkv_record rec; /* ~9 KiB: keep it off the stack */
    int rc = index_get(&im->ix, key, klen, &rec), n;

    if (rc == MKV_BADREC) {
        *len = (size_t)snprintf(cur, cap, "(malformed)");
        return MKV_OK;
    }
    if (rc != MKV_OK)
        return rc;
    if ((n = record_encode(&rec, cur, cap)) < 0)
        return MKV_ERR;
    *len = (size_t)n;
    return MKV_OK;
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
    rc = im->have_ix ? current_text(im, key, klen, cur, sizeof(cur), &curlen) : MKV_NOTFOUND;
    if (rc == MKV_ERR)
        goto cleanup;
    if (rc == MKV_OK && curlen == vlen && !memcmp(cur, val, vlen)) {
        im->t.present++;
        report_unreachable(im, key, klen);
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
    if (rc == MKV_OK) {
        im->t.written++;
        report_unreachable(im, key, klen);
    }

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

/* Whether dir holds our index: a dry run opens only an existing one, since
 * index_open would create the directory and the environment's files. */
static int index_dir_exists(const char *dir)
{
    static const char *const files[] = {"records.db", "index.db"};
    char path[PATH_MAX];
    struct stat sb;

    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        int n = snprintf(path, sizeof(path), "%s/%s", dir, files[i]);

        if (n > 0 && (size_t)n < sizeof(path) && stat(path, &sb) == 0)
            return 1;
    }
    return 0;
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
    printf("unreachable through the workers: %ld%s\n", t->unreachable,
           t->unreachable ? " (listed above: mkv-delete, with this -c/--db, removes them)" : "");
    printf("conflicts: %ld (%s)\n", t->conflicts,
           im->opt.overwrite ? (im->opt.dry_run ? "would overwrite" : "overwritten") : "kept");
}

/* The tool's own flags and the source (config_split): 1 taken, 0 a
 * setting's, -1 a second source. */
static int own_arg(void *ctx, const char *a, char *err, size_t errlen)
{
    struct options *opt = ctx;

    if (!strcmp(a, "--dry-run")) {
        opt->dry_run = 1;
    } else if (!strcmp(a, "--overwrite")) {
        opt->overwrite = 1;
    } else if (a[0] == '-') {
        return 0;
    } else if (!opt->src) {
        opt->src = a;
    } else {
        snprintf(err, errlen, "more than one LevelDB directory given");
        return -1;
    }
    return 1;
}

/* The arguments name a source (admin_start). */
static int has_source(void *ctx)
{
    const struct options *opt = ctx;

    return opt->src ? 0 : -1;
}

int main(int argc, char **argv)
{
    static struct importer im;
    struct mkv_config cfg;
    const struct mkv_tool tool = {"mkv-import", own_arg, &im.opt, usage, has_source};
    char err[512];
    leveldb_t *ldb;
    int rc;

    if (admin_start(&tool, argc, argv, &cfg, &rc) < 0)
        return rc;
    if (check_source(im.opt.src) < 0 || !(ldb = open_source(im.opt.src)))
        return MKV_EXIT_INCOMPLETE;
    im.have_ix = !im.opt.dry_run || index_dir_exists(cfg.db);
    if (im.have_ix && index_open(&im.ix, cfg.db, cfg.cache_mb, err, sizeof(err)) < 0) {
        fprintf(stderr, "mkv-import: %s\n", err);
        leveldb_close(ldb);
        return MKV_EXIT_INDEX;
    }
    if (im.have_ix && index_use_cfg(&im.ix, &cfg) != MKV_OK) {
        fprintf(stderr, "mkv-import: cannot record the volume set in the index\n");
        index_close(&im.ix);
        leveldb_close(ldb);
        return MKV_EXIT_INDEX;
    }
    /* Commits without a log flush each, one flush at the end: an import
     * that dies midway is simply run again (what is there counts as
     * already present). */
    im.ix.nosync = 1;
    rc = import_all(&im, ldb);
    if (im.have_ix && !im.opt.dry_run && index_flush(&im.ix) != MKV_OK) {
        fprintf(stderr, "mkv-import: flushing the index log failed\n");
        rc = -1;
    }
    if (im.have_ix)
        index_close(&im.ix);
    leveldb_close(ldb);
    print_summary(&im);
    if (fflush(stdout) != 0 || rc < 0)
        return MKV_EXIT_INCOMPLETE;
    if (im.t.malformed || im.t.busy || (im.t.conflicts && !im.opt.overwrite))
        return MKV_EXIT_INCOMPLETE;
    return MKV_EXIT_OK;
}
