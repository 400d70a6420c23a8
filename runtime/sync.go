package runtime

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/syncgen/syncgen/wire"
)

// syncOptions tunes the sync machinery; the With… options below set them.
type syncOptions struct {
	pushLimit  int           // records pushed at once
	interval   time.Duration // Run's pause between rounds
	fullEvery  int           // Run's full pull every so many rounds
	overlap    time.Duration // how far a "since" cursor stays behind the newest record
	skew       time.Duration // how far ahead of the local clock a remote stamp may drag it
	backoffMin time.Duration // the first retry's delay
	backoffMax time.Duration // the longest delay
}

var defaultSyncOptions = syncOptions{
	pushLimit:  4,
	interval:   30 * time.Second,
	fullEvery:  20,
	overlap:    2 * time.Second,
	skew:       5 * time.Minute,
	backoffMin: time.Second,
	backoffMax: 5 * time.Minute,
}

// WithPushLimit sets how many records are pushed at once (default 4). Writes to one
// record always go one after another, in order.
func WithPushLimit(n int) Option {
	return func(o *repoOptions) { o.sync.pushLimit = max(n, 1) }
}

// WithSyncInterval sets how long Run waits between rounds when nothing else wakes it
// (default 30 s).
func WithSyncInterval(d time.Duration) Option {
	return func(o *repoOptions) { o.sync.interval = d }
}

// WithFullPullEvery makes every nth round of Run a full pull (default 20; 0: never): every
// model is listed without "since", and local records the remote no longer has are removed,
// as Hydrate with Replace does. With plain REST this is what brings deletes of models
// without deletedAt, and writes a "since" pull missed.
func WithFullPullEvery(n int) Option {
	return func(o *repoOptions) { o.sync.fullEvery = max(n, 0) }
}

// WithSinceOverlap sets how far a plain REST "since" cursor stays behind the newest
// updatedAt pulled (default 2 s), so records written while a pull ran are not missed.
func WithSinceOverlap(d time.Duration) Option {
	return func(o *repoOptions) { o.sync.overlap = d }
}

// WithClockSkew sets how far ahead of the local clock a stamp from the remote may move
// local stamps (default 5 minutes).
func WithClockSkew(d time.Duration) Option {
	return func(o *repoOptions) { o.sync.skew = d }
}

// WithBackoff sets the retry delays of failed pushes and rounds: the first is min, each
// next one twice the last, up to max; each is jittered down by up to half.
func WithBackoff(min, max time.Duration) Option {
	return func(o *repoOptions) { o.sync.backoffMin, o.sync.backoffMax = min, max }
}

// Status is the state of a repository's sync.
type Status struct {
	Pending     int       // queued writes waiting to be pushed
	Held        int       // queued writes waiting behind a dead letter of their record
	DeadLetters int       // writes the remote rejected; see DeadLetters
	Syncing     bool      // a round is running
	LastSync    time.Time // when the last round without errors ended
	LastError   error     // the last round's error; nil when it had none
}

// Status reports the outbox and the last sync round.
func (r *Repo) Status() Status {
	r.mu.Lock()
	st := r.status
	r.mu.Unlock()
	ctx, cancel := context.WithTimeout(r.ctx, 5*time.Second)
	defer cancel()
	if err := r.countOutbox(ctx, &st); err != nil && st.LastError == nil {
		st.LastError = err
	}
	return st
}

// countOutbox fills in the outbox's counts.
func (r *Repo) countOutbox(ctx context.Context, st *Status) error {
	own, args := r.ownTables()
	err := r.db.reader.QueryRowxContext(ctx, `SELECT
		COALESCE(SUM(dead = 0 AND NOT held), 0), COALESCE(SUM(dead = 0 AND held), 0), COALESCE(SUM(dead), 0)
		FROM (SELECT dead, EXISTS (SELECT 1 FROM syncgen_outbox d WHERE d.model = o.model
			AND d.record_id = o.record_id AND d.dead = 1 AND d.seq < o.seq) AS held
			FROM syncgen_outbox o WHERE `+own+`)`, args...).Scan(&st.Pending, &st.Held, &st.DeadLetters)
	if err != nil {
		return fmt.Errorf("status: %w", err)
	}
	return nil
}

// broadcast wakes everything waiting for the outbox or the status to change.
func (r *Repo) broadcast() {
	r.mu.Lock()
	close(r.notify)
	r.notify = make(chan struct{})
	r.mu.Unlock()
}

func (r *Repo) changes() <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.notify
}

