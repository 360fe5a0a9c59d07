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
        let s = String(IDSource.next(), radix: 16)
        return String(repeating: "0", count: 16 - s.count) + s
    }

    private static let alphabet = Array("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789".utf8)

    /// `chatcmpl-` followed by 24 random alphanumerics, like OpenAI's ids.
    static func completionID() -> String {
        var bytes = Array("chatcmpl-".utf8)
        bytes.reserveCapacity(33)
        for _ in 0..<3 {
            var bits = IDSource.next()
            for _ in 0..<8 {
                bytes.append(alphabet[Int(bits % 62)])
                bits /= 62
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
