/* crawl.h: reading a volume's directories through nginx autoindex JSON, and
 * turning file names back into keys.
 *
 * A listing is an array of {"name":..., "type":"file"|"directory", ...}. */
#ifndef MKV_CRAWL_H
#define MKV_CRAWL_H

#include <stddef.h>

#include "placement.h"
#include "volume.h"

#define MKV_LISTING_MAX (512L * 1024 * 1024) /* refuse larger listings */

struct mkv_dirent {
    const char *name; /* valid during the callback only */
    int is_dir;
};

typedef int (*crawl_fn)(void *arg, const struct mkv_dirent *e);

/* Parses one autoindex JSON listing (len bytes) and calls fn per entry until
 * it returns non-zero.  Returns 0, or -1 when the text is not a listing. */
int crawl_parse(const char *json, size_t len, crawl_fn fn, void *arg);

/* GETs url (a directory URL ending in '/') and parses it.  Returns 0, 1 if
 * the directory does not exist (404), or -1 with why set. */
int crawl_list(struct mkv_vclient *vc, const char *url, crawl_fn fn, void *arg, char *why,
               size_t whylen);

/* Decodes a file name (the base64 of a key, possibly with '/' from nested
 * directories) into key.  Only canonical standard base64 is accepted, so
 * name -> key -> name is the identity.  Returns the key length or -1. */
int name_to_key(const char *name, char *key, size_t cap);

/* 1 for a two-hex-digit directory name ("5d", "A0"). */
int is_hex2(const char *name);

/* 1 for a subvolume directory name: "sv" and two or more hex digits. */
int is_subvolume(const char *name);

#endif
