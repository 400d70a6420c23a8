package main

import (
	"bytes"
	"strings"
	"testing"
)

const runA = `goos: linux
BenchmarkGet/syncgen-2  	   47278	     40000 ns/op
BenchmarkGet/raw-2      	   33934	     20000 ns/op
BenchmarkUpsertMany/local-2         	       1	1015495364 ns/op	     100000 records/s
BenchmarkUpsertMany/raw-2           	       2	 732383282 ns/op	    200000 records/s
BenchmarkEncrypted/plain/Get-2     	    2000	     30000 ns/op
BenchmarkEncrypted/encrypted/Get-2 	    2000	     40000 ns/op
PASS
`

const runB = `BenchmarkGet/syncgen-2  	   47278	     80000 ns/op
BenchmarkGet/raw-2      	   33934	     80000 ns/op
BenchmarkUpsertMany/local-2         	       1	1015495364 ns/op	     50000 records/s
BenchmarkUpsertMany/raw-2           	       2	 732383282 ns/op	    50000 records/s
`

func TestReport(t *testing.T) {
	results := map[string][]map[string]metric{
		"a": {parse(strings.NewReader(runA))},
		"b": {parse(strings.NewReader(runB))},
	}
	var out bytes.Buffer
	report(&out, []driver{{"a", ""}, {"b", "tag"}}, results)
	for _, want := range []string{
		"| benchmark | a | b | b vs a |",
		"| Get/syncgen | 40µs | 80µs | 0.50× |",
		"| UpsertMany/local | 100.0k rec/s | 50.0k rec/s | 0.50× |",
		"| Encrypted/plain/Get | 30µs | — | — |",
		"| Get/syncgen ÷ Get/raw | 0.50× | 1.00× |",
		"| UpsertMany/local ÷ UpsertMany/raw | 0.50× | 1.00× |",
		"| Encrypted/encrypted/Get ÷ Encrypted/plain/Get | 0.75× | — |",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
}

func TestMedian(t *testing.T) {
	for _, c := range []struct {
		xs   []float64
		want float64
	}{{nil, 0}, {[]float64{3, 1, 2}, 2}, {[]float64{4, 1, 3, 2}, 2.5}} {
		if got := median(c.xs); got != c.want {
			t.Errorf("median(%v) = %v, want %v", c.xs, got, c.want)
		}
	}
}
