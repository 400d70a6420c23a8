// Command drivers reports syncgen's benchmarks on each SQLite driver side by side.
//
// A binary links one SQLite driver (build tags choose it), so each driver is its own
// `go test -bench` run of ./bench; the runs alternate between the drivers -count times,
// so that a slow spell of the machine hits them alike, and the table shows medians.
// Within a run, each syncgen figure has its hand-written baseline on the same driver.
// With -build it also times a cold build of ./examples/pizza per driver: a fresh build
// cache holding only the standard library, as on a new machine after `go build std`.
//
//	go run ./bench/drivers                      # PullApply, UpsertMany, Get, Find
//	go run ./bench/drivers -build -count 5 -out /tmp/drivers
//	go run ./bench/drivers -bench '^BenchmarkEncrypted$' -drivers purego=syncgen_purego
//
// -out keeps each run's output, for benchstat.
package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// driver is a build of syncgen: a name and the build tags that select its driver.
type driver struct{ name, tags string }

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("drivers", flag.ContinueOnError)
	fs.SetOutput(stderr)
	count := fs.Int("count", 3, "runs per driver")
	bench := fs.String("bench", "^Benchmark(PullApply|UpsertMany|Get|Find)$/^(syncgen|local|synced|raw)$", "benchmarks to run (go test -bench)")
	drivers := fs.String("drivers", "mattn=,purego=syncgen_purego", "comma-separated name=tags; the first is the reference")
	build := fs.Bool("build", false, "also time a cold build of ./examples/pizza per driver")
	out := fs.String("out", "", "directory to keep each run's output in")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	var ds []driver
	for _, spec := range strings.Split(*drivers, ",") {
		name, tags, _ := strings.Cut(spec, "=")
		ds = append(ds, driver{name, strings.ReplaceAll(tags, "+", ",")})
	}
	if *out != "" {
		if err := os.MkdirAll(*out, 0o755); err != nil {
			fmt.Fprintln(stderr, err)
			return 2
		}
	}

	results := map[string][]map[string]metric{} // driver → runs → benchmark → metric
	for i := range *count {
		for _, d := range ds {
			fmt.Fprintf(stderr, "run %d/%d: %s\n", i+1, *count, d.name)
			cmd := exec.Command("go", "test", "-run", "^$", "-bench", *bench, "-count", "1", "-tags", d.tags, "./bench")
			var buf bytes.Buffer
			cmd.Stdout, cmd.Stderr = &buf, &buf
			err := cmd.Run()
			if *out != "" {
				os.WriteFile(filepath.Join(*out, fmt.Sprintf("%s-%d.txt", d.name, i+1)), buf.Bytes(), 0o644)
			}
			if err != nil {
				fmt.Fprintf(stderr, "%s: %v\n%s", d.name, err, buf.Bytes())
				return 1
			}
			results[d.name] = append(results[d.name], parse(&buf))
		}
	}
	report(stdout, ds, results)

	if *build {
		fmt.Fprintln(stdout, "\n| cold build of ./examples/pizza | seconds |\n| --- | --- |")
		for _, d := range ds {
			secs, err := coldBuild(d)
			if err != nil {
				fmt.Fprintf(stderr, "build %s: %v\n", d.name, err)
				return 1
			}
			fmt.Fprintf(stdout, "| %s | %.0f |\n", d.name, secs)
		}
	}
	return 0
}

// metric is a benchmark's headline figure: records/s where it reports one, else ns/op.
type metric struct {
	value      float64
	throughput bool // records/s: higher is faster
}

var benchLine = regexp.MustCompile(`^(Benchmark\S+?)(-\d+)?\s+\d+\s+(.*)$`)

func parse(r io.Reader) map[string]metric {
	m := map[string]metric{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		match := benchLine.FindStringSubmatch(sc.Text())
		if match == nil {
			continue
		}
		fields := strings.Fields(match[3])
		for i := 0; i+1 < len(fields); i += 2 {
			v, err := strconv.ParseFloat(fields[i], 64)
			if err != nil {
				continue
			}
			switch fields[i+1] {
			case "records/s":
				m[match[1]] = metric{v, true}
			case "ns/op":
				if _, ok := m[match[1]]; !ok {
					m[match[1]] = metric{v, false}
				}
			}
		}
	}
	return m
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	xs = slices.Clone(xs)
	slices.Sort(xs)
	if len(xs)%2 == 1 {
		return xs[len(xs)/2]
	}
	return (xs[len(xs)/2-1] + xs[len(xs)/2]) / 2
}

