import XCTest
@testable import Upstream

/// The upstream's response head, parsed as hostile input (the fuzz target `upstream` found the
/// last two).
final class ResponseHeadTests: XCTestCase {
    func parse(_ text: String) throws -> ResponseHead? { try ResponseHead.parse(Array(text.utf8)) }

    func testStatusesOutsideHTTPsRangeAndSmuggledBytesAreRefused() {
        for bad in ["HTTP/1.1 600 X\r\n\r\n", "HTTP/1.1 999 X\r\n\r\n", "HTTP/1.1 099 X\r\n\r\n", "HTTP/1.1 2OO OK\r\n\r\n",
                    "HTTP/1.1 200 OK\r\nContent-Type: a\rSet-Cookie: x=1\r\n\r\n", "HTTP/1.1 200 OK\r\nX: a\u{0}b\r\n\r\n",
                    "HTTP/1.1 200 OK\r\nContent-Length: +2\r\n\r\n", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n",
                    "HTTP/1.1 200 OK\r\nBad Name: 1\r\n\r\n"] {
            XCTAssertThrowsError(try parse(bad), bad.debugDescription)
        }
        XCTAssertEqual(try parse("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\n")?.framing(method: "POST"), .length(2))
    }

    func testAHeadArrivingWholeIsHeldToTheSizeLimit() {
        let big = "HTTP/1.1 200 OK\r\n" + String(repeating: "X-Filler: " + String(repeating: "a", count: 1000) + "\r\n", count: 100) + "\r\n"
        XCTAssertThrowsError(try parse(big), "a 100 KiB head in one read passed the 64 KiB limit")
    }

    func testDoneIsRecognisedWhateverLineEndFollowsIt() {
        XCTAssertEqual("[DONE]\n".trimmingCharacters(" \t\r\n"), "[DONE]")
        XCTAssertEqual("\r\n [DONE]\r".trimmingCharacters(" \t\r\n"), "[DONE]")
    }
}
