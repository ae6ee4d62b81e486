/* log.h: one-line log messages on stderr or syslog, with a process-wide level. */
#ifndef MKV_LOG_H
#define MKV_LOG_H

void log_set_level(int level); /* 0 errors, 1 info (requests), 2 debug */
int log_level(void);

/* Sends stderr to path (appending), or the messages to syslog (facility
 * daemon, ident "mkv") when path is "syslog".  Returns 0 or -1 with errno
 * set. */
int log_to_file(const char *path);

void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
