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

import Synchronization

/// Ids need to be unique and unguessable enough for logs, not secret: one getrandom at start
/// seeds a SplitMix64 sequence, so an id costs no system call (it was 25 per request).
enum IDSource {
    private static let state = Atomic<UInt64>(SystemRandomNumberGenerator().nextSeed)

    static func next() -> UInt64 {
        var z = state.wrappingAdd(0x9E37_79B9_7F4A_7C15, ordering: .relaxed).newValue
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

extension SystemRandomNumberGenerator {
    var nextSeed: UInt64 {
        var g = self
        return g.next()
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
