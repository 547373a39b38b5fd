#ifndef DISPUTED_CSYSTEMD_SHIM_H
#define DISPUTED_CSYSTEMD_SHIM_H

#include <fcntl.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-journal.h>

/* Glibc declares renameat2 only under _GNU_SOURCE, and defining that here would
   make this module's view of the C headers disagree with Swift's Glibc module.
   So declare the one function we need ourselves. RENAME_NOREPLACE is what makes
   the spool's tmp/ -> new/ step refuse to overwrite an existing notice. */
extern int renameat2(int olddirfd, const char *oldpath, int newdirfd,
                     const char *newpath, unsigned int flags);

#define DISPUTED_RENAME_NOREPLACE (1u << 0)

static inline int disputed_rename_noreplace(int olddirfd, const char *oldpath,
                                            int newdirfd, const char *newpath) {
    return renameat2(olddirfd, oldpath, newdirfd, newpath, DISPUTED_RENAME_NOREPLACE);
}

/* prctl is variadic, which Swift cannot call: the kernel's name of the calling
   thread (at most 15 bytes; top -H and /proc/<pid>/task/<tid>/comm show it). */
static inline int disputed_name_thread(const char *name) {
    return prctl(PR_SET_NAME, (unsigned long)name, 0UL, 0UL, 0UL);
}

#endif
