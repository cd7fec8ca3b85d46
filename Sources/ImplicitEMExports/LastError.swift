#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// The detail of the last failure, one NUL-terminated buffer per thread. The buffer is
// malloc'd on a thread's first failure and freed by the key's destructor at thread exit.

private let messageCapacity = 1024

private let lastErrorKey: pthread_key_t? = {
    var key = pthread_key_t()
    return pthread_key_create(&key, { free($0) }) == 0 ? key : nil
}()

private let emptyMessage: StaticString = ""

enum LastError {
    /// The calling thread's message: "" when there is none.
    static var current: UnsafePointer<CChar> {
        if let key = lastErrorKey, let buffer = pthread_getspecific(key) {
            return UnsafePointer(buffer.assumingMemoryBound(to: CChar.self))
        }
        return cString(emptyMessage)
    }

    /// Forget the last failure on this thread (after a successful call).
    static func clear() {
        guard let key = lastErrorKey, let buffer = pthread_getspecific(key) else { return }
        buffer.storeBytes(of: 0, as: CChar.self)
    }

    /// Record `message`, cut at a UTF-8 boundary if it does not fit. If no buffer can be
    /// allocated the detail is dropped; the status still says what failed.
    static func set(_ message: String) {
        guard let key = lastErrorKey else { return }
        var buffer = pthread_getspecific(key)
        if buffer == nil {
            guard let fresh = malloc(messageCapacity) else { return }
            guard pthread_setspecific(key, fresh) == 0 else {
                free(fresh)
                return
            }
            buffer = fresh
        }
        guard let bytes = buffer?.assumingMemoryBound(to: UInt8.self) else { return }
        var length = 0
        for byte in message.utf8 {
            if length == messageCapacity - 1 { break }
            bytes[length] = byte
            length += 1
        }
        if length == messageCapacity - 1 {
            // Drop a multi-byte character the cut left incomplete.
            var start = length
            while start > 0 && bytes[start - 1] & 0xC0 == 0x80 { start -= 1 }
            if start > 0 && bytes[start - 1] >= 0xC0 {
                let lead = bytes[start - 1]
                let needed = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : 2
                if length - (start - 1) < needed { length = start - 1 }
            }
        }
        bytes[length] = 0
    }
}

/// A StaticString's bytes as a C string: string literals are NUL-terminated static storage.
@inline(__always)
func cString(_ string: StaticString) -> UnsafePointer<CChar> {
    UnsafeRawPointer(string.utf8Start).assumingMemoryBound(to: CChar.self)
}
