/* s3xml.h: the XML side of the S3 API: request bodies in, responses out.
 *
 * In: DeleteObjects, CompleteMultipartUpload and CreateBucketConfiguration
 * bodies, parsed with expat as they arrive (FastCGI stdin comes in pieces),
 * in bounded memory: the body, each element's text and the number of
 * entries are capped, and documents with a DOCTYPE are refused outright, so
 * no entity declaration (billion laughs, external entities) is ever read.
 * Elements may carry S3's namespace or none; unknown child elements (newer
 * fields such as ChecksumCRC32) are skipped, an unknown root is an error.
 *
 * Out: a growable buffer with element helpers that escape text, S3's error
 * document, the table of S3 error codes (message, HTTP status), and the two
 * date formats S3 responses use. */
#ifndef MKV_S3XML_H
#define MKV_S3XML_H

#include <stddef.h>

#define S3XML_NS "http://s3.amazonaws.com/doc/2006-03-01/"

/* Results: 0 or one of these, with a one-line reason in the caller's buffer. */
#define S3XML_MALFORMED (-1) /* S3 MalformedXML: syntax, schema, limits */
#define S3XML_NOMEM     (-2) /* S3 InternalError: out of memory */

/* Limits on what a body may hold (S3's own, or ours where S3 has none). */
#define S3XML_BODY_MAX     (2 * 1024 * 1024) /* DeleteObjects, CompleteMultipartUpload */
#define S3XML_CONF_MAX     (64 * 1024)       /* CreateBucketConfiguration */
#define S3XML_KEYS_MAX     1000              /* objects in one DeleteObjects */
#define S3XML_KEY_MAX      1024              /* bytes of UTF-8 in a key */
#define S3XML_VERSION_MAX  1024              /* bytes in a VersionId */
#define S3XML_PARTS_MAX    10000             /* parts in one CompleteMultipartUpload */
#define S3XML_ETAG_MAX     1024              /* bytes in an ETag */
#define S3XML_LOCATION_MAX 128               /* bytes in a LocationConstraint */

enum s3xml_kind {
    S3XML_DELETE,   /* <Delete>: DeleteObjects */
    S3XML_COMPLETE, /* <CompleteMultipartUpload> */
    S3XML_LOCATION, /* <CreateBucketConfiguration>: CreateBucket */
};

struct s3xml_parser;

/* One <Object> of a DeleteObjects body.  The strings are NUL-terminated
 * (a key cannot hold NUL: XML 1.0 has no way to carry it) and live as long
 * as the parser. */
struct s3xml_object {
    const char *key;
    size_t keylen;
    const char *version_id; /* NULL when the Object had no VersionId */
};

/* One <Part> of a CompleteMultipartUpload body.  etag_is_md5 1: etag is
 * the 32 lowercase hex digits of an MD5, quotes removed and case folded;
 * 0: etag is the text as sent, quotes and all (a multipart "md5-N", say),
 * only the blanks around it removed. */
struct s3xml_part {
    int number; /* 1..10000 */
    int etag_is_md5;
    const char *etag;
};

/* A parser for one body of the given kind, or NULL when out of memory. */
struct s3xml_parser *s3xml_parser_new(enum s3xml_kind kind);
void s3xml_parser_free(struct s3xml_parser *p);

/* Feeds the next n bytes; is_final on the last piece (n may be 0 then).
 * Returns 0 or S3XML_MALFORMED / S3XML_NOMEM with the reason in why (whylen
 * bytes, may be NULL).  After a failure every later call fails the same way.
 * The results below are complete only after a successful final feed. */
int s3xml_feed(struct s3xml_parser *p, const char *buf, size_t n, int is_final, char *why,
               size_t whylen);

/* DeleteObjects: the objects in the order sent, and the Quiet flag. */
size_t s3xml_nobjects(const struct s3xml_parser *p);
int s3xml_object(const struct s3xml_parser *p, size_t i, struct s3xml_object *out);
int s3xml_quiet(const struct s3xml_parser *p);

