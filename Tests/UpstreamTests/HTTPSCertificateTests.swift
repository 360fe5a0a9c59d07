import FakeUpstream
import Foundation
import OpenAIWire
import Sockets
import TLS
import Upstream
import XCTest
@testable import TestSupport

/// Certificate verdicts over https: what is refused, and the words the 502 will carry.
extension HTTPSTransportTests {
    // MARK: Certificate verdicts

    /// Only an unrelated CA trusted (`SSL_CERT_FILE` = it): unknown CA, and no request is sent.
    func testAnUnknownCAIsRefusedAndNamed() async throws {
        let upstream = try rawUpstream { connection in
            connection.readRequest()
            connection.respond(body: completionJSON())
        }
        let client = HTTP1Client(tls: try TLSContext(client: true, caFile: certificates.otherCA))
        let error = await failure(ChatUpstream(transport: client, idleTimeout: .seconds(5)), try upstream.endpoint(), stream: false)
        guard case .unreachable(let why)? = error else { return XCTFail("expected unreachable, got \(String(describing: error))") }
        XCTAssertTrue(why.contains("TLS handshake with https://localhost:\(upstream.front.port) failed"), why)
        XCTAssertTrue(why.contains("unknown CA"), why)
        XCTAssertEqual(upstream.raw.connectionsAccepted, 0, "a request went over a connection that failed verification")
    }

    /// A certificate of our CA for another name: name mismatch, by host name and by IP.
    func testAWrongHostNameIsRefusedAndNamed() async throws {
        let upstream = try rawUpstream(certificates.wrongName) { connection in
            connection.readRequest()
            connection.respond(body: completionJSON())
        }
        let u = ChatUpstream(transport: try trustingClient(), idleTimeout: .seconds(5))
        for host in ["localhost", "127.0.0.1"] {
            let error = await failure(u, try upstream.endpoint(host: host), stream: false)
            guard case .unreachable(let why)? = error else { XCTFail("\(host): expected unreachable, got \(String(describing: error))"); continue }
            XCTAssertTrue(why.contains("TLS handshake with https://\(host):\(upstream.front.port) failed"), why)
            XCTAssertTrue(why.contains("name mismatch"), why)
        }
        XCTAssertEqual(upstream.raw.connectionsAccepted, 0)
    }

    /// A certificate of our CA for the right names that expired in 2020: certificate expired.
    func testAnExpiredCertificateIsRefusedAndNamed() async throws {
        let upstream = try rawUpstream(certificates.expired) { connection in
            connection.readRequest()
            connection.respond(body: completionJSON())
        }
        let u = ChatUpstream(transport: try trustingClient(), idleTimeout: .seconds(5))
        let error = await failure(u, try upstream.endpoint(), stream: false)
        guard case .unreachable(let why)? = error else { return XCTFail("expected unreachable, got \(String(describing: error))") }
        XCTAssertTrue(why.contains("certificate expired"), why)
        XCTAssertEqual(upstream.raw.connectionsAccepted, 0)
    }

    /// The test CA's certificate for `localhost` + `IP:127.0.0.1` verifies by either name
    /// (SNI and host-name check for the name, IP check for the address).
    func testTheServerCertificateVerifiesByNameAndByAddress() async throws {
        let upstream = try rawUpstream { connection in
            while connection.readRequest() != nil { connection.respond(body: completionJSON(content: "verified")) }
        }
        let u = ChatUpstream(transport: try trustingClient(), idleTimeout: .seconds(5))
        for host in ["localhost", "127.0.0.1"] {
            let object = try await u.complete(try upstream.endpoint(host: host), body: Self.body)
            XCTAssertEqual(object["choices"]?.arrayValue?.first?["message"]?["content"]?.stringValue, "verified", host)
        }
    }

    /// `UPSTREAM_TLS_VERIFY=false` (`TLSContext(client: false)`): the wrong-name, the expired
    /// and the unknown-CA certificates are all accepted; a verifying client refuses the same fronts.
    func testVerificationOffAcceptsWhatVerificationRefuses() async throws {
        let unverified = ChatUpstream(transport: HTTP1Client(tls: try TLSContext(client: false)), idleTimeout: .seconds(5))
        let verifying = ChatUpstream(transport: HTTP1Client(tls: try TLSContext(client: true, caFile: certificates.otherCA)), idleTimeout: .seconds(5))
        for (name, pair) in [("wrong name", certificates.wrongName), ("expired", certificates.expired), ("unknown CA", certificates.server)] {
            let upstream = try rawUpstream(pair) { connection in
                while connection.readRequest() != nil { connection.respond(body: completionJSON(content: "unverified")) }
            }
            let refused = await failure(verifying, try upstream.endpoint(), stream: false)
            XCTAssertEqual(refused?.kind, "unreachable", "\(name): a verifying client accepted it")
            do {
                let object = try await unverified.complete(try upstream.endpoint(), body: Self.body)
                XCTAssertEqual(object["choices"]?.arrayValue?.first?["message"]?["content"]?.stringValue, "unverified", name)
            } catch {
                XCTFail("\(name): refused with verification off: \(error)")
            }
        }
    }
}
