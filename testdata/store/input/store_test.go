package store

import (
	"context"
	"database/sql"
	"errors"
	"math"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/syncgen/syncgen/runtime"
)

func open(t *testing.T, path string) *Repository {
	t.Helper()
	db, err := runtime.OpenSQLite(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	repo, err := NewRepository(db, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { repo.Close() })
	if err := repo.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return repo
}

func newRepo(t *testing.T) *Repository {
	return open(t, filepath.Join(t.TempDir(), "app.db"))
}

func full() Pizza {
	nick := "it's \"quoted\""
	rating := float32(4.5)
	eaten := time.Date(2024, 2, 29, 23, 59, 59, 123456789, time.FixedZone("X", 3600))
	return Pizza{
		Base:     Base{ID: runtime.NewID()},
		Name:     "Margherita",
		Size:     Large,
		Price:    -1250,
		Weight:   0.1,
		Slices:   255,
		Vegan:    true,
		Nick:     &nick,
		Rating:   &rating,
		BakedAt:  time.Date(2024, 1, 2, 3, 4, 5, 999999999, time.UTC),
		EatenAt:  &eaten,
		Photo:    []byte{0, 1, 2, 255},
		Toppings: []string{"basil", "mozzarella"},
		Extras:   map[string]int{"olive": 3},
		Dough:    Dough{Kind: "sourdough", Grams: 250},
		Crust:    &Dough{Kind: "thin"},
		Coupon:   sql.NullString{String: "HALF", Valid: true},
		Note:     "local only",
		Score:    7,
	}
}

// same compares records as stored: times by Equal.
func same(t *testing.T, got, want Pizza) {
	t.Helper()
	if !got.BakedAt.Equal(want.BakedAt) || (got.EatenAt == nil) != (want.EatenAt == nil) ||
		got.EatenAt != nil && !got.EatenAt.Equal(*want.EatenAt) || !got.UpdatedAt.Equal(want.UpdatedAt) {
		t.Fatalf("times differ:\n got %+v\nwant %+v", got, want)
	}
	got.BakedAt, want.BakedAt, got.EatenAt, want.EatenAt, got.UpdatedAt, want.UpdatedAt = time.Time{}, time.Time{}, nil, nil, time.Time{}, time.Time{}
	want.Cache = nil
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("round trip differs:\n got %+v\nwant %+v", got, want)
	}
}

func TestRoundTrip(t *testing.T) {
	ctx := context.Background()
	repo := newRepo(t)
	for name, p := range map[string]Pizza{
		"full":  full(),
		"zero":  {Base: Base{ID: "zero"}},
		"empty": {Base: Base{ID: "empty"}, Photo: []byte{}, Toppings: []string{}, Extras: map[string]int{}},
	} {
		p.Cache = map[string]string{"not": "stored"}
		if err := repo.Pizzas.Upsert(ctx, &p); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if p.UpdatedAt.IsZero() || p.UpdatedAt.Nanosecond()%1000 != 0 {
			t.Fatalf("%s: updatedAt not stamped to the microsecond: %v", name, p.UpdatedAt)
		}
		got, err := repo.Pizzas.Get(ctx, p.ID)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		same(t, got, p)
		if got.BakedAt.Location() != time.UTC {
			t.Fatalf("%s: times read back in UTC, got %v", name, got.BakedAt.Location())
		}
	}
}

func TestStampsIncrease(t *testing.T) {
	ctx := context.Background()
	repo := newRepo(t)
	p := full()
	var last time.Time
	for i := 0; i < 100; i++ {
		if err := repo.Pizzas.Upsert(ctx, &p); err != nil {
			t.Fatal(err)
		}
		if !p.UpdatedAt.After(last) {
			t.Fatalf("stamp %d not after the previous: %v <= %v", i, p.UpdatedAt, last)
		}
		last = p.UpdatedAt
	}
}

func seed(t *testing.T, repo *Repository) {
	t.Helper()
	var ps []*Pizza
	for i, name := range []string{"a", "b", "c", "d", "e", "O'Brien \"special\"; DROP TABLE pizzas; --", "50%_off"} {
		p := &Pizza{Base: Base{ID: name + "-id"}, Name: name, Price: int64(i * 100), Size: Small}
		if i%2 == 0 {
			p.Size = Large
			nick := "n" + name
			p.Nick = &nick
		}
		ps = append(ps, p)
	}
	if err := repo.Pizzas.UpsertMany(context.Background(), ps); err != nil {
		t.Fatal(err)
	}
}

func names(ps []Pizza) string {
	var out []string
	for _, p := range ps {
		out = append(out, p.Name)
	}
	return strings.Join(out, ",")
}

