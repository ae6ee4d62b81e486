/* volume.c: parallel PUT and DELETE to volumes, HEAD probes (see volume.h). */
#include "volume.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "clock.h"
#include "log.h"
#include "md5.h"
#include "placement.h"

/* One replica's upload: how far it has read into the current chunk. */
struct upload {
    struct fanout *f;
    CURL *h;
    size_t pos;
    int paused;
    int done;
};

/* The chunk every replica reads before the next one is fetched. */
struct fanout {
    char *buf;
    size_t len;
    int eof;
    int first; /* buf holds the body from its first byte */
};

/* The chunk buffers of one PUT are mapped for it and unmapped after: a
 * request thread keeps no value bytes resident between PUTs.  (Kept from one
 * PUT to the next, as malloc'ed buffers were, every one of a worker's 64
 * threads that once sent a big value held 1 MiB: 38 MB of RSS after a 5 GiB
 * multipart upload's 80 parts.) */
static char *map_chunk(void)
{
    void *p = mmap(NULL, MKV_CHUNK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

    return p == MAP_FAILED ? NULL : p;
}

static void unmap_chunk(char *p)
{
    if (p)
        munmap(p, MKV_CHUNK);
}

int vclient_init(struct mkv_vclient *vc, const struct mkv_config *cfg)
{
    memset(vc, 0, sizeof(*vc));
    vc->connect_timeout_ms = cfg->connect_timeout_ms;
    vc->idle_timeout_ms = cfg->idle_timeout_ms;
    vc->probe_timeout_ms = cfg->probe_timeout_ms;
    vc->cfg = cfg;
    vc->multi = curl_multi_init();
    if (!vc->multi)
        goto fail;
    for (int i = 0; i < MKV_MAX_REPLICAS; i++)
        if (!(vc->easy[i] = curl_easy_init()))
            goto fail;
    return 0;

fail:
    vclient_free(vc);
    return -1;
}

void vclient_free(struct mkv_vclient *vc)
{
    for (int i = 0; i < MKV_MAX_REPLICAS; i++)
        if (vc->easy[i])
            curl_easy_cleanup(vc->easy[i]);
    if (vc->multi)
        curl_multi_cleanup(vc->multi);
    unmap_chunk(vc->chunk);
    unmap_chunk(vc->chunk2);
    memset(vc, 0, sizeof(*vc));
}

static size_t discard(char *p, size_t size, size_t n, void *arg)
{
    (void)p;
    (void)arg;
    return size * n;
}

void volume_url(const struct mkv_config *cfg, char *out, size_t cap, const char *vol,
                const char *path)
{
    snprintf(out, cap, "%s://%s%s", cfg->volume_scheme, vol, path);
}

/* Whole milliseconds of the monotonic clock (struct vidle counts in them). */
static long long now_ms(void)
{
    return (long long)clock_ms();
}

/* libcurl calls this at least once a second during a transfer.  A volume
 * that moves no byte either way for limit_ms fails the call.  (libcurl's own
 * LOW_SPEED check averages over about 5 s, so a stall after a quick upload
 * failed some 5 s late.) */
static int on_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    struct vidle *d = arg;
    long long t = now_ms();

    (void)dltotal;
    (void)ultotal;
    if (dlnow != d->down || ulnow != d->up) {
        d->down = dlnow;
        d->up = ulnow;
        d->since_ms = t;
        return 0;
    }
    if (d->limit_ms > 0 && t - d->since_ms >= d->limit_ms) {
        d->expired = 1;
        return 1; /* abort: CURLE_ABORTED_BY_CALLBACK */
    }
    return 0;
}

static struct vidle *idle_of(struct mkv_vclient *vc, CURL *h)
{
    for (int i = 0; i < MKV_MAX_REPLICAS; i++)
        if (vc->easy[i] == h)
            return &vc->idle[i];
    return &vc->idle[0];
}

/* Restarts the idle clocks: after the body was read (a slow client is not
 * an idle volume), and when a transfer starts. */
static void idle_restart(struct mkv_vclient *vc)
{
    long long t = now_ms();

    for (int i = 0; i < MKV_MAX_REPLICAS; i++)
        vc->idle[i].since_ms = t;
}