// WaitIdle waits until no write waits to be pushed: every one pushed, dead-lettered, or
// held behind a dead letter. Something must push them meanwhile: Run, or calls of Sync.
func (r *Repo) WaitIdle(ctx context.Context) error {
	for {
		if err := r.check(); err != nil {
			return err
		}
		changed := r.changes()
		var st Status
		if err := r.countOutbox(ctx, &st); err != nil {
			return err
		}
		r.mu.Lock()
		syncing := r.status.Syncing
		r.mu.Unlock()
		if st.Pending == 0 && !syncing {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-changed:
		}
	}
}

// Sync runs one round now: it pushes every queued write without waiting out backoff (a
// server's Retry-After is still honoured), then pulls every model. It reports what it did
// per model; an error says some push or pull failed and will be tried again, with nothing
// lost. Writes the remote rejected are dead letters, reported, not errors.
func (r *Repo) Sync(ctx context.Context) (SyncReport, error) {
	if err := r.check(); err != nil {
		return SyncReport{}, err
	}
	if r.remote == nil {
		return SyncReport{}, nil
	}
	return r.round(ctx, round{explicit: true, pull: true})
}

// round says what one sync round does.
type round struct {
	explicit bool // skip backoff (Sync)
	pull     bool
	full     bool // list everything and sweep what the remote no longer has
}

func (r *Repo) round(ctx context.Context, rd round) (SyncReport, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(r.ctx, cancel)
	defer stop()

	r.syncMu.Lock()
	defer r.syncMu.Unlock()
	r.setStatus(func(s *Status) { s.Syncing = true })

	var rep SyncReport
	err := r.push(ctx, rd.explicit, &rep)
	if rd.pull {
		feed, _ := r.remote.(ChangeFeed)
		for _, m := range r.models {
			var perr error
			if feed != nil {
				perr = r.pullFeed(ctx, m, feed, &rep)
			} else {
				perr = r.list(ctx, m, listing{since: !rd.full, sweep: rd.full}, &rep)
			}
			if perr != nil {
				err = errors.Join(err, fmt.Errorf("pull %s: %w", m.schema().Model, perr))
			}
		}
	}
	if err != nil {
		r.log.Warn("syncgen: sync round failed; it will be retried", "err", err)
		r.publish(nil, []Event{{Kind: EventError, Err: err, At: r.clock.wall()}})
	}
	r.setStatus(func(s *Status) {
		s.Syncing = false
		s.LastError = err
		if err == nil {
			s.LastSync = r.clock.wall()
		}
	})
	return rep, err
}

func (r *Repo) setStatus(f func(*Status)) {
	r.mu.Lock()
	f(&r.status)
	r.mu.Unlock()
	r.broadcast()
}

// Run keeps syncing until ctx ends or the repository closes: a round every interval
// (WithSyncInterval), at once when the server announces changes (the protocol's events
// stream) or the app calls SyncOnly, a push soon after each local write, and, after failures, rounds spaced by
// backoff. Queued writes wait out their own backoff. Every nth round is a full
// pull (WithFullPullEvery). It returns nil when the repository closes, ctx.Err() when ctx
// ends. One Run at a time.
func (r *Repo) Run(ctx context.Context) error {
	if err := r.check(); err != nil {
		return err
	}
	if !r.running.CompareAndSwap(false, true) {
		return errors.New("run: the repository is already running")
	}
	defer r.running.Store(false)
	if r.remote == nil {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-r.ctx.Done():
			return nil
		}
	}
	var announced <-chan struct{} // the server's announcements of changes, when it makes them
	if n, ok := r.remote.(Notifier); ok {
		nctx, cancel := context.WithCancel(ctx)
		stop := context.AfterFunc(r.ctx, cancel)
		changes, done := n.Notify(nctx)
		defer func() { stop(); cancel(); <-done }()
		announced = changes
	}
	failures := 0
	for n := 1; ; n++ {
		full := r.sync.fullEvery > 0 && n%r.sync.fullEvery == 0
		if _, err := r.round(ctx, round{pull: true, full: full}); err != nil {
			failures++
		} else {
			failures = 0
		}
		next := r.sync.interval
		if failures > 0 {
			next = min(next, r.backoff(failures))
		}
		if err := r.pushUntil(ctx, time.NewTimer(next), announced); err != nil || r.ctx.Err() != nil {
			return err
		}
	}
}

