/// Text the protocol carries into logs, notices and listings: a request id, a
/// name, a reference, a note.
public enum PlainText {
    /// Whether `text` has an ASCII control character (NUL to US, DEL): a line
    /// break forges a log line or a header, an escape sequence reaches the
    /// terminal of whoever lists it. `allowingLineBreaks` lets CR, LF and tab
    /// through, for text of several lines (a note).
    public static func hasControlCharacters(_ text: String, allowingLineBreaks: Bool = false) -> Bool {
        text.utf8.contains { byte in
            (byte < 0x20 || byte == 0x7F) && !(allowingLineBreaks && (byte == 0x0A || byte == 0x0D || byte == 0x09))
        }
    }

    /// `text` as a terminal may show it: control characters, C1 included (a
    /// line break in a note, an escape sequence stored by anyone who may
    /// write), written as escapes (`\n`, `\u{1B}`), so they neither break a
    /// row nor reach the terminal.
    public static func printable(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: isControl) else { return text }
        var out = ""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where isControl(scalar): out += "\\u{" + String(scalar.value, radix: 16, uppercase: true) + "}"
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value)
    }
}
