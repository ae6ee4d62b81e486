/* s3xml.c: S3 request bodies in with expat, responses out (see s3xml.h). */
#include "s3xml.h"

#include <expat.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "hex.h"
#include "num.h"

/* Between a namespace URI and the local name in the names expat reports.
 * \x01 cannot occur in a URI: XML 1.0 has no way to write it in an
 * attribute value. */
#define NSSEP '\x01'

/* The leaf element whose text is being collected. */
enum leaf { L_NONE, L_QUIET, L_KEY, L_VERSION, L_PARTNUM, L_ETAG, L_LOCATION };

/* Strings live in one pool and are named by offset: the pool moves when it
 * grows. */
struct obj {
    size_t key, keylen, version;
    int has_key, has_version;
};

struct part {
    int number, md5;
    size_t etag;
    int has_number, has_etag;
};

struct s3xml_parser {
    XML_Parser xp;
    enum s3xml_kind kind;
    int rc, done;
    char why[192]; /* the first failure, repeated by every later feed */
    size_t fed, max;
    int depth; /* elements open */
    int skip;  /* > 0: the depth of an unknown element whose subtree is ignored */
    int in_entry;
    enum leaf leaf;
    const char *leafname;
    size_t leafmax, textlen;
    char text[S3XML_KEY_MAX + 1]; /* every leaf's limit fits */
    struct obj cur_obj;
    struct part cur_part;
    struct obj *objs;
    size_t nobjs, capobjs;
    struct part *parts;
    size_t nparts, capparts;
    char *pool;
    size_t poollen, poolcap;
    int quiet, has_quiet;
    size_t location;
    int has_location;
};

/* Records the first failure and stops expat; handlers called after it do
 * nothing. */
static int stop(struct s3xml_parser *p, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int stop(struct s3xml_parser *p, int rc, const char *fmt, ...)
{
    char msg[160];
    va_list ap;

    if (p->rc)
        return p->rc;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    snprintf(p->why, sizeof(p->why), "%s (line %lu)", msg,
             (unsigned long)XML_GetCurrentLineNumber(p->xp));
    p->rc = rc;
    XML_StopParser(p->xp, XML_FALSE);
    return rc;
}

/* The local name when name is unqualified or in S3's namespace; NULL for
 * any other namespace, so that such an element counts as unknown. */
static const char *local_name(const char *name)
{
    const char *sep = strchr(name, NSSEP);

    if (!sep)
        return name;
    if ((size_t)(sep - name) != strlen(S3XML_NS) || memcmp(name, S3XML_NS, strlen(S3XML_NS)) != 0)
        return NULL;
    return sep + 1;
}

/* The name to quote in a reason: the local part, cut short.  Element names
 * are XML names, so no control bytes reach the caller's logs. */
static const char *shown_name(const char *name)
{
    const char *sep = strchr(name, NSSEP);

    return sep ? sep + 1 : name;
}

static int grow(void **arr, size_t *cap, size_t need, size_t size)
{
    size_t ncap = *cap ? *cap : 16;
    void *n;

    if (need <= *cap)
        return 0;
    while (ncap < need)
        ncap *= 2;
    n = realloc(*arr, ncap * size);
    if (!n)
        return -1;
    *arr = n;
    *cap = ncap;
    return 0;
}

/* Copies s (n bytes) into the pool, NUL-terminated; its offset in *off. */
static int pool_add(struct s3xml_parser *p, const char *s, size_t n, size_t *off)
{
    if (grow((void **)&p->pool, &p->poolcap, p->poollen + n + 1, 1) != 0) {
        stop(p, S3XML_NOMEM, "out of memory");
        return -1;
    }
    memcpy(p->pool + p->poollen, s, n);
    p->pool[p->poollen + n] = '\0';
    *off = p->poollen;
    p->poollen += n + 1;
    return 0;
}

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* The collected text without the blanks around it (keys and version ids
 * are taken as sent: a blank is part of a key). */
static const char *trimmed(struct s3xml_parser *p, size_t *len)
{
    char *s = p->text, *e = p->text + p->textlen;

    while (s < e && is_space(*s))
        s++;
    while (e > s && is_space(e[-1]))
        e--;
    *e = '\0';
    *len = (size_t)(e - s);
    return s;
}

static int is_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (hex_value(s[i]) < 0)
            return 0;
    return 1;
}