// pushUntil pushes after local writes and when a write's backoff ends, until the timer
// fires, the server announces changes or the app chooses what to sync (nil), ctx ends
// (its error) or the repository closes (nil).
func (r *Repo) pushUntil(ctx context.Context, until *time.Timer, announced <-chan struct{}) error {
	defer until.Stop()
	for {
		due := time.NewTimer(time.Hour)
		if t, ok := r.nextDue(ctx); ok {
			// At least the shortest backoff: a due write may be waiting on a ref.
			due.Reset(max(t.Sub(r.clock.wall()), r.sync.backoffMin))
		} else {
			due.Stop()
		}
		select {
		case <-ctx.Done():
			due.Stop()
			return ctx.Err()
		case <-r.ctx.Done():
			due.Stop()
			return nil
		case <-until.C:
			due.Stop()
			return nil
		case <-announced:
			due.Stop()
			return nil
		case <-r.rechose:
			due.Stop()
			return nil
		case <-due.C:
		case <-r.kick:
			due.Stop()
		}
		r.round(ctx, round{})
	}
}

// nextDue is when the earliest queued write that waits out a backoff may be sent.
func (r *Repo) nextDue(ctx context.Context) (time.Time, bool) {
	var next sql.NullString
	own, args := r.ownTables()
	now := formatWall(r.clock.wall())
	err := r.db.reader.QueryRowxContext(ctx, `SELECT MIN(CASE WHEN waited_at > ? THEN ? ELSE MAX(next_at, hold_until) END)
		FROM syncgen_outbox o
		WHERE dead = 0 AND seq = (SELECT MIN(seq) FROM syncgen_outbox WHERE model = o.model AND record_id = o.record_id)
		AND `+own, append([]any{now, now}, args...)...).Scan(&next)
	if err != nil || !next.Valid {
		return time.Time{}, false
	}
	t, err := ParseTime(next.String)
	return t, err == nil
}

// backoff is the delay before retry number n (1 for the first): exponential from the
// minimum, capped, jittered down by up to half.
func (r *Repo) backoff(n int) time.Duration {
	d := r.sync.backoffMax
	if n < 32 {
		d = min(r.sync.backoffMin<<(n-1), r.sync.backoffMax)
	}
	r.mu.Lock()
	j := r.rand.Float64()
	r.mu.Unlock()
	return d - time.Duration(j*float64(d/2))
}

// push sends queued writes: the first entry of each record, in parallel up to the push
// limit, in rounds until nothing more can be sent; a record whose write failed or met a
// conflict waits for the next push. A record
// whose ref points to a record with a create not yet acknowledged waits for it, unless
// nothing else can go (refs in a cycle).
func (r *Repo) push(ctx context.Context, explicit bool, rep *SyncReport) error {
	tried := map[int64]bool{}     // entries sent in this push
	stuck := map[[2]string]bool{} // records whose write failed or conflicted in it
	var (
		failures int
		first    error
	)
	for ctx.Err() == nil {
		heads, err := r.heads(ctx)
		if err != nil {
			return err
		}
		now := formatWall(r.clock.wall())
		var batch, blocked []entry
		for _, h := range heads {
			// A wait set at a time after now was set before the clock went back: it is over.
			waits := func(until string) bool { return until > now && h.WaitedAt <= now }
			if tried[h.Seq] || stuck[[2]string{h.Table, h.ID}] || waits(h.HoldUntil) || (!explicit && waits(h.NextAt)) {
				continue
			}
			if waits, err := r.waitsForRef(ctx, h); err != nil {
				return err
			} else if waits {
				blocked = append(blocked, h)
				continue
			}
			batch = append(batch, h)
		}
		if len(batch) == 0 {
			batch = blocked
		}
		if len(batch) == 0 {
			break
		}
		for len(batch) > 0 {
			n := min(len(batch), wire.MaxBatchOps)
			acked, errs := r.pushGroup(ctx, batch[:n], rep)
			for i, h := range batch[:n] {
				tried[h.Seq] = true
				if !acked[i] {
					stuck[[2]string{h.Table, h.ID}] = true
				}
				if errs[i] != nil {
					failures++
					if first == nil {
						first = errs[i]
					}
				}
			}
			batch = batch[n:]
		}
	}
	if failures > 0 {
		return fmt.Errorf("push: %d of the queued writes failed and wait to be retried; the first: %w", failures, first)
	}
	return ctx.Err()
}

// waitsForRef reports whether a record points, through a ref field, to a record whose
// create the remote has not acknowledged yet and that can be sent (not behind a dead
// letter).
func (r *Repo) waitsForRef(ctx context.Context, h entry) (bool, error) {
	m := r.byTable[h.Table]
	refs, err := m.refs(ctx, h.ID)
	if err != nil {
		return false, fmt.Errorf("push %s %q: refs: %w", m.schema().Model, h.ID, err)
	}
	for _, ref := range refs {
		var waits bool
		err := r.db.reader.QueryRowxContext(ctx, `SELECT
			EXISTS (SELECT 1 FROM syncgen_outbox WHERE model = ?1 AND record_id = ?2 AND dead = 0
				AND seq = (SELECT MIN(seq) FROM syncgen_outbox WHERE model = ?1 AND record_id = ?2))
			AND NOT EXISTS (SELECT 1 FROM syncgen_records WHERE model = ?1 AND record_id = ?2 AND base IS NOT NULL)`,
			ref[0], ref[1]).Scan(&waits)
		if err != nil || waits {
			return waits, err
		}
	}
	return false, nil
}

