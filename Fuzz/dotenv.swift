// libFuzzer target: the .env parser.
// Built by scripts/fuzz.sh together with Sources/HydraCodeDone/Config/DotEnv.swift.
//
// Properties checked:
// - the parser never crashes, and every key it returns is a non-empty valid variable name;
// - whatever it accepts can be written back as KEY="escaped value" lines (the form a user would
//   write for arbitrary values) and parses back to exactly the same pairs;
// - a parse error names a line within the text.

@inline(__always) func check(_ condition: Bool, _ message: @autoclosure () -> String) {
    if !condition { fatalError("property violated: \(message())") }
}

func quoted(_ value: String) -> String {
    var out = "\""
    for s in value.unicodeScalars {
        switch s {
        case "\\": out += "\\\\"
        case "\"": out += "\\\""
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        default: out.unicodeScalars.append(s)
        }
    }
    return out + "\""
}

func same(_ a: [(key: String, value: String)], _ b: [(key: String, value: String)]) -> Bool {
    a.count == b.count && zip(a, b).allSatisfy { x, y in
        Array(x.key.unicodeScalars) == Array(y.key.unicodeScalars) && Array(x.value.unicodeScalars) == Array(y.value.unicodeScalars)
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    let lines = text.unicodeScalars.filter { $0 == "\n" }.count + 1
    let pairs: [(key: String, value: String)]
    do {
        pairs = try DotEnv.parse(text)
    } catch {
        check(error.line >= 1 && error.line <= lines, "error line \(error.line) outside 1...\(lines)")
        _ = error.description
        return 0
    }
    for p in pairs {
        check(!p.key.isEmpty, "empty key")
        check(!p.key.unicodeScalars.contains { $0 == "=" || $0 == "\n" || $0 == " " || $0 == "\t" }, "bad key \(p.key.debugDescription)")
    }
    let written = pairs.map { "\($0.key)=\(quoted($0.value))" }.joined(separator: "\n")
    let again: [(key: String, value: String)]
    do { again = try DotEnv.parse(written) } catch {
        fatalError("rewritten file does not parse (\(error)): \(written.debugDescription) from \(text.debugDescription)")
    }
    check(same(pairs, again), "rewritten \(written.debugDescription) parsed to \(again) instead of \(pairs)")
    return 0
}
