package web

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"

	"uroportal/internal/session"
)

//go:embed templates static
var embedded embed.FS

// pageList declares every page of the portal: a name and its template file
// in templates/ (rendered inside templates/layout.html). Add a page here, its
// handler in a file for its group (e.g. labs.go) and its route in routes.go;
// pages_test.go then needs sample data for it and checks it renders.
var pageList = []pageDef{
	{Name: "home", File: "home.html"},
	{Name: "error", File: "error.html"},
	{Name: "labs", File: "labs.html"},
	{Name: "signin", File: "signin.html"},
	{Name: "verify", File: "verify.html"},
	{Name: "mfa", File: "mfa.html"},
	{Name: "codes", File: "codes.html"},
	{Name: "account", File: "account.html"},
	{Name: "password", File: "password.html"},
	{Name: "confirm", File: "confirm.html"},
	{Name: "forgot", File: "forgot.html"},
	{Name: "reset", File: "reset.html"},
	{Name: "issue", File: "issue.html"},
	{Name: "activate", File: "activate.html"},
	{Name: "passkeys", File: "passkeys.html"},
	{Name: "email", File: "email.html"},
	{Name: "history", File: "history.html"},
	{Name: "audit", File: "audit.html"},
	{Name: "alerts", File: "alerts.html"},
	{Name: "settings", File: "settings.html"},
}

type pageDef struct {
	Name string
	File string
}

// pageData is what every template receives: the common fields the layout
// needs, and the page's own data in .Page.
type pageData struct {
	Title     string // the page's <title> and heading
	Practice  string // the practice's name
	CSRF      string // form token: <input type="hidden" name="csrf_token" value="{{.CSRF}}">
	RequestID string
	Page      any
	// User is the signed-in person, if any: the layout shows their name,
	// a sign-out button, and the idle-timeout warning.
	User *layoutUser
}

// layoutUser is what the layout needs of the signed-in person.
type layoutUser struct {
	Name        string
	Active      bool
	IdleSeconds int
}

// homePage is the data of the home page.
type homePage struct {
	SignedIn bool
	Welcome  bool
	Name     string
	Links    []homeLink
}

// pages holds the parsed templates, one set per page.
type pages struct {
	practice string
	byName   map[string]*template.Template
}

func newPages(practice string, assets *staticAssets) (*pages, error) {
	tfs, err := fs.Sub(embedded, "templates")
	if err != nil {
		return nil, err
	}
	funcs := template.FuncMap{
		// static turns "app.css" into its content-hashed URL.
		"static": assets.URL,
	}
	base, err := template.New("layout.html").Funcs(funcs).ParseFS(tfs, "layout.html")
	if err != nil {
		return nil, fmt.Errorf("web: parse layout: %w", err)
	}
	p := &pages{practice: practice, byName: make(map[string]*template.Template, len(pageList))}
	for _, d := range pageList {
		if _, dup := p.byName[d.Name]; dup {
			return nil, fmt.Errorf("web: page %q declared twice", d.Name)
		}
		t, err := template.Must(base.Clone()).ParseFS(tfs, d.File)
		if err != nil {
			return nil, fmt.Errorf("web: parse page %q: %w", d.Name, err)
		}
		p.byName[d.Name] = t
	}
	return p, nil
}

// render writes page name with status, or a plain 500 if the template fails
// (it renders into a buffer first, so a half page is never sent).
func (p *pages) render(w http.ResponseWriter, r *http.Request, status int, name, title string, data any) error {
	t, ok := p.byName[name]
	if !ok {
		return fmt.Errorf("web: no page %q in pageList", name)
	}
	var buf bytes.Buffer
	err := t.ExecuteTemplate(&buf, "layout.html", pageData{
		Title:     title,
		Practice:  p.practice,
		CSRF:      CSRFToken(r),
		RequestID: RequestID(r.Context()),
		Page:      data,
		User:      layoutUserOf(r),
	})
	if err != nil {
		return fmt.Errorf("web: render page %q: %w", name, err)
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = buf.WriteTo(w)
	return nil
}

// renderError writes the error page, falling back to plain text.
func (p *pages) renderError(w http.ResponseWriter, r *http.Request, v errorView) {
	if err := p.render(w, r, v.Status, "error", v.Title, v); err != nil {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(v.Status)
		fmt.Fprintf(w, "%s\n\n%s\n\nReference: %s\n", v.Title, v.Message, v.RequestID)
	}
}

func layoutUserOf(r *http.Request) *layoutUser {
	p, ok := principalFrom(r.Context())
	if !ok {
		return nil
	}
	return &layoutUser{Name: p.User.Name, Active: p.Session.State == session.Active, IdleSeconds: int(p.Session.IdleTimeout.Seconds())}
}
