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
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "md5.h"
#include "placement.h"
#include "rebalance.h"
#include "record.h"

#define LIST_CAP 1000000 /* keys one unlimited listing may return (SPEC 5.3) */

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

/* Where DELETE looks: every volume the record lists, and every volume
 * placement names.  A record rebuilt while the key was being crawled may not
 * list every replica yet; removing only those would let the crawl bring the
 * key back from the others.  A volume without the file answers 404: fine. */
static int delete_targets(struct worker *w, struct req *r, const struct mkv_record *rec,
                          const char *path, char urls[][URL_MAX], char **ptrs)
{
    struct mkv_placement p;
    int n = 0;

    for (int i = 0; i < rec->nvols; i++) {
        volume_url(w->cfg, urls[n], URL_MAX, rec->vols[i], path);
        ptrs[n] = urls[n];
        n++;
    }
    if (key2volumes(w->cfg, r->key, r->klen, &p) < 0)
        return n;
    for (int i = 0; i < p.n; i++) {
        int listed = 0;
        for (int j = 0; j < rec->nvols; j++)
            listed |= !strcmp(rec->vols[j], p.vols[i]);
        if (listed)
            continue;
        volume_url(w->cfg, urls[n], URL_MAX, p.vols[i], path);
        ptrs[n] = urls[n];
        n++;
    }
    return n;
}

/* Bounded decimal: at most 18 digits, nothing else. */
static int parse_length(const char *s, long long *out)
{
    long long v = 0;
    int d = 0;

    for (; *s; s++, d++) {
        if (!isdigit((unsigned char)*s) || d == 18)
            return -1;
        v = v * 10 + (*s - '0');
    }
    if (d == 0)
        return -1;
    *out = v;
    return 0;
}

