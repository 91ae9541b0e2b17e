package identity

import "context"

// hashPool bounds password hashing: at most workers hashes run at once and at
// most queue attempts wait for one. A sign-in flood beyond that is refused
// before any hashing, so it cannot starve the rest of the server of CPU or
// memory (each argon2id hash takes 64 MiB).
type hashPool struct {
	slots   chan struct{}
	waiting chan struct{}
}

func newHashPool(workers, queue int) *hashPool {
	return &hashPool{slots: make(chan struct{}, workers), waiting: make(chan struct{}, workers+queue)}
}

// acquire takes a place, or reports false at once when the queue is full
// or ctx ends while waiting.
func (p *hashPool) acquire(ctx context.Context) (func(), bool) {
	select {
	case p.waiting <- struct{}{}:
	default:
		return nil, false
	}
	select {
	case p.slots <- struct{}{}:
		return func() { <-p.slots; <-p.waiting }, true
	case <-ctx.Done():
		<-p.waiting
		return nil, false
	}
}
