/// Keeps credentials out of anything a client sees: upstream error text and relayed bodies.
///
/// Masking happens before any cutting (a cut first could leave a key's first characters behind),
/// and a long enough prefix of a configured key is masked like the whole key: an upstream that
/// echoes a truncated `Authorization` header still leaks nothing usable.
public enum Redactor {
    /// Shorter secrets are not masked: they would match ordinary text.
    static let minimumSecretLength = 4
    /// A prefix of a secret this long (or the whole secret, if shorter) counts as the secret.
    static let prefixLength = 8

    /// Masks the given secrets and anything shaped like a bearer token or API key.
    public static func redact(_ text: String, secrets: [String]) -> String {
        var masker = StreamRedactor(secrets: secrets)
        let masked = String(decoding: masker.feed(Array(text.utf8)) + masker.finish(), as: UTF8.self)
        return maskKeyShapes(masked)
    }

    /// Redacts, then keeps at most `limit` characters (with an ellipsis when cut).
    public static func excerpt(_ text: String, limit: Int, secrets: [String]) -> String {
        let clean = redact(text, secrets: secrets)
        return clean.count > limit ? String(clean.prefix(limit)) + "…" : clean
    }

    public static func excerpt(_ bytes: [UInt8], limit: Int, secrets: [String]) -> String {
        excerpt(String(decoding: bytes, as: UTF8.self), limit: limit, secrets: secrets)
    }

    /// Common key shapes (`sk-…`, the word after `Bearer`) that an upstream may echo from elsewhere.
    static func maskKeyShapes(_ text: String) -> String {
        var result = ""
        var previousWasBearer = false
        var first = true
        for word in text.split(separator: " ", omittingEmptySubsequences: false) {
            if !first { result += " " }
            first = false
            let bare = word.trimmingCharacters("\"',.;:()[]{}")
            if previousWasBearer || bare.hasPrefix("sk-") && bare.count > 12 {
                result += "***"
            } else {
                result += word
            }
            previousWasBearer = bare.lowercased() == "bearer"
        }
        return result
    }
}

/// Masks configured secrets in a byte stream cut at arbitrary points: the tail that could be the
/// start of a secret is held back until the next piece (or `finish`) decides.
public struct StreamRedactor: Sendable {
    private let secrets: [[UInt8]]
    private var held: [UInt8] = []
    static let mask = Array("***".utf8)

    public init(secrets: [String]) {
        self.secrets = Set(secrets.filter { $0.utf8.count >= Redactor.minimumSecretLength }).map { Array($0.utf8) }
            .sorted { $0.count > $1.count }
    }

    public var isActive: Bool { !secrets.isEmpty }

    /// The bytes that are safe to pass on now.
    public mutating func feed(_ bytes: [UInt8]) -> [UInt8] {
        guard isActive else { return bytes }
        held.append(contentsOf: bytes)
        return scan(final: false)
    }

    /// Whatever is still held, masked: the stream has ended.
    public mutating func finish() -> [UInt8] {
        guard isActive else { defer { held = [] }; return held }
        return scan(final: true)
    }

    private mutating func scan(final: Bool) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(held.count)
        var i = 0
        scanning: while i < held.count {
            for secret in secrets {
                let needed = min(secret.count, Redactor.prefixLength)
                var m = 0
                while m < secret.count, i + m < held.count, held[i + m] == secret[m] { m += 1 }
                if m == secret.count || (m >= needed && (i + m < held.count || final)) {
                    out.append(contentsOf: Self.mask)
                    i += m
                    continue scanning
                }
                // Still matching at the end of what we have: the next piece decides.
                if !final, i + m == held.count, m > 0 {
                    held.removeFirst(i)
                    return out
                }
            }
            out.append(held[i])
            i += 1
        }
        held.removeAll(keepingCapacity: true)
        return out
    }
}
