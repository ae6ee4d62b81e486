/* rebuild.c: mkv-rebuild, reconstructs the index from the files on the volumes.
 *
 * Crawl: for every volume, list its root (autoindex JSON); "svXX" directories
 * are subvolume roots, otherwise the volume itself is the root.  Each root's
 * two-hex directories are jobs for --concurrency threads, which list
 * <root>/<a>/<b>/ and every directory below it (a key whose base64 name
 * contains '/' is stored in nested directories) and decode each file name
 * back into its key.
 *
 * Merge, one found replica at a time, under the key's write lock (the same
 * lock the workers take, so it is safe while they serve):
 *   - a record exists (live or unlinked): add the replica's volume path if it
 *     is missing, placement order first; the hash and the state are kept;
 *   - no record: HEAD the file first.  Gone means a DELETE finished after we
 *     listed it: skip it, never resurrect a deleted key.  Present: write a
 *     live record (no hash: the original's rebuild has none either).
 * A file whose <a>/<b> directories do not match md5(key) cannot be served by
 * GET; it is counted and left alone.  Memory stays bounded: only one leaf
 * listing per thread is held at a time. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "config.h"
#include "crawl.h"
#include "index.h"
#include "keys.h"
#include "log.h"
#include "placement.h"
#include "record.h"
#include "volume.h"

#define MAX_ROOTS    8192
#define LOCK_WAIT_MS 30000 /* give up on a key held by a writer this long */

struct job {
    int root;
    char a[3];
};

struct rebuild {
    struct mkv_config cfg;
    struct mkv_index ix;
    int concurrency;
    int skip_unreachable;
    char *roots[MAX_ROOTS]; /* "host:port" or "host:port/svXX" */
    int rootvol[MAX_ROOTS]; /* the volume (index in cfg.volumes) of each root */
    int nroots;
    struct job *jobs;
    size_t njobs, cap;
    atomic_size_t next, done;
    atomic_int exited;                     /* worker threads that ended */
    atomic_long vol_left[MKV_MAX_VOLUMES]; /* directories of each volume still to crawl */
    atomic_long dirs, files, created, added, present, misplaced, offplacement, vanished, busy,
        errors, undecodable;
};

struct walk {
    struct rebuild *rb;
    struct mkv_vclient *vc;
    int root;
    char prefix[MKV_PATH_MAX]; /* "/a/b/" + nested name directories */
    size_t plen;
};

static double now_s(void)
{
    struct timeval tv;

    gettimeofday(&tv, NULL);
    return tv.tv_sec + tv.tv_usec / 1e6;
}

/* ---- the crawl of roots ----------------------------------------------- */

static int add_job(struct rebuild *rb, int root, const char *a)
{
    if (rb->njobs == rb->cap) {
        size_t cap = rb->cap ? rb->cap * 2 : 1024;
        struct job *j = realloc(rb->jobs, cap * sizeof(*j));
        if (!j)
            return -1;
        rb->jobs = j;
        rb->cap = cap;
    }
    rb->jobs[rb->njobs].root = root;
    memcpy(rb->jobs[rb->njobs].a, a, 3);
    rb->njobs++;
    atomic_fetch_add(&rb->vol_left[rb->rootvol[root]], 1);
    return 0;
}

struct rootscan {
    struct rebuild *rb;
    const char *volume;
    int subvols;
    int failed;
};

static int on_volume_entry(void *arg, const struct mkv_dirent *e)
{
    struct rootscan *s = arg;
    struct rebuild *rb = s->rb;
    size_t n = strlen(s->volume) + strlen(e->name) + 2;

    if (!e->is_dir || !is_subvolume(e->name))
        return 0;
    if (rb->nroots == MAX_ROOTS || !(rb->roots[rb->nroots] = malloc(n))) {
        s->failed = 1;
        return 1;
    }
    snprintf(rb->roots[rb->nroots++], n, "%s/%s", s->volume, e->name);
    s->subvols++;
    return 0;
}

struct ascan {
    struct rebuild *rb;
    int root;
    int failed;
};

static int on_root_entry(void *arg, const struct mkv_dirent *e)
{
    struct ascan *s = arg;

    if (e->is_dir && is_hex2(e->name) && add_job(s->rb, s->root, e->name) < 0) {
        s->failed = 1;
        return 1;
    }
    return 0;
}

