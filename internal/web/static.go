package web

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"time"
)

// staticAssets serves the files in static/ under content-hashed names
// ("app.css" → "/static/app.3f2a9c1b7d4e6f80.css"), so they can be cached
// for a year: a changed file gets a new name.
type staticAssets struct {
	byHashed map[string]staticFile // "app.3f2a9c1b7d4e6f80.css" → file
	urls     map[string]string     // "app.css" → "/static/app.3f2a9c1b7d4e6f80.css"
}

type staticFile struct {
	data        []byte
	contentType string
}

// staticTypes fixes the content type of known extensions rather than
// trusting the host's MIME database.
var staticTypes = map[string]string{
	".css":   "text/css; charset=utf-8",
	".js":    "text/javascript; charset=utf-8",
	".svg":   "image/svg+xml",
	".png":   "image/png",
	".ico":   "image/x-icon",
	".woff2": "font/woff2",
	".txt":   "text/plain; charset=utf-8",
}

func newStaticAssets() (*staticAssets, error) {
	a := &staticAssets{byHashed: map[string]staticFile{}, urls: map[string]string{}}
	err := fs.WalkDir(embedded, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if strings.Contains(strings.TrimPrefix(p, "static/"), "/") {
			return fmt.Errorf("web: static/%s: keep static files flat (no subdirectories)", p)
		}
		data, err := fs.ReadFile(embedded, p)
		if err != nil {
			return err
		}
		name := path.Base(p)
		ext := path.Ext(name)
		sum := sha256.Sum256(data)
		hashed := strings.TrimSuffix(name, ext) + "." + hex.EncodeToString(sum[:8]) + ext
		ct, ok := staticTypes[ext]
		if !ok {
			ct = mime.TypeByExtension(ext)
		}
		if ct == "" {
			ct = "application/octet-stream"
		}
		a.byHashed[hashed] = staticFile{data: data, contentType: ct}
		a.urls[name] = "/static/" + hashed
		return nil
	})
	if err != nil {
		return nil, err
	}
	return a, nil
}

// URL returns the hashed URL of a static file; templates call it as
// {{static "app.css"}}. An unknown name is an error, so a typo fails the
// page test rather than a browser.
func (a *staticAssets) URL(name string) (string, error) {
	u, ok := a.urls[name]
	if !ok {
		return "", fmt.Errorf("web: no static file %q", name)
	}
	return u, nil
}

// serve handles GET /static/{file}.
func (a *staticAssets) serve(w http.ResponseWriter, r *http.Request) error {
	f, ok := a.byHashed[r.PathValue("file")]
	if !ok {
		return errNotFound
	}
	h := w.Header()
	h.Set("Content-Type", f.contentType)
	h.Set("Cache-Control", "public, max-age=31536000, immutable")
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(f.data))
	return nil
}
