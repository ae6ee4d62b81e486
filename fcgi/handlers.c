/* handlers.c: GET/HEAD (redirect), PUT, DELETE, UNLINK and listings.
 *
 * Each handler validates all input before it changes anything, takes the
 * key's cross-process lock for writes, and keeps the index pointing only at
 * data that exists: a failed PUT removes what it wrote and drops its record. */
#include "handlers.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fdio.h"
#include "log.h"
#include "md5.h"
#include "method.h"
#include "num.h"
#include "placement.h"
#include "rebalance.h"
#include "record.h"
#include "s3.h"
#include "store.h"

/* The largest Content-Length taken: 18 digits, as far below 2^63 as any
 * volume's disk is below it. */
#define MKV_LENGTH_MAX 999999999999999999LL
#define LIST_CAP       1000000 /* keys one unlimited listing may return (docs/compat.md §4.5) */

/* ---- helpers ---------------------------------------------------------- */

/* An index call failed: 503 while the environment awaits recovery (its
 * supervisor restarts the workers within seconds: worth a retry), else 500. */
static void index_failed(struct worker *w, struct req *r, const char *what)
{
    if (w->ix->panic)
        reply_error(r, 503, "the index needs recovery (under way): retry shortly");
    else
        reply_error(r, 500, what);
}

static ssize_t read_fd(void *arg, char *buf, size_t cap)
{
    return fd_read_full(*(int *)arg, buf, cap);
}

ssize_t read_fcgi(void *arg, char *buf, size_t cap)
{
    FCGX_Stream *in = arg;
    int n = FCGX_GetStr(buf, cap > (1u << 30) ? (1 << 30) : (int)cap, in);

    if (n < 0 || FCGX_GetError(in) != 0)
        return -1;
    return n;
}

/* ---- GET / HEAD ------------------------------------------------------- */

static void redirect_fallback(struct worker *w, struct req *r, const char *md5hdr)
{
    char esc[3 * MKV_URI_MAX], hdr[sizeof(esc) + 512];

    if (url_escape_path(r->key, r->klen, esc, sizeof(esc)) < 0) {
        reply_error(r, 500, "cannot escape key for the fallback");
        return;
    }
    snprintf(hdr, sizeof(hdr), "Location: http://%s%s\r\n%s", w->cfg->fallback, esc, md5hdr);
    reply(r, 302, hdr, NULL, NULL, 0);
}

static void shuffle(struct worker *w, int *a, int n)
{
    for (int i = n - 1; i > 0; i--) {
        int j = rand_r(&w->seed) % (i + 1), t = a[i];
        a[i] = a[j];
        a[j] = t;
    }
}

/* Picks the replica to redirect to: the index in rec->vols, or -1.  A
 * random order spreads reads over the replicas: over the first
 * placement-many listed, then (probing) the others.  A record lists more
 * while mkv-rebalance moves the key, the new copies first: the old ones are
 * about to be removed and must not get new redirects.  *answered: some
 * volume answered a probe (why: the last failure otherwise). */
int choose_replica(struct worker *w, const struct mkv_record *rec, const struct mkv_placement *p,
                   const char *path, int *answered, char *why, size_t whylen)
{
    int order[MKV_RECORD_VOLS];

    *answered = 0;
    for (int i = 0; i < rec->nvols; i++)
        order[i] = i;
    shuffle(w, order, rec->nvols < p->n ? rec->nvols : p->n);
    if (rec->nvols > p->n)
        shuffle(w, order + p->n, rec->nvols - p->n);
    for (int i = 0; i < rec->nvols; i++) {
        char url[URL_MAX];
        long code;

        if (!w->cfg->probe)
            return order[i];
        volume_url(w->cfg, url, sizeof(url), rec->vols[order[i]], path);
        code = vclient_head_why(&w->vc, url, w->cfg->probe_timeout_ms, why, whylen);
        *answered |= code >= 0;
        if (code == 200)
            return order[i];
    }
    return -1;
}

/* No replica to redirect to.  Volumes that answered without the file: not
 * found (as the original).  None could be asked at all (down, timing out, a
 * certificate that does not verify): say so instead. */
