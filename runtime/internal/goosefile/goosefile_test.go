package goosefile

import (
	"reflect"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want File
	}{
		{
			name: "up and down",
			src: `-- +goose Up
-- a comment
CREATE TABLE a (id TEXT PRIMARY KEY);
CREATE INDEX a_id ON a (id);

-- +goose Down
DROP TABLE a;
`,
			want: File{
				Up: []Statement{
					{SQL: "CREATE TABLE a (id TEXT PRIMARY KEY);", Line: 3},
					{SQL: "CREATE INDEX a_id ON a (id);", Line: 4},
				},
				Down: []Statement{{SQL: "DROP TABLE a;", Line: 7}},
			},
		},
		{
			name: "multi-line statement and trailing comment",
			src:  "-- +goose Up\r\nCREATE TABLE a (\r\n  id TEXT, -- the id\r\n\r\n  n INTEGER\r\n); -- done\r\n",
			want: File{Up: []Statement{{SQL: "CREATE TABLE a (\n  id TEXT, -- the id\n\n  n INTEGER\n); -- done", Line: 2}}},
		},
		{
			name: "statement block",
			src: `-- +goose Up
CREATE TABLE a (id TEXT, n INTEGER);
-- +goose StatementBegin
CREATE TRIGGER a_n AFTER INSERT ON a BEGIN
  UPDATE a SET n = 1 WHERE id = NEW.id;
  -- inside
  UPDATE a SET n = n + 1 WHERE id = NEW.id;
END;
-- +goose StatementEnd
-- +goose Down
DROP TABLE a;
`,
			want: File{
				Up: []Statement{
					{SQL: "CREATE TABLE a (id TEXT, n INTEGER);", Line: 2},
					{SQL: "CREATE TRIGGER a_n AFTER INSERT ON a BEGIN\n  UPDATE a SET n = 1 WHERE id = NEW.id;\n  UPDATE a SET n = n + 1 WHERE id = NEW.id;\nEND;", Line: 4},
				},
				Down: []Statement{{SQL: "DROP TABLE a;", Line: 11}},
			},
		},
		{
			name: "no transaction, annotations case and spacing",
			src: `-- +goose NO TRANSACTION
--   +goose   up
PRAGMA foreign_keys=OFF;
BEGIN;
COMMIT;
-- +goose DOWN
`,
			want: File{
				NoTransaction: true,
				Up: []Statement{
					{SQL: "PRAGMA foreign_keys=OFF;", Line: 3},
					{SQL: "BEGIN;", Line: 4},
					{SQL: "COMMIT;", Line: 5},
				},
			},
		},
		{
			name: "empty up",
			src:  "-- +goose Up\n-- +goose Down\nDROP TABLE a;\n",
			want: File{Down: []Statement{{SQL: "DROP TABLE a;", Line: 3}}},
		},
		{
			name: "semicolon inside a comment word does not end",
			src:  "-- +goose Up\nSELECT 1 --;\n;\n",
			want: File{Up: []Statement{{SQL: "SELECT 1 --;\n;", Line: 2}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(tt.src)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Parse =\n%#v\nwant\n%#v", got, tt.want)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, src, want string
	}{
		{"no up", "-- just a comment\n", "no -- +goose Up annotation"},
		{"sql before up", "CREATE TABLE a (id TEXT);\n-- +goose Up\n", "line 1: SQL before -- +goose Up"},
		{"missing semicolon at end", "-- +goose Up\nCREATE TABLE a (id TEXT)\n", "line 2: unfinished statement at end of file"},
		{"missing semicolon before down", "-- +goose Up\nCREATE TABLE a (id TEXT)\n-- +goose Down\n", "line 3: -- +goose Down after an unfinished statement starting at line 2"},
		{"unterminated block", "-- +goose Up\n-- +goose StatementBegin\nSELECT 1;\n", "line 2: -- +goose StatementBegin without StatementEnd"},
		{"end without begin", "-- +goose Up\n-- +goose StatementEnd\n", "line 2: -- +goose StatementEnd without StatementBegin"},
		{"nested block", "-- +goose Up\n-- +goose StatementBegin\n-- +goose StatementBegin\n", "line 3: -- +goose StatementBegin inside the StatementBegin block of line 2"},
		{"second up", "-- +goose Up\n-- +goose Up\n", "line 2: second -- +goose Up"},
		{"unknown annotation", "-- +goose ENVSUB ON\n-- +goose Up\n", `line 1: unsupported annotation "+goose ENVSUB ON"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(tt.src)
			if err == nil {
				t.Fatalf("Parse succeeded, want error containing %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Parse error = %q, want it to contain %q", err, tt.want)
			}
		})
	}
}