static ssize_t read_fd(void *arg, char *buf, size_t cap)
{
    int fd = *(int *)arg;
    size_t got = 0;

    while (got < cap) {
        ssize_t n = read(fd, buf + got, cap - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        if (n == 0)
            break;
        got += (size_t)n;
    }
    return (ssize_t)got;
}

static ssize_t read_fcgi(void *arg, char *buf, size_t cap)
{
    FCGX_Stream *in = arg;
    int n = FCGX_GetStr(buf, cap > (1u << 30) ? (1 << 30) : (int)cap, in);

    if (n < 0 || FCGX_GetError(in) != 0)
        return -1;
    return n;
}

/* How long a write waits for failchk to free a lock a dead process held:
 * its supervisor runs failchk as soon as it reaps it; another pool's
 * supervisor within MONITOR_EVERY (5 s) if the whole pool died. */
#define DEAD_HOLDER_WAIT_MS 8000

/* Takes the key's write lock, or replies 409/500 and returns -1.  A lock
 * held by a process that died is waited for (see index_lock_after_dead).
 * *retry tells the handler that this request may be the retry of one that
 * died half-way (seen.h): its request id was seen before, or it had to wait
 * for a dead holder.  The handler then answers by whether the key is in the
 * state the request asked for, which its first try may have reached. */
static int lock_key(struct worker *w, struct req *r, struct mkv_keylock *kl, int *retry)
{
    int rc = index_lock(w->ix, r->key, r->klen, kl);

    /* nginx's $request_id, the same for every try of one client request */
    *retry = seen_mark(w->seen, param(r, "MKV_REQUEST_ID"));
    if (rc == MKV_BUSY) {
        rc = index_lock_after_dead(w->ix, r->key, r->klen, kl, DEAD_HOLDER_WAIT_MS);
        *retry |= rc == MKV_OK;
    }
    if (rc == MKV_OK)
        return 0;
    if (rc == MKV_BUSY)
        reply_error(r, 409, "another write of this key is in progress");
    else
        index_failed(w, r, "index lock failed");
    return -1;
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

static void handle_get(struct worker *w, struct req *r)
{
    struct mkv_record rec;
    struct mkv_placement p;
    char path[MKV_PATH_MAX], vols[MKV_RECORD_MAX], md5hdr[64] = "";
    char hdr[MKV_RECORD_MAX + 2 * URL_MAX], why[256] = "";
    int order[MKV_RECORD_VOLS], rc, chosen = -1, answered = 0;

    rc = index_get(w->ix, r->key, r->klen, &rec);
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
    if (key2path(r->key, r->klen, path) < 0 || key2volumes(w->cfg, r->key, r->klen, &p) < 0 ||
        record_join_vols(&rec, vols, sizeof(vols)) < 0) {
        reply_error(r, 500, "placement failed");
        return;
    }
    /* A random order spreads reads over the replicas: over the first
     * placement-many listed, then (probing) the others.  A record lists more
     * while mkv-rebalance moves the key, the new copies first: the old ones
     * are about to be removed and must not get new redirects. */
    for (int i = 0; i < rec.nvols; i++)
        order[i] = i;
    shuffle(w, order, rec.nvols < p.n ? rec.nvols : p.n);
    if (rec.nvols > p.n)
        shuffle(w, order + p.n, rec.nvols - p.n);
    for (int i = 0; i < rec.nvols && chosen < 0; i++) {
        char url[URL_MAX];
        long code;

        volume_url(w->cfg, url, sizeof(url), rec.vols[order[i]], path);
        if (!w->cfg->probe) {
            chosen = order[i];
            break;
        }
        code = vclient_head_why(&w->vc, url, w->cfg->probe_timeout_ms, why, sizeof(why));
        if (code == 200)
            chosen = order[i];
        answered |= code >= 0;
    }
    if (chosen < 0) {
        snprintf(hdr, sizeof(hdr), "%sKey-Volumes: %s\r\nKey-Balance: %s\r\n", md5hdr, vols,
                 record_matches(&rec, &p) ? "balanced" : "unbalanced");
        /* Volumes that answered without the file: not found (as the
         * original).  None could be asked at all (down, timing out, a
         * certificate that does not verify): say so instead. */
        if (answered) {
            reply(r, 404, hdr, NULL, NULL, 0);
        } else {
            char line[sizeof(why) + 64];
            int n = snprintf(line, sizeof(line), "no volume holding the key answered: %s\n", why);
            reply(r, 503, hdr, "text/plain; charset=utf-8", line,
                  n > 0 && (size_t)n < sizeof(line) ? (size_t)n : strlen(line));
        }
        return;
    }
    snprintf(r->volume, sizeof(r->volume), "%s", rec.vols[chosen]);
    snprintf(hdr, sizeof(hdr), "Location: %s://%s%s\r\n%sKey-Volumes: %s\r\nKey-Balance: %s\r\n",
             w->cfg->volume_scheme, rec.vols[chosen], path, md5hdr, vols,
             record_matches(&rec, &p) ? "balanced" : "unbalanced");
    reply(r, 302, hdr, NULL, NULL, 0);
}

/* ---- PUT -------------------------------------------------------------- */

/* Removes the replicas a failed PUT may have written, then its record.  The
 * record stays SOFT (listed by ?unlinked) only if such a replica could not be
 * removed, so nothing live ever points at missing data.  A volume that never
 * got a byte of the request is not asked: it may well be the one that is down. */
static void undo_put(struct worker *w, struct req *r, char **urls, int n, const int *touched)
{
    char *maybe[MKV_MAX_REPLICAS], why[256];
    int m = 0;

    for (int i = 0; i < n; i++)
        if (!touched || touched[i])
            maybe[m++] = urls[i];
    if (m > 0 && vclient_delete(&w->vc, maybe, m, why, sizeof(why)) < 0) {
        log_error("PUT cleanup of a key of %zu bytes left a SOFT record: %s", r->klen, why);
        return;
    }
    if ((m = index_del(w->ix, r->key, r->klen)) < 0 && m != MKV_NOTFOUND)
        log_error("PUT cleanup: index delete failed");
}

/* The live record was committed but the log flush failed (a disk error):
 * it is visible, and a machine crash may keep it or not.  A 500 must not
 * leave the key live, so the record goes back to SOFT; the replicas stay,
 * since whichever record survives a crash names them.  DELETE purges. */
static void unsure_put(struct worker *w, struct req *r, struct mkv_record *rec)
{
    rec->deleted = 1;
    if (index_put_written(w->ix, r->key, r->klen, rec) != MKV_OK)
        log_error("PUT: index flush failed and the record stays live");
    index_failed(w, r, "index flush failed (disk error): the key is left unlinked");
}

struct body {
    int fd;           /* spooled body file (REQUEST_BODY_FILE), or -1 */
    long long length; /* -1: unknown (chunked, streamed by nginx) */
    body_read_fn rd;  /* reads it: from the file, or from FastCGI stdin */
    void *rdarg;
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
    b->length = -1;
    b->rd = read_fcgi;
    b->rdarg = r->fr->in;
    if (*cl && parse_length(cl, &b->length) < 0) {
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
        b->length = st.st_size;
        b->rd = read_fd;
        b->rdarg = &b->fd;
    } else if (!*cl && strcasestr(param(r, "HTTP_TRANSFER_ENCODING"), "chunked")) {
        return 0; /* length unknown: vclient_put finds out whether it is empty */
    }
    if (b->length <= 0) {
        reply_error(r, 411, "empty body: a value needs at least one byte");
        return -1;
    }
    return 0;
}

/* Whether the body's MD5 is hash (hex).  It reads the body: only for a PUT
 * that then answers without storing it. */
static int same_body(const struct body *b, const char *hash)
{
    unsigned char d[16];
    char hex[33], buf[65536];
    struct mkv_md5 m;
    ssize_t n;

    if (strlen(hash) != 32 || md5_init(&m) < 0)
        return 0;
    while ((n = b->rd(b->rdarg, buf, sizeof(buf))) > 0) {
        if (md5_update(&m, buf, (size_t)n) < 0) {
            md5_free(&m);
            return 0;
        }
    }
    if (md5_final(&m, d) < 0 || n < 0)
        return 0;
    md5_hex(d, hex);
    return strcmp(hex, hash) == 0;
}

static void handle_put(struct worker *w, struct req *r)
{
    struct mkv_placement p;
    struct mkv_record rec;
    struct mkv_keylock kl;
    struct body b;
    char path[MKV_PATH_MAX], url[MKV_MAX_REPLICAS][URL_MAX], *urls[MKV_MAX_REPLICAS];
    struct vput v;
    unsigned char want[16];
    const char *cmd5 = param(r, "HTTP_CONTENT_MD5");
    int rc, have_md5 = *cmd5 != '\0', retry;

    if (have_md5 && parse_content_md5(cmd5, want) < 0) {
        reply_error(r, 400, "Content-MD5 must be 32 hex digits or 24 base64 characters");
        return;
    }
    b.fd = -1;
    if (key2path(r->key, r->klen, path) < 0 || key2volumes(w->cfg, r->key, r->klen, &p) < 0) {
        reply_error(r, 500, "placement failed");
        return;
    }
    /* The original's order: 409 (a write in flight) before 411, 403. */
    if (lock_key(w, r, &kl, &retry) < 0)
        return;
    if (open_body(r, &b) < 0)
        goto unlock;
    rc = index_get(w->ix, r->key, r->klen, &rec);
    if (rc != MKV_OK && rc != MKV_NOTFOUND) {
        index_failed(w, r, "index read failed");
        goto unlock;
    }
    if (rc == MKV_OK && !rec.deleted) {
        /* The retry of a PUT whose worker died after storing it: the key
         * holds exactly this body, which is what the client asked for. */
        if (retry && same_body(&b, rec.hash)) {
            reply(r, 201, NULL, NULL, NULL, 0);
            goto unlock;
        }
        reply_error(r, 403, "key exists: DELETE or UNLINK it before writing it again");
        goto unlock;
    }
    /* SOFT while the replicas are written: a crash here leaves a record that
     * ?unlinked lists and DELETE purges, never a live one.  Written, not
     * flushed: the 201 waits for the live record's flush, which takes this
     * one along; a machine crash before it could lose only this record, and
     * with it nothing but orphan files no record points at. */
    memset(&rec, 0, sizeof(rec));
    rec.deleted = 1;
    record_set_vols(&rec, &p);
    if (index_put_written(w->ix, r->key, r->klen, &rec) != MKV_OK) {
        index_failed(w, r, "index write failed");
        goto unlock;
    }
    for (int i = 0; i < p.n; i++) {
        volume_url(w->cfg, url[i], URL_MAX, p.vols[i], path);
        urls[i] = url[i];
    }
    memset(&v, 0, sizeof(v));
    v.length = b.length;
    v.rd = b.rd;
    v.rdarg = b.rdarg;
    snprintf(r->volume, sizeof(r->volume), "%s", p.vols[0]);
    rc = vclient_put(&w->vc, urls, p.n, &v);
    r->bytes_in = v.sent;
    if (rc < 0) {
        undo_put(w, r, urls, p.n, v.touched);
        reply_error(r, rc == VPUT_EMPTY ? 411 : rc == VPUT_BODY ? 400 : 500, v.why);
        goto unlock;
    }
    if (have_md5 && memcmp(want, v.md5, 16) != 0) {
        undo_put(w, r, urls, p.n, NULL);
        reply_error(r, 400, "Content-MD5 does not match the body");
        goto unlock;
    }
    rec.deleted = 0;
    if (w->cfg->md5sum)
        md5_hex(v.md5, rec.hash);
    rc = index_put(w->ix, r->key, r->klen, &rec);
    if (rc == MKV_UNSURE) {
        unsure_put(w, r, &rec);
        goto unlock;
    }
    if (rc != MKV_OK) {
        undo_put(w, r, urls, p.n, NULL);
        index_failed(w, r, "index write failed");
        goto unlock;
    }
    reply(r, 201, NULL, NULL, NULL, 0);

unlock:
    index_unlock(w->ix, &kl);
    if (b.fd >= 0)
        close(b.fd);
}

/* ---- DELETE / UNLINK -------------------------------------------------- */

static void handle_delete(struct worker *w, struct req *r, int unlink_only)
{
    struct mkv_record rec;
    struct mkv_keylock kl;
    char path[MKV_PATH_MAX], url[MKV_RECORD_VOLS + MKV_MAX_REPLICAS][URL_MAX];
    char *urls[MKV_RECORD_VOLS + MKV_MAX_REPLICAS], why[256];
    int rc, n, retry;

    if (lock_key(w, r, &kl, &retry) < 0)
        return;
    rc = index_get(w->ix, r->key, r->klen, &rec);
    if (rc != MKV_OK && rc != MKV_NOTFOUND) {
        index_failed(w, r, "index read failed");
        goto unlock;
    }
    if (rc == MKV_NOTFOUND || (unlink_only && rec.deleted)) {
        /* The retry of a DELETE (UNLINK) whose worker died after doing it:
         * the key is gone (unlinked), as asked. */
        int done = retry && (unlink_only ? rc == MKV_OK : rc == MKV_NOTFOUND);
        reply(r, done ? 204 : 404, NULL, NULL, NULL, 0);
        goto unlock;
    }
    if (!unlink_only && !rec.deleted && w->cfg->protect) {
        reply_error(r, 403, "protected: UNLINK the key before deleting it");
        goto unlock;
    }
    if (!rec.deleted) {
        rec.deleted = 1;
        if (index_put(w->ix, r->key, r->klen, &rec) != MKV_OK) {
            index_failed(w, r, "index write failed");
            goto unlock;
        }
    }
    if (unlink_only) {
        reply(r, 204, NULL, NULL, NULL, 0);
        goto unlock;
    }
    if (key2path(r->key, r->klen, path) < 0) {
        reply_error(r, 500, "placement failed");
        goto unlock;
    }
    n = delete_targets(w, r, &rec, path, url, urls);
    if (rec.nvols > 0)
        snprintf(r->volume, sizeof(r->volume), "%s", rec.vols[0]);
    if (vclient_delete(&w->vc, urls, n, why, sizeof(why)) < 0) {
        /* The record stays SOFT: ?unlinked shows it, DELETE retries it. */
        reply_error(r, 500, why);
        goto unlock;
    }
    rc = index_del(w->ix, r->key, r->klen);
    if (rc < 0 && rc != MKV_NOTFOUND) {
        index_failed(w, r, "index delete failed");
        goto unlock;
    }
    reply(r, 204, NULL, NULL, NULL, 0);

unlock:
    index_unlock(w->ix, &kl);
}

/* ---- REBALANCE ------------------------------------------------------ */

/* The original's per-key method (SPEC 5.5): move this key's replicas to
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

struct listing {
    struct req *r;
    const char *prefix;
    size_t plen;
    int want_deleted; /* ?unlinked */
    long long limit;  /* emit at most this many (0: no limit) */
    long long count;  /* matches seen */
    int emit;         /* second pass: write keys out */
    int over;         /* more than LIST_CAP matches */
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

static void out_json_string(struct req *r, const char *s, size_t n)
{
    char clean[3 * MKV_URI_MAX], buf[6 * 3 * MKV_URI_MAX + 3];
    size_t cn, len = 0;
    json_t *js;

    if (n > MKV_URI_MAX) { /* only an imported index could hold such a key */
        log_error("listing: skipped a key of %zu bytes", n);
        out(r, "\"\"", 2);
        return;
    }
    cn = utf8_sanitize((const unsigned char *)s, n, clean);
    js = json_stringn(clean, cn);
    if (js)
        len = json_dumpb(js, buf, sizeof(buf), JSON_ENCODE_ANY);

    if (len > 0 && len <= sizeof(buf))
        out(r, buf, len);
    else
        out(r, "\"\"", 2);
    json_decref(js);
}

static int list_visit(void *arg, const char *key, size_t klen, const char *val, size_t vlen)
{
    struct listing *l = arg;
    int deleted = vlen >= 7 && !memcmp(val, "DELETED", 7);

    if (klen < l->plen || memcmp(key, l->prefix, l->plen) != 0)
        return 1; /* past the prefix range */
    if (deleted != l->want_deleted)
        return 0;
    if (l->limit > 0 && l->count == l->limit) {
        if (klen <= MKV_URI_MAX) {
            memcpy(l->next, key, klen);
            l->nextlen = klen;
            l->have_next = 1;
        }
        return 1;
    }
    if (l->count == LIST_CAP) {
        l->over = 1;
        return 1;
    }
    if (l->emit) {
        if (l->count > 0)
            out(l->r, ",", 1);
        out_json_string(l->r, key, klen);
    }
    l->count++;
    return 0;
}

/* GET /?health: 200 when the index answers (for load balancers). */
static void handle_health(struct worker *w, struct req *r)
{
    struct mkv_record rec;
    int rc;

    rc = index_get(w->ix, "/", 1, &rec);
    if ((rc != MKV_OK && rc != MKV_NOTFOUND) || w->ix->panic)
        reply_error(r, 503, "index unavailable");
    else
        reply(r, 200, NULL, "text/plain; charset=utf-8", "ok\n", 3);
}

/* GET /?stats: counters of every worker and of the index, in Prometheus'
 * text exposition format. */
static void handle_stats(struct worker *w, struct req *r)
{
    static const char *methods[] = {"GET", "HEAD", "PUT", "DELETE", "UNLINK", "REBALANCE", "other"};
    static const char *classes[] = {"unknown", "1xx", "2xx", "3xx", "4xx", "5xx"};
    char buf[16384];
    size_t off = 0;
    DB_MPOOL_STAT *mp = NULL;
    DB_LOCK_STAT *lk = NULL;

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
    for (int m = 0; m < ST_METHODS; m++)
        for (int c = 0; c < 6; c++) {
            unsigned long v = atomic_load(&w->st->requests[m][c]);
            if (v)
                EMIT("mkv_requests_total{method=\"%s\",status=\"%s\"} %lu\n", methods[m],
                     classes[c], v);
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
    if (w->ix->env->memp_stat(w->ix->env, &mp, NULL, 0) == 0 && mp) {
        unsigned long hit = mp->st_cache_hit, miss = mp->st_cache_miss;
        EMIT("# HELP mkv_index_cache_hits_total Berkeley DB cache page requests found in the "
             "cache.\n"
             "# TYPE mkv_index_cache_hits_total counter\nmkv_index_cache_hits_total %lu\n"
             "# HELP mkv_index_cache_misses_total Berkeley DB cache page requests read from "
             "disk.\n"
             "# TYPE mkv_index_cache_misses_total counter\nmkv_index_cache_misses_total %lu\n"
             "# HELP mkv_index_cache_hit_ratio Hits over all page requests since the "
             "environment was created.\n"
             "# TYPE mkv_index_cache_hit_ratio gauge\nmkv_index_cache_hit_ratio %.6f\n",
             hit, miss, hit + miss ? (double)hit / (double)(hit + miss) : 1.0);
        free(mp);
    }
    if (w->ix->env->lock_stat(w->ix->env, &lk, 0) == 0 && lk) {
        EMIT("# HELP mkv_index_lock_waits_total Index lock requests that had to wait.\n"
             "# TYPE mkv_index_lock_waits_total counter\nmkv_index_lock_waits_total %lu\n"
             "# HELP mkv_index_lock_nowait_refused_total Key locks refused at once (a write "
             "of the key in flight: 409).\n"
             "# TYPE mkv_index_lock_nowait_refused_total counter\n"
             "mkv_index_lock_nowait_refused_total %lu\n"
             "# HELP mkv_index_deadlocks_total Deadlocks the detector broke (retried).\n"
             "# TYPE mkv_index_deadlocks_total counter\nmkv_index_deadlocks_total %lu\n",
             (unsigned long)lk->st_lock_wait, (unsigned long)lk->st_lock_nowait,
             (unsigned long)lk->st_ndeadlocks);
        free(lk);
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
    int rc;

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
    rc = query_param(q, "limit", limit, sizeof(limit), &llen, &rej);
    if (rc < 0 || (rc == 1 && parse_limit(limit, &l.limit, &rej) < 0)) {
        reply_error(r, 400, rej.why);
        return;
    }
    if (l.limit < 0)
        l.limit = 0;
    rc = query_param(q, "start", start, sizeof(start), &slen, &rej);
    if (rc < 0) {
        reply_error(r, 400, rej.why);
        return;
    }
    /* Begin at max(prefix, start): keys below the prefix cannot match. */
    from = r->key;
    fromlen = r->klen;
    if (rc == 1) {
        size_t m = slen < r->klen ? slen : r->klen;
        int c = memcmp(start, r->key, m);
        if (c > 0 || (c == 0 && slen > r->klen)) {
            from = start;
            fromlen = slen;
        }
    }
    /* First pass: find "next" (it comes first in the JSON) and enforce the
     * cap; second pass: stream the keys out.  Nothing is buffered. */
    if (index_scan(w->ix, from, fromlen, list_visit, &l) != MKV_OK) {
        index_failed(w, r, "index scan failed");
        return;
    }
    if (l.over) {
        reply_error(r, 413, "more than 1000000 keys match: page with &limit=N");
        return;
    }
    reply_begin(r, "application/json");
    out(r, "{\"next\":", 8);
    out_json_string(r, l.have_next ? l.next : "", l.have_next ? l.nextlen : 0);
    out(r, ",\"keys\":[", 9);
    l.count = 0;
    l.emit = 1;
    l.have_next = 0;
    if (index_scan(w->ix, from, fromlen, list_visit, &l) != MKV_OK)
        log_error("index scan failed in the middle of a listing");
    out(r, "]}", 2);
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

void handle(struct worker *w, struct req *r)
{
    struct mkv_reject rej;
    const char *m = r->method;
    int is_get = !strcmp(m, "GET"), is_head = !strcmp(m, "HEAD");
    int is_put = !strcmp(m, "PUT"), is_del = !strcmp(m, "DELETE"), is_unl = !strcmp(m, "UNLINK");
    int is_reb = !strcmp(m, "REBALANCE");

    r->head = is_head;
    if (!is_get && !is_head && !is_put && !is_del && !is_unl && !is_reb) {
        static const char why[] =
            "method not allowed: use GET, HEAD, PUT, DELETE, UNLINK or REBALANCE\n";
        reply(r, 405, "Allow: GET, HEAD, PUT, DELETE, UNLINK, REBALANCE\r\n",
              "text/plain; charset=utf-8", why, sizeof(why) - 1);
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
    if (key_check(r->key, r->klen, &rej) < 0) {
        reply_error(r, rej.status, rej.why);
        return;
    }
    if (r->query && !is_head) {
        reply_error(r, 400, "query strings are only for GET ?list and ?unlinked");
        return;
    }
    if (is_get || is_head)
        handle_get(w, r);
    else if (is_put)
        handle_put(w, r);
    else if (is_reb)
        handle_rebalance(w, r);
    else
        handle_delete(w, r, is_unl);
}