static void reply_no_replica(struct req *r, const char *hdr, int answered, const char *why)
{
    char line[512];
    int n;

    if (answered) {
        reply(r, 404, hdr, NULL, NULL, 0);
        return;
    }
    n = snprintf(line, sizeof(line), "no volume holding the key answered: %s\n", why);
    reply(r, 503, hdr, "text/plain; charset=utf-8", line,
          n > 0 && (size_t)n < sizeof(line) ? (size_t)n : strlen(line));
}

void settle_pending(struct worker *w, const char *key, size_t klen, struct mkv_record *rec)
{
    struct mkv_store s;
    char suffix[STORE_TMP_SUFFIX_LEN + 1], why[256] = "";
    int rc;

    if (!store_pending(rec, suffix))
        return;
    s = store_of(w);
    rc = store_settle(&s, key, klen, rec, why, sizeof(why));
    if (rc < 0 && rc != STORE_BUSY)
        log_error("an overwrite left half-way stays so for now: %s", why);
}

static void handle_get(struct worker *w, struct req *r)
{
    struct mkv_record rec;
    struct mkv_placement p;
    char path[MKV_PATH_MAX], vols[MKV_RECORD_MAX], md5hdr[64] = "";
    char hdr[MKV_RECORD_MAX + 2 * URL_MAX], why[256] = "";
    int rc, chosen, answered;

    rc = index_get(w->ix, r->key, r->klen, &rec);
    if (rc == MKV_BADREC) {
        /* Its bytes never reach a header; the log names the key. */
        record_log_malformed(r->key, r->klen);
        reply_error(r, 500, "the index record of this key is malformed: see the log");
        return;
    }
    if (rc != MKV_OK && rc != MKV_NOTFOUND) {
        index_failed(w, r, "index read failed");
        return;
    }
    if (rc == MKV_OK && rec.hash[0])
        snprintf(md5hdr, sizeof(md5hdr), "Content-Md5: %s\r\n", rec.hash);
    if (rc == MKV_NOTFOUND || rec.deleted) {
        if (w->cfg->fallback[0])
            redirect_fallback(w, r, md5hdr);
        else
            reply(r, 404, md5hdr[0] ? md5hdr : NULL, NULL, NULL, 0);
        return;
    }
    settle_pending(w, r->key, r->klen, &rec);
    /* The volumes of most records are the placement, computed by the read. */
    if (index_placed(w->ix, &rec)) {
        p.n = rec.nvols;
        memcpy(p.vols, rec.vols, (size_t)rec.nvols * sizeof(p.vols[0]));
    } else if (key2volumes(w->cfg, r->key, r->klen, &p) < 0) {
        reply_error(r, 500, "placement failed");
        return;
    }
    if (key2path(r->key, r->klen, path) < 0 || record_join_vols(&rec, vols, sizeof(vols)) < 0) {
        reply_error(r, 500, "placement failed");
        return;
    }
    chosen = choose_replica(w, &rec, &p, path, &answered, why, sizeof(why));
    if (chosen < 0) {
        snprintf(hdr, sizeof(hdr), "%sKey-Volumes: %s\r\nKey-Balance: %s\r\n", md5hdr, vols,
                 record_matches(&rec, &p) ? "balanced" : "unbalanced");
        reply_no_replica(r, hdr, answered, why);
        return;
    }
    snprintf(r->volume, sizeof(r->volume), "%s", rec.vols[chosen]);
    /* HEAD tells the value's size when the record knows it (written by
     * this mkv; the original's records have none): docs/compat.md §4.2. */
    if (rec.has_size && rec.size <= (unsigned long long)LLONG_MAX)
        r->head_length = (long long)rec.size;
    snprintf(hdr, sizeof(hdr), "Location: %s://%s%s\r\n%sKey-Volumes: %s\r\nKey-Balance: %s\r\n",
             w->cfg->volume_scheme, rec.vols[chosen], path, md5hdr, vols,
             record_matches(&rec, &p) ? "balanced" : "unbalanced");
    reply(r, 302, hdr, NULL, NULL, 0);
}

/* ---- PUT, DELETE, UNLINK: the store does the work ---------------------- */

