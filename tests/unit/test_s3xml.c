/* test_s3xml.c: S3 request bodies parsed with expat, and the response
 * writer, error table and dates (lib/s3xml.c).  Every body is parsed twice,
 * whole and one byte per feed, the way FastCGI stdin may deliver it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "s3xml.h"
#include "unit.h"

#define NS_ATTR " xmlns=\"" S3XML_NS "\""

static char why[256];

/* Parses body whole (bytewise 0) or one byte per feed; returns the parser,
 * its result in *rc and the reason in why. */
static struct s3xml_parser *parse(enum s3xml_kind kind, const char *body, size_t len, int bytewise,
                                  int *rc)
{
    struct s3xml_parser *p = s3xml_parser_new(kind);

    *rc = 0;
    why[0] = '\0';
    if (!bytewise) {
        *rc = s3xml_feed(p, body, len, 1, why, sizeof(why));
        return p;
    }
    for (size_t i = 0; i < len && *rc == 0; i++)
        *rc = s3xml_feed(p, body + i, 1, 0, why, sizeof(why));
    if (*rc == 0)
        *rc = s3xml_feed(p, "", 0, 1, why, sizeof(why));
    return p;
}

/* body must fail in both modes with a reason containing want. */
static void check_fails(enum s3xml_kind kind, const char *body, size_t len, const char *want)
{
    for (int bytewise = 0; bytewise < 2; bytewise++) {
        int rc;
        struct s3xml_parser *p = parse(kind, body, len, bytewise, &rc);

        if (rc != S3XML_MALFORMED || !strstr(why, want))
            fprintf(stderr, "  body %.60s...: rc %d, why \"%s\", want \"%s\"\n", body, rc, why,
                    want);
        CHECK(rc == S3XML_MALFORMED);
        CHECK(strstr(why, want) != NULL);
        s3xml_parser_free(p);
    }
}

static void check_key(struct s3xml_parser *p, size_t i, const char *key, const char *version)
{
    struct s3xml_object o;

    CHECK(s3xml_object(p, i, &o) == 0);
    CHECK(o.keylen == strlen(key));
    CHECK_STR(o.key, key);
    if (version) {
        CHECK(o.version_id != NULL);
        CHECK_STR(o.version_id ? o.version_id : "(null)", version);
    } else {
        CHECK(o.version_id == NULL);
    }
}

static void check_delete(const char *body, int quiet)
{
    for (int bytewise = 0; bytewise < 2; bytewise++) {
        int rc;
        struct s3xml_parser *p = parse(S3XML_DELETE, body, strlen(body), bytewise, &rc);

        CHECK(rc == 0);
        if (rc)
            fprintf(stderr, "  why: %s\n", why);
        CHECK(s3xml_quiet(p) == quiet);
        CHECK(s3xml_nobjects(p) == 4);
        check_key(p, 0, "a/b.txt", NULL);
        check_key(p, 1, "x&<>\"' y", "3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY");
        check_key(p, 2, " spaced \t", NULL);
        check_key(p, 3, "caf\xc3\xa9 <cdata>", NULL);
        struct s3xml_object o;
        CHECK(s3xml_object(p, 4, &o) == -1);
        s3xml_parser_free(p);
    }
}

#define DELETE_OBJECTS                                                                             \
    "<Object><Key>a/b.txt</Key></Object>\n"                                                        \
    "  <Object><Key>x&amp;&lt;&gt;&quot;&apos; y</Key>"                                            \
    "<VersionId>3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY</VersionId></Object>\n"                          \
    "<Object><VersionIdMarker>ignored</VersionIdMarker><Key> spaced &#9;</Key></Object>"           \
    "<Object><ETag>\"x\"</ETag><Key>caf&#xE9; <![CDATA[<cdata>]]></Key></Object>"

static void test_delete_namespaced(void)
{
    check_delete("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Delete" NS_ATTR
                 "><Quiet>true</Quiet>" DELETE_OBJECTS "</Delete>\n",
                 1);
    /* A prefix bound to S3's namespace is the same element. */
    check_delete("<s3:Delete xmlns:s3=\"" S3XML_NS "\"><s3:Quiet>true</s3:Quiet>" DELETE_OBJECTS
                 "</s3:Delete>",
                 1);
}

static void test_delete_plain(void)
{
    check_delete("<Delete>" DELETE_OBJECTS "</Delete>", 0);
    check_delete("<Delete>\r\n\t" DELETE_OBJECTS "<Quiet>false</Quiet></Delete>", 0);
}

