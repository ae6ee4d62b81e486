/* config.c: loading struct mkv_config from file, environment and flags,
 * and the start-up every admin tool shares (admin_start), which does so.
 *
 * Every setting is described once in the table below; numbers are parsed
 * with explicit bounds so a typo fails loudly instead of becoming 0. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exitcodes.h"
#include "index.h"
#include "log.h"
#include "num.h"
#include "record.h"

enum kind { K_INT, K_LONG, K_BOOL, K_STR, K_VOLUMES };

struct setting {
    const char *name;
    enum kind kind;
    size_t off;
    size_t size; /* buffer size for K_STR */
    long min, max;
    const char *def;
    const char *help;
};

#define OFF(f) offsetof(struct mkv_config, f)
#define SZ(f)  sizeof(((struct mkv_config *)0)->f)

static const struct setting settings[] = {
    {"volumes", K_VOLUMES, 0, 0, 0, 0, "localhost:3001,localhost:3002,localhost:3003",
     "volume servers, comma separated host:port"},
    {"replicas", K_INT, OFF(replicas), 0, 1, MKV_MAX_REPLICAS, "3", "copies of every value"},
    {"subvolumes", K_INT, OFF(subvolumes), 0, 1, 4096, "10", "directories per volume"},
    {"db", K_STR, OFF(db), SZ(db), 0, 0, "./run/index", "Berkeley DB environment directory"},
    {"fallback", K_STR, OFF(fallback), SZ(fallback), 0, 0, "",
     "host:port to redirect absent keys to"},
    {"protect", K_BOOL, OFF(protect), 0, 0, 1, "no", "refuse DELETE of live keys (UNLINK first)"},
    {"md5sum", K_BOOL, OFF(md5sum), 0, 0, 1, "yes", "store and report the MD5 of values"},
    {"probe", K_BOOL, OFF(probe), 0, 0, 1, "yes", "HEAD replicas before redirecting a GET"},
    {"index_compress", K_BOOL, OFF(index_compress), 0, 0, 1, "yes",
     "a new index's records compressed: a third less disk, more log a write (README)"},
    {"probe_timeout_ms", K_LONG, OFF(probe_timeout_ms), 0, 1, 3600000, "1000",
     "timeout of one HEAD probe"},
    {"connect_timeout_ms", K_LONG, OFF(connect_timeout_ms), 0, 1, 3600000, "2000",
     "connect timeout of volume calls"},
    {"idle_timeout_ms", K_LONG, OFF(idle_timeout_ms), 0, 1000, 86400000, "30000",
     "volume PUT/DELETE fails after this long without progress"},
    {"workers", K_INT, OFF(workers), 0, 0, 256, "2",
     "worker processes to fork and supervise (0: serve in this process)"},
    {"threads", K_INT, OFF(threads), 0, 1, 256, "64", "request threads per worker process"},
    {"cache_mb", K_INT, OFF(cache_mb), 0, 1, 65536, "64", "Berkeley DB cache in MiB"},
    {"log_level", K_INT, OFF(log_level), 0, 0, 2, "0", "0 errors, 1 requests, 2 debug"},
    {"listen", K_STR, OFF(listen), SZ(listen), 0, 0, "",
     "FastCGI socket path or :port to open (default: fd 0 from spawn-fcgi)"},
    {"log_file", K_STR, OFF(log_file), SZ(log_file), 0, 0, "",
     "append log lines to this file, or \"syslog\" (default: stderr, which spawn-fcgi closes)"},
    {"volume_scheme", K_STR, OFF(volume_scheme), SZ(volume_scheme), 0, 0, "http",
     "http or https: how workers, admin tools and redirected clients reach the volumes"},
    {"volume_cafile", K_STR, OFF(volume_cafile), SZ(volume_cafile), 0, 0, "",
     "CA certificates (PEM) that https volumes must verify against (default: the system's)"},
    {"write_secret", K_STR, OFF(write_secret), SZ(write_secret), 0, 0, "",
     "if set, PUT/DELETE/UNLINK/REBALANCE need the header X-Mkv-Secret with this value"},
    {"s3_credentials", K_STR, OFF(s3_credentials), SZ(s3_credentials), 0, 0, "",
     "file of S3 keys, lines \"ACCESS_KEY SECRET\" (default: none; S3 requests are refused)"},
    {"s3_region", K_STR, OFF(s3_region), SZ(s3_region), 0, 0, "us-east-1",
     "the one region S3 serves: signatures for another and other LocationConstraints are refused"},
};
#define NSETTINGS (sizeof(settings) / sizeof(settings[0]))

static void seterr(char *err, size_t errlen, const char *fmt, const char *a, const char *b)
{
    snprintf(err, errlen, fmt, a, b);
}

static int parse_bool(const char *s, int *out)
{
    if (!strcmp(s, "yes") || !strcmp(s, "true") || !strcmp(s, "on") || !strcmp(s, "1")) {
        *out = 1;
        return 0;
    }
    if (!strcmp(s, "no") || !strcmp(s, "false") || !strcmp(s, "off") || !strcmp(s, "0")) {
        *out = 0;
        return 0;
    }
    return -1;
}

