"""The numpy baseline of the calendar benchmark, on the inputs the Swift run wrote.

numpy's busday_offset and busday_count are vectorized C loops over the whole
array, with the same holidays (the SE calendar) and weekmask; the figure is
nanoseconds per element, best of three.
"""

import sys
import time

import numpy as np


def main(workdir):
    epoch = np.datetime64("1970-01-01")
    starts = epoch + np.loadtxt(f"{workdir}/cal-starts.txt", dtype=np.int64).astype("timedelta64[D]")
    ends = epoch + np.loadtxt(f"{workdir}/cal-ends.txt", dtype=np.int64).astype("timedelta64[D]")
    holidays = np.loadtxt(f"{workdir}/cal-holidays.txt", dtype="datetime64[D]")
    cal = np.busdaycalendar(weekmask="1111100", holidays=holidays)
    add = count = float("inf")
    for _ in range(3):
        t = time.perf_counter_ns()
        # The 14th business day after each date (the date itself does not count).
        np.busday_offset(np.busday_offset(starts + 1, 0, roll="forward", busdaycal=cal), 13, busdaycal=cal)
        add = min(add, time.perf_counter_ns() - t)
        t = time.perf_counter_ns()
        np.busday_count(starts + 1, ends + 1, busdaycal=cal)
        count = min(count, time.perf_counter_ns() - t)
    n = len(starts)
    print(f"BENCH-NUMPY add {add / n} count {count / n}")


if __name__ == "__main__":
    main(sys.argv[1])
