import XCTest
@testable import TestSupport
@testable import Pipeline

/// `<think>` blocks vanish however the text is chunked.
final class ThinkFilterTests: XCTestCase {
    /// Feeds `pieces` and returns everything shown.
    static func filter(_ pieces: [String]) -> String {
        var f = ThinkFilter()
        var out = ""
        for p in pieces { out += f.feed(p) }
        return out + f.finish()
    }

    static let cases: [(String, String)] = [
        ("plain text", "plain text"),
        ("<think>reasoning</think>Answer", "Answer"),
        ("<think>reasoning</think>\n\n  Answer", "Answer"),
        ("Before <think>x</think>after", "Before after"),
        ("Before <think>x</think> after", "Before after"),
        ("a<think>1</think>b<think>2</think>c", "abc"),
        ("<think>unclosed thinking that never ends", ""),
        ("Visible <think>cut off", "Visible "),
        ("x < y and a <b> tag", "x < y and a <b> tag"),
        ("<thinking>not our tag</thinking>", "<thinking>not our tag</thinking>"),
        ("ends with a partial <thi", "ends with a partial <thi"),
        ("<<think>>x</think>", "<"),
        ("</think> stray close", "</think> stray close"),
        ("emoji 😀<think>🤔</think>直接", "emoji 😀直接"),
        ("<think>a < b <c </thin</think>c", "c"),
        ("", ""),
    ]

    func testWholeText() {
        for (input, expected) in Self.cases {
            XCTAssertEqual(ThinkFilter.strip(input), expected, input.debugDescription)
        }
    }

    func testEveryTwoWaySplit() {
        for (input, expected) in Self.cases {
            let chars = Array(input)
            for cut in 0...chars.count {
                let pieces = [String(chars[..<cut]), String(chars[cut...])]
                XCTAssertEqual(Self.filter(pieces), expected, "\(input.debugDescription) cut at \(cut)")
            }
        }
    }

    func testCharacterByCharacterAndThreeWaySplits() {
        for (input, expected) in Self.cases {
            let chars = Array(input)
            XCTAssertEqual(Self.filter(chars.map { String($0) }), expected, "char by char: \(input.debugDescription)")
            guard chars.count <= 40 else { continue }
            for i in 0...chars.count {
                for j in i...chars.count {
                    let pieces = [String(chars[..<i]), String(chars[i..<j]), String(chars[j...])]
                    XCTAssertEqual(Self.filter(pieces), expected, "\(input.debugDescription) cut at \(i), \(j)")
                }
            }
        }
    }

    func testTextIsShownAsSoonAsItCannotBeATag() {
        var f = ThinkFilter()
        XCTAssertEqual(f.feed("Hello "), "Hello ")
        XCTAssertEqual(f.feed("wor<"), "wor", "only the possible tag start is held back")
        XCTAssertEqual(f.feed("ld"), "<ld")
        XCTAssertEqual(f.feed("<think>hidden"), "")
        XCTAssertEqual(f.feed("</think>shown"), "shown")
        XCTAssertEqual(f.finish(), "")
    }
}
