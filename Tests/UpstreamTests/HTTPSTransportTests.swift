import FakeUpstream
import Foundation
import OpenAIWire
import Sockets
import TLS
import Upstream
import XCTest
@testable import TestSupport

/// The https path of our HTTP/1.1 client over real sockets: OpenSSL under the client, a TLS
/// front (certificates generated at test time) in front of a scripted raw upstream or the fake.
/// Hostile endings (resets, silence, floods, trickles, cancellation) and every certificate
/// verdict, each named in the error a 502 will carry.
final class HTTPSTransportTests: XCTestCase {
    var certificates: TestCertificates!
    private var stops: [() -> Void] = []

    override func setUpWithError() throws { certificates = try TestCertificates.shared() }
    override func tearDown() {
        for stop in stops { stop() }
        stops = []
    }

    /// `UPSTREAM_CA_FILE` naming the test CA: the system store plus our CA.
    func trustingClient() throws -> HTTP1Client {
        HTTP1Client(tls: try TLSContext(client: true, extraCAFile: certificates.ca))
    }

    func rawUpstream(_ certificate: TestCertificates.Pair? = nil, _ handler: @escaping @Sendable (RawUpstreamConnection) -> Void) throws -> HTTPSRawUpstream {
        let upstream = try HTTPSRawUpstream(certificate ?? certificates.server, handler)
        stops.append { upstream.stop() }
        return upstream
    }

    static let body = UpstreamTransportTests.body
    static var streamingBody: JSONObject {
        var b = body
        b["stream"] = .bool(true)
        return b
    }

    /// Calls `complete` (or `stream` and reads it to the end) and returns the error it ended with.
    func failure(_ u: ChatUpstream, _ endpoint: UpstreamEndpoint, stream: Bool) async -> UpstreamError? {
        do throws(UpstreamError) {
            if stream {
                let chunks = try await u.stream(endpoint, body: Self.streamingBody)
                while try await chunks.next() != nil {}
            } else {
                _ = try await u.complete(endpoint, body: Self.body)
            }
            return nil
        } catch {
            return error
        }
    }

    /// Reads a stream to its end; the error it ended with, if any.
    static func readStream(_ u: ChatUpstream, _ endpoint: UpstreamEndpoint, eachChunk: @Sendable () -> Void) async -> UpstreamError? {
        do throws(UpstreamError) {
            let chunks = try await u.stream(endpoint, body: streamingBody)
            while try await chunks.next() != nil { eachChunk() }
            return nil
        } catch {
            return error
        }
    }

    // MARK: Resets before the response head

    /// A reset on a new connection before any response byte: no retry (the upstream may have
    /// started work on the POST), the call fails at once as unreachable, naming the URL.
    func testResetBeforeHeadersOnAFreshConnectionFailsAtOnce() async throws {
        let upstream = try rawUpstream { connection in
            connection.readRequest()
            connection.reset()
        }
        let u = ChatUpstream(transport: try trustingClient(), idleTimeout: .seconds(30))
        for stream in [false, true] {
            let start = ContinuousClock.now
            let error = await failure(u, try upstream.endpoint(), stream: stream)
            let elapsed = ContinuousClock.now - start
            guard case .unreachable(let why)? = error else { return XCTFail("stream=\(stream): expected unreachable, got \(String(describing: error))") }
            XCTAssertTrue(why.contains("https://localhost:\(upstream.front.port)"), why)
            // 4-18 ms measured unloaded; the bound leaves room for a loaded CI box and still sits
            // far below the 30 s idle timeout a hang would wait for.
            XCTAssertLessThan(elapsed, .seconds(2), "stream=\(stream): the reset took \(elapsed) to surface")
        }
        XCTAssertEqual(upstream.raw.connectionsAccepted, 2, "one connection per call: a fresh connection is not retried")
    }