/* A store result as an HTTP status (ok: the status of success). */
static int store_status(int rc, int ok)
{
    switch (rc) {
    case STORE_OK: return ok;
    case STORE_EXISTS:
    case STORE_PROTECTED: return 403;
    case STORE_ABSENT: return 404;
    case STORE_BUSY: return 409;
    case STORE_EMPTY: return 411;
    case STORE_BODY:
    case STORE_BADMD5: return 400;
    case STORE_RECOVERING: return 503;
    default: return 500;
    }
}

static void reply_store(struct req *r, int rc, int ok, const struct store_note *note,
                        const char *why)
{
    int status = store_status(rc, ok);

    r->bytes_in = note->bytes_in;
    snprintf(r->volume, sizeof(r->volume), "%s", note->volume);
    /* The original's 404 of DELETE and UNLINK has no body. */
    if (status == ok || status == 404)
        reply(r, status, NULL, NULL, NULL, 0);
    else
        reply_error(r, status, why);
}

struct mkv_store store_of(struct worker *w)
{
    return (struct mkv_store){.cfg = w->cfg, .ix = w->ix, .vc = &w->vc, .seen = w->seen};
}

struct body {
    int fd; /* spooled body file (REQUEST_BODY_FILE), or -1 */
    struct store_body sb;
};

/* Finds the body: FastCGI stdin (the shipped fronts: nginx streams it as it
 * arrives, lighttpd after buffering it) with CONTENT_LENGTH, or without one
 * for a chunked upload; or a file a front spooled and named in
 * REQUEST_BODY_FILE.  Returns 0, or replies and returns -1. */
static int open_body(struct req *r, struct body *b)
{
    const char *file = param(r, "REQUEST_BODY_FILE");
    const char *cl = param(r, "CONTENT_LENGTH");
    struct stat st;

    b->fd = -1;
    b->sb.length = -1;
    b->sb.rd = read_fcgi;
    b->sb.rdarg = r->fr->in;
    if (*cl && num_parse(cl, 0, MKV_LENGTH_MAX, &b->sb.length) < 0) {
        reply_error(r, 400, "invalid Content-Length");
        return -1;
    }
    if (*file) {
        b->fd = open(file, O_RDONLY | O_CLOEXEC);
        if (b->fd < 0 || fstat(b->fd, &st) < 0) {
            log_error("cannot open request body file %s: %s", file, strerror(errno));
            reply_error(r, 500, "cannot read the spooled request body");
            return -1;
        }
        b->sb.length = st.st_size;
        b->sb.rd = read_fd;
        b->sb.rdarg = &b->fd;
        return 0;
    }
    /* No length and not chunked: HTTP's 411. */
    if (!*cl && !te_is_chunked(param(r, "HTTP_TRANSFER_ENCODING"))) {
        reply_error(r, 411, "empty body: a value needs at least one byte");
        return -1;
    }
    return 0;
}

static void handle_put(struct worker *w, struct req *r)
{
    struct mkv_store s = store_of(w);
    struct store_note note = {0};
    struct body b = {.fd = -1};
    unsigned char want[16];
    const char *cmd5 = param(r, "HTTP_CONTENT_MD5");
    char why[512];
    int rc;

    if (*cmd5 && parse_content_md5(cmd5, want) < 0) {
        reply_error(r, 400, "Content-MD5 must be 32 hex digits or 24 base64 characters");
        return;
    }
    if (open_body(r, &b) < 0)
        return;
    b.sb.want_md5 = *cmd5 ? want : NULL;
    rc = store_put(&s, r->key, r->klen, param(r, "MKV_REQUEST_ID"), &b.sb, &note, why, sizeof(why));
    reply_store(r, rc, 201, &note, why);
    if (b.fd >= 0)
        close(b.fd);
}

static void handle_delete(struct worker *w, struct req *r, int unlink_only)
{
    struct mkv_store s = store_of(w);
    struct store_note note = {0};
    char why[512];
    int rc = store_delete(&s, r->key, r->klen, param(r, "MKV_REQUEST_ID"), unlink_only, &note, why,
                          sizeof(why));

    reply_store(r, rc, 204, &note, why);
}

/* ---- REBALANCE ------------------------------------------------------ */

/* The original's per-key method (docs/compat.md §4.6): move this key's replicas to
 * where placement puts them now, or re-copy a lost one. */
