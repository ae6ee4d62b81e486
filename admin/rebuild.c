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
 * GET; it is counted and left alone.
 *
 * Memory stays bounded whatever a directory holds: listings are parsed an
 * entry at a time through a fixed window (crawl_parser); a leaf's listing is
 * spooled to the thread's temporary file in the index directory (the merges
 * need the volume client while it is read), and a nested directory is walked
 * when the read of its parent reaches it, the parent then resuming from its
 * offset in that file.  No thread keeps a listing in memory. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "config.h"
#include "crawl.h"
#include "exitcodes.h"
#include "index.h"
#include "keys.h"
#include "num.h"
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
    atomic_int reported; /* odd names printed */
};

#define WALK_URL_MAX (MKV_VOLPATH_MAX + MKV_PATH_MAX + 16)

struct walk {
    struct rebuild *rb;
    struct mkv_vclient *vc;
    int root;
    int spool;                   /* this thread's temporary file of leaf listings */
    struct crawl_parser *parser; /* this thread's window on them */
    char prefix[MKV_PATH_MAX];   /* "/a/b/" + nested name directories */
    size_t plen;
    int descend; /* on_leaf_entry stopped at a directory, now in prefix */
    char url[WALK_URL_MAX], why[WALK_URL_MAX + 512];
    char chunk[16384]; /* a piece of the spool on its way to the parser */
};

