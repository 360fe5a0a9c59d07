/// Serialises a status line and headers.
enum ResponseEncoder {
    /// Fields that could not be written safely are left out (see `isWritable`).
    static func head(status: Int, headers: HTTPHeaders, version: HTTPVersion) -> [UInt8] {
        var text = "\(version.text) \(status) \(reasonPhrase(status))\r\n"
        for (name, value) in headers where isWritable(name: name, value: value) { text += "\(name): \(value)\r\n" }
        text += "\r\n"
        return Array(text.utf8)
    }

    /// Defense in depth: header values may come from an upstream or from user input, and a CR or
    /// LF in one would let it add fields (or end the head and forge a body). A name must be a token,
    /// a value field-vchars, spaces and tabs (RFC 9110 §5.5).
    static func isWritable(name: String, value: String) -> Bool {
        !name.isEmpty && name.utf8.allSatisfy(isTokenByte)
            && value.utf8.allSatisfy { $0 == 0x09 || ($0 >= 0x20 && $0 != 0x7F) }
    }

    static func reasonPhrase(_ status: Int) -> String {
        switch status {
        case 100: return "Continue"
        case 200: return "OK"
        case 204: return "No Content"
        case 304: return "Not Modified"
        case 400: return "Bad Request"
        case 401: return "Unauthorized"
        case 403: return "Forbidden"
        case 404: return "Not Found"
        case 405: return "Method Not Allowed"
        case 408: return "Request Timeout"
        case 413: return "Content Too Large"
        case 414: return "URI Too Long"
        case 415: return "Unsupported Media Type"
        case 422: return "Unprocessable Content"
        case 429: return "Too Many Requests"
        case 431: return "Request Header Fields Too Large"
        case 500: return "Internal Server Error"
        case 501: return "Not Implemented"
        case 502: return "Bad Gateway"
        case 503: return "Service Unavailable"
        case 504: return "Gateway Timeout"
        case 505: return "HTTP Version Not Supported"
        default: return "Status \(status)"
        }
    }
}
