package runtime

import (
	"sync"
	"time"
)

// clock stamps updatedAt: microseconds (what PostgreSQL keeps), strictly increasing per
// repository, and never behind the newest stamp seen from the remote, unless that one is
// more than skew ahead of the local clock.
type clock struct {
	mu    sync.Mutex
	now   func() time.Time
	skew  time.Duration
	last  time.Time
	saved time.Time // the mark last committed to syncgen_meta (read under the writer)
}

// setSaved records a committed mark.
func (c *clock) setSaved(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t.After(c.saved) {
		c.saved = t
	}
}

func (c *clock) stamp() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.now().UTC().Truncate(time.Microsecond)
	if !t.After(c.last) {
		t = c.last.Add(time.Microsecond)
	}
	c.last = t
	return t
}

// observe moves the clock up to a stamp seen from the remote, capped at the local clock
// plus the skew: one device with a wrong clock cannot drag the others into the future. It
// reports whether the clock moved.
func (c *clock) observe(t time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	t = t.UTC().Truncate(time.Microsecond)
	if limit := c.now().UTC().Add(c.skew); t.After(limit) {
		t = limit
	}
	if !t.After(c.last) {
		return false
	}
	c.last = t
	return true
}

// restore resumes from a saved mark: no cap, it was this device's own.
func (c *clock) restore(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t.After(c.last) {
		c.last = t
	}
	if t.After(c.saved) {
		c.saved = t
	}
}

// marks returns the newest stamp the clock has given or seen, and the one last saved.
func (c *clock) marks() (mark, saved time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.last, c.saved
}

// wall is the local clock, unstamped: for backoff and the sync bookkeeping.
func (c *clock) wall() time.Time { return c.now().UTC() }

// wallString is wall in the stored form, which sorts as time.
func (c *clock) wallString() string { return formatWall(c.wall()) }

// markString is the clock's mark in the stored form: it never goes back, even across
// restarts and clock changes, so a sweep can tell what was synced before it began by
// stamping its start (syncgen_records.synced_at).
func (c *clock) markString() string {
	m, _ := c.marks()
	return formatWall(m)
}

func formatWall(t time.Time) string {
	s, err := FormatTime(t)
	if err != nil { // a clock outside years 0000-9999
		return t.UTC().Format(TimeLayout)
	}
	return s
}
