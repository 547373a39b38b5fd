/// A refused header value: what was wrong and with which field.
public struct MailError: Error, Sendable, Equatable, CustomStringConvertible {
    public let field: String
    public let problem: String
    public var description: String { "\(field): \(problem)" }
}

/// An e-mail address with an optional display name.
///
/// The address itself must be plain printable ASCII (no CR, LF, NUL, spaces,
/// angle brackets, quotes or commas): it is refused otherwise, so it can never
/// open a new header line. The display name may contain anything; it is
/// written as RFC 2047 encoded words whenever it is not plain ASCII text.
public struct MailAddress: Sendable, Equatable {
    public let displayName: String?
    public let address: String

    public init(displayName: String?, address: String, field: String = "address") throws {
        let bytes = Array(address.utf8)
        let at = bytes.filter { $0 == UInt8(ascii: "@") }.count
        guard !bytes.isEmpty, bytes.count <= 254, at == 1, bytes.first != UInt8(ascii: "@"), bytes.last != UInt8(ascii: "@"),
              bytes.allSatisfy({ $0 > 0x20 && $0 < 0x7F && !Array("<>\"(),;:[]\\".utf8).contains($0) }) else {
            throw MailError(field: field, problem: "not a plain e-mail address")
        }
        self.displayName = displayName
        self.address = address
    }

    /// Parses `Name <addr@example>` or a bare address.
    public init(parsing text: String, field: String) throws {
        if let open = text.lastIndex(of: "<"), text.hasSuffix(">") {
            let name = String(text[..<open]).trimmingCharacters(in: [" ", "\""])
            try self.init(displayName: name.isEmpty ? nil : name, address: String(text[text.index(after: open)..<text.index(before: text.endIndex)]), field: field)
        } else {
            try self.init(displayName: nil, address: text, field: field)
        }
    }
}

extension String {
    func trimmingCharacters(in set: Set<Character>) -> String {
        var s = Substring(self)
        while let f = s.first, set.contains(f) { s = s.dropFirst() }
        while let l = s.last, set.contains(l) { s = s.dropLast() }
        return String(s)
    }
}

/// One notice as an RFC 5322 / MIME message: `multipart/alternative` with a
/// quoted-printable UTF-8 text part first and an HTML part second.
public struct MailMessage: Sendable {
    public var from: MailAddress
    public var to: MailAddress
    public var subject: String
    /// Seconds since 1970 (the notice's creation time, so a re-render is identical).
    public var date: Int64
    /// `<notice id@domain>` without the angle brackets.
    public var messageID: String
    /// Further headers (`X-Dispute-Id`, ...); names must be ASCII letters, digits and '-'.
    public var extraHeaders: [(name: String, value: String)]
    public var text: String
    public var html: String

    public init(from: MailAddress, to: MailAddress, subject: String, date: Int64, messageID: String,
                extraHeaders: [(name: String, value: String)], text: String, html: String) {
        self.from = from
        self.to = to
        self.subject = subject
        self.date = date
        self.messageID = messageID
        self.extraHeaders = extraHeaders
        self.text = text
        self.html = html
    }
}