/* Lists every volume and root; fills rb->roots and rb->jobs. */
static int find_roots(struct rebuild *rb, struct mkv_vclient *vc)
{
    char url[MKV_VOLPATH_MAX + 16], why[512];
    int bad = 0;

    for (int v = 0; v < rb->cfg.nvolumes; v++) {
        struct rootscan s = {rb, rb->cfg.volumes[v], 0, 0};
        int first = rb->nroots, rc;

        volume_url(&rb->cfg, url, sizeof(url), s.volume, "/");
        rc = crawl_list(vc, url, on_volume_entry, &s, why, sizeof(why));
        if (rc != 0 || s.failed) {
            fprintf(stderr, "mkv-rebuild: cannot crawl volume %s: %s\n", s.volume,
                    rc == 1    ? "404 at its root"
                    : s.failed ? "too many roots"
                               : why);
            bad++;
            continue;
        }
        if (s.subvols == 0) { /* subvolumes = 1: the volume is the root */
            if (rb->nroots == MAX_ROOTS || !(rb->roots[rb->nroots] = strdup(s.volume)))
                return -1;
            rb->nroots++;
        }
        for (int r = first; r < rb->nroots; r++) {
            struct ascan a = {rb, r, 0};
            rb->rootvol[r] = v; /* before its jobs are added */
            volume_url(&rb->cfg, url, sizeof(url), rb->roots[r], "/");
            rc = crawl_list(vc, url, on_root_entry, &a, why, sizeof(why));
            if (rc < 0 || a.failed) {
                fprintf(stderr, "mkv-rebuild: cannot crawl %s: %s\n", rb->roots[r],
                        a.failed ? "out of memory" : why);
                bad++;
            }
        }
    }
    if (bad && !rb->skip_unreachable) {
        fprintf(stderr,
                "mkv-rebuild: %d volume(s) or root(s) could not be crawled; nothing was "
                "written (use --skip-unreachable to rebuild from the others)\n",
                bad);
        return -1;
    }
    return 0;
}

/* ---- the merge of one found replica ----------------------------------- */

/* Puts vol into rec's list: placement order first, then the others as they
 * were (the original's rebuild order). */
static void merge_volume(struct mkv_record *rec, const char *vol, const struct mkv_placement *p)
{
    struct mkv_record out = *rec;
    int used[MKV_RECORD_VOLS] = {0};

    if (rec->nvols == 1 && rec->vols[0][0] == '\0')
        rec->nvols = 0; /* an empty list parses as one empty name */
    if (rec->nvols < MKV_RECORD_VOLS) {
        snprintf(rec->vols[rec->nvols], MKV_VOLPATH_MAX, "%s", vol);
        rec->nvols++;
    }
    out.nvols = 0;
    for (int i = 0; i < p->n; i++)
        for (int j = 0; j < rec->nvols; j++)
            if (!used[j] && !strcmp(rec->vols[j], p->vols[i])) {
                memcpy(out.vols[out.nvols++], rec->vols[j], MKV_VOLPATH_MAX);
                used[j] = 1;
            }
    for (int j = 0; j < rec->nvols; j++)
        if (!used[j])
            memcpy(out.vols[out.nvols++], rec->vols[j], MKV_VOLPATH_MAX);
    *rec = out;
}

static int has_volume(const struct mkv_record *rec, const char *vol)
{
    for (int i = 0; i < rec->nvols; i++)
        if (!strcmp(rec->vols[i], vol))
            return 1;
    return 0;
}

static int lock_wait(struct rebuild *rb, const char *key, size_t klen, struct mkv_keylock *kl)
{
    for (int waited = 0; waited < LOCK_WAIT_MS; waited += 10) {
        int rc = index_lock(&rb->ix, key, klen, kl);
        if (rc != MKV_BUSY)
            return rc;
        usleep(10000);
    }
    return MKV_BUSY;
}