static void test_quiet_variants(void)
{
    static const struct {
        const char *text;
        int quiet;
    } cases[] = {{"true", 1}, {"TRUE", 1}, {"True", 1}, {" true\n", 1}, {"false", 0}, {"FaLsE", 0}};
    char body[256];

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int rc;
        struct s3xml_parser *p;

        snprintf(body, sizeof(body),
                 "<Delete><Quiet>%s</Quiet><Object><Key>k</Key></Object></Delete>", cases[i].text);
        p = parse(S3XML_DELETE, body, strlen(body), 0, &rc);
        CHECK(rc == 0);
        CHECK(s3xml_quiet(p) == cases[i].quiet);
        s3xml_parser_free(p);
    }
    static const char yes[] = "<Delete><Quiet>yes</Quiet><Object><Key>k</Key></Object></Delete>";
    check_fails(S3XML_DELETE, yes, strlen(yes), "<Quiet> is neither true nor false");
    static const char empty[] = "<Delete><Quiet/><Object><Key>k</Key></Object></Delete>";
    check_fails(S3XML_DELETE, empty, strlen(empty), "<Quiet> is neither true nor false");
    static const char two[] =
        "<Delete><Quiet>true</Quiet><Quiet>true</Quiet><Object><Key>k</Key></Object></Delete>";
    check_fails(S3XML_DELETE, two, strlen(two), "two <Quiet>");
}

/* A Delete body of n objects with keys k0, k1, ... */
static char *delete_body(size_t n)
{
    size_t cap = 64 + n * 40, len;
    char *b = malloc(cap);

    len = (size_t)snprintf(b, cap, "<Delete" NS_ATTR ">");
    for (size_t i = 0; i < n; i++)
        len += (size_t)snprintf(b + len, cap - len, "<Object><Key>k%zu</Key></Object>", i);
    snprintf(b + len, cap - len, "</Delete>");
    return b;
}

static void test_delete_limits(void)
{
    char *b = delete_body(1000);
    int rc;
    struct s3xml_parser *p = parse(S3XML_DELETE, b, strlen(b), 0, &rc);

    CHECK(rc == 0);
    CHECK(s3xml_nobjects(p) == 1000);
    check_key(p, 999, "k999", NULL);
    s3xml_parser_free(p);
    free(b);

    b = delete_body(1001);
    check_fails(S3XML_DELETE, b, strlen(b), "more than 1000 keys");
    free(b);
}

static void test_key_length(void)
{
    /* 1024 bytes of UTF-8 (512 two-byte characters) fit; one more does not. */
    char body[8192], key[1100];
    size_t n = 0;
    int rc;
    struct s3xml_parser *p;

    for (int i = 0; i < 512; i++)
        n += (size_t)sprintf(key + n, "\xc3\xa9");
    snprintf(body, sizeof(body), "<Delete><Object><Key>%s</Key></Object></Delete>", key);
    p = parse(S3XML_DELETE, body, strlen(body), 1, &rc);
    CHECK(rc == 0);
    CHECK(s3xml_nobjects(p) == 1);
    check_key(p, 0, key, NULL);
    s3xml_parser_free(p);

    snprintf(body, sizeof(body), "<Delete><Object><Key>%sx</Key></Object></Delete>", key);
    check_fails(S3XML_DELETE, body, strlen(body), "<Key> longer than 1024 bytes");
    /* The same length made of character references is just as long. */
    n = (size_t)sprintf(body, "<Delete><Object><Key>");
    for (int i = 0; i < 1025; i++)
        n += (size_t)sprintf(body + n, "&amp;");
    sprintf(body + n, "</Key></Object></Delete>");
    check_fails(S3XML_DELETE, body, strlen(body), "<Key> longer than 1024 bytes");
}

