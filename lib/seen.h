/* seen.h: write requests seen recently, shared by every process on an index.
 *
 * nginx passes a PUT or DELETE whose worker died half-way to another worker
 * (fastcgi_next_upstream: it counts both as idempotent), with the same
 * $request_id.  The first attempt may have stored the value, or removed the
 * key, before it died: the retry must answer by that outcome (201, 204), not
 * 403 or 404.  Each write marks its request id here on arrival; a request
 * whose id is already marked is such a retry.
 *
 * The table is a file in the index directory, mapped shared by every worker
 * of every pool: one 16-byte slot per hash bucket, newest wins.  An id lost
 * to a collision only costs a retry its special answer. */
#ifndef MKV_SEEN_H
#define MKV_SEEN_H

#include <stddef.h>

#define MKV_SEEN_SLOTS 4096
#define MKV_SEEN_FILE  "mkv-requests"

struct mkv_seen {
    unsigned char (*slot)[16]; /* NULL: not available, nothing is a retry */
};

/* Maps <home>/mkv-requests, creating it.  Returns 0, or -1 (errno set) and
 * leaves the table unavailable. */
int seen_open(struct mkv_seen *s, const char *home);
void seen_close(struct mkv_seen *s);

/* Marks the request id (32 hex digits, nginx's $request_id).  Returns 1 if
 * it was marked already (a retry), 0 otherwise, also for an id that is not
 * 32 hex digits or an unavailable table. */
int seen_mark(struct mkv_seen *s, const char *id);

#endif
