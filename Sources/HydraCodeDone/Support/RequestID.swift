/// `X-Request-Id`: the client's if it is well-formed, otherwise a fresh one.
enum RequestID {
    static func accept(_ candidate: String?) -> String {
        if let c = candidate, (1...128).contains(c.utf8.count),
           c.utf8.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x41 && $0 <= 0x5A) || ($0 >= 0x61 && $0 <= 0x7A) || $0 == 0x2D || $0 == 0x5F || $0 == 0x2E || $0 == 0x3A }) {
            return c
        }
        return generate()
    }

    static func generate() -> String {
        var g = SystemRandomNumberGenerator()
        let n = g.next() as UInt64
        let s = String(n, radix: 16)
        return String(repeating: "0", count: 16 - s.count) + s
    }

    /// `chatcmpl-` followed by 24 random alphanumerics, like OpenAI's ids.
    static func completionID() -> String {
        let alphabet = Array("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
        var g = SystemRandomNumberGenerator()
        return "chatcmpl-" + String((0..<24).map { _ in alphabet[Int(g.next() % UInt64(alphabet.count))] })
    }
}

/// Compares secrets in time independent of where they differ.
enum ConstantTime {
    static func equals(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        var diff = UInt8(truncatingIfNeeded: x.count ^ y.count)
        for i in 0..<max(x.count, y.count) {
            let p = i < x.count ? x[i] : 0
            let q = i < y.count ? y[i] : 0
            diff |= p ^ q
        }
        return diff == 0 && x.count == y.count
    }
}
