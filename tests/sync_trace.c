/* An LD_PRELOAD library for the durability tests (tests/test_durability.py).
 *
 * It logs, in the order they happen, the calls that make data durable or
 * visible, so that a test can check their order at the system-call level:
 *
 *   sync <fsync|fdatasync> <size> <path>   after a successful fsync/fdatasync
 *                                          (size: the file's st_size then)
 *   rename <old> <new>                     after a successful rename
 *   send <fd>                              before a write to a stream socket
 *                                          (an answer on the control socket)
 *
 * One line per event, appended with a single write(2) to the file named by
 * SYNC_TRACE_LOG (opened O_APPEND), so that lines of different threads do not
 * interleave. Paths are absolute (resolved through /proc/self/fd). The
 * daemon's own code is not changed: this sits between it and libc.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

static int log_fd = -1;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static ssize_t (*real_write)(int, const void *, size_t);
static ssize_t (*real_writev)(int, const struct iovec *, int);
static ssize_t (*real_send)(int, const void *, size_t, int);
static ssize_t (*real_sendmsg)(int, const struct msghdr *, int);
static int (*real_fsync)(int);
static int (*real_fdatasync)(int);
static int (*real_rename)(const char *, const char *);
static int (*real_renameat)(int, const char *, int, const char *);
static int (*real_renameat2)(int, const char *, int, const char *, unsigned int);

static void setup(void) {
    real_write = dlsym(RTLD_NEXT, "write");
    real_writev = dlsym(RTLD_NEXT, "writev");
    real_send = dlsym(RTLD_NEXT, "send");
    real_sendmsg = dlsym(RTLD_NEXT, "sendmsg");
    real_fsync = dlsym(RTLD_NEXT, "fsync");
    real_fdatasync = dlsym(RTLD_NEXT, "fdatasync");
    real_rename = dlsym(RTLD_NEXT, "rename");
    real_renameat = dlsym(RTLD_NEXT, "renameat");
    real_renameat2 = dlsym(RTLD_NEXT, "renameat2");
    const char *path = getenv("SYNC_TRACE_LOG");
    if (path) log_fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
}

static void event(const char *format, ...) {
    pthread_once(&once, setup);
    if (log_fd < 0) return;
    char line[3 * PATH_MAX];
    va_list args;
    va_start(args, format);
    int n = vsnprintf(line, sizeof line - 1, format, args);
    va_end(args);
    if (n < 0) return;
    if (n > (int)sizeof line - 2) n = (int)sizeof line - 2;
    line[n++] = '\n';
    int saved = errno;
    real_write(log_fd, line, (size_t)n);
    errno = saved;
}

/* The absolute path of an open file descriptor, or "?" */
static void fd_path(int fd, char *out, size_t size) {
    char link[64];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, out, size - 1);
    if (n < 0) { snprintf(out, size, "?"); return; }
    out[n] = 0;
}

/* `name` relative to `dirfd` as an absolute path. */
static void at_path(int dirfd, const char *name, char *out, size_t size) {
    if (name[0] == '/' ) { snprintf(out, size, "%s", name); return; }
    char dir[PATH_MAX];
    if (dirfd == AT_FDCWD) {
        if (!getcwd(dir, sizeof dir)) snprintf(dir, sizeof dir, "?");
    } else {
        fd_path(dirfd, dir, sizeof dir);
    }
    snprintf(out, size, "%s/%s", dir, name);
}

static int is_stream_socket(int fd) {
    struct stat st;
    if (fd == log_fd || fstat(fd, &st) != 0 || !S_ISSOCK(st.st_mode)) return 0;
    int type = 0;
    socklen_t length = sizeof type;
    return getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &length) == 0 && type == SOCK_STREAM;
}

static void synced(const char *call, int fd) {
    char path[PATH_MAX];
    struct stat st;
    fd_path(fd, path, sizeof path);
    long long size = fstat(fd, &st) == 0 ? (long long)st.st_size : -1;
    event("sync %s %lld %s", call, size, path);
}

int fsync(int fd) {
    pthread_once(&once, setup);
    int result = real_fsync(fd);
    if (result == 0) synced("fsync", fd);
    return result;
}

int fdatasync(int fd) {
    pthread_once(&once, setup);
    int result = real_fdatasync(fd);
    if (result == 0) synced("fdatasync", fd);
    return result;
}

static int renamed(int result, int olddirfd, const char *old, int newdirfd, const char *new) {
    if (result == 0) {
        int saved = errno;
        char from[PATH_MAX], to[PATH_MAX];
        at_path(olddirfd, old, from, sizeof from);
        at_path(newdirfd, new, to, sizeof to);
        event("rename %s %s", from, to);
        errno = saved;
    }
    return result;
}

int rename(const char *old, const char *new) {
    pthread_once(&once, setup);
    return renamed(real_rename(old, new), AT_FDCWD, old, AT_FDCWD, new);
}

int renameat(int olddirfd, const char *old, int newdirfd, const char *new) {
    pthread_once(&once, setup);
    return renamed(real_renameat(olddirfd, old, newdirfd, new), olddirfd, old, newdirfd, new);
}

int renameat2(int olddirfd, const char *old, int newdirfd, const char *new, unsigned int flags) {
    pthread_once(&once, setup);
    return renamed(real_renameat2(olddirfd, old, newdirfd, new, flags), olddirfd, old, newdirfd, new);
}

ssize_t write(int fd, const void *buffer, size_t count) {
    pthread_once(&once, setup);
    if (is_stream_socket(fd)) event("send %d", fd);
    return real_write(fd, buffer, count);
}

ssize_t writev(int fd, const struct iovec *iov, int count) {
    pthread_once(&once, setup);
    if (is_stream_socket(fd)) event("send %d", fd);
    return real_writev(fd, iov, count);
}

ssize_t send(int fd, const void *buffer, size_t count, int flags) {
    pthread_once(&once, setup);
    if (is_stream_socket(fd)) event("send %d", fd);
    return real_send(fd, buffer, count, flags);
}

ssize_t sendmsg(int fd, const struct msghdr *message, int flags) {
    pthread_once(&once, setup);
    if (is_stream_socket(fd)) event("send %d", fd);
    return real_sendmsg(fd, message, flags);
}
