/* handlers.h: the HTTP routes of the key server. */
#ifndef MKV_HANDLERS_H
#define MKV_HANDLERS_H

#include "config.h"
#include "http.h"
#include "index.h"
#include "seen.h"
#include "sigv4.h"
#include "stats.h"
#include "store.h"
#include "volume.h"

/* What one request thread owns. */
struct worker {
    const struct mkv_config *cfg;
    struct mkv_index *ix; /* shared by the threads of the process */
    struct mkv_vclient vc;
    unsigned int seed;                 /* rand_r state: replica order of probes */
    struct mkv_stats *st;              /* shared by every worker process */
    struct mkv_seen *seen;             /* write requests seen lately (retries) */
    const struct sigv4_creds *s3creds; /* S3 keys (setting s3_credentials), or NULL */
};

/* Parses the request and answers it. */
void handle(struct worker *w, struct req *r);

/* Shared with the S3 routes (fcgi/s3.c). */
ssize_t read_fcgi(void *arg, char *buf, size_t cap); /* a body_read_fn on FastCGI stdin */
struct mkv_store store_of(struct worker *w);

/* A read of a record that names an overwrite's value not yet in place
 * (store_pending) finishes that overwrite when no writer is at it (a killed
 * worker left it): store_settle.  rec is then the record as stored. */
void settle_pending(struct worker *w, const char *key, size_t klen, struct mkv_record *rec);
int choose_replica(struct worker *w, const struct mkv_record *rec, const struct mkv_placement *p,
                   const char *path, int *answered, char *why, size_t whylen);

#endif