static void handle_rebalance(struct worker *w, struct req *r)
{
    const char *t = getenv("TMPDIR");
    struct rb_opts o = {
        .repair = 1, .head_timeout_ms = w->cfg->idle_timeout_ms, .tmpdir = t && *t ? t : "/tmp"};
    char why[512];

    switch (rebalance_key(w->cfg, w->ix, &w->vc, &o, r->key, r->klen, why, sizeof(why), NULL)) {
    case RB_INPLACE:
    case RB_MOVED:
    case RB_PENDING:
    case RB_PLANNED: reply(r, 204, NULL, NULL, NULL, 0); break;
    case RB_UNLINKED:
    case RB_ABSENT: reply(r, 404, NULL, NULL, NULL, 0); break;
    case RB_BUSY: reply_error(r, 409, "another write of this key is in progress"); break;
    case RB_FAILED: reply_error(r, 500, why); break;
    }
}

/* ---- ?list / ?unlinked ------------------------------------------------ */

/* A page (limit > 0) is read in one pass and held as JSON until it is
 * sent, since "next" comes first in the answer: one pass is what keeps a
 * pager from skipping a key written meanwhile.  A page is cut short (with a
 * "next" of its own) when its JSON would pass this many bytes, so a worker
 * never holds more however large the limit; a pager follows "next" as
 * always.  An unlimited listing is counted first (for the 413), then streamed
 * in one pass; if that pass fails the answer is cut off, never completed. */
#define PAGE_BYTES (1 << 20)

struct listing {
    struct req *r;
    const char *prefix;
    size_t plen;
    int want_deleted; /* ?unlinked */
    long long limit;  /* > 0: one page of at most this many */
    long long count;  /* matches taken */
    int counting;     /* the unlimited listing's first pass: count only */
    int over;         /* more than LIST_CAP matches */
    char *page;       /* limit > 0: the page's keys as JSON, comma-separated */
    size_t used, cap;
    int failed; /* out of memory for the page */
    char next[MKV_URI_MAX + 1];
    size_t nextlen;
    int have_next;
};

/* Valid UTF-8 is copied; each invalid byte becomes U+FFFD, as Go's encoder
 * does, so jansson (which refuses invalid UTF-8) can encode every key. */
static size_t utf8_sanitize(const unsigned char *s, size_t n, char *out)
{
    size_t o = 0;

    for (size_t i = 0; i < n;) {
        unsigned char c = s[i];
        size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        int ok = len > 0 && i + len <= n;

        for (size_t k = 1; ok && k < len; k++)
            ok = (s[i + k] & 0xC0) == 0x80;
        if (ok && len == 2)
            ok = c >= 0xC2;
        if (ok && len == 3) {
            unsigned cp = ((c & 15u) << 12) | ((s[i + 1] & 63u) << 6) | (s[i + 2] & 63u);
            ok = cp >= 0x800 && (cp < 0xD800 || cp > 0xDFFF);
        }
        if (ok && len == 4) {
            unsigned cp = ((c & 7u) << 18) | ((s[i + 1] & 63u) << 12) | ((s[i + 2] & 63u) << 6) |
                          (s[i + 3] & 63u);
            ok = cp >= 0x10000 && cp <= 0x10FFFF;
        }
        if (ok) {
            memcpy(out + o, s + i, len);
            o += len;
            i += len;
        } else {
            memcpy(out + o, "\xEF\xBF\xBD", 3);
            o += 3;
            i++;
        }
    }
    return o;
}

/* Writes key as a JSON string into out; returns its length, or 0 when it
 * cannot be written (an over-long key only an imported index could hold). */
static size_t json_key(const char *s, size_t n, char *out, size_t cap)
{
    char clean[3 * MKV_URI_MAX];
    size_t cn, len = 0;
    json_t *js;

    if (n > MKV_URI_MAX)
        return 0;
    cn = utf8_sanitize((const unsigned char *)s, n, clean);
    js = json_stringn(clean, cn);
    if (js)
        len = json_dumpb(js, out, cap, JSON_ENCODE_ANY);
    json_decref(js);
    return len <= cap ? len : 0;
}

/* The largest JSON one key can take: each byte 3 after sanitizing, 6 when
 * \u-escaped, and the quotes. */