/* Seconds on the monotonic clock: durations and grace deadlines. */
static double now_s(void)
{
    return clock_ms() / 1e3;
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
                    rc == CRAWL_ABSENT ? "404 at its root"
                    : s.failed         ? "too many roots"
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
            if ((rc < 0 && rc != CRAWL_ABSENT) || a.failed) {
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

/* s (n bytes) as a message shows it: escape_nonprint, cut to fit out, so a
 * key or file name with a newline or control bytes stays one word of one
 * line. */
static const char *esc(const char *s, size_t n, char *out, size_t cap)
{
    if (n > (cap - 1) / 3)
        n = (cap - 1) / 3;
    if (escape_nonprint(s, n, out, cap) < 0)
        out[0] = '\0';
    return out;
}

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

/* Fills in what the record does not know yet from the listing: the size
 * and write time of a record of the original's, or of a rebuild's.
 * Returns whether it changed rec. */
static int fill_size(struct mkv_record *rec, const struct mkv_dirent *e)
{
    int changed = 0;

    if (!rec->has_size && e->size >= 0) {
        rec->has_size = 1;
        rec->size = (unsigned long long)e->size;
        changed = 1;
    }
    if (rec->mtime == 0 && e->mtime > 0) {
        rec->mtime = e->mtime;
        changed = 1;
    }
    return changed;
}

static void merge(struct walk *w, const char *key, size_t klen, const char *path,
                  const struct mkv_dirent *e)
{
    struct rebuild *rb = w->rb;
    const char *vol = rb->roots[w->root];
    struct mkv_placement p;
    struct mkv_record rec;
    struct mkv_keylock kl;
    char url[MKV_VOLPATH_MAX + MKV_PATH_MAX + 16], ekey[3 * MKV_KEY_MAX + 1];
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
    rc = index_lock_wait(&rb->ix, key, klen, &kl, LOCK_WAIT_MS);
    if (rc == MKV_BUSY) {
        fprintf(stderr, "mkv-rebuild: key %s stayed locked by a writer; not merged\n",
                esc(key, klen, ekey, sizeof(ekey)));
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
            fprintf(stderr, "mkv-rebuild: key %s has a malformed record: left alone\n",
                    esc(key, klen, ekey, sizeof(ekey)));
        atomic_fetch_add(&rb->errors, 1);
    } else if (rc == MKV_OK) {
        if (has_volume(&rec, vol)) {
            atomic_fetch_add(&rb->present, 1);
            if (!rec.deleted && fill_size(&rec, e) && index_put(&rb->ix, key, klen, &rec) != MKV_OK)
                atomic_fetch_add(&rb->errors, 1);
        } else {
            merge_volume(&rec, vol, &p);
            if (!rec.deleted)
                fill_size(&rec, e);
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
            fill_size(&rec, e);
            if (index_put(&rb->ix, key, klen, &rec) == MKV_OK)
                atomic_fetch_add(&rb->created, 1);
            else
                atomic_fetch_add(&rb->errors, 1);
        }
    }
    index_unlock(&rb->ix, &kl);
}

/* ---- walking one leaf directory (and nested name directories) ---------- */

#define ODD_REPORTS 20 /* odd names printed (the summary counts them all) */

static void set_url(struct walk *w)
{
    volume_url(&w->rb->cfg, w->url, sizeof(w->url), w->rb->roots[w->root], w->prefix);
}

/* A name that is not a key's: counted, and the first few printed. */
static void odd_name(struct walk *w, const char *name, const char *what)
{
    char e[3 * 256 + 1];

    atomic_fetch_add(&w->rb->undecodable, 1);
    if (atomic_fetch_add(&w->rb->reported, 1) < ODD_REPORTS)
        fprintf(stderr, "mkv-rebuild: %s%.*s%s: %s (ignored)\n", w->rb->roots[w->root],
                (int)w->plen, w->prefix, esc(name, strlen(name), e, sizeof(e)), what);
}

/* A directory a key's base64 name can make ('/' splits the name): only
 * base64 characters.  Others are no key's and would not make a URL. */
static int is_name_dir(const char *name)
{
    if (!*name)
        return 0;
    for (; *name; name++)
        if (!((*name >= 'A' && *name <= 'Z') || (*name >= 'a' && *name <= 'z') ||
              (*name >= '0' && *name <= '9') || *name == '+'))
            return 0;
    return 1;
}

static int on_leaf_entry(void *arg, const struct mkv_dirent *e)
{
    struct walk *w = arg;
    struct rebuild *rb = w->rb;
    size_t n = strlen(e->name), plen = w->plen;
    char key[MKV_HASHKEY_MAX + 1], path[MKV_PATH_MAX];
    int klen;

    if (e->is_dir && !is_name_dir(e->name)) {
        odd_name(w, e->name, "a directory no key's name makes");
        return 0;
    }
    if (plen + n + 2 >= sizeof(w->prefix)) {
        odd_name(w, e->name, "too long for a key's name");
        return 0;
    }
    if (e->is_dir) {
        /* A '/' inside a key's base64 name: nginx made a directory of it.
         * Stop the listing here: walk_dir walks the directory, then reads
         * on after this entry. */
        memcpy(w->prefix + plen, e->name, n);
        w->prefix[plen + n] = '/';
        w->prefix[plen + n + 1] = '\0';
        w->plen = plen + n + 1;
        w->descend = 1;
        return 1;
    }
    atomic_fetch_add(&rb->files, 1);
    memcpy(w->prefix + plen, e->name, n + 1);
    /* prefix is "/a/b/<name>": the name starts after the 7th byte. */
    klen = name_to_key(w->prefix + 7, key, sizeof(key));
    if (klen < 0)
        odd_name(w, e->name, "not the base64 of a key");
    else if (key2path(key, (size_t)klen, path) < 0 || strcmp(path, w->prefix) != 0 ||
             (size_t)klen > MKV_KEY_MAX)
        atomic_fetch_add(&rb->misplaced, 1);
    else
        merge(w, key, (size_t)klen, path, e);
    w->prefix[plen] = '\0';
    return 0;
}

/* Feeds the spool's bytes [from, to) to the parser: crawl_feed's result,
 * or -1 with why set. */
static int parse_spool(struct walk *w, unsigned long long from, unsigned long long to)
{
    while (from < to) {
        size_t want = to - from < sizeof(w->chunk) ? (size_t)(to - from) : sizeof(w->chunk);
        ssize_t n = pread(w->spool, w->chunk, want, (off_t)from);
        int rc;

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            set_url(w);
            snprintf(w->why, sizeof(w->why), "reading the listing of %s back: %s", w->url,
                     n < 0 ? strerror(errno) : "the file is short");
            return -1;
        }
        from += (unsigned long long)n;
        rc = crawl_feed(w->parser, w->chunk, (size_t)n);
        if (rc != 0) {
            if (rc < 0) {
                set_url(w);
                snprintf(w->why, sizeof(w->why), "GET %s: %s", w->url, w->parser->error);
            }
            return rc;
        }
    }
    return 0;
}

/* Lists directory w->prefix into the spool at offset start (on disk: the
 * merges need the volume client while it is read), then reads it a window
 * at a time.  Files are merged as they come; at a directory the read stops,
 * the directory is walked (its listing spooled after this one) and the read
 * resumes just after its entry.  So however many entries a directory has,
 * and however deep, a thread's memory is the parser's window: each level of
 * the recursion keeps two offsets, no listing. */
static void walk_dir(struct walk *w, unsigned long long start)
{
    struct rebuild *rb = w->rb;
    unsigned long long len, at = start;
    size_t plen = w->plen;
    int rc;

    set_url(w);
    atomic_fetch_add(&rb->dirs, 1);
    rc = crawl_fetch(w->vc, w->url, w->spool, start, &len, w->why, sizeof(w->why));
    if (rc == 0) {
        crawl_parser_init(w->parser, on_leaf_entry, w);
        for (;;) {
            w->descend = 0;
            rc = parse_spool(w, at, start + len);
            if (rc == 0 && crawl_finish(w->parser) < 0) {
                set_url(w);
                snprintf(w->why, sizeof(w->why), "GET %s: %s", w->url, w->parser->error);
                rc = -1;
            }
            if (rc < 0 || !w->descend)
                break;
            at += w->parser->stop_at;
            walk_dir(w, start + len);
            w->plen = plen;
            w->prefix[plen] = '\0';
            crawl_parser_resume(w->parser, on_leaf_entry, w);
        }
    }
    if (rc < 0 && rc != CRAWL_ABSENT) { /* absent: gone since its parent was listed */
        fprintf(stderr, "mkv-rebuild: %s\n", w->why);
        atomic_fetch_add(&rb->errors, 1);
    }
    /* the disk space of this listing (and its children's) is free again */
    if (ftruncate(w->spool, (off_t)start) < 0 && start == 0)
        fprintf(stderr, "mkv-rebuild: cannot truncate a spool file: %s\n", strerror(errno));
}

/* The <b> directories of one <a> directory: hex2 names, at most 22 x 22
 * (upper and lower case), read before any is walked. */
struct bdirs {
    int n;
    char name[22 * 22][3];
};

static int on_a_entry(void *arg, const struct mkv_dirent *e)
{
    struct bdirs *b = arg;

    if (e->is_dir && is_hex2(e->name) && b->n < (int)(sizeof(b->name) / sizeof(b->name[0])))
        memcpy(b->name[b->n++], e->name, 3);
    return 0;
}

/* A temporary file for one thread's listings, in the index directory: on
 * the disk (a tmpfs /tmp would be memory again), and gone once closed. */
static int spool_open(const char *dir)
{
    char path[4096];
    int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);

    if (fd >= 0)
        return fd;
    /* a file system without O_TMPFILE */
    if (snprintf(path, sizeof(path), "%s/.mkv-rebuild-XXXXXX", dir) >= (int)sizeof(path))
        return -1;
    if ((fd = mkostemp(path, O_CLOEXEC)) >= 0)
        unlink(path);
    return fd;
}

