import CTLS

/// CTLS's result codes as Swift sees them (C enum constants import as `Int`).
enum Code {
    static let ok = Int32(CTLS_OK)
    static let eof = Int32(CTLS_EOF)
    static let error = Int32(CTLS_ERROR)
    static let wantRead = Int32(CTLS_WANT_READ)
    static let wantWrite = Int32(CTLS_WANT_WRITE)
    static let abruptEOF = Int32(CTLS_ABRUPT_EOF)
    static let syscall = Int32(CTLS_SYSCALL)
}

/// A NUL-terminated C buffer as a String.
func cText(_ buffer: [CChar]) -> String {
    String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}
