import FakeUpstream
import OpenAIWire
import Upstream
import XCTest
@testable import TestSupport

/// Our HTTP/1.1 client behaves the same against the fake over http:// and over https:// (the
/// fake behind a TLS front, trusted through a CA generated at test time): streamed bodies arrive
/// as sent, whole bodies arrive whole, statuses and refusals map to the same errors.
final class UpstreamTransportTests: XCTestCase {
    var fixture: UpstreamFixture!

    override func setUpWithError() throws { fixture = try UpstreamFixture() }
    override func tearDown() async throws { await fixture.shutdown() }

    func upstream(idleTimeout: Duration = .seconds(10)) throws -> ChatUpstream {
        ChatUpstream(transport: try fixture.client(), idleTimeout: idleTimeout)
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
        for scheme in UpstreamFixture.schemes {
            let name = scheme.rawValue
            let chunks = try await upstream().stream(try fixture.endpoint("slow", over: scheme), body: streamingBody("slow"))
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
            // The script paces chunks 300 ms apart; over https the TLS front adds a relay hop.
            XCTAssertGreaterThan(arrivals[1].1 - arrivals[0].1, .milliseconds(100), name)
        }
    }

    func testRawBodyPiecesArriveAsSent() async throws {
        try fixture.script("slow", #"{"chunks":["x","y","z"],"chunk_delay_ms":250,"usage":null}"#)
        for scheme in UpstreamFixture.schemes {
            let name = scheme.rawValue
            let endpoint = try fixture.endpoint("slow", over: scheme)
            let response = try await fixture.client().send(UpstreamRequest(endpoint: endpoint, method: "POST", path: endpoint.chatPath,
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
        for scheme in UpstreamFixture.schemes {
            let name = scheme.rawValue
            var body = Self.body
            body["model"] = .string("big")
            let object = try await upstream().complete(try fixture.endpoint("big", over: scheme), body: body)
            let content = object["choices"]?.arrayValue?.first?["message"]?["content"]?.stringValue
            XCTAssertEqual(content?.count, big.count, name)
            XCTAssertEqual(content, big, name)
            XCTAssertEqual(object["usage"]?["total_tokens"], .int(15), name)
        }
    }

    func testStatusCodesMapToUpstreamErrors() async throws {
        try fixture.script("limited", #"{"status":429,"error_body":"{\"error\":{\"message\":\"slow down\"}}"}"#)
        try fixture.script("broken", #"{"status":500,"content_type":"text/plain","error_body":"kaput"}"#)
        for scheme in UpstreamFixture.schemes {
            let name = scheme.rawValue
            let u = try upstream()
            for stream in [false, true] {
                for (model, expected) in [("limited", UpstreamError.status(429, message: "slow down")), ("broken", .status(500, message: "kaput"))] {
                    var body = stream ? streamingBody(model) : Self.body
                    body["model"] = .string(model)
                    let endpoint = try fixture.endpoint(model, over: scheme)
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
        let port = closedLoopbackPort()
        for scheme in UpstreamFixture.schemes {
            let name = scheme.rawValue
            let endpoint = try UpstreamEndpoint(baseURL: "\(scheme.rawValue)://127.0.0.1:\(port)/v1", apiKey: nil, model: "m")
            let start = ContinuousClock.now
            let u = try upstream()
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
        for scheme in UpstreamFixture.schemes {
            let name = scheme.rawValue
            let ids = try await upstream().models(try fixture.endpoint("alpha", over: scheme))
            XCTAssertEqual(ids, ["fake-model", "alpha"], name)
        }
    }

    /// The upstream restarts between two calls: the pooled connection is dead, and the next call
    /// must notice and connect afresh instead of failing. Over https the TLS front stays and
    /// closes its side when the fake goes away, so the pooled TLS connection is the stale one.
    func testPooledConnectionToARestartedUpstreamIsReplaced() async throws {
        for scheme in UpstreamFixture.schemes {
            let name = scheme.rawValue
            let first = try FakeUpstream()
            first.start()
            let port = first.port
            let front = scheme == .https ? try fixture.front(for: port) : nil
            let base = front.map { "https://localhost:\($0.port)/v1" } ?? first.baseURL
            let u = ChatUpstream(transport: try fixture.client(), idleTimeout: .seconds(5))
            _ = try await u.complete(try UpstreamEndpoint(baseURL: base, apiKey: nil, model: "m"), body: Self.body)
            await first.shutdown()
            let restarted = try FakeUpstream(port: port)
            restarted.start()
            do {
                let again = try await u.complete(try UpstreamEndpoint(baseURL: base, apiKey: nil, model: "m"), body: Self.body)
                XCTAssertNotNil(again["choices"], name)
                XCTAssertEqual(restarted.stats.requests, 1, name)
                if let front { XCTAssertEqual(front.handshakes, 2, "the second call should run on a new TLS connection") }
            } catch {
                XCTFail("\(name): the second call failed on a stale pooled connection: \(error)")
            }
            front?.close()
            await restarted.shutdown()
        }
    }

    /// 50 sequential calls on a pooled connection: a handful of descriptors at most (client and
    /// server side; over https also the front's two), and one TLS handshake in all.
    func testKeepAliveReusesConnectionsAcrossCalls() async throws {
        for scheme in UpstreamFixture.schemes {
            let name = scheme.rawValue
            let u = try upstream()
            let before = openDescriptors()
            let requestsBefore = fixture.fake.stats.requests
            for _ in 0..<50 { _ = try await u.complete(try fixture.endpoint("m", over: scheme), body: Self.body) }
            XCTAssertLessThanOrEqual(openDescriptors() - before, 4, name)
            XCTAssertEqual(fixture.fake.stats.requests - requestsBefore, 50, name)
        }
        XCTAssertEqual(fixture.front.handshakes, 1, "50 https calls from one task should share one TLS connection")
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

    /// Over http, and over https through a TLS front (one TLS handshake for all four calls).
    func testConnectionsArePooledAfterStreamsAndCompletions() async throws {
        let certificates = try TestCertificates.shared()
        let context = try TLSContext(client: true, extraCAFile: certificates.ca)
        for scheme in UpstreamFixture.schemes {
            let name = scheme.rawValue
            let server = try HTTPServer(host: "127.0.0.1", port: 0, handler: Handler())
            Task { await server.run() }
            let front = scheme == .https
                ? try TLSFront(backendPort: server.port, certificate: certificates.server.certificate, privateKey: certificates.server.privateKey)
                : nil
            let base = front.map { "https://localhost:\($0.port)/v1" } ?? "http://127.0.0.1:\(server.port)/v1"
            let endpoint = try UpstreamEndpoint(baseURL: base, apiKey: nil, model: "m")
            let u = ChatUpstream(transport: HTTP1Client(tls: context), idleTimeout: .seconds(5))
            var body = UpstreamTransportTests.body
            _ = try await u.complete(endpoint, body: body)
            try await Task.sleep(for: .milliseconds(100))
            XCTAssertEqual(server.openConnections, 1, "\(name): a completed call keeps its connection for the next one")

            body["stream"] = .bool(true)
            for round in 1...3 {
                let chunks = try await u.stream(endpoint, body: body)
                var n = 0
                while try await chunks.next() != nil { n += 1 }
                XCTAssertEqual(n, 1, name)
                try await Task.sleep(for: .milliseconds(100))
                XCTAssertEqual(server.openConnections, 1, "\(name) stream \(round): the connection was closed after [DONE] instead of pooled")
            }
            if let front {
                XCTAssertEqual(front.handshakes, 1, "the https calls should share one TLS connection")
                front.close()
            }
            await server.shutdown(grace: .milliseconds(100))
        }
    }
}

import HTTPServer
import TLS
