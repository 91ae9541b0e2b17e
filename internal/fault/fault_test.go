package fault

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestKindAndMessage(t *testing.T) {
	inner := E(NotFound, "We could not find that record.", errors.New("sql: no rows"))
	wrapped := fmt.Errorf("clinical: patient p1: %w", inner)
	if KindOf(wrapped) != NotFound {
		t.Fatalf("KindOf = %v", KindOf(wrapped))
	}
	if Message(wrapped) != "We could not find that record." {
		t.Fatalf("Message = %q", Message(wrapped))
	}
	plain := errors.New("pq: relation patients does not exist at 10.0.0.5")
	if KindOf(plain) != Internal {
		t.Fatal("an unclassified error is not Internal")
	}
	if m := Message(plain); strings.Contains(m, "pq") || strings.Contains(m, "10.0.0.5") {
		t.Fatalf("Message leaks an unclassified error: %q", m)
	}
	// A kind without its own message falls through to a safe default.
	if m := Message(E(Internal, "", plain)); strings.Contains(m, "pq") {
		t.Fatalf("Message leaks the cause: %q", m)
	}
	if !errors.Is(wrapped, inner) || errors.Unwrap(inner).Error() != "sql: no rows" {
		t.Fatal("unwrap chain broken")
	}
	for k := Internal; k <= Unsupported; k++ {
		if k.String() == "" {
			t.Errorf("kind %d has no name", k)
		}
	}
}