func TestQueries(t *testing.T) {
	ctx := context.Background()
	repo := newRepo(t)
	seed(t, repo)
	F := PizzaFields
	byName := PizzaQuery{}.OrderBy(F.Name.Asc())
	quote := "O'Brien \"special\"; DROP TABLE pizzas; --"
	for _, tc := range []struct {
		q    PizzaQuery
		want string
	}{
		{byName, "50%_off,O'Brien \"special\"; DROP TABLE pizzas; --,a,b,c,d,e"},
		{byName.Where(F.Price.Ge(200), F.Price.Lt(400)), "c,d"},
		{byName.Where(F.Size.Eq(Large)), "50%_off,a,c,e"},
		{byName.Where(F.Size.Ne(Large)), "O'Brien \"special\"; DROP TABLE pizzas; --,b,d"},
		{byName.Where(F.Name.In("a", "e", "zzz")), "a,e"},
		{byName.Where(F.Name.NotIn("a", "b", "c", "d", "e")), "50%_off," + quote},
		{byName.Where(F.Name.In()), ""},
		{byName.Where(F.Name.Eq(quote)), quote},
		{byName.Where(F.Name.HasPrefix("50%")), "50%_off"},
		{byName.Where(F.Name.HasPrefix("5_")), ""},
		{byName.Where(F.Name.Like(`50\%%`)), "50%_off"},
		{byName.Where(F.Nick.IsNull()), quote + ",b,d"},
		{byName.Where(F.Nick.NotNull(), F.Nick.Gt("nb")), "c,e"},
		{byName.Where(F.Nick.Eq("na")), "a"},
		{byName.Where(PizzaOr(F.Name.Eq("a"), F.Price.Gt(500))), "50%_off,a"},
		{byName.Where(PizzaOr()), ""},
		{PizzaQuery{}.OrderBy(F.Price.Desc()).Limit(2), "50%_off," + quote},
		{PizzaQuery{}.OrderBy(F.Price.Asc()).Limit(2).Offset(2), "c,d"},
		{PizzaQuery{}.OrderBy(F.Price.Asc()).Offset(5), quote + ",50%_off"},
		{byName.Where(F.Crust.IsNull(), F.Name.Eq("a")), "a"},
		{byName.Where(F.UpdatedAt.Gt(time.Now().Add(time.Hour))), ""},
	} {
		got, err := repo.Pizzas.Find(ctx, tc.q)
		if err != nil {
			t.Fatalf("%s: %v", tc.want, err)
		}
		if names(got) != tc.want {
			t.Errorf("query %q:\n got %s\nwant %s", tc.q.Key(), names(got), tc.want)
		}
		n, err := repo.Pizzas.Count(ctx, tc.q)
		if err != nil || n != len(got) {
			t.Errorf("count %q: %d, %v; want %d", tc.q.Key(), n, err, len(got))
		}
	}
	// Queries are values: building on one leaves it unchanged.
	base := PizzaQuery{}.Where(F.Price.Gt(0))
	_ = base.Where(F.Price.Gt(1000)).Limit(1)
	if n, _ := repo.Pizzas.Count(ctx, base); n != 6 {
		t.Fatalf("base query changed: count %d", n)
	}
	if base.Key() == base.Limit(1).Key() || base.Key() != (PizzaQuery{}).Where(F.Price.Gt(0)).Key() {
		t.Fatal("Key is not canonical")
	}
}

