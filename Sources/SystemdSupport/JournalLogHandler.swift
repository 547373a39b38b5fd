import CSystemd
import Foundation
import Glibc
import Logging
import Synchronization

/// One log level shared by every logger made from it, so a reload that changes
/// `daemon.log_level` changes it for every part of the daemon at once.
public final class SharedLogLevel: Sendable {
    /// The level's position in `Logger.Level.allCases`: every log call reads
    /// it, so an atomic load rather than a lock.
    private let current: Atomic<UInt8>
    private static let levels = Logger.Level.allCases
    public init(_ level: Logger.Level) { current = Atomic(Self.position(level)) }
    public var level: Logger.Level {
        get { Self.levels[Int(current.load(ordering: .relaxed))] }
        set { current.store(Self.position(newValue), ordering: .relaxed) }
    }
    private static func position(_ level: Logger.Level) -> UInt8 { UInt8(levels.firstIndex(of: level)!) }
}

/// A swift-log handler that writes structured entries to the systemd journal
/// with `sd_journal_sendv`, and to stderr when there is no journal.
///
/// Fields: `MESSAGE`, `PRIORITY` (syslog level), `CODE_FILE`, `CODE_LINE`,
/// `CODE_FUNC`, `SYSLOG_IDENTIFIER`, every metadata key as an upper-case field
/// (`dispute` becomes `DISPUTE_ID`, `merchant` `MERCHANT_ID`, others their name
/// in upper case with invalid characters replaced by `_`), and a fixed
/// `MESSAGE_ID` for the events ops search for (see ``messageIDs``).
public struct JournalLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    /// The shared level when the handler was made with one (setting it sets it
    /// for every logger sharing it), else this handler's own.
    public var logLevel: Logger.Level {
        get { sharedLevel?.level ?? ownLevel }
        set {
            if let sharedLevel { sharedLevel.level = newValue } else { ownLevel = newValue }
        }
    }
    var ownLevel: Logger.Level = .info
    let sharedLevel: SharedLogLevel?
    let label: String
    let useJournal: Bool

    /// Fixed 128-bit ids, one per event type, so `journalctl MESSAGE_ID=...` finds them.
    public static let messageIDs: [String: String] = [
        "dispute opened": "5d1c0f5a8a8e4c4f9b6d1e2f3a4b5c60",
        "deadline lapsed": "5d1c0f5a8a8e4c4f9b6d1e2f3a4b5c61",
        "chargeback issued": "5d1c0f5a8a8e4c4f9b6d1e2f3a4b5c62",
        "notice spooled": "5d1c0f5a8a8e4c4f9b6d1e2f3a4b5c63",
        "spool write failed; the notice stays in the outbox and is retried": "5d1c0f5a8a8e4c4f9b6d1e2f3a4b5c64",
        "recovery done": "5d1c0f5a8a8e4c4f9b6d1e2f3a4b5c65",
        "timer cannot fire yet; it stays pending and is tried again": "5d1c0f5a8a8e4c4f9b6d1e2f3a4b5c66",
    ]

    /// - Parameters:
    ///   - useJournal: nil decides by `JOURNAL_STREAM` (set by systemd when stderr is the journal).
    ///   - level: a level shared with other handlers; nil gives this handler its own.
    public init(label: String, useJournal: Bool? = nil, level: SharedLogLevel? = nil) {
        self.label = label
        self.sharedLevel = level
        self.useJournal = useJournal ?? (ProcessInfo.processInfo.environment["JOURNAL_STREAM"] != nil)
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        let merged = metadata.merging(event.metadata ?? [:]) { $1 }
        guard useJournal else {
            let meta = merged.isEmpty ? "" : " " + merged.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
            FileHandle.standardError.write(Data("\(Self.timestamp()) \(event.level) \(label):\(meta) \(event.message)\n".utf8))
            return
        }
        let fields = Self.fields(level: event.level, message: "\(event.message)", metadata: merged, file: event.file,
                                 function: event.function, line: event.line, identifier: label)
        Self.send(fields)
    }

    public func log(level: Logger.Level, message: Logger.Message, metadata: Logger.Metadata?, source: String,
                    file: String, function: String, line: UInt) {
        log(event: LogEvent(level: level, message: message, metadata: metadata, source: source, file: file, function: function, line: line))
    }

    /// The journal fields of one entry, as `NAME=value` strings (exposed for tests).
    public static func fields(level: Logger.Level, message: String, metadata: Logger.Metadata, file: String,
                              function: String, line: UInt, identifier: String) -> [String] {
        var out = [
            "MESSAGE=\(message)",
            "PRIORITY=\(priority(level))",
            "CODE_FILE=\(file)",
            "CODE_LINE=\(line)",
            "CODE_FUNC=\(function)",
            "SYSLOG_IDENTIFIER=\(identifier)",
        ]
        if let id = messageIDs[message] { out.append("MESSAGE_ID=\(id)") }
        for (key, value) in metadata.sorted(by: { $0.key < $1.key }) {
            out.append("\(fieldName(key))=\(value)")
        }
        return out
    }

    /// Journal field names: upper-case letters, digits and `_`, not starting
    /// with `_` or a digit, at most 64 characters.
    public static func fieldName(_ key: String) -> String {
        switch key {
        case "dispute": return "DISPUTE_ID"
        case "merchant": return "MERCHANT_ID"
        default: break
        }
        var name = String(key.uppercased().unicodeScalars.map { ($0 >= "A" && $0 <= "Z") || ($0 >= "0" && $0 <= "9") ? Character($0) : "_" })
        while name.hasPrefix("_") { name.removeFirst() }
        if name.isEmpty || name.first!.isNumber { name = "F" + name }
        return "DISPUTED_" + String(name.prefix(54))
    }

    static func priority(_ level: Logger.Level) -> Int {
        switch level {
        case .trace, .debug: return 7
        case .info: return 6
        case .notice: return 5
        case .warning: return 4
        case .error: return 3
        case .critical: return 2
        }
    }

    static func send(_ fields: [String]) {
        // Each field in its own allocation, valid until sendv returns.
        let buffers = fields.map { field -> UnsafeMutableRawBufferPointer in
            let bytes = Array(field.utf8)
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(bytes.count, 1), alignment: 1)
            buffer.copyBytes(from: bytes)
            return UnsafeMutableRawBufferPointer(rebasing: buffer[0..<bytes.count])
        }
        defer { for b in buffers { b.deallocate() } }
        var iovecs = buffers.map { iovec(iov_base: $0.baseAddress, iov_len: $0.count) }
        _ = sd_journal_sendv(&iovecs, Int32(iovecs.count))
    }

    static func timestamp() -> String {
        var t = time(nil)
        var tm = tm()
        gmtime_r(&t, &tm)
        var buffer = [CChar](repeating: 0, count: 32)
        strftime(&buffer, buffer.count, "%Y-%m-%dT%H:%M:%SZ", &tm)
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
