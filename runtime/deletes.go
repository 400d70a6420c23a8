package runtime

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// ErrRestricted is what a *RestrictError is (errors.Is).
var ErrRestricted = errors.New("records point to it through a ref declared onDelete=restrict")

// RestrictError refuses a delete: live records point to the record through a ref declared
// sync:"ref=Model,onDelete=restrict".
type RestrictError struct {
	Model, ID string   // the record whose delete was refused
	By, Field string   // the model and ref field of the records that point to it
	IDs       []string // the first of them (at most 10)
}

func (e *RestrictError) Error() string {
	return fmt.Sprintf("delete %s %q: %s records point to it through %s (onDelete=restrict): %s",
		e.Model, e.ID, e.By, e.Field, strings.Join(e.IDs, ", "))
}

func (e *RestrictError) Is(target error) bool { return target == ErrRestricted }

// onDelete applies the onDelete rules of the refs that point to the record id of model s,
// before it is deleted: a restrict ref with live records refuses, a cascade ref deletes
// its records (and theirs, in turn) in tx, queued when queue is set. With tx nil it only
// checks, on q, that no restrict rule refuses. A record that is absent or already deleted
// has nothing to apply.
func (r *Repo) onDelete(ctx context.Context, q queryer, tx *Tx, s *Schema, id string, queue bool) error {
	if !r.hasOnDelete(s) {
		return nil
	}
	if ids, err := liveIDs(ctx, q, s, idColumn(s)+" = ?", id); err != nil || len(ids) == 0 {
		return err
	}
	return r.cascade(ctx, q, tx, s, id, queue, map[string]bool{s.Table + "\x00" + id: true})
}

func (r *Repo) cascade(ctx context.Context, q queryer, tx *Tx, s *Schema, id string, queue bool, seen map[string]bool) error {
	for _, m := range r.models {
		ms := m.schema()
		for i := range ms.Columns {
			c := &ms.Columns[i]
			if c.Ref != s.Model || c.OnDelete == "" {
				continue
			}
			cond := quoteIdent(c.Name) + " = ?"
			if isList(c) {
				cond = "EXISTS (SELECT 1 FROM json_each(" + quoteIdent(c.Name) + ") WHERE value = ?)"
			}
			ids, err := liveIDs(ctx, q, ms, cond, id)
			if err != nil {
				return fmt.Errorf("delete %s %q: %s records pointing to it: %w", s.Model, id, ms.Model, err)
			}
			if len(ids) > 0 && c.OnDelete == OnDeleteRestrict {
				return &RestrictError{Model: s.Model, ID: id, By: ms.Model, Field: c.Field, IDs: ids[:min(len(ids), 10)]}
			}
			for _, child := range ids {
				key := ms.Table + "\x00" + child
				if seen[key] {
					continue
				}
				seen[key] = true
				if err := r.cascade(ctx, q, tx, ms, child, queue, seen); err != nil {
					return err
				}
				if tx != nil {
					if err := m.deleteTx(ctx, tx, child, queue); err != nil {
						return err
					}
				}
			}
		}
	}
	return nil
}

// hasOnDelete reports whether any ref of the repository's models with an onDelete rule
// points to s.
func (r *Repo) hasOnDelete(s *Schema) bool {
	for _, m := range r.models {
		for _, c := range m.schema().Columns {
			if c.Ref == s.Model && c.OnDelete != "" {
				return true
			}
		}
	}
	return false
}

// liveIDs lists the ids of s's live records that match cond (one parameter, arg).
func liveIDs(ctx context.Context, q queryer, s *Schema, cond string, arg any) ([]string, error) {
	rows, err := q.QueryContext(ctx, "SELECT "+idColumn(s)+" FROM "+quoteIdent(s.Table)+" WHERE "+and(liveSQL(s, ""), cond)+" ORDER BY "+idColumn(s), arg)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}
