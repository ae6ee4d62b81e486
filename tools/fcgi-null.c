/* fcgi-null.c: the cheapest possible FastCGI responders, for the lookup-path
 * benchmark (make bench): the ceiling of any FastCGI application behind the
 * same nginx front, beside nginx's own `return`.
 *
 *     spawn-fcgi -s SOCK -- fcgi-null [--workers=N] [--threads=T] [--raw]
 *
 * Accepts on fd 0 (spawn-fcgi's socket) in N forked processes and answers
 * every request without looking at anything but the path: "/missing..." gets
 * 404, anything else a 302 to a fixed URL.  No index, no volume, no logging.
 *
 * Two ways to answer, two ceilings:
 * - default: libfcgi, T threads a process each blocking in FCGX_Accept_r, as
 *   mkv-fcgi does: the ceiling of a libfcgi application (mkv's model).
 * - --raw: no libfcgi and no threads: one epoll loop a process answering from
 *   pre-built bytes, many requests per wakeup: the fastest FastCGI responder
 *   we know how to write, so what nginx's FastCGI proxying costs whatever the
 *   application does.  Not a server to build on: it trusts nginx's records (a
 *   malformed one closes the connection).
 *
 * It stops on SIGTERM (installed before FCGX_Init, which would otherwise
 * swallow it). */
#include <errno.h>
#include <fcgiapp.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config.h"
#include "num.h"

#define MAX_WORKERS 64
#define MAX_THREADS 256
#define MAX_EVENTS  256
#define BUF_SIZE    65536

enum { REC_BEGIN = 1, REC_END = 3, REC_PARAMS = 4, REC_STDIN = 5, REC_STDOUT = 6 };

struct conn {
    int fd;
    int keep;      /* FCGI_KEEP_CONN of the current request */
    int missing;   /* the current request's REQUEST_URI starts "/missing" */
    size_t in_len; /* bytes in in[] */
    unsigned char in[BUF_SIZE];
    size_t out_len;
    unsigned char out[BUF_SIZE];
};

static const char reply_404[] = "Status: 404 Not Found\r\nContent-Length: 0\r\n\r\n";
static const char reply_302[] =
    "Status: 302 Found\r\nLocation: http://x/y\r\nContent-Length: 0\r\n\r\n";

static void put_header(unsigned char *p, int type, int id, size_t len)
{
    p[0] = 1;
    p[1] = (unsigned char)type;
    p[2] = (unsigned char)(id >> 8);
    p[3] = (unsigned char)id;
    p[4] = (unsigned char)(len >> 8);
    p[5] = (unsigned char)len;
    p[6] = 0;
    p[7] = 0;
}

/* Appends STDOUT, the empty STDOUT and END_REQUEST of request id; -1 if the
 * output buffer is full (cannot happen with nginx's one request at a time). */
static int reply(struct conn *c, int id)
{
    const char *body = c->missing ? reply_404 : reply_302;
    size_t blen = c->missing ? sizeof reply_404 - 1 : sizeof reply_302 - 1;
    unsigned char *p = c->out + c->out_len;

    if (c->out_len + 8 + blen + 8 + 16 > sizeof c->out)
        return -1;
    put_header(p, REC_STDOUT, id, blen);
    memcpy(p + 8, body, blen);
    p += 8 + blen;
    put_header(p, REC_STDOUT, id, 0);
    p += 8;
    put_header(p, REC_END, id, 8);
    memset(p + 8, 0, 8);
    c->out_len += 8 + blen + 8 + 16;
    return 0;
}

/* Reads one FastCGI name-value length (1 or 4 bytes); -1 past end. */
static long nv_len(const unsigned char **p, const unsigned char *end)
{
    long n;

    if (*p >= end)
        return -1;
    if (!(**p & 0x80))
        return *(*p)++;
    if (end - *p < 4)
        return -1;
    n = ((long)((*p)[0] & 0x7f) << 24) | ((long)(*p)[1] << 16) | ((long)(*p)[2] << 8) | (*p)[3];
    *p += 4;
    return n;
}

static int scan_params(struct conn *c, const unsigned char *p, size_t len)
{
    const unsigned char *end = p + len;

    while (p < end) {
        long nl = nv_len(&p, end), vl = nv_len(&p, end);

        if (nl < 0 || vl < 0 || end - p < nl + vl)
            return -1;
        if (nl == 11 && !memcmp(p, "REQUEST_URI", 11))
            c->missing = vl >= 8 && !memcmp(p + 11, "/missing", 8);
        p += nl + vl;
    }
    return 0;
}

/* Handles every whole record in c->in; -1 on a protocol error. */
static int handle_records(struct conn *c)
{
    size_t off = 0;

    while (c->in_len - off >= 8) {
        const unsigned char *h = c->in + off;
        int id = (h[2] << 8) | h[3];
        size_t clen = ((size_t)h[4] << 8) | h[5], total = 8 + clen + h[6];

        if (c->in_len - off < total)
            break;
        if (h[1] == REC_BEGIN && clen >= 8) {
            c->keep = h[8 + 2] & 1;
            c->missing = 0;
        } else if (h[1] == REC_PARAMS && clen > 0) {
            if (scan_params(c, h + 8, clen) < 0)
                return -1;
        } else if (h[1] == REC_STDIN && clen == 0) {
            if (reply(c, id) < 0)
                return -1;
        }
        off += total;
    }
    memmove(c->in, c->in + off, c->in_len - off);
    c->in_len -= off;
    return 0;
}