static int start_leaf(struct s3xml_parser *p, enum leaf leaf, const char *name, size_t max)
{
    p->leaf = leaf;
    p->leafname = name;
    p->leafmax = max;
    p->textlen = 0;
    p->text[0] = '\0';
    return 0;
}

/* Elements we do not know are skipped with all they hold: newer S3
 * fields (checksums, conditional deletes) must not break older code. */
static int start_skip(struct s3xml_parser *p)
{
    p->skip = p->depth;
    return 0;
}

/* Children of the root. */
static int start_level2(struct s3xml_parser *p, const char *local)
{
    if (p->kind == S3XML_DELETE && !strcmp(local, "Quiet"))
        return start_leaf(p, L_QUIET, "Quiet", 16);
    if (p->kind == S3XML_DELETE && !strcmp(local, "Object")) {
        if (p->nobjs == S3XML_KEYS_MAX)
            return stop(p, S3XML_MALFORMED, "more than %d keys", S3XML_KEYS_MAX);
        memset(&p->cur_obj, 0, sizeof(p->cur_obj));
        p->in_entry = 1;
        return 0;
    }
    if (p->kind == S3XML_COMPLETE && !strcmp(local, "Part")) {
        if (p->nparts == S3XML_PARTS_MAX)
            return stop(p, S3XML_MALFORMED, "more than %d parts", S3XML_PARTS_MAX);
        memset(&p->cur_part, 0, sizeof(p->cur_part));
        p->in_entry = 1;
        return 0;
    }
    if (p->kind == S3XML_LOCATION && !strcmp(local, "LocationConstraint"))
        return start_leaf(p, L_LOCATION, "LocationConstraint", S3XML_LOCATION_MAX);
    return start_skip(p);
}

/* Children of an <Object> or a <Part>. */
static int start_level3(struct s3xml_parser *p, const char *local)
{
    if (p->kind == S3XML_DELETE && !strcmp(local, "Key"))
        return start_leaf(p, L_KEY, "Key", S3XML_KEY_MAX);
    if (p->kind == S3XML_DELETE && !strcmp(local, "VersionId"))
        return start_leaf(p, L_VERSION, "VersionId", S3XML_VERSION_MAX);
    if (p->kind == S3XML_COMPLETE && !strcmp(local, "PartNumber"))
        return start_leaf(p, L_PARTNUM, "PartNumber", 32);
    if (p->kind == S3XML_COMPLETE && !strcmp(local, "ETag"))
        return start_leaf(p, L_ETAG, "ETag", S3XML_ETAG_MAX);
    return start_skip(p);
}

static const char *root_name(enum s3xml_kind kind)
{
    switch (kind) {
    case S3XML_DELETE: return "Delete";
    case S3XML_COMPLETE: return "CompleteMultipartUpload";
    case S3XML_LOCATION: return "CreateBucketConfiguration";
    }
    return "?";
}

static int start_element(struct s3xml_parser *p, const char *name)
{
    const char *local = local_name(name);

    if (p->leaf != L_NONE)
        return stop(p, S3XML_MALFORMED, "element <%.40s> inside <%s>", shown_name(name),
                    p->leafname);
    p->depth++;
    if (p->depth == 1) {
        if (!local || strcmp(local, root_name(p->kind)) != 0)
            return stop(p, S3XML_MALFORMED, "root element <%.40s>, not <%s>", shown_name(name),
                        root_name(p->kind));
        return 0;
    }
    if (!local) /* another namespace: not one of S3's elements */
        return start_skip(p);
    if (p->depth == 2)
        return start_level2(p, local);
    if (p->depth == 3 && p->in_entry)
        return start_level3(p, local);
    return start_skip(p);
}

static void on_start(void *ud, const XML_Char *name, const XML_Char **attrs)
{
    struct s3xml_parser *p = ud;

    (void)attrs;
    if (p->rc)
        return;
    if (p->skip)
        p->depth++;
    else
        start_element(p, name);
}

static int end_quiet(struct s3xml_parser *p)
{
    size_t n;
    const char *s = trimmed(p, &n);

    if (p->has_quiet)
        return stop(p, S3XML_MALFORMED, "two <Quiet> elements");
    if (!strcasecmp(s, "true"))
        p->quiet = 1;
    else if (!strcasecmp(s, "false"))
        p->quiet = 0;
    else
        return stop(p, S3XML_MALFORMED, "<Quiet> is neither true nor false");
    p->has_quiet = 1;
    return 0;
}

