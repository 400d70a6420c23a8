package bad

import "time"

type Task struct {
	ID      int       `sync:"unique"`
	Updated string    `sync:"updatedAt"`
	Gone    time.Time `sync:"deletedAt,uniq"`
	Owner   string    `sync:"ref=User"`
	F       complex64
}

type Note struct {
	Key  string `sync:"unique,local"`
	Key2 string `sync:"unique"`
	Name string `db:"key"`
	Ch   chan int
}

func use() { _ = Task{}.Missing }

type Doc struct {
	ID    string `sync:"unique"`
	Team  int    `sync:"scope"`
	Owner string `sync:"scope,local"`
}

type Shared struct {
	ID string `sync:"unique"`
}

type Embeds struct {
	*Shared
}
