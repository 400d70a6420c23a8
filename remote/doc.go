// Package remote holds the HTTP clients a repository syncs through, both
// runtime.Remote implementations:
//
//   - NewREST, for an existing REST API (json-server, PocketBase, your own), set up with
//     options for listing, paging, "since" pulls and the write method, and
//     JSONServerParams to turn queries into json-server's parameters;
//   - NewProtocol, for a server that speaks the syncgen protocol (docs/PROTOCOL.md), such
//     as the generated one: a change feed, versioned and idempotent writes, batches and
//     events.
//
// Both take the same transport options (WithHTTPClient, WithRequestHook,
// WithRequestTimeout, WithMaxPageBytes), hold settings only, and are safe for concurrent
// use. Neither links the server side.
package remote
