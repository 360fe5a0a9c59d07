/// The server's limits and timeouts. Defaults follow common practice (nginx, Node).
public struct ServerLimits: Sendable {
    public var maxRequestLineBytes = 8 * 1024
    public var maxHeaderBytes = 64 * 1024
    public var maxBodyBytes = 32 * 1024 * 1024
    /// A request head must arrive completely within this time of its first byte.
    public var headerTimeout: Duration = .seconds(15)
    /// An idle keep-alive connection is closed after this long.
    public var idleTimeout: Duration = .seconds(75)
    /// A client that accepts no response bytes (or sends no body bytes) for this long is cut.
    public var ioTimeout: Duration = .seconds(75)
    public var maxConnections = 10_000

    public init() {}
}

/// Builds the body of an error the HTTP layer itself answers (400, 404-like parse errors, 413, ...),
/// so the application decides the format without this layer knowing it.
public typealias ErrorResponder = @Sendable (_ status: Int, _ message: String) -> HTTPResponse