func TestTxRollsBack(t *testing.T) {
	ctx := context.Background()
	repo := newRepo(t)
	boom := errors.New("boom")
	err := repo.Tx(ctx, func(tx *Tx) error {
		p := full()
		if err := tx.Pizzas.Upsert(ctx, &p); err != nil {
			return err
		}
		if err := tx.Toppings.Upsert(ctx, &Topping{Name: "basil", PizzaID: p.ID}); err != nil {
			return err
		}
		if n, err := tx.Pizzas.Count(ctx, PizzaQuery{}); err != nil || n != 1 {
			t.Errorf("inside the tx: count %d, %v", n, err)
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Tx returned %v", err)
	}
	for _, n := range []func() (int, error){
		func() (int, error) { return repo.Pizzas.Count(ctx, PizzaQuery{}) },
		func() (int, error) { return repo.Toppings.Count(ctx, ToppingQuery{}) },
	} {
		if c, err := n(); err != nil || c != 0 {
			t.Fatalf("after rollback: %d records, %v", c, err)
		}
	}
	// A committed Tx keeps both.
	err = repo.Tx(ctx, func(tx *Tx) error {
		p := full()
		if err := tx.Pizzas.Upsert(ctx, &p); err != nil {
			return err
		}
		return tx.Toppings.Upsert(ctx, &Topping{Name: "basil", PizzaID: p.ID})
	})
	if err != nil {
		t.Fatal(err)
	}
	if c, _ := repo.Toppings.Count(ctx, ToppingQuery{}); c != 1 {
		t.Fatal("committed tx lost its write")
	}
}

func TestDeletesHide(t *testing.T) {
	ctx := context.Background()
	repo := newRepo(t)
	seed(t, repo)
	if err := repo.Pizzas.Delete(ctx, "a-id"); err != nil {
		t.Fatal(err)
	}
	if _, err := repo.Pizzas.Get(ctx, "a-id"); !errors.Is(err, runtime.ErrNotFound) {
		t.Fatalf("deleted record: %v", err)
	}
	if n, _ := repo.Pizzas.Count(ctx, PizzaQuery{}); n != 6 {
		t.Fatalf("count after delete: %d", n)
	}
	if got, _ := repo.Pizzas.Find(ctx, PizzaQuery{}.Where(PizzaFields.Name.Eq("a"))); len(got) != 0 {
		t.Fatal("Find returned a tombstone")
	}
	if err := repo.Pizzas.Delete(ctx, "never-existed"); err != nil {
		t.Fatalf("deleting an absent record: %v", err)
	}
	// A later write revives it.
	p := Pizza{Base: Base{ID: "a-id"}, Name: "a again"}
	if err := repo.Pizzas.Upsert(ctx, &p); err != nil {
		t.Fatal(err)
	}
	if got, err := repo.Pizzas.Get(ctx, "a-id"); err != nil || got.Name != "a again" {
		t.Fatalf("revived: %+v, %v", got, err)
	}
	// Without deletedAt the row goes.
	if err := repo.Toppings.Upsert(ctx, &Topping{Name: "basil"}); err != nil {
		t.Fatal(err)
	}
	if err := repo.Toppings.Delete(ctx, "basil"); err != nil {
		t.Fatal(err)
	}
	if _, err := repo.Toppings.Get(ctx, "basil"); !errors.Is(err, runtime.ErrNotFound) {
		t.Fatalf("deleted topping: %v", err)
	}
}

func TestBadValuesWriteNothing(t *testing.T) {
	ctx := context.Background()
	repo := newRepo(t)
	good := full()
	for name, tc := range map[string]struct {
		edit func(*Pizza)
		want string
	}{
		"nan":      {func(p *Pizza) { p.Weight = math.NaN() }, "field Weight"},
		"inf":      {func(p *Pizza) { p.Weight = math.Inf(1) }, "field Weight"},
		"empty id": {func(p *Pizza) { p.ID = "" }, "empty id"},
		"bad utf8": {func(p *Pizza) { p.ID = "a\xffb" }, "not valid UTF-8"},
		"year":     {func(p *Pizza) { p.BakedAt = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) }, "field BakedAt"},
		"json":     {func(p *Pizza) { p.Broken.Fail = true }, "field Broken"},
	} {
		p := full()
		tc.edit(&p)
		batch := []*Pizza{&good, &p}
		err := repo.Pizzas.UpsertMany(ctx, batch)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "Pizza") {
			t.Errorf("%s: got %v, want an error naming Pizza and %q", name, err, tc.want)
		}
		if n, _ := repo.Pizzas.Count(ctx, PizzaQuery{}); n != 0 {
			t.Fatalf("%s: a failed batch left %d records", name, n)
		}
	}
}

func TestReopenKeepsEverything(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "app.db")
	p := full()
	{
		db, err := runtime.OpenSQLite(path)
		if err != nil {
			t.Fatal(err)
		}
		repo, err := NewRepository(db, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := repo.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		if err := repo.Pizzas.Upsert(ctx, &p); err != nil {
			t.Fatal(err)
		}
		repo.Close()
		db.Close()
	}
	repo := open(t, path)
	got, err := repo.Pizzas.Get(ctx, p.ID)
	if err != nil {
		t.Fatal(err)
	}
	same(t, got, p)
}

func TestSubscribe(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	repo := newRepo(t)
	ch := repo.Pizzas.Subscribe(ctx, PizzaQuery{}.Where(PizzaFields.Size.Eq(Large)))
	next := func() []Pizza {
		select {
		case r, ok := <-ch:
			if !ok {
				t.Fatal("closed early")
			}
			return r
		case <-time.After(10 * time.Second):
			t.Fatal("no result")
		}
		return nil
	}
	if r := next(); len(r) != 0 {
		t.Fatalf("initial: %d", len(r))
	}
	p := full()
	if err := repo.Pizzas.Upsert(ctx, &p); err != nil {
		t.Fatal(err)
	}
	if r := next(); len(r) != 1 {
		t.Fatalf("after insert: %d", len(r))
	}
	// A reader that falls behind gets the latest result, and writers never wait for it.
	for i := 0; i < 50; i++ {
		q := Pizza{Base: Base{ID: runtime.NewID()}, Size: Large}
		if err := repo.Pizzas.Upsert(ctx, &q); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.After(10 * time.Second)
	for n := 0; n != 51; {
		select {
		case r := <-ch:
			n = len(r)
		case <-deadline:
			t.Fatalf("never saw all 51 records, last %d", n)
		}
	}
	cancel()
	for range ch {
	}
}

func TestClosedRepository(t *testing.T) {
	ctx := context.Background()
	repo := newRepo(t)
	repo.Close()
	p := full()
	if err := repo.Pizzas.Upsert(ctx, &p); !errors.Is(err, runtime.ErrClosed) {
		t.Fatalf("upsert after close: %v", err)
	}
	if _, err := repo.Pizzas.Get(ctx, "x"); !errors.Is(err, runtime.ErrClosed) {
		t.Fatalf("get after close: %v", err)
	}
	if err := repo.Migrate(ctx); !errors.Is(err, runtime.ErrClosed) {
		t.Fatalf("migrate after close: %v", err)
	}
}
