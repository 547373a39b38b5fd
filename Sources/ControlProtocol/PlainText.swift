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
}
