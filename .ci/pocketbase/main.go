// Command pocketbase is PocketBase as its docs show it, unextended: the real server of
// syncgen's PocketBase tests. .ci/pocketbase.sh builds it; see that script for why.
package main

import (
	"log"

	"github.com/pocketbase/pocketbase"
)

func main() {
	app := pocketbase.New()
	if err := app.Start(); err != nil {
		log.Fatal(err)
	}
}
