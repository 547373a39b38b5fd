import BenchSupport
import DisputeWorkflow
import Foundation
import Glibc
import NoticeSpool

// spool.notices: notices rendered (template + MIME) and spooled (tmp, fsync,
// rename without replace, fsync new/) per second, next to a raw loop that
// writes files of the same size the same way, in the same run and directory.

let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().deletingLastPathComponent()
let templates = try NoticeTemplates.load(directory: root.appendingPathComponent("Notifications").path, overrideDirectory: nil)
let base = (CommandLine.arguments.count > 1 ? CommandLine.arguments[1] : FileManager.default.currentDirectoryPath) + "/.bench-spool-\(getpid())"
defer { try? FileManager.default.removeItem(atPath: base) }
let count = 2000
let rounds = 3
let from = try MailAddress(parsing: "Disputes <d@provider.example>", field: "from")
let to = try MailAddress(displayName: "Åsa Handel AB", address: "tvist@asa.example")
let context = ["merchantName": "Åsa Handel AB", "disputeId": "D-1", "orderReference": "O-1", "amount": "499,00 kr",
               "orderAmount": "899,00 kr", "reason": "varan är felaktig", "deadline": "fredag 29 januari 2027 23:59 CET", "refund": "", "outcome": ""]

/// One rendered notice: what the spooler writes.
func notice(_ i: Int) -> [UInt8] {
    let r = templates.render(.disputeOpened, locale: "sv", context: context)
    return try! MIMEComposer.compose(MailMessage(from: from, to: to, subject: r.subject, date: 1_799_658_000,
        messageID: "D-\(i).1.disputeOpened@provider.example", extraHeaders: [("X-Dispute-Id", "D-\(i)"), ("X-Dispute-Notice-Kind", "disputeOpened")],
        text: r.text, html: r.html))
}
let size = notice(0).count

/// Renders and spools `count` notices; `batch` notices share one fsync of new/
/// (the daemon's spooler works a backlog in batches of 64; 1 is the strictest path).
@MainActor func spool(into directory: String, batch: Int) -> UInt64 {
    let writer = SpoolWriter(directory: directory)
    try! writer.prepare()
    return measure {
        for i in 0..<count {
            let bytes = notice(i)
            _ = try! writer.write(noticeID: "D-\(i).1.disputeOpened", bytes: bytes, syncDirectory: batch == 1)
            if batch > 1, i % batch == batch - 1 || i == count - 1 { try! writer.syncDirectory() }
        }
    }
}

/// The pass before READY (an outage's backlog): the same batches of 64, each
/// batch's notices rendered and written ``ConcurrentWrites/maximumThreads`` at
/// once, as the daemon's spooler does then.
func spoolConcurrently(into directory: String) -> UInt64 {
    let writer = SpoolWriter(directory: directory)
    try! writer.prepare()
    return measure {
        for start in stride(from: 0, to: count, by: 64) {
            _ = ConcurrentWrites.map(count: min(64, count - start), threads: ConcurrentWrites.maximumThreads) { k in
                try! writer.write(noticeID: "D-\(start + k).1.disputeOpened", bytes: notice(start + k), syncDirectory: false)
            }
            try! writer.syncDirectory()
        }
    }
}

// The baseline: the same four system calls per file, nothing rendered.
let payload = [UInt8](repeating: 0x61, count: size)
func rawLoop(into raw: String) -> UInt64 {
    mkdir(raw, 0o750); mkdir(raw + "/tmp", 0o750); mkdir(raw + "/new", 0o750)
    return measure {
        for i in 0..<count {
            let tmp = raw + "/tmp/\(i).eml"
            let fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL, 0o640)
            payload.withUnsafeBytes { _ = write(fd, $0.baseAddress, $0.count) }
            fsync(fd)
            close(fd)
            rename(tmp, raw + "/new/\(i).eml")
            let dfd = open(raw + "/new", O_RDONLY | O_DIRECTORY)
            fsync(dfd)
            close(dfd)
        }
    }
}

// Alternating rounds, the best of each side: the disk's speed drifts within a
// run (and file creation slows for a while after many files were deleted
// nearby), and whichever side ran first used to take the slow spell alone.
var noticeNs = UInt64.max, rawNs = UInt64.max
for round in 0..<rounds {
    noticeNs = min(noticeNs, spool(into: base + "/notices-\(round)", batch: 64))
    rawNs = min(rawNs, rawLoop(into: base + "/raw-\(round)"))
}
let singleNs = spool(into: base + "/single", batch: 1)
let concurrentNs = spoolConcurrently(into: base + "/concurrent")
var renderSink = 0
let renderNs = measure {
    for i in 0..<count {
        renderSink &+= notice(i).count
    }
}
blackHole(renderSink)
let rate = Double(count) / (Double(noticeNs) / 1e9)
let rawRate = Double(count) / (Double(rawNs) / 1e9)
let singleRate = Double(count) / (Double(singleNs) / 1e9)
let concurrentRate = Double(count) / (Double(concurrentNs) / 1e9)
detail("spool.notices: \(count) Swedish disputeOpened notices of \(size) bytes on the benchmark's file system, written as the spooler works a backlog (one fsync of new/ per 64 notices, every file fsynced before its rename), best of \(rounds) rounds alternating with the raw loop; raw loop (one directory fsync per file) \(String(format: "%.0f", rawRate))/s; one directory fsync per notice \(String(format: "%.0f", singleRate))/s (\(String(format: "%.2f", singleRate / rawRate))x the raw loop); eight at a time, as the pass before READY writes an outage's backlog, \(String(format: "%.0f", concurrentRate))/s (\(String(format: "%.2f", concurrentRate / rawRate))x the raw loop); rendering alone \(String(format: "%.0f", Double(renderNs) / Double(count) / 1000)) µs per notice")
emit(BenchRow(figure: "spool.notices", value: rate, unit: "notices/s", baseline: "raw write+fsync+rename+dir-fsync loop, same size",
              baselineValue: rawRate, lowerIsBetter: false, target: ">= 0.8x the raw loop", met: rate >= 0.8 * rawRate))
