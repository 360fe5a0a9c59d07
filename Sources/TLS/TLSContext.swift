import CTLS

/// Shared TLS settings for many connections (OpenSSL's `SSL_CTX`): trust store, verification.
///
/// `@unchecked Sendable`: an `SSL_CTX` is safe to share across threads once configured (OpenSSL
/// locks its internal state); this class configures it in `init` and never changes it after.
public final class TLSContext: @unchecked Sendable {
    let raw: OpaquePointer
    public let verifies: Bool

    /// A client context. `verify: false` turns off certificate and host-name checks.
    /// `caFile` replaces the system store (`SSL_CERT_FILE`); `extraCAFile` adds a private CA.
    public init(client verify: Bool = true, caFile: String? = nil, extraCAFile: String? = nil) throws(TLSError) {
        var error = [CChar](repeating: 0, count: 512)
        guard let raw = ctls_client_context(verify ? 1 : 0, caFile, extraCAFile, &error, error.count) else {
            throw TLSError(.configuration, cText(error))
        }
        self.raw = raw
        self.verifies = verify
    }

    /// A server context from PEM files (the fake upstream's TLS front, tests).
    public init(serverCertificate certificate: String, privateKey key: String) throws(TLSError) {
        var error = [CChar](repeating: 0, count: 512)
        guard let raw = ctls_server_context(certificate, key, &error, error.count) else {
            throw TLSError(.configuration, "cannot load \(certificate) / \(key): \(cText(error))")
        }
        self.raw = raw
        self.verifies = false
    }

    deinit { ctls_context_free(raw) }
}
