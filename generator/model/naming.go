package model

import (
	"strings"
	"unicode"
)

// SnakeCase turns a Go identifier into a snake_case column name, keeping initialisms whole
// (UserID → user_id, HTTPServer → http_server). Words split by these rules:
//
//  1. An underscore separates words and is dropped (Order_Item → order_item).
//  2. An upper-case letter starts a word after a lower-case letter or a digit
//     (userID → user_id, V2Name → v2_name).
//  3. In a run of upper-case letters, the last one starts a new word when a lower-case letter
//     follows (HTTPServer → http_server, OAuth2Token → o_auth2_token), except a lone plural
//     "s", which stays with the initialism (URLs → urls, IDsByName → ids_by_name).
//  4. Digits never start a word (other than after an underscore): they stick to the word
//     before, so version suffixes read naturally (Address2 → address2, APIKeyV2 → api_key_v2).
func SnakeCase(name string) string {
	words := splitWords(name)
	lower := make([]string, len(words))
	for i, w := range words {
		lower[i] = lowerRunes(w.text)
	}
	return strings.Join(lower, "_")
}

// TableName is the default table of a model: the snake_case of the type name with its last
// word pluralised (OrderItem → order_items, Person → people, HTTPLog → http_logs).
func TableName(typeName string) string {
	words := splitWords(typeName)
	if len(words) == 0 {
		return ""
	}
	out := make([]string, len(words))
	for i, w := range words {
		out[i] = lowerRunes(w.text)
	}
	out[len(out)-1] = Plural(out[len(out)-1])
	return strings.Join(out, "_")
}

// RepoName is the default repository field name of a model: the type name with its last
// word pluralised in that word's own case (OrderItem → OrderItems, Person → People,
// HTTPLog → HTTPLogs, UserID → UserIDs).
func RepoName(typeName string) string {
	words := splitWords(typeName)
	if len(words) == 0 {
		return typeName
	}
	last := words[len(words)-1]
	return typeName[:last.start] + pluralKeepCase(last.text) + typeName[last.end:]
}

// pluralKeepCase pluralises word, spelling the letters it shares with its plural as word
// does and the rest in lower case: Person → People, Box → Boxes, ID → IDs.
func pluralKeepCase(word string) string {
	orig := []rune(word)
	plural := []rune(Plural(lowerRunes(word)))
	n := 0
	for n < len(orig) && n < len(plural) && unicode.ToLower(orig[n]) == plural[n] {
		n++
	}
	return string(orig[:n]) + string(plural[n:])
}

// lowerRunes lower-cases s rune by rune. Unlike strings.ToLower it never changes the number
// of runes, so positions in s and in its lower-case form agree.
func lowerRunes(s string) string {
	r := []rune(s)
	for i := range r {
		r[i] = unicode.ToLower(r[i])
	}
	return string(r)
}

// nameWord is one word of an identifier: name[start:end].
type nameWord struct {
	text       string
	start, end int
}

// splitWords splits an identifier into words by the rules documented on SnakeCase.
func splitWords(name string) []nameWord {
	var runes []rune
	var offsets []int // byte offset of each rune in name
	for off, r := range name {
		runes = append(runes, r)
		offsets = append(offsets, off)
	}
	offsets = append(offsets, len(name))

	var words []nameWord
	start := -1 // rune index where the current word began, or -1
	flush := func(end int) {
		if start >= 0 {
			words = append(words, nameWord{name[offsets[start]:offsets[end]], offsets[start], offsets[end]})
			start = -1
		}
	}
	for i, r := range runes {
		switch {
		case r == '_':
			flush(i)
		case startsWord(runes, i):
			flush(i)
			start = i
		case start < 0:
			start = i
		}
	}
	flush(len(runes))
	return words
}

// startsWord reports whether the upper-case letter at runes[i] begins a new word (rules 2
// and 3 of SnakeCase). Any other rune continues the current word.
func startsWord(runes []rune, i int) bool {
	if i == 0 || !isUpper(runes[i]) {
		return false
	}
	prev := runes[i-1]
	if unicode.IsDigit(prev) || isLowerish(prev) {
		return true
	}
	if !isUpper(prev) || i+1 >= len(runes) || !isLowerish(runes[i+1]) {
		return false
	}
	// An upper-case run followed by lower case: the run's last letter begins the next word,
	// unless what follows is a lone plural "s" (URLs, IDsByName).
	return !pluralS(runes, i+1)
}

// pluralS reports whether runes[j] is an "s" that ends its word.
func pluralS(runes []rune, j int) bool {
	return runes[j] == 's' && (j+1 == len(runes) || !isLowerish(runes[j+1]))
}

// isUpper reports whether r is a letter with a lower-case form. Upper-case letters without
// one (ϒ) count as caseless, so a column name is already its own snake_case.
func isUpper(r rune) bool { return unicode.ToLower(r) != r }

// isLowerish reports whether r is a letter that is not upper case; letters without case
// (as in most non-Latin scripts) behave like lower case and so continue a word.
func isLowerish(r rune) bool { return unicode.IsLetter(r) && !isUpper(r) }