static void merge(struct walk *w, const char *key, size_t klen, const char *path)
{
    struct rebuild *rb = w->rb;
    const char *vol = rb->roots[w->root];
    struct mkv_placement p;
    struct mkv_record rec;
    struct mkv_keylock kl;
    char url[MKV_VOLPATH_MAX + MKV_PATH_MAX + 16];
    int rc;

    if (key2volumes(&rb->cfg, key, klen, &p) < 0) {
        atomic_fetch_add(&rb->errors, 1);
        return;
    }
    {
        int in = 0;
        for (int i = 0; i < p.n; i++)
            in |= !strcmp(p.vols[i], vol);
        if (!in)
            atomic_fetch_add(&rb->offplacement, 1);
    }
    rc = lock_wait(rb, key, klen, &kl);
    if (rc == MKV_BUSY) {
        fprintf(stderr, "mkv-rebuild: key %.*s stayed locked by a writer; not merged\n", (int)klen,
                key);
        atomic_fetch_add(&rb->busy, 1);
        return;
    }
    if (rc != MKV_OK) {
        atomic_fetch_add(&rb->errors, 1);
        return;
    }
    rc = index_get(&rb->ix, key, klen, &rec);
    if (rc != MKV_OK && rc != MKV_NOTFOUND) {
        if (rc == MKV_BADREC)
            fprintf(stderr, "mkv-rebuild: key %.*s has a malformed record: left alone\n",
                    (int)klen, key);
        atomic_fetch_add(&rb->errors, 1);
    } else if (rc == MKV_OK) {
        if (has_volume(&rec, vol)) {
            atomic_fetch_add(&rb->present, 1);
        } else {
            merge_volume(&rec, vol, &p);
            if (index_put(&rb->ix, key, klen, &rec) == MKV_OK)
                atomic_fetch_add(&rb->added, 1);
            else
                atomic_fetch_add(&rb->errors, 1);
        }
    } else {
        /* No record.  The file was there when listed; if it is gone now, a
         * DELETE completed since: do not bring the key back. */
        volume_url(&rb->cfg, url, sizeof(url), vol, path);
        if (!vclient_probe(w->vc, url)) {
            atomic_fetch_add(&rb->vanished, 1);
        } else {
            memset(&rec, 0, sizeof(rec));
            merge_volume(&rec, vol, &p);
            if (index_put(&rb->ix, key, klen, &rec) == MKV_OK)
                atomic_fetch_add(&rb->created, 1);
            else
                atomic_fetch_add(&rb->errors, 1);
        }
    }
    index_unlock(&rb->ix, &kl);
}

/* ---- walking one leaf directory (and nested name directories) ---------- */

static int walk_dir(struct walk *w);

static int on_leaf_entry(void *arg, const struct mkv_dirent *e)
{
    struct walk *w = arg;
    struct rebuild *rb = w->rb;
    size_t n = strlen(e->name), plen = w->plen;
    char key[MKV_HASHKEY_MAX + 1], path[MKV_PATH_MAX];
    int klen;

    if (plen + n + 2 >= sizeof(w->prefix)) {
        atomic_fetch_add(&rb->undecodable, 1);
        return 0;
    }
    memcpy(w->prefix + plen, e->name, n + 1);
    if (e->is_dir) {
        /* A '/' inside a key's base64 name: nginx made a directory of it. */
        w->prefix[plen + n] = '/';
        w->prefix[plen + n + 1] = '\0';
        w->plen = plen + n + 1;
        walk_dir(w);
    } else {
        atomic_fetch_add(&rb->files, 1);
        /* prefix is "/a/b/<name>": the name starts after the 7th byte. */
        klen = name_to_key(w->prefix + 7, key, sizeof(key));
        if (klen < 0) {
            atomic_fetch_add(&rb->undecodable, 1);
        } else if (key2path(key, (size_t)klen, path) < 0 || strcmp(path, w->prefix) != 0 ||
                   (size_t)klen > MKV_KEY_MAX) {
            atomic_fetch_add(&rb->misplaced, 1);
        } else {
            merge(w, key, (size_t)klen, path);
        }
    }
    w->plen = plen;
    w->prefix[plen] = '\0';
    return 0;
}

