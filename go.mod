module github.com/syncgen/syncgen

go 1.26.0

require (
	github.com/dave/jennifer v1.7.1 // indirect
	github.com/jmoiron/sqlx v1.4.0 // indirect
	github.com/mattn/go-sqlite3 v1.14.53 // indirect
	golang.org/x/tools v0.52.0 // indirect
)