// Plural returns the English plural of a lower-case singular noun, as used for table and
// repository names. The first rule that applies wins:
//
//  1. Uncountable and invariant words stay as they are (sheep, series, news, info).
//  2. Irregular words come from a table (person → people, leaf → leaves, hero → heroes,
//     criterion → criteria); a plural from that table stays as it is (people → people).
//  3. A word ending in -s that is not -ss, -us, -is or -as is taken to be plural already
//     and stays as it is (settings, photos, categories), so a type named in the plural
//     keeps its name; singular words with such an ending (lens) are irregular. Words
//     ending in -us or -as are taken as singular (status, alias), the common case for type
//     names, so "menus" would become "menuses": name types in the singular.
//  4. -is becomes -es (analysis → analyses); -ss, -us and -as take -es (address →
//     addresses, status → statuses, alias → aliases).
//  5. -x, -z, -ch and -sh take -es (box → boxes, waltz → waltzes, church → churches).
//     "index" follows this rule (indexes), the usual form in software; -ch sounded as
//     /k/ (epoch) and doubled -z (quiz → quizzes) are irregular.
//  6. A consonant and -y becomes -ies (category → categories); a vowel and -y takes -s
//     (day → days).
//  7. Everything else takes -s, including -o (photo → photos, radio → radios; the -oes
//     words are irregular) and -f/-fe (roof → roofs, cafe → cafes; the -ves words are
//     irregular), and words ending in a digit (v2 → v2s).
//
// Irregular words match whole words only (a prefix could change the word: human is not a
// kind of man), so a compound such as "salesman" follows the suffix rules; such a model
// names its table with //syncgen:table and its repository with //syncgen:name.
func Plural(word string) string {
	if word == "" || pluralInvariant[word] {
		return word
	}
	if p, ok := pluralIrregular[word]; ok {
		return p
	}
	if isIrregularPlural(word) {
		return word
	}
	switch {
	case strings.HasSuffix(word, "is"):
		return strings.TrimSuffix(word, "is") + "es"
	case hasAnySuffix(word, "ss", "us", "as"):
		return word + "es"
	case strings.HasSuffix(word, "s"):
		return word
	case hasAnySuffix(word, "x", "z", "ch", "sh"):
		return word + "es"
	case strings.HasSuffix(word, "y") && len(word) > 1 && !isVowel(word[len(word)-2]):
		return strings.TrimSuffix(word, "y") + "ies"
	}
	return word + "s"
}

func hasAnySuffix(s string, suffixes ...string) bool {
	for _, suf := range suffixes {
		if strings.HasSuffix(s, suf) {
			return true
		}
	}
	return false
}

func isVowel(b byte) bool { return strings.IndexByte("aeiou", b) >= 0 }

// isIrregularPlural reports whether word is the plural of an irregular word, so that a
// type already named in the plural (People) is not pluralised again.
func isIrregularPlural(word string) bool {
	for _, p := range pluralIrregular {
		if p == word {
			return true
		}
	}
	return false
}

// pluralInvariant lists words that have no distinct plural.
var pluralInvariant = map[string]bool{
	"sheep": true, "fish": true, "deer": true, "moose": true, "bison": true, "aircraft": true,
	"series": true, "species": true, "news": true, "info": true, "information": true,
	"equipment": true, "metadata": true, "feedback": true, "software": true,
	"hardware": true, "firmware": true, "middleware": true, "traffic": true, "staff": true,
	"advice": true, "evidence": true, "knowledge": true, "research": true, "chassis": true,
}

// pluralIrregular maps irregular words to their plurals, whole words only, grouped by
// the rule they break.
var pluralIrregular = map[string]string{
	// Old English plurals.
	"person": "people", "child": "children", "man": "men", "woman": "women",
	"mouse": "mice", "goose": "geese", "tooth": "teeth", "foot": "feet", "ox": "oxen",

	// -f and -fe that become -ves (others, such as roof and cafe, take -s).
	"leaf": "leaves", "loaf": "loaves", "thief": "thieves", "sheaf": "sheaves",
	"knife": "knives", "wife": "wives", "life": "lives", "half": "halves", "calf": "calves",
	"wolf": "wolves", "shelf": "shelves", "self": "selves", "elf": "elves",

	// -o that takes -es (others, such as photo and radio, take -s).
	"hero": "heroes", "potato": "potatoes", "tomato": "tomatoes", "echo": "echoes",
	"veto": "vetoes", "torpedo": "torpedoes", "embargo": "embargoes", "domino": "dominoes",
	"mosquito": "mosquitoes", "volcano": "volcanoes",

	// Latin and Greek plurals that are still the usual form.
	"criterion": "criteria", "phenomenon": "phenomena", "datum": "data", "medium": "media",
	"curriculum": "curricula", "bacterium": "bacteria", "matrix": "matrices",
	"vertex": "vertices", "appendix": "appendices",

	// A final -z doubled after a short vowel.
	"quiz": "quizzes", "whiz": "whizzes", "fez": "fezzes",

	// -ch sounded as /k/ takes -s.
	"epoch": "epochs", "stomach": "stomachs", "monarch": "monarchs",

	// Singular words ending in -s that rule 3 would take as plural.
	"lens": "lenses",
}
