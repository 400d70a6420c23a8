package model

import (
	"sort"
	"strconv"
	"strings"
)

// RelKind is how a relation goes from its owner's records to its target's.
type RelKind int

const (
	// RelForward: the owner's ref field holds the target's id (AuthorID), or ids ([]string).
	RelForward RelKind = iota + 1
	// RelReverse: the target's ref field holds the owner's id, or lists it.
	RelReverse
	// RelThrough: a join model with two refs holds the owner's id and the target's.
	RelThrough
)

// Relation is one way from a model's records to another's, derived from ref fields: every
// ref gives its owner a forward relation and its target a reverse one, and a join model
// (exactly two single refs, to two other models) gives each of them a relation to the
// other through it.
type Relation struct {
	Name   string // the field of the owner's relations value: Author, Books, Tags
	Kind   RelKind
	Owner  *Model
	Target *Model
	Many   bool // any number of targets (reverse, through, or a []string ref)
	// Field is the ref field: the owner's (forward), the target's (reverse), or the join
	// model's that points to the owner (through).
	Field *Field
	// Through only: the join model, and its ref field that points to the target.
	Join       *Model
	JoinTarget *Field
}

// RefList reports whether a ref field holds a list of ids ([]string).
func (f *Field) RefList() bool { return f.Ref != "" && f.Type.Kind == KindJSON }

// Relations returns each model's relations, by model name, sorted by relation name. A
// name two relations of a model would share is replaced, in each, by a longer one: the
// ref field's name (forward), the source and its field (BooksByEditorID), the join model
// (TagsViaBookTag).
func (p *Package) Relations() map[string][]*Relation {
	byName := map[string]*Model{}
	for _, m := range p.Models {
		byName[m.Name] = m
	}
	type candidate struct {
		rel         *Relation
		short, long string
	}
	cands := map[string][]candidate{}
	add := func(r *Relation, short, long string) {
		cands[r.Owner.Name] = append(cands[r.Owner.Name], candidate{r, short, long})
	}
	for _, m := range p.Models {
		refs := map[string]int{} // target → how many of m's refs point to it
		var single []*Field
		for _, f := range m.Stored() {
			if f.Ref == "" || byName[f.Ref] == nil {
				continue
			}
			refs[f.Ref]++
			if !f.RefList() {
				single = append(single, f)
			}
		}
		for _, f := range m.Stored() {
			target := byName[f.Ref]
			if f.Ref == "" || target == nil {
				continue
			}
			add(&Relation{Kind: RelForward, Owner: m, Target: target, Many: f.RefList(), Field: f}, forwardName(f), f.Name)
			long := m.RepoName + "By" + f.Name
			short := m.RepoName
			if refs[f.Ref] > 1 {
				short = long
			}
			add(&Relation{Kind: RelReverse, Owner: target, Target: m, Many: true, Field: f}, short, long)
		}
		if len(single) == 2 && single[0].Ref != single[1].Ref && single[0].Ref != m.Name && single[1].Ref != m.Name {
			for i, f := range single {
				other := single[1-i]
				owner, target := byName[f.Ref], byName[other.Ref]
				add(&Relation{Kind: RelThrough, Owner: owner, Target: target, Many: true, Field: f, Join: m, JoinTarget: other},
					target.RepoName, target.RepoName+"Via"+m.Name)
			}
		}
	}
	out := map[string][]*Relation{}
	for owner, cs := range cands {
		count := map[string]int{}
		for _, c := range cs {
			count[c.short]++
		}
		used := map[string]bool{}
		for _, c := range cs {
			name := c.short
			if count[name] > 1 {
				name = c.long
			}
			for n := 2; used[name]; n++ { // two long names alike: number them
				name = c.long + strconv.Itoa(n)
			}
			used[name] = true
			c.rel.Name = name
			out[owner] = append(out[owner], c.rel)
		}
		sort.Slice(out[owner], func(i, j int) bool { return out[owner][i].Name < out[owner][j].Name })
	}
	return out
}

// forwardName names a ref's forward relation after its field without the id suffix:
// AuthorID → Author, TagIDs → Tags.
func forwardName(f *Field) string {
	suffixes := []string{"ID", "Id"}
	if f.RefList() {
		suffixes = []string{"IDs", "Ids"}
	}
	for _, suf := range suffixes {
		if base, ok := strings.CutSuffix(f.Name, suf); ok && base != "" {
			if f.RefList() {
				return RepoName(base)
			}
			return base
		}
	}
	return f.Name
}
