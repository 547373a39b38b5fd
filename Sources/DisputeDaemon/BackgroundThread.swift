import CSystemd
import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A thread of its own that runs jobs one after the other at a lower CPU
/// priority than the rest of the daemon (its nice value 10 above the
/// process's).
///
/// The spooler writes notices here while the daemon serves requests: when
/// the CPUs are busy, a request's answer (waited for by a client) goes before
/// a notice's file (waited for by nobody; it stays in the outbox meanwhile).
/// A nice value is the thread's own on Linux, so it cannot be given to a
/// thread of a shared pool: an unprivileged process cannot take it back
/// before the pool hands the thread to other work.
final class BackgroundThread: Sendable {
    private let jobs = Mutex<(queue: [@Sendable () -> Void], started: Bool)>(([], false))
    private let pending = DispatchSemaphore(value: 0)
    let name: String
    static let niceIncrement: Int32 = 10

    init(name: String) { self.name = name }

    /// Runs `job` after the jobs queued before it; starts the thread the first time.
    func async(_ job: @escaping @Sendable () -> Void) {
        let start = jobs.withLock { state in
            state.queue.append(job)
            defer { state.started = true }
            return !state.started
        }
        if start {
            let thread = Thread { [self] in run() }
            thread.name = name
            thread.start()
        }
        pending.signal()
    }

    private func run() {
        // The kernel's name of the thread (top -H, /proc/<pid>/task/*/comm),
        // which Foundation's `Thread.name` does not set on Linux.
        _ = disputed_name_thread(String(name.utf8.prefix(15))!)
        // Linux applies setpriority(PRIO_PROCESS, 0) to the calling thread only.
        errno = 0
        let current = getpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0)
        if errno == 0 { _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, min(19, current + Self.niceIncrement)) }
        while true {
            pending.wait()
            let job = jobs.withLock { $0.queue.removeFirst() }
            job()
        }
    }

    /// The nice value of the calling thread (tests ask from inside a job).
    static func currentNice() -> Int32 {
        getpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0)
    }
}
