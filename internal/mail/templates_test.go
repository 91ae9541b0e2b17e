package mail

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

var samples = []Renderable{
	NewSignIn{PracticeName: "Example Urology", When: time.Date(2031, 3, 4, 9, 30, 0, 0, time.UTC), DeviceHint: "Chrome on Windows", PortalURL: "https://portal.example.org/"},
	PasswordReset{PracticeName: "Example Urology", Link: "https://portal.example.org/reset?t=abc", ExpiresIn: time.Hour},
	ProxyInvite{PracticeName: "Example Urology", Link: "https://portal.example.org/invite?t=abc", ExpiresIn: 7 * 24 * time.Hour},
	NewMessage{PracticeName: "Example Urology", PortalURL: "https://portal.example.org/"},
	ResultReady{PracticeName: "Example Urology", PortalURL: "https://portal.example.org/"},
	SecurityAlert{PracticeName: "Example Urology", PortalURL: "https://portal.example.org/security/alerts"},
}

// TestTemplatesTakeNoPHI pins the fields of every template to values that
// are not PHI. Adding a field (a patient's name, a test, a value) fails here
// on purpose: email carries only "sign in to see".
func TestTemplatesTakeNoPHI(t *testing.T) {
	allowed := map[string]reflect.Type{
		"PracticeName": reflect.TypeFor[string](),
		"PortalURL":    reflect.TypeFor[string](),
		"Link":         reflect.TypeFor[string](),
		"DeviceHint":   reflect.TypeFor[string](),
		"When":         reflect.TypeFor[time.Time](),
		"ExpiresIn":    reflect.TypeFor[time.Duration](),
	}
	kinds := map[Kind]bool{}
	for _, m := range samples {
		kinds[m.Kind()] = true
		rt := reflect.TypeOf(m)
		for f := range rt.Fields() {
			if want, ok := allowed[f.Name]; !ok || f.Type != want {
				t.Errorf("%s.%s (%s) is not one of the fields allowed in email", rt.Name(), f.Name, f.Type)
			}
		}
	}
	for _, k := range Kinds {
		if !kinds[k] {
			t.Errorf("kind %s has no sample here", k)
		}
		if _, ok := templates[k]; !ok {
			t.Errorf("kind %s has no template", k)
		}
	}
	if len(templates) != len(Kinds) || len(samples) != len(Kinds) {
		t.Errorf("%d templates, %d samples, %d kinds", len(templates), len(samples), len(Kinds))
	}
}

func TestRender(t *testing.T) {
	for _, m := range samples {
		t.Run(string(m.Kind()), func(t *testing.T) {
			subject, body, err := m.Render()
			if err != nil {
				t.Fatal(err)
			}
			if subject == "" || strings.ContainsAny(subject, "\r\n") {
				t.Errorf("subject %q", subject)
			}
			for _, want := range []string{"Example Urology", "https://portal.example.org/", "Sign in", "never put health information in email"} {
				if !strings.Contains(body, want) {
					t.Errorf("body lacks %q:\n%s", want, body)
				}
			}
			if strings.Contains(body, "<no value>") || strings.Contains(body, "{{") {
				t.Errorf("template left a hole:\n%s", body)
			}
		})
	}
	_, body, _ := samples[0].Render()
	for _, want := range []string{"Tuesday, March 4, 2031 at 9:30 AM UTC", "Chrome on Windows"} {
		if !strings.Contains(body, want) {
			t.Errorf("new sign-in body lacks %q", want)
		}
	}
	_, body, _ = samples[1].Render()
	if !strings.Contains(body, "within 1 hour") {
		t.Errorf("reset body lacks the expiry:\n%s", body)
	}
	_, body, _ = samples[2].Render()
	if !strings.Contains(body, "within 7 days") {
		t.Errorf("invite body lacks the expiry:\n%s", body)
	}
	_, body, _ = NewSignIn{PracticeName: "P", When: time.Unix(0, 0), PortalURL: "https://p.example/"}.Render()
	if !strings.Contains(body, "an unrecognized device") {
		t.Errorf("empty device hint not replaced:\n%s", body)
	}
}

func TestRenderRefusesBadValues(t *testing.T) {
	now := time.Unix(1e9, 0)
	bad := map[string]Renderable{
		"no practice":         NewMessage{PortalURL: "https://p.example/"},
		"practice CRLF":       NewMessage{PracticeName: "A\r\nBcc: x@y", PortalURL: "https://p.example/"},
		"practice too long":   ResultReady{PracticeName: strings.Repeat("x", 101), PortalURL: "https://p.example/"},
		"http link":           PasswordReset{PracticeName: "P", Link: "http://p.example/r", ExpiresIn: time.Hour},
		"relative link":       PasswordReset{PracticeName: "P", Link: "/reset?t=1", ExpiresIn: time.Hour},
		"link with space":     PasswordReset{PracticeName: "P", Link: "https://p.example/r x", ExpiresIn: time.Hour},
		"link with newline":   ProxyInvite{PracticeName: "P", Link: "https://p.example/r\nx", ExpiresIn: time.Hour},
		"link credentials":    ProxyInvite{PracticeName: "P", Link: "https://u:p@p.example/r", ExpiresIn: time.Hour},
		"javascript link":     NewMessage{PracticeName: "P", PortalURL: "javascript:alert(1)"},
		"no expiry":           PasswordReset{PracticeName: "P", Link: "https://p.example/r"},
		"no time":             NewSignIn{PracticeName: "P", PortalURL: "https://p.example/"},
		"device free text":    NewSignIn{PracticeName: "P", When: now, DeviceHint: "Pat's iPhone <script>", PortalURL: "https://p.example/"},
		"device too long":     NewSignIn{PracticeName: "P", When: now, DeviceHint: strings.Repeat("a", 81), PortalURL: "https://p.example/"},
		"device with newline": NewSignIn{PracticeName: "P", When: now, DeviceHint: "Chrome\nBcc: x", PortalURL: "https://p.example/"},
	}
	for name, m := range bad {
		if _, _, err := m.Render(); err == nil {
			t.Errorf("%s: rendered", name)
		}
	}
}

func TestHumanDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		time.Minute:                   "1 minute",
		30 * time.Minute:              "30 minutes",
		90 * time.Minute:              "90 minutes",
		time.Hour:                     "1 hour",
		24 * time.Hour:                "24 hours",
		150 * time.Minute:             "about 3 hours",
		48 * time.Hour:                "2 days",
		7 * 24 * time.Hour:            "7 days",
		7*24*time.Hour + time.Second:  "7 days",
		49*time.Hour + 10*time.Minute: "about 49 hours",
	} {
		if got := humanDuration(d); got != want {
			t.Errorf("humanDuration(%v) = %q, want %q", d, got, want)
		}
	}
}
