package shop

// Hand-written code that uses generated names: it does not compile while the generated
// files are left out, which must not stop syncgen.
var _ = syncgenSchemas

func stale() error { return checkGeneratedTags() }
