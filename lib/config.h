/* config.h: the settings of mkv-fcgi and the admin tools, one struct.
 *
 * Loaded from a "name = value" file, then MKV_<NAME> environment variables,
 * then --name=value flags, each overriding the one before. */
#ifndef MKV_CONFIG_H
#define MKV_CONFIG_H

#include <limits.h>
#include <stddef.h>

#define MKV_MAX_VOLUMES  64  /* configured volume servers */
#define MKV_MAX_REPLICAS 16  /* copies of one key */
#define MKV_VOLNAME_MAX  200 /* "host:port" bytes, without the /svXX suffix */

struct mkv_config {
    char *volumes[MKV_MAX_VOLUMES]; /* point into volumes_buf */
    int nvolumes;
    char volumes_buf[MKV_MAX_VOLUMES * (MKV_VOLNAME_MAX + 1)];
    int replicas;
    int subvolumes;
    char fallback[MKV_VOLNAME_MAX + 1];
    int protect;
    int md5sum;
    int probe;
    long probe_timeout_ms;
    long connect_timeout_ms;
    long idle_timeout_ms;
    char db[PATH_MAX];
    int workers;
    int threads;
    int cache_mb;
    int log_level;
    char listen[PATH_MAX];        /* FastCGI socket to open; empty = use fd 0 */
    char log_file[PATH_MAX];      /* append log lines here; empty = stderr */
    char volume_scheme[8];        /* "http" or "https": how volumes are reached */
    char volume_cafile[PATH_MAX]; /* CA bundle that verifies https volumes; empty = system */
    char write_secret[129];       /* writes need X-Mkv-Secret equal to this; empty = off */
};

/* Fill cfg from defaults, the config file (-c FILE, or $MKV_CONF, or none),
 * the environment and argv flags.  Returns 0, or -1 with a one-line reason
 * in err. */
int config_load(struct mkv_config *cfg, int argc, char **argv, char *err, size_t errlen);

/* Parses a decimal integer in [min, max]; the whole string must be the
 * number (no blanks, no sign tricks beyond one '-').  Returns 0 or -1. */
int parse_bounded(const char *s, long min, long max, long *out);

/* Print every setting and its meaning (for --help). */
void config_usage(const char *prog);

#endif
