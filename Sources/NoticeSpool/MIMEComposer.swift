import BusinessCalendar

/// Writes a ``MailMessage`` as the bytes of one RFC 5322 message with LF line
/// endings (as Maildir and `sendmail -t` expect): 7-bit headers, every line at
/// most 998 octets, `multipart/alternative` text then HTML, quoted-printable UTF-8.
public enum MIMEComposer {
    public static func compose(_ m: MailMessage) throws -> [UInt8] {
        for (name, _) in m.extraHeaders where name.isEmpty || !name.utf8.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || ($0 | 0x20 >= 0x61 && $0 | 0x20 <= 0x7A) || $0 == 0x2D }) {
            throw MailError(field: "header name", problem: "'\(name)' is not a header field name")
        }
        guard m.messageID.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "<") && $0 != UInt8(ascii: ">") }),
              m.messageID.contains("@") else {
            throw MailError(field: "Message-ID", problem: "must be printable ASCII of the form id@domain")
        }
        // The boundary holds "=_", which quoted-printable output can never contain.
        let boundary = "=_disputed_" + String(fnv(m.messageID), radix: 16)
        var lines: [String] = [
            MIMEEncoding.header("Date", rfc5322Date(m.date)),
            MIMEEncoding.addressHeader("From", m.from),
            MIMEEncoding.addressHeader("To", m.to),
            MIMEEncoding.header("Subject", m.subject),
            "Message-ID: <\(m.messageID)>",
            "MIME-Version: 1.0",
            "Auto-Submitted: auto-generated",
        ]
        for (name, value) in m.extraHeaders { lines.append(MIMEEncoding.header(name, value)) }
        lines += [
            "Content-Type: multipart/alternative;\n boundary=\"\(boundary)\"",
            "",
            "This is a multi-part message in MIME format.",
            "",
            "--\(boundary)",
            "Content-Type: text/plain; charset=UTF-8",
            "Content-Transfer-Encoding: quoted-printable",
            "",
            MIMEEncoding.quotedPrintable(m.text),
            "--\(boundary)",
            "Content-Type: text/html; charset=UTF-8",
            "Content-Transfer-Encoding: quoted-printable",
            "",
            MIMEEncoding.quotedPrintable(m.html),
            "--\(boundary)--",
            "",
        ]
        return Array(lines.joined(separator: "\n").utf8)
    }

    static func fnv(_ s: String) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in s.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        return h
    }

    /// `Mon, 11 Jan 2027 09:00:00 +0000`.
    static func rfc5322Date(_ t: Int64) -> String {
        let days = t >= 0 ? t / 86400 : (t - 86399) / 86400
        let second = t - days * 86400
        let date = CivilDate(dayNumber: Int32(days))
        let (y, m, d) = date.components
        let month = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"][m - 1]
        func two(_ n: Int64) -> String { n < 10 ? "0\(n)" : "\(n)" }
        return "\(date.weekday.abbreviation), \(d) \(month) \(y) \(two(second / 3600)):\(two(second / 60 % 60)):\(two(second % 60)) +0000"
    }
}
