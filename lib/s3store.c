/* s3store.c: buckets and multipart uploads over the index and the store
 * (see s3store.h). */
#include "s3store.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fdio.h"
#include "hex.h"
#include "log.h"
#include "md5.h"
#include "placement.h"
#include "recbin.h"
#include "s3meta.h"
#include "volume.h"

int s3_bucket_name_ok(const char *b, size_t n)
{
    if (n < 3 || n > S3_BUCKET_MAX || !isalnum((unsigned char)b[0]) ||
        !isalnum((unsigned char)b[n - 1]))
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!(islower((unsigned char)b[i]) || isdigit((unsigned char)b[i]) || b[i] == '.' ||
              b[i] == '-'))
            return 0;
    return 1;
}

static int has_prefix(const char *b, size_t n, const char *p)
{
    size_t l = strlen(p);

    return n >= l && !memcmp(b, p, l);
}

static int has_suffix(const char *b, size_t n, const char *p)
{
    size_t l = strlen(p);

    return n >= l && !memcmp(b + n - l, p, l);
}

/* Four dot-separated runs of digits: an IPv4 address, which S3 refuses as a
 * name. */
static int looks_like_ip(const char *b, size_t n)
{
    int dots = 0, digits = 0;

    for (size_t i = 0; i < n; i++) {
        if (b[i] == '.') {
            if (!digits)
                return 0;
            dots++;
            digits = 0;
        } else if (isdigit((unsigned char)b[i])) {
            digits++;
        } else {
            return 0;
        }
    }
    return dots == 3 && digits > 0;
}

int s3_bucket_name_new_ok(const char *b, size_t n)
{
    static const char *const prefixes[] = {"xn--", "sthree-", "amzn-s3-demo-"};
    static const char *const suffixes[] = {"-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"};

    if (!s3_bucket_name_ok(b, n) || memmem(b, n, "..", 2) || memmem(b, n, ".-", 2) ||
        memmem(b, n, "-.", 2) || looks_like_ip(b, n))
        return 0;
    for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++)
        if (has_prefix(b, n, prefixes[i]))
            return 0;
    for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++)
        if (has_suffix(b, n, suffixes[i]))
            return 0;
    return 1;
}

static void put_be64(unsigned char *p, long long v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)((unsigned long long)v >> (56 - 8 * i));
}

static long long get_be64(const unsigned char *p)
{
    unsigned long long v = 0;

    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return (long long)v;
}

static int index_code(int rc, int notfound)
{
    if (rc == MKV_OK)
        return S3STORE_OK;
    if (rc == MKV_NOTFOUND)
        return notfound;
    if (rc == MKV_EXISTS)
        return S3STORE_EXISTS;
    return S3STORE_INDEX;
}

int s3_bucket_create(struct mkv_index *ix, const char *name, size_t len, long long now)
{
    unsigned char t[8];

    put_be64(t, now);
    return index_code(index_meta_add(ix, 'b', name, len, t, sizeof(t)), S3STORE_NOBUCKET);
}

int s3_bucket_get(struct mkv_index *ix, const char *name, size_t len, long long *ctime)
{
    unsigned char t[16];
    size_t n = 0;
    int rc;

    if (!s3_bucket_name_ok(name, len))
        return S3STORE_NOBUCKET;
    rc = index_code(index_meta_get(ix, 'b', name, len, t, sizeof(t), &n), S3STORE_NOBUCKET);
    if (rc == S3STORE_OK && ctime)
        *ctime = n == 8 ? get_be64(t) : 0;
    return rc;
}

struct first_live {
    char prefix[S3_BUCKET_MAX + 3];
    size_t plen;
    int found;
};

static int any_live(void *arg, const char *key, size_t klen, const struct mkv_record *rec,
                    const char *raw, size_t rawlen)
{
    struct first_live *f = arg;

    (void)raw;
    (void)rawlen;
    if (klen < f->plen || memcmp(key, f->prefix, f->plen) != 0)
        return 1;
    if (rec && rec->deleted)
        return 0; /* SOFT: not an object S3 lists */
    f->found = 1;
    return 1;
}