#define KEY_JSON_MAX (6 * 3 * MKV_URI_MAX + 3)

static void out_json_string(struct req *r, const char *s, size_t n)
{
    char buf[KEY_JSON_MAX];
    size_t len = json_key(s, n, buf, sizeof(buf));

    if (len == 0) {
        log_error("listing: a key of %zu bytes cannot be listed", n);
        out(r, "\"\"", 2);
        return;
    }
    out(r, buf, len);
}

/* Appends one key to the page; 0, or -1 when the page is full (or out of
 * memory: l->failed). */
static int page_add(struct listing *l, const char *key, size_t klen)
{
    char buf[KEY_JSON_MAX];
    size_t len = json_key(key, klen, buf, sizeof(buf)), need;

    if (len == 0) {
        log_error("listing: a key of %zu bytes cannot be listed", klen);
        memcpy(buf, "\"\"", 2);
        len = 2;
    }
    need = l->used + 1 + len;
    if (l->count > 0 && need > PAGE_BYTES)
        return -1;
    if (need > l->cap) {
        size_t cap = l->cap ? l->cap : 65536;
        char *p;
        while (cap < need)
            cap *= 2;
        if (!(p = realloc(l->page, cap))) {
            l->failed = 1;
            return -1;
        }
        l->page = p;
        l->cap = cap;
    }
    if (l->count > 0)
        l->page[l->used++] = ',';
    memcpy(l->page + l->used, buf, len);
    l->used += len;
    return 0;
}

static void set_next(struct listing *l, const char *key, size_t klen)
{
    memcpy(l->next, key, klen);
    l->nextlen = klen;
    l->have_next = 1;
}

static int list_visit(void *arg, const char *key, size_t klen, const struct mkv_record *rec,
                      const char *raw, size_t rawlen)
{
    struct listing *l = arg;
    /* A malformed record is listed as live: seen, it can be removed. */
    int deleted = rec && rec->deleted;

    (void)raw;
    (void)rawlen;
    if (klen < l->plen || memcmp(key, l->prefix, l->plen) != 0)
        return 1; /* past the prefix range */
    if (deleted != l->want_deleted)
        return 0;
    if (l->limit > 0) {
        /* A key too long to be a "start" cannot be a "next" either: it is
         * passed over (logged), as it could not be listed anyway. */
        if (l->count == l->limit || page_add(l, key, klen) < 0) {
            if (klen > MKV_URI_MAX && !l->failed) {
                log_error("listing: a key of %zu bytes cannot be a page's next", klen);
                return 0;
            }
            set_next(l, key, klen);
            return 1;
        }
        l->count++;
        return 0;
    }
    if (l->count == LIST_CAP) {
        l->over = 1;
        return 1;
    }
    if (!l->counting) {
        if (l->count > 0)
            out(l->r, ",", 1);
        out_json_string(l->r, key, klen);
    }
    l->count++;
    return 0;
}

/* One page, read in one pass: nothing is sent until it is complete. */
static void list_page(struct worker *w, struct req *r, struct listing *l, const char *from,
                      size_t fromlen)
{
    if (index_scan(w->ix, from, fromlen, 0, list_visit, l) != MKV_OK || l->failed) {
        index_failed(w, r, l->failed ? "out of memory for the listing" : "index scan failed");
        goto cleanup;
    }
    reply_begin(r, "application/json");
    out(r, "{\"next\":", 8);
    out_json_string(r, l->have_next ? l->next : "", l->have_next ? l->nextlen : 0);
    out(r, ",\"keys\":[", 9);
    if (l->used)
        out(r, l->page, l->used);
    out(r, "]}", 2);

cleanup:
    free(l->page);
}

/* Every match: counted (more than LIST_CAP is a 413 before anything is
 * sent), then streamed in one pass.  "next" is always "" here. */