/* Reads what is there, answers whole requests, writes the answers in one
 * write; 0 to keep the connection, -1 to close it. */
static int serve_conn(struct conn *c)
{
    for (;;) {
        ssize_t n = read(c->fd, c->in + c->in_len, sizeof c->in - c->in_len);

        if (n == 0)
            return -1;
        if (n < 0) {
            if (errno == EAGAIN)
                break;
            if (errno == EINTR)
                continue;
            return -1;
        }
        c->in_len += (size_t)n;
        if (handle_records(c) < 0)
            return -1;
        if (c->in_len == sizeof c->in)
            return -1;
    }
    if (c->out_len > 0) {
        /* Answers are tiny: a full socket buffer here means nginx stopped
         * reading, and the benchmark would show it as errors. */
        ssize_t n = write(c->fd, c->out, c->out_len);

        if (n != (ssize_t)c->out_len)
            return -1;
        c->out_len = 0;
        if (!c->keep)
            return -1;
    }
    return 0;
}

static void accept_all(int ep, int lfd)
{
    for (;;) {
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        struct epoll_event ev = {.events = EPOLLIN};
        struct conn *c;

        if (fd < 0)
            return;
        c = calloc(1, sizeof *c);
        if (c == NULL) {
            close(fd);
            return;
        }
        c->fd = fd;
        ev.data.ptr = c;
        if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
            close(fd);
            free(c);
        }
    }
}

static void run_raw(int lfd)
{
    struct epoll_event ev = {.events = EPOLLIN | EPOLLEXCLUSIVE, .data.ptr = NULL};
    struct epoll_event evs[MAX_EVENTS];
    int ep = epoll_create1(EPOLL_CLOEXEC);

    if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev) < 0)
        _exit(1);
    for (;;) {
        int n = epoll_wait(ep, evs, MAX_EVENTS, -1);

        for (int i = 0; i < n; i++) {
            struct conn *c = evs[i].data.ptr;

            if (c == NULL) {
                accept_all(ep, lfd);
            } else if (serve_conn(c) < 0) {
                close(c->fd);
                free(c);
            }
        }
    }
}

/* ---- libfcgi ---- */

static void *serve(void *arg)
{
    FCGX_Request r;

    (void)arg;
    if (FCGX_InitRequest(&r, 0, 0) != 0)
        return NULL;
    while (FCGX_Accept_r(&r) >= 0) {
        const char *uri = FCGX_GetParam("REQUEST_URI", r.envp);

        FCGX_PutS(uri && !strncmp(uri, "/missing", 8) ? reply_404 : reply_302, r.out);
        FCGX_Finish_r(&r);
    }
    return NULL;
}

static void run(int threads)
{
    pthread_t tid;

    for (int i = 1; i < threads; i++)
        if (pthread_create(&tid, NULL, serve, NULL) != 0)
            exit(1);
    serve(NULL);
}

static void on_term(int sig)
{
    (void)sig;
    _exit(0);
}

int main(int argc, char **argv)
{
    long long workers = 2, threads = 4;
    int raw = 0, fl;
    pid_t pids[MAX_WORKERS];

    for (int i = 1; i < argc; i++) {
        if (!strncmp(argv[i], "--workers=", 10)) {
            if (num_parse(argv[i] + 10, 1, MAX_WORKERS, &workers) < 0)
                goto usage;
        } else if (!strncmp(argv[i], "--threads=", 10)) {
            if (num_parse(argv[i] + 10, 1, MAX_THREADS, &threads) < 0)
                goto usage;
        } else if (!strcmp(argv[i], "--raw")) {
            raw = 1;
        } else {
            goto usage;
        }
    }
    signal(SIGTERM, on_term);
    if (raw) {
        /* Each process's epoll loop accepts all it can, then goes on. */
        fl = fcntl(0, F_GETFL);
        if (fl < 0 || fcntl(0, F_SETFL, fl | O_NONBLOCK) < 0)
            return 1;
    } else if (FCGX_Init() != 0) {
        return 1;
    }
    for (long i = 0; i < workers; i++) {
        pids[i] = fork();
        if (pids[i] == 0 && raw)
            run_raw(0);
        else if (pids[i] == 0)
            run((int)threads);
        if (pids[i] < 0)
            return 1;
    }
    /* The parent only waits; SIGTERM to it stops the workers too. */
    signal(SIGTERM, SIG_IGN);
    for (;;) {
        sigset_t set;
        int sig;
        sigemptyset(&set);
        sigaddset(&set, SIGTERM);
        sigprocmask(SIG_BLOCK, &set, NULL);
        if (sigwait(&set, &sig) == 0 && sig == SIGTERM)
            break;
    }
    for (long i = 0; i < workers; i++)
        kill(pids[i], SIGTERM);
    while (wait(NULL) > 0)
        ;
    return 0;

usage:
    fprintf(stderr, "usage: fcgi-null [--workers=N] [--threads=T] [--raw]\n");
    return 2;
}