static int walk_dir(struct walk *w)
{
    char url[MKV_VOLPATH_MAX + MKV_PATH_MAX + 16], why[512];
    int rc;

    volume_url(&w->rb->cfg, url, sizeof(url), w->rb->roots[w->root], w->prefix);
    atomic_fetch_add(&w->rb->dirs, 1);
    rc = crawl_list(w->vc, url, on_leaf_entry, w, why, sizeof(why));
    if (rc < 0) {
        fprintf(stderr, "mkv-rebuild: %s\n", why);
        atomic_fetch_add(&w->rb->errors, 1);
    }
    return rc;
}

static int on_a_entry(void *arg, const struct mkv_dirent *e)
{
    struct walk *w = arg;

    if (!e->is_dir || !is_hex2(e->name))
        return 0;
    snprintf(w->prefix + 4, sizeof(w->prefix) - 4, "%s/", e->name);
    w->plen = 7;
    walk_dir(w);
    return 0;
}

static void *worker(void *arg)
{
    struct rebuild *rb = arg;
    struct mkv_vclient vc;
    struct walk w;

    if (vclient_init(&vc, &rb->cfg) < 0) {
        atomic_fetch_add(&rb->errors, 1);
        atomic_fetch_add(&rb->exited, 1);
        return NULL;
    }
    for (;;) {
        size_t i = atomic_fetch_add(&rb->next, 1);
        char url[MKV_VOLPATH_MAX + MKV_PATH_MAX + 16], why[512];

        if (i >= rb->njobs)
            break;
        memset(&w, 0, sizeof(w));
        w.rb = rb;
        w.vc = &vc;
        w.root = rb->jobs[i].root;
        snprintf(w.prefix, sizeof(w.prefix), "/%s/", rb->jobs[i].a);
        volume_url(&rb->cfg, url, sizeof(url), rb->roots[w.root], w.prefix);
        atomic_fetch_add(&rb->dirs, 1);
        if (crawl_list(&vc, url, on_a_entry, &w, why, sizeof(why)) < 0) {
            fprintf(stderr, "mkv-rebuild: %s\n", why);
            atomic_fetch_add(&rb->errors, 1);
        }
        atomic_fetch_sub(&rb->vol_left[rb->rootvol[w.root]], 1);
        atomic_fetch_add(&rb->done, 1);
    }
    vclient_free(&vc);
    atomic_fetch_add(&rb->exited, 1);
    return NULL;
}

/* ---- summary ---------------------------------------------------------- */

struct tally {
    int replicas;
    long records, live, unlinked, under;
};

static int count_record(void *arg, const char *key, size_t klen, const char *val, size_t vlen)
{
    struct tally *t = arg;
    struct mkv_record rec;

    (void)key;
    (void)klen;
    t->records++;
    if (record_decode(val, vlen, &rec) < 0)
        return 0;
    if (rec.deleted) {
        t->unlinked++;
        return 0;
    }
    t->live++;
    if (rec.nvols < t->replicas)
        t->under++;
    return 0;
}

static void progress(struct rebuild *rb, double t0, int final)
{
    double dt = now_s() - t0;
    int vdone = 0;

    for (int v = 0; v < rb->cfg.nvolumes; v++)
        vdone += atomic_load(&rb->vol_left[v]) == 0;
    fprintf(stderr,
            "\rvolumes %d/%d done, dirs %zu/%zu, %ld files seen (%.0f/s), %ld new keys "
            "(%.0f/s), %ld replicas added%s",
            vdone, rb->cfg.nvolumes, atomic_load(&rb->done), rb->njobs, atomic_load(&rb->files),
            dt > 0 ? atomic_load(&rb->files) / dt : 0.0, atomic_load(&rb->created),
            dt > 0 ? atomic_load(&rb->created) / dt : 0.0, atomic_load(&rb->added),
            final ? "\n" : "   ");
}

static void usage(void)
{
    fprintf(stderr, "usage: mkv-rebuild [-c FILE] [--concurrency=N] [--skip-unreachable] "
                    "[--name=value ...]\n\n"
                    "Rebuilds the index from the files on the volumes.  Safe while workers\n"
                    "serve; run into an empty index directory to start from scratch.  Run it\n"
                    "when the index is lost, not from cron.  About 2 minutes per million\n"
                    "keys (3 replicas) on 2 CPUs; memory does not grow with the keys.\n"
                    "Exit status: 0 done, 1 errors, 2 bad usage or a volume not crawlable.\n\n");
    config_usage("mkv-rebuild");
}