static void *worker(void *arg)
{
    struct rebuild *rb = arg;
    struct mkv_vclient vc;
    struct walk w; /* 20 KiB: the window and buffers, on the thread's stack */
    struct bdirs b;
    int rc;

    memset(&w, 0, sizeof(w));
    w.rb = rb;
    w.vc = &vc;
    w.parser = malloc(sizeof(*w.parser));
    w.spool = spool_open(rb->cfg.db);
    if (!w.parser || w.spool < 0 || vclient_init(&vc, &rb->cfg) < 0) {
        fprintf(stderr, "mkv-rebuild: cannot start a crawl thread: %s\n",
                w.spool < 0 ? "no temporary file in the index directory" : "out of memory");
        free(w.parser);
        if (w.spool >= 0)
            close(w.spool);
        atomic_fetch_add(&rb->errors, 1);
        atomic_fetch_add(&rb->exited, 1);
        return NULL;
    }
    for (;;) {
        size_t i = atomic_fetch_add(&rb->next, 1);

        if (i >= rb->njobs)
            break;
        w.root = rb->jobs[i].root;
        snprintf(w.prefix, sizeof(w.prefix), "/%s/", rb->jobs[i].a);
        set_url(&w);
        atomic_fetch_add(&rb->dirs, 1);
        b.n = 0;
        rc = crawl_list(&vc, w.url, on_a_entry, &b, w.why, sizeof(w.why));
        if (rc < 0 && rc != CRAWL_ABSENT) {
            fprintf(stderr, "mkv-rebuild: %s\n", w.why);
            atomic_fetch_add(&rb->errors, 1);
        }
        for (int k = 0; k < b.n; k++) {
            snprintf(w.prefix + 4, sizeof(w.prefix) - 4, "%s/", b.name[k]);
            w.plen = 7;
            walk_dir(&w, 0);
        }
        atomic_fetch_sub(&rb->vol_left[rb->rootvol[w.root]], 1);
        atomic_fetch_add(&rb->done, 1);
    }
    vclient_free(&vc);
    free(w.parser);
    close(w.spool);
    atomic_fetch_add(&rb->exited, 1);
    return NULL;
}