static int upload_in(void *arg, const struct s3_upload *u)
{
    struct first_live *f = arg;

    f->found = u->klen > f->plen && !memcmp(u->key, f->prefix, f->plen);
    return f->found;
}

int s3_bucket_delete(struct mkv_index *ix, const char *name, size_t len)
{
    struct first_live f = {0};
    int rc;

    if ((rc = s3_bucket_get(ix, name, len, NULL)) != S3STORE_OK)
        return rc;
    f.plen = (size_t)snprintf(f.prefix, sizeof(f.prefix), "/%.*s/", (int)len, name);
    if (index_scan(ix, f.prefix, f.plen, 0, any_live, &f) != MKV_OK)
        return S3STORE_INDEX;
    if (f.found)
        return S3STORE_NOTEMPTY;
    /* An upload in progress would outlive its bucket (and reappear in a
     * new one of the same name): it is the client's to finish or abort. */
    if (s3_upload_list(ix, "", upload_in, &f) != S3STORE_OK)
        return S3STORE_INDEX;
    if (f.found)
        return S3STORE_UPLOADS;
    return index_code(index_meta_del(ix, 'b', name, len), S3STORE_NOBUCKET);
}

struct list_arg {
    s3_bucket_fn fn;
    void *arg;
};

static int each_bucket(void *arg, const char *name, size_t len, const void *val, size_t vlen)
{
    struct list_arg *l = arg;

    return l->fn(l->arg, name, len, vlen == 8 ? get_be64(val) : 0);
}

int s3_bucket_list(struct mkv_index *ix, s3_bucket_fn fn, void *arg)
{
    struct list_arg l = {fn, arg};

    return index_code(index_meta_list(ix, 'b', NULL, 0, each_bucket, &l), S3STORE_INDEX);
}

/* ---- multipart uploads ---- */

/* The entry: 8 bytes of start time, 2 of key length, the key, the fields. */
static size_t upload_encode(const struct s3_upload *u, unsigned char *out)
{
    put_be64(out, u->ctime);
    out[8] = (unsigned char)(u->klen >> 8);
    out[9] = (unsigned char)u->klen;
    memcpy(out + 10, u->key, u->klen);
    memcpy(out + 10 + u->klen, u->ext, u->extlen);
    return 10 + u->klen + u->extlen;
}

static int upload_decode(const char *id, size_t idlen, const unsigned char *v, size_t n,
                         struct s3_upload *u)
{
    if (idlen != S3_UPLOAD_ID_LEN || n < 10)
        return -1;
    memcpy(u->id, id, idlen);
    u->id[idlen] = '\0';
    u->ctime = get_be64(v);
    u->klen = (size_t)v[8] << 8 | v[9];
    if (u->klen > MKV_KEY_MAX || u->klen > n - 10 || n - 10 - u->klen > sizeof(u->ext))
        return -1;
    memcpy(u->key, v + 10, u->klen);
    u->key[u->klen] = '\0';
    u->extlen = n - 10 - u->klen;
    memcpy(u->ext, v + 10 + u->klen, u->extlen);
    return 0;
}

int s3_upload_create(struct mkv_index *ix, const char *key, size_t klen, const unsigned char *ext,
                     size_t extlen, long long now, struct s3_upload *u)
{
    unsigned char r[S3_UPLOAD_ID_LEN / 2], v[10 + MKV_KEY_MAX + MKV_RECORD_EXT_MAX];
    int rc;

    if (klen > MKV_KEY_MAX || extlen > sizeof(u->ext))
        return S3STORE_INDEX;
    memcpy(u->key, key, klen);
    u->key[klen] = '\0';
    u->klen = klen;
    memcpy(u->ext, ext, extlen);
    u->extlen = extlen;
    u->ctime = now;
    do {
        if (RAND_bytes(r, sizeof(r)) != 1)
            return S3STORE_INDEX;
        hex_encode(r, sizeof(r), u->id);
        rc = index_meta_add(ix, 'u', u->id, S3_UPLOAD_ID_LEN, v, upload_encode(u, v));
    } while (rc == MKV_EXISTS);
    return index_code(rc, S3STORE_INDEX);
}