static int end_key(struct s3xml_parser *p)
{
    struct obj *o = &p->cur_obj;

    if (o->has_key)
        return stop(p, S3XML_MALFORMED, "two <Key> elements in one <Object>");
    if (p->textlen == 0)
        return stop(p, S3XML_MALFORMED, "an empty <Key>");
    if (pool_add(p, p->text, p->textlen, &o->key) != 0)
        return p->rc;
    o->keylen = p->textlen;
    o->has_key = 1;
    return 0;
}

static int end_version(struct s3xml_parser *p)
{
    struct obj *o = &p->cur_obj;

    if (o->has_version)
        return stop(p, S3XML_MALFORMED, "two <VersionId> elements in one <Object>");
    if (pool_add(p, p->text, p->textlen, &o->version) != 0)
        return p->rc;
    o->has_version = 1;
    return 0;
}

static int end_partnum(struct s3xml_parser *p)
{
    size_t n;
    const char *s = trimmed(p, &n);
    long long v;

    if (p->cur_part.has_number)
        return stop(p, S3XML_MALFORMED, "two <PartNumber> elements in one <Part>");
    if (num_parse(s, 1, S3XML_PARTS_MAX, &v) != 0)
        return stop(p, S3XML_MALFORMED, "<PartNumber> is not a number from 1 to %d",
                    S3XML_PARTS_MAX);
    p->cur_part.number = (int)v;
    p->cur_part.has_number = 1;
    return 0;
}

/* An MD5 ETag, quoted or not and in either case, becomes 32 lowercase hex
 * digits: what the part's upload returned, whatever the client echoed. */
static int end_etag(struct s3xml_parser *p)
{
    size_t n;
    char *s = (char *)trimmed(p, &n);
    struct part *t = &p->cur_part;

    if (t->has_etag)
        return stop(p, S3XML_MALFORMED, "two <ETag> elements in one <Part>");
    if (n == 34 && s[0] == '"' && s[33] == '"' && is_hex(s + 1, 32)) {
        s++;
        n = 32;
    }
    t->md5 = n == 32 && is_hex(s, 32);
    for (size_t i = 0; t->md5 && i < 32; i++)
        if (s[i] >= 'A' && s[i] <= 'F')
            s[i] = (char)(s[i] - 'A' + 'a');
    if (pool_add(p, s, n, &t->etag) != 0)
        return p->rc;
    t->has_etag = 1;
    return 0;
}

static int end_location(struct s3xml_parser *p)
{
    size_t n;
    const char *s = trimmed(p, &n);

    if (p->has_location)
        return stop(p, S3XML_MALFORMED, "two <LocationConstraint> elements");
    if (pool_add(p, s, n, &p->location) != 0)
        return p->rc;
    p->has_location = 1;
    return 0;
}

static int end_leaf(struct s3xml_parser *p)
{
    enum leaf leaf = p->leaf;

    p->leaf = L_NONE;
    switch (leaf) {
    case L_QUIET: return end_quiet(p);
    case L_KEY: return end_key(p);
    case L_VERSION: return end_version(p);
    case L_PARTNUM: return end_partnum(p);
    case L_ETAG: return end_etag(p);
    case L_LOCATION: return end_location(p);
    case L_NONE: break;
    }
    return 0;
}

static int end_object(struct s3xml_parser *p)
{
    if (!p->cur_obj.has_key)
        return stop(p, S3XML_MALFORMED, "an <Object> without a <Key>");
    if (grow((void **)&p->objs, &p->capobjs, p->nobjs + 1, sizeof(*p->objs)) != 0)
        return stop(p, S3XML_NOMEM, "out of memory");
    p->objs[p->nobjs++] = p->cur_obj;
    return 0;
}

static int end_part(struct s3xml_parser *p)
{
    if (!p->cur_part.has_number)
        return stop(p, S3XML_MALFORMED, "a <Part> without a <PartNumber>");
    if (!p->cur_part.has_etag)
        return stop(p, S3XML_MALFORMED, "a <Part> without an <ETag>");
    if (grow((void **)&p->parts, &p->capparts, p->nparts + 1, sizeof(*p->parts)) != 0)
        return stop(p, S3XML_NOMEM, "out of memory");
    p->parts[p->nparts++] = p->cur_part;
    return 0;
}

