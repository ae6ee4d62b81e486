/* crawl.h: reading a volume's directories through nginx autoindex JSON, and
 * turning file names back into keys.
 *
 * A listing is an array of {"name":..., "type":"file"|"directory", ...}. */
#ifndef MKV_CRAWL_H
#define MKV_CRAWL_H

#include <stddef.h>

#include "placement.h"
#include "volume.h"

#define MKV_LISTING_MAX     (512L * 1024 * 1024) /* refuse larger listings */
#define MKV_CRAWL_ENTRY_MAX 16384                /* longest entry, as JSON text, a parser holds */

struct mkv_dirent {
    const char *name; /* valid during the callback only */
    int is_dir;
    long long size;  /* a file's length, or -1 when the listing does not say */
    long long mtime; /* its modification time (seconds since the epoch), or 0 */
};

/* Called per entry; a non-zero return stops the listing there. */
typedef int (*crawl_fn)(void *arg, const struct mkv_dirent *e);

/* An incremental parser of one listing.  The text may come in pieces of any
 * size, split anywhere (inside an entry, a string, a UTF-8 sequence): each
 * entry is decoded (jansson) as soon as it is complete and then forgotten,
 * so the memory is this struct whatever the listing's length.  An entry is
 * nginx's name (at most 255 bytes, JSON-escaped), type, mtime and size:
 * far below MKV_CRAWL_ENTRY_MAX. */
struct crawl_parser {
    crawl_fn fn;
    void *arg;
    int state;                  /* what the array's grammar expects next */
    const char *error;          /* why the text is not a listing, after a -1 */
    size_t len;                 /* bytes waiting in buf: the start of an entry */
    unsigned long long off;     /* offset in the text of buf[0] */
    unsigned long long stop_at; /* after a 1: offset just past the entry fn stopped at */
    char buf[MKV_CRAWL_ENTRY_MAX];
};

/* Starts a listing: the text begins with '['. */
void crawl_parser_init(struct crawl_parser *p, crawl_fn fn, void *arg);

/* Starts in the middle of a listing, just after an entry (where an earlier
 * parser stopped): the text begins with the ',' or ']' that follows it. */
void crawl_parser_resume(struct crawl_parser *p, crawl_fn fn, void *arg);

/* Takes the next len bytes of the text; calls fn for each entry they
 * complete.  Returns 0, 1 once fn has stopped the listing (stop_at says
 * where; later bytes are ignored), or -1 with p->error set. */
int crawl_feed(struct crawl_parser *p, const char *data, size_t len);

/* At the end of the text: returns 0 if it was a whole listing (or fn
 * stopped it), -1 with p->error set otherwise. */
int crawl_finish(struct crawl_parser *p);

/* Parses one whole autoindex JSON listing (len bytes) and calls fn per
 * entry until it returns non-zero.  Returns 0, or -1 when the text is not a
 * listing. */
int crawl_parse(const char *json, size_t len, crawl_fn fn, void *arg);

/* crawl_list's and crawl_fetch's answer for a directory that does not
 * exist (404): not always a failure (it may have gone since its parent was
 * listed), so it has a code of its own. */
#define CRAWL_ABSENT (-2)

/* GETs url (a directory URL ending in '/') and parses the listing as it
 * arrives, calling fn during the transfer (so fn must not use vc).  Returns
 * 0, CRAWL_ABSENT, or -1 with why set. */
int crawl_list(struct mkv_vclient *vc, const char *url, crawl_fn fn, void *arg, char *why,
               size_t whylen);

/* GETs url's listing into the file fd at offset off, without parsing it
 * (a caller then parses it while it uses vc for other calls).  Sets *len to
 * its length.  Returns 0, CRAWL_ABSENT, or -1 with why set. */
int crawl_fetch(struct mkv_vclient *vc, const char *url, int fd, unsigned long long off,
                unsigned long long *len, char *why, size_t whylen);

/* Decodes a file name (the base64 of a key, possibly with '/' from nested
 * directories) into key.  Only canonical standard base64 is accepted, so
 * name -> key -> name is the identity.  Returns the key length or -1. */
int name_to_key(const char *name, char *key, size_t cap);

/* 1 for a two-hex-digit directory name ("5d", "A0"). */
int is_hex2(const char *name);

/* 1 for a subvolume directory name: "sv" and two or more hex digits. */
int is_subvolume(const char *name);

#endif
