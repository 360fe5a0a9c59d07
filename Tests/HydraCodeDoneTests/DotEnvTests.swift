import Foundation
import XCTest
@testable import HydraCodeDone
@testable import TestSupport

/// `.env` files, parsed the way docker compose reads them.
final class DotEnvTests: XCTestCase {
    func parse(_ text: String, file: StaticString = #filePath, line: UInt = #line) -> [String] {
        do { return try DotEnv.parse(text).map { "\($0.key)=\($0.value)" } } catch {
            XCTFail("rejected: \(error)", file: file, line: line)
            return []
        }
    }

    func error(_ text: String) -> DotEnv.ParseError? {
        do { _ = try DotEnv.parse(text); return nil } catch { return error }
    }

    /// A file saved by a Windows editor: UTF-8 byte order mark and CRLF line ends.
    func testByteOrderMarkAndCRLFLineEnds() {
        let text = "\u{FEFF}OPENAI_BASE_URL=http://localhost:11434/v1\r\nPRIMARY_MODEL_NAME=llama3\r\n"
            + "CRITIQUE_SYSTEM_PROMPT=\"Line one\r\nLine two\"\r\n# comment\r\nLOG_LEVEL='INFO'\r\n"
        XCTAssertEqual(parse(text), ["OPENAI_BASE_URL=http://localhost:11434/v1", "PRIMARY_MODEL_NAME=llama3",
                                     "CRITIQUE_SYSTEM_PROMPT=Line one\nLine two", "LOG_LEVEL=INFO"])
    }

    /// The same file as bytes on disk, read the way start-up reads it.
    func testByteOrderMarkFileLoadsAtStartUp() throws {
        let path = NSTemporaryDirectory() + "/hydracodedone-bom-\(getpid()).env"
        let bytes: [UInt8] = [0xEF, 0xBB, 0xBF] + Array("OPENAI_BASE_URL=http://127.0.0.1:9/v1\r\nPRIMARY_MODEL_NAME=bom-model\r\n".utf8)
        _ = FileManager.default.createFile(atPath: path, contents: Data(bytes))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let store = try ConfigStore(environment: [:], envFilePath: path)
        let config = blocking { await store.current }
        XCTAssertEqual(config.primary.model, "bom-model")
        XCTAssertEqual(config.primary.port, 9)
    }

    func testPlainValuesCommentsAndBlankLines() {
        let text = """
        # a comment

        HOST=127.0.0.1
          PORT = 3101   
        EMPTY=
        URL=http://x:1/v1?a=b&c=d
        INLINE=value # trailing comment
        HASH=a#b
        \tTABBED=\tv
        """
        XCTAssertEqual(parse(text), ["HOST=127.0.0.1", "PORT=3101", "EMPTY=", "URL=http://x:1/v1?a=b&c=d", "INLINE=value", "HASH=a#b", "TABBED=v"])
    }

    func testExportPrefix() {
        XCTAssertEqual(parse("export KEY=1\nexport  OTHER='two'"), ["KEY=1", "OTHER=two"])
        XCTAssertEqual(parse("exported=3"), ["exported=3"], "only the word 'export' is a prefix")
    }

    func testSingleQuotesAreLiteral() {
        XCTAssertEqual(parse(#"A='it has \n no escapes # nor comments'"#), [#"A=it has \n no escapes # nor comments"#])
        XCTAssertEqual(parse("B='  spaces kept  ' # comment"), ["B=  spaces kept  "])
    }

    func testDoubleQuotesAndEscapes() {
        XCTAssertEqual(parse(#"A="tab\there, quote \" backslash \\ dollar \$ newline\n end""#),
                       ["A=tab\there, quote \" backslash \\ dollar $ newline\n end"])
        XCTAssertEqual(parse(#"B="unknown \q escape""#), [#"B=unknown \q escape"#])
        XCTAssertEqual(parse(##"C="# not a comment""##), ["C=# not a comment"])
    }

    func testMultiLineDoubleQuotedValue() {
        let text = """
        PROMPT="You are a critic.
        Be concise.

        Answer only with the fix."
        NEXT=after
        """
        XCTAssertEqual(parse(text), ["PROMPT=You are a critic.\nBe concise.\n\nAnswer only with the fix.", "NEXT=after"])
    }

    func testCRLFFiles() {
        XCTAssertEqual(parse("A=1\r\nB=\"two\"\r\n# c\r\nC=3\r\n"), ["A=1", "B=two", "C=3"])
    }

    func testRepeatedKeysKeepOrder() throws {
        let pairs = try DotEnv.parse("K=1\nK=2")
        XCTAssertEqual(pairs.map(\.value), ["1", "2"])
    }

    func testErrorsCarryLineNumbers() {
        XCTAssertEqual(error("A=1\nB=2\nJUST A LINE\n")?.line, 3)
        XCTAssertEqual(error("A=1\nno_equals\n")?.line, 2)
        XCTAssertEqual(error("A=1\n\nBAD KEY=1\n")?.line, 3)
        XCTAssertEqual(error("A=1\n=value\n")?.line, 2)
        XCTAssertEqual(error("A=1\nB$=2\n")?.line, 2)
        let unterminated = error("A=1\nB=\"starts here\nand never\nends\n")
        XCTAssertEqual(unterminated?.line, 2, "an unterminated quote is reported where it starts")
        XCTAssertTrue(unterminated?.description.contains("line 2") ?? false)
        XCTAssertTrue(unterminated?.message.contains("B") ?? false, "the message names the variable")
        XCTAssertEqual(error("A='x' junk\n")?.line, 1)
        XCTAssertEqual(error("M=\"a\nb\"\nC='x'y\n")?.line, 3, "line numbers count the lines inside quoted values")
    }
}
