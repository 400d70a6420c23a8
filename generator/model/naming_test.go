package model

import (
	"bufio"
	"os"
	"strings"
	"testing"
)

// namesFile is the table of naming examples for the rules in naming.go.
const namesFile = "../../testdata/names.txt"

var namingRules = map[string]func(string) string{
	"snake":  SnakeCase,
	"plural": Plural,
	"table":  TableName,
	"repo":   RepoName,
}

// TestNames checks every example in testdata/names.txt: "<rule> <input> <expected>", one a
// line, "#" comments.
func TestNames(t *testing.T) {
	f, err := os.Open(namesFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()

	examples := 0
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		text, _, _ := strings.Cut(sc.Text(), "#")
		fields := strings.Fields(text)
		if len(fields) == 0 {
			continue
		}
		if len(fields) != 3 {
			t.Errorf("%s:%d: malformed line %q: want <rule> <input> <expected>", namesFile, line, sc.Text())
			continue
		}
		rule, in, want := fields[0], fields[1], fields[2]
		fn, ok := namingRules[rule]
		if !ok {
			t.Errorf("%s:%d: unknown rule %q: want snake, plural, table or repo", namesFile, line, rule)
			continue
		}
		examples++
		if got := fn(in); got != want {
			t.Errorf("%s:%d: %s %s = %q, want %q", namesFile, line, rule, in, got, want)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if examples < 60 {
		t.Errorf("%s: %d examples, want at least 60", namesFile, examples)
	}
}

func TestNamesEmpty(t *testing.T) {
	for rule, fn := range namingRules {
		if got := fn(""); got != "" {
			t.Errorf("%s(\"\") = %q, want \"\"", rule, got)
		}
	}
}

// TestRepoNameMatchesTable checks that a model's default table is the snake_case of its
// default repository name, so the two defaults never disagree about the plural.
func TestRepoNameMatchesTable(t *testing.T) {
	for _, name := range []string{
		"Pizza", "Category", "Person", "OrderItem", "HTTPLog", "Status", "UserID", "URL",
		"APIKey", "Analysis", "Settings", "Leaf", "SalesPerson", "OAuth2Token",
	} {
		if got, want := SnakeCase(RepoName(name)), TableName(name); got != want {
			t.Errorf("SnakeCase(RepoName(%q)) = %q, want TableName %q", name, got, want)
		}
	}
}

// FuzzNames checks that the naming functions accept any string and that SnakeCase is
// idempotent: a column name is already in its own snake_case.
func FuzzNames(f *testing.F) {
	for _, s := range []string{"UserID", "HTTPServer", "URLs", "OAuth2Token", "Order__Item_", "ÜberName", "_2x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		snake := SnakeCase(name)
		if again := SnakeCase(snake); again != snake {
			t.Errorf("SnakeCase(%q) = %q, but SnakeCase(%q) = %q", name, snake, snake, again)
		}
		TableName(name)
		RepoName(name)
	})
}
