/* stats.h: request counters shared by every worker process of a supervisor.
 *
 * The supervisor maps one anonymous shared page before it forks, so all its
 * workers count into the same place with atomic adds; GET /?stats prints
 * them in Prometheus' text format. */
#ifndef MKV_STATS_H
#define MKV_STATS_H

#include <stdatomic.h>

#include "config.h"
#include "method.h"

struct mkv_stats {
    atomic_ulong requests[MKV_M_COUNT][6]; /* by method (method.h), then status class:
                                              0 unknown, 1xx..5xx */
    atomic_ulong bytes_in;                 /* value bytes received by PUTs */
    atomic_ulong bytes_out;                /* response body bytes (listings, reasons) */
    atomic_ulong volume_errors[MKV_MAX_VOLUMES];
    atomic_ulong worker_starts;
};

/* Maps the shared counters (zeroed).  Returns NULL on failure. */
struct mkv_stats *stats_create(void);

/* Counts one answered request (method as received: method_id sorts it). */
void stats_request(struct mkv_stats *st, const char *method, int status, long long bytes_in,
                   long long bytes_out);

/* Counts an error of the volume a URL ("http://VOLUME/...") points at. */
void stats_volume_error(struct mkv_stats *st, const struct mkv_config *cfg, const char *url);

#endif