/* Why a transfer on h failed with res, in words. */
static const char *failure(struct mkv_vclient *vc, CURL *h, CURLcode res, char *buf, size_t cap)
{
    if (res == CURLE_ABORTED_BY_CALLBACK && idle_of(vc, h)->expired) {
        snprintf(buf, cap, "no progress for %ld ms (idle_timeout_ms)", vc->idle_timeout_ms);
        return buf;
    }
    return curl_easy_strerror(res);
}

/* Options shared by every call: reset the handle, keep its connection. */
static void base_opts(struct mkv_vclient *vc, CURL *h, const char *url)
{
    struct vidle *d = idle_of(vc, h);

    curl_easy_reset(h);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, vc->connect_timeout_ms);
    /* A volume that stops moving bytes fails the call instead of pinning the
     * key lock forever (docs/compat.md §9.4). */
    *d = (struct vidle){0, 0, now_ms(), vc->idle_timeout_ms, 0};
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(h, CURLOPT_XFERINFODATA, d);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
    /* https volumes: libcurl verifies the peer and host name by default;
     * a failure fails the call with curl's reason. */
    if (vc->cfg && vc->cfg->volume_cafile[0])
        curl_easy_setopt(h, CURLOPT_CAINFO, vc->cfg->volume_cafile);
}

static size_t read_chunk(char *dst, size_t size, size_t nitems, void *arg)
{
    struct upload *u = arg;
    struct fanout *f = u->f;
    size_t cap = size * nitems, m;

    if (u->pos < f->len) {
        m = f->len - u->pos < cap ? f->len - u->pos : cap;
        memcpy(dst, f->buf + u->pos, m);
        u->pos += m;
        return m;
    }
    if (f->eof)
        return 0;
    u->paused = 1;
    return CURL_READFUNC_PAUSE;
}

/* libcurl rewinds an upload to send it again: when a reused keep-alive
 * connection turns out dead (it retries on a fresh one), and, if that retry
 * could not connect, at the start of the handle's next upload (the rewind
 * stays pending in the handle).  Without this every such upload failed
 * ("rewinding of the data stream failed"), even to a healthy volume.  It
 * works while the first chunk is the current one. */
static int seek_chunk(void *arg, curl_off_t offset, int origin)
{
    struct upload *u = arg;

    if (origin != SEEK_SET || offset != 0 || !u->f->first)
        return CURL_SEEKFUNC_CANTSEEK;
    u->pos = 0;
    return CURL_SEEKFUNC_OK;
}

/* The volume name of a URL, for messages: "http://HOST:PORT/svXX/..." */
static void describe(const char *url, char *out, size_t cap)
{
    const char *p = strstr(url, "://");
    const char *s;

    p = p ? p + 3 : url;
    s = strchr(p, '/');
    if (s && s[1] == 's' && s[2] == 'v' && strchr(s + 1, '/'))
        s = strchr(s + 1, '/');
    snprintf(out, cap, "%.*s", s ? (int)(s - p) : (int)strlen(p), p);
}

/* why = "volume HOST:PORT/svXX: <reason>" for a transfer of url on h that
 * failed with res (why may be NULL with whylen 0); counts the error against
 * the volume. */
static void volume_failed(struct mkv_vclient *vc, CURL *h, CURLcode res, const char *url, char *why,
                          size_t whylen)
{
    char vol[MKV_VOLPATH_MAX], buf[96];

    describe(url, vol, sizeof(vol));
    snprintf(why, whylen, "volume %s: %s", vol, failure(vc, h, res, buf, sizeof(buf)));
    stats_volume_error(vc->stats, vc->cfg, url);
}

/* Checks a finished transfer; 0 when status is one of ok1/ok2. */
static int check_done(struct mkv_vclient *vc, CURL *h, CURLcode res, const char *url, long ok1,
                      long ok2, char *why, size_t whylen)
{
    char vol[MKV_VOLPATH_MAX];
    long code = 0;

    if (res != CURLE_OK) {
        volume_failed(vc, h, res, url, why, whylen);
        return -1;
    }
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
    if (code != ok1 && code != ok2) {
        describe(url, vol, sizeof(vol));
        snprintf(why, whylen, "volume %s answered HTTP %ld", vol, code);
        stats_volume_error(vc->stats, vc->cfg, url);
        return -1;
    }
    return 0;
}