/* Split "a,b,c" into cfg->volumes.  No trimming, as in the original: the
 * names are hashed byte for byte. */
static int parse_volumes(struct mkv_config *cfg, const char *s, char *err, size_t errlen)
{
    char *p = cfg->volumes_buf;
    size_t n = strlen(s);

    if (n >= sizeof(cfg->volumes_buf)) {
        seterr(err, errlen, "volumes: list too long%s%s", "", "");
        return -1;
    }
    memcpy(p, s, n + 1);
    cfg->nvolumes = 0;
    for (;;) {
        char *comma = strchr(p, ',');
        if (comma)
            *comma = '\0';
        /* A name the records could not hold (record_volpath_ok) would make
         * the workers write records they then refuse to read. */
        if (*p == '\0' || strlen(p) > MKV_VOLNAME_MAX || strchr(p, '/') ||
            !record_volpath_ok(p, strlen(p))) {
            seterr(err, errlen, "volumes: bad volume name '%s' (want host:port)%s", p, "");
            return -1;
        }
        if (cfg->nvolumes == MKV_MAX_VOLUMES) {
            seterr(err, errlen, "volumes: more than the supported maximum%s%s", "", "");
            return -1;
        }
        cfg->volumes[cfg->nvolumes++] = p;
        if (!comma)
            break;
        p = comma + 1;
    }
    return 0;
}

static int apply(struct mkv_config *cfg, const struct setting *st, const char *val, char *err,
                 size_t errlen)
{
    char *base = (char *)cfg;
    long long l;
    int b;

    switch (st->kind) {
    case K_INT:
    case K_LONG:
        if (num_parse(val, st->min, st->max, &l) < 0) {
            snprintf(err, errlen, "%s: '%s' is not an integer in [%ld, %ld]", st->name, val,
                     st->min, st->max);
            return -1;
        }
        if (st->kind == K_INT)
            *(int *)(base + st->off) = (int)l;
        else
            *(long *)(base + st->off) = (long)l;
        return 0;
    case K_BOOL:
        if (parse_bool(val, &b) < 0) {
            seterr(err, errlen, "%s: '%s' is not yes or no", st->name, val);
            return -1;
        }
        *(int *)(base + st->off) = b;
        return 0;
    case K_STR:
        if (strlen(val) >= st->size) {
            seterr(err, errlen, "%s: value too long%s", st->name, "");
            return -1;
        }
        strcpy(base + st->off, val);
        return 0;
    case K_VOLUMES: return parse_volumes(cfg, val, err, errlen);
    }
    return -1;
}

static const struct setting *find(const char *name, size_t len)
{
    for (size_t i = 0; i < NSETTINGS; i++)
        if (strlen(settings[i].name) == len && !strncmp(settings[i].name, name, len))
            return &settings[i];
    return NULL;
}

static char *trim(char *s)
{
    char *e;
    while (isspace((unsigned char)*s))
        s++;
    e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1]))
        *--e = '\0';
    return s;
}

static int load_file(struct mkv_config *cfg, const char *path, char *err, size_t errlen)
{
    char line[4096];
    int lineno = 0, rc = 0;
    FILE *f = fopen(path, "r");

    if (!f) {
        snprintf(err, errlen, "cannot open config %s: %s", path, strerror(errno));
        return -1;
    }
    while (fgets(line, sizeof(line), f)) {
        char *p, *eq, *hash;
        const struct setting *st;
        char sub[512];

        lineno++;
        if ((hash = strchr(line, '#')))
            *hash = '\0';
        p = trim(line);
        if (*p == '\0')
            continue;
        eq = strchr(p, '=');
        if (!eq) {
            snprintf(err, errlen, "%s:%d: expected name = value", path, lineno);
            rc = -1;
            break;
        }
        *eq = '\0';
        p = trim(p);
        st = find(p, strlen(p));
        if (!st) {
            snprintf(err, errlen, "%s:%d: unknown setting '%.64s'", path, lineno, p);
            rc = -1;
            break;
        }
        if (apply(cfg, st, trim(eq + 1), sub, sizeof(sub)) < 0) {
            snprintf(err, errlen, "%s:%d: %s", path, lineno, sub);
            rc = -1;
            break;
        }
    }
    fclose(f);
    return rc;
}

static int load_env(struct mkv_config *cfg, char *err, size_t errlen)
{
    for (size_t i = 0; i < NSETTINGS; i++) {
        char name[64] = "MKV_";
        const char *v;
        size_t j;

        for (j = 0; settings[i].name[j] && j + 5 < sizeof(name); j++)
            name[4 + j] = (char)toupper((unsigned char)settings[i].name[j]);
        name[4 + j] = '\0';
        v = getenv(name);
        if (v && apply(cfg, &settings[i], v, err, errlen) < 0)
            return -1;
    }
    return 0;
}