static int id_ok(const char *id)
{
    size_t n = strlen(id);

    if (n != S3_UPLOAD_ID_LEN)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!isxdigit((unsigned char)id[i]) || isupper((unsigned char)id[i]))
            return 0;
    return 1;
}

int s3_upload_get(struct mkv_index *ix, const char *id, const char *key, size_t klen,
                  struct s3_upload *u)
{
    unsigned char v[INDEX_META_VALUE_MAX];
    size_t n = 0;
    int rc;

    if (!id_ok(id))
        return S3STORE_NOUPLOAD;
    rc = index_meta_get(ix, 'u', id, S3_UPLOAD_ID_LEN, v, sizeof(v), &n);
    if (rc != MKV_OK)
        return index_code(rc, S3STORE_NOUPLOAD);
    if (upload_decode(id, S3_UPLOAD_ID_LEN, v, n, u) < 0)
        return S3STORE_INDEX;
    if (key && (klen != u->klen || memcmp(key, u->key, klen) != 0))
        return S3STORE_NOUPLOAD;
    return S3STORE_OK;
}

int s3_part_key(const char *id, int n, char *out)
{
    return snprintf(out, 64, S3_PART_PREFIX "%.32s/%05d", id, n);
}

struct parts_scan {
    char prefix[64];
    size_t plen;
    s3_part_fn fn;
    void *arg;
};

static int each_part(void *arg, const char *key, size_t klen, const struct mkv_record *rec,
                     const char *raw, size_t rawlen)
{
    struct parts_scan *p = arg;
    long long n = 0;

    (void)raw;
    (void)rawlen;
    if (klen != p->plen + 5 || memcmp(key, p->prefix, p->plen) != 0)
        return klen < p->plen || memcmp(key, p->prefix, p->plen) != 0;
    for (size_t i = p->plen; i < klen; i++) {
        if (!isdigit((unsigned char)key[i]))
            return 0;
        n = n * 10 + (key[i] - '0');
    }
    if (!rec || rec->deleted)
        return 0;
    return p->fn(p->arg, (int)n, rec);
}

int s3_upload_parts(struct mkv_index *ix, const char *id, int from, s3_part_fn fn, void *arg)
{
    struct parts_scan p = {.fn = fn, .arg = arg};
    char start[64];
    int sl;

    p.plen = (size_t)snprintf(p.prefix, sizeof(p.prefix), S3_PART_PREFIX "%.32s/", id);
    sl = s3_part_key(id, from < 1 ? 1 : from, start);
    return index_code(index_scan(ix, start, (size_t)sl, 0, each_part, &p), S3STORE_INDEX);
}

struct uploads_scan {
    s3_upload_fn fn;
    void *arg;
};

static int each_upload(void *arg, const char *name, size_t len, const void *val, size_t vlen)
{
    struct uploads_scan *l = arg;
    struct s3_upload u;

    if (upload_decode(name, len, val, vlen, &u) < 0)
        return 0;
    return l->fn(l->arg, &u);
}

int s3_upload_list(struct mkv_index *ix, const char *from, s3_upload_fn fn, void *arg)
{
    struct uploads_scan l = {fn, arg};

    return index_code(index_meta_list(ix, 'u', from, strlen(from), each_upload, &l), S3STORE_INDEX);
}

/* ---- removing the parts ---- */

struct numbers {
    int n, cap;
    int *v;
};

static int collect(void *arg, int number, const struct mkv_record *rec)
{
    struct numbers *ns = arg;

    (void)rec;
    if (ns->n == ns->cap) {
        int cap = ns->cap ? 2 * ns->cap : 64, *v = realloc(ns->v, (size_t)cap * sizeof(int));
        if (!v)
            return 1;
        ns->v = v;
        ns->cap = cap;
    }
    ns->v[ns->n++] = number;
    return 0;
}