    /// Connection 1 answers the first call, then resets when the second request arrives on it
    /// (pooled, reused). `later` handles every later connection.
    func reusedThenReset(later: @escaping @Sendable (RawUpstreamConnection) -> Void) throws -> (HTTPSRawUpstream, Locked<Bool>) {
        let connections = Locked(0)
        let secondRequestOnFirstConnection = Locked(false)
        let upstream = try rawUpstream { connection in
            let n = connections.update { n -> Int in n += 1; return n }
            guard n == 1 else { return later(connection) }
            guard connection.readRequest() != nil else { return }
            connection.respond(body: completionJSON(content: "first"))
            guard connection.readRequest() != nil else { return }
            secondRequestOnFirstConnection.set(true)
            connection.reset()
        }
        return (upstream, secondRequestOnFirstConnection)
    }

    /// HTTP1Client's rule: a pooled connection that fails before any response byte is retried
    /// once on a fresh connection (a keep-alive race is the usual cause). Here the fresh
    /// connection answers, so the call succeeds, at once.
    func testResetBeforeHeadersOnAReusedConnectionIsRetriedOnAFreshOne() async throws {
        let (upstream, reused) = try reusedThenReset { connection in
            guard connection.readRequest() != nil else { return }
            connection.respond(body: completionJSON(content: "retried"))
        }
        let u = ChatUpstream(transport: try trustingClient(), idleTimeout: .seconds(30))
        let first = try await u.complete(try upstream.endpoint(), body: Self.body)
        XCTAssertEqual(first["choices"]?.arrayValue?.first?["message"]?["content"]?.stringValue, "first")

        let start = ContinuousClock.now
        let second = try await u.complete(try upstream.endpoint(), body: Self.body)
        let elapsed = ContinuousClock.now - start
        XCTAssertEqual(second["choices"]?.arrayValue?.first?["message"]?["content"]?.stringValue, "retried")
        XCTAssertTrue(reused.value, "the second request was not sent on the pooled connection")
        XCTAssertEqual(upstream.raw.connectionsAccepted, 2)
        XCTAssertEqual(upstream.front.handshakes, 2, "the retry runs on a new TLS connection")
        XCTAssertLessThan(elapsed, .seconds(2), "a hang would wait for the 30 s idle timeout")
    }

    /// The same, but the fresh connection is reset too: exactly one retry, then unreachable, at once.
    func testResetBeforeHeadersOnAReusedConnectionFailsAtOnceWhenTheRetryIsResetToo() async throws {
        let (upstream, reused) = try reusedThenReset { connection in
            connection.readRequest()
            connection.reset()
        }
        let u = ChatUpstream(transport: try trustingClient(), idleTimeout: .seconds(30))
        _ = try await u.complete(try upstream.endpoint(), body: Self.body)

        let start = ContinuousClock.now
        let error = await failure(u, try upstream.endpoint(), stream: false)
        let elapsed = ContinuousClock.now - start
        guard case .unreachable? = error else { return XCTFail("expected unreachable, got \(String(describing: error))") }
        XCTAssertTrue(reused.value, "the second request was not sent on the pooled connection")
        XCTAssertEqual(upstream.raw.connectionsAccepted, 2, "one retry on a fresh connection, no more")
        XCTAssertLessThan(elapsed, .seconds(2), "a hang would wait for the 30 s idle timeout")
    }

    // MARK: Endings after the head

