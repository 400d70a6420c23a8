package runtime

import "fmt"

// Policy says how a read or write uses the remote. With a nil remote every policy acts as
// LocalOnly.
type Policy int

const (
	// AwaitRemoteWhenNoneExist (reads, the default) asks the remote when nothing matches
	// locally, and answers from local data if the remote fails or is slow.
	AwaitRemoteWhenNoneExist Policy = iota
	// AlwaysHydrate (reads) asks the remote every time, falling back to local data.
	AlwaysHydrate
	// AwaitRemote (reads) asks the remote and returns its error.
	AwaitRemote
	// LocalOnly (reads and writes) never touches the remote.
	LocalOnly
	// OptimisticLocal (writes, the default) writes locally and queues the change.
	OptimisticLocal
	// RequireRemote (writes) writes to the remote first, locally only after it succeeded.
	RequireRemote
)

var policyNames = map[Policy]string{
	AwaitRemoteWhenNoneExist: "AwaitRemoteWhenNoneExist", AlwaysHydrate: "AlwaysHydrate",
	AwaitRemote: "AwaitRemote", LocalOnly: "LocalOnly", OptimisticLocal: "OptimisticLocal",
	RequireRemote: "RequireRemote",
}

// String is the policy's Go name.
func (p Policy) String() string {
	if n, ok := policyNames[p]; ok {
		return n
	}
	return fmt.Sprintf("Policy(%d)", int(p))
}

// policy picks the call's policy: the last one given, else def. Without a remote, or
// inside a transaction, every policy is LocalOnly.
func (s *Store[T]) policy(ps []Policy, def Policy, valid ...Policy) (Policy, error) {
	p := def
	if len(ps) > 0 {
		p = ps[len(ps)-1]
	}
	ok := p == LocalOnly
	for _, v := range valid {
		ok = ok || p == v
	}
	if !ok {
		return p, fmt.Errorf("%s: policy %s does not apply here (use one of %v or LocalOnly)", s.s.Model, p, valid)
	}
	switch {
	case s.repo.remote == nil:
		return LocalOnly, nil
	case s.tx != nil && p == RequireRemote:
		return p, fmt.Errorf("%s: RequireRemote does not apply inside a transaction, which the remote cannot take part in", s.s.Model)
	case s.tx != nil && p != OptimisticLocal:
		return LocalOnly, nil // reads in a transaction answer from it
	}
	return p, nil
}

func (s *Store[T]) readPolicy(ps []Policy) (Policy, error) {
	return s.policy(ps, AwaitRemoteWhenNoneExist, AwaitRemoteWhenNoneExist, AlwaysHydrate, AwaitRemote)
}

func (s *Store[T]) writePolicy(ps []Policy) (Policy, error) {
	return s.policy(ps, OptimisticLocal, OptimisticLocal, RequireRemote)
}
