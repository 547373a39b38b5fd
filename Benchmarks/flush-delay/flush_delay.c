/* Gives fsync and fdatasync the latency of a slower disk (LD_PRELOAD).
 *
 * This machine's virtual disk completes a flush in about 0.1 ms; network block
 * storage and many SSDs without power-loss protection take 0.5 to several
 * milliseconds. The ingest benchmark loads this library into both the daemon
 * and its SQLite baseline to show what group commit is for on such a disk:
 * each flush first does the real one, then sleeps FLUSH_DELAY_US microseconds
 * (default 1000) with the calling thread blocked and the CPU free, as a thread
 * waiting on a device is. Nothing else is changed. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

static int (*real_fsync)(int);
static int (*real_fdatasync)(int);
static struct timespec delay;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void setup(void) {
    real_fsync = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
    real_fdatasync = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
    const char *text = getenv("FLUSH_DELAY_US");
    long us = text ? atol(text) : 1000;
    if (us < 0) us = 0;
    delay.tv_sec = us / 1000000;
    delay.tv_nsec = (us % 1000000) * 1000;
}

static int delayed(int result) {
    struct timespec left = delay;
    while (nanosleep(&left, &left) != 0) { }
    return result;
}

int fsync(int fd) {
    pthread_once(&once, setup);
    return delayed(real_fsync(fd));
}

int fdatasync(int fd) {
    pthread_once(&once, setup);
    return delayed(real_fdatasync(fd));
}
