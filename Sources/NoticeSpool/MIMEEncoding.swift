/// The encoders no listed package provides: RFC 2047 encoded words,
/// quoted-printable (RFC 2045) and header folding (RFC 5322). All work on
/// UTF-8 bytes, never on Swift `Character`s ("\r\n" is one Character).
public enum MIMEEncoding {
    static let hex = Array("0123456789ABCDEF".utf8)

    /// Whether a header value can be written as it is: printable ASCII and spaces only.
    static func isPlainHeaderText(_ s: String) -> Bool {
        s.utf8.allSatisfy { $0 >= 0x20 && $0 < 0x7F }
    }

    /// RFC 2047 "B" encoded words for UTF-8 text, each at most 75 characters,
    /// split between characters (never inside a UTF-8 sequence). Any byte,
    /// CR, LF and NUL included, ends up inside base64 and cannot break a header.
    public static func encodedWords(_ text: String) -> [String] {
        let prefix = "=?UTF-8?B?", suffix = "?="
        let maxPayload = (75 - prefix.count - suffix.count) / 4 * 3  // 45 bytes -> 60 base64 chars
        var words: [String] = []
        var chunk: [UInt8] = []
        for scalar in text.unicodeScalars {
            let bytes = Array(String(scalar).utf8)
            if chunk.count + bytes.count > maxPayload {
                words.append(prefix + base64(chunk) + suffix)
                chunk = []
            }
            chunk += bytes
        }
        if !chunk.isEmpty || words.isEmpty { words.append(prefix + base64(chunk) + suffix) }
        return words
    }

    /// Decodes encoded words back (for tests and for checking a round trip).
    public static func decodeEncodedWords(_ words: [String]) -> String? {
        var bytes: [UInt8] = []
        for w in words {
            guard w.hasPrefix("=?UTF-8?B?"), w.hasSuffix("?="), let b = unbase64(String(w.dropFirst(10).dropLast(2))) else { return nil }
            bytes += b
        }
        return String(validating: bytes, as: UTF8.self)
    }

    static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    static func base64(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        var i = 0
        while i < bytes.count {
            let b0 = bytes[i], b1 = i + 1 < bytes.count ? bytes[i + 1] : 0, b2 = i + 2 < bytes.count ? bytes[i + 2] : 0
            out.append(alphabet[Int(b0 >> 2)])
            out.append(alphabet[Int((b0 & 3) << 4 | b1 >> 4)])
            out.append(i + 1 < bytes.count ? alphabet[Int((b1 & 15) << 2 | b2 >> 6)] : UInt8(ascii: "="))
            out.append(i + 2 < bytes.count ? alphabet[Int(b2 & 63)] : UInt8(ascii: "="))
            i += 3
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func unbase64(_ text: String) -> [UInt8]? {
        var values: [UInt8] = []
        for c in text.utf8 where c != UInt8(ascii: "=") {
            guard let v = alphabet.firstIndex(of: c) else { return nil }
            values.append(UInt8(v))
        }
        var out: [UInt8] = []
        var i = 0
        while i + 1 < values.count {
            out.append(values[i] << 2 | values[i + 1] >> 4)
            if i + 2 < values.count { out.append((values[i + 1] & 15) << 4 | values[i + 2] >> 2) }
            if i + 3 < values.count { out.append((values[i + 2] & 3) << 6 | values[i + 3]) }
            i += 4
        }
        return out
    }

    /// `Name: value`, folded so that no line exceeds 78 characters where a space
    /// allows it (and never 998). Values that are not plain ASCII become encoded words.
    public static func header(_ name: String, _ value: String) -> String {
        let tokens: [String]
        if isPlainHeaderText(value) {
            tokens = value.split(separator: " ", omittingEmptySubsequences: false).map(String.init)
        } else {
            tokens = encodedWords(value)
        }
        return fold(name + ":", tokens)
    }

    /// Joins tokens with spaces, starting a continuation line before a token that would pass 78 columns.
    static func fold(_ start: String, _ tokens: [String]) -> String {
        var lines: [String] = []
        var line = start
        for token in tokens {
            if line.utf8.count + 1 + token.utf8.count > 78 && line.utf8.count > start.utf8.count {
                lines.append(line)
                line = " " + token
            } else {
                line += " " + token
            }
        }
        lines.append(line)
        return lines.joined(separator: "\n")
    }

    /// An address header: the display name as a quoted string or encoded words, then `<address>`.
    public static func addressHeader(_ name: String, _ a: MailAddress) -> String {
        guard let display = a.displayName, !display.isEmpty else { return "\(name): <\(a.address)>" }
        let plainAtoms = display.utf8.allSatisfy { ($0 >= 0x20 && $0 < 0x7F) && $0 != UInt8(ascii: "\"") && $0 != UInt8(ascii: "\\") }
        let words = plainAtoms ? ["\"" + display + "\""] : encodedWords(display)
        return fold(name + ":", words + ["<\(a.address)>"])
    }

    /// Quoted-printable of UTF-8 text with LF line breaks: lines of at most 76
    /// characters (soft breaks `=`), `=` and non-ASCII as `=XX`, trailing
    /// spaces and tabs encoded, CR never emitted raw.
    public static func quotedPrintable(_ text: String) -> String {
        let input = Array(text.utf8)
        var out: [UInt8] = []
        out.reserveCapacity(input.count + input.count / 8)
        var column = 0
        for (i, b) in input.enumerated() {
            if b == 0x0A {
                out.append(0x0A)
                column = 0
                continue
            }
            // Space and tab stay literal except at a line's end, where a relay may strip them.
            let endsLine = i + 1 == input.count || input[i + 1] == 0x0A
            let literal = (b >= 0x21 && b <= 0x7E && b != UInt8(ascii: "=")) || ((b == 0x20 || b == 0x09) && !endsLine)
            let width = literal ? 1 : 3
            if column + width > 75 {
                out.append(UInt8(ascii: "="))  // soft line break
                out.append(0x0A)
                column = 0
            }
            if literal {
                out.append(b)
            } else {
                out.append(UInt8(ascii: "="))
                out.append(hex[Int(b >> 4)])
                out.append(hex[Int(b & 15)])
            }
            column += width
        }
        return String(decoding: out, as: UTF8.self)
    }
}
