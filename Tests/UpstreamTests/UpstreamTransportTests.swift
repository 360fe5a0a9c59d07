import FakeUpstream
import OpenAIWire
import Upstream
import XCTest
@testable import TestSupport

/// Both transports (our HTTP/1.1 client and URLSession) behave the same against the fake over
/// http://: streamed bodies arrive as sent, whole bodies arrive whole, statuses and refusals map
/// to the same errors.
final class UpstreamTransportTests: XCTestCase {
    var fixture: UpstreamFixture!

    override func setUpWithError() throws { fixture = try UpstreamFixture() }
    override func tearDown() async throws { await fixture.shutdown() }

    static let transports: [(String, @Sendable () -> any UpstreamTransport)] = [
        ("HTTP1Client", { HTTP1Client() }),
    ]

    func upstream(_ make: () -> any UpstreamTransport, idleTimeout: Duration = .seconds(10)) -> ChatUpstream {
        ChatUpstream(transport: make(), idleTimeout: idleTimeout)
    }

    static let body: JSONObject = ["model": .string("m"), "messages": .array([.object(["role": .string("user"), "content": .string("hi")])])]

    func streamingBody(_ model: String) -> JSONObject {
        var b = Self.body
        b["model"] = .string(model)
        b["stream"] = .bool(true)
        return b
    }