/* How a PUT's body is read: chunk by chunk, each added to the MD5, the next
 * one by a helper thread while the replicas are sent the current one, so
 * reading from the front and writing to the volumes overlap instead of
 * taking turns.  Chunks are read one at a time, in order, so the MD5 sees
 * the body in order. */
struct prefetch {
    pthread_t tid;
    int running;
    char *buf;       /* MKV_CHUNK bytes, not the chunk being sent; NULL: no helper */
    body_read_fn rd; /* the body, and its MD5 */
    void *rdarg;
    struct mkv_md5 *m;
    ssize_t got; /* out: as rd; -1 also when the MD5 failed */
};

/* Reads the next chunk of the body into buf and adds it to the MD5. */
static ssize_t read_and_hash(struct prefetch *p, char *buf)
{
    ssize_t got = p->rd(p->rdarg, buf, MKV_CHUNK);

    if (got > 0 && md5_update(p->m, buf, (size_t)got) < 0)
        return -1;
    return got;
}

static void *prefetch_main(void *arg)
{
    struct prefetch *p = arg;

    p->got = read_and_hash(p, p->buf);
    return NULL;
}

/* Waits for the helper thread, if one runs; returns what it read. */
static ssize_t prefetch_wait(struct prefetch *p)
{
    if (!p->running)
        return -1;
    pthread_join(p->tid, NULL);
    p->running = 0;
    return p->got;
}

/* Reads the next chunk of the body into f (from the helper thread when one
 * was started), adding it to the MD5; then, if more of the body is to come,
 * starts reading the one after.  A body of one chunk never starts a thread. */
static int fetch_chunk(struct fanout *f, struct prefetch *p, struct vput *v)
{
    ssize_t got;

    if (p->running) {
        char *spare = f->buf;

        got = prefetch_wait(p);
        if (got > 0) { /* the chunk is in p->buf: send it, read into f's */
            f->buf = p->buf;
            p->buf = spare;
        }
    } else {
        got = read_and_hash(p, f->buf);
    }
    if (got < 0)
        return -1;
    if (got == 0) { /* keep the last chunk: a rewind may send it again */
        f->eof = 1;
        return 0;
    }
    if (f->len > 0)
        f->first = 0;
    f->len = (size_t)got;
    v->sent += got;
    if (p->buf && (v->length < 0 || v->sent < v->length)) {
        /* No thread (out of them): the next chunk is read in turn. */
        p->running = pthread_create(&p->tid, NULL, prefetch_main, p) == 0;
    }
    return 0;
}

static void remove_all(struct mkv_vclient *vc, int n)
{
    for (int i = 0; i < n; i++)
        curl_multi_remove_handle(vc->multi, vc->easy[i]);
}

/* A volume that never received a request byte cannot hold the file. */
static int was_touched(CURL *h)
{
    long req = 0, code = 0;

    curl_easy_getinfo(h, CURLINFO_REQUEST_SIZE, &req);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
    return req > 0 || code == 201 || code == 204;
}

/* One PUT in flight: what its phases share. */
struct putjob {
    struct mkv_vclient *vc;
    char *const *urls;
    int n;
    struct vput *v;
    struct upload up[MKV_MAX_REPLICAS];
    struct fanout f;
    struct mkv_md5 m;
    struct prefetch pf;
    struct curl_slist *hdrs;
    int added; /* easy handles set up for this body */
    int left;  /* uploads not finished */
    int rc;    /* 0, or the first failure (v->why says it) */
};

static void put_failed(struct putjob *j, int rc, const char *why)
{
    if (j->rc == 0) {
        j->rc = rc;
        snprintf(j->v->why, sizeof(j->v->why), "%s", why);
    }
}

