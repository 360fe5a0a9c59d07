import XCTest
import HTTPServer
@testable import TestSupport

/// Mutated requests over real sockets: whatever the server says must be well-formed HTTP, and it
/// must keep serving.
final class LiveMutationTests: XCTestCase {
    /// Splits a byte stream into responses; every one must have a valid status line, valid
    /// headers and a body of exactly its Content-Length.
    static func responses(in bytes: [UInt8]) throws -> [RawResponse] {
        var rest = bytes[...]
        var out: [RawResponse] = []
        while !rest.isEmpty {
            guard let end = RawResponse.headEnd(Array(rest)) else {
                throw RawClient.ClientError.malformed("trailing bytes without a complete head: \(String(decoding: rest.prefix(120), as: UTF8.self).debugDescription)")
            }
            var r = try RawResponse.parseHead(Array(rest.prefix(end)))
            rest = rest.dropFirst(end)
            if r.status >= 200 {
                guard let text = r.header("Content-Length"), let length = Int(text) else {
                    throw RawClient.ClientError.malformed("response \(r.status) without Content-Length")
                }
                guard rest.count >= length else { throw RawClient.ClientError.malformed("body cut short") }
                r.body = Array(rest.prefix(length))
                rest = rest.dropFirst(length)
            }
            out.append(r)
        }
        return out
    }

    func testThreeThousandMutatedRequestsGetWellFormedAnswers() throws {
        var limits = ServerLimits()
        limits.headerTimeout = .seconds(2)
        limits.maxBodyBytes = 64 * 1024
        let handled = Counter()
        let server = try LiveServer(limits: limits) { request in
            handled.add()
            return HTTPResponse(status: 200, headers: ["Content-Type": "text/plain"], text: request.method == "HEAD" ? "" : "ok \(request.body.count)")
        }
        defer { server.stop() }
        var mutator = RequestMutator(rng: SeededGenerator(seed: 0x11FE))
        var statuses: [Int: Int] = [:]
        for i in 0..<3000 {
            let input = mutator.next()
            let c = try server.client()
            try? c.send(input)
            c.shutdownWrite()
            let answer = c.readToEnd(timeout: 5)
            do {
                for r in try Self.responses(in: answer) {
                    statuses[r.status, default: 0] += 1
                    if r.status >= 400 { XCTAssertEqual(r.header("Connection")?.lowercased(), "close", "input \(i)") }
                }
            } catch {
                XCTFail("input \(i) \(String(decoding: input.prefix(200), as: UTF8.self).debugDescription): \(error)\n\(String(decoding: answer.prefix(400), as: UTF8.self))")
            }
        }
        XCTAssertGreaterThan(statuses[200] ?? 0, 300, "statuses: \(statuses)")
        XCTAssertGreaterThan(statuses[400] ?? 0, 300, "statuses: \(statuses)")
        XCTAssertTrue(statuses.keys.allSatisfy { [100, 200, 400, 408, 413, 414, 431, 501, 505].contains($0) }, "statuses: \(statuses)")

        // Still serving, and nothing left open.
        let c = try server.client()
        XCTAssertEqual(try c.exchange("GET /alive HTTP/1.1\r\nHost: t\r\n\r\n").text, "ok 0")
        c.close()
        XCTAssertTrue(eventually(timeout: 5) { server.server.openConnections == 0 }, "open: \(server.server.openConnections)")
    }

    /// The same inputs cut into random pieces with pauses: the server's incremental reading must
    /// reach the same verdict on the first request as with one write. (Later pipelined requests
    /// race with the client's half-close, so only the first verdict is deterministic.)
    func testSplitDeliveryGetsTheSameAnswerAsOneWrite() throws {
        // HEAD answers carry no body, so the answer stream stays parseable without knowing the method.
        let server = try LiveServer { request in .text(request.method == "HEAD" ? "" : "ok \(request.method) \(request.target) \(request.body.count)") }
        defer { server.stop() }
        var mutator = RequestMutator(rng: SeededGenerator(seed: 0x5EED))
        var rng = SeededGenerator(seed: 99)
        var compared = 0
        while compared < 150 {
            let input = mutator.next()
            guard input.count < 4000 else { continue }
            func answer(_ pieces: [ArraySlice<UInt8>]) throws -> Int? {
                let c = try server.client()
                for p in pieces {
                    try? c.send(Array(p))
                    usleep(2000)
                }
                c.shutdownWrite()
                return try Self.responses(in: c.readToEnd(timeout: 5)).first { $0.status != 100 }?.status
            }
            let whole = try answer([input[...]])
            let cut = Int(rng.next() % UInt64(input.count + 1))
            let split = try answer([input[..<cut], input[cut...]])
            XCTAssertEqual(whole, split, "split at \(cut): \(String(decoding: input, as: UTF8.self).debugDescription)")
            compared += 1
        }
    }
}
