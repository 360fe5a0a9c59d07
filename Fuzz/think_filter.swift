// libFuzzer target: the streaming <think>…</think> filter.
// Built by scripts/fuzz.sh together with Sources/Pipeline/ThinkFilter.swift.
//
// Properties checked:
// - feeding the text in data-derived pieces (split on Unicode scalar boundaries, as pieces are
//   whole Strings) gives byte-for-byte the same output as feeding it whole, and as `strip`;
// - text without an opening tag passes through unchanged.

@inline(__always) func check(_ condition: Bool, _ message: @autoclosure () -> String) {
    if !condition { fatalError("property violated: \(message())") }
}

func contains(_ haystack: [UInt8], _ needle: [UInt8]) -> Bool {
    guard haystack.count >= needle.count else { return false }
    for i in 0...(haystack.count - needle.count) where haystack[i..<(i + needle.count)].elementsEqual(needle) { return true }
    return false
}

func run(_ scalars: [Unicode.Scalar], cuts: [Int]) -> [UInt8] {
    var filter = ThinkFilter()
    var out: [UInt8] = []
    var start = 0
    var ends = cuts.filter { $0 > 0 && $0 < scalars.count }.sorted()
    ends.append(scalars.count)
    for end in ends where end >= start {
        var piece = String.UnicodeScalarView()
        piece.append(contentsOf: scalars[start..<end])
        out += Array(filter.feed(String(piece)).utf8)
        start = end
    }
    out += Array(filter.finish().utf8)
    return out
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    guard size >= 2 else { return 0 }
    let a = Int(data[0]), b = Int(data[1])
    let text = String(decoding: UnsafeBufferPointer(start: data + 2, count: size - 2), as: UTF8.self)
    let scalars = Array(text.unicodeScalars)
    let n = scalars.count
    let whole = run(scalars, cuts: [])
    let once = run(scalars, cuts: [n * a / 256])
    check(whole == once, "split at \(n * a / 256) gives \(String(decoding: once, as: UTF8.self).debugDescription), whole gives \(String(decoding: whole, as: UTF8.self).debugDescription)")
    let many = run(scalars, cuts: [a % (n + 1), b % (n + 1), (a * b) % (n + 1), n - 1])
    check(whole == many, "multi-split gives \(String(decoding: many, as: UTF8.self).debugDescription), whole gives \(String(decoding: whole, as: UTF8.self).debugDescription)")
    if b & 3 == 0 {
        let each = run(scalars, cuts: Array(0..<n))
        check(whole == each, "scalar-by-scalar gives \(String(decoding: each, as: UTF8.self).debugDescription), whole gives \(String(decoding: whole, as: UTF8.self).debugDescription)")
    }
    check(Array(ThinkFilter.strip(text).utf8) == whole, "strip differs from feed+finish")
    // Text without an opening tag passes through untouched. (Removing a block may join its
    // neighbours into tag-like text, e.g. "<thi<think>x</think>nk>"; that is by design.)
    if !contains(Array(text.utf8), Array("<think>".utf8)) {
        check(whole == Array(text.utf8), "text without <think> was changed: input \(text.debugDescription) output \(String(decoding: whole, as: UTF8.self).debugDescription)")
    }
    return 0
}
