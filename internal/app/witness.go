package app

import (
	"encoding/json"
	"net/http"
	"strconv"

	"uroportal/internal/fault"
)

// witnessHandlers serve the audit log's signed tree heads and RFC 6962
// proofs on the admin listener, so an outside witness can pin checkpoints
// and check that later ones extend them. They carry hashes only, no event
// content.
func (a *App) witnessHandlers() map[string]http.Handler {
	write := func(w http.ResponseWriter, v any, err error) {
		w.Header().Set("Content-Type", "application/json")
		if err != nil {
			status := http.StatusInternalServerError
			switch fault.KindOf(err) {
			case fault.Invalid:
				status = http.StatusBadRequest
			case fault.NotFound:
				status = http.StatusNotFound
			}
			w.WriteHeader(status)
			json.NewEncoder(w).Encode(map[string]string{"error": fault.KindOf(err).String(), "message": fault.Message(err)})
			return
		}
		json.NewEncoder(w).Encode(v)
	}
	num := func(r *http.Request, name string) (int64, error) {
		n, err := strconv.ParseInt(r.URL.Query().Get(name), 10, 64)
		if err != nil || n < 1 {
			return 0, fault.Errorf(fault.Invalid, "%s must be a whole number of 1 or more", name)
		}
		return n, nil
	}
	return map[string]http.Handler{
		"GET /audit/key": http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			write(w, map[string]any{"key_id": a.Audit.Signer.ID, "ed25519_public_key": []byte(a.Audit.Signer.Public)}, nil)
		}),
		"GET /audit/heads": http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			heads, err := a.Audit.Heads(r.Context(), 100)
			write(w, map[string]any{"heads": heads}, err)
		}),
		"GET /audit/proof/inclusion": http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			index, err1 := num(r, "index")
			size, err2 := num(r, "size")
			if err := firstErr(err1, err2); err != nil {
				write(w, nil, err)
				return
			}
			leaf, err := a.Audit.LeafHash(r.Context(), index)
			if err != nil {
				write(w, nil, err)
				return
			}
			proof, err := a.Audit.InclusionProof(r.Context(), index, size)
			write(w, map[string]any{"index": index, "tree_size": size, "leaf_hash": leaf, "proof": proof}, err)
		}),
		"GET /audit/proof/consistency": http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			from, err1 := num(r, "from")
			to, err2 := num(r, "to")
			if err := firstErr(err1, err2); err != nil {
				write(w, nil, err)
				return
			}
			proof, err := a.Audit.ConsistencyProof(r.Context(), from, to)
			write(w, map[string]any{"from": from, "to": to, "proof": proof}, err)
		}),
	}
}

func firstErr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}
