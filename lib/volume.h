/* volume.h: HTTP calls to the volume servers through libcurl.
 *
 * One client per thread: a curl multi handle whose connection cache keeps
 * keep-alive connections to every volume, and reusable easy handles. */
#ifndef MKV_VOLUME_H
#define MKV_VOLUME_H

#include <curl/curl.h>
#include <stddef.h>
#include <sys/types.h>

#include "config.h"
#include "stats.h"

#define MKV_CHUNK (512 * 1024) /* bytes of a value in memory at once, per PUT */

/* When a transfer last moved a byte: a volume that moves none for
 * idle_timeout_ms fails the call (see base_opts). */
struct vidle {
    curl_off_t up, down; /* bytes moved so far */
    long long since_ms;  /* monotonic time of the last progress */
    long limit_ms;       /* 0: no idle limit */
    int expired;         /* the transfer was aborted for it */
};

struct mkv_vclient {
    CURLM *multi;
    CURL *easy[MKV_MAX_REPLICAS];
    struct vidle idle[MKV_MAX_REPLICAS]; /* one per easy handle */
    char *chunk;                         /* MKV_CHUNK bytes shared by the replicas of one PUT */
    char *chunk2; /* the next chunk, read while chunk is sent (bodies over one chunk) */
    long connect_timeout_ms;
    long idle_timeout_ms;
    long probe_timeout_ms;
    const struct mkv_config *cfg;
    struct mkv_stats *stats; /* optional: volume errors are counted here */
};

/* Reads up to cap bytes of the value; returns the count, 0 at its end, or -1. */
typedef ssize_t (*body_read_fn)(void *arg, char *buf, size_t cap);

/* URL_MAX bytes hold any volume URL: scheme, volume path and key path. */
#define URL_MAX (16 + MKV_VOLPATH_MAX + MKV_PATH_MAX)

/* "<volume_scheme>://" vol path: the URL of a file on a volume. */
void volume_url(const struct mkv_config *cfg, char *out, size_t cap, const char *vol,
                const char *path);

int vclient_init(struct mkv_vclient *vc, const struct mkv_config *cfg);
void vclient_free(struct mkv_vclient *vc);

/* One PUT of a body to several replicas: what goes in and what comes out. */
struct vput {
    long long length; /* in: body size, or -1 when unknown (sent chunked) */
    body_read_fn rd;  /* in: where the body comes from */
    void *rdarg;
    unsigned char md5[16];         /* out: MD5 of the body read */
    long long sent;                /* out: body bytes read */
    int touched[MKV_MAX_REPLICAS]; /* out: 1 when that volume may hold the file */
    char why[256];                 /* out: the first failure */
};

/* vclient_put's failures. */
enum { VPUT_VOLUME = -1, VPUT_BODY = -2 };

/* PUTs one body to n URLs at once.  The body is read once, MKV_CHUNK at a
 * time, and each chunk goes to every replica before the next but one is
 * read (a helper thread reads the next while the current one is sent); its
 * MD5 is computed on the way.  A replica that fails does not stop the others:
 * each runs to its end, so when this returns no volume is still writing and
 * v->touched says which ones a clean-up must DELETE.  Returns 0 when every
 * volume answered 201/204, VPUT_VOLUME on a volume failure, VPUT_BODY when
 * reading the body failed or its length was not the one announced (the
 * uploads are then cut short: no volume stores a partial body).  Whether a
 * value may be empty is the caller's rule: an empty body is sent as one. */
int vclient_put(struct mkv_vclient *vc, char *const *urls, int n, struct vput *v);

/* DELETEs n URLs at once.  Returns 0 when each is gone (204, or 404: not
 * there), -1 otherwise with why set. */
int vclient_delete(struct mkv_vclient *vc, char *const *urls, int n, char *why, size_t whylen);

/* WebDAV MOVEs src[i] to dst[i] (the same volume) for n <= MKV_MAX_REPLICAS
 * files at once, replacing what is there: nginx renames the file, so a
 * reader of dst gets the old value or the new one whole.  0 when each
 * answered 201/204, -1 otherwise with why set. */
int vclient_move(struct mkv_vclient *vc, char *const *src, char *const *dst, int n, char *why,
                 size_t whylen);

/* HEADs url with the probe timeout; 1 when it answers 200. */
int vclient_probe(struct mkv_vclient *vc, const char *url);

/* HEADs url (redirects followed) with a timeout; returns the HTTP status, or
 * -1 when the volume could not be asked (refused, timed out). */
long vclient_head(struct mkv_vclient *vc, const char *url, long timeout_ms);

/* vclient_head that also gets the Content-Length (-1 when none). */
long vclient_head_size(struct mkv_vclient *vc, const char *url, long timeout_ms, long long *size);

/* vclient_head, saying in why (when not NULL) why a volume could not be
 * asked: "volume HOST:PORT/svXX: <curl's reason>". */
long vclient_head_why(struct mkv_vclient *vc, const char *url, long timeout_ms, char *why,
                      size_t whylen);

/* Receives a GET's body, piece by piece; returns 0, or -1 to abort. */
typedef int (*body_write_fn)(void *arg, const char *data, size_t len);

/* GETs url, streaming the body to wr.  Returns the HTTP status (200, 404, ...)
 * or -1 on a transport error or an abort by wr, with why set. */
long vclient_get(struct mkv_vclient *vc, const char *url, body_write_fn wr, void *arg, char *why,
                 size_t whylen);

/* vclient_get of the bytes range says ("FIRST-LAST", curl's CURLOPT_RANGE;
 * NULL: all): the volume answers 206. */
long vclient_get_range(struct mkv_vclient *vc, const char *url, const char *range, body_write_fn wr,
                       void *arg, char *why, size_t whylen);

#endif
