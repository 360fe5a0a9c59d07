/// Incremental decoder for `Transfer-Encoding: chunked` bodies. Feed it bytes in any split; it
/// appends payload to `body` and reports when the last chunk and trailers are read.
///
/// Every line must end in CRLF (RFC 9112 §7.1): a peer that also took a bare LF would see other
/// chunk boundaries than one that does not, and the bytes after the body could be read as a
/// smuggled request.
public struct ChunkedDecoder: Sendable {
    /// Why a chunked body was refused; the server and the upstream client each map it to their own error.
    public enum Failure: Error, Sendable, Equatable {
        case malformed(String)
        case bodyTooLarge
        case trailersTooLarge
    }

    private enum State: Sendable {
        case size(digits: Int, value: Int, inExtension: Bool)
        case sizeLF(value: Int)
        case data(remaining: Int)
        case dataCR
        case dataLF
        case trailerLineStart
        case trailerLine
        case trailerLF
        case finalLF
        case done
    }

    private var state = State.size(digits: 0, value: 0, inExtension: false)
    private var trailerBytes = 0
    public let maxBodyBytes: Int
    public private(set) var body: [UInt8] = []
    private var total = 0

    public init(maxBodyBytes: Int) { self.maxBodyBytes = maxBodyBytes }

    /// Hands over the payload decoded so far (for bodies consumed as they stream).
    public mutating func takeBody() -> [UInt8] {
        defer { body = [] }
        return body
    }

    public var isComplete: Bool { if case .done = state { return true }; return false }

    /// Consumes bytes from `input`; returns how many were used (fewer than given only when done).
    public mutating func feed(_ input: ArraySlice<UInt8>) throws(ChunkedDecoder.Failure) -> Int {
        var i = input.startIndex
        while i < input.endIndex {
            let c = input[i]
            switch state {
            case .done:
                return i - input.startIndex
            case .size(let digits, let value, let inExtension):
                if c == 0x0D {
                    guard digits > 0 else { throw .malformed("invalid chunk size") }
                    state = .sizeLF(value: value)
                } else if c == 0x0A {
                    throw .malformed("chunk size line ends in a bare LF")
                } else if inExtension {
                    guard c >= 0x20 || c == 0x09 else { throw .malformed("invalid chunk extension") }
                } else if let h = hexValue(c) {
                    guard digits < 15 else { throw .malformed("chunk size too long") }
                    state = .size(digits: digits + 1, value: value << 4 | h, inExtension: false)
                } else if c == 0x3B || c == 0x20 || c == 0x09 {
                    guard digits > 0 else { throw .malformed("invalid chunk size") }
                    state = .size(digits: digits, value: value, inExtension: true)
                } else {
                    throw .malformed("invalid chunk size")
                }
            case .sizeLF(let value):
                guard c == 0x0A else { throw .malformed("chunk size line not terminated") }
                try endSizeLine(value: value)
            case .data(let remaining):
                let take = min(remaining, input.endIndex - i)
                body.append(contentsOf: input[i..<(i + take)])
                total += take
                i += take
                state = remaining - take == 0 ? .dataCR : .data(remaining: remaining - take)
                continue
            case .dataCR:
                guard c == 0x0D else { throw .malformed("chunk data not terminated by CRLF") }
                state = .dataLF
            case .dataLF:
                guard c == 0x0A else { throw .malformed("chunk data not terminated") }
                state = .size(digits: 0, value: 0, inExtension: false)
            case .trailerLineStart:
                if c == 0x0D { state = .finalLF } else if c == 0x0A { throw .malformed("trailer section ends in a bare LF") }
                else { state = .trailerLine; try countTrailer() }
            case .trailerLine:
                try countTrailer()
                if c == 0x0D { state = .trailerLF } else if c == 0x0A { throw .malformed("trailer line ends in a bare LF") }
            case .trailerLF:
                try countTrailer()
                guard c == 0x0A else { throw .malformed("trailer line not terminated by CRLF") }
                state = .trailerLineStart
            case .finalLF:
                guard c == 0x0A else { throw .malformed("trailer section not terminated") }
                state = .done
            }
            i += 1
        }
        return i - input.startIndex
    }

    private mutating func endSizeLine(value: Int) throws(ChunkedDecoder.Failure) {
        if value == 0 {
            state = .trailerLineStart
        } else {
            guard total + value <= maxBodyBytes else { throw .bodyTooLarge }
            state = .data(remaining: value)
        }
    }

    private mutating func countTrailer() throws(ChunkedDecoder.Failure) {
        trailerBytes += 1
        if trailerBytes > 64 * 1024 { throw .trailersTooLarge }
    }

    private func hexValue(_ c: UInt8) -> Int? {
        switch c {
        case 0x30...0x39: return Int(c - 0x30)
        case 0x41...0x46: return Int(c - 0x41 + 10)
        case 0x61...0x66: return Int(c - 0x61 + 10)
        default: return nil
        }
    }
}
