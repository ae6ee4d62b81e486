/* http.h: one FastCGI request as the handlers see it, and response writing. */
#ifndef MKV_HTTP_H
#define MKV_HTTP_H

#include <fcgiapp.h>
#include <stddef.h>

#include "keys.h"

struct req {
    FCGX_Request *fr;
    const char *method;
    const char *uri;   /* raw REQUEST_URI */
    const char *query; /* raw text after '?', or NULL */
    char key[MKV_URI_MAX];
    size_t klen;
    int head;              /* HEAD: headers only */
    long long head_length; /* HEAD of a live key: the value's size from its record, or -1 */
    int status;            /* for the log line */
    long long bytes_in;    /* value bytes received (PUT), for the log line and stats */
    long long bytes_out;   /* response body bytes sent (listings, reasons, stats) */
    char volume[256];      /* the volume path redirected to, written or deleted first */
};

/* A FastCGI parameter, or "" when absent. */
const char *param(const struct req *r, const char *name);

/* Writes status line, Content-Length, extra header lines (each ending in
 * "\r\n", may be NULL) and body (may be NULL; never sent for HEAD). */
void reply(struct req *r, int status, const char *headers, const char *ctype, const char *body,
           size_t blen);

/* A 4xx/5xx with a one-line text/plain reason. */
void reply_error(struct req *r, int status, const char *why);

/* Begins a 200 response whose body follows through out(). */
void reply_begin(struct req *r, const char *ctype);
void out(struct req *r, const char *data, size_t len);

/* Ends a response that failed after its first bytes were sent, so that it
 * cannot pass for a complete one: the connection to the front is cut before
 * the FastCGI request ends, and nginx or lighttpd then closes the client's
 * connection without the last chunk (the client sees an incomplete body).
 * Logged and counted as a 500. */
void reply_abort(struct req *r);

const char *status_text(int status);

#endif