// speed is how much faster a is than b (above 1: a is faster).
func speed(a, b metric) float64 {
	if a.throughput {
		return a.value / b.value
	}
	return b.value / a.value
}

func report(w io.Writer, ds []driver, results map[string][]map[string]metric) {
	var names []string
	for _, run := range results[ds[0].name] {
		for name := range run {
			if !slices.Contains(names, name) {
				names = append(names, name)
			}
		}
	}
	slices.Sort(names)
	med := func(d, name string) (metric, bool) {
		var xs []float64
		var m metric
		for _, run := range results[d] {
			if v, ok := run[name]; ok {
				xs = append(xs, v.value)
				m = v
			}
		}
		m.value = median(xs)
		return m, len(xs) > 0
	}
	format := func(m metric) string {
		if m.throughput {
			return fmt.Sprintf("%.1fk rec/s", m.value/1000)
		}
		return time.Duration(m.value).Round(100 * time.Nanosecond).String()
	}

	fmt.Fprint(w, "| benchmark |")
	for _, d := range ds {
		fmt.Fprintf(w, " %s |", d.name)
	}
	for _, d := range ds[1:] {
		fmt.Fprintf(w, " %s vs %s |", d.name, ds[0].name)
	}
	fmt.Fprint(w, "\n| --- |"+strings.Repeat(" --- |", 2*len(ds)-1)+"\n")
	for _, name := range names {
		ref, _ := med(ds[0].name, name)
		fmt.Fprintf(w, "| %s |", strings.TrimPrefix(name, "Benchmark"))
		for _, d := range ds {
			m, ok := med(d.name, name)
			if !ok {
				fmt.Fprint(w, " — |")
				continue
			}
			fmt.Fprintf(w, " %s |", format(m))
		}
		for _, d := range ds[1:] {
			if m, ok := med(d.name, name); ok {
				fmt.Fprintf(w, " %.2f× |", speed(m, ref))
			} else {
				fmt.Fprint(w, " — |")
			}
		}
		fmt.Fprintln(w)
	}

	// Each syncgen figure over its baseline in the same run, per driver.
	fmt.Fprint(w, "\n| against its baseline, same run |")
	for _, d := range ds {
		fmt.Fprintf(w, " %s |", d.name)
	}
	fmt.Fprint(w, "\n| --- |"+strings.Repeat(" --- |", len(ds))+"\n")
	for _, name := range names {
		base, ok := baseline(name)
		if !ok {
			continue
		}
		fmt.Fprintf(w, "| %s ÷ %s |", strings.TrimPrefix(name, "Benchmark"), strings.TrimPrefix(base, "Benchmark"))
		for _, d := range ds {
			var ratios []float64
			for _, run := range results[d.name] {
				a, aok := run[name]
				b, bok := run[base]
				if aok && bok {
					ratios = append(ratios, speed(a, b))
				}
			}
			if len(ratios) == 0 {
				fmt.Fprint(w, " — |")
			} else {
				fmt.Fprintf(w, " %.2f× |", median(ratios))
			}
		}
		fmt.Fprintln(w)
	}
}

// baseline names the benchmark of the same run that name is measured against:
// X/raw for X/syncgen and the like, Encrypted/plain/Y for Encrypted/encrypted/Y.
func baseline(name string) (string, bool) {
	if rest, ok := strings.CutPrefix(name, "BenchmarkEncrypted/encrypted/"); ok {
		return "BenchmarkEncrypted/plain/" + rest, true
	}
	group, sub, ok := strings.Cut(name, "/")
	if !ok || strings.HasPrefix(group, "BenchmarkEncrypted") || sub == "raw" || sub == "naive" {
		return "", false
	}
	return group + "/raw", true
}

// coldBuild times `go build ./examples/pizza` for d with an empty build cache that
// holds only the standard library, built first and not timed.
func coldBuild(d driver) (float64, error) {
	cache, err := os.MkdirTemp("", "syncgen-coldbuild-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(cache)
	env := append(os.Environ(), "GOCACHE="+cache)
	if out, err := command(env, "go", "build", "-tags", d.tags, "std").CombinedOutput(); err != nil {
		return 0, fmt.Errorf("build std: %v\n%s", err, out)
	}
	start := time.Now()
	if out, err := command(env, "go", "build", "-tags", d.tags, "-o", os.DevNull, "./examples/pizza").CombinedOutput(); err != nil {
		return 0, fmt.Errorf("%v\n%s", err, out)
	}
	return time.Since(start).Seconds(), nil
}

func command(env []string, name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.Env = env
	return cmd
}