/* S3 refuses a DeleteObjects or CompleteMultipartUpload without entries as
 * MalformedXML. */
static int end_root(struct s3xml_parser *p)
{
    if (p->kind == S3XML_DELETE && p->nobjs == 0)
        return stop(p, S3XML_MALFORMED, "no <Object> in <Delete>");
    if (p->kind == S3XML_COMPLETE && p->nparts == 0)
        return stop(p, S3XML_MALFORMED, "no <Part> in <CompleteMultipartUpload>");
    return 0;
}

static void on_end(void *ud, const XML_Char *name)
{
    struct s3xml_parser *p = ud;

    (void)name;
    if (p->rc)
        return;
    if (p->skip) {
        if (p->depth-- == p->skip)
            p->skip = 0;
        return;
    }
    p->depth--;
    if (p->leaf != L_NONE) {
        end_leaf(p);
    } else if (p->depth == 1 && p->in_entry) {
        p->in_entry = 0;
        if (p->kind == S3XML_DELETE)
            end_object(p);
        else
            end_part(p);
    } else if (p->depth == 0) {
        end_root(p);
    }
}

static void on_text(void *ud, const XML_Char *s, int len)
{
    struct s3xml_parser *p = ud;
    size_t n = len > 0 ? (size_t)len : 0;

    if (p->rc || p->skip)
        return;
    if (p->leaf == L_NONE) {
        for (size_t i = 0; i < n; i++)
            if (!is_space(s[i])) {
                stop(p, S3XML_MALFORMED, "text where an element belongs");
                return;
            }
        return;
    }
    if (n > p->leafmax - p->textlen) {
        stop(p, S3XML_MALFORMED, "<%s> longer than %zu bytes", p->leafname, p->leafmax);
        return;
    }
    memcpy(p->text + p->textlen, s, n);
    p->textlen += n;
    p->text[p->textlen] = '\0';
}

/* No DTD at all: S3 bodies never need one, and without it there is no
 * entity to expand (billion laughs) or to fetch (external entities). */
static void on_doctype(void *ud, const XML_Char *name, const XML_Char *sysid, const XML_Char *pubid,
                       int has_internal_subset)
{
    (void)name, (void)sysid, (void)pubid, (void)has_internal_subset;
    stop(ud, S3XML_MALFORMED, "a DOCTYPE is not allowed");
}

static void on_entity(void *ud, const XML_Char *name, int is_param, const XML_Char *value,
                      int value_len, const XML_Char *base, const XML_Char *sysid,
                      const XML_Char *pubid, const XML_Char *notation)
{
    (void)name, (void)is_param, (void)value, (void)value_len, (void)base, (void)sysid;
    (void)pubid, (void)notation;
    stop(ud, S3XML_MALFORMED, "an entity declaration is not allowed");
}

struct s3xml_parser *s3xml_parser_new(enum s3xml_kind kind)
{
    struct s3xml_parser *p = calloc(1, sizeof(*p));

    if (!p)
        return NULL;
    p->kind = kind;
    p->max = kind == S3XML_LOCATION ? S3XML_CONF_MAX : S3XML_BODY_MAX;
    p->xp = XML_ParserCreateNS(NULL, NSSEP);
    if (!p->xp) {
        free(p);
        return NULL;
    }
    XML_SetUserData(p->xp, p);
    XML_SetElementHandler(p->xp, on_start, on_end);
    XML_SetCharacterDataHandler(p->xp, on_text);
    XML_SetStartDoctypeDeclHandler(p->xp, on_doctype);
    XML_SetEntityDeclHandler(p->xp, on_entity);
    XML_SetParamEntityParsing(p->xp, XML_PARAM_ENTITY_PARSING_NEVER);
    return p;
}

void s3xml_parser_free(struct s3xml_parser *p)
{
    if (!p)
        return;
    if (p->xp)
        XML_ParserFree(p->xp);
    free(p->objs);
    free(p->parts);
    free(p->pool);
    free(p);
}

static int failed(struct s3xml_parser *p, char *why, size_t whylen)
{
    if (why && whylen)
        snprintf(why, whylen, "%s", p->why);
    return p->rc;
}