// maxHold caps a server's Retry-After.
const maxHold = time.Hour

// maxConflicts is how many 409s in a row a record's writes get before the last one is
// dead-lettered: a server that refuses every version is not asked forever.
const maxConflicts = 5

// pushGroup sends entries, each the head of a different record, and records what the
// remote answered. Their requests (body, key and version) are fixed in one commit before
// the first send, so every retry sends the same, and the outcomes commit together after:
// acknowledged, to the resolver (409), dead-lettered (other 4xx), or back off. Two
// commits however many entries; an outcome that fails to commit is recorded on its own,
// so it cannot hold the others back. A Batcher takes the group in one request; other
// remotes get pushLimit requests at a time. acked says, per entry, whether the remote
// took the write.
func (r *Repo) pushGroup(ctx context.Context, heads []entry, rep *SyncReport) (acked []bool, errs []error) {
	acked, errs = make([]bool, len(heads)), make([]error, len(heads))
	r.refresh(ctx, heads, rep, errs)
	ps, err := r.prepare(ctx, heads, rep, errs)
	if err != nil {
		for i := range errs {
			errs[i] = err
		}
		return acked, errs
	}
	results := r.send(ctx, ps)
	outcomes := make([]outcome, len(ps))
	for i, p := range ps {
		if p != nil {
			outcomes[i] = r.judge(ctx, p, results[i])
		}
	}
	// The outcomes are recorded even when the caller's ctx ends now: the remote has them.
	rctx := context.WithoutCancel(ctx)
	record := func(tx *Tx, i int) error {
		if err := r.record(rctx, tx, ps[i], outcomes[i]); err != nil {
			return fmt.Errorf("push %s %q: record the outcome: %w", ps[i].m.schema().Model, ps[i].h.ID, err)
		}
		return nil
	}
	terr := r.tx(rctx, rep, func(tx *Tx) error {
		for i, p := range ps {
			if p != nil && outcomes[i].known {
				if err := record(tx, i); err != nil {
					return err
				}
			}
		}
		return nil
	})
	for i, p := range ps {
		if p == nil {
			continue
		}
		o := outcomes[i]
		if !o.known {
			errs[i] = o.err
			continue
		}
		if terr != nil {
			if err := r.tx(rctx, rep, func(tx *Tx) error { return record(tx, i) }); err != nil {
				errs[i] = err
				continue
			}
		}
		acked[i] = o.err == nil && !o.conflict && o.notKept == nil
		if o.err != nil && !o.final && !o.conflict {
			errs[i] = fmt.Errorf("push %s %q: %w", p.m.schema().Model, p.h.ID, o.err)
		}
	}
	return acked, errs
}

// pushing is an entry about to be sent.
type pushing struct {
	h entry
	m syncModel
	w Write
}

// prepare fixes the entries' requests before their first send, in one commit; an entry
// is nil when it is gone, its body could not be built (a dead letter then), or skip holds
// an error for it.
func (r *Repo) prepare(ctx context.Context, heads []entry, rep *SyncReport, skip []error) ([]*pushing, error) {
	client, err := r.clientID(ctx)
	if err != nil {
		return nil, err
	}
	ps := make([]*pushing, len(heads))
	err = r.tx(ctx, rep, func(tx *Tx) error {
		for i, head := range heads {
			if skip[i] != nil {
				continue
			}
			m := r.byTable[head.Table]
			h, ok, err := tx.entry(ctx, head.Seq)
			if err != nil {
				return fmt.Errorf("push %s %q: %w", m.schema().Model, head.ID, err)
			}
			if !ok {
				continue // gone: absorbed or dropped since the heads were read
			}
			st, err := tx.state(ctx, h.Table, h.ID)
			if err != nil {
				return fmt.Errorf("push %s %q: %w", m.schema().Model, h.ID, err)
			}
			w := Write{ID: h.ID, Key: client + ":" + strconv.FormatInt(h.Seq, 10), Version: st.version}
			if h.frozen() { // the same request as the first time: body, version and fields
				w.Version = h.IfMatch
				if h.Body.Valid {
					w.Body = []byte(h.Body.String)
				}
				if h.Fields.Valid {
					json.Unmarshal([]byte(h.Fields.String), &w.Fields)
				}
			} else if w.Body, err = m.pushBody(ctx, tx, h.ID, h.Op); err != nil {
				if err := r.deadLetter(ctx, tx, h, 0, "", err); err != nil {
					return fmt.Errorf("push %s %q: %w", m.schema().Model, h.ID, err)
				}
				continue
			} else if w.Body != nil { // field changes (fields.go)
				if w.Fields, err = m.jsonShape().pushFields(w.Body, st.base); err != nil {
					return fmt.Errorf("push %s %q: %w", m.schema().Model, h.ID, err)
				}
			}
			h.Attempts++
			if _, err := tx.q.ExecContext(ctx, `UPDATE syncgen_outbox SET body = ?, if_match = ?, attempts = ?, fields = ? WHERE seq = ?`,
				marshalBody(w.Body), w.Version, h.Attempts, marshalFields(w.Fields), h.Seq); err != nil {
				return fmt.Errorf("push %s %q: %w", m.schema().Model, h.ID, err)
			}
			ps[i] = &pushing{h: h, m: m, w: w}
		}
		return nil
	})
	return ps, err
}

