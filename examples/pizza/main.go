// Command pizza is syncgen's example, end to end on the embedded default: a SQLite file
// in a temporary directory (or -db DIR) and no setup.
//
// It shows what is built so far: the generated repository of package menu over
// SQLite — migrations, typed writes and queries, a transaction across two models,
// a subscription that follows every committed write, and deletes as tombstones.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/syncgen/syncgen/examples/pizza/menu"
	"github.com/syncgen/syncgen/runtime"
)

func main() {
	dbDir := flag.String("db", "", "directory for the SQLite files (default: a new temporary directory)")
	flag.Parse()
	if err := run(context.Background(), *dbDir, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "pizza:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, dir string, out io.Writer) error {
	if dir == "" {
		tmp, err := os.MkdirTemp("", "syncgen-pizza-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	}
	path := filepath.Join(dir, "app.db")
	db, err := runtime.OpenSQLite(path)
	if err != nil {
		return err
	}
	defer db.Close()
	repo, err := menu.NewRepository(db, nil) // nil remote: local only
	if err != nil {
		return err
	}
	defer repo.Close()
	if err := repo.Migrate(ctx); err != nil {
		return err
	}
	fmt.Fprintf(out, "opened %s and applied the migrations\n", path)

	// Follow the vegan menu: the current result now, and again after each commit.
	subCtx, stopSub := context.WithCancel(ctx)
	defer stopSub()
	vegan := repo.Pizzas.Subscribe(subCtx, menu.PizzaQuery{}.
		Where(menu.PizzaFields.Vegan.Eq(true)).
		OrderBy(menu.PizzaFields.Name.Asc()))
	done := make(chan struct{})
	go func() {
		defer close(done)
		last := ""
		for ps := range vegan {
			if line := names(ps); line != last { // latest result wins; print changes only
				fmt.Fprintf(out, "  [subscription] vegan menu: %s\n", line)
				last = line
			}
		}
	}()

	pizzas := []*menu.Pizza{
		{ID: runtime.NewID(), Name: "Margherita", Price: 900, Toppings: []string{"tomato", "mozzarella", "basil"}},
		{ID: runtime.NewID(), Name: "Marinara", Price: 700, Toppings: []string{"tomato", "garlic", "oregano"}, Vegan: true},
		{ID: runtime.NewID(), Name: "Funghi", Price: 1000, Toppings: []string{"tomato", "mushrooms"}, Vegan: true},
	}
	if err := repo.Pizzas.UpsertMany(ctx, pizzas); err != nil {
		return err
	}
	fmt.Fprintf(out, "added %d pizzas in one transaction\n", len(pizzas))
	settle()

	// An order and a price change commit together, or not at all.
	err = repo.Tx(ctx, func(tx *menu.Tx) error {
		if err := tx.Orders.Upsert(ctx, &menu.Order{ID: runtime.NewID(), PizzaID: pizzas[1].ID, Customer: "Ada", Quantity: 2, Note: "ring twice"}); err != nil {
			return err
		}
		pizzas[1].Price = 750
		return tx.Pizzas.Upsert(ctx, pizzas[1])
	})
	if err != nil {
		return err
	}
	fmt.Fprintln(out, "ordered two Marinaras and raised its price, in one transaction")

	cheap, err := repo.Pizzas.Find(ctx, menu.PizzaQuery{}.
		Where(menu.PizzaFields.Price.Lt(950)).
		OrderBy(menu.PizzaFields.Price.Asc()))
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "pizzas under 9.50: %s\n", names(cheap))

	if err := repo.Pizzas.Delete(ctx, pizzas[2].ID); err != nil {
		return err
	}
	if _, err := repo.Pizzas.Get(ctx, pizzas[2].ID); err != nil {
		fmt.Fprintf(out, "deleted Funghi: Get says %v\n", err)
	}
	settle()
	stopSub()
	<-done

	all, err := repo.Pizzas.Find(ctx, menu.PizzaQuery{}.OrderBy(menu.PizzaFields.Name.Asc()))
	if err != nil {
		return err
	}
	orders, err := repo.Orders.Count(ctx, menu.OrderQuery{})
	if err != nil {
		return err
	}
	fmt.Fprintln(out)
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "pizza\tprice\tvegan\ttoppings\tupdated")
	for _, p := range all {
		fmt.Fprintf(tw, "%s\t%d.%02d\t%v\t%s\t%s\n", p.Name, p.Price/100, p.Price%100, p.Vegan, strings.Join(p.Toppings, ", "), p.UpdatedAt.Format(time.RFC3339Nano))
	}
	tw.Flush()
	fmt.Fprintf(out, "\n%d pizzas on the menu, %d order(s) stored\n", len(all), orders)
	return nil
}

// settle gives the subscription a moment to print, so the story reads in order.
func settle() { time.Sleep(50 * time.Millisecond) }

func names(ps []menu.Pizza) string {
	if len(ps) == 0 {
		return "(none)"
	}
	var out []string
	for _, p := range ps {
		out = append(out, p.Name)
	}
	return strings.Join(out, ", ")
}
