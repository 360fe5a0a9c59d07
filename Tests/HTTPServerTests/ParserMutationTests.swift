import HTTP1Codec
import XCTest
@testable import HTTPServer
@testable import TestSupport

/// Randomised robustness of the request parsers (fixed seed: every run sees the same inputs).
final class ParserMutationTests: XCTestCase {
    func testHundredThousandMutatedHeadsGiveAHeadOrAnErrorStatus() {
        let parser = RequestHeadParser()
        var mutator = RequestMutator(rng: SeededGenerator(seed: 0x4859_4452_41))
        var counts = (complete: 0, failure: 0, incomplete: 0)
        var statuses: Set<Int> = []
        for i in 0..<100_000 {
            let input = mutator.next()
            switch parser.parse(input[...]) {
            case .complete(let head, let consumed):
                counts.complete += 1
                XCTAssertTrue(consumed > 0 && consumed <= input.count, "input \(i): consumed \(consumed) of \(input.count)")
                XCTAssertFalse(head.method.isEmpty)
                XCTAssertFalse(head.target.isEmpty)
                if case .length(let n) = head.framing { XCTAssertGreaterThan(n, 0) }
                if head.framing != .none { XCTAssertTrue(head.version == .http11 || head.headers["Transfer-Encoding"] == nil) }
                // Whatever follows the head must not crash the body decoder either.
                if head.framing == .chunked {
                    var decoder = ChunkedDecoder(maxBodyBytes: 1 << 16)
                    do { _ = try decoder.feed(input[consumed...]) } catch {
                        XCTAssertTrue((400..<600).contains(HTTPParseError(error).status), "input \(i): chunked status \(HTTPParseError(error).status)")
                    }
                }
            case .failure(let error):
                counts.failure += 1
                statuses.insert(error.status)
                XCTAssertTrue((400..<600).contains(error.status), "input \(i): status \(error.status)")
                XCTAssertFalse(error.message.isEmpty)
            case .incomplete:
                counts.incomplete += 1
                // Completing the section must settle it one way or the other.
                let closed = input + Array("\r\n\r\n".utf8)
                if closed.contains(where: { $0 != 0x0D && $0 != 0x0A }) {
                    if case .incomplete = parser.parse(closed[...]) {
                        XCTFail("input \(i) stays incomplete after a blank line: \(String(decoding: input.prefix(200), as: UTF8.self).debugDescription)")
                    }
                }
            }
            // Prefix consistency on a sample: a complete prefix means a complete whole, same head.
            if i % 50 == 0, input.count > 1 {
                let k = mutator.int(input.count)
                if case .complete(let a, let n) = parser.parse(input[..<k]) {
                    guard case .complete(let b, let m) = parser.parse(input[...]) else { return XCTFail("input \(i): prefix complete, whole not") }
                    XCTAssertEqual(n, m)
                    XCTAssertEqual(a.target, b.target)
                }
            }
        }
        // The corpus must actually exercise every outcome, or the test proves little.
        XCTAssertGreaterThan(counts.complete, 10_000)
        XCTAssertGreaterThan(counts.failure, 10_000)
        XCTAssertGreaterThan(counts.incomplete, 1_000)
        XCTAssertTrue(statuses.isSuperset(of: [400, 414, 501, 505]), "statuses seen: \(statuses.sorted())")
    }

    func testHundredThousandMutatedChunkedBodiesNeverCrash() {
        var rng = SeededGenerator(seed: 7)
        var mutator = RequestMutator(rng: SeededGenerator(seed: 0xC4_0C4E))
        let seeds = ["5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", "a;x=1\r\n0123456789\r\n0\r\nT: v\r\n\r\n", "1\r\n\0\r\n0\r\n\r\n"].map { Array($0.utf8) }
        var outcomes = [0, 0, 0]
        for i in 0..<100_000 {
            let input = mutator.mutate(seeds[i % seeds.count])
            var decoder = ChunkedDecoder(maxBodyBytes: 1 << 12)
            var buffer: [UInt8] = []
            var cursor = 0
            var failed = false
            while cursor < input.count, !decoder.isComplete {
                let end = min(input.count, cursor + 1 + Int(rng.next() % 8))
                buffer.append(contentsOf: input[cursor..<end])
                cursor = end
                do {
                    let used = try decoder.feed(buffer[...])
                    XCTAssertLessThanOrEqual(used, buffer.count)
                    buffer.removeFirst(used)
                } catch {
                    XCTAssertTrue([400, 413, 431].contains(HTTPParseError(error).status), "input \(i): status \(HTTPParseError(error).status)")
                    failed = true
                    break
                }
            }
            XCTAssertLessThanOrEqual(decoder.body.count, 1 << 12)
            outcomes[failed ? 0 : decoder.isComplete ? 1 : 2] += 1
        }
        XCTAssertTrue(outcomes.allSatisfy { $0 > 1000 }, "failed/complete/incomplete: \(outcomes)")
    }
}