/* expat's own failure (syntax, encoding, memory) as the parser's failure. */
static void expat_failed(struct s3xml_parser *p)
{
    enum XML_Error e = XML_GetErrorCode(p->xp);

    /* expat counts columns from 0, editors from 1. */

    if (p->rc) /* a handler stopped it: its reason stands */
        return;
    snprintf(p->why, sizeof(p->why), "XML syntax error at line %lu, column %lu: %s",
             (unsigned long)XML_GetCurrentLineNumber(p->xp),
             (unsigned long)XML_GetCurrentColumnNumber(p->xp) + 1, XML_ErrorString(e));
    p->rc = e == XML_ERROR_NO_MEMORY ? S3XML_NOMEM : S3XML_MALFORMED;
}

int s3xml_feed(struct s3xml_parser *p, const char *buf, size_t n, int is_final, char *why,
               size_t whylen)
{
    if (why && whylen)
        why[0] = '\0';
    if (p->rc)
        return failed(p, why, whylen);
    if (p->done) {
        snprintf(p->why, sizeof(p->why), "body fed after its final piece");
        p->rc = S3XML_MALFORMED;
        return failed(p, why, whylen);
    }
    /* Checked before expat sees a byte, so n also fits XML_Parse's int. */
    if (n > p->max - p->fed) {
        snprintf(p->why, sizeof(p->why), "body longer than %zu bytes", p->max);
        p->rc = S3XML_MALFORMED;
        return failed(p, why, whylen);
    }
    p->fed += n;
    if (XML_Parse(p->xp, buf, (int)n, is_final ? XML_TRUE : XML_FALSE) != XML_STATUS_OK)
        expat_failed(p);
    if (p->rc)
        return failed(p, why, whylen);
    p->done = is_final != 0;
    return 0;
}

size_t s3xml_nobjects(const struct s3xml_parser *p)
{
    return p->nobjs;
}

int s3xml_object(const struct s3xml_parser *p, size_t i, struct s3xml_object *out)
{
    const struct obj *o;

    if (i >= p->nobjs)
        return -1;
    o = &p->objs[i];
    out->key = p->pool + o->key;
    out->keylen = o->keylen;
    out->version_id = o->has_version ? p->pool + o->version : NULL;
    return 0;
}

int s3xml_quiet(const struct s3xml_parser *p)
{
    return p->quiet;
}

size_t s3xml_nparts(const struct s3xml_parser *p)
{
    return p->nparts;
}

int s3xml_part(const struct s3xml_parser *p, size_t i, struct s3xml_part *out)
{
    const struct part *t;

    if (i >= p->nparts)
        return -1;
    t = &p->parts[i];
    out->number = t->number;
    out->etag_is_md5 = t->md5;
    out->etag = p->pool + t->etag;
    return 0;
}

const char *s3xml_location(const struct s3xml_parser *p)
{
    return p->has_location ? p->pool + p->location : "";
}

/* ---- Writing responses ---- */

void s3xml_out_free(struct s3xml_out *o)
{
    free(o->buf);
    memset(o, 0, sizeof(*o));
}

static void put(struct s3xml_out *o, const char *s, size_t n)
{
    if (o->oom)
        return;
    if (n >= o->cap - o->len || !o->buf) {
        size_t ncap = o->cap ? o->cap : 256;
        char *b;

        while (ncap - o->len <= n) {
            if (ncap > SIZE_MAX / 2) {
                o->oom = 1;
                return;
            }
            ncap *= 2;
        }
        b = realloc(o->buf, ncap);
        if (!b) {
            o->oom = 1;
            return;
        }
        o->buf = b;
        o->cap = ncap;
    }
    memcpy(o->buf + o->len, s, n);
    o->len += n;
    o->buf[o->len] = '\0';
}

static void puts_(struct s3xml_out *o, const char *s)
{
    put(o, s, strlen(s));
}

static const char xml_decl[] = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";

void s3xml_open(struct s3xml_out *o, const char *name)
{
    if (o->len == 0) {
        puts_(o, xml_decl);
        puts_(o, "<");
        puts_(o, name);
        puts_(o, " xmlns=\"" S3XML_NS "\">");
        return;
    }
    puts_(o, "<");
    puts_(o, name);
    puts_(o, ">");
}

void s3xml_close(struct s3xml_out *o, const char *name)
{
    puts_(o, "</");
    puts_(o, name);
    puts_(o, ">");
}