static void list_all(struct worker *w, struct req *r, struct listing *l, const char *from,
                     size_t fromlen)
{
    l->counting = 1;
    if (index_scan(w->ix, from, fromlen, 0, list_visit, l) != MKV_OK) {
        index_failed(w, r, "index scan failed");
        return;
    }
    if (l->over) {
        reply_error(r, 413, "more than 1000000 keys match: page with &limit=N");
        return;
    }
    reply_begin(r, "application/json");
    out(r, "{\"next\":\"\",\"keys\":[", 19);
    l->counting = 0;
    l->count = 0;
    /* Writes since the count may have added keys: past the cap the answer
     * could only be wrong, so it is cut off like a failure. */
    if (index_scan(w->ix, from, fromlen, 0, list_visit, l) != MKV_OK || l->over) {
        log_error("listing failed after its first bytes were sent: cut off");
        reply_abort(r);
        return;
    }
    out(r, "]}", 2);
}

/* GET /?health: 200 when the index answers (for load balancers). */
static void handle_health(struct worker *w, struct req *r)
{
    struct mkv_record rec;
    int rc;

    rc = index_get(w->ix, "/", 1, &rec);
    /* Any answer of the index will do: a malformed record of "/" (an
     * imported index) still means the index is up. */
    if ((rc != MKV_OK && rc != MKV_NOTFOUND && rc != MKV_BADREC) || w->ix->panic)
        reply_error(r, 503, "index unavailable");
    else
        reply(r, 200, NULL, "text/plain; charset=utf-8", "ok\n", 3);
}

/* GET /?stats: counters of every worker and of the index, in Prometheus'
 * text exposition format. */
static void handle_stats(struct worker *w, struct req *r)
{
    static const char *classes[] = {"unknown", "1xx", "2xx", "3xx", "4xx", "5xx"};
    char buf[16384];
    size_t off = 0;
    struct mkv_index_stats ist;

#define EMIT(...)                                                                                  \
    do {                                                                                           \
        int n_ = snprintf(buf + off, sizeof(buf) - off, __VA_ARGS__);                              \
        if (n_ > 0 && (size_t)n_ < sizeof(buf) - off)                                              \
            off += (size_t)n_;                                                                     \
    } while (0)
    if (!w->st) {
        reply_error(r, 503, "statistics unavailable");
        return;
    }
    EMIT("# HELP mkv_requests_total Requests answered, by method and status class.\n"
         "# TYPE mkv_requests_total counter\n");
    for (int m = 0; m < MKV_M_COUNT; m++)
        for (int c = 0; c < 6; c++) {
            unsigned long v = atomic_load(&w->st->requests[m][c]);
            if (v)
                EMIT("mkv_requests_total{method=\"%s\",status=\"%s\"} %lu\n",
                     method_name((enum mkv_method)m), classes[c], v);
        }
    EMIT("# HELP mkv_value_bytes_in_total Value bytes received by PUTs.\n"
         "# TYPE mkv_value_bytes_in_total counter\n"
         "mkv_value_bytes_in_total %lu\n",
         atomic_load(&w->st->bytes_in));
    EMIT("# HELP mkv_response_bytes_out_total Response body bytes sent (listings, reasons, "
         "statistics; values are served by the volumes).\n"
         "# TYPE mkv_response_bytes_out_total counter\n"
         "mkv_response_bytes_out_total %lu\n",
         atomic_load(&w->st->bytes_out));
    EMIT("# HELP mkv_volume_errors_total Failed calls to each volume.\n"
         "# TYPE mkv_volume_errors_total counter\n");
    for (int i = 0; i < w->cfg->nvolumes; i++)
        EMIT("mkv_volume_errors_total{volume=\"%s\"} %lu\n", w->cfg->volumes[i],
             atomic_load(&w->st->volume_errors[i]));
    EMIT("# HELP mkv_worker_starts_total Worker processes started by the supervisor.\n"
         "# TYPE mkv_worker_starts_total counter\nmkv_worker_starts_total %lu\n",
         atomic_load(&w->st->worker_starts));
    if (index_stats(w->ix, &ist) == MKV_OK) {
        EMIT("# HELP mkv_index_cache_hits_total Berkeley DB cache page requests found in the "
             "cache.\n"
             "# TYPE mkv_index_cache_hits_total counter\nmkv_index_cache_hits_total %lu\n"
             "# HELP mkv_index_cache_misses_total Berkeley DB cache page requests read from "
             "disk.\n"
             "# TYPE mkv_index_cache_misses_total counter\nmkv_index_cache_misses_total %lu\n"
             "# HELP mkv_index_cache_hit_ratio Hits over all page requests since the "
             "environment was created.\n"
             "# TYPE mkv_index_cache_hit_ratio gauge\nmkv_index_cache_hit_ratio %.6f\n",
             ist.cache_hits, ist.cache_misses,
             ist.cache_hits + ist.cache_misses
                 ? (double)ist.cache_hits / (double)(ist.cache_hits + ist.cache_misses)
                 : 1.0);
        EMIT("# HELP mkv_index_lock_waits_total Index lock requests that had to wait.\n"
             "# TYPE mkv_index_lock_waits_total counter\nmkv_index_lock_waits_total %lu\n"
             "# HELP mkv_index_lock_nowait_refused_total Key locks refused at once (a write "
             "of the key in flight: 409).\n"
             "# TYPE mkv_index_lock_nowait_refused_total counter\n"
             "mkv_index_lock_nowait_refused_total %lu\n"
             "# HELP mkv_index_deadlocks_total Deadlocks the detector broke (retried).\n"
             "# TYPE mkv_index_deadlocks_total counter\nmkv_index_deadlocks_total %lu\n",
             ist.lock_waits, ist.lock_refused, ist.deadlocks);
    }
#undef EMIT
    reply(r, 200, NULL, "text/plain; version=0.0.4", buf, off);
}

