import ImplicitEM

// Status names and the one place a thrown error becomes a status code and a message.

extension Status {
    /// The header's one-line description, as static storage.
    var staticDescription: StaticString {
        switch self {
        case .ok: return "IE_OK: success"
        case .nullPointer: return "IE_ERR_NULL_POINTER: a required pointer argument is NULL"
        case .badSize: return "IE_ERR_BAD_SIZE: a size is <= 0 or a product of sizes overflows"
        case .badParameter: return "IE_ERR_BAD_PARAMETER: a parameter is out of range or non-finite"
        case .nonFiniteInput: return "IE_ERR_NONFINITE_INPUT: NaN or infinity in an input array"
        case .unsupported: return "IE_ERR_UNSUPPORTED: a valid but unsupported combination"
        case .callbackFailed: return "IE_ERR_CALLBACK: the energy callback failed"
        case .outOfMemory: return "IE_ERR_OUT_OF_MEMORY: an internal allocation failed"
        case .overlap: return "IE_ERR_OVERLAP: an output buffer overlaps another buffer"
        case .badEnum: return "IE_ERR_BAD_ENUM: an unknown kernel, scale shape or option value"
        case .badStruct: return "IE_ERR_BAD_STRUCT: struct_size does not match any known layout"
        case .didNotConverge: return "IE_ERR_DID_NOT_CONVERGE: the fit stopped at max_iter before the tolerance"
        }
    }
}

/// Runs one exported call: success clears the thread's last error; a thrown error records
/// its message and returns its status. Nothing escapes to the C caller.
@inline(__always)
func exportedCall(_ body: () throws -> Void) -> Int32 {
    do {
        try body()
        LastError.clear()
        return Status.ok.rawValue
    } catch let error as ImplicitEMError {
        LastError.set(error.message)
        return error.status.rawValue
    } catch {
        LastError.set("unexpected error: \(error)")
        return Status.callbackFailed.rawValue
    }
}

@_cdecl("ie_status_string")
public func ie_status_string(_ status: Int32) -> UnsafePointer<CChar> {
    guard let known = Status(rawValue: status) else { return cString("unknown status") }
    return cString(known.staticDescription)
}

@_cdecl("ie_last_error_message")
public func ie_last_error_message() -> UnsafePointer<CChar> {
    LastError.current
}
