/* crawl.c: autoindex JSON listings (jansson, one entry at a time) and file
 * name -> key decoding. */
#include "crawl.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum { P_OPEN, P_FIRST, P_ENTRY, P_NEXT, P_DONE, P_STOPPED, P_FAILED };

static const char not_listing[] = "not an autoindex JSON listing";

void crawl_parser_init(struct crawl_parser *p, crawl_fn fn, void *arg)
{
    p->fn = fn;
    p->arg = arg;
    p->state = P_OPEN;
    p->error = NULL;
    p->len = 0;
    p->off = 0;
    p->stop_at = 0;
}

void crawl_parser_resume(struct crawl_parser *p, crawl_fn fn, void *arg)
{
    crawl_parser_init(p, fn, arg);
    p->state = P_NEXT;
}

static int fail(struct crawl_parser *p, const char *why)
{
    p->state = P_FAILED;
    p->error = why;
    return -1;
}

/* nginx's "size" (a JSON integer) and "mtime" (RFC 1123, GMT), when there
 * and sound. */
static void entry_size_mtime(json_t *item, struct mkv_dirent *e)
{
    json_t *size = json_object_get(item, "size");
    const char *mtime = json_string_value(json_object_get(item, "mtime"));
    struct tm tm;
    const char *end;

    e->size =
        json_is_integer(size) && json_integer_value(size) >= 0 ? json_integer_value(size) : -1;
    e->mtime = 0;
    memset(&tm, 0, sizeof(tm));
    if (mtime && (end = strptime(mtime, "%a, %d %b %Y %H:%M:%S GMT", &tm)) && *end == '\0') {
        time_t t = timegm(&tm);

        e->mtime = t > 0 ? (long long)t : 0;
    }
}

/* Decodes the entry at buf[*pos] (a '{').  Returns 0 with *pos past it, 2 if
 * it is not complete yet (more text may complete it), or -1 / 1 as
 * crawl_feed. */
static int one_entry(struct crawl_parser *p, size_t *pos, int eof)
{
    json_error_t jerr;
    json_t *item;
    const char *name, *type;
    struct mkv_dirent e;
    int stop;

    /* JSON_DISABLE_EOF_CHECK: stop at the entry's closing '}' (never read
     * past it) and say in jerr.position how many bytes that took.  A prefix
     * of an object never parses as a whole object, so a failure on a
     * window that is neither full nor the end of the text means "wait for
     * more": jansson's own reason may be a cut UTF-8 sequence, not an
     * early end. */
    item = json_loadb(p->buf + *pos, p->len - *pos, JSON_DISABLE_EOF_CHECK, &jerr);
    if (!item) {
        if (eof || (*pos == 0 && p->len == sizeof(p->buf)))
            return fail(p, eof ? not_listing : "an entry longer than MKV_CRAWL_ENTRY_MAX");
        return 2;
    }
    name = json_string_value(json_object_get(item, "name"));
    type = json_string_value(json_object_get(item, "type"));
    if (!json_is_object(item) || !name || !type) {
        json_decref(item);
        return fail(p, "an entry without a name and type");
    }
    *pos += (size_t)jerr.position;
    e.name = name;
    e.is_dir = !strcmp(type, "directory");
    entry_size_mtime(item, &e);
    stop = p->fn(p->arg, &e);
    json_decref(item);
    if (stop) {
        p->state = P_STOPPED;
        p->stop_at = p->off + *pos;
        return 1;
    }
    p->state = P_NEXT;
    return 0;
}

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Walks the grammar [ entry (, entry)* ] over what buf holds, as far as it
 * is complete, and keeps the rest (the start of an entry) for later. */
static int consume(struct crawl_parser *p, int eof)
{
    size_t pos = 0;
    int rc = 0;

    while (rc == 0) {
        char c;

        while (pos < p->len && is_space(p->buf[pos]))
            pos++;
        if (pos == p->len)
            break;
        c = p->buf[pos];
        switch (p->state) {
        case P_OPEN:
            if (c != '[')
                return fail(p, not_listing);
            pos++;
            p->state = P_FIRST;
            break;
        case P_FIRST:
        case P_ENTRY:
            if (c == ']' && p->state == P_FIRST) {
                pos++;
                p->state = P_DONE;
            } else if (c != '{') {
                return fail(p, not_listing);
            } else if ((rc = one_entry(p, &pos, eof)) == 2) {
                rc = 3; /* an incomplete entry: keep it */
            }
            break;
        case P_NEXT:
            if (c != ',' && c != ']')
                return fail(p, not_listing);
            pos++;
            p->state = c == ',' ? P_ENTRY : P_DONE;
            break;
        default: /* P_DONE: nothing may follow the array */ return fail(p, not_listing);
        }
    }
    if (rc < 0 || rc == 1)
        return rc;
    memmove(p->buf, p->buf + pos, p->len - pos);
    p->len -= pos;
    p->off += pos;
    return 0;
}

int crawl_feed(struct crawl_parser *p, const char *data, size_t len)
{
    if (p->state == P_FAILED)
        return -1;
    while (len > 0 && p->state != P_STOPPED) {
        size_t n = sizeof(p->buf) - p->len;

        if (n > len)
            n = len;
        memcpy(p->buf + p->len, data, n);
        p->len += n;
        data += n;
        len -= n;
        if (consume(p, 0) < 0)
            return -1;
    }
    return p->state == P_STOPPED ? 1 : 0;
}