    func testStreamedChunksArriveIncrementally() async throws {
        try fixture.script("slow", #"{"chunks":["a","b","c","d"],"chunk_delay_ms":300,"usage":null}"#)
        for (name, make) in Self.transports {
            let chunks = try await upstream(make).stream(try fixture.endpoint("slow"), body: streamingBody("slow"))
            let start = ContinuousClock.now
            var arrivals: [(String, Duration)] = []
            while let chunk = try await chunks.next() {
                if let text = chunk["choices"]?.arrayValue?.first?["delta"]?["content"]?.stringValue, !text.isEmpty {
                    arrivals.append((text, ContinuousClock.now - start))
                }
            }
            XCTAssertEqual(arrivals.map(\.0), ["a", "b", "c", "d"], name)
            guard arrivals.count == 4 else { continue }
            XCTAssertLessThan(arrivals[0].1, .milliseconds(600), "\(name): the first chunk waited for the rest")
            XCTAssertGreaterThan(arrivals[3].1 - arrivals[0].1, .milliseconds(700), "\(name): chunks arrived together")
            XCTAssertGreaterThan(arrivals[1].1 - arrivals[0].1, .milliseconds(200), name)
        }
    }

    func testRawBodyPiecesArriveAsSent() async throws {
        try fixture.script("slow", #"{"chunks":["x","y","z"],"chunk_delay_ms":250,"usage":null}"#)
        for (name, make) in Self.transports {
            let endpoint = try fixture.endpoint("slow")
            let response = try await make().send(UpstreamRequest(endpoint: endpoint, method: "POST", path: endpoint.chatPath,
                                                                 headers: [("Content-Type", "application/json")],
                                                                 body: JSONWriter.bytes(.object(streamingBody("slow"))), idleTimeout: .seconds(10)))
            XCTAssertEqual(response.status, 200, name)
            XCTAssertEqual(response.header("Content-Type"), "text/event-stream", name)
            var pieces = 0
            var all: [UInt8] = []
            while let piece = try await response.body.next() {
                pieces += 1
                all.append(contentsOf: piece)
            }
            XCTAssertGreaterThanOrEqual(pieces, 3, "\(name): the body came in \(pieces) piece(s)")
            let text = String(decoding: all, as: UTF8.self)
            XCTAssertTrue(text.hasSuffix("data: [DONE]\n\n"), "\(name): \(text)")
        }
    }

    func testNonStreamedBodyIsComplete() async throws {
        let big = String(repeating: "0123456789abcdef", count: 20_000) // 320 kB
        try fixture.script("big", "{\"content\":\"\(big)\"}")
        for (name, make) in Self.transports {
            var body = Self.body
            body["model"] = .string("big")
            let object = try await upstream(make).complete(try fixture.endpoint("big"), body: body)
            let content = object["choices"]?.arrayValue?.first?["message"]?["content"]?.stringValue
            XCTAssertEqual(content?.count, big.count, name)
            XCTAssertEqual(content, big, name)
            XCTAssertEqual(object["usage"]?["total_tokens"], .int(15), name)
        }
    }

    func testStatusCodesMapToUpstreamErrors() async throws {
        try fixture.script("limited", #"{"status":429,"error_body":"{\"error\":{\"message\":\"slow down\"}}"}"#)
        try fixture.script("broken", #"{"status":500,"content_type":"text/plain","error_body":"kaput"}"#)
        for (name, make) in Self.transports {
            let u = upstream(make)
            for stream in [false, true] {
                for (model, expected) in [("limited", UpstreamError.status(429, message: "slow down")), ("broken", .status(500, message: "kaput"))] {
                    var body = stream ? streamingBody(model) : Self.body
                    body["model"] = .string(model)
                    let endpoint = try fixture.endpoint(model)
                    do throws(UpstreamError) {
                        if stream { _ = try await u.stream(endpoint, body: body) } else { _ = try await u.complete(endpoint, body: body) }
                        XCTFail("\(name): \(model) succeeded")
                    } catch {
                        XCTAssertEqual(error, expected, "\(name) stream=\(stream)")
                    }
                }
            }
        }
    }

    func testConnectionRefusedIsUnreachable() async throws {
        let endpoint = try UpstreamEndpoint(baseURL: "http://127.0.0.1:\(closedLoopbackPort())/v1", apiKey: nil, model: "m")
        for (name, make) in Self.transports {
            let start = ContinuousClock.now
            let u = upstream(make)
            do throws(UpstreamError) {
                _ = try await u.complete(endpoint, body: Self.body)
                XCTFail("\(name): reached a closed port")
            } catch {
                XCTAssertEqual(error.kind, "unreachable", "\(name): \(error)")
            }
            XCTAssertLessThan(ContinuousClock.now - start, .seconds(3), name)
        }
    }

    func testModelsList() async throws {
        try fixture.script("alpha", "{}")
        for (name, make) in Self.transports {
            let ids = try await upstream(make).models(try fixture.endpoint("alpha"))
            XCTAssertEqual(ids, ["fake-model", "alpha"], name)
        }
    }

    /// The upstream restarts between two calls: the pooled connection is dead, and the next call
    /// must notice and connect afresh instead of failing.
    func testPooledConnectionToARestartedUpstreamIsReplaced() async throws {
        let client = HTTP1Client()
        let u = ChatUpstream(transport: client, idleTimeout: .seconds(5))
        let port = fixture.fake.port
        _ = try await u.complete(try fixture.endpoint("m"), body: Self.body)
        await fixture.shutdown()
        let restarted = try FakeUpstream(port: port)
        restarted.start()
        do {
            let again = try await u.complete(try UpstreamEndpoint(baseURL: restarted.baseURL, apiKey: nil, model: "m"), body: Self.body)
            XCTAssertNotNil(again["choices"])
            XCTAssertEqual(restarted.stats.requests, 1)
        } catch {
            XCTFail("the second call failed on a stale pooled connection: \(error)")
        }
        await restarted.shutdown()
    }

    func testKeepAliveReusesConnectionsAcrossCalls() async throws {
        let client = HTTP1Client()
        let u = ChatUpstream(transport: client, idleTimeout: .seconds(10))
        let before = openDescriptors()
        for _ in 0..<50 { _ = try await u.complete(try fixture.endpoint("m"), body: Self.body) }
        // 50 sequential calls on a pooled connection: a handful of descriptors at most (client and server side).
        XCTAssertLessThanOrEqual(openDescriptors() - before, 4)
        XCTAssertEqual(fixture.fake.stats.requests, 50)
    }
}

func openDescriptors() -> Int {
    (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count) ?? 0
}

import Foundation

/// Keep-alive for streamed calls: a stream read to `[DONE]` leaves a connection that can serve
/// the next call, like a non-streamed one does (otherwise every streamed call pays a new
/// connection, and a TLS handshake for https upstreams).
final class UpstreamConnectionReuseTests: XCTestCase {
    struct Handler: HTTPHandler {
        func handle(_ request: HTTPRequest) async -> HTTPResponse {
            let stream = (try? JSONParser.parse(request.body))?["stream"]?.boolValue ?? false
            let chunk = #"{"id":"x","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"hi"},"finish_reason":"stop"}]}"#
            if !stream {
                return HTTPResponse(status: 200, headers: ["Content-Type": "application/json"],
                                    text: #"{"id":"x","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}]}"#)
            }
            return HTTPResponse(status: 200, headers: ["Content-Type": "text/event-stream"], body: .stream { writer in
                try await writer.write("data: \(chunk)\n\n")
                try await writer.write("data: [DONE]\n\n")
                // Real servers often end the body in a separate write after [DONE] (llama.cpp, vLLM):
                // make that deterministic here.
                try await Task.sleep(for: .milliseconds(20))
            })
        }
    }

    func testConnectionsArePooledAfterStreamsAndCompletions() async throws {
        let server = try HTTPServer(host: "127.0.0.1", port: 0, handler: Handler())
        Task { await server.run() }
        let endpoint = try UpstreamEndpoint(baseURL: "http://127.0.0.1:\(server.port)/v1", apiKey: nil, model: "m")
        let u = ChatUpstream(transport: HTTP1Client(), idleTimeout: .seconds(5))
        var body = UpstreamTransportTests.body
        _ = try await u.complete(endpoint, body: body)
        try await Task.sleep(for: .milliseconds(100))
        XCTAssertEqual(server.openConnections, 1, "a completed call keeps its connection for the next one")

        body["stream"] = .bool(true)
        for round in 1...3 {
            let chunks = try await u.stream(endpoint, body: body)
            var n = 0
            while try await chunks.next() != nil { n += 1 }
            XCTAssertEqual(n, 1)
            try await Task.sleep(for: .milliseconds(100))
            XCTAssertEqual(server.openConnections, 1, "stream \(round): the connection was closed after [DONE] instead of pooled")
        }
        await server.shutdown(grace: .milliseconds(100))
    }
}

import HTTPServer
