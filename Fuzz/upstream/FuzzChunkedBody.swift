// Part of the `upstream` fuzz target (Fuzz/upstream.swift): built together with it.

// MARK: - Chunked body, read as HTTP1BodyReader reads it

struct BodyOutcome: Equatable {
    var body: [UInt8]
    var complete: Bool
    var used: Int
    var error: String?   // ChunkedDecoder's error, described
}

func readChunked(_ parts: [[UInt8]]) -> BodyOutcome {
    var decoder = ChunkedDecoder(maxBodyBytes: Int.max)
    var body: [UInt8] = []
    var used = 0
    for part in parts {
        var pending = part
        do {
            let n = try decoder.feed(pending[...])
            check(n >= 0 && n <= pending.count, "feed used \(n) of \(pending.count)")
            if n < pending.count { check(decoder.isComplete, "feed stopped short (\(n)/\(pending.count)) but is not complete") }
            pending.removeFirst(n)
            used += n
            let piece = decoder.takeBody()
            check(decoder.body.isEmpty, "takeBody left \(decoder.body.count) bytes behind")
            body += piece
            if decoder.isComplete { return BodyOutcome(body: body, complete: true, used: used, error: nil) }
        } catch {
            return BodyOutcome(body: [], complete: false, used: -1, error: "\(error)")
        }
    }
    return BodyOutcome(body: body, complete: false, used: used, error: nil)
}

func fuzzChunked(_ k: Int, _ bytes: [UInt8]) -> BodyOutcome {
    let whole = readChunked([bytes])
    let split = readChunked(pieces(bytes, at: cuts(k, count: bytes.count)))
    check(whole == split, "chunked whole \(whole) vs split \(split)")
    if bytes.count <= bytewiseLimit {
        let bytewise = readChunked(bytes.map { [$0] })
        check(whole == bytewise, "chunked whole \(whole) vs byte by byte \(bytewise)")
    }
    return whole
}