int main(int argc, char **argv)
{
    static struct rebuild rb;
    struct mkv_vclient vc;
    struct tally t;
    pthread_t tids[256];
    char *cargv[256], err[512];
    int cargc = 0, nthreads;
    double t0;

    rb.concurrency = 16;
    for (int i = 0; i < argc && cargc < 255; i++) {
        long n;
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            usage();
            return 0;
        } else if (!strcmp(argv[i], "--skip-unreachable")) {
            rb.skip_unreachable = 1;
        } else if (!strncmp(argv[i], "--concurrency=", 14)) {
            char *end;
            n = strtol(argv[i] + 14, &end, 10);
            if (*end || n < 1 || n > 256) {
                fprintf(stderr, "mkv-rebuild: --concurrency must be 1..256\n");
                return 2;
            }
            rb.concurrency = (int)n;
        } else {
            cargv[cargc++] = argv[i];
        }
    }
    if (config_load(&rb.cfg, cargc, cargv, err, sizeof(err)) < 0) {
        fprintf(stderr, "mkv-rebuild: %s\n", err);
        return 2;
    }
    log_set_level(rb.cfg.log_level);
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0 || vclient_init(&vc, &rb.cfg) < 0) {
        fprintf(stderr, "mkv-rebuild: cannot initialise libcurl\n");
        return 1;
    }
    t0 = now_s();
    if (find_roots(&rb, &vc) < 0) {
        vclient_free(&vc);
        return 2;
    }
    vclient_free(&vc);
    if (index_open(&rb.ix, rb.cfg.db, rb.cfg.cache_mb, err, sizeof(err)) < 0) {
        fprintf(stderr, "mkv-rebuild: %s\n", err);
        return 1;
    }
    /* A rebuild can run again: its commits need not each wait for the disk;
     * one flush at the end makes them durable. */
    rb.ix.nosync = 1;
    fprintf(stderr, "mkv-rebuild: %d volumes, %d roots, %zu directories to crawl\n",
            rb.cfg.nvolumes, rb.nroots, rb.njobs);
    nthreads = rb.concurrency;
    for (int i = 0; i < nthreads; i++)
        if (pthread_create(&tids[i], NULL, worker, &rb) != 0) {
            nthreads = i;
            break;
        }
    /* Until the last directory is crawled, not just handed out. */
    while (atomic_load(&rb.done) < rb.njobs && atomic_load(&rb.exited) < nthreads) {
        progress(&rb, t0, 0);
        usleep(500000);
    }
    for (int i = 0; i < nthreads; i++)
        pthread_join(tids[i], NULL);
    progress(&rb, t0, 1);

    if (index_flush(&rb.ix) != MKV_OK)
        atomic_fetch_add(&rb.errors, 1);
    memset(&t, 0, sizeof(t));
    t.replicas = rb.cfg.replicas;
    if (index_scan(&rb.ix, "", 0, count_record, &t) != MKV_OK)
        atomic_fetch_add(&rb.errors, 1);
    index_close(&rb.ix);
    printf("rebuild: %.1fs, %ld files seen, %ld keys created, %ld replicas added to existing "
           "records, %ld already indexed\n",
           now_s() - t0, atomic_load(&rb.files), atomic_load(&rb.created), atomic_load(&rb.added),
           atomic_load(&rb.present));
    printf("rebuild: index has %ld records (%ld live, %ld unlinked); %ld live keys have fewer than "
           "%d replicas\n",
           t.records, t.live, t.unlinked, t.under, rb.cfg.replicas);
    printf("rebuild: %ld files on volumes off their placement (run mkv-rebalance), %ld at paths "
           "that do not match their key (ignored), %ld names not base64 of a key, %ld deleted "
           "while crawling, %ld keys left locked, %ld errors\n",
           atomic_load(&rb.offplacement), atomic_load(&rb.misplaced), atomic_load(&rb.undecodable),
           atomic_load(&rb.vanished), atomic_load(&rb.busy), atomic_load(&rb.errors));
    return atomic_load(&rb.errors) || atomic_load(&rb.busy) ? 1 : 0;
}