// sent is what the remote answered to one write.
type sent struct {
	answer  []byte
	version string
	err     error
}

// send sends the prepared writes (nil entries aside): in one batch when the remote takes
// batches and there are several, else pushLimit at a time.
func (r *Repo) send(ctx context.Context, ps []*pushing) []sent {
	results := make([]sent, len(ps))
	one := func(i int) {
		p := ps[i]
		results[i].answer, results[i].version, results[i].err = r.writeRemote(ctx, p.m.endpoint(), p.w)
	}
	var at []int
	for i, p := range ps {
		if p != nil {
			at = append(at, i)
		}
	}
	if b, ok := r.remote.(Batcher); ok && len(at) > 1 {
		writes := make([]BatchWrite, len(at))
		for k, i := range at {
			writes[k] = BatchWrite{Endpoint: ps[i].m.endpoint(), Write: ps[i].w}
		}
		res, err := b.WriteBatch(ctx, writes)
		var he *HTTPError
		if !errors.As(err, &he) { // else the batch itself was refused (its size, say), not its writes
			for k, i := range at {
				if err != nil {
					results[i].err = err
				} else {
					results[i] = sent{res[k].Stored.Record, res[k].Stored.Version, res[k].Err}
				}
			}
			return results
		}
	}
	sem := make(chan struct{}, r.sync.pushLimit)
	var wg sync.WaitGroup
	for _, i := range at {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			one(i)
		})
	}
	wg.Wait()
	return results
}

// outcome is what a sent write's answer means.
type outcome struct {
	sent
	known    bool // the answer is known: record it (false: ctx ended; err says so)
	he       *HTTPError
	conflict bool         // 409: to the resolver
	current  remoteRecord // with conflict: the record the server holds
	final    bool         // refused for good: a dead letter
	notKept  error        // taken, but the answer lacks changed fields: a dead letter (fields.go)
}

// judge reads an answer; for a 409 it finds the record the server holds, which the
// resolver needs: in the answer, or else by reading it.
func (r *Repo) judge(ctx context.Context, p *pushing, s sent) outcome {
	if ctx.Err() != nil {
		// sent or not: the next push sends the same
		return outcome{sent: sent{err: fmt.Errorf("push %s %q: %w", p.m.schema().Model, p.h.ID, ctx.Err())}}
	}
	o := outcome{sent: s, known: true}
	errors.As(s.err, &o.he)
	o.conflict = o.he != nil && o.he.Status == http.StatusConflict
	if o.conflict {
		var ce *ConflictError
		if errors.As(s.err, &ce) {
			o.current = remoteRecord{id: p.h.ID, raw: ce.Current.Record, version: ce.Current.Version}
			return o
		}
		current, gerr := r.getRemote(ctx, p.m.endpoint(), p.h.ID)
		switch {
		case ctx.Err() != nil:
			return outcome{sent: sent{err: fmt.Errorf("push %s %q: %w", p.m.schema().Model, p.h.ID, ctx.Err())}}
		case errors.Is(gerr, ErrNotFound):
			o.current = remoteRecord{id: p.h.ID}
		case gerr != nil:
			o.conflict, o.he, o.err = false, nil, fmt.Errorf("read the record after a 409: %w", gerr)
		default:
			o.current = current
		}
	}
	if o.err == nil { // field changes (fields.go)
		if lost := p.m.jsonShape().notKept(p.w.Body, o.answer, p.w.Fields, o.version != ""); lost != nil {
			o.notKept = &FieldsNotKeptError{Model: p.m.schema().Model, ID: p.h.ID, Fields: lost}
		}
	}
	// 401 is not final: a refreshed credential in the request hook fixes it.
	o.final = !o.conflict && o.he != nil && o.he.Status >= 400 && o.he.Status < 500 &&
		o.he.Status != http.StatusUnauthorized && !o.he.Reauthenticate && !IsRetryable(o.err)
	return o
}