    /// A reset after the first event of a stream: the stream fails as truncated (not a clean end).
    func testResetMidStreamIsTruncated() async throws {
        let firstChunkRead = Locked(false)
        let upstream = try rawUpstream { connection in
            connection.readRequest()
            connection.write(eventStreamHead + chunked(chunkEvent(delta: #"{"role":"assistant","content":"partial"}"#)))
            for _ in 0..<500 where !firstChunkRead.value { usleep(10_000) }
            connection.reset()
        }
        let u = ChatUpstream(transport: try trustingClient(), idleTimeout: .seconds(30))
        let chunks = try await u.stream(try upstream.endpoint(), body: Self.streamingBody)
        let first = try await chunks.next()
        XCTAssertEqual(first?["choices"]?.arrayValue?.first?["delta"]?["content"]?.stringValue, "partial")
        let released = ContinuousClock.now
        firstChunkRead.set(true)
        do throws(UpstreamError) {
            while try await chunks.next() != nil {}
            XCTFail("the reset stream ended cleanly")
        } catch {
            guard case .truncated = error else { return XCTFail("expected truncated, got \(error)") }
        }
        XCTAssertLessThan(ContinuousClock.now - released, .seconds(1))
    }

    /// A reset in the middle of a Content-Length body: truncated too.
    func testResetMidBodyIsTruncated() async throws {
        let headRead = Locked(false)
        let upstream = try rawUpstream { connection in
            connection.readRequest()
            connection.write("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"id\":\"c1\",")
            for _ in 0..<500 where !headRead.value { usleep(10_000) }
            connection.reset()
        }
        let client = try trustingClient()
        let endpoint = try upstream.endpoint()
        let response = try await client.send(UpstreamRequest(endpoint: endpoint, method: "POST", path: endpoint.chatPath,
                                                             body: JSONWriter.bytes(.object(Self.body)), idleTimeout: .seconds(30)))
        XCTAssertEqual(response.status, 200)
        headRead.set(true)
        do throws(UpstreamError) {
            _ = try await response.body.collect(limit: 1 << 20)
            XCTFail("a cut body was collected whole")
        } catch {
            guard case .truncated = error else { return XCTFail("expected truncated, got \(error)") }
        }
    }

    /// An upstream that takes the request and says nothing: `.timeout` after the idle timeout
    /// (the proxy's 504), and the connection is closed, not left to the upstream.
    func testAnUpstreamThatNeverAnswersTimesOut() async throws {
        let peerClosed = Locked(0)
        let upstream = try rawUpstream { connection in
            connection.readRequest()
            if connection.waitForPeerClose(seconds: 10) { peerClosed.update { $0 += 1 } }
        }
        // The idle timeout also bounds the TCP and TLS handshakes: not so short that they miss it.
        let u = ChatUpstream(transport: try trustingClient(), idleTimeout: .milliseconds(500))
        for stream in [false, true] {
            let error = await failure(u, try upstream.endpoint(), stream: stream)
            XCTAssertEqual(error, .timeout, "stream=\(stream)")
        }
        let closed = await eventually(timeout: 3) { peerClosed.value == 2 }
        XCTAssertTrue(closed, "the timed-out calls left \(2 - peerClosed.value) upstream connection(s) open")
    }

    /// A peer that accepts TCP but never speaks TLS: the handshake is bounded by the same
    /// timeout and says so.
    func testAHandshakeThatNeverCompletesTimesOut() async throws {
        let silent = try RawUpstream { connection in _ = connection.waitForPeerClose(seconds: 10) }
        defer { silent.stop() }
        let u = ChatUpstream(transport: try trustingClient(), idleTimeout: .milliseconds(300))
        let endpoint = try UpstreamEndpoint(baseURL: "https://127.0.0.1:\(silent.port)/v1", apiKey: nil, model: "m")
        let error = await failure(u, endpoint, stream: false)
        guard case .unreachable(let why)? = error else { return XCTFail("expected unreachable, got \(String(describing: error))") }
        XCTAssertTrue(why.contains("TLS handshake with https://127.0.0.1:\(silent.port) timed out"), why)
    }

    /// A body far larger than the cap (1 GiB announced, sent without end): `.tooLarge` once the
    /// cap is passed, and the connection is closed so the upstream stops sending.
    func testAnEnormousAnswerIsCapped() async throws {
        let stoppedAfter = Locked<Int?>(nil)
        let upstream = try rawUpstream { connection in
            connection.readRequest()
            connection.write("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: \(1 << 30)\r\n\r\n")
            let piece = [UInt8](repeating: 0x20, count: 64 * 1024)
            while connection.bytesWritten < 1 << 30, connection.write(piece) {}
            stoppedAfter.set(connection.bytesWritten)
        }
        let cap = 1 << 20
        let u = ChatUpstream(transport: try trustingClient(), idleTimeout: .seconds(10), maxResponseBytes: cap)
        let error = await failure(u, try upstream.endpoint(), stream: false)
        XCTAssertEqual(error, .tooLarge(cap))
        let stopped = await eventually(timeout: 5) { stoppedAfter.value != nil }
        XCTAssertTrue(stopped, "the upstream is still sending: the capped call did not close its connection")
        XCTAssertLessThan(stoppedAfter.value ?? .max, 64 << 20, "the upstream sent far past the cap before it was cut off")
    }

    /// The same for a stream: one event without end hits the event cap (8 MiB).
    func testAnEnormousStreamEventIsCapped() async throws {
        let stopped = Locked(false)
        let upstream = try rawUpstream { connection in
            connection.readRequest()
            connection.write(eventStreamHead + chunked("data: {\"x\":\""))
            let piece = chunked(String(repeating: "a", count: 64 * 1024))
            while connection.bytesWritten < 1 << 30, connection.write(piece) {}
            stopped.set(true)
        }
        let u = ChatUpstream(transport: try trustingClient(), idleTimeout: .seconds(10))
        let error = await failure(u, try upstream.endpoint(), stream: true)
        guard case .tooLarge? = error else { return XCTFail("expected tooLarge, got \(String(describing: error))") }
        let closed = await eventually(timeout: 5) { stopped.value }
        XCTAssertTrue(closed, "the upstream is still sending: the capped stream did not close its connection")
    }

    /// An upstream that sends `pieces` `gap` µs apart after reading the request.
    func trickling(_ pieces: [[UInt8]], gap: UInt32) throws -> HTTPSRawUpstream {
        try rawUpstream { connection in
            connection.readRequest()
            for piece in pieces {
                guard connection.write(piece) else { return }
                usleep(gap)
            }
            _ = connection.waitForPeerClose(seconds: 5)
        }
    }

    /// An answer trickled a few bytes at a time, for longer than the idle timeout in all: each
    /// byte resets the idle clock, so the call completes with the whole answer.
    func testASlowTrickleCompletes() async throws {
        let idle = Duration.milliseconds(500)
        let gap: UInt32 = 30_000 // µs between pieces, well under the idle timeout
        let content = "a trickled answer that arrives a few bytes at a time"
        let response = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: \(completionJSON(content: content).utf8.count)\r\n\r\n"
            + completionJSON(content: content)
        let pieces = Array(response.utf8).slices(of: 8)
        // The trickle as a whole lasts longer than the idle timeout, by construction.
        XCTAssertGreaterThan(Duration.microseconds(Int64(gap) * Int64(pieces.count)), idle * 2)
        let upstream = try trickling(pieces, gap: gap)
        let u = ChatUpstream(transport: try trustingClient(), idleTimeout: idle)
        let object = try await u.complete(try upstream.endpoint(), body: Self.body)
        XCTAssertEqual(object["choices"]?.arrayValue?.first?["message"]?["content"]?.stringValue, content)
    }

    /// The same for a stream: events split into small pieces, slower than the idle timeout in all.
    func testASlowTrickledStreamCompletes() async throws {
        let words = (1...12).map { "w\($0) " }
        var stream = eventStreamHead
        for word in words { stream += chunked(chunkEvent(delta: #"{"content":"\#(word)"}"#)) }
        stream += chunked(chunkEvent(delta: "{}", finish: "stop")) + chunked("data: [DONE]\n\n") + "0\r\n\r\n"
        let pieces = Array(stream.utf8).slices(of: 24)
        let idle = Duration.milliseconds(500)
        let gap: UInt32 = 20_000
        XCTAssertGreaterThan(Duration.microseconds(Int64(gap) * Int64(pieces.count)), idle * 2, "the trickle should outlast the idle timeout")
        let upstream = try trickling(pieces, gap: gap)
        let u = ChatUpstream(transport: try trustingClient(), idleTimeout: idle)
        let chunks = try await u.stream(try upstream.endpoint(), body: Self.streamingBody)
        var text = ""
        while let chunk = try await chunks.next() {
            text += chunk["choices"]?.arrayValue?.first?["delta"]?["content"]?.stringValue ?? ""
        }
        XCTAssertEqual(text, words.joined())
    }

    // MARK: Cancellation

    /// The client went away: cancelling the task that reads the stream closes the upstream
    /// connection (seen from the upstream's side, through the TLS front) within 1 s.
    func testCancellingTheReadingTaskClosesTheUpstreamConnection() async throws {
        let closedAt = Locked<ContinuousClock.Instant?>(nil)
        let upstream = try rawUpstream { connection in
            connection.readRequest()
            connection.write(eventStreamHead + chunked(chunkEvent(delta: #"{"role":"assistant","content":"one"}"#)))
            if connection.waitForPeerClose(seconds: 10) { closedAt.set(.now) }
        }
        let u = ChatUpstream(transport: try trustingClient(), idleTimeout: .seconds(30))
        let endpoint = try upstream.endpoint()
        let gotFirst = Locked(false)
        let reader = Task.detached { await HTTPSTransportTests.readStream(u, endpoint, eachChunk: { gotFirst.set(true) }) }
        let started = await eventually(timeout: 5) { gotFirst.value }
        XCTAssertTrue(started, "the first chunk never arrived")
        let cancelled = ContinuousClock.now
        reader.cancel()
        let closed = await eventually(timeout: 5) { closedAt.value != nil }
        XCTAssertTrue(closed, "the upstream connection stayed open after the reading task was cancelled")
        if let at = closedAt.value {
            XCTAssertLessThan(at - cancelled, .seconds(1))
        }
        let ended = await reader.value
        XCTAssertEqual(ended, .cancelled, "the cancelled read should end as cancelled")
    }

    // MARK: Keep-alive

    /// 20 sequential https calls from one task share one TLS connection. Connections are pooled
    /// per event loop (the pool key is the loop running the caller; a test task runs on none, so
    /// all its calls share one key): callers on each of the N loops get N connections in all,
    /// one per loop, however many calls each makes.
    func testSequentialCallsShareOneTLSConnectionPerLoop() async throws {
        let fixture = try UpstreamFixture()
        let u = ChatUpstream(transport: try fixture.client(), idleTimeout: .seconds(10))
        let endpoint = try fixture.endpoint("m", over: .https)
        for _ in 0..<20 { _ = try await u.complete(endpoint, body: Self.body) }
        XCTAssertEqual(fixture.fake.stats.requests, 20)
        XCTAssertEqual(fixture.front.handshakes, 1, "20 sequential calls should run on one TLS connection")

        let perLoop = ChatUpstream(transport: try fixture.client(), idleTimeout: .seconds(10))
        let loops = EventLoopGroup.shared.loops
        for loop in loops {
            try await withTaskExecutorPreference(loop) {
                for _ in 0..<5 { _ = try await perLoop.complete(endpoint, body: Self.body) }
            }
        }
        XCTAssertEqual(fixture.fake.stats.requests, 20 + 5 * loops.count)
        XCTAssertEqual(fixture.front.handshakes, 1 + loops.count, "one TLS connection per event loop (\(loops.count) loops)")
        await fixture.shutdown()
    }
}

extension Array {
    func slices(of size: Int) -> [[Element]] {
        stride(from: 0, to: count, by: size).map { Array(self[$0..<Swift.min($0 + size, count)]) }
    }
}
