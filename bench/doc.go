// Package bench measures syncgen against hand-written baselines in the same run, with
// the same SQLite settings (OpenSQLite's defaults). Run:
//
//	go test -run '^$' -bench . ./bench/...
package bench
