/// Parses `.env` files the way docker compose does: `KEY=value`, `#` comments, `export ` prefix,
/// single quotes (literal), double quotes (with `\n`, `\t`, `\"`, `\\` escapes, may span lines).
public enum DotEnv {
    public struct ParseError: Error, Sendable, Equatable, CustomStringConvertible {
        public let line: Int
        public let message: String
        public var description: String { "line \(line): \(message)" }
    }

    public static func parse(_ text: String) throws(ParseError) -> [(key: String, value: String)] {
        var result: [(key: String, value: String)] = []
        // Windows editors save a UTF-8 byte order mark (invisible, it would end up in the first
        // key) and CRLF line ends (a CR would end up inside multi-line quoted values).
        var chars = Array(text.unicodeScalars)
        if chars.first == "\u{FEFF}" { chars.removeFirst() }
        if chars.contains("\r") { chars = normalizingLineEnds(chars) }
        var i = 0
        var line = 1

        func skip(_ predicate: (Unicode.Scalar) -> Bool) {
            while i < chars.count, predicate(chars[i]) { i += 1 }
        }
        func skipToEndOfLine() {
            while i < chars.count, chars[i] != "\n" { i += 1 }
        }

        while i < chars.count {
            skip { $0 == " " || $0 == "\t" || $0 == "\r" }
            if i >= chars.count { break }
            if chars[i] == "\n" { i += 1; line += 1; continue }
            if chars[i] == "#" { skipToEndOfLine(); continue }

            // Key (with an optional `export ` prefix).
            var keyStart = i
            skip { $0 != "=" && $0 != "\n" && $0 != " " && $0 != "\t" }
            var key = String(String.UnicodeScalarView(chars[keyStart..<i]))
            if key == "export", i < chars.count, chars[i] == " " || chars[i] == "\t" {
                skip { $0 == " " || $0 == "\t" }
                keyStart = i
                skip { $0 != "=" && $0 != "\n" && $0 != " " && $0 != "\t" }
                key = String(String.UnicodeScalarView(chars[keyStart..<i]))
            }
            skip { $0 == " " || $0 == "\t" }
            guard i < chars.count, chars[i] == "=" else { throw ParseError(line: line, message: "expected KEY=value") }
            guard !key.isEmpty, key.unicodeScalars.allSatisfy({ $0 == "_" || $0 == "." || $0 == "-" || ($0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0))) }) else {
                throw ParseError(line: line, message: "invalid variable name '\(key)'")
            }
            i += 1
            skip { $0 == " " || $0 == "\t" }

            var value = ""
            if i < chars.count, chars[i] == "\"" || chars[i] == "'" {
                let quote = chars[i]
                let startLine = line
                i += 1
                var closed = false
                while i < chars.count {
                    let c = chars[i]
                    if c == quote { closed = true; i += 1; break }
                    if c == "\n" { line += 1 }
                    if quote == "\"", c == "\\", i + 1 < chars.count {
                        let e = chars[i + 1]
                        switch e {
                        case "n": value += "\n"
                        case "t": value += "\t"
                        case "r": value += "\r"
                        case "\"": value += "\""
                        case "\\": value += "\\"
                        case "$": value += "$"
                        default: value += "\\"; value.unicodeScalars.append(e)
                        }
                        if e == "\n" { line += 1 }
                        i += 2
                        continue
                    }
                    value.unicodeScalars.append(c)
                    i += 1
                }
                guard closed else { throw ParseError(line: startLine, message: "unterminated quoted value for \(key)") }
                // Only a comment may follow a closing quote.
                skip { $0 == " " || $0 == "\t" || $0 == "\r" }
                if i < chars.count, chars[i] != "\n", chars[i] != "#" {
                    throw ParseError(line: line, message: "unexpected text after the quoted value of \(key)")
                }
                skipToEndOfLine()
            } else {
                let start = i
                while i < chars.count, chars[i] != "\n" {
                    // ` #` starts a comment in an unquoted value.
                    if chars[i] == "#", i > start, chars[i - 1] == " " || chars[i - 1] == "\t" { break }
                    i += 1
                }
                value = String(String.UnicodeScalarView(chars[start..<i]))
                while let last = value.unicodeScalars.last, last == " " || last == "\t" || last == "\r" { value.unicodeScalars.removeLast() }
                skipToEndOfLine()
            }
            result.append((key, value))
        }
        return result
    }

    private static func normalizingLineEnds(_ chars: [Unicode.Scalar]) -> [Unicode.Scalar] {
        var out: [Unicode.Scalar] = []
        out.reserveCapacity(chars.count)
        for (i, c) in chars.enumerated() where !(c == "\r" && i + 1 < chars.count && chars[i + 1] == "\n") {
            out.append(c)
        }
        return out
    }
}
