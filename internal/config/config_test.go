package config

import (
	"flag"
	"strings"
	"testing"
)

func TestDefaultsAreValidAndLoopback(t *testing.T) {
	c := Default()
	if err := c.Validate(FlagData | FlagServe); err != nil {
		t.Fatal(err)
	}
	if !IsLoopback(c.Addr) || !IsLoopback(c.AdminAddr) {
		t.Fatal("default listeners are not on loopback")
	}
}

func TestFlagsOverrideEnv(t *testing.T) {
	c := Default()
	env := map[string]string{"UROPORTAL_ADDR": "127.0.0.1:1111", "UROPORTAL_DATA": "/env/data", "UROPORTAL_KEK_FILE": "/k"}
	if err := c.FromEnv(func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	c.Bind(fs, FlagData|FlagServe)
	if err := fs.Parse([]string{"--addr", "127.0.0.1:2222"}); err != nil {
		t.Fatal(err)
	}
	if c.Addr != "127.0.0.1:2222" || c.DataDir != "/env/data" || c.KEKFile != "/k" {
		t.Fatalf("got addr %q data %q kekfile %q", c.Addr, c.DataDir, c.KEKFile)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*Config)
		want string
	}{
		{"bad addr", func(c *Config) { c.Addr = "8443" }, "--addr"},
		{"mysql", func(c *Config) { c.DatabaseURL = "mysql://x" }, "postgres://"},
		{"cert without key", func(c *Config) { c.TLSCert = "c.pem" }, "go together"},
		{"demo on all interfaces", func(c *Config) { c.Demo = true; c.Addr = "0.0.0.0:8443" }, "loopback"},
		{"demo on empty host", func(c *Config) { c.Demo = true; c.Addr = ":8443" }, "loopback"},
		{"demo redirect public", func(c *Config) { c.Demo = true; c.HTTPAddr = "192.0.2.1:80" }, "loopback"},
		{"both keks", func(c *Config) { c.KEK = "a"; c.KEKFile = "b" }, "only one"},
		{"log level", func(c *Config) { c.LogLevel = "loud" }, "log-level"},
		{"patients", func(c *Config) { c.Demo = true; c.DemoPatients = 1 }, "--patients"},
		{"weak argon2", func(c *Config) { c.Argon2MemoryMiB = 8 }, "ARGON2"},
		{"weak argon2 passes", func(c *Config) { c.Argon2MemoryMiB, c.Argon2Passes = 64, 1 }, "ARGON2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			tt.mod(&c)
			err := c.Validate(FlagData | FlagServe)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate = %v, want mention of %q", err, tt.want)
			}
		})
	}
}

func FuzzValidate(f *testing.F) {
	f.Add("127.0.0.1:8443", "postgres://u@h/db", true)
	f.Fuzz(func(t *testing.T, addr, db string, demo bool) {
		c := Default()
		c.Addr, c.DatabaseURL, c.Demo = addr, db, demo
		if err := c.Validate(FlagData | FlagServe); err == nil && demo && !IsLoopback(addr) {
			t.Fatalf("demo accepted non-loopback %q", addr)
		}
	})
}