/* Sets up one upload per replica, all reading the shared chunk. */
static void start_uploads(struct putjob *j)
{
    for (int i = 0; i < j->n; i++) {
        struct upload *u = &j->up[i];

        *u = (struct upload){&j->f, j->vc->easy[i], 0, 0, 0};
        base_opts(j->vc, u->h, j->urls[i]);
        curl_easy_setopt(u->h, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(u->h, CURLOPT_READFUNCTION, read_chunk);
        curl_easy_setopt(u->h, CURLOPT_READDATA, u);
        curl_easy_setopt(u->h, CURLOPT_SEEKFUNCTION, seek_chunk);
        curl_easy_setopt(u->h, CURLOPT_SEEKDATA, u);
        curl_easy_setopt(u->h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)j->v->length);
        curl_easy_setopt(u->h, CURLOPT_UPLOAD_BUFFERSIZE, 256L * 1024);
        curl_easy_setopt(u->h, CURLOPT_HTTPHEADER, j->hdrs);
        curl_easy_setopt(u->h, CURLOPT_PRIVATE, u);
        curl_multi_add_handle(j->vc->multi, u->h);
        j->added++;
    }
}

/* Collects the uploads that finished.  The others keep going: cutting a
 * replica whose volume already has the whole body would let it finish the
 * file after our clean-up DELETE. */
static void collect_done(struct putjob *j)
{
    char why[sizeof(j->v->why)];
    CURLMsg *msg;
    int q;

    while ((msg = curl_multi_info_read(j->vc->multi, &q))) {
        struct upload *u;

        if (msg->msg != CURLMSG_DONE)
            continue;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&u);
        u->done = 1;
        j->left--;
        if (check_done(j->vc, u->h, msg->data.result, j->urls[u - j->up], 201, 204, why,
                       sizeof(why)) < 0)
            put_failed(j, VPUT_VOLUME, why);
    }
}

/* 1 when every running upload has sent the whole current chunk. */
static int chunk_consumed(const struct putjob *j)
{
    for (int i = 0; i < j->n; i++)
        if (!j->up[i].done && j->up[i].pos < j->f.len)
            return 0;
    return 1;
}

/* Fetches the next chunk and lets every paused upload read it. */
static int next_chunk(struct putjob *j)
{
    if (fetch_chunk(&j->f, &j->pf, j->v) < 0) {
        put_failed(j, VPUT_BODY, "reading the request body failed");
        return -1;
    }
    idle_restart(j->vc); /* the wait was for the client, not the volumes */
    for (int i = 0; i < j->n; i++) {
        struct upload *u = &j->up[i];

        if (!j->f.eof)
            u->pos = 0;
        if (u->paused && !u->done) {
            u->paused = 0;
            curl_easy_pause(u->h, CURLPAUSE_CONT);
        }
    }
    return 0;
}

/* Drives the uploads until each has finished, one chunk at a time. */
static void run_uploads(struct putjob *j)
{
    int running = 0;

    j->left = j->n;
    while (j->left > 0) {
        curl_multi_perform(j->vc->multi, &running);
        collect_done(j);
        if (j->left == 0)
            break;
        if (chunk_consumed(j) && !j->f.eof) {
            if (next_chunk(j) < 0)
                return;
            continue;
        }
        curl_multi_poll(j->vc->multi, NULL, 0, 100, NULL);
    }
    if (j->rc == 0 && j->v->length >= 0 && j->v->sent != j->v->length) {
        char why[sizeof(j->v->why)];
        snprintf(why, sizeof(why), "request body was %lld bytes, Content-Length said %lld",
                 j->v->sent, j->v->length);
        put_failed(j, VPUT_BODY, why);
    }
}

/* Waits for the reading thread, records which volumes may hold the file,
 * and releases the handles. */
static void finish_put(struct putjob *j)
{
    /* The helper may still read (the uploads failed first): it owns the
     * spare buffer, the body and the MD5 until it returns. */
    prefetch_wait(&j->pf);
    /* Only handles set up for this body can have touched a volume. */
    for (int i = 0; i < j->added; i++)
        j->v->touched[i] = was_touched(j->vc->easy[i]);
    remove_all(j->vc, j->added);
    curl_slist_free_all(j->hdrs);
    if (md5_final(&j->m, j->v->md5) < 0)
        put_failed(j, VPUT_VOLUME, "md5 failed");
}

