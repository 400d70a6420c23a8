package runtime

import (
	"context"
	"fmt"
	"time"
)

// EventKind says what an Event reports.
type EventKind int

const (
	// EventPushed: the remote acknowledged a queued write.
	EventPushed EventKind = iota + 1
	// EventPulled: records from the remote were stored (Count of them).
	EventPulled
	// EventConflict: a record with pending writes changed on the remote; its resolver
	// decided.
	EventConflict
	// EventOverruled: the resolver dropped pending writes (Count of them) in favour of
	// the remote's record.
	EventOverruled
	// EventDeadLettered: the remote rejected a write for good; see DeadLetters.
	EventDeadLettered
	// EventError: a push or pull failed and will be retried, or a pull skipped a record
	// the remote sent that cannot be stored (no id, not the model's JSON); Err says
	// which, and the pull goes on with the rest.
	EventError
	// EventLeft: a record left the user's scopes (docs/SCOPES.md) and was removed from
	// the device; its queued writes, if any, are dead letters.
	EventLeft
)

var eventNames = map[EventKind]string{
	EventPushed: "pushed", EventPulled: "pulled", EventConflict: "conflict",
	EventOverruled: "overruled", EventDeadLettered: "dead-lettered", EventError: "error",
	EventLeft: "left",
}

func (k EventKind) String() string {
	if n, ok := eventNames[k]; ok {
		return n
	}
	return fmt.Sprintf("EventKind(%d)", int(k))
}

// Event is one thing that happened while syncing.
type Event struct {
	Kind  EventKind
	Model string // the model's Go name
	ID    string // the record's id; "" for an event about the whole model
	Seq   int64  // the outbox entry, for pushed and dead-lettered events
	Count int    // records pulled, or writes overruled
	Err   error  // for error and dead-lettered events
	At    time.Time
}

// ModelReport counts what one sync round did for one model.
type ModelReport struct {
	Pushed       int // writes the remote acknowledged
	Pulled       int // records from the remote that changed local data
	Conflicts    int // records the resolver decided
	Overruled    int // pending writes the resolver dropped for the remote's record
	DeadLettered int // writes the remote rejected for good
}

// SyncReport is what Sync did, per model (by Go name; models with nothing to report are
// absent).
type SyncReport struct {
	Models map[string]ModelReport
}

// Total sums the report over every model.
func (r SyncReport) Total() ModelReport {
	var t ModelReport
	for _, m := range r.Models {
		t.Pushed += m.Pushed
		t.Pulled += m.Pulled
		t.Conflicts += m.Conflicts
		t.Overruled += m.Overruled
		t.DeadLettered += m.DeadLettered
	}
	return t
}

func (r *SyncReport) add(e Event) {
	if r == nil || e.Kind == EventError {
		return
	}
	if r.Models == nil {
		r.Models = map[string]ModelReport{}
	}
	m := r.Models[e.Model]
	switch e.Kind {
	case EventPushed:
		m.Pushed++
	case EventPulled:
		m.Pulled += e.Count
	case EventConflict:
		m.Conflicts++
	case EventOverruled:
		m.Overruled += e.Count
	case EventDeadLettered:
		m.DeadLettered++
	}
	r.Models[e.Model] = m
}

// eventBuffer is how many events a subscriber may fall behind before it loses the oldest.
const eventBuffer = 256

// Events delivers sync events until ctx ends or the repository closes. Each call gets its
// own channel; when a subscriber falls behind by more than a few hundred events, it loses
// the oldest.
func (r *Repo) Events(ctx context.Context) <-chan Event {
	ch := make(chan Event, eventBuffer)
	if !r.background() {
		close(ch)
		return ch
	}
	r.mu.Lock()
	r.subscribers[ch] = struct{}{}
	r.mu.Unlock()
	go func() {
		defer r.bg.Done()
		select {
		case <-ctx.Done():
		case <-r.ctx.Done():
		}
		r.mu.Lock()
		delete(r.subscribers, ch)
		close(ch)
		r.mu.Unlock()
	}()
	return ch
}

// publish sends events to every subscriber, dropping a subscriber's oldest when its
// channel is full, and adds them to rep.
func (r *Repo) publish(rep *SyncReport, events []Event) {
	if len(events) == 0 {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range events {
		rep.add(e)
		for ch := range r.subscribers {
			for {
				select {
				case ch <- e:
				default:
					select { // full: drop the oldest and try again
					case <-ch:
					default:
					}
					continue
				}
				break
			}
		}
	}
}
