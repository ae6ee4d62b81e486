/* keys.h: untrusted request text -> keys and query parameters.
 *
 * Everything here takes bytes from the network: lengths are explicit, every
 * escape is validated before decoding, and each rejection carries the HTTP
 * status and a one-line reason for the client. */
#ifndef MKV_KEYS_H
#define MKV_KEYS_H

#include <stddef.h>

#define MKV_URI_MAX 8192 /* longest raw request path we decode */

struct mkv_reject {
    int status;      /* 0 when accepted */
    const char *why; /* one line, no newline */
};

/* Percent-decodes len bytes of in into out (cap bytes, NUL-terminated).
 * plus_is_space: decode '+' as ' ' (query strings, not paths).
 * Returns 0, or sets r: 400 for a malformed escape or a NUL byte, 414 when
 * the result does not fit. */
int url_decode(const char *in, size_t len, int plus_is_space, char *out, size_t cap, size_t *outlen,
               struct mkv_reject *r);

/* Splits a raw REQUEST_URI into path and query (query may be NULL/0), decodes
 * the path into key and validates it as a key (see key_check). */
int key_from_uri(const char *uri, char *key, size_t cap, size_t *klen, const char **query,
                 struct mkv_reject *r);

/* Rules for a key (decoded bytes, leading '/'): not just "/" (400), at most
 * MKV_KEY_MAX bytes (414: the file name would exceed 255 bytes), no "." or
 * ".." path segment (400), and its base64 name must not end in '/' (400: the
 * volume would see a directory).  Returns 0 or -1 with r set. */
int key_check(const char *key, size_t klen, struct mkv_reject *r);

/* The part of key_check a key already in the index must pass to be read,
 * deleted or unlinked: it starts with '/', it fits the key lock (at most
 * MKV_KEY_MAX bytes) and its volume path is a file name (base64 not ending
 * in '/': a DELETE of that URL would be a directory's).  The original also
 * stored "/" and keys with "." or ".." segments: those pass here, so the
 * worker serves such a key when it has a record (new ones stay refused). */
int key_check_stored(const char *key, size_t klen, struct mkv_reject *r);

/* Whether a key the original may have stored can be reached through a front
 * and the workers.  NULL when it can (served when it has a record: see
 * key_check_stored), else a one-line reason: a NUL byte (the fronts refuse
 * %00), longer than MKV_KEY_MAX, base64 ending in '/', or a ".." segment
 * that climbs above the root (nginx refuses the request; the key's '/' are
 * its path separators whether sent as '/' or %2F).  For the admin tools,
 * which report such keys with the command that removes them. */
const char *key_unreachable(const char *key, size_t klen);

/* The query's operation: the text before the first '&' (docs/compat.md §4.5). */
size_t query_op_len(const char *q);

/* Finds name=value in the query and decodes value into out; *found says
 * whether it was there.  Returns 0, or -1 with r set if the value is
 * malformed. */
int query_param(const char *q, const char *name, char *out, size_t cap, size_t *outlen, int *found,
                struct mkv_reject *r);

/* Parses a list limit (num_parse): optional '-', digits, a value of at most
 * 18 digits.  0 or negative means no limit.  Returns 0, or -1 with r set
 * (400). */
#define MKV_LIMIT_MAX 999999999999999999LL
int parse_limit(const char *s, long long *out, struct mkv_reject *r);

/* Percent-escapes a key for use in a URL path, keeping '/' separators.
 * Returns the length written (NUL-terminated) or -1 if cap is too small. */
int url_escape_path(const char *in, size_t len, char *out, size_t cap);

/* Escapes bytes <= 0x20, >= 0x7f and '%' as %XX: the one-line-per-key form of
 * mkv-dump.  Returns the length or -1 if cap is too small. */
int escape_nonprint(const char *in, size_t len, char *out, size_t cap);

/* The inverse of escape_nonprint, for keys and records given in that form
 * (mkv-delete's arguments, test tools): every %XX (either case) becomes the
 * byte, every other byte stays.  Returns the length written (out is not
 * NUL-terminated; out may be in: decoding never writes ahead of reading),
 * or -1 for a malformed escape or when cap is too small. */
long unescape_nonprint(const char *in, size_t len, char *out, size_t cap);

/* A Content-MD5 header: 32 hex digits (what the store reports in its own
 * Content-Md5) or RFC 1864's 24 characters of base64.  Returns 0 with the 16
 * digest bytes in out, or -1. */
int parse_content_md5(const char *s, unsigned char out[16]);

/* Whether a Transfer-Encoding header value says the body is chunked: the
 * whole value, blanks around it aside, is the token "chunked" in any case.
 * (The fronts refuse every other coding; a value that merely contains the
 * word, like "notchunked", is not chunked.)  1 or 0. */
int te_is_chunked(const char *te);

#endif