// record commits a sent write's outcome in tx.
func (r *Repo) record(ctx context.Context, tx *Tx, p *pushing, o outcome) error {
	switch {
	case o.notKept != nil:
		return r.deadLetter(ctx, tx, p.h, 0, string(o.answer), o.notKept)
	case o.conflict:
		return r.conflict(ctx, tx, p.m, p.h, o.he, o.current)
	case o.err == nil:
		return p.m.acked(ctx, tx, p.h, p.w, o.answer, o.version)
	case o.final:
		return r.deadLetter(ctx, tx, p.h, o.he.Status, string(o.he.Body), o.err)
	}
	return r.retryLater(ctx, tx, p.h, o.err)
}

// conflict handles a 409: the write is dropped and the resolver decides between the local
// record and current, the server's (nil: it has none). A write it keeps goes again after a
// backoff. A 409 for a record the server never had (a create refused, say for a duplicate
// name), or the maxConflicts-th in a row, is a dead letter instead.
func (r *Repo) conflict(ctx context.Context, tx *Tx, m syncModel, h entry, he *HTTPError, current remoteRecord) error {
	st, err := tx.state(ctx, h.Table, h.ID)
	if err != nil {
		return err
	}
	// A delete the server has nothing for is done; the resolver sees both sides absent.
	refusedCreate := h.Op != opDelete && current.raw == nil && current.version == "" && st.base == nil
	if refusedCreate || h.Conflicts+1 >= maxConflicts {
		return r.deadLetter(ctx, tx, h, he.Status, string(he.Body), he)
	}
	if _, err := tx.q.ExecContext(ctx, `DELETE FROM syncgen_outbox WHERE seq = ?`, h.Seq); err != nil {
		return err
	}
	if err := m.rejected(ctx, tx, current); err != nil {
		return err
	}
	n := h.Conflicts + 1
	now := r.clock.wall()
	_, err = tx.q.ExecContext(ctx, `UPDATE syncgen_outbox SET conflicts = ?, next_at = ?, waited_at = ?
		WHERE model = ? AND record_id = ? AND attempts = 0 AND dead = 0`,
		n, formatWall(now.Add(r.backoff(n))), formatWall(now), h.Table, h.ID)
	return err
}

// retryLater backs an entry off after a failure that may pass.
func (r *Repo) retryLater(ctx context.Context, tx *Tx, h entry, cause error) error {
	now := r.clock.wall()
	delay := r.backoff(h.Attempts)
	hold := ""
	var he *HTTPError
	if errors.As(cause, &he) && he.RetryAfter > 0 {
		wait := min(he.RetryAfter, maxHold)
		hold = formatWall(now.Add(wait))
		delay = max(delay, wait)
	}
	_, err := tx.q.ExecContext(ctx, `UPDATE syncgen_outbox SET next_at = ?, hold_until = ?, waited_at = ?, last_error = ? WHERE seq = ?`,
		formatWall(now.Add(delay)), hold, formatWall(now), cause.Error(), h.Seq)
	tx.queued = true // wakes Run to wait out the backoff
	return err
}

// deadLetter moves an entry to the dead-letter list, where it holds its record's later
// writes until Retry or Discard.
func (r *Repo) deadLetter(ctx context.Context, tx *Tx, h entry, status int, answer string, cause error) error {
	_, err := tx.q.ExecContext(ctx, `UPDATE syncgen_outbox SET dead = 1, status = ?, answer = ?, last_error = ?, dead_at = ?
		WHERE seq = ?`, status, answer, cause.Error(), r.clock.wallString(), h.Seq)
	if err != nil {
		return err
	}
	model := r.byTable[h.Table].schema().Model
	r.log.Warn("syncgen: the remote rejected a write; it is a dead letter", "model", model, "id", h.ID, "seq", h.Seq, "status", status, "err", cause)
	tx.event(Event{Kind: EventDeadLettered, Model: model, ID: h.ID, Seq: h.Seq, Err: cause})
	tx.queued = true
	return nil
}

// listing says what a list of one model's records does.
type listing struct {
	query Query
	since bool // start at the model's cursor and move it with the last page
	sweep bool // remove local records the remote no longer has
}