int vclient_put(struct mkv_vclient *vc, char *const *urls, int n, struct vput *v)
{
    struct putjob j;

    memset(&j, 0, sizeof(j));
    j.vc = vc;
    j.urls = urls;
    j.n = n;
    j.v = v;
    v->sent = 0;
    v->why[0] = '\0';
    memset(v->touched, 0, sizeof(v->touched));
    if (!(vc->chunk = map_chunk())) {
        snprintf(v->why, sizeof(v->why), "out of memory for the value's chunks");
        return VPUT_VOLUME;
    }
    j.f = (struct fanout){vc->chunk, 0, 0, 1};
    if (md5_init(&j.m) < 0) {
        snprintf(v->why, sizeof(v->why), "md5 init failed");
        unmap_chunk(vc->chunk);
        vc->chunk = NULL;
        return VPUT_VOLUME;
    }
    j.pf = (struct prefetch){.rd = v->rd, .rdarg = v->rdarg, .m = &j.m};
    /* A second chunk buffer for the helper thread; without it (no memory)
     * the chunks are read in turn. */
    if (v->length < 0 || v->length > MKV_CHUNK)
        vc->chunk2 = map_chunk();
    j.pf.buf = vc->chunk2;
    /* "Expect: 100-continue" would cost a round trip per replica. */
    j.hdrs = curl_slist_append(NULL, "Expect:");
    if (fetch_chunk(&j.f, &j.pf, v) < 0) {
        put_failed(&j, VPUT_BODY, "reading the request body failed");
    } else {
        start_uploads(&j);
        run_uploads(&j);
    }
    finish_put(&j);
    unmap_chunk(vc->chunk);
    unmap_chunk(vc->chunk2);
    vc->chunk = vc->chunk2 = NULL;
    return j.rc;
}

/* Sends method to n <= MKV_MAX_REPLICAS URLs at once, one easy handle each
 * (dsts: each one's WebDAV Destination, or NULL); every one must answer ok1
 * or ok2.  Keeps going after a failure, so a DELETE removes every copy it
 * can. */
static int request_group(struct mkv_vclient *vc, const char *method, char *const *urls,
                         char *const *dsts, int n, long ok1, long ok2, char *why, size_t whylen)
{
    struct curl_slist *hdr[MKV_MAX_REPLICAS] = {0};
    int running = 0, left = n, rc = 0;

    for (int i = 0; i < n; i++) {
        base_opts(vc, vc->easy[i], urls[i]);
        curl_easy_setopt(vc->easy[i], CURLOPT_CUSTOMREQUEST, method);
        curl_easy_setopt(vc->easy[i], CURLOPT_PRIVATE, (char *)urls[i]);
        if (dsts) {
            char line[16 + URL_MAX];
            struct curl_slist *l;

            snprintf(line, sizeof(line), "Destination: %s", dsts[i]);
            if (!(l = curl_slist_append(NULL, line)) ||
                !(hdr[i] = curl_slist_append(l, "Overwrite: T"))) {
                curl_slist_free_all(l);
                snprintf(why, whylen, "out of memory");
                left = i;
                rc = -1;
                break;
            }
            curl_easy_setopt(vc->easy[i], CURLOPT_HTTPHEADER, hdr[i]);
        }
        curl_multi_add_handle(vc->multi, vc->easy[i]);
    }
    while (left > 0) {
        CURLMsg *msg;
        int q;

        curl_multi_perform(vc->multi, &running);
        while ((msg = curl_multi_info_read(vc->multi, &q))) {
            char *url;
            if (msg->msg != CURLMSG_DONE)
                continue;
            left--;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &url);
            if (check_done(vc, msg->easy_handle, msg->data.result, url, ok1, ok2, why, whylen) < 0)
                rc = -1;
        }
        if (left > 0)
            curl_multi_poll(vc->multi, NULL, 0, 100, NULL);
    }
    remove_all(vc, n);
    for (int i = 0; i < n; i++)
        curl_slist_free_all(hdr[i]);
    return rc;
}

