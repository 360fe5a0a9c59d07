import Glibc

/// One line per event on stderr: time, level, request id, message. Never given a secret.
public struct Logger: Sendable {
    public var level: AppConfig.LogLevel
    public var requestID: String?

    public init(level: AppConfig.LogLevel, requestID: String? = nil) {
        self.level = level
        self.requestID = requestID
    }

    public func debug(_ message: @autoclosure () -> String) { log(.debug, message()) }
    public func info(_ message: @autoclosure () -> String) { log(.info, message()) }
    public func warning(_ message: @autoclosure () -> String) { log(.warning, message()) }
    public func error(_ message: @autoclosure () -> String) { log(.error, message()) }

    public func log(_ at: AppConfig.LogLevel, _ message: @autoclosure () -> String) {
        guard at >= level else { return }
        var line = Self.timestamp() + " " + at.name
        if let id = requestID { line += " req=\(id)" }
        line += " " + Self.escapingControls(message()) + "\n"
        // One write(2) per line: lines from concurrent requests never interleave.
        line.withCString { _ = write(2, $0, strlen($0)) }
    }

    /// One event is one line: a newline, CR or terminal escape inside a logged value (a model
    /// name, a prompt, an upstream's message) is written escaped, so no one can forge a line or
    /// drive the operator's terminal.
    static func escapingControls(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: isControl) else { return text }
        var out = ""
        out.reserveCapacity(text.utf8.count + 16)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where isControl(scalar):
                let hex = String(scalar.value, radix: 16)
                out += "\\u{" + hex + "}"
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    /// C0 and C1 controls, DEL, and the Unicode line and paragraph separators.
    static func isControl(_ s: Unicode.Scalar) -> Bool {
        s.value < 0x20 || (0x7F...0x9F).contains(s.value) || s.value == 0x2028 || s.value == 0x2029
    }

    static func timestamp() -> String {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        var t = ts.tv_sec
        var tm = tm()
        gmtime_r(&t, &tm)
        let ms = ts.tv_nsec / 1_000_000
        func pad(_ v: Int32, _ n: Int = 2) -> String { let s = String(v); return String(repeating: "0", count: max(0, n - s.count)) + s }
        return "\(tm.tm_year + 1900)-\(pad(tm.tm_mon + 1))-\(pad(tm.tm_mday))T\(pad(tm.tm_hour)):\(pad(tm.tm_min)):\(pad(tm.tm_sec)).\(pad(Int32(ms), 3))Z"
    }
}