/* Removes every stored part of u, then its entry. */
static int drop_upload(struct mkv_store *s, const struct s3_upload *u, char *why, size_t whylen)
{
    struct numbers ns = {0};
    int rc = S3STORE_OK;

    if (s3_upload_parts(s->ix, u->id, 1, collect, &ns) != S3STORE_OK) {
        snprintf(why, whylen, "index read failed");
        free(ns.v);
        return S3STORE_INDEX;
    }
    for (int i = 0; i < ns.n; i++) {
        struct store_note note;
        char key[64];
        int kl = s3_part_key(u->id, ns.v[i], key), r;

        r = store_delete(s, key, (size_t)kl, "", 0, &note, why, whylen);
        if (r != STORE_OK && r != STORE_ABSENT)
            rc = S3STORE_WRITE; /* the entry stays: a later abort or expiry retries */
    }
    free(ns.v);
    if (rc == S3STORE_OK) {
        int r = index_meta_del(s->ix, 'u', u->id, S3_UPLOAD_ID_LEN);
        if (r != MKV_OK && r != MKV_NOTFOUND)
            rc = S3STORE_INDEX;
    }
    return rc;
}

int s3_upload_abort(struct mkv_store *s, const struct s3_upload *u, char *why, size_t whylen)
{
    return drop_upload(s, u, why, whylen);
}

/* ---- completing: the parts as one body ---- */

/* A helper thread GETs the parts in order from a replica each and writes
 * them into a pipe; the store reads the pipe as the object's body.  A
 * replica that fails before sending a byte of its part gives way to the
 * next; one that fails part-way ends the body short, which fails the PUT. */
struct concat {
    const struct mkv_config *cfg;
    struct mkv_index *ix;
    int nparts;
    const struct s3_upload *u; /* the parts of u, or */
    const struct s3_part_ref *parts;
    const char *src; /* one key */
    size_t srclen;
    const char *range; /* of src: "FIRST-LAST", or NULL */
    int wfd, rfd;
    long long sent; /* bytes of the current part written */
    int failed;
    char why[256];
};

static int to_pipe(void *arg, const char *data, size_t len)
{
    struct concat *c = arg;

    if (fd_write_all(c->wfd, data, len) < 0)
        return -1;
    c->sent += (long long)len;
    return 0;
}

/* Sends part i (or the source key) into the pipe from one of its replicas,
 * read from its record now: the record checked before may have changed (a
 * part uploaded again), and its MD5 must still be the one named. */
static int send_part(struct concat *c, struct mkv_vclient *vc, int i)
{
    char key[64], path[MKV_PATH_MAX], url[URL_MAX];
    const char *k = c->src;
    size_t kl = c->srclen;
    struct mkv_record rec;
    long code = -1, want = c->range ? 206 : 200;

    if (!k) {
        kl = (size_t)s3_part_key(c->u->id, c->parts[i].number, key);
        k = key;
    }
    if (index_get(c->ix, k, kl, &rec) != MKV_OK || rec.deleted || key2path(k, kl, path) < 0 ||
        (!c->src && strcmp(rec.hash, c->parts[i].md5) != 0)) {
        snprintf(c->why, sizeof(c->why), "part %d changed or went away while it was read",
                 c->src ? 1 : c->parts[i].number);
        return -1;
    }
    c->sent = 0;
    for (int r = 0; r < rec.nvols && code != want && c->sent == 0; r++) {
        volume_url(c->cfg, url, sizeof(url), rec.vols[r], path);
        code = vclient_get_range(vc, url, c->range, to_pipe, c, c->why, sizeof(c->why));
    }
    if (code == want)
        return 0;
    if (code > 0)
        snprintf(c->why, sizeof(c->why), "a volume answered HTTP %ld reading a part", code);
    return -1;
}

static void *concat_thread(void *arg)
{
    struct concat *c = arg;
    struct mkv_vclient vc;

    if (vclient_init(&vc, c->cfg) < 0) {
        c->failed = 1;
        snprintf(c->why, sizeof(c->why), "cannot create a curl client");
        goto done;
    }
    for (int i = 0; i < c->nparts && !c->failed; i++)
        if (send_part(c, &vc, i) < 0)
            c->failed = 1;
    vclient_free(&vc);
done:
    close(c->wfd);
    return NULL;
}

/* Fills buf (as a file read would): the volumes are sent whole chunks. */
static ssize_t read_pipe(void *arg, char *buf, size_t cap)
{
    struct concat *c = arg;

    return fd_read_full(c->rfd, buf, cap);
}

