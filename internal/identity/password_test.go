package identity

import (
	"strings"
	"testing"
)

func TestPasswordHash(t *testing.T) {
	p := Argon2Params{MemoryKiB: 8 * 1024, Passes: 1, Threads: 1}
	h, err := HashPassword("correct horse battery staple 🐎", p)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=8192,t=1,p=1$") {
		t.Fatalf("hash %q does not record its parameters", h)
	}
	h2, _ := HashPassword("correct horse battery staple 🐎", p)
	if h == h2 {
		t.Fatal("two hashes of one password are equal: salt not random")
	}
	ok, rehash, err := VerifyPassword("correct horse battery staple 🐎", h, p)
	if !ok || rehash || err != nil {
		t.Fatalf("Verify right password = %v, %v, %v", ok, rehash, err)
	}
	if ok, _, _ := VerifyPassword("correct horse battery stable 🐎", h, p); ok {
		t.Fatal("wrong password verified")
	}
	// Weaker stored parameters ask for an upgrade.
	if _, rehash, _ := VerifyPassword("correct horse battery staple 🐎", h, DefaultArgon2); !rehash {
		t.Fatal("a hash weaker than the default was not flagged for rehash")
	}
	// NFKC: a full-width passphrase matches its ASCII form.
	hw, _ := HashPassword("ｐａｓｓｗｏｒｄ1234567", p)
	if ok, _, _ := VerifyPassword("password1234567", hw, p); !ok {
		t.Fatal("NFKC-equivalent password did not verify")
	}
	for _, bad := range []string{"", "$argon2i$v=19$m=1,t=1,p=1$AA$AA", "$argon2id$v=19$m=x$AA$AA", "$argon2id$v=19$m=1,t=1,p=1$!!$AA"} {
		if ok, _, err := VerifyPassword("x", bad, p); ok || err == nil {
			t.Errorf("malformed hash %q: ok=%v err=%v", bad, ok, err)
		}
	}
}

func TestDefaultArgon2MeetsFloor(t *testing.T) {
	if DefaultArgon2.MemoryKiB < 64*1024 || DefaultArgon2.Passes < 3 {
		t.Fatalf("DefaultArgon2 %+v is below 64 MiB and 3 passes", DefaultArgon2)
	}
}

func FuzzVerifyPassword(f *testing.F) {
	f.Add("pw", "$argon2id$v=19$m=8,t=1,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAA")
	f.Fuzz(func(t *testing.T, pw, enc string) {
		if strings.Contains(enc, "m=") && len(enc) > 200 {
			return
		}
		VerifyPassword(pw, enc, Argon2Params{MemoryKiB: 8, Passes: 1, Threads: 1})
	})
}