/* The length of the well-formed UTF-8 sequence at s (n > 0 bytes), its
 * code point in *cp; 0 when the bytes are not one (overlong, surrogate,
 * beyond U+10FFFF, cut short). */
static size_t utf8_char(const unsigned char *s, size_t n, unsigned *cp)
{
    size_t len, i;
    unsigned c = s[0], min;

    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    if (c >= 0xc2 && c <= 0xdf)
        len = 2, c &= 0x1f, min = 0x80;
    else if (c >= 0xe0 && c <= 0xef)
        len = 3, c &= 0x0f, min = 0x800;
    else if (c >= 0xf0 && c <= 0xf4)
        len = 4, c &= 0x07, min = 0x10000;
    else
        return 0;
    if (n < len)
        return 0;
    for (i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        c = (c << 6) | (s[i] & 0x3f);
    }
    if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
        return 0;
    *cp = c;
    return len;
}

/* Code points XML 1.0 text can hold (Char, less what we escape anyway). */
static int xml_char_ok(unsigned cp)
{
    if (cp < 0x20)
        return cp == '\t' || cp == '\n' || cp == '\r';
    return cp != 0xfffe && cp != 0xffff;
}

int s3xml_needs_url_encoding(const char *text, size_t len)
{
    const unsigned char *s = (const unsigned char *)text;
    size_t i = 0, n;
    unsigned cp;

    while (i < len) {
        n = utf8_char(s + i, len - i, &cp);
        if (n == 0 || !xml_char_ok(cp))
            return 1;
        i += n;
    }
    return 0;
}

/* The escape for the character at s, or NULL when it goes out as it is. */
static const char *escape_of(unsigned cp, size_t n, char tmp[16])
{
    switch (cp) {
    case '&': return "&amp;";
    case '<': return "&lt;";
    case '>': return "&gt;";
    case '"': return "&quot;";
    case '\'': return "&apos;";
    }
    if (n == 0)
        return "\xef\xbf\xbd"; /* U+FFFD for a byte that is not UTF-8 */
    if (cp < 0x20 || cp == 0xfffe || cp == 0xffff) {
        snprintf(tmp, 16, "&#x%X;", cp);
        return tmp;
    }
    return NULL;
}

static void put_escaped(struct s3xml_out *o, const char *text, size_t len)
{
    const unsigned char *s = (const unsigned char *)text;
    size_t i = 0, run = 0, n;
    unsigned cp;
    char tmp[16];
    const char *esc;

    while (i < len) {
        n = utf8_char(s + i, len - i, &cp);
        esc = escape_of(cp, n, tmp);
        if (!esc) {
            i += n;
            continue;
        }
        put(o, text + run, i - run);
        puts_(o, esc);
        i += n ? n : 1;
        run = i;
    }
    put(o, text + run, i - run);
}

void s3xml_elem(struct s3xml_out *o, const char *name, const char *text, size_t len)
{
    s3xml_open(o, name);
    put_escaped(o, text, len);
    s3xml_close(o, name);
}

void s3xml_elemf(struct s3xml_out *o, const char *name, const char *fmt, ...)
{
    char small[256], *text = small;
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    if (n < 0) {
        o->oom = 1;
        return;
    }
    if ((size_t)n >= sizeof(small)) {
        text = malloc((size_t)n + 1);
        if (!text) {
            o->oom = 1;
            return;
        }
        va_start(ap, fmt);
        vsnprintf(text, (size_t)n + 1, fmt, ap);
        va_end(ap);
    }
    s3xml_elem(o, name, text, (size_t)n);
    if (text != small)
        free(text);
}

static int url_unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.' || c == '~' || c == '/';
}

size_t s3xml_url_encode(const char *text, size_t len, char *out, size_t cap)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t need = 0;

    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)text[i];
        char enc[3] = {'%', hex[c >> 4], hex[c & 15]};
        size_t n = url_unreserved(c) ? 1 : 3;

        if (n == 1)
            enc[0] = (char)c;
        for (size_t j = 0; j < n; j++, need++)
            if (need + 1 < cap)
                out[need] = enc[j];
    }
    if (cap)
        out[need < cap ? need : cap - 1] = '\0';
    return need;
}

