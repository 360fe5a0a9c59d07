/// One HTTP exchange with an upstream. `HTTP1Client` carries http:// and https:// alike; tests
/// may substitute their own.
public protocol UpstreamTransport: Sendable {
    func send(_ request: UpstreamRequest) async throws(UpstreamError) -> UpstreamResponse
}

public struct UpstreamRequest: Sendable {
    public var endpoint: UpstreamEndpoint
    public var method: String
    public var path: String
    public var headers: [(String, String)]
    public var body: [UInt8]
    /// No byte from the upstream for this long fails the call.
    public var idleTimeout: Duration

    public init(endpoint: UpstreamEndpoint, method: String, path: String, headers: [(String, String)] = [], body: [UInt8] = [], idleTimeout: Duration) {
        self.endpoint = endpoint
        self.method = method
        self.path = path
        self.headers = headers
        self.body = body
        self.idleTimeout = idleTimeout
    }
}

public struct UpstreamResponse: Sendable {
    public var status: Int
    public var headers: [(String, String)]
    public var body: any UpstreamBody

    public func header(_ name: String) -> String? {
        headers.first { $0.0.lowercased() == name.lowercased() }?.1
    }
}

/// A response body read piece by piece as it arrives. Cancelling the reading task, or calling
/// `cancel()`, closes the upstream connection so the upstream stops generating.
public protocol UpstreamBody: Sendable {
    /// The next piece, or nil at the end of the body.
    func next() async throws(UpstreamError) -> [UInt8]?
    func cancel() async
    /// The consumer has all it wants (an event stream's `[DONE]`): read what is left of the body
    /// briefly so the connection can be reused; close it if that does not finish quickly.
    func drain() async
    /// `next()`, but throwing `.timeout` when nothing comes within `limit`.
    func next(within limit: Duration) async throws(UpstreamError) -> [UInt8]?
}

extension UpstreamBody {
    public func drain() async { await cancel() }

    /// Races `next()` against a timer (bodies that have no deadline of their own).
    public func next(within limit: Duration) async throws(UpstreamError) -> [UInt8]? {
        let first = await withTaskGroup(of: Result<[UInt8]?, UpstreamError>?.self) { group in
            group.addTask {
                do throws(UpstreamError) { return .success(try await self.next()) } catch { return .failure(error) }
            }
            group.addTask {
                try? await Task.sleep(for: limit)
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first
        }
        if Task.isCancelled { throw .cancelled }
        guard let first else { throw .timeout }
        return try first.get()
    }
}

extension UpstreamBody {
    /// Reads the whole body, failing past `limit` bytes.
    public func collect(limit: Int) async throws(UpstreamError) -> [UInt8] {
        var all: [UInt8] = []
        while let piece = try await next() {
            all.append(contentsOf: piece)
            if all.count > limit {
                await cancel()
                throw .tooLarge(limit)
            }
        }
        return all
    }
}