static ssize_t read_nothing(void *arg, char *buf, size_t cap)
{
    (void)arg;
    (void)buf;
    (void)cap;
    return 0;
}

/* Stores at key the body c's thread reads from the volumes: total bytes. */
static int put_from_volumes(struct mkv_store *s, struct concat *c, long long total, const char *key,
                            size_t klen, const unsigned char *ext, size_t extlen,
                            const char *request_id, struct store_note *note, char *why,
                            size_t whylen)
{
    struct store_body b;
    pthread_t tid;
    int fds[2], rc;

    /* An empty object (a copy of one, or one empty part): nothing to read. */
    if (total == 0) {
        b = (struct store_body){.length = 0,
                                .rd = read_nothing,
                                .overwrite = 1,
                                .ext = ext,
                                .extlen = extlen,
                                .allow_empty = 1};
        rc = store_put(s, key, klen, request_id, &b, note, why, whylen);
        return rc == STORE_OK ? S3STORE_OK : S3STORE_WRITE;
    }
    if (pipe2(fds, O_CLOEXEC) < 0) {
        snprintf(why, whylen, "pipe: %s", strerror(errno));
        return S3STORE_WRITE;
    }
    c->rfd = fds[0];
    c->wfd = fds[1];
    /* A pipe of 1 MiB instead of 64 KiB: fewer switches between the
     * threads (a failure only costs speed). */
    (void)fcntl(c->wfd, F_SETPIPE_SZ, 1 << 20);
    if (pthread_create(&tid, NULL, concat_thread, c) != 0) {
        close(c->wfd);
        close(c->rfd);
        snprintf(why, whylen, "cannot start a thread");
        return S3STORE_WRITE;
    }
    b = (struct store_body){
        .length = total, .rd = read_pipe, .rdarg = c, .overwrite = 1, .ext = ext, .extlen = extlen};
    rc = store_put(s, key, klen, request_id, &b, note, why, whylen);
    /* The thread may still be writing (a failed PUT stops reading): closing
     * the read end makes its write fail, and it ends. */
    close(c->rfd);
    pthread_join(tid, NULL);
    if (rc == STORE_OK)
        return S3STORE_OK;
    if (c->failed && rc == STORE_BODY)
        snprintf(why, whylen, "%s", c->why);
    return S3STORE_WRITE;
}

int s3_copy(struct mkv_store *s, const char *src, size_t srclen, long long first, long long last,
            const char *dst, size_t dstlen, const unsigned char *ext, size_t extlen,
            const char *request_id, struct store_note *note, char *why, size_t whylen)
{
    struct concat c = {.cfg = s->cfg,
                       .ix = s->ix,
                       .nparts = 1,
                       .src = src,
                       .srclen = srclen,
                       .wfd = -1,
                       .rfd = -1};
    struct mkv_record rec;
    char range[48];

    memset(note, 0, sizeof(*note));
    if (index_get(s->ix, src, srclen, &rec) != MKV_OK || rec.deleted) {
        snprintf(why, whylen, "The specified key does not exist.");
        return S3STORE_NOSOURCE;
    }
    if (!rec.has_size || (first >= 0 && (first > last || last >= (long long)rec.size))) {
        snprintf(why, whylen, "The x-amz-copy-source-range value is not within the object");
        return S3STORE_RANGE;
    }
    if (first >= 0) {
        snprintf(range, sizeof(range), "%lld-%lld", first, last);
        c.range = range;
    }
    return put_from_volumes(s, &c, first >= 0 ? last - first + 1 : (long long)rec.size, dst, dstlen,
                            ext, extlen, request_id, note, why, whylen);
}

/* Checks the parts against their records: the total length into *total,
 * the parts' replicas into c. */
