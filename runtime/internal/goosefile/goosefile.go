// Package goosefile parses SQL migration files written in goose's format, so
// that the syncgen runtime applies exactly the statements goose would.
//
// A file has an Up section and optionally a Down section, each introduced by
// an annotation line (`-- +goose Up`, `-- +goose Down`). Outside a
// `-- +goose StatementBegin` / `-- +goose StatementEnd` block a statement ends
// at a line whose last word (before any `--` comment) ends with `;`; inside a
// block the whole block is one statement, however many semicolons it holds
// (trigger bodies). `-- +goose NO TRANSACTION` marks a file that must not run
// in the caller's transaction. Other full-line `--` comments are dropped.
package goosefile

import (
	"fmt"
	"strings"
)

// Statement is one SQL statement of a section.
type Statement struct {
	// SQL is the statement as written, full-line comments removed, trimmed.
	SQL string
	// Line is the 1-based line of the file where the statement starts.
	Line int
}

// File is a parsed migration file.
type File struct {
	Up            []Statement
	Down          []Statement
	NoTransaction bool
}

type section int

const (
	sectionNone section = iota
	sectionUp
	sectionDown
)

// Parse parses the text of one migration file. Errors name the line.
func Parse(src string) (File, error) {
	var (
		f         File
		cur       = sectionNone
		seenUp    bool
		seenDown  bool
		inBlock   bool
		blockLine int
		buf       []string
		bufLine   int
	)
	flush := func() {
		sql := strings.TrimSpace(strings.Join(buf, "\n"))
		buf = buf[:0]
		if sql == "" {
			return
		}
		st := Statement{SQL: sql, Line: bufLine}
		if cur == sectionUp {
			f.Up = append(f.Up, st)
		} else {
			f.Down = append(f.Down, st)
		}
	}
	// unfinished reports a statement still being collected when a new
	// section starts: goose refuses it too, and it is usually a missing `;`.
	unfinished := func(line int, what string) error {
		if inBlock {
			return fmt.Errorf("line %d: %s inside the StatementBegin block of line %d", line, what, blockLine)
		}
		if len(buf) > 0 {
			return fmt.Errorf("line %d: %s after an unfinished statement starting at line %d: missing semicolon?", line, what, bufLine)
		}
		return nil
	}

	lines := strings.Split(src, "\n")
	for i, raw := range lines {
		n := i + 1
		line := strings.TrimSuffix(raw, "\r")
		trimmed := strings.TrimSpace(line)

		if strings.HasPrefix(trimmed, "--") {
			cmd := strings.TrimSpace(strings.TrimPrefix(trimmed, "--"))
			if !strings.HasPrefix(cmd, "+goose") {
				continue // an ordinary comment
			}
			annotation := strings.Join(strings.Fields(strings.TrimPrefix(cmd, "+goose")), " ")
			switch strings.ToLower(annotation) {
			case "up":
				if err := unfinished(n, "-- +goose Up"); err != nil {
					return File{}, err
				}
				if seenUp {
					return File{}, fmt.Errorf("line %d: second -- +goose Up", n)
				}
				seenUp, cur = true, sectionUp
			case "down":
				if err := unfinished(n, "-- +goose Down"); err != nil {
					return File{}, err
				}
				if seenDown {
					return File{}, fmt.Errorf("line %d: second -- +goose Down", n)
				}
				seenDown, cur = true, sectionDown
			case "statementbegin":
				if err := unfinished(n, "-- +goose StatementBegin"); err != nil {
					return File{}, err
				}
				if cur == sectionNone {
					return File{}, fmt.Errorf("line %d: -- +goose StatementBegin before -- +goose Up", n)
				}
				inBlock, blockLine = true, n
			case "statementend":
				if !inBlock {
					return File{}, fmt.Errorf("line %d: -- +goose StatementEnd without StatementBegin", n)
				}
				flush()
				inBlock = false
			case "no transaction":
				f.NoTransaction = true
			default:
				return File{}, fmt.Errorf("line %d: unsupported annotation %q (want Up, Down, StatementBegin, StatementEnd or NO TRANSACTION)", n, "+goose "+annotation)
			}
			continue
		}

		if trimmed == "" {
			if len(buf) > 0 {
				buf = append(buf, line)
			}
			continue
		}
		if cur == sectionNone {
			return File{}, fmt.Errorf("line %d: SQL before -- +goose Up", n)
		}
		if len(buf) == 0 {
			bufLine = n
		}
		buf = append(buf, line)
		if !inBlock && endsWithSemicolon(line) {
			flush()
		}
	}
	if inBlock {
		return File{}, fmt.Errorf("line %d: -- +goose StatementBegin without StatementEnd", blockLine)
	}
	if len(buf) > 0 {
		return File{}, fmt.Errorf("line %d: unfinished statement at end of file: missing semicolon?", bufLine)
	}
	if !seenUp {
		return File{}, fmt.Errorf("no -- +goose Up annotation")
	}
	return f, nil
}

// endsWithSemicolon mirrors goose: the last whitespace-separated word before
// a word starting with "--" ends with ";". Doing exactly what goose does keeps
// one file meaning the same statements to both tools.
func endsWithSemicolon(line string) bool {
	prev := ""
	for _, word := range strings.Fields(line) {
		if strings.HasPrefix(word, "--") {
			break
		}
		prev = word
	}
	return strings.HasSuffix(prev, ";")
}
