// Command syncgen generates offline-first repositories from tagged Go structs.
//
//	//go:generate go tool syncgen
//
// Usage: syncgen [flags] [packages]   (packages default to ".")
//
// Exit codes: 0 success; 1 diagnostics, or -check found differences; 2 usage or other
// failures.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/syncgen/syncgen/generator"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is the whole command, with its streams, so tests call it directly.
func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("syncgen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		check       = fs.Bool("check", false, "write nothing; exit 1 with a unified diff when anything would change")
		server      = fs.Bool("server", false, "also generate the sync server (server_syncgen.go)")
		destructive = fs.Bool("allow-destructive", false, "allow migrations that drop columns or tables or change a column's type")
		verbose     = fs.Bool("v", false, "print each file written or removed")
		tags        = fs.String("tags", "", "comma-separated build tags to load the packages with (syncgen is always added)")
	)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: syncgen [flags] [packages]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	cfg := generator.Config{
		Patterns:         fs.Args(),
		Server:           *server,
		AllowDestructive: *destructive,
	}
	if *tags != "" {
		cfg.Tags = strings.Split(*tags, ",")
	}
	wd, err := os.Getwd()
	if err != nil {
		fmt.Fprintln(stderr, "syncgen:", err)
		return 2
	}
	cfg.Dir = wd

	res, err := generator.Generate(cfg)
	var diags *generator.Diagnostics
	switch {
	case errors.As(err, &diags):
		fmt.Fprintln(stderr, diags)
		return 1
	case err != nil:
		fmt.Fprintln(stderr, "syncgen:", err)
		return 2
	}
	changes, err := res.Changes()
	if err != nil {
		fmt.Fprintln(stderr, "syncgen:", err)
		return 2
	}
	if *check {
		if len(changes) == 0 {
			return 0
		}
		fmt.Fprint(stdout, generator.Diff(wd, changes))
		fmt.Fprintf(stderr, "syncgen: %d generated file(s) out of date: run go generate\n", len(changes))
		return 1
	}
	if err := generator.Write(changes); err != nil {
		fmt.Fprintln(stderr, "syncgen:", err)
		return 2
	}
	if *verbose {
		for _, c := range changes {
			verb := "wrote"
			if c.New == nil {
				verb = "removed"
			}
			fmt.Fprintln(stderr, verb, c.Path)
		}
	}
	return 0
}