// list fetches a listing page by page. Each page commits in its own transaction; the
// cursor and the sweep commit with the last page, so neither passes data not written.
func (r *Repo) list(ctx context.Context, m syncModel, l listing, rep *SyncReport) error {
	table := m.schema().Table
	req := ListRequest{Query: l.query}
	var old string
	if l.since && m.hasUpdatedAt() {
		err := r.db.reader.QueryRowxContext(ctx, `SELECT cursor FROM syncgen_cursors WHERE model = ?`, table).Scan(&old)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("read cursor: %w", err)
		}
		if old != "" {
			if req.Since, err = ParseTime(old); err != nil {
				return fmt.Errorf("read cursor: %w", err)
			}
		}
	}
	start := formatWall(r.clock.stamp()) // after every synced_at so far; see setBase
	sc, err := loadScopes(ctx, r.db.reader, m, false)
	if err != nil {
		return err
	}
	var newest time.Time
	seen := map[string]bool{}
	given := map[string]bool{"": true} // the page tokens of this listing so far
	next, stop := readAhead(ctx, "", func(ctx context.Context, token string) (decodedPage, string, error) {
		req := req
		req.Page = token
		page, err := r.remote.List(ctx, m.endpoint(), req)
		if err != nil {
			return nil, "", err
		}
		if page.Next != "" && given[page.Next] {
			return nil, "", fmt.Errorf("list %s: %w: page %q continues with %q, given before", m.schema().Model, ErrListingLoop, token, page.Next)
		}
		given[page.Next] = true
		recs := plainRecords(page.Records)
		if len(page.Versions) == len(recs) {
			for i := range recs {
				recs[i].version = page.Versions[i]
			}
		}
		recs = sc.chosen(recs) // a listing is not narrowed by the app's subset: scopes.go
		d, err := m.decodePage(recs)
		return d, page.Next, err
	})
	defer stop()
	for {
		page, last, err := next()
		if err != nil {
			return err
		}
		err = m.applyPage(ctx, page, rep, func(tx *Tx, p pageInfo) (int, error) {
			if p.newest.After(newest) {
				newest = p.newest
			}
			if l.sweep {
				for _, id := range p.ids {
					seen[id] = true
				}
			}
			if !last {
				return 0, nil
			}
			if l.since && !newest.IsZero() {
				// Never past the local clock: a record stamped in the future by a skewed
				// clock must not make later pulls skip what others write meanwhile.
				upTo := newest
				if now := r.clock.wall(); upTo.After(now) {
					upTo = now
				}
				cursor := formatWall(upTo.Add(-r.sync.overlap))
				if cursor > old {
					if _, err := tx.q.ExecContext(ctx, `INSERT INTO syncgen_cursors (model, cursor) VALUES (?, ?)
						ON CONFLICT (model) DO UPDATE SET cursor = excluded.cursor`, table, cursor); err != nil {
						return 0, fmt.Errorf("move cursor: %w", err)
					}
				}
			}
			if l.sweep {
				return m.sweep(ctx, tx, l.query, seen, start)
			}
			return 0, nil
		})
		if err != nil || last {
			return err
		}
	}
}

// readAhead fetches (and decodes) pages in a goroutine, up to two pages ahead of the
// caller, so a page's fetch overlaps the previous page's transaction; the second evens
// out pages slower to read or to write than the one before. fetch returns a page and the
// token of the next ("" after the last); next returns the pages in order, last set on
// the last, and stops at the first error. stop ends the goroutine.
func readAhead[P any](ctx context.Context, token string, fetch func(context.Context, string) (P, string, error)) (next func() (page P, last bool, err error), stop func()) {
	type fetched struct {
		page P
		last bool
		err  error
	}
	ctx, cancel := context.WithCancel(ctx)
	ch := make(chan fetched, 1)
	go func() {
		defer close(ch)
		for {
			page, token2, err := fetch(ctx, token)
			select {
			case ch <- fetched{page, token2 == "", err}:
			case <-ctx.Done():
				return
			}
			if err != nil || token2 == "" {
				return
			}
			token = token2
		}
	}()
	next = func() (P, bool, error) {
		f, ok := <-ch
		if !ok {
			f.err = ctx.Err() // stopped; not reached by a caller that stops at last
		}
		return f.page, f.last, f.err
	}
	stop = func() {
		cancel()
		for range ch {
		}
	}
	return next, stop
}