void s3xml_elem_url(struct s3xml_out *o, const char *name, const char *text, size_t len)
{
    char small[256], *enc = small;
    size_t n = s3xml_url_encode(text, len, small, sizeof(small));

    if (n >= sizeof(small)) {
        enc = malloc(n + 1);
        if (!enc) {
            o->oom = 1;
            return;
        }
        s3xml_url_encode(text, len, enc, n + 1);
    }
    s3xml_open(o, name);
    put(o, enc, n); /* only unreserved bytes and %XX: nothing to escape */
    s3xml_close(o, name);
    if (enc != small)
        free(enc);
}

void s3xml_error(struct s3xml_out *o, const char *code, const char *message, const char *resource,
                 const char *request_id)
{
    s3xml_error_with(o, code, message, resource, request_id, NULL, 0);
}

void s3xml_error_with(struct s3xml_out *o, const char *code, const char *message,
                      const char *resource, const char *request_id,
                      const struct s3xml_field *fields, size_t n)
{
    /* The error replaces a response that failed half-way, memory too. */
    o->len = 0;
    o->oom = 0;
    if (!code)
        code = "InternalError";
    if (o->buf)
        o->buf[0] = '\0';
    if (!message)
        message = s3xml_error_message(code);
    puts_(o, xml_decl);
    puts_(o, "<Error>");
    s3xml_elem(o, "Code", code, strlen(code));
    if (message)
        s3xml_elem(o, "Message", message, strlen(message));
    for (size_t i = 0; i < n; i++)
        s3xml_elem(o, fields[i].name, fields[i].value, fields[i].len);
    if (resource)
        s3xml_elem(o, "Resource", resource, strlen(resource));
    if (request_id)
        s3xml_elem(o, "RequestId", request_id, strlen(request_id));
    puts_(o, "</Error>");
}

/* S3's codes with the messages its responses carry (where they differ from
 * the documentation's wording, the wire's). */
static const struct s3_error {
    const char *code;
    int status;
    const char *message;
} s3_errors[] = {
    {"AccessDenied", 403, "Access Denied"},
    {"AuthorizationHeaderMalformed", 400, "The authorization header you provided is invalid."},
    {"AuthorizationQueryParametersError", 400,
     "Error parsing the query-string authentication parameters."},
    {"BadDigest", 400, "The Content-MD5 you specified did not match what we received."},
    {"BucketAlreadyExists", 409,
     "The requested bucket name is not available. The bucket namespace is shared by all users "
     "of the system. Please select a different name and try again."},
    {"BucketAlreadyOwnedByYou", 409,
     "Your previous request to create the named bucket succeeded and you already own it."},
    {"BucketNotEmpty", 409, "The bucket you tried to delete is not empty"},
    {"EntityTooLarge", 400, "Your proposed upload exceeds the maximum allowed size"},
    {"EntityTooSmall", 400,
     "Your proposed upload is smaller than the minimum allowed object size."},
    {"ExpiredToken", 400, "The provided token has expired."},
    {"IncompleteBody", 400,
     "You did not provide the number of bytes specified by the Content-Length HTTP header"},
    {"IllegalLocationConstraintException", 400,
     "The location constraint is incompatible for the region specific endpoint this request was "
     "sent to."},
    {"InternalError", 500, "We encountered an internal error. Please try again."},
    {"InvalidAccessKeyId", 403,
     "The AWS Access Key Id you provided does not exist in our records."},
    {"InvalidArgument", 400, "Invalid Argument"},
    {"InvalidBucketName", 400, "The specified bucket is not valid."},
    {"InvalidDigest", 400, "The Content-MD5 you specified is not valid."},
    {"InvalidLocationConstraint", 400, "The specified location-constraint is not valid"},
    {"InvalidObjectState", 403, "The operation is not valid for the object's storage class"},
    {"InvalidPart", 400,
     "One or more of the specified parts could not be found.  The part may not have been "
     "uploaded, or the specified entity tag may not match the part's entity tag."},
    {"InvalidPartOrder", 400,
     "The list of parts was not in ascending order. Parts must be ordered by part number."},
    {"InvalidRange", 416, "The requested range is not satisfiable"},
    {"InvalidPartNumber", 416, "The requested partnumber is not satisfiable"},
    {"InvalidRequest", 400, "Invalid Request"},
    {"InvalidStorageClass", 400, "The storage class you specified is not valid"},
    {"InvalidURI", 400, "Couldn't parse the specified URI."},
    {"KeyTooLongError", 400, "Your key is too long"},
    {"MetadataTooLarge", 400, "Your metadata headers exceed the maximum allowed metadata size"},
    {"MalformedXML", 400,
     "The XML you provided was not well-formed or did not validate against our published schema"},
    {"MaxMessageLengthExceeded", 400, "Your request was too big."},
    {"MethodNotAllowed", 405, "The specified method is not allowed against this resource."},
    {"MissingContentLength", 411, "You must provide the Content-Length HTTP header."},
    {"MissingRequestBodyError", 400, "Request Body is empty"},
    {"NoSuchBucket", 404, "The specified bucket does not exist"},
    {"NoSuchKey", 404, "The specified key does not exist."},
    {"NoSuchUpload", 404,
     "The specified upload does not exist. The upload ID may be invalid, or the upload may have "
     "been aborted or completed."},
    {"NoSuchVersion", 404, "The specified version does not exist."},
    {"NotImplemented", 501, "A header you provided implies functionality that is not implemented"},
    {"NotModified", 304, "Not Modified"},
    {"OperationAborted", 409,
     "A conflicting conditional operation is currently in progress against this resource. Try "
     "again."},
    {"PreconditionFailed", 412, "At least one of the pre-conditions you specified did not hold"},
    {"RequestTimeTooSkewed", 403,
     "The difference between the request time and the current time is too large."},
    {"RequestTimeout", 400,
     "Your socket connection to the server was not read from or written to within the timeout "
     "period. Idle connections will be closed."},
    {"ServiceUnavailable", 503, "Please reduce your request rate."},
    {"SignatureDoesNotMatch", 403,
     "The request signature we calculated does not match the signature you provided. Check your "
     "key and signing method."},
    {"SlowDown", 503, "Please reduce your request rate."},
    {"UnexpectedContent", 400, "This request does not support content"},
    {"XAmzContentSHA256Mismatch", 400,
     "The provided 'x-amz-content-sha256' header does not match what was computed."},
};

