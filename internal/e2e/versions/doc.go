// Package versions holds three versions of one model, as three releases of an app would
// have it, to test mixed app versions against one server: v1's Note has a title, v2 adds
// a colour, v3 renames the title's JSON key to heading. Its tests run clients of each
// version against the generated server of each version.
package versions