static void handle_query(struct worker *w, struct req *r)
{
    const char *q = r->query;
    size_t oplen = query_op_len(q);
    struct listing l;
    struct mkv_reject rej;
    char start[MKV_URI_MAX], limit[64];
    size_t slen = 0, llen;
    const char *from;
    size_t fromlen;
    int found;

    memset(&l, 0, sizeof(l));
    l.r = r;
    l.prefix = r->key;
    l.plen = r->klen;
    if (oplen == 4 && !strncmp(q, "list", 4))
        l.want_deleted = 0;
    else if (oplen == 8 && !strncmp(q, "unlinked", 8))
        l.want_deleted = 1;
    else if (oplen == 6 && !strncmp(q, "health", 6)) {
        handle_health(w, r);
        return;
    } else if (oplen == 5 && !strncmp(q, "stats", 5)) {
        handle_stats(w, r);
        return;
    } else {
        reply_error(r, 400,
                    "unknown query operation: use ?list, ?unlinked, ?health or ?stats first");
        return;
    }
    if (query_param(q, "limit", limit, sizeof(limit), &llen, &found, &rej) < 0 ||
        (found && parse_limit(limit, &l.limit, &rej) < 0)) {
        reply_error(r, 400, rej.why);
        return;
    }
    /* No limit, or one no listing can reach (past LIST_CAP the answer is a
     * 413 either way): the whole listing. */
    if (l.limit < 0 || l.limit > LIST_CAP)
        l.limit = 0;
    if (query_param(q, "start", start, sizeof(start), &slen, &found, &rej) < 0) {
        reply_error(r, 400, rej.why);
        return;
    }
    /* Begin at max(prefix, start): keys below the prefix cannot match. */
    from = r->key;
    fromlen = r->klen;
    if (found) {
        size_t m = slen < r->klen ? slen : r->klen;
        int c = memcmp(start, r->key, m);
        if (c > 0 || (c == 0 && slen > r->klen)) {
            from = start;
            fromlen = slen;
        }
    }
    if (l.limit > 0)
        list_page(w, r, &l, from, fromlen);
    else
        list_all(w, r, &l, from, fromlen);
}

/* ---- dispatch --------------------------------------------------------- */

/* With write_secret set, a write must carry it in X-Mkv-Secret.  Their
 * SHA-256 digests are compared in constant time, so response timing reveals
 * neither how much of a guess was right nor the secret's length; the value is
 * never logged.  Answers 403 and returns 0 otherwise. */
static int write_allowed(struct worker *w, struct req *r)
{
    const char *want = w->cfg->write_secret, *got = param(r, "HTTP_X_MKV_SECRET");
    unsigned char a[EVP_MAX_MD_SIZE], b[EVP_MAX_MD_SIZE];
    unsigned int alen = 0, blen = 0;

    if (*want == '\0')
        return 1;
    if (*got == '\0') {
        reply_error(r, 403, "writes need the X-Mkv-Secret header");
        return 0;
    }
    if (!EVP_Digest(want, strlen(want), a, &alen, EVP_sha256(), NULL) ||
        !EVP_Digest(got, strlen(got), b, &blen, EVP_sha256(), NULL) || alen != blen ||
        CRYPTO_memcmp(a, b, alen) != 0) {
        reply_error(r, 403, "wrong X-Mkv-Secret");
        return 0;
    }
    return 1;
}

