#include <malloc.h>

/* Bytes currently allocated from glibc's heap (small blocks plus mmapped ones). */
static inline size_t disputed_heap_bytes_in_use(void) {
    struct mallinfo2 info = mallinfo2();
    return info.uordblks + info.hblkhd;
}
