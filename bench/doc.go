// Package bench measures syncgen against hand-written baselines in the same run, with
// the same SQLite settings (OpenSQLite's defaults). Run:
//
//	go test -run '^$' -bench . ./bench/...
//
// They run on the SQLite driver of the build (-tags syncgen_purego: the pure-Go one);
// go run ./bench/drivers runs them on each driver and prints the figures side by side.
package bench
