@testable import TestSupport
/// Mutates valid HTTP requests into plausible-but-hostile ones.
struct RequestMutator {
    var rng: SeededGenerator

    static let seeds: [[UInt8]] = [
        "GET / HTTP/1.1\r\nHost: h\r\n\r\n",
        "GET /v1/models HTTP/1.1\r\nHost: localhost:3101\r\nAccept: application/json\r\nConnection: keep-alive\r\n\r\n",
        "POST /v1/chat/completions HTTP/1.1\r\nHost: h\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{\"a\":[1,2]}",
        "POST /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n3;x=y\r\nabc\r\n0\r\nT: 1\r\n\r\n",
        "POST /c HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\nbody",
        "GET /old HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
        "HEAD /h HTTP/1.1\r\nHost: h\r\nX-Multi: a\r\nx-multi: b\r\n\r\n",
        "GET /a HTTP/1.1\r\nHost: h\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
    ].map { Array($0.utf8) }

    static let tokens: [[UInt8]] = [
        "\r\n", "\n", "\r", "\r\n\r\n", ":", " ", "\t", "\0", "\u{7F}", "HTTP/1.1", "HTTP/1.0", "HTTP/2.0",
        "Content-Length: ", "Transfer-Encoding: chunked\r\n", "Content-Length: 99999999999999999999\r\n",
        "Content-Length: -1\r\n", "Expect: 100-continue\r\n", "Connection: close\r\n", "Host: x\r\n",
        "ffffffffffffffff\r\n", "0\r\n\r\n", ";", ",", "chunked", "%00", "\u{FF}\u{FE}",
    ].map { Array($0.utf8) }

    mutating func int(_ upper: Int) -> Int { upper <= 0 ? 0 : Int(rng.next() % UInt64(upper)) }

    mutating func mutate(_ input: [UInt8]) -> [UInt8] {
        var b = input
        for _ in 0..<(1 + int(4)) {
            let at = int(b.count + 1)
            switch int(9) {
            case 0 where !b.isEmpty: b[min(at, b.count - 1)] ^= UInt8(1 << int(8))              // flip a bit
            case 1 where !b.isEmpty: b[min(at, b.count - 1)] = UInt8(truncatingIfNeeded: rng.next()) // random byte
            case 2 where !b.isEmpty: b.remove(at: min(at, b.count - 1))                             // delete
            case 3: b.insert(UInt8(truncatingIfNeeded: rng.next()), at: at)                         // insert
            case 4: b.insert(contentsOf: Self.tokens[int(Self.tokens.count)], at: at)               // token
            case 5 where b.count > 1:                                                               // duplicate a range
                let from = int(b.count), len = min(int(64) + 1, b.count - from)
                b.insert(contentsOf: b[from..<(from + len)], at: at)
            case 6: b = Array(b.prefix(at))                                                          // truncate
            case 7: b.insert(contentsOf: [UInt8](repeating: UInt8(ascii: "a"), count: int(12) == 0 ? 9000 : int(200)), at: at) // long run
            default:
                if !b.isEmpty { b[min(at, b.count - 1)] = [0x0D, 0x0A, 0x20, 0x3A, 0x30, 0x66][int(6)] }
            }
        }
        return b
    }

    mutating func next() -> [UInt8] { mutate(Self.seeds[int(Self.seeds.count)]) }
}