/* ---- summary ---------------------------------------------------------- */

struct tally {
    int replicas;
    long records, live, unlinked, under;
};

static int count_record(void *arg, const char *key, size_t klen, const struct mkv_record *rec,
                        const char *raw, size_t rawlen)
{
    struct tally *t = arg;

    (void)key;
    (void)klen;
    (void)raw;
    (void)rawlen;
    t->records++;
    if (!rec)
        return 0;
    if (rec->deleted) {
        t->unlinked++;
        return 0;
    }
    t->live++;
    if (rec->nvols < t->replicas)
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
    fprintf(stderr,
            "usage: mkv-rebuild [-c FILE] [--concurrency=N] [--skip-unreachable] "
            "[--name=value ...]\n\n"
            "Rebuilds the index from the files on the volumes.  Safe while workers\n"
            "serve; run into an empty index directory to start from scratch.  Run it\n"
            "when the index is lost, not from cron.  About 18 minutes per million\n"
            "keys (3 replicas) on 2 CPUs; memory does not grow with the keys.\n"
            "A volume that cannot be crawled stops it before it writes anything\n"
            "(exit status 1), unless --skip-unreachable.\n\n"
            "%s\n",
            MKV_EXIT_HELP);
    config_usage("mkv-rebuild");
}

/* The tool's own flags (config_split): 1 taken, 0 a setting's, -1 a bad
 * value. */
static int own_arg(void *ctx, const char *a, char *err, size_t errlen)
{
    struct rebuild *rb = ctx;
    long long n;

    if (!strcmp(a, "--skip-unreachable")) {
        rb->skip_unreachable = 1;
    } else if (!strncmp(a, "--concurrency=", 14)) {
        if (num_parse(a + 14, 1, 256, &n) < 0) {
            snprintf(err, errlen, "--concurrency must be 1..256");
            return -1;
        }
        rb->concurrency = (int)n;
    } else {
        return 0;
    }
    return 1;
}

/* Defaults, flags and settings: 0, or -1 with the status to exit with in
 * *status. */
static int start(struct rebuild *rb, int argc, char **argv, int *status)
{
    const struct mkv_tool tool = {"mkv-rebuild", own_arg, rb, usage, NULL};

    rb->concurrency = 16;
    return admin_start(&tool, argc, argv, &rb->cfg, status);
}

