// libFuzzer target: SSE decoder + JSON parser/writer.
// Built by scripts/fuzz.sh together with Sources/OpenAIWire/{SSEDecoder,JSONValue,JSONParser,JSONWriter}.swift.
//
// Properties checked:
// - JSON: for any input the parser accepts, parse → write → parse gives an equal value and
//   writing that value again gives the same bytes (the writer is a fixed point);
// - SSE: decoding the input whole, in data-derived pieces, and byte by byte yields the same events
//   and the same overflow verdict; every event that is JSON round-trips as above.

@inline(__always) func check(_ condition: Bool, _ message: @autoclosure () -> String) {
    if !condition { fatalError("property violated: \(message())") }
}

func roundTrip(_ bytes: [UInt8]) {
    guard let first = try? JSONParser.parse(bytes) else { return }
    let written = JSONWriter.bytes(first)
    let second: JSONValue
    do { second = try JSONParser.parse(written) } catch {
        fatalError("writer output does not parse (\(error)): \(String(decoding: written, as: UTF8.self))")
    }
    check(first == second, "round trip changed the value: \(String(decoding: written, as: UTF8.self))")
    let rewritten = JSONWriter.bytes(second)
    check(rewritten == written, "writer not stable: \(String(decoding: written, as: UTF8.self)) vs \(String(decoding: rewritten, as: UTF8.self))")
    check(JSONWriter.string(first) == String(decoding: written, as: UTF8.self), "string(_:) differs from bytes(_:)")
    _ = first.typeName
    _ = first.intValue
}

struct SSEOutcome: Equatable {
    var events: [[UInt8]]
    var overflow: Bool
    var partial: Bool
}

func decodeSSE(_ bytes: [UInt8], bounds: [Int], maxEvent: Int) -> SSEOutcome {
    var decoder = SSEDecoder(maxEventBytes: maxEvent)
    var events: [[UInt8]] = []
    var start = 0
    var ends = bounds.filter { $0 > 0 && $0 < bytes.count }.sorted()
    ends.append(bytes.count)
    for end in ends where end >= start {
        do {
            events += try decoder.feed(bytes[start..<end]).map { Array($0.utf8) }
        } catch {
            // Events completed in the same feed call are lost with the throw, so only the verdict compares.
            return SSEOutcome(events: [], overflow: true, partial: false)
        }
        start = end
    }
    return SSEOutcome(events: events, overflow: false, partial: decoder.hasPartialEvent)
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    roundTrip(bytes)

    guard size >= 1 else { return 0 }
    let maxEvent = 8 + Int(data[0]) * 16
    let sse = Array(bytes.dropFirst())
    let whole = decodeSSE(sse, bounds: [], maxEvent: maxEvent)
    let k = Int(data[0])
    let split = decodeSSE(sse, bounds: [k, k * 5 + 1, sse.count / 3, sse.count - 1], maxEvent: maxEvent)
    check(whole == split, "SSE whole \(whole) vs split \(split)")
    let bytewise = decodeSSE(sse, bounds: Array(0..<sse.count), maxEvent: maxEvent)
    check(whole == bytewise, "SSE whole \(whole) vs byte by byte \(bytewise)")
    for event in whole.events { roundTrip(event) }
    return 0
}