// pullFeed follows a model's change feed from its cursor; each page commits with the
// cursor after it. When the server no longer keeps the deletes after the cursor (410),
// it reads the whole feed again and, with its last page, removes the local records the
// feed did not have (not those with queued writes); the cursor then moves only with that
// last page, so a crash in between starts the resync over.
func (r *Repo) pullFeed(ctx context.Context, m syncModel, feed ChangeFeed, rep *SyncReport) error {
	table := m.schema().Table
	var cursor string
	err := r.db.reader.QueryRowxContext(ctx, `SELECT cursor FROM syncgen_cursors WHERE model = ?`, table).Scan(&cursor)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("read cursor: %w", err)
	}
	var (
		resync bool
		seen   map[string]bool
		start  string
	)
	sc, err := loadScopes(ctx, r.db.reader, m, cursor == "")
	if err != nil {
		return err
	}
	if cursor == "" {
		// A first read of the feed by a client that already holds synced records (it
		// pushed before it ever pulled): the server may have deleted some of them and
		// purged the tombstones since, so this read sweeps like a resync.
		var synced bool
		if err := r.db.reader.QueryRowxContext(ctx, `SELECT EXISTS (SELECT 1 FROM syncgen_records
			WHERE model = ? AND base IS NOT NULL)`, table).Scan(&synced); err != nil {
			return fmt.Errorf("read sync state: %w", err)
		}
		if synced {
			resync, seen, start = true, map[string]bool{}, formatWall(r.clock.stamp())
		}
	}
	type feedPage struct {
		decodedPage
		cursor string
		scopes []string // scopes.go
		left   []string
		out    []string // outside the subsets
	}
	read := func(cursor string) (func() (feedPage, bool, error), func()) {
		given := map[string]bool{cursor: true} // the cursors of this listing so far
		return readAhead(ctx, cursor, func(ctx context.Context, cursor string) (feedPage, string, error) {
			page, err := sc.changes(ctx, feed, cursor, sc.main())
			if err != nil {
				return feedPage{}, "", err
			}
			if err := cursorAdvances(cursor, page.Cursor, page.HasMore, given); err != nil {
				return feedPage{}, "", fmt.Errorf("pull %s: %w", m.schema().Model, err)
			}
			recs, left, out := feedRecords(page)
			if page.HasMore && page.Cursor == "" {
				return feedPage{}, "", fmt.Errorf("%w: more changes after an empty cursor", ErrMalformedResponse)
			}
			d, err := m.decodePage(recs)
			next := ""
			if page.HasMore {
				next = page.Cursor
			}
			return feedPage{d, page.Cursor, page.Scopes, left, out}, next, err
		})
	}
	next, stop := read(cursor)
	defer func() { stop() }()
	for {
		page, last, err := next()
		if errors.Is(err, ErrCursorExpired) && !resync {
			r.log.Info("syncgen: the server no longer has the changes after our cursor; resyncing", "model", m.schema().Model)
			resync, seen, start = true, map[string]bool{}, formatWall(r.clock.stamp())
			sc.restart()
			stop()
			next, stop = read("")
			continue
		}
		if err != nil {
			return err
		}
		err = m.applyPage(ctx, page.decodedPage, rep, func(tx *Tx, p pageInfo) (int, error) {
			for _, id := range p.ids {
				if resync {
					seen[id] = true
				}
			}
			gone, err := sc.apply(ctx, tx, page.scopes, page.left, page.out)
			if err != nil {
				return gone, err
			}
			if resync && !last {
				return gone, nil
			}
			if _, err := tx.q.ExecContext(ctx, `INSERT INTO syncgen_cursors (model, cursor) VALUES (?, ?)
				ON CONFLICT (model) DO UPDATE SET cursor = excluded.cursor`, table, page.cursor); err != nil {
				return 0, fmt.Errorf("move cursor: %w", err)
			}
			if err := sc.save(ctx, tx); err != nil {
				return 0, err
			}
			if resync {
				n, err := m.sweep(ctx, tx, Query{}, seen, start)
				return gone + n, err
			}
			return gone, nil
		})
		if err != nil {
			return err
		}
		if last {
			if err := r.catchUp(ctx, sc, feed, rep); err != nil {
				return err
			}
			return r.strays(ctx, sc, rep)
		}
	}
}

// cursorAdvances checks a feed page's cursor against the one it was asked with: with
// more to come it must be new to this listing, and a decimal cursor (the generated
// server's) must not fall below the one asked with; the last page's may equal it.
func cursorAdvances(asked, got string, hasMore bool, given map[string]bool) error {
	if a, errA := strconv.ParseUint(asked, 10, 64); errA == nil {
		if g, errG := strconv.ParseUint(got, 10, 64); errG == nil && (g < a || hasMore && g == a) {
			return fmt.Errorf("%w: cursor %s after %s", ErrListingLoop, got, asked)
		}
	}
	if hasMore {
		if given[got] {
			return fmt.Errorf("%w: cursor %q again", ErrListingLoop, got)
		}
		given[got] = true
	}
	return nil
}
