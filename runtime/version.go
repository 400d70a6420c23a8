package runtime

// GeneratedCodeVersion1 is referenced by generated code (`const _ = runtime.GeneratedCodeVersion1`):
// a runtime that can no longer serve code written for API version 1 drops it, and the
// generated code then fails to compile with this name in the error, rather than misbehave.
const GeneratedCodeVersion1 = 1