static int check_parts(struct mkv_store *s, const struct s3_upload *u, struct s3_part_ref *parts,
                       int n, unsigned char *md5s, long long *total, long long *part_size,
                       char *why, size_t whylen)
{
    *total = 0;
    *part_size = -1;
    /* the order first, as S3 checks it (a list out of order is refused
     * whatever its parts are) */
    for (int i = 1; i < n; i++)
        if (parts[i].number <= parts[i - 1].number) {
            snprintf(why, whylen, "The list of parts was not in ascending order.");
            return S3STORE_ORDER;
        }
    for (int i = 0; i < n; i++)
        parts[i].size = -1;
    for (int i = 0; i < n; i++) {
        struct mkv_record rec;
        char key[64];
        int kl = s3_part_key(u->id, parts[i].number, key);

        if (index_get(s->ix, key, (size_t)kl, &rec) != MKV_OK || rec.deleted ||
            strcmp(rec.hash, parts[i].md5) != 0 || !rec.has_size) {
            snprintf(why, whylen, "part %d was not uploaded, or its ETag differs", parts[i].number);
            return S3STORE_BADPART;
        }
        parts[i].size = (long long)rec.size;
        if (i < n - 1 && (long long)rec.size < S3_PART_MIN_BYTES) {
            snprintf(why, whylen, "part %d is smaller than the minimum of 5 MiB", parts[i].number);
            return S3STORE_SMALL;
        }
        for (int k = 0; k < 16; k++) {
            unsigned hi, lo;
            sscanf(rec.hash + 2 * k, "%1x%1x", &hi, &lo);
            md5s[16 * i + k] = (unsigned char)(hi << 4 | lo);
        }
        *total += (long long)rec.size;
        if (i == 0)
            *part_size = (long long)rec.size;
        else if ((i < n - 1 && (long long)rec.size != *part_size) ||
                 (long long)rec.size > *part_size)
            *part_size = -2; /* parts of more than one size */
    }
    if (*part_size < 0)
        *part_size = -1;
    return S3STORE_OK;
}

/* "<md5 of the parts' MD5s>-<n>": S3's ETag of a multipart object. */
static void multipart_etag(const unsigned char *md5s, int n, char *etag)
{
    unsigned char d[16];
    char hex[33];

    md5_digest(md5s, (size_t)n * 16, d);
    md5_hex(d, hex);
    snprintf(etag, 48, "%s-%d", hex, n);
}

int s3_upload_complete(struct mkv_store *s, const struct s3_upload *u, struct s3_part_ref *parts,
                       int n, const char *request_id, char *etag, struct store_note *note,
                       char *why, size_t whylen)
{
    struct concat c = {
        .cfg = s->cfg, .ix = s->ix, .nparts = n, .u = u, .parts = parts, .wfd = -1, .rfd = -1};
    unsigned char *md5s = malloc((size_t)n * 16 + 1), ext[MKV_RECORD_EXT_MAX],
                  layout[S3META_PARTS_LEN];
    size_t extlen = u->extlen;
    long long total, part_size;
    int rc;

    memset(note, 0, sizeof(*note));
    rc = S3STORE_INDEX;
    snprintf(why, whylen, "out of memory");
    if (n < 1 || !md5s)
        goto cleanup;
    if ((rc = check_parts(s, u, parts, n, md5s, &total, &part_size, why, whylen)) != S3STORE_OK)
        goto cleanup;
    multipart_etag(md5s, n, etag);
    memcpy(ext, u->ext, extlen);
    rc = S3STORE_WRITE;
    s3meta_parts_put(layout, part_size, n);
    if (recbin_ext_add(ext, sizeof(ext), &extlen, S3META_ETAG, etag, strlen(etag)) < 0 ||
        (part_size > 0 &&
         recbin_ext_add(ext, sizeof(ext), &extlen, S3META_PARTS, layout, sizeof(layout)) < 0)) {
        snprintf(why, whylen, "the object's headers are too long");
        goto cleanup;
    }
    rc =
        put_from_volumes(s, &c, total, u->key, u->klen, ext, extlen, request_id, note, why, whylen);
    if (rc != S3STORE_OK)
        goto cleanup;
    /* The object is stored: parts left behind (a volume down) are the
     * expiry job's to remove, not a failure of the request. */
    if (drop_upload(s, u, c.why, sizeof(c.why)) != S3STORE_OK)
        log_error("CompleteMultipartUpload left parts of upload %s: %s", u->id, c.why);
    rc = S3STORE_OK;
cleanup:
    free(md5s);
    return rc;
}
