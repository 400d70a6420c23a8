package runtime

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"
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
// stream), a push soon after each local write, and, after failures, rounds spaced by
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
	if n, ok := r.remote.(changeNotifier); ok {
		nctx, cancel := context.WithCancel(ctx)
		stop := context.AfterFunc(r.ctx, cancel)
		changes, done := n.notify(nctx)
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
// fires or the server announces changes (nil), ctx ends (its error) or the repository
// closes (nil).
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
		mu       sync.Mutex
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
		if b, ok := r.remote.(Batcher); ok && len(batch) > 1 {
			for len(batch) > 0 {
				n := min(len(batch), maxBatch)
				acked, errs := r.pushBatch(ctx, b, batch[:n], rep)
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
			continue
		}
		sem := make(chan struct{}, r.sync.pushLimit)
		var wg sync.WaitGroup
		for _, h := range batch {
			tried[h.Seq] = true
			sem <- struct{}{}
			wg.Add(1)
			go func() {
				defer func() { <-sem; wg.Done() }()
				acked, err := r.pushOne(ctx, h, rep)
				mu.Lock()
				defer mu.Unlock()
				if !acked {
					stuck[[2]string{h.Table, h.ID}] = true
				}
				if err != nil {
					failures++
					if first == nil {
						first = err
					}
				}
			}()
		}
		wg.Wait()
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

// pushOne sends one entry. Its body and key are fixed, in a commit of their own, before
// the first send, so every retry sends the same. The outcome commits in one transaction:
// acknowledged, to the resolver (409), dead-lettered (other 4xx), or back off. acked says
// the remote took the write.
func (r *Repo) pushOne(ctx context.Context, h entry, rep *SyncReport) (acked bool, _ error) {
	p, err := r.prepare(ctx, h, rep)
	if p == nil || err != nil {
		return false, err
	}
	answer, version, err := r.writeRemote(ctx, p.m.endpoint(), p.w)
	return r.finish(ctx, p, answer, version, err, rep)
}

// pushing is an entry about to be sent.
type pushing struct {
	h entry
	m syncModel
	w Write
}

// prepare fixes an entry's request before its first send, in a commit of its own; nil
// when the entry is gone or its body could not be built (a dead letter then).
func (r *Repo) prepare(ctx context.Context, h entry, rep *SyncReport) (*pushing, error) {
	m := r.byTable[h.Table]
	client, err := r.clientID(ctx)
	if err != nil {
		return nil, err
	}
	var w Write
	var ok bool
	var bodyErr error
	err = r.tx(ctx, rep, func(tx *Tx) error {
		var err error
		if h, ok, err = tx.entry(ctx, h.Seq); !ok || err != nil {
			return err // gone: absorbed or dropped since the heads were read
		}
		st, err := tx.state(ctx, h.Table, h.ID)
		if err != nil {
			return err
		}
		w = Write{ID: h.ID, Key: client + ":" + strconv.FormatInt(h.Seq, 10), Version: st.version}
		if h.frozen() { // the same request as the first time: body and version
			w.Version = h.IfMatch
			if h.Body.Valid {
				w.Body = []byte(h.Body.String)
			}
		} else if w.Body, bodyErr = m.pushBody(ctx, tx, h.ID, h.Op); bodyErr != nil {
			return r.deadLetter(ctx, tx, h, 0, "", bodyErr)
		}
		h.Attempts++
		_, err = tx.q.ExecContext(ctx, `UPDATE syncgen_outbox SET body = ?, if_match = ?, attempts = ? WHERE seq = ?`,
			marshalBody(w.Body), w.Version, h.Attempts, h.Seq)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("push %s %q: %w", m.schema().Model, h.ID, err)
	}
	if !ok || bodyErr != nil {
		return nil, nil
	}
	return &pushing{h: h, m: m, w: w}, nil
}

// finish records what the remote answered to a sent entry.
func (r *Repo) finish(ctx context.Context, p *pushing, answer []byte, version string, err error, rep *SyncReport) (acked bool, _ error) {
	h, m, w := p.h, p.m, p.w
	model := m.schema().Model
	if ctx.Err() != nil {
		return false, fmt.Errorf("push %s %q: %w", model, h.ID, ctx.Err()) // sent or not: the next push sends the same
	}
	var he *HTTPError
	errors.As(err, &he)
	conflict := he != nil && he.Status == http.StatusConflict
	var current remoteRecord
	if conflict { // the resolver needs the record the server holds
		var gerr error
		current, gerr = r.getRemote(ctx, m.endpoint(), h.ID)
		switch {
		case ctx.Err() != nil:
			return false, fmt.Errorf("push %s %q: %w", model, h.ID, ctx.Err())
		case errors.Is(gerr, ErrNotFound):
			current = remoteRecord{id: h.ID}
		case gerr != nil:
			conflict, he, err = false, nil, fmt.Errorf("read the record after a 409: %w", gerr)
		}
	}
	// 401 is not final: a refreshed credential in the request hook fixes it.
	final := !conflict && he != nil && he.Status >= 400 && he.Status < 500 && he.Status != http.StatusUnauthorized && !IsRetryable(err)
	// The outcome is recorded even when the caller's ctx ends now: the remote has it.
	rctx := context.WithoutCancel(ctx)
	terr := r.tx(rctx, rep, func(tx *Tx) error {
		switch {
		case conflict:
			return r.conflict(rctx, tx, m, h, he, current)
		case err == nil:
			return m.acked(rctx, tx, h, w, answer, version)
		case final:
			return r.deadLetter(rctx, tx, h, he.Status, string(he.Body), err)
		}
		return r.retryLater(rctx, tx, h, err)
	})
	if terr != nil {
		return false, fmt.Errorf("push %s %q: record the outcome: %w", model, h.ID, terr)
	}
	if err != nil && !final && !conflict {
		return false, fmt.Errorf("push %s %q: %w", model, h.ID, err)
	}
	return err == nil && !conflict, nil
}

// pushBatch sends entries in one request of a remote that takes batches, and records
// each outcome as pushOne does. acked says, per entry, whether the remote took it.
func (r *Repo) pushBatch(ctx context.Context, b Batcher, heads []entry, rep *SyncReport) ([]bool, []error) {
	acked, errs := make([]bool, len(heads)), make([]error, len(heads))
	var ps []*pushing
	var at []int
	var writes []BatchWrite
	for i, h := range heads {
		p, err := r.prepare(ctx, h, rep)
		if p == nil || err != nil {
			errs[i] = err
			continue
		}
		ps, at = append(ps, p), append(at, i)
		writes = append(writes, BatchWrite{Endpoint: p.m.endpoint(), Write: p.w})
	}
	if len(ps) == 0 {
		return acked, errs
	}
	results, err := b.WriteBatch(ctx, writes)
	var he *HTTPError
	refused := errors.As(err, &he) // the batch itself (its size, say), not its writes
	for k, p := range ps {
		var res BatchResult
		switch {
		case refused:
			res.Stored.Record, res.Stored.Version, res.Err = r.writeRemote(ctx, p.m.endpoint(), p.w)
		case err != nil:
			res.Err = err
		default:
			res = results[k]
		}
		acked[at[k]], errs[at[k]] = r.finish(ctx, p, res.Stored.Record, res.Stored.Version, res.Err, rep)
	}
	return acked, errs
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
	if (current.raw == nil && current.version == "" && st.base == nil) || h.Conflicts+1 >= maxConflicts {
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
	var newest time.Time
	seen := map[string]bool{}
	for {
		page, err := r.remote.List(ctx, m.endpoint(), req)
		if err != nil {
			return err
		}
		last := page.Next == ""
		err = m.applyPage(ctx, plainRecords(page.Records), rep, func(tx *Tx, p pageInfo) (int, error) {
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
		req.Page = page.Next
	}
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
	for {
		page, err := feed.Changes(ctx, m.endpoint(), cursor)
		if errors.Is(err, ErrCursorExpired) && !resync {
			r.log.Info("syncgen: the server no longer has the changes after our cursor; resyncing", "model", m.schema().Model)
			cursor, resync, seen, start = "", true, map[string]bool{}, formatWall(r.clock.stamp())
			continue
		}
		if err != nil {
			return err
		}
		recs := make([]remoteRecord, len(page.Changes))
		for i, c := range page.Changes {
			recs[i] = remoteRecord{id: c.ID, raw: c.Record, version: c.Version}
		}
		last := !page.HasMore
		err = m.applyPage(ctx, recs, rep, func(tx *Tx, p pageInfo) (int, error) {
			for _, id := range p.ids {
				if resync {
					seen[id] = true
				}
			}
			if resync && !last {
				return 0, nil
			}
			if _, err := tx.q.ExecContext(ctx, `INSERT INTO syncgen_cursors (model, cursor) VALUES (?, ?)
				ON CONFLICT (model) DO UPDATE SET cursor = excluded.cursor`, table, page.Cursor); err != nil {
				return 0, fmt.Errorf("move cursor: %w", err)
			}
			if resync {
				return m.sweep(ctx, tx, Query{}, seen, start)
			}
			return 0, nil
		})
		if err != nil || last {
			return err
		}
		cursor = page.Cursor
	}
}
