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
    int index_compress; /* a records file created now is compressed (index_set_compress) */
    long probe_timeout_ms;
    long connect_timeout_ms;
    long idle_timeout_ms;
    char db[PATH_MAX];
    int workers;
    int threads;
    int cache_mb;
    int log_level;
    char listen[PATH_MAX];         /* FastCGI socket to open; empty = use fd 0 */
    char log_file[PATH_MAX];       /* append log lines here; empty = stderr */
    char volume_scheme[8];         /* "http" or "https": how volumes are reached */
    char volume_cafile[PATH_MAX];  /* CA bundle that verifies https volumes; empty = system */
    char write_secret[129];        /* writes need X-Mkv-Secret equal to this; empty = off */
    char s3_credentials[PATH_MAX]; /* S3 keys, lines "ACCESS_KEY SECRET"; empty = no S3 */
    char s3_region[64];            /* the region S3 clients are told (GetBucketLocation) */
};

/* Fill cfg from defaults, the config file (-c FILE, or $MKV_CONF, or none),
 * the environment and argv flags.  Returns 0, or -1 with a one-line reason
 * in err. */
int config_load(struct mkv_config *cfg, int argc, char **argv, char *err, size_t errlen);

/* A tool's own command-line argument (see config_split): returns 1 if it
 * took arg, 0 if arg is not the tool's (it goes to the settings), or -1
 * with a one-line reason in err (a bad value of a tool flag). */
typedef int (*config_arg_fn)(void *ctx, const char *arg, char *err, size_t errlen);

/* The settings' part of a command line, for config_load. */
struct mkv_args {
    int argc;
    char **argv; /* argv[0], then "-c FILE" and the rest, in order; NULL-terminated */
    int help;    /* -h or --help was given: argv is NULL, nothing else was looked at */
};

/* Splits an admin tool's command line, with no limit on its length.
 * "-c FILE" goes to the settings; every other argument is offered to own
 * (if not NULL), and what it does not take goes to the settings too, where
 * config_load rejects anything that is not -c or --name=value.  Returns 0
 * (free out with config_args_free), or -1 with the reason in err. */
int config_split(int argc, char **argv, config_arg_fn own, void *ctx, struct mkv_args *out,
                 char *err, size_t errlen);
void config_args_free(struct mkv_args *a);

/* Print every setting and its meaning (for --help). */
void config_usage(const char *prog);

/* An admin tool, for admin_start: its name in messages ("mkv-dump"), its own
 * arguments (config_split's own, with ctx), its --help (usage), and a check
 * of those arguments once split, before the settings are loaded (NULL for
 * none): 0, or -1 when they do not make a command (usage is printed). */
struct mkv_tool {
    const char *name;
    config_arg_fn own;
    void *ctx;
    void (*usage)(void);
    int (*check)(void *ctx);
};

/* An admin tool's start-up, the same in each: splits argv (config_split),
 * prints the help for -h/--help, checks the tool's arguments, loads cfg
 * (config_load) and sets the log level.  Returns 0 to go on, or -1 with the
 * status to exit with in *status (exitcodes.h: MKV_EXIT_OK after the help,
 * MKV_EXIT_USAGE after printing why to stderr as "name: reason"). */
int admin_start(const struct mkv_tool *tool, int argc, char **argv, struct mkv_config *cfg,
                int *status);

#endif
