package model

import (
	"slices"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

const validList = "(valid: unique, updatedAt, deletedAt, index, ref=Model, local, readonly, renamed=old, onDelete=cascade|restrict, scope, -)"

var syncTagTests = []struct {
	tag      string
	want     Options
	problems []string
}{
	// Every option alone.
	{tag: "unique", want: Options{Unique: true}},
	{tag: "updatedAt", want: Options{UpdatedAt: true}},
	{tag: "deletedAt", want: Options{DeletedAt: true}},
	{tag: "index", want: Options{Index: true}},
	{tag: "ref=Pizza", want: Options{Ref: "Pizza"}},
	{tag: "ref=pizza_2", want: Options{Ref: "pizza_2"}},
	{tag: "local", want: Options{Local: true}},
	{tag: "readonly", want: Options{ReadOnly: true}},
	{tag: "renamed=old_name", want: Options{Renamed: "old_name"}},
	{tag: "renamed=_x1", want: Options{Renamed: "_x1"}},
	{tag: "-", want: Options{Skip: true}},

	{tag: "ref=Author,onDelete=cascade", want: Options{Ref: "Author", OnDelete: "cascade"}},
	{tag: "onDelete=restrict, ref=Author", want: Options{Ref: "Author", OnDelete: "restrict"}},
	{tag: "scope", want: Options{Scope: true}},
	{tag: "scope,unique", want: Options{Scope: true, Unique: true},
		problems: []string{`sync:"scope" cannot be combined with "unique" (a record's id cannot be its scope; put the scope in a field of its own)`}},
	{tag: "onDelete=cascade", want: Options{OnDelete: "cascade"},
		problems: []string{`sync option "onDelete" needs ref=Model on the same field (it says what deleting the referenced record does)`}},
	{tag: "ref=Author,onDelete=setNull", want: Options{Ref: "Author"},
		problems: []string{`sync option "onDelete=setNull": "setNull" is not an onDelete rule (write onDelete=cascade or onDelete=restrict)`}},
	{tag: "ref=Author,onDelete", want: Options{Ref: "Author"},
		problems: []string{`sync option "onDelete" needs a value (write onDelete=cascade|restrict)`}},
	// Nothing at all.
	{tag: "", want: Options{}},
	{tag: "  ", want: Options{}},

	// Combinations that make sense, in any order.
	{tag: "updatedAt,index", want: Options{UpdatedAt: true, Index: true}},
	{tag: "index,updatedAt", want: Options{UpdatedAt: true, Index: true}},
	{tag: "ref=Pizza,index", want: Options{Ref: "Pizza", Index: true}},
	{tag: "unique,index", want: Options{Unique: true, Index: true}},
	{tag: "deletedAt,index,local", want: Options{DeletedAt: true, Index: true, Local: true}},
	{tag: "readonly,updatedAt", want: Options{ReadOnly: true, UpdatedAt: true}},
	{tag: "renamed=name,local,ref=User", want: Options{Renamed: "name", Local: true, Ref: "User"}},

	// Whitespace around items and around "=".
	{tag: " updatedAt , index ", want: Options{UpdatedAt: true, Index: true}},
	{tag: "\tref = Pizza ,renamed= old", want: Options{Ref: "Pizza", Renamed: "old"}},
	{tag: " - ", want: Options{Skip: true}},

	// Unknown options, with a hint when only the case differs.
	{tag: "uniq", problems: []string{`unknown sync option "uniq" ` + validList}},
	{tag: "readOnly", problems: []string{`unknown sync option "readOnly" (did you mean "readonly"? ` + validList[1:]}},
	{tag: "updatedat", problems: []string{`unknown sync option "updatedat" (did you mean "updatedAt"? ` + validList[1:]}},
	{tag: "Ref=Pizza", problems: []string{`unknown sync option "Ref=Pizza" (did you mean "ref"? ` + validList[1:]}},
	{tag: "=x", problems: []string{`unknown sync option "=x" ` + validList}},
	{tag: "primary key", problems: []string{`unknown sync option "primary key" ` + validList}},
	{tag: "index uniq", problems: []string{`unknown sync option "index uniq" ` + validList}},

	// Empty items.
	{tag: "index,,local", want: Options{Index: true, Local: true},
		problems: []string{"empty sync option at position 2 (remove the extra comma)"}},
	{tag: "index,", want: Options{Index: true},
		problems: []string{"empty sync option at position 2 (remove the extra comma)"}},
	{tag: " ,index", want: Options{Index: true},
		problems: []string{"empty sync option at position 1 (remove the extra comma)"}},
	{tag: ",", problems: []string{
		"empty sync option at position 1 (remove the extra comma)",
		"empty sync option at position 2 (remove the extra comma)",
	}},

	// Repeated options, reported once each.
	{tag: "index,index", want: Options{Index: true},
		problems: []string{`repeated sync option "index" (give each option once)`}},
	{tag: "index,index,index", want: Options{Index: true},
		problems: []string{`repeated sync option "index" (give each option once)`}},
	{tag: "ref=A,ref=B", want: Options{Ref: "B"},
		problems: []string{`repeated sync option "ref" (give each option once)`}},
	{tag: "-,-", want: Options{Skip: true},
		problems: []string{`repeated sync option "-" (give each option once)`}},

	// Values: missing, empty, invalid, or given to an option that takes none.
	{tag: "ref", problems: []string{`sync option "ref" needs a value (write ref=Model)`}},
	{tag: "ref=", problems: []string{`sync option "ref" needs a value (write ref=Model)`}},
	{tag: "ref = ", problems: []string{`sync option "ref" needs a value (write ref=Model)`}},
	{tag: "ref=1x", problems: []string{`sync option "ref=1x": "1x" is not a Go identifier (write ref=Model with the referenced model's type name)`}},
	{tag: "ref=menu.Pizza", problems: []string{`sync option "ref=menu.Pizza": "menu.Pizza" is not a Go identifier (write ref=Model with the referenced model's type name)`}},
	{tag: "ref=func", problems: []string{`sync option "ref=func": "func" is not a Go identifier (write ref=Model with the referenced model's type name)`}},
	{tag: "ref=a=b", problems: []string{`sync option "ref=a=b": "a=b" is not a Go identifier (write ref=Model with the referenced model's type name)`}},
	{tag: "renamed", problems: []string{`sync option "renamed" needs a value (write renamed=old)`}},
	{tag: "renamed=", problems: []string{`sync option "renamed" needs a value (write renamed=old)`}},
	{tag: "renamed=1a", problems: []string{`sync option "renamed=1a": "1a" is not a valid column name (use letters, digits and underscores, not starting with a digit)`}},
	{tag: "renamed=old-name", problems: []string{`sync option "renamed=old-name": "old-name" is not a valid column name (use letters, digits and underscores, not starting with a digit)`}},
	{tag: "renamed=prénom", problems: []string{`sync option "renamed=prénom": "prénom" is not a valid column name (use letters, digits and underscores, not starting with a digit)`}},
	{tag: "index=x", want: Options{Index: true},
		problems: []string{`sync option "index" takes no value (write index, not index=x)`}},
	{tag: "index=", want: Options{Index: true},
		problems: []string{`sync option "index" takes no value (write index, not index=)`}},
	{tag: "unique=true", want: Options{Unique: true},
		problems: []string{`sync option "unique" takes no value (write unique, not unique=true)`}},
	{tag: "-=x", want: Options{Skip: true},
		problems: []string{`sync option "-" takes no value (write -, not -=x)`}},

	// "-" with anything.
	{tag: "-,index", want: Options{Skip: true, Index: true},
		problems: []string{`sync:"-" cannot be combined with "index" (a skipped field is neither stored nor sent)`}},
	{tag: "unique,-", want: Options{Skip: true, Unique: true},
		problems: []string{`sync:"-" cannot be combined with "unique" (a skipped field is neither stored nor sent)`}},
	{tag: "updatedAt,-", want: Options{Skip: true, UpdatedAt: true},
		problems: []string{`sync:"-" cannot be combined with "updatedAt" (a skipped field is neither stored nor sent)`}},
	{tag: "-,local,ref=Pizza", want: Options{Skip: true, Local: true, Ref: "Pizza"}, problems: []string{
		`sync:"-" cannot be combined with "local" (a skipped field is neither stored nor sent)`,
		`sync:"-" cannot be combined with "ref" (a skipped field is neither stored nor sent)`,
	}},

	// Every combination rule, in either order.
	{tag: "unique,local", want: Options{Unique: true, Local: true},
		problems: []string{`sync:"unique" cannot be combined with "local" (the id must reach the remote)`}},
	{tag: "local,unique", want: Options{Unique: true, Local: true},
		problems: []string{`sync:"unique" cannot be combined with "local" (the id must reach the remote)`}},
	{tag: "unique,readonly", want: Options{Unique: true, ReadOnly: true},
		problems: []string{`sync:"unique" cannot be combined with "readonly" (the client creates the id)`}},
	{tag: "deletedAt,unique", want: Options{Unique: true, DeletedAt: true},
		problems: []string{`sync:"unique" cannot be combined with "deletedAt" (the id and the tombstone are separate fields)`}},
	{tag: "updatedAt,local", want: Options{UpdatedAt: true, Local: true},
		problems: []string{`sync:"updatedAt" cannot be combined with "local" (last-writer-wins compares it with the remote's copy)`}},
	{tag: "updatedAt,deletedAt", want: Options{UpdatedAt: true, DeletedAt: true},
		problems: []string{`sync:"updatedAt" cannot be combined with "deletedAt" (the change time and the tombstone are separate fields)`}},
	{tag: "readonly,local", want: Options{ReadOnly: true, Local: true},
		problems: []string{`sync:"local" cannot be combined with "readonly" (a local field is never read from the remote)`}},
	{tag: "unique,ref=Pizza", want: Options{Unique: true, Ref: "Pizza"},
		problems: []string{`sync:"ref" cannot be combined with "unique" (a record's id cannot point to another record; put the reference in a field of its own)`}},
	// A ref with a bad value still conflicts: every problem is reported at once.
	{tag: "unique,ref", want: Options{Unique: true}, problems: []string{
		`sync option "ref" needs a value (write ref=Model)`,
		`sync:"ref" cannot be combined with "unique" (a record's id cannot point to another record; put the reference in a field of its own)`,
	}},

	// Many problems at once, in item order and then combination order.
	{tag: "uniq, unique,,local,local=1,-", want: Options{Unique: true, Local: true, Skip: true}, problems: []string{
		`unknown sync option "uniq" ` + validList,
		"empty sync option at position 3 (remove the extra comma)",
		`repeated sync option "local" (give each option once)`,
		`sync option "local" takes no value (write local, not local=1)`,
		`sync:"-" cannot be combined with "unique" (a skipped field is neither stored nor sent)`,
		`sync:"-" cannot be combined with "local" (a skipped field is neither stored nor sent)`,
		`sync:"unique" cannot be combined with "local" (the id must reach the remote)`,
	}},
	{tag: "unique,local,readonly,deletedAt,updatedAt", want: Options{Unique: true, Local: true, ReadOnly: true, DeletedAt: true, UpdatedAt: true}, problems: []string{
		`sync:"unique" cannot be combined with "local" (the id must reach the remote)`,
		`sync:"unique" cannot be combined with "readonly" (the client creates the id)`,
		`sync:"unique" cannot be combined with "deletedAt" (the id and the tombstone are separate fields)`,
		`sync:"updatedAt" cannot be combined with "local" (last-writer-wins compares it with the remote's copy)`,
		`sync:"updatedAt" cannot be combined with "deletedAt" (the change time and the tombstone are separate fields)`,
		`sync:"local" cannot be combined with "readonly" (a local field is never read from the remote)`,
	}},
}

func TestParseSyncTag(t *testing.T) {
	for _, tt := range syncTagTests {
		got, problems := ParseSyncTag(tt.tag)
		if !slices.Equal(problems, tt.problems) {
			t.Errorf("ParseSyncTag(%q) problems:\n%s\nwant:\n%s", tt.tag, strings.Join(problems, "\n"), strings.Join(tt.problems, "\n"))
		}
		if got != tt.want {
			t.Errorf("ParseSyncTag(%q) = %+v, want %+v", tt.tag, got, tt.want)
		}
	}
}

// TestSyncConflictsTable checks every row of the combination table both ways round, so a
// row added later is tested too.
func TestSyncConflictsTable(t *testing.T) {
	value := map[string]string{"ref": "=Pizza", "renamed": "=old"}
	for _, c := range syncConflicts {
		for _, tag := range []string{c.a + value[c.a] + "," + c.b + value[c.b], c.b + value[c.b] + "," + c.a + value[c.a]} {
			_, problems := ParseSyncTag(tag)
			want := `sync:"` + c.a + `" cannot be combined with "` + c.b + `" (` + c.why + ")"
			if !slices.Equal(problems, []string{want}) {
				t.Errorf("ParseSyncTag(%q) problems = %q, want [%q]", tag, problems, want)
			}
		}
	}
}

// tag renders o as a canonical sync tag value: options in syncOptions order.
func (o Options) tag() string {
	var items []string
	for _, s := range syncOptions {
		switch {
		case s.flag != nil && *s.flag(&o):
			items = append(items, s.name)
		case s.value != nil && *s.value(&o) != "":
			items = append(items, s.name+"="+*s.value(&o))
		}
	}
	return strings.Join(items, ",")
}

func TestOptionsTag(t *testing.T) {
	o := Options{Ref: "Pizza", Index: true, UpdatedAt: true, Renamed: "old"}
	if got, want := o.tag(), "updatedAt,index,ref=Pizza,renamed=old"; got != want {
		t.Errorf("tag() = %q, want %q", got, want)
	}
}

func FuzzParseSyncTag(f *testing.F) {
	for _, tt := range syncTagTests {
		f.Add(tt.tag)
	}
	f.Fuzz(func(t *testing.T, tag string) {
		o, problems := ParseSyncTag(tag)
		for _, p := range problems {
			checkProblem(t, tag, p)
		}
		if len(problems) > 0 {
			return
		}
		canon := o.tag()
		o2, problems2 := ParseSyncTag(canon)
		if len(problems2) > 0 {
			t.Fatalf("ParseSyncTag(%q) is clean but its canonical form %q has problems %q", tag, canon, problems2)
		}
		if o2 != o {
			t.Fatalf("ParseSyncTag(%q) = %+v, but its canonical form %q parses to %+v", tag, o, canon, o2)
		}
	})
}

// checkProblem checks the form of a problem message: non-empty, starting in lower case,
// without a trailing period.
func checkProblem(t *testing.T, tag, p string) {
	t.Helper()
	if p == "" {
		t.Fatalf("ParseSyncTag(%q) returned an empty problem", tag)
	}
	if first, _ := utf8.DecodeRuneInString(p); unicode.IsUpper(first) {
		t.Errorf("ParseSyncTag(%q): problem %q starts in upper case", tag, p)
	}
	if strings.HasSuffix(p, ".") {
		t.Errorf("ParseSyncTag(%q): problem %q ends with a period", tag, p)
	}
}
