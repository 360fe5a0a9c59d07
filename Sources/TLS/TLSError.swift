/// Why TLS failed, in words a person can act on ("unknown CA: unable to get local issuer
/// certificate", "name mismatch: hostname mismatch", "protocol error: …").
public struct TLSError: Error, Sendable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// The context could not be built (unreadable CA file, bad key).
        case configuration
        /// The handshake failed: certificate verdict or protocol.
        case handshake
        /// A TLS record failed after the handshake.
        case protocolError
    }

    public let kind: Kind
    public let description: String

    public init(_ kind: Kind, _ description: String) {
        self.kind = kind
        self.description = description
    }
}
