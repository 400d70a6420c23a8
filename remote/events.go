package remote

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/syncgen/syncgen/wire"
)

// Notify follows the server's events stream (GET {base}/_events) and sends on changes
// when the server announces a change, reconnecting after failures with a growing pause,
// until ctx ends; then it closes done.
func (p *Protocol) Notify(ctx context.Context) (changes <-chan struct{}, done <-chan struct{}) {
	ch, closed := make(chan struct{}, 1), make(chan struct{})
	go func() {
		defer close(closed)
		wait := time.Second
		for ctx.Err() == nil {
			start := time.Now()
			err := p.stream(ctx, ch)
			if ctx.Err() != nil {
				return
			}
			if time.Since(start) > time.Minute {
				wait = time.Second // it had been working: reconnect soon
			}
			_ = err // the stream only hastens pulls: Run polls meanwhile
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait):
			}
			wait = min(2*wait, time.Minute)
		}
	}()
	return ch, closed
}

// stream reads one connection to the events stream.
func (p *Protocol) stream(ctx context.Context, changes chan<- struct{}) error {
	r := p.rest
	if err := r.Validate(); err != nil {
		return err
	}
	u, err := r.join("_events")
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set(wire.HeaderProtocol, wire.Version)
	if r.hook != nil {
		if err := r.hook(req); err != nil {
			return err
		}
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("events: %s", resp.Status)
	}
	lines := bufio.NewScanner(resp.Body)
	for lines.Scan() {
		if strings.HasPrefix(lines.Text(), "event: changed") {
			select {
			case changes <- struct{}{}:
			default:
			}
		}
	}
	return lines.Err()
}
