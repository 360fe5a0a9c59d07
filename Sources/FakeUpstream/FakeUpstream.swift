import Glibc
import HTTPServer
import OpenAIWire
import Synchronization

/// A scriptable OpenAI-compatible upstream on a real socket: records requests, notices disconnects.
public final class FakeUpstream: Sendable {
    public struct Recorded: Sendable {
        public var path: String
        public var headers: [String: String]
        public var body: JSONValue
    }

    public struct Stats: Sendable, Equatable {
        public var requests = 0
        public var active = 0
        public var disconnects = 0
        public var completed = 0
        /// Bytes of streamed chat responses handed to the socket (SSE events, before chunked framing).
        public var bytesSent = 0
    }

    struct State {
        var scripts: [String: FakeScript] = [:]
        var recorded: [Recorded] = []
        var stats = Stats()
    }

    let state = Mutex(State())
    private let server: HTTPServer
    public var port: UInt16 { server.port }
    public var baseURL: String { "http://127.0.0.1:\(port)/v1" }

    public init(host: String = "127.0.0.1", port: UInt16 = 0) throws {
        let box = HandlerBox()
        server = try HTTPServer(host: host, port: port, handler: box)
        box.owner.withLock { $0 = self }
    }

    /// Serves until `shutdown`.
    public func start() { Task { [server] in await server.run() } }
    public func shutdown() async { await server.shutdown(grace: .milliseconds(200)) }

    public func script(_ model: String, _ script: FakeScript) { state.withLock { $0.scripts[model] = script } }
    public func resetAll() { state.withLock { $0 = State() } }
    public var requests: [Recorded] { state.withLock { $0.recorded } }
    public var stats: Stats { state.withLock { $0.stats } }
    public func requests(model: String) -> [Recorded] { requests.filter { $0.body["model"]?.stringValue == model } }
}

/// Breaks the init-time cycle: the server needs a handler before the fake exists.
final class HandlerBox: HTTPHandler {
    let owner = Mutex<FakeUpstream?>(nil)
    func handle(_ request: HTTPRequest) async -> HTTPResponse {
        guard let fake = owner.withLock({ $0 }) else { return HTTPResponse(status: 503) }
        return await FakeRoutes(fake: fake).handle(request)
    }
}
