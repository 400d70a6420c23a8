package model

import (
	"fmt"
	"go/token"
	"slices"
	"strings"
)

// optionSpec describes one sync tag option. Exactly one of flag and value is set: flag for
// an option written alone (index), value for one written name=value (ref=Model).
type optionSpec struct {
	name  string
	flag  func(*Options) *bool
	value func(*Options) *string
	// For value options: the placeholder shown in messages (ref=Model), and check, which
	// returns why a non-empty value is invalid, or "".
	placeholder string
	check       func(v string) string
}

// syncOptions lists every sync tag option in canonical order, the order of the valid list
// in messages and of rendered tags.
var syncOptions = []optionSpec{
	{name: "unique", flag: func(o *Options) *bool { return &o.Unique }},
	{name: "updatedAt", flag: func(o *Options) *bool { return &o.UpdatedAt }},
	{name: "deletedAt", flag: func(o *Options) *bool { return &o.DeletedAt }},
	{name: "index", flag: func(o *Options) *bool { return &o.Index }},
	{name: "ref", value: func(o *Options) *string { return &o.Ref }, placeholder: "Model", check: checkRef},
	{name: "local", flag: func(o *Options) *bool { return &o.Local }},
	{name: "readonly", flag: func(o *Options) *bool { return &o.ReadOnly }},
	{name: "renamed", value: func(o *Options) *string { return &o.Renamed }, placeholder: "old", check: checkColumnName},
	{name: "onDelete", value: func(o *Options) *string { return &o.OnDelete }, placeholder: "cascade|restrict", check: checkOnDelete},
	{name: "scope", flag: func(o *Options) *bool { return &o.Scope }},
	{name: "-", flag: func(o *Options) *bool { return &o.Skip }},
}

// syncConflicts are the options that cannot be combined, with the reason shown to the user.
// "-" conflicts with every other option and is checked on its own (see skipConflicts), so
// its pairs (unique with -, updatedAt with -) are not repeated here.
var syncConflicts = []struct{ a, b, why string }{
	{"unique", "local", "the id must reach the remote"},
	{"unique", "readonly", "the client creates the id"},
	{"unique", "deletedAt", "the id and the tombstone are separate fields"},
	{"updatedAt", "local", "last-writer-wins compares it with the remote's copy"},
	{"updatedAt", "deletedAt", "the change time and the tombstone are separate fields"},
	{"local", "readonly", "a local field is never read from the remote"},
	{"ref", "unique", "a record's id cannot point to another record; put the reference in a field of its own"},
	{"scope", "unique", "a record's id cannot be its scope; put the scope in a field of its own"},
	{"scope", "local", "the server filters by the scope, so it must reach the server"},
}

// ParseSyncTag parses the value of a sync struct tag, such as "updatedAt,index". It returns
// the options it understood and every problem found, in the order of the tag's items
// followed by invalid combinations; the options are only meaningful without problems.
// Whitespace around items and around "=" is ignored. An empty or blank tag means no
// options and is not a problem.
func ParseSyncTag(tag string) (Options, []string) {
	var (
		o        Options
		problems []string
		present  []string               // known option names, in the order first given
		count    = make(map[string]int) // occurrences of each known option
	)
	if strings.TrimSpace(tag) == "" {
		return o, nil
	}
	for i, item := range strings.Split(tag, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			problems = append(problems, fmt.Sprintf("empty sync option at position %d (remove the extra comma)", i+1))
			continue
		}
		name, value, hasValue := strings.Cut(item, "=")
		name, value = strings.TrimSpace(name), strings.TrimSpace(value)
		spec := lookupOption(name)
		if spec == nil {
			problems = append(problems, unknownOption(item, name))
			continue
		}
		count[name]++
		switch count[name] {
		case 1:
			present = append(present, name)
		case 2: // once per option, however often it repeats
			problems = append(problems, fmt.Sprintf("repeated sync option %q (give each option once)", name))
		}
		if p := spec.apply(&o, value, hasValue); p != "" {
			problems = append(problems, p)
		}
	}
	problems = append(problems, skipConflicts(present)...)
	problems = append(problems, combinationConflicts(present)...)
	if slices.Contains(present, "onDelete") && !slices.Contains(present, "ref") {
		problems = append(problems, `sync option "onDelete" needs ref=Model on the same field (it says what deleting the referenced record does)`)
	}
	return o, problems
}

// apply sets the option in o and returns a problem with how it was written, or "".
func (s *optionSpec) apply(o *Options, value string, hasValue bool) string {
	if s.flag != nil {
		*s.flag(o) = true
		if hasValue {
			return fmt.Sprintf("sync option %q takes no value (write %s, not %s=%s)", s.name, s.name, s.name, value)
		}
		return ""
	}
	if value == "" {
		return fmt.Sprintf("sync option %q needs a value (write %s=%s)", s.name, s.name, s.placeholder)
	}
	if why := s.check(value); why != "" {
		return fmt.Sprintf("sync option %q: %q %s", s.name+"="+value, value, why)
	}
	*s.value(o) = value
	return ""
}

func lookupOption(name string) *optionSpec {
	for i := range syncOptions {
		if syncOptions[i].name == name {
			return &syncOptions[i]
		}
	}
	return nil
}

// unknownOption describes an unknown item, suggesting the option it differs from only in
// case, since option names are case-sensitive (readOnly, UpdatedAt).
func unknownOption(item, name string) string {
	valid := make([]string, len(syncOptions))
	suggest := ""
	for i, s := range syncOptions {
		valid[i] = s.name
		if s.value != nil {
			valid[i] += "=" + s.placeholder
		}
		if strings.EqualFold(name, s.name) {
			suggest = fmt.Sprintf("did you mean %q? ", s.name)
		}
	}
	return fmt.Sprintf("unknown sync option %q (%svalid: %s)", item, suggest, strings.Join(valid, ", "))
}

// skipConflicts reports every option given with "-": a skipped field is neither stored nor
// sent, so any other option is a mistake.
func skipConflicts(present []string) []string {
	var problems []string
	if !slices.Contains(present, "-") {
		return nil
	}
	for _, name := range present {
		if name != "-" {
			problems = append(problems, fmt.Sprintf(`sync:"-" cannot be combined with %q (a skipped field is neither stored nor sent)`, name))
		}
	}
	return problems
}

// combinationConflicts reports the pairs of present options listed in syncConflicts.
func combinationConflicts(present []string) []string {
	var problems []string
	for _, c := range syncConflicts {
		if slices.Contains(present, c.a) && slices.Contains(present, c.b) {
			problems = append(problems, fmt.Sprintf("sync:%q cannot be combined with %q (%s)", c.a, c.b, c.why))
		}
	}
	return problems
}

// checkRef accepts the Go name of a model; whether that model exists is the loader's check.
func checkRef(v string) string {
	if !token.IsIdentifier(v) {
		return "is not a Go identifier (write ref=Model with the referenced model's type name)"
	}
	return ""
}

// checkColumnName accepts a plain SQL identifier, which needs no quoting in SQLite.
func checkColumnName(v string) string {
	for i, r := range v {
		letter := r == '_' || ('a' <= r && r <= 'z') || ('A' <= r && r <= 'Z')
		digit := '0' <= r && r <= '9'
		if !letter && !(digit && i > 0) {
			return "is not a valid column name (use letters, digits and underscores, not starting with a digit)"
		}
	}
	return ""
}

// checkOnDelete accepts the onDelete rules the runtime applies.
func checkOnDelete(v string) string {
	if v != "cascade" && v != "restrict" {
		return "is not an onDelete rule (write onDelete=cascade or onDelete=restrict)"
	}
	return ""
}
