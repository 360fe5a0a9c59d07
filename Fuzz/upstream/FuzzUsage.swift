// Part of the `upstream` fuzz target (Fuzz/upstream.swift): built together with it.

// MARK: - Usage

/// Saturating sum of two non-negative counts, computed independently of Usage.
func satAdd(_ a: Int, _ b: Int) -> Int { a > Int.max - b ? Int.max : a + b }

func checkUsage(_ u: Usage, _ context: @autoclosure () -> String) {
    check(u.promptTokens >= 0 && u.completionTokens >= 0 && u.totalTokens >= 0, "negative count in \(u) from \(context())")
    check(Usage(u.json) == u, "Usage(json) does not round-trip: \(u) -> \(JSONWriter.string(u.json))")
}

/// Usage(JSONValue) on what an upstream sent: the counts when valid, nil otherwise.
func usageFromJSON(_ value: JSONValue?) -> Usage? {
    let u = Usage(value)
    let p = value?["prompt_tokens"]?.intValue, c = value?["completion_tokens"]?.intValue
    guard let u else { return nil }
    checkUsage(u, "\(JSONWriter.string(value ?? .null))")
    check(u.promptTokens == p && u.completionTokens == c, "counts changed: \(u) from \(JSONWriter.string(value ?? .null))")
    if let t = value?["total_tokens"]?.intValue, t >= 0 {
        check(u.totalTokens == t, "valid total_tokens \(t) not kept: \(u)")
    } else {
        check(u.totalTokens == satAdd(u.promptTokens, u.completionTokens), "missing/invalid total not recomputed: \(u)")
    }
    return u
}

func add(_ a: Usage, _ b: Usage) -> Usage {
    let s = a + b
    checkUsage(s, "\(a) + \(b)")
    check(s.promptTokens == satAdd(a.promptTokens, b.promptTokens) && s.completionTokens == satAdd(a.completionTokens, b.completionTokens)
          && s.totalTokens == satAdd(a.totalTokens, b.totalTokens), "\(a) + \(b) = \(s) is not the saturating sum")
    check(b + a == s, "+ is not commutative: \(a), \(b)")
    return s
}

func fuzzUsage(_ k: Int, _ bytes: [UInt8]) {
    var list: [Usage] = []
    if k & 1 == 1 {
        // Raw counts (what a caller could build from any Int): 8-byte little-endian triples.
        var i = 0
        while i + 16 <= bytes.count && list.count < 16 {
            func int(_ at: Int) -> Int { (0..<8).reduce(0) { $0 | Int(bytes[at + $1]) << (8 * $1) } }
            let hasTotal = i + 24 <= bytes.count && bytes[i] & 1 == 1
            let u = Usage(promptTokens: int(i), completionTokens: int(i + 8), totalTokens: hasTotal ? int(i + 16) : nil)
            checkUsage(u, "raw counts at \(i)")
            list.append(u)
            i += hasTotal ? 24 : 16
        }
    } else {
        guard let value = try? JSONParser.parse(bytes) else { return }
        let values = value.arrayValue ?? [value]
        list = values.prefix(64).compactMap(usageFromJSON)
        _ = Usage(nil)
    }
    guard var sum = list.first else { return }
    for u in list.dropFirst() { sum = add(sum, u) }
    // Saturating addition of non-negative counts is associative: any grouping gives the same sum.
    if list.count >= 3 {
        let right = add(list[0], list.dropFirst().dropFirst().reduce(list[1]) { add($0, $1) })
        check(right == sum, "sum depends on grouping: \(sum) vs \(right)")
    }
}
