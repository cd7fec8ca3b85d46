// The library's version: must equal IE_VERSION_* in include/implicitem.h
// (`make test-symbols` compares them).

enum LibraryVersion {
    static let major: UInt32 = 0
    static let minor: UInt32 = 1
    static let patch: UInt32 = 0
    static let string: StaticString = "0.1.0"
    static let number: UInt32 = major * 10000 + minor * 100 + patch
}

@_cdecl("ie_version")
public func ie_version() -> UInt32 {
    LibraryVersion.number
}

@_cdecl("ie_version_string")
public func ie_version_string() -> UnsafePointer<CChar> {
    cString(LibraryVersion.string)
}
