// Package text holds the small string helpers that the runtime and the remotes share.
package text

import (
	"strings"
	"unicode/utf8"
)

// OneLine makes a body fit in an error message: valid UTF-8, whitespace runs collapsed
// (json-server answers a stack trace), at most n bytes.
func OneLine(body []byte, n int) string {
	s := strings.Join(strings.Fields(strings.ToValidUTF8(string(body), "\uFFFD")), " ")
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
