import XCTest
@testable import HTTPServer
@testable import TestSupport

/// Whatever header fields a handler returns (perhaps copied from an upstream or from user input),
/// the response head stays well-formed: no field can inject another field or end the head.
final class ResponseHeadSafetyTests: XCTestCase {
    func testFieldWithCRInItsValueIsDropped() throws {
        let server = try LiveServer { _ in
            HTTPResponse(status: 200, headers: ["Content-Type": "application/json\rSet-Cookie: hijacked=1", "X-Fine": "yes"], text: "{}")
        }
        defer { server.stop() }
        let c = try server.client()
        try c.send("GET / HTTP/1.1\r\nHost: t\r\n\r\nGET /again HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        let raw = c.readToEnd(timeout: 3)
        XCTAssertFalse(String(decoding: raw, as: UTF8.self).contains("hijacked"), String(decoding: raw, as: UTF8.self))
        // Both responses parse strictly, one after the other.
        let responses = try LiveMutationTests.responses(in: raw)
        XCTAssertEqual(responses.map(\.status), [200, 200])
        XCTAssertEqual(responses.map(\.text), ["{}", "{}"])
        XCTAssertEqual(responses.first?.header("X-Fine"), "yes")
        XCTAssertNil(responses.first?.header("Content-Type"))
    }

    func testEncoderDropsFieldsThatAreNotTokensOrHaveControlCharacters() {
        let headers: HTTPHeaders = [
            "Good": "value with\ttab and obs-text \u{E9}",
            "Bad Name": "v", "": "empty name", "X:Y": "colon", "X\r\nInjected": "v",
            "LF": "a\nInjected: 1", "NUL": "a\u{0}b", "DEL": "a\u{7F}b", "VT": "a\u{0B}b",
        ]
        let head = String(decoding: ResponseEncoder.head(status: 200, headers: headers, version: .http11), as: UTF8.self)
        XCTAssertEqual(head, "HTTP/1.1 200 OK\r\nGood: value with\ttab and obs-text \u{E9}\r\n\r\n")
    }
}
