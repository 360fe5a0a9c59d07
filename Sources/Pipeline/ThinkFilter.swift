/// Removes `<think>…</think>` blocks (deepseek-r1 and other reasoning models) from text that may
/// arrive in arbitrary pieces: a tag split across two chunks is still recognised.
public struct ThinkFilter: Sendable {
    private static let open = Array("<think>".utf8)
    private static let close = Array("</think>".utf8)

    private var inside = false
    /// Bytes held back because they may be the start of a tag.
    private var held: [UInt8] = []
    /// Leading whitespace after a removed block is dropped, as the model's answer starts there.
    private var trimLeading = false

    public init() {}

    /// Feeds a piece; returns what can be shown now.
    public mutating func feed(_ text: String) -> String {
        var out: [UInt8] = []
        held.append(contentsOf: text.utf8)
        var i = 0
        while i < held.count {
            let tag = inside ? Self.close : Self.open
            if held[i] == tag[0] {
                let available = held.count - i
                let n = min(available, tag.count)
                if held[i..<(i + n)].elementsEqual(tag[0..<n]) {
                    if n < tag.count { break } // maybe a tag: wait for more
                    i += tag.count
                    inside.toggle()
                    if !inside { trimLeading = true }
                    continue
                }
            }
            if !inside {
                if trimLeading, held[i] == 0x20 || held[i] == 0x0A || held[i] == 0x0D || held[i] == 0x09 {
                    i += 1
                    continue
                }
                trimLeading = false
                out.append(held[i])
            }
            i += 1
        }
        held.removeFirst(i)
        // Input pieces are whole Strings and we only pause at '<', so `out` is always valid UTF-8.
        return String(decoding: out, as: UTF8.self)
    }

    /// Flushes what was held back at the end of the text. An unclosed `<think>` hides the rest,
    /// as the model never finished thinking.
    public mutating func finish() -> String {
        defer { held = [] }
        if inside { return "" }
        return String(decoding: held, as: UTF8.self)
    }

    /// Removes think blocks from a complete text.
    public static func strip(_ text: String) -> String {
        var f = ThinkFilter()
        return f.feed(text) + f.finish()
    }
}