int vclient_delete(struct mkv_vclient *vc, char *const *urls, int n, char *why, size_t whylen)
{
    int rc = 0;

    for (int i = 0; i < n; i += MKV_MAX_REPLICAS) {
        int k = n - i < MKV_MAX_REPLICAS ? n - i : MKV_MAX_REPLICAS;
        if (request_group(vc, "DELETE", urls + i, NULL, k, 204, 404, why, whylen) < 0)
            rc = -1;
    }
    return rc;
}

int vclient_move(struct mkv_vclient *vc, char *const *src, char *const *dst, int n, char *why,
                 size_t whylen)
{
    if (n > MKV_MAX_REPLICAS) {
        snprintf(why, whylen, "too many files to move at once");
        return -1;
    }
    return request_group(vc, "MOVE", src, dst, n, 201, 204, why, whylen);
}

/* Runs the one transfer set up on h through the thread's multi handle (so it
 * reuses its keep-alive connections).  Returns the transfer's result. */
static CURLcode run_one(struct mkv_vclient *vc, CURL *h)
{
    CURLcode res = CURLE_OK;
    CURLMsg *msg;
    int running = 1, q;

    curl_multi_add_handle(vc->multi, h);
    while (running) {
        curl_multi_perform(vc->multi, &running);
        if (running)
            curl_multi_poll(vc->multi, NULL, 0, 100, NULL);
    }
    while ((msg = curl_multi_info_read(vc->multi, &q)))
        if (msg->msg == CURLMSG_DONE)
            res = msg->data.result;
    curl_multi_remove_handle(vc->multi, h);
    return res;
}

long vclient_head_why(struct mkv_vclient *vc, const char *url, long timeout_ms, char *why,
                      size_t whylen)
{
    CURL *h = vc->easy[0];
    CURLcode res;
    long code = -1;

    base_opts(vc, h, url);
    curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
    if ((res = run_one(vc, h)) == CURLE_OK) {
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
    } else {
        volume_failed(vc, h, res, url, why, why ? whylen : 0); /* NULL, 0: only counted */
    }
    return code;
}

long vclient_head(struct mkv_vclient *vc, const char *url, long timeout_ms)
{
    return vclient_head_why(vc, url, timeout_ms, NULL, 0);
}

long vclient_head_size(struct mkv_vclient *vc, const char *url, long timeout_ms, long long *size)
{
    curl_off_t len = -1;
    long code = vclient_head_why(vc, url, timeout_ms, NULL, 0);

    if (code >= 0)
        curl_easy_getinfo(vc->easy[0], CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &len);
    *size = (long long)len;
    return code;
}

int vclient_probe(struct mkv_vclient *vc, const char *url)
{
    return vclient_head(vc, url, vc->probe_timeout_ms) == 200;
}

struct sink {
    body_write_fn wr;
    void *arg;
    int failed;
};

static size_t write_sink(char *p, size_t size, size_t n, void *arg)
{
    struct sink *k = arg;

    if (k->wr(k->arg, p, size * n) < 0) {
        k->failed = 1;
        return 0; /* makes curl abort the transfer */
    }
    return size * n;
}

long vclient_get(struct mkv_vclient *vc, const char *url, body_write_fn wr, void *arg, char *why,
                 size_t whylen)
{
    return vclient_get_range(vc, url, NULL, wr, arg, why, whylen);
}

long vclient_get_range(struct mkv_vclient *vc, const char *url, const char *range, body_write_fn wr,
                       void *arg, char *why, size_t whylen)
{
    struct sink k = {wr, arg, 0};
    CURL *h = vc->easy[0];
    CURLcode res;
    long code = -1;

    base_opts(vc, h, url);
    if (range)
        curl_easy_setopt(h, CURLOPT_RANGE, range);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, write_sink);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &k);
    res = run_one(vc, h);
    if (k.failed) {
        snprintf(why, whylen, "GET %s: writing the body failed", url);
    } else if (res != CURLE_OK) {
        char buf[96];
        snprintf(why, whylen, "GET %s: %s", url, failure(vc, h, res, buf, sizeof(buf)));
    } else {
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
    }
    return code;
}