/* Crawls every directory with rb->concurrency threads, until the last one
 * is crawled, not just handed out. */
static void crawl_all(struct rebuild *rb, double t0)
{
    pthread_t tids[256];
    int nthreads = rb->concurrency;

    for (int i = 0; i < nthreads; i++)
        if (pthread_create(&tids[i], NULL, worker, rb) != 0) {
            nthreads = i;
            break;
        }
    while (atomic_load(&rb->done) < rb->njobs && atomic_load(&rb->exited) < nthreads) {
        progress(rb, t0, 0);
        usleep(500000);
    }
    for (int i = 0; i < nthreads; i++)
        pthread_join(tids[i], NULL);
    progress(rb, t0, 1);
}

static void summary(struct rebuild *rb, const struct tally *t, double t0)
{
    printf("rebuild: %.1fs, %ld files seen, %ld keys created, %ld replicas added to existing "
           "records, %ld already indexed\n",
           now_s() - t0, atomic_load(&rb->files), atomic_load(&rb->created),
           atomic_load(&rb->added), atomic_load(&rb->present));
    printf("rebuild: index has %ld records (%ld live, %ld unlinked); %ld live keys have fewer than "
           "%d replicas\n",
           t->records, t->live, t->unlinked, t->under, rb->cfg.replicas);
    printf("rebuild: %ld files on volumes off their placement (run mkv-rebalance), %ld at paths "
           "that do not match their key (ignored), %ld names not base64 of a key, %ld deleted "
           "while crawling, %ld keys left locked, %ld errors\n",
           atomic_load(&rb->offplacement), atomic_load(&rb->misplaced),
           atomic_load(&rb->undecodable), atomic_load(&rb->vanished), atomic_load(&rb->busy),
           atomic_load(&rb->errors));
}

int main(int argc, char **argv)
{
    static struct rebuild rb;
    struct mkv_vclient vc;
    struct tally t;
    char err[512];
    double t0;
    int rc;

    if (start(&rb, argc, argv, &rc) < 0)
        return rc;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0 || vclient_init(&vc, &rb.cfg) < 0) {
        fprintf(stderr, "mkv-rebuild: cannot initialise libcurl\n");
        return MKV_EXIT_INCOMPLETE;
    }
    t0 = now_s();
    rc = find_roots(&rb, &vc);
    vclient_free(&vc);
    if (rc < 0)
        return MKV_EXIT_INCOMPLETE;
    if (index_open(&rb.ix, rb.cfg.db, rb.cfg.cache_mb, err, sizeof(err)) < 0) {
        fprintf(stderr, "mkv-rebuild: %s\n", err);
        return MKV_EXIT_INDEX;
    }
    if (index_use_cfg(&rb.ix, &rb.cfg) != MKV_OK) {
        fprintf(stderr, "mkv-rebuild: cannot record the volume set in the index\n");
        index_close(&rb.ix);
        return MKV_EXIT_INDEX;
    }
    /* A rebuild can run again: its commits need not each wait for the disk;
     * one flush at the end makes them durable. */
    rb.ix.nosync = 1;
    fprintf(stderr, "mkv-rebuild: %d volumes, %d roots, %zu directories to crawl\n",
            rb.cfg.nvolumes, rb.nroots, rb.njobs);
    crawl_all(&rb, t0);
    if (index_flush(&rb.ix) != MKV_OK)
        atomic_fetch_add(&rb.errors, 1);
    memset(&t, 0, sizeof(t));
    t.replicas = rb.cfg.replicas;
    if (index_scan(&rb.ix, "", 0, INDEX_SCAN_VOLS, count_record, &t) != MKV_OK)
        atomic_fetch_add(&rb.errors, 1);
    index_close(&rb.ix);
    summary(&rb, &t, t0);
    return atomic_load(&rb.errors) || atomic_load(&rb.busy) ? MKV_EXIT_INCOMPLETE : MKV_EXIT_OK;
}