/* CompleteMultipartUpload: the parts in the order sent (the caller checks
 * the order: S3's InvalidPartOrder is not a schema error). */
size_t s3xml_nparts(const struct s3xml_parser *p);
int s3xml_part(const struct s3xml_parser *p, size_t i, struct s3xml_part *out);

/* CreateBucketConfiguration: the LocationConstraint, "" when absent. */
const char *s3xml_location(const struct s3xml_parser *p);

/* A response being written.  Start from {0}; after a failed allocation oom
 * is set and every later call does nothing.  buf is NUL-terminated once
 * anything has been written. */
struct s3xml_out {
    char *buf;
    size_t len, cap;
    int oom;
};

void s3xml_out_free(struct s3xml_out *o);

/* <name>; the first element of a document also gets the XML declaration
 * and S3's xmlns. */
void s3xml_open(struct s3xml_out *o, const char *name);
void s3xml_close(struct s3xml_out *o, const char *name);

/* <name>text</name>, text (len bytes) escaped: & < > " ' as entities, tab,
 * LF and CR as &#x9; &#xA; &#xD; (a parser would fold a raw CR away).
 * Other C0 controls come out as &#xNN;, which XML 1.0 parsers refuse, and
 * bytes that are not UTF-8 as U+FFFD: the caller asks
 * s3xml_needs_url_encoding first and does what S3 does (encoding-type=url,
 * or an error). */
void s3xml_elem(struct s3xml_out *o, const char *name, const char *text, size_t len);
void s3xml_elemf(struct s3xml_out *o, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* <name>s3xml_url_encode(text)</name>. */
void s3xml_elem_url(struct s3xml_out *o, const char *name, const char *text, size_t len);

/* 1 when the len bytes cannot be carried by XML 1.0 text as they are: a C0
 * control other than tab, LF, CR; U+FFFE or U+FFFF; or bytes that are not
 * well-formed UTF-8. */
int s3xml_needs_url_encoding(const char *text, size_t len);

/* A key as S3 lists it under encoding-type=url: every byte other than
 * A-Z a-z 0-9 - _ . ~ and '/' as %XX (uppercase hex; space as %20, which
 * both unquote and unquote_plus decode).  Writes at most cap bytes,
 * NUL-terminated when cap > 0, and returns the length the whole encoding
 * needs (at most 3 * len), like snprintf. */
size_t s3xml_url_encode(const char *text, size_t len, char *out, size_t cap);

/* Replaces whatever o holds with S3's error document:
 *     <?xml ...?>\n<Error><Code>..</Code><Message>..</Message>
 *     <Resource>..</Resource><RequestId>..</RequestId></Error>
 * message NULL: s3xml_error_message(code); resource, request_id NULL:
 * left out. */
void s3xml_error(struct s3xml_out *o, const char *code, const char *message, const char *resource,
                 const char *request_id);
/* One more element of an error document: the fields S3 adds to some codes
 * (NoSuchKey's Key, InvalidRange's ActualObjectSize, ...). */
struct s3xml_field {
    const char *name;
    const char *value;
    size_t len;
};
/* The same with n such elements after Message, in their order. */
void s3xml_error_with(struct s3xml_out *o, const char *code, const char *message,
                      const char *resource, const char *request_id,
                      const struct s3xml_field *fields, size_t n);

/* S3's standard message and HTTP status for an error code; NULL and 0 for a
 * code not in the table.  NotModified is 304: a response without a body. */
const char *s3xml_error_message(const char *code);
int s3xml_error_status(const char *code);

/* "2026-12-01T12:00:00.000Z" (listings) and "Tue, 01 Dec 2026 12:00:00 GMT"
 * (Last-Modified, Date), in the C locale whatever the process's.  Return 0,
 * or -1 with out "" for a time outside the years 0..9999. */
int s3xml_time(char out[32], long long epoch);
int s3xml_http_date(char out[40], long long epoch);

#endif