int crawl_finish(struct crawl_parser *p)
{
    if (p->state == P_STOPPED)
        return 0;
    if (p->state == P_FAILED || consume(p, 1) < 0)
        return -1;
    if (p->state == P_STOPPED)
        return 0;
    if (p->state != P_DONE)
        return fail(p, not_listing);
    return 0;
}

int crawl_parse(const char *json, size_t len, crawl_fn fn, void *arg)
{
    struct crawl_parser *p = malloc(sizeof(*p));
    int rc = -1;

    if (!p)
        return -1;
    crawl_parser_init(p, fn, arg);
    if (crawl_feed(p, json, len) >= 0 && crawl_finish(p) == 0)
        rc = 0;
    free(p);
    return rc;
}

/* After a listing turned out not to be one, the rest of the body is read
 * (up to this much) and dropped, so that a 404 page is still told apart. */
#define DRAIN_MAX (1024 * 1024)

struct stream {
    struct crawl_parser *p;
    unsigned long long got;
    int failed;
};

static int stream_in(void *arg, const char *data, size_t len)
{
    struct stream *s = arg;

    s->got += len;
    if (s->got > (unsigned long long)MKV_LISTING_MAX) {
        s->failed = 1;
        s->p->error = "a listing over MKV_LISTING_MAX";
        return -1;
    }
    if (s->failed)
        return s->got > DRAIN_MAX ? -1 : 0;
    if (crawl_feed(s->p, data, len) < 0)
        s->failed = 1;
    return 0;
}

int crawl_list(struct mkv_vclient *vc, const char *url, crawl_fn fn, void *arg, char *why,
               size_t whylen)
{
    struct stream s = {malloc(sizeof(struct crawl_parser)), 0, 0};
    long code;
    int rc = 0;

    if (!s.p) {
        snprintf(why, whylen, "GET %s: out of memory", url);
        return -1;
    }
    crawl_parser_init(s.p, fn, arg);
    code = vclient_get(vc, url, stream_in, &s, why, whylen);
    if (code == 404) {
        rc = CRAWL_ABSENT;
    } else if (code == 200 && !s.failed && crawl_finish(s.p) == 0) {
        rc = 0;
    } else {
        /* Otherwise vclient_get said why (the transfer failed). */
        if (code > 0 && code != 200)
            snprintf(why, whylen, "GET %s answered HTTP %ld", url, code);
        else if (code == 200 || s.failed)
            snprintf(why, whylen, "GET %s: %s", url, s.p->error ? s.p->error : not_listing);
        rc = -1;
    }
    free(s.p);
    return rc;
}

struct spool {
    int fd;
    unsigned long long off, len;
    int err; /* errno of a failed write */
};

static int spool_in(void *arg, const char *data, size_t len)
{
    struct spool *s = arg;

    if (s->len + len > (unsigned long long)MKV_LISTING_MAX) {
        s->err = EFBIG;
        return -1;
    }
    while (len > 0) {
        ssize_t n = pwrite(s->fd, data, len, (off_t)(s->off + s->len));
        if (n < 0) {
            if (errno == EINTR)
                continue;
            s->err = errno;
            return -1;
        }
        data += n;
        len -= (size_t)n;
        s->len += (unsigned long long)n;
    }
    return 0;
}

int crawl_fetch(struct mkv_vclient *vc, const char *url, int fd, unsigned long long off,
                unsigned long long *len, char *why, size_t whylen)
{
    struct spool s = {fd, off, 0, 0};
    long code = vclient_get(vc, url, spool_in, &s, why, whylen);

    *len = s.len;
    if (s.err) {
        snprintf(why, whylen, "GET %s: spooling the listing: %s", url,
                 s.err == EFBIG ? "over MKV_LISTING_MAX" : strerror(s.err));
        return -1;
    }
    if (code == 404)
        return CRAWL_ABSENT;
    if (code != 200) {
        if (code > 0)
            snprintf(why, whylen, "GET %s answered HTTP %ld", url, code);
        return -1;
    }
    return 0;
}

int name_to_key(const char *name, char *key, size_t cap)
{
    size_t n = strlen(name);
    unsigned char buf[MKV_HASHKEY_MAX + 4];
    unsigned char check[sizeof(buf) * 2];
    int len, pad = 0;

    if (n == 0 || n % 4 != 0 || n / 4 * 3 > sizeof(buf) - 1)
        return -1;
    if (name[n - 1] == '=')
        pad++;
    if (n > 1 && name[n - 2] == '=')
        pad++;
    len = EVP_DecodeBlock(buf, (const unsigned char *)name, (int)n);
    if (len < pad)
        return -1;
    len -= pad;
    /* EVP_DecodeBlock skips blanks and tolerates odd forms: insist that
     * encoding the result gives back exactly the name. */
    if (EVP_EncodeBlock(check, buf, len) != (int)n || memcmp(check, name, n) != 0)
        return -1;
    if ((size_t)len >= cap || memchr(buf, '\0', (size_t)len))
        return -1;
    memcpy(key, buf, (size_t)len);
    key[len] = '\0';
    return len;
}

int is_hex2(const char *name)
{
    return isxdigit((unsigned char)name[0]) && isxdigit((unsigned char)name[1]) && name[2] == '\0';
}

int is_subvolume(const char *name)
{
    size_t n = strlen(name);

    if (n < 4 || name[0] != 's' || name[1] != 'v')
        return 0;
    for (size_t i = 2; i < n; i++)
        if (!isxdigit((unsigned char)name[i]))
            return 0;
    return 1;
}
