/* seen.c: the table of recently seen write requests (see seen.h). */
#include "seen.h"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define SEEN_BYTES (MKV_SEEN_SLOTS * 16)

int seen_open(struct mkv_seen *s, const char *home)
{
    char path[4096];
    struct stat st;
    void *p;
    int fd;

    s->slot = NULL;
    if (snprintf(path, sizeof(path), "%s/%s", home, MKV_SEEN_FILE) >= (int)sizeof(path))
        return -1;
    if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0)
        return -1;
    /* Extending is idempotent: processes racing here all get SEEN_BYTES. */
    if (fstat(fd, &st) < 0 || (st.st_size < SEEN_BYTES && ftruncate(fd, SEEN_BYTES) < 0)) {
        close(fd);
        return -1;
    }
    p = mmap(NULL, SEEN_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (p == MAP_FAILED)
        return -1;
    s->slot = p;
    return 0;
}

void seen_close(struct mkv_seen *s)
{
    if (s->slot)
        munmap(s->slot, SEEN_BYTES);
    s->slot = NULL;
}

/* Every worker thread of every process marks ids in the same mapping, so a
 * slot is only ever read and written with atomic 8-byte loads and stores
 * (lock-free: they work across processes, and a process killed mid-mark
 * cannot leave a lock behind).  The two halves are not one atomic unit: a
 * slot two writers fill at once may keep one half of each, a value that is
 * neither id (unless they share a half): the same loss as a collision.
 * Relaxed order is enough: a retry reaches another process only through
 * nginx, after the first attempt's connection broke, and those syscalls
 * order the mark before the check. */
int seen_mark(struct mkv_seen *s, const char *id)
{
    unsigned char bin[16];
    uint64_t want[2], *slot;
    unsigned bucket;
    size_t n = 0;

    if (!s->slot || !id || strlen(id) != 32 ||
        OPENSSL_hexstr2buf_ex(bin, sizeof(bin), &n, id, '\0') != 1 || n != sizeof(bin))
        return 0;
    /* nginx's ids are random bytes: any four make a fair bucket. */
    bucket = ((unsigned)bin[0] | (unsigned)bin[1] << 8 | (unsigned)bin[2] << 16 |
              (unsigned)bin[3] << 24) %
             MKV_SEEN_SLOTS;
    /* The mapping is page-aligned and slots are 16 bytes: both halves are
     * naturally aligned 8-byte words. */
    slot = (uint64_t *)(void *)s->slot[bucket];
    memcpy(want, bin, sizeof(want));
    if (__atomic_load_n(&slot[0], __ATOMIC_RELAXED) == want[0] &&
        __atomic_load_n(&slot[1], __ATOMIC_RELAXED) == want[1])
        return 1;
    __atomic_store_n(&slot[0], want[0], __ATOMIC_RELAXED);
    __atomic_store_n(&slot[1], want[1], __ATOMIC_RELAXED);
    return 0;
}