/* For a key key_check refuses: 1 when it is one the original stored ("/", or
 * with "." or ".." segments: the worker decodes the raw URI, so a client
 * sending them as %2E reaches it) and the index has a record of it.  Such a
 * key is read, deleted, unlinked and rebalanced like any other; new ones stay
 * refused (most clients resolve dot segments before sending: a key stored
 * under one would be unreachable to them).  An index failure counts as
 * stored: the handler then reports it. */
static int key_stored(struct worker *w, struct req *r)
{
    struct mkv_reject rej;

    if (key_check_stored(r->key, r->klen, &rej) < 0)
        return 0;
    return index_exists(w->ix, r->key, r->klen) != MKV_NOTFOUND;
}

void handle(struct worker *w, struct req *r)
{
    struct mkv_reject rej;
    enum mkv_method m = method_id(r->method);
    int is_get = m == MKV_M_GET, is_head = m == MKV_M_HEAD, is_put = m == MKV_M_PUT;

    if (!strcmp(param(r, "MKV_API"), "s3")) {
        s3_handle(w, r);
        return;
    }
    r->head = is_head;
    r->head_length = -1;
    if (m == MKV_M_OTHER) {
        char why[128], allow[128];
        int n = snprintf(why, sizeof(why), "method not allowed: use %s\n", method_allow());
        snprintf(allow, sizeof(allow), "Allow: %s\r\n", method_allow());
        reply(r, 405, allow, "text/plain; charset=utf-8", why,
              n > 0 && (size_t)n < sizeof(why) ? (size_t)n : strlen(why));
        return;
    }
    if (index_ready(w->ix) < 0) {
        reply_error(r, 503,
                    "the index holds records of mkv 0.1: run `mkv-upkeep upgrade` (README: "
                    "Upgrading); served again once it is done");
        return;
    }
    if (!is_get && !is_head && !write_allowed(w, r))
        return;
    r->query = NULL;
    {
        /* Served under a path prefix (nginx/mkv-prefix.conf): the key is
         * what follows it. */
        const char *prefix = param(r, "MKV_PREFIX");
        size_t pl = strlen(prefix);

        if (pl > 0 && prefix[pl - 1] == '/')
            pl--;
        if (pl > 0) {
            if (strncmp(r->uri, prefix, pl) != 0 || (r->uri[pl] != '/' && r->uri[pl] != '?')) {
                reply_error(r, 404, "outside the mkv prefix");
                return;
            }
            r->uri += pl;
        }
    }
    {
        const char *qm = strchr(r->uri, '?');
        size_t plen = qm ? (size_t)(qm - r->uri) : strlen(r->uri);

        if (qm && qm[1])
            r->query = qm + 1;
        if (url_decode(r->uri, plen, 0, r->key, sizeof(r->key), &r->klen, &rej) < 0) {
            reply_error(r, rej.status, rej.why);
            return;
        }
    }
    if (is_get && r->query) {
        if (r->klen == 0 || r->key[0] != '/') {
            reply_error(r, 400, "path must start with /");
            return;
        }
        handle_query(w, r);
        return;
    }
    if (key_check(r->key, r->klen, &rej) < 0 && (is_put || !key_stored(w, r))) {
        reply_error(r, rej.status, rej.why);
        return;
    }
    if (r->query && !is_head) {
        reply_error(r, 400, "query strings are only for GET ?list and ?unlinked");
        return;
    }
    switch (m) {
    case MKV_M_GET:
    case MKV_M_HEAD: handle_get(w, r); break;
    case MKV_M_PUT: handle_put(w, r); break;
    case MKV_M_DELETE: handle_delete(w, r, 0); break;
    case MKV_M_UNLINK: handle_delete(w, r, 1); break;
    case MKV_M_REBALANCE: handle_rebalance(w, r); break;
    default: reply_error(r, 500, "unhandled method"); break;
    }
}
