package runtime

// GeneratedCodeVersion3 is referenced by generated code (`const _ = runtime.GeneratedCodeVersion3`):
// a runtime that can no longer serve code written for API version 3 drops it, and the
// generated code then fails to compile with this name in the error, rather than misbehave.
// Version 3 came with the runtime's split into packages: generated servers import package
// server. Code generated for version 2 must be regenerated (go generate).
const GeneratedCodeVersion3 = 3
