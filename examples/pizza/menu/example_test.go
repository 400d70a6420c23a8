package menu_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/syncgen/syncgen/examples/pizza/menu"
	"github.com/syncgen/syncgen/remote"
	"github.com/syncgen/syncgen/runtime"
)

// open returns a migrated local-only repository on an in-memory database.
func open() (*menu.Repository, func()) {
	db, err := runtime.OpenSQLite(":memory:")
	if err != nil {
		panic(err)
	}
	repo, err := menu.NewRepository(db, nil) // nil remote: local only
	if err != nil {
		panic(err)
	}
	if err := repo.Migrate(context.Background()); err != nil {
		panic(err)
	}
	return repo, func() { repo.Close(); db.Close() }
}

func ExampleNewRepository() {
	ctx := context.Background()
	db, err := runtime.OpenSQLite(":memory:") // a file path in an app
	if err != nil {
		fmt.Println(err)
		return
	}
	defer db.Close()
	repo, err := menu.NewRepository(db, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer repo.Close()
	if err := repo.Migrate(ctx); err != nil { // at every start: applies what is pending
		fmt.Println(err)
		return
	}
	p := menu.Pizza{ID: runtime.NewID(), Name: "Margherita", Price: 900}
	if err := repo.Pizzas.Upsert(ctx, &p); err != nil {
		fmt.Println(err)
		return
	}
	got, err := repo.Pizzas.Get(ctx, p.ID)
	fmt.Println(got.Name, got.Price, !got.UpdatedAt.IsZero(), err)
	// Output: Margherita 900 true <nil>
}

func ExamplePizzaQuery() {
	ctx := context.Background()
	repo, done := open()
	defer done()
	repo.Pizzas.UpsertMany(ctx, []*menu.Pizza{
		{ID: "1", Name: "Margherita", Price: 900},
		{ID: "2", Name: "Marinara", Price: 700, Vegan: true},
		{ID: "3", Name: "Funghi", Price: 1000, Vegan: true},
	})
	F := menu.PizzaFields
	q := menu.PizzaQuery{}.
		Where(menu.PizzaOr(F.Vegan.Eq(true), F.Price.Lt(800)), F.Name.HasPrefix("M")).
		OrderBy(F.Price.Desc()).
		Limit(10)
	pizzas, _ := repo.Pizzas.Find(ctx, q)
	for _, p := range pizzas {
		fmt.Println(p.Name, p.Price)
	}
	n, _ := repo.Pizzas.Count(ctx, menu.PizzaQuery{}.Where(F.Vegan.Eq(true)))
	fmt.Println(n, "vegan")
	// Output:
	// Marinara 700
	// 2 vegan
}

func ExampleRepository_Tx() {
	ctx := context.Background()
	repo, done := open()
	defer done()
	err := repo.Tx(ctx, func(tx *menu.Tx) error {
		p := menu.Pizza{ID: "1", Name: "Funghi", Price: 1000}
		if err := tx.Pizzas.Upsert(ctx, &p); err != nil {
			return err
		}
		if err := tx.Orders.Upsert(ctx, &menu.Order{ID: "o1", PizzaID: p.ID, Quantity: 2}); err != nil {
			return err
		}
		return errors.New("out of mushrooms") // rolls back both writes
	})
	n, _ := repo.Pizzas.Count(ctx, menu.PizzaQuery{})
	fmt.Println(err, n)
	// Output: out of mushrooms 0
}

func ExamplePizzaRepository_Delete() {
	ctx := context.Background()
	repo, done := open()
	defer done()
	p := menu.Pizza{ID: "1", Name: "Hawaii"}
	repo.Pizzas.Upsert(ctx, &p)
	repo.Pizzas.Delete(ctx, p.ID) // Pizza has deletedAt: the record stays as a tombstone
	_, err := repo.Pizzas.Get(ctx, p.ID)
	fmt.Println(errors.Is(err, runtime.ErrNotFound))
	// Output: true
}

func ExamplePizzaRepository_Subscribe() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	repo, done := open()
	defer done()
	menuUpdates := repo.Pizzas.Subscribe(ctx, menu.PizzaQuery{}.OrderBy(menu.PizzaFields.Name.Asc()))
	fmt.Println(len(<-menuUpdates)) // the result now
	repo.Pizzas.Upsert(ctx, &menu.Pizza{ID: "1", Name: "Diavola"})
	fmt.Println(len(<-menuUpdates)) // and after each committed write
	// Output:
	// 0
	// 1
}

// A resolver decides what happens to a pizza edited here and on the server before the two
// met. This one takes the server's record but keeps this client's price.
func ExampleWithPizzaResolver() {
	keepMyPrice := menu.WithPizzaResolver(func(ctx context.Context, c runtime.Conflict[menu.Pizza]) (runtime.Resolution[menu.Pizza], error) {
		if c.Local == nil || c.Remote == nil { // absent on one side
			return runtime.LastWriterWins(ctx, c)
		}
		m := *c.Remote
		m.Price = c.Local.Price
		return runtime.Resolution[menu.Pizza]{Action: runtime.WriteMerged, Merged: &m}, nil
	})
	db, err := runtime.OpenSQLite("pizza.db")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer db.Close()
	repo, err := menu.NewRepository(db, remote.NewREST("https://api.example.com"), keepMyPrice)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer repo.Close()
	go repo.Run(context.Background()) // push and pull until Close
}
