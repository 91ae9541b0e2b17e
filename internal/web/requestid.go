package web

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
)

// HeaderRequestID carries the request ID back to the client, who can quote
// it when they call the practice.
const HeaderRequestID = "X-Request-ID"

type requestIDKey struct{}

// AssignRequestID gives every request a new random 128-bit ID, puts it in the
// context (see RequestID) and echoes it in the X-Request-ID response header.
// An incoming X-Request-ID is ignored: it is not ours to trust.
func AssignRequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := newRequestID()
		w.Header().Set(HeaderRequestID, id)
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), requestIDKey{}, id)))
	})
}

// RequestID returns the request ID in ctx, or "" outside a request.
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails; crashes the program if the OS cannot supply randomness
	return hex.EncodeToString(b[:])
}
