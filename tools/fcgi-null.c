/* fcgi-null.c: the cheapest possible FastCGI responder, for the lookup-path
 * benchmark (make bench): the ceiling of any FastCGI application behind the
 * same nginx front, beside nginx's own `return`.
 *
 *     spawn-fcgi -s SOCK -- fcgi-null [--workers=N] [--threads=T]
 *
 * Accepts on fd 0 (spawn-fcgi's socket) in N forked processes of T threads,
 * as mkv-fcgi does, and answers every request without looking at anything
 * but the path: "/missing..." gets 404, anything else a 302 to a fixed URL.
 * No index, no volume, no logging.  It stops on SIGTERM (installed before
 * FCGX_Init, which would otherwise swallow it). */
#include <fcgiapp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config.h"

#define MAX_WORKERS 64
#define MAX_THREADS 256

static void *serve(void *arg)
{
    FCGX_Request r;

    (void)arg;
    if (FCGX_InitRequest(&r, 0, 0) != 0)
        return NULL;
    while (FCGX_Accept_r(&r) >= 0) {
        const char *uri = FCGX_GetParam("REQUEST_URI", r.envp);

        if (uri && !strncmp(uri, "/missing", 8))
            FCGX_PutS("Status: 404 Not Found\r\nContent-Length: 0\r\n\r\n", r.out);
        else
            FCGX_PutS("Status: 302 Found\r\nLocation: http://x/y\r\nContent-Length: 0\r\n\r\n",
                      r.out);
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
    long workers = 2, threads = 4;
    pid_t pids[MAX_WORKERS];

    for (int i = 1; i < argc; i++) {
        if (!strncmp(argv[i], "--workers=", 10)) {
            if (parse_bounded(argv[i] + 10, 1, MAX_WORKERS, &workers) < 0)
                goto usage;
        } else if (!strncmp(argv[i], "--threads=", 10)) {
            if (parse_bounded(argv[i] + 10, 1, MAX_THREADS, &threads) < 0)
                goto usage;
        } else {
            goto usage;
        }
    }
    signal(SIGTERM, on_term);
    if (FCGX_Init() != 0)
        return 1;
    for (long i = 0; i < workers; i++) {
        pids[i] = fork();
        if (pids[i] == 0)
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
    fprintf(stderr, "usage: fcgi-null [--workers=N] [--threads=T]\n");
    return 2;
}
