#ifndef DISPUTED_PREFETCH_H
#define DISPUTED_PREFETCH_H

/// Asks the processor to start loading the cache line at `address` and goes
/// on at once: unlike a load, a prefetch neither waits for the line nor holds
/// up retirement, and it never faults (any address may be passed). Swift has no
/// spelling for it; the wheel uses it to put a batch of random slab reads in
/// flight together.
static inline __attribute__((always_inline)) void disputed_prefetch(const void *address) {
    __builtin_prefetch(address, 0, 3);
}

#endif
