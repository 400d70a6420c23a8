package runtime

// GeneratedCodeVersion2 is referenced by generated code (`const _ = runtime.GeneratedCodeVersion2`):
// a runtime that can no longer serve code written for API version 2 drops it, and the
// generated code then fails to compile with this name in the error, rather than misbehave.
// Version 2 added the adapter's Stamps and the repository's sync methods.
const GeneratedCodeVersion2 = 2

const GeneratedCodeVersion3 = 3 // version 3: generated code for the runtime split into packages
