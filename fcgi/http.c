/* http.c: FastCGI response writing (CGI "Status:" form). */
#include "http.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "log.h"

const char *param(const struct req *r, const char *name)
{
    const char *v = FCGX_GetParam(name, r->fr->envp);
    return v ? v : "";
}

const char *status_text(int status)
{
    switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 204: return "No Content";
    case 206: return "Partial Content";
    case 302: return "Found";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 409: return "Conflict";
    case 411: return "Length Required";
    case 413: return "Payload Too Large";
    case 412: return "Precondition Failed";
    case 414: return "URI Too Long";
    case 416: return "Range Not Satisfiable";
    case 500: return "Internal Server Error";
    case 502: return "Bad Gateway";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    default: return "Unknown";
    }
}

/* libfcgi's FCGX_FPrintF has its own printf without %zu or %lld: format with
 * snprintf and write the bytes. */
static void put_fmt(struct req *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put_fmt(struct req *r, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    if (n > 0)
        FCGX_PutStr(buf, n < (int)sizeof(buf) ? n : (int)sizeof(buf) - 1, r->fr->out);
}

void reply(struct req *r, int status, const char *headers, const char *ctype, const char *body,
           size_t blen)
{
    r->status = status;
    put_fmt(r, "Status: %d %s\r\n", status, status_text(status));
    if (ctype)
        put_fmt(r, "Content-Type: %s\r\n", ctype);
    /* 204 carries no body and no length. */
    if (status != 204 && r->head && r->head_length >= 0)
        put_fmt(r, "Content-Length: %lld\r\n", r->head_length);
    else if (status != 204)
        put_fmt(r, "Content-Length: %zu\r\n", body ? blen : (size_t)0);
    if (headers)
        FCGX_PutS(headers, r->fr->out);
    FCGX_PutS("\r\n", r->fr->out);
    if (body && blen && !r->head) {
        FCGX_PutStr(body, (int)blen, r->fr->out);
        r->bytes_out += (long long)blen;
    }
}

void reply_error(struct req *r, int status, const char *why)
{
    char line[512];
    int n = snprintf(line, sizeof(line), "%s\n", why);

    if (n < 0)
        n = 0;
    if ((size_t)n >= sizeof(line))
        n = sizeof(line) - 1;
    reply(r, status, NULL, "text/plain; charset=utf-8", line, (size_t)n);
}

void reply_begin(struct req *r, const char *ctype)
{
    r->status = 200;
    put_fmt(r, "Status: 200 OK\r\nContent-Type: %s\r\n\r\n", ctype);
}

void out(struct req *r, const char *data, size_t len)
{
    if (!r->head) {
        FCGX_PutStr(data, (int)len, r->fr->out);
        r->bytes_out += (long long)len;
    }
}

void reply_abort(struct req *r)
{
    r->status = 500;
    /* Whatever libfcgi still buffers is dropped with the connection: the
     * front must not see the end of the request (FCGI_END_REQUEST), which is
     * what would make the cut-off body look complete. */
    if (shutdown(r->fr->ipcFd, SHUT_RDWR) < 0)
        log_error("cannot cut off a failed response: %s", strerror(errno));
}
