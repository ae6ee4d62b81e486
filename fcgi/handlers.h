/* handlers.h: the HTTP routes of the key server. */
#ifndef MKV_HANDLERS_H
#define MKV_HANDLERS_H

#include "config.h"
#include "http.h"
#include "index.h"
#include "seen.h"
#include "stats.h"
#include "volume.h"

/* What one request thread owns. */
struct worker {
    const struct mkv_config *cfg;
    struct mkv_index *ix; /* shared by the threads of the process */
    struct mkv_vclient vc;
    unsigned int seed;     /* rand_r state: replica order of probes */
    struct mkv_stats *st;  /* shared by every worker process */
    struct mkv_seen *seen; /* write requests seen lately (retries) */
};

/* Parses the request and answers it. */
void handle(struct worker *w, struct req *r);

#endif
