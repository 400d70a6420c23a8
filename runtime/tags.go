package runtime

import (
	"errors"
	"fmt"
	"reflect"

	"github.com/syncgen/syncgen/internal/taghash"
)

// ErrStaleGeneratedCode means a model's struct tags changed since syncgen generated its
// code: run go generate again.
var ErrStaleGeneratedCode = errors.New("generated code is stale: the model's struct tags changed since syncgen ran; run go generate")

// CheckTags compares the tags of model (a struct value or pointer) with the summary the
// generator recorded, so code generated from other tags never runs against the struct.
func CheckTags(model any, want string) error {
	t := reflect.TypeOf(model)
	if got := taghash.Sum(taghash.Of(t)); got != want {
		if t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		return fmt.Errorf("%s: %w", t.Name(), ErrStaleGeneratedCode)
	}
	return nil
}
