/// Incremental Server-Sent Events decoder for upstream streams: feed bytes in any split, get the
/// `data` payload of each complete event. Comments (`: ping`) and other fields are skipped.
public struct SSEDecoder: Sendable {
    public struct Overflow: Error, Sendable {}

    private var line: [UInt8] = []
    private var data: [UInt8] = []
    private var hasData = false
    private var lastWasCR = false
    public let maxEventBytes: Int

    public init(maxEventBytes: Int = 8 << 20) { self.maxEventBytes = maxEventBytes }

    /// Returns the data of every event completed by `bytes`.
    public mutating func feed<C: Collection>(_ bytes: C) throws(Overflow) -> [String] where C.Element == UInt8 {
        var events: [String] = []
        for b in bytes {
            if b == 0x0A && lastWasCR { lastWasCR = false; continue }
            lastWasCR = b == 0x0D
            if b == 0x0A || b == 0x0D {
                if let event = endLine() { events.append(event) }
            } else {
                line.append(b)
                if line.count + data.count > maxEventBytes { throw Overflow() }
            }
        }
        return events
    }

    /// True when bytes of an unfinished event are pending (a stream cut mid-event).
    public var hasPartialEvent: Bool { !line.isEmpty || hasData }

    private mutating func endLine() -> String? {
        defer { line.removeAll(keepingCapacity: true) }
        if line.isEmpty {
            guard hasData else { return nil }
            let event = String(decoding: data, as: UTF8.self)
            data.removeAll(keepingCapacity: true)
            hasData = false
            return event
        }
        if line.first == UInt8(ascii: ":") { return nil }
        let colon = line.firstIndex(of: UInt8(ascii: ":")) ?? line.endIndex
        guard line[..<colon].elementsEqual("data".utf8) else { return nil }
        var valueStart = colon == line.endIndex ? colon : colon + 1
        if valueStart < line.endIndex, line[valueStart] == 0x20 { valueStart += 1 }
        if hasData { data.append(0x0A) }
        data.append(contentsOf: line[valueStart...])
        hasData = true
        return nil
    }
}
