import Dispatch
import Synchronization

/// Spool files written several at a time, each on a thread of its own.
///
/// Each file still gets its own fsync before its rename; what runs at once is
/// only the waiting. On a journaling file system (ext4, XFS) fsyncs that
/// overlap share the journal's commits. The threads are serial queues of
/// their own, so a file blocked in fsync holds none of the threads the
/// daemon's engine runs on.
public enum ConcurrentWrites {
    /// The most jobs run at once.
    public static let maximumThreads = 8
    private static let queues = (0..<maximumThreads).map { DispatchQueue(label: "disputed.spool.write.\($0)") }

    /// Runs `job` for every index in `0..<count`, on up to `threads` threads
    /// at once (at most ``maximumThreads``; on the calling thread when 1), and
    /// waits for all of them: the results in index order.
    public static func map<T: Sendable>(count: Int, threads: Int, _ job: @escaping @Sendable (Int) -> T) -> [T] {
        let shared = Shared<T>(count: count)
        let work: @Sendable () -> Void = {
            while true {
                let i = shared.next.wrappingAdd(1, ordering: .relaxed).oldValue
                guard i < count else { return }
                let result = job(i)
                shared.results.withLock { $0[i] = result }
            }
        }
        let used = min(threads, maximumThreads, count)
        if used <= 1 {
            work()
        } else {
            let group = DispatchGroup()
            for queue in queues.prefix(used) { queue.async(group: group, execute: work) }
            group.wait()
        }
        return shared.results.withLock { results in results.map { $0! } }
    }
}

/// The next index to take and the results so far, shared by the threads of one
/// ``ConcurrentWrites/map(count:threads:_:)``.
private final class Shared<T: Sendable>: Sendable {
    let next = Atomic<Int>(0)
    let results: Mutex<[T?]>
    init(count: Int) { results = Mutex(Array(repeating: nil, count: count)) }
}