static int load_flags(struct mkv_config *cfg, int argc, char **argv, char *err, size_t errlen)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *eq;
        const struct setting *st;

        if (!strcmp(a, "-c")) {
            i++; /* the file was read already */
            continue;
        }
        if (strncmp(a, "--", 2) != 0 || !(eq = strchr(a, '='))) {
            snprintf(err, errlen, "unexpected argument '%.64s' (flags are --name=value)", a);
            return -1;
        }
        st = find(a + 2, (size_t)(eq - a - 2));
        if (!st) {
            snprintf(err, errlen, "unknown flag '%.64s'", a);
            return -1;
        }
        if (apply(cfg, st, eq + 1, err, errlen) < 0)
            return -1;
    }
    return 0;
}

int config_load(struct mkv_config *cfg, int argc, char **argv, char *err, size_t errlen)
{
    const char *file = getenv("MKV_CONF");

    memset(cfg, 0, sizeof(*cfg));
    for (size_t i = 0; i < NSETTINGS; i++)
        if (apply(cfg, &settings[i], settings[i].def, err, errlen) < 0)
            return -1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-c")) {
            if (i + 1 >= argc) {
                snprintf(err, errlen, "-c needs a file");
                return -1;
            }
            file = argv[i + 1];
        }
    }
    if (file && *file && load_file(cfg, file, err, errlen) < 0)
        return -1;
    if (load_env(cfg, err, errlen) < 0 || load_flags(cfg, argc, argv, err, errlen) < 0)
        return -1;
    /* The scheme is not part of the record (the original's format stores
     * host:port), so it is one setting for every volume. */
    if (strcmp(cfg->volume_scheme, "http") != 0 && strcmp(cfg->volume_scheme, "https") != 0) {
        snprintf(err, errlen, "volume_scheme must be http or https, not '%s'", cfg->volume_scheme);
        return -1;
    }
    if (cfg->replicas > cfg->nvolumes) {
        snprintf(err, errlen, "replicas (%d) exceeds the number of volumes (%d)", cfg->replicas,
                 cfg->nvolumes);
        return -1;
    }
    return 0;
}

void config_usage(const char *prog)
{
    fprintf(stderr, "usage: %s [-c FILE] [--name=value ...]\n\nsettings (default):\n", prog);
    for (size_t i = 0; i < NSETTINGS; i++)
        fprintf(stderr, "  --%s=  (%s)\n      %s\n", settings[i].name, settings[i].def,
                settings[i].help);
    fprintf(stderr, "\nThe file is -c FILE or $MKV_CONF; MKV_<NAME> variables override it.\n");
}

int config_split(int argc, char **argv, config_arg_fn own, void *ctx, struct mkv_args *out,
                 char *err, size_t errlen)
{
    int n = 0;

    memset(out, 0, sizeof(*out));
    /* Help first, wherever it is: a flag in error before it must not hide it. */
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-c"))
            i++; /* its file, even one named -h */
        else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help"))
            out->help = 1;
    }
    if (out->help)
        return 0;
    /* At most every argument goes to the settings: no limit, nothing dropped. */
    out->argv = calloc((size_t)(argc > 0 ? argc : 1) + 1, sizeof(*out->argv));
    if (!out->argv) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    out->argv[n++] = argc > 0 ? argv[0] : "mkv";
    for (int i = 1; i < argc; i++) {
        int rc = 0;

        if (!strcmp(argv[i], "-c")) {
            out->argv[n++] = argv[i];
            if (i + 1 < argc)
                out->argv[n++] = argv[++i];
            continue; /* a missing file is config_load's complaint */
        }
        if (own && (rc = own(ctx, argv[i], err, errlen)) < 0) {
            config_args_free(out);
            return -1;
        }
        if (rc == 0)
            out->argv[n++] = argv[i];
    }
    out->argv[n] = NULL;
    out->argc = n;
    return 0;
}

void config_args_free(struct mkv_args *a)
{
    free(a->argv);
    a->argv = NULL;
    a->argc = 0;
}

int admin_start(const struct mkv_tool *tool, int argc, char **argv, struct mkv_config *cfg,
                int *status)
{
    struct mkv_args ca;
    char err[512];
    int rc = -1;

    *status = MKV_EXIT_USAGE;
    if (config_split(argc, argv, tool->own, tool->ctx, &ca, err, sizeof(err)) < 0) {
        fprintf(stderr, "%s: %s\n", tool->name, err);
        return -1;
    }
    if (ca.help) {
        tool->usage();
        *status = MKV_EXIT_OK;
        goto cleanup;
    }
    /* Before the settings: a command that makes no sense is told so even
     * when the settings are wrong too. */
    if (tool->check && tool->check(tool->ctx) < 0) {
        tool->usage();
        goto cleanup;
    }
    if (config_load(cfg, ca.argc, ca.argv, err, sizeof(err)) < 0) {
        fprintf(stderr, "%s: %s\n", tool->name, err);
        goto cleanup;
    }
    log_set_level(cfg->log_level);
    index_set_compress(cfg->index_compress);
    rc = 0;

cleanup:
    config_args_free(&ca);
    return rc;
}