static const struct s3_error *find_error(const char *code)
{
    for (size_t i = 0; code && i < sizeof(s3_errors) / sizeof(s3_errors[0]); i++)
        if (!strcmp(s3_errors[i].code, code))
            return &s3_errors[i];
    return NULL;
}

const char *s3xml_error_message(const char *code)
{
    const struct s3_error *e = find_error(code);

    return e ? e->message : NULL;
}

int s3xml_error_status(const char *code)
{
    const struct s3_error *e = find_error(code);

    return e ? e->status : 0;
}

/* gmtime_r for the years 0..9999 only: the formats have four digits. */
static int utc(long long epoch, struct tm *tm)
{
    time_t t = (time_t)epoch;

    if ((long long)t != epoch || !gmtime_r(&t, tm))
        return -1;
    if (tm->tm_year < -1900 || tm->tm_year > 9999 - 1900)
        return -1;
    return 0;
}

/* The fields as unsigned, reduced to their digits: in range already, and
 * the reduction lets the compiler see that the text fits. */
#define D2(x) ((unsigned)(x) % 100u)
#define D4(x) ((unsigned)(x) % 10000u)

int s3xml_time(char out[32], long long epoch)
{
    struct tm tm;

    out[0] = '\0';
    if (utc(epoch, &tm) != 0)
        return -1;
    snprintf(out, 32, "%04u-%02u-%02uT%02u:%02u:%02u.000Z", D4(tm.tm_year + 1900),
             D2(tm.tm_mon + 1), D2(tm.tm_mday), D2(tm.tm_hour), D2(tm.tm_min), D2(tm.tm_sec));
    return 0;
}

/* Names from tables, not strftime's %a %b: those follow the locale. */
int s3xml_http_date(char out[40], long long epoch)
{
    static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    struct tm tm;

    out[0] = '\0';
    if (utc(epoch, &tm) != 0)
        return -1;
    snprintf(out, 40, "%s, %02u %s %04u %02u:%02u:%02u GMT", days[tm.tm_wday % 7], D2(tm.tm_mday),
             months[tm.tm_mon % 12], D4(tm.tm_year + 1900), D2(tm.tm_hour), D2(tm.tm_min),
             D2(tm.tm_sec));
    return 0;
}