static void test_delete_malformed(void)
{
    static const struct {
        const char *body, *why;
    } cases[] = {
        {"<Deleted><Object><Key>k</Key></Object></Deleted>",
         "root element <Deleted>, not <Delete>"},
        {"<Delete xmlns=\"urn:other\"><Object><Key>k</Key></Object></Delete>",
         "root element <Delete>, not <Delete>"},
        {"<Delete>junk<Object><Key>k</Key></Object></Delete>", "text where an element belongs"},
        {"<Delete><Object>x<Key>k</Key></Object></Delete>", "text where an element belongs"},
        {"<Delete><Object><VersionId>v</VersionId></Object></Delete>",
         "an <Object> without a <Key>"},
        {"<Delete><Object><Key></Key></Object></Delete>", "an empty <Key>"},
        {"<Delete><Object><Key>a</Key><Key>b</Key></Object></Delete>", "two <Key> elements"},
        {"<Delete><Object><Key>a</Key><VersionId/><VersionId/></Object></Delete>",
         "two <VersionId> elements"},
        {"<Delete><Object><Key>a<b/></Key></Object></Delete>", "element <b> inside <Key>"},
        {"<Delete><Quiet>true</Quiet></Delete>", "no <Object> in <Delete>"},
        {"<Delete/>", "no <Object> in <Delete>"},
        {"<Delete>\n<Object><Key>k</Key></Objet></Delete>",
         "XML syntax error at line 2, column 23: mismatched tag"},
        {"<Delete><Object><Key>&foo;</Key></Object></Delete>", "undefined entity"},
        {"<Delete><Object><Key>k</Key></Object></Delete><Delete/>", "junk after document element"},
        {"<Delete><Object><Key>k</Key></Object>", "XML syntax error"},
        {"", "no element found"},
        {"<Delete><x:Object><Key>k</Key></x:Object></Delete>", "unbound prefix"},
        {"<Delete><Object><Key>\xff</Key></Object></Delete>", "not well-formed"},
        {"<Delete><Object><Key>&#1;</Key></Object></Delete>", "reference to invalid character"},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        check_fails(S3XML_DELETE, cases[i].body, strlen(cases[i].body), cases[i].why);
}

static void test_feed_misuse(void)
{
    static const char body[] = "<Delete><Object><Key>k</Key></Object></Delete>";
    struct s3xml_parser *p = s3xml_parser_new(S3XML_DELETE);
    char *big;

    CHECK(s3xml_feed(p, body, strlen(body), 1, why, sizeof(why)) == 0);
    CHECK(s3xml_feed(p, " ", 1, 1, why, sizeof(why)) == S3XML_MALFORMED);
    CHECK(strstr(why, "after its final piece") != NULL);
    /* A failure sticks, reason and all; a NULL why is allowed. */
    CHECK(s3xml_feed(p, "", 0, 1, NULL, 0) == S3XML_MALFORMED);
    CHECK(s3xml_feed(p, "", 0, 1, why, 8) == S3XML_MALFORMED && strlen(why) == 7);
    s3xml_parser_free(p);

    /* The body cap holds across feeds, before expat sees the bytes. */
    big = malloc(S3XML_BODY_MAX);
    memset(big, ' ', S3XML_BODY_MAX);
    memcpy(big, "<Delete>", 8);
    p = s3xml_parser_new(S3XML_DELETE);
    CHECK(s3xml_feed(p, big, S3XML_BODY_MAX, 0, why, sizeof(why)) == 0);
    CHECK(s3xml_feed(p, " ", 1, 0, why, sizeof(why)) == S3XML_MALFORMED);
    CHECK(strstr(why, "body longer than 2097152 bytes") != NULL);
    s3xml_parser_free(p);
    free(big);
    s3xml_parser_free(NULL);
}

static void test_doctype_refused(void)
{
    static const char *laughs =
        "<?xml version=\"1.0\"?>\n"
        "<!DOCTYPE Delete [\n"
        " <!ENTITY lol \"lol\">\n"
        " <!ENTITY lol1 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">\n"
        " <!ENTITY lol2 \"&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;\">\n"
        " <!ENTITY lol3 \"&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;\">\n"
        "]>\n<Delete><Object><Key>&lol3;</Key></Object></Delete>";
    static const char *external = "<!DOCTYPE Delete [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>"
                                  "<Delete><Object><Key>&x;</Key></Object></Delete>";
    static const char *param =
        "<!DOCTYPE Delete [<!ENTITY % p SYSTEM \"http://example.com/\"> %p;]>"
        "<Delete><Object><Key>k</Key></Object></Delete>";
    static const char *bare = "<!DOCTYPE Delete><Delete><Object><Key>k</Key></Object></Delete>";
    static const char *sys = "<!DOCTYPE Delete SYSTEM \"http://example.com/d.dtd\">"
                             "<Delete><Object><Key>k</Key></Object></Delete>";

    check_fails(S3XML_DELETE, laughs, strlen(laughs), "a DOCTYPE is not allowed (line 2)");
    check_fails(S3XML_DELETE, external, strlen(external), "a DOCTYPE is not allowed");
    check_fails(S3XML_DELETE, param, strlen(param), "a DOCTYPE is not allowed");
    check_fails(S3XML_DELETE, bare, strlen(bare), "a DOCTYPE is not allowed");
    check_fails(S3XML_COMPLETE, sys, strlen(sys), "a DOCTYPE is not allowed");
    check_fails(S3XML_LOCATION, bare, strlen(bare), "a DOCTYPE is not allowed");
}

static void check_part(struct s3xml_parser *p, size_t i, int number, int md5, const char *etag)
{
    struct s3xml_part t;

    CHECK(s3xml_part(p, i, &t) == 0);
    CHECK(t.number == number);
    CHECK(t.etag_is_md5 == md5);
    CHECK_STR(t.etag, etag);
}

static void test_complete(void)
{
    static const char *bodies[] = {
        "<CompleteMultipartUpload" NS_ATTR ">\n"
        "  "
        "<Part><PartNumber>3</PartNumber><ETag>\"0123456789abcdef0123456789abcdef\"</ETag></Part>\n"
        "  <Part><ETag>0123456789ABCDEF0123456789ABCDEF</ETag><PartNumber>1</PartNumber>"
        "<ChecksumCRC32>AAAAAA==</ChecksumCRC32></Part>\n"
        "  <Part><PartNumber> 0002 </PartNumber><ETag>&quot;d41d8cd98f00b204e9800998ecf8427e&quot;"
        "</ETag><Extra><Nested>x<Deeper/></Nested>text</Extra></Part>\n"
        "  <Part><PartNumber>10000</PartNumber><ETag>\"abc-2\"</ETag></Part>\n"
        "  <Part><PartNumber>5</PartNumber><ETag>0123456789abcdef0123456789abcdeg</ETag></Part>\n"
        "</CompleteMultipartUpload>",
        "<CompleteMultipartUpload>"
        "<Part><PartNumber>3</PartNumber><ETag>0123456789abcdef0123456789abcdef</ETag></Part>"
        "<Part><PartNumber>1</PartNumber><ETag>\"0123456789abcdef0123456789abcdef\"</ETag></Part>"
        "<Part><PartNumber>2</PartNumber><ETag>d41d8cd98f00b204e9800998ecf8427e</ETag></Part>"
        "<Part><PartNumber>10000</PartNumber><ETag>\"abc-2\"</ETag></Part>"
        "<Part><PartNumber>5</PartNumber><ETag>0123456789abcdef0123456789abcdeg</ETag></Part>"
        "</CompleteMultipartUpload>",
    };

    for (size_t b = 0; b < 2; b++)
        for (int bytewise = 0; bytewise < 2; bytewise++) {
            int rc;
            struct s3xml_parser *p =
                parse(S3XML_COMPLETE, bodies[b], strlen(bodies[b]), bytewise, &rc);
            struct s3xml_part t;

            CHECK(rc == 0);
            if (rc)
                fprintf(stderr, "  why: %s\n", why);
            CHECK(s3xml_nparts(p) == 5);
            check_part(p, 0, 3, 1, "0123456789abcdef0123456789abcdef");
            check_part(p, 1, 1, 1, "0123456789abcdef0123456789abcdef");
            check_part(p, 2, 2, 1, "d41d8cd98f00b204e9800998ecf8427e");
            check_part(p, 3, 10000, 0, "\"abc-2\"");
            check_part(p, 4, 5, 0, "0123456789abcdef0123456789abcdeg");
            CHECK(s3xml_part(p, 5, &t) == -1);
            s3xml_parser_free(p);
        }
}

static char *complete_body(size_t n)
{
    size_t cap = 64 + n * 100, len;
    char *b = malloc(cap);

    len = (size_t)snprintf(b, cap, "<CompleteMultipartUpload>");
    for (size_t i = 0; i < n; i++)
        len += (size_t)snprintf(b + len, cap - len,
                                "<Part><PartNumber>%zu</PartNumber><ETag>\"%032zx\"</ETag></Part>",
                                i % 10000 + 1, i);
    snprintf(b + len, cap - len, "</CompleteMultipartUpload>");
    return b;
}

static void test_complete_limits(void)
{
    char *b = complete_body(10000);
    int rc;
    struct s3xml_parser *p = parse(S3XML_COMPLETE, b, strlen(b), 0, &rc);

    CHECK(rc == 0);
    CHECK(s3xml_nparts(p) == 10000);
    check_part(p, 9999, 10000, 1, "0000000000000000000000000000270f");
    s3xml_parser_free(p);
    free(b);

    b = complete_body(10001);
    check_fails(S3XML_COMPLETE, b, strlen(b), "more than 10000 parts");
    free(b);
}

static void test_complete_malformed(void)
{
    static const struct {
        const char *body, *why;
    } cases[] = {
        {"<CompleteMultipartUpload><Part><PartNumber>0</PartNumber><ETag>e</ETag></Part>"
         "</CompleteMultipartUpload>",
         "<PartNumber> is not a number from 1 to 10000"},
        {"<CompleteMultipartUpload><Part><PartNumber>10001</PartNumber><ETag>e</ETag></Part>"
         "</CompleteMultipartUpload>",
         "<PartNumber> is not a number"},
        {"<CompleteMultipartUpload><Part><PartNumber>-1</PartNumber><ETag>e</ETag></Part>"
         "</CompleteMultipartUpload>",
         "<PartNumber> is not a number"},
        {"<CompleteMultipartUpload><Part><PartNumber>1x</PartNumber><ETag>e</ETag></Part>"
         "</CompleteMultipartUpload>",
         "<PartNumber> is not a number"},
        {"<CompleteMultipartUpload><Part><PartNumber></PartNumber><ETag>e</ETag></Part>"
         "</CompleteMultipartUpload>",
         "<PartNumber> is not a number"},
        {"<CompleteMultipartUpload><Part><PartNumber>99999999999999999999999</PartNumber>"
         "<ETag>e</ETag></Part></CompleteMultipartUpload>",
         "<PartNumber> is not a number"},
        {"<CompleteMultipartUpload><Part><PartNumber>"
         "000000000000000000000000000000001</PartNumber><ETag>e</ETag></Part>"
         "</CompleteMultipartUpload>",
         "<PartNumber> longer than 32 bytes"},
        {"<CompleteMultipartUpload><Part><ETag>e</ETag></Part></CompleteMultipartUpload>",
         "a <Part> without a <PartNumber>"},
        {"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber></Part>"
         "</CompleteMultipartUpload>",
         "a <Part> without an <ETag>"},
        {"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><PartNumber>2</PartNumber>"
         "<ETag>e</ETag></Part></CompleteMultipartUpload>",
         "two <PartNumber> elements"},
        {"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>e</ETag><ETag>f</ETag>"
         "</Part></CompleteMultipartUpload>",
         "two <ETag> elements"},
        {"<CompleteMultipartUpload></CompleteMultipartUpload>",
         "no <Part> in <CompleteMultipartUpload>"},
        {"<Delete><Object><Key>k</Key></Object></Delete>",
         "root element <Delete>, not <CompleteMultipartUpload>"},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        check_fails(S3XML_COMPLETE, cases[i].body, strlen(cases[i].body), cases[i].why);
}

static void check_location(const char *body, const char *want)
{
    for (int bytewise = 0; bytewise < 2; bytewise++) {
        int rc;
        struct s3xml_parser *p = parse(S3XML_LOCATION, body, strlen(body), bytewise, &rc);

        CHECK(rc == 0);
        CHECK_STR(s3xml_location(p), want);
        s3xml_parser_free(p);
    }
}

static void test_location(void)
{
    static const char *twice = "<CreateBucketConfiguration><LocationConstraint>a"
                               "</LocationConstraint><LocationConstraint>b</LocationConstraint>"
                               "</CreateBucketConfiguration>";
    static const char *wrong = "<CreateBucket><LocationConstraint>a</LocationConstraint>"
                               "</CreateBucket>";
    char body[512];

    check_location("<CreateBucketConfiguration" NS_ATTR "><LocationConstraint>eu-west-1"
                   "</LocationConstraint></CreateBucketConfiguration>",
                   "eu-west-1");
    check_location("<CreateBucketConfiguration>\n  <LocationConstraint> us-west-2\n"
                   "</LocationConstraint>\n</CreateBucketConfiguration>\n",
                   "us-west-2");
    check_location("<CreateBucketConfiguration><LocationConstraint/></CreateBucketConfiguration>",
                   "");
    check_location("<CreateBucketConfiguration/>", "");
    check_location("<CreateBucketConfiguration><Location><Name>x</Name></Location><Bucket>"
                   "<Type>Directory</Type></Bucket><LocationConstraint>ap-south-1"
                   "</LocationConstraint></CreateBucketConfiguration>",
                   "ap-south-1");
    check_fails(S3XML_LOCATION, twice, strlen(twice), "two <LocationConstraint> elements");
    check_fails(S3XML_LOCATION, wrong, strlen(wrong), "root element <CreateBucket>");
    snprintf(body, sizeof(body),
             "<CreateBucketConfiguration><LocationConstraint>%0129d</LocationConstraint>"
             "</CreateBucketConfiguration>",
             0);
    check_fails(S3XML_LOCATION, body, strlen(body), "<LocationConstraint> longer than 128 bytes");
}

static void test_open_elem_close(void)
{
    struct s3xml_out o = {0};

    s3xml_open(&o, "ListBucketResult");
    s3xml_elem(&o, "Name", "b", 1);
    s3xml_open(&o, "Contents");
    s3xml_elem(&o, "Key", "a&b<c>d\"e'f", 11);
    s3xml_elemf(&o, "Size", "%d", 42);
    s3xml_elem(&o, "Empty", "", 0);
    s3xml_close(&o, "Contents");
    s3xml_close(&o, "ListBucketResult");
    CHECK(!o.oom);
    CHECK_STR(o.buf, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                     "<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
                     "<Name>b</Name><Contents><Key>a&amp;b&lt;c&gt;d&quot;e&apos;f</Key>"
                     "<Size>42</Size><Empty></Empty></Contents></ListBucketResult>");
    CHECK(o.len == strlen(o.buf));
    s3xml_out_free(&o);
    CHECK(o.buf == NULL && o.len == 0 && o.cap == 0);
}

/* The element alone, after the document's root (first) element. */
static const char *elem_only(struct s3xml_out *o, size_t base)
{
    return o->buf + base;
}

static void test_escape_controls(void)
{
    struct s3xml_out o = {0};
    char big[1000];
    size_t base;

    s3xml_open(&o, "R");
    base = o.len;
    s3xml_elem(&o, "K",
               "a\tb\nc\rd\x01"
               "e\x1f\x7f\xc3\xa9\xff\xc3",
               15);
    CHECK_STR(elem_only(&o, base),
              "<K>a&#x9;b&#xA;c&#xD;d&#x1;e&#x1F;\x7f\xc3\xa9\xef\xbf\xbd\xef\xbf\xbd</K>");
    o.len = base;
    s3xml_elem(&o, "K", "\xef\xbf\xbe", 3); /* U+FFFE */
    CHECK_STR(elem_only(&o, base), "<K>&#xFFFE;</K>");
    /* elemf longer than its stack buffer, escaped too. */
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    big[500] = '&';
    o.len = base;
    s3xml_elemf(&o, "K", "%s", big);
    CHECK(o.len - base == 3 + 999 + 4 + 4);
    CHECK(!memcmp(o.buf + base + 3 + 500, "&amp;x", 6));
    s3xml_out_free(&o);
}

static void test_needs_url_encoding(void)
{
    CHECK(!s3xml_needs_url_encoding("", 0));
    CHECK(!s3xml_needs_url_encoding("plain/key.txt", 13));
    CHECK(!s3xml_needs_url_encoding("tab\tlf\ncr\r", 10));
    CHECK(!s3xml_needs_url_encoding("&<>\"'", 5));
    CHECK(!s3xml_needs_url_encoding("caf\xc3\xa9 \xf0\x9f\x98\x80 \x7f", 12));
    CHECK(s3xml_needs_url_encoding("a\x01", 2));
    CHECK(s3xml_needs_url_encoding("a\0b", 3));
    CHECK(s3xml_needs_url_encoding("\x1b[0m", 4));
    CHECK(s3xml_needs_url_encoding("\xff", 1));
    CHECK(s3xml_needs_url_encoding("\xc3", 1));             /* cut short */
    CHECK(s3xml_needs_url_encoding("\xc0\xaf", 2));         /* overlong '/' */
    CHECK(s3xml_needs_url_encoding("\xed\xa0\x80", 3));     /* surrogate */
    CHECK(s3xml_needs_url_encoding("\xf4\x90\x80\x80", 4)); /* beyond U+10FFFF */
    CHECK(s3xml_needs_url_encoding("\xef\xbf\xbf", 3));     /* U+FFFF */
}

static void test_url_encode(void)
{
    char out[64], big[300];
    struct s3xml_out o = {0};
    size_t base;

    CHECK(s3xml_url_encode("a b/c+d~e_f-g.h", 15, out, sizeof(out)) == 19);
    CHECK_STR(out, "a%20b/c%2Bd~e_f-g.h");
    CHECK(s3xml_url_encode("caf\xc3\xa9\x01&=?%", 10, out, sizeof(out)) == 24);
    CHECK_STR(out, "caf%C3%A9%01%26%3D%3F%25");
    CHECK(s3xml_url_encode("\0", 1, out, sizeof(out)) == 3);
    CHECK_STR(out, "%00");
    /* Truncated like snprintf: the length needed, NUL-terminated. */
    CHECK(s3xml_url_encode("a b", 3, out, 3) == 5);
    CHECK_STR(out, "a%");
    CHECK(s3xml_url_encode("a b", 3, NULL, 0) == 5);
    CHECK(s3xml_url_encode("", 0, out, 1) == 0 && out[0] == '\0');

    s3xml_open(&o, "R");
    base = o.len;
    s3xml_elem_url(&o, "Key", "x\x01y z", 5);
    CHECK_STR(elem_only(&o, base), "<Key>x%01y%20z</Key>");
    /* Longer than the stack buffer once encoded. */
    memset(big, ' ', sizeof(big));
    o.len = base;
    s3xml_elem_url(&o, "Key", big, sizeof(big));
    CHECK(o.len - base == 5 + 3 * sizeof(big) + 6);
    CHECK(!memcmp(o.buf + o.len - 9, "%20</Key>", 9));
    s3xml_out_free(&o);
}

static void test_error_document(void)
{
    struct s3xml_out o = {0};

    s3xml_open(&o, "ListBucketResult"); /* a response abandoned half-way */
    s3xml_error(&o, "NoSuchKey", NULL, "/b/k", "abc");
    CHECK_STR(o.buf, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                     "<Error><Code>NoSuchKey</Code><Message>The specified key does not exist."
                     "</Message><Resource>/b/k</Resource><RequestId>abc</RequestId></Error>");
    s3xml_error(&o, "BadDigest", "The CRC32 you specified did not match the calculated checksum.",
                "/b/a&b", NULL);
    CHECK_STR(o.buf, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                     "<Error><Code>BadDigest</Code><Message>The CRC32 you specified did not match "
                     "the calculated checksum.</Message><Resource>/b/a&amp;b</Resource></Error>");
    s3xml_error(&o, "Unheard", NULL, NULL, "r");
    CHECK_STR(o.buf, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                     "<Error><Code>Unheard</Code><RequestId>r</RequestId></Error>");
    s3xml_error_with(&o, "NoSuchKey", NULL, "/b/a<b", "r", &(struct s3xml_field){"Key", "a<b", 3},
                     1);
    CHECK_STR(o.buf,
              "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
              "<Error><Code>NoSuchKey</Code><Message>The specified key does not exist."
              "</Message><Key>a&lt;b</Key><Resource>/b/a&lt;b</Resource><RequestId>r</RequestId>"
              "</Error>");
    {
        const struct s3xml_field two[] = {{"RangeRequested", "bytes=9-", 8},
                                          {"ActualObjectSize", "3", 1}};

        s3xml_error_with(&o, "InvalidRange", NULL, NULL, NULL, two, 2);
        CHECK_STR(o.buf, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                         "<Error><Code>InvalidRange</Code><Message>The requested range is not "
                         "satisfiable</Message><RangeRequested>bytes=9-</RangeRequested>"
                         "<ActualObjectSize>3</ActualObjectSize></Error>");
    }
    s3xml_out_free(&o);
}

static void test_error_table(void)
{
    static const struct {
        const char *code;
        int status;
    } codes[] = {
        {"AccessDenied", 403},
        {"BadDigest", 400},
        {"BucketAlreadyExists", 409},
        {"BucketAlreadyOwnedByYou", 409},
        {"BucketNotEmpty", 409},
        {"EntityTooLarge", 400},
        {"EntityTooSmall", 400},
        {"IncompleteBody", 400},
        {"InternalError", 500},
        {"InvalidAccessKeyId", 403},
        {"InvalidArgument", 400},
        {"InvalidBucketName", 400},
        {"InvalidDigest", 400},
        {"InvalidPart", 400},
        {"InvalidPartOrder", 400},
        {"InvalidRange", 416},
        {"InvalidRequest", 400},
        {"KeyTooLongError", 400},
        {"MalformedXML", 400},
        {"MethodNotAllowed", 405},
        {"MissingContentLength", 411},
        {"NoSuchBucket", 404},
        {"NoSuchKey", 404},
        {"NoSuchUpload", 404},
        {"NotImplemented", 501},
        {"PreconditionFailed", 412},
        {"RequestTimeTooSkewed", 403},
        {"SignatureDoesNotMatch", 403},
        {"ServiceUnavailable", 503},
        {"SlowDown", 503},
        {"XAmzContentSHA256Mismatch", 400},
        {"AuthorizationHeaderMalformed", 400},
        {"AuthorizationQueryParametersError", 400},
        {"InvalidObjectState", 403},
        {"OperationAborted", 409},
        {"NotModified", 304},
    };

    for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
        const char *m = s3xml_error_message(codes[i].code);

        if (s3xml_error_status(codes[i].code) != codes[i].status)
            fprintf(stderr, "  %s: %d\n", codes[i].code, s3xml_error_status(codes[i].code));
        CHECK(s3xml_error_status(codes[i].code) == codes[i].status);
        CHECK(m != NULL && m[0] != '\0');
    }
    CHECK_STR(s3xml_error_message("MalformedXML"),
              "The XML you provided was not well-formed or did not validate against our "
              "published schema");
    CHECK_STR(s3xml_error_message("AccessDenied"), "Access Denied");
    CHECK(s3xml_error_message("NoSuchThing") == NULL);
    CHECK(s3xml_error_status("NoSuchThing") == 0);
    CHECK(s3xml_error_status(NULL) == 0);
    CHECK(s3xml_error_status("nosuchkey") == 0); /* codes are case-sensitive */
}

static void test_dates(void)
{
    char t[32], h[40];

    CHECK(s3xml_time(t, 1796126400) == 0);
    CHECK_STR(t, "2026-12-01T12:00:00.000Z");
    CHECK(s3xml_http_date(h, 1796126400) == 0);
    CHECK_STR(h, "Tue, 01 Dec 2026 12:00:00 GMT");
    CHECK(s3xml_time(t, 0) == 0);
    CHECK_STR(t, "1970-01-01T00:00:00.000Z");
    CHECK(s3xml_http_date(h, 0) == 0);
    CHECK_STR(h, "Thu, 01 Jan 1970 00:00:00 GMT");
    CHECK(s3xml_time(t, 951786123) == 0);
    CHECK_STR(t, "2000-02-29T01:02:03.000Z");
    CHECK(s3xml_http_date(h, 951786123) == 0);
    CHECK_STR(h, "Tue, 29 Feb 2000 01:02:03 GMT");
    CHECK(s3xml_time(t, -1) == 0);
    CHECK_STR(t, "1969-12-31T23:59:59.000Z");
    CHECK(s3xml_time(t, 253402300799LL) == 0);
    CHECK_STR(t, "9999-12-31T23:59:59.000Z");
    CHECK(s3xml_time(t, 253402300800LL) == -1 && t[0] == '\0');
    CHECK(s3xml_http_date(h, 253402300800LL) == -1 && h[0] == '\0');
    CHECK(s3xml_time(t, -62167219201LL) == -1); /* 1 s before year 0 */
    CHECK(s3xml_time(t, -62167219200LL) == 0);
    CHECK_STR(t, "0000-01-01T00:00:00.000Z");
    CHECK(s3xml_time(t, 9223372036854775807LL) == -1);
}

/* What the writer escapes, the parser reads back as the same key. */
static void test_roundtrip(void)
{
    static const char *keys[] = {"a&b",         "<tag>",    "\"quoted\" 'single'",
                                 "tab\there",   "cr\rlf\n", "  spaces  ",
                                 "caf\xc3\xa9", "]]>",      "&amp;"};
    size_t n = sizeof(keys) / sizeof(keys[0]);
    struct s3xml_out o = {0};
    int rc;

    s3xml_open(&o, "Delete");
    for (size_t i = 0; i < n; i++) {
        CHECK(!s3xml_needs_url_encoding(keys[i], strlen(keys[i])));
        s3xml_open(&o, "Object");
        s3xml_elem(&o, "Key", keys[i], strlen(keys[i]));
        s3xml_close(&o, "Object");
    }
    s3xml_close(&o, "Delete");
    struct s3xml_parser *p = parse(S3XML_DELETE, o.buf, o.len, 1, &rc);
    CHECK(rc == 0);
    CHECK(s3xml_nobjects(p) == n);
    for (size_t i = 0; i < n && i < s3xml_nobjects(p); i++)
        check_key(p, i, keys[i], NULL);
    s3xml_parser_free(p);
    s3xml_out_free(&o);
}

UNIT_MAIN("s3xml", T(test_delete_namespaced), T(test_delete_plain), T(test_quiet_variants),
          T(test_delete_limits), T(test_key_length), T(test_delete_malformed), T(test_feed_misuse),
          T(test_doctype_refused), T(test_complete), T(test_complete_limits),
          T(test_complete_malformed), T(test_location), T(test_open_elem_close),
          T(test_escape_controls), T(test_needs_url_encoding), T(test_url_encode),
          T(test_error_document), T(test_error_table), T(test_dates), T(test_roundtrip))
