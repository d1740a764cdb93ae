package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestLoadConfig(t *testing.T) {
	tests := []struct {
		name    string
		file    string
		env     map[string]string
		check   func(Config) bool
		wantErr string // substring of the one error line; it must name the key
	}{
		{name: "defaults without file", check: func(c Config) bool {
			return c.HTTP.Addr == ":8080" && c.Internal.Addr == "127.0.0.1:8081" && c.Database.Driver == "sqlite" &&
				c.Database.DSN == "smmapi.db" && c.Redis.Prefix == "smmapi:" && c.Currency == "CNY" &&
				time.Duration(c.APIKeys.Cooldown) == 20*time.Minute && c.Orders.DuplicateLinkGuard
		}},
		{name: "file values", file: "http:\n  addr: \":9000\"\napi_keys:\n  cooldown: 1h30m\nredis:\n  db: 3\n",
			check: func(c Config) bool {
				return c.HTTP.Addr == ":9000" && time.Duration(c.APIKeys.Cooldown) == 90*time.Minute && c.Redis.DB == 3
			}},
		{name: "env over file", file: "http:\n  addr: \":9000\"\n",
			env: map[string]string{"SMMAPI_HTTP_ADDR": ":9001", "SMMAPI_DATABASE_DRIVER": "mysql", "SMMAPI_DATABASE_DSN": "u@tcp(h)/d",
				"SMMAPI_REDIS_ADDR": "r:6379", "SMMAPI_REDIS_DB": "2", "SMMAPI_REDIS_PREFIX": "x:", "SMMAPI_INTERNAL_TOKEN": "t",
				"SMMAPI_API_KEYS_COOLDOWN": "5s", "SMMAPI_CURRENCY": "USD", "SMMAPI_ORDERS_DUPLICATE_LINK_GUARD": "false"},
			check: func(c Config) bool {
				return c.HTTP.Addr == ":9001" && c.Database.Driver == "mysql" && c.Redis.Addr == "r:6379" && c.Redis.DB == 2 &&
					c.Redis.Prefix == "x:" && c.Internal.Token == "t" && time.Duration(c.APIKeys.Cooldown) == 5*time.Second &&
					c.Currency == "USD" && !c.Orders.DuplicateLinkGuard
			}},
		{name: "the repository's config.yaml", file: mustRead(t, "config.yaml"), check: func(c Config) bool { return c == defaultConfig() }},
		{name: "unknown key", file: "http:\n  adr: x\n", wantErr: `unknown key "http.adr"`},
		{name: "unknown section", file: "htp:\n  addr: x\n", wantErr: `unknown key "htp"`},
		{name: "unknown driver", env: map[string]string{"SMMAPI_DATABASE_DRIVER": "postgres"}, wantErr: "database.driver"},
		{name: "bad duration", file: "api_keys:\n  cooldown: soon\n", wantErr: "api_keys.cooldown"},
		{name: "bad duration env", env: map[string]string{"SMMAPI_API_KEYS_COOLDOWN": "20"}, wantErr: "api_keys.cooldown"},
		{name: "bad int", env: map[string]string{"SMMAPI_REDIS_DB": "one"}, wantErr: "redis.db"},
		{name: "bad bool", file: "orders:\n  duplicate_link_guard: maybe\n", wantErr: "orders.duplicate_link_guard"},
		{name: "section not a mapping", file: "http: 3\n", wantErr: "http"},
		{name: "not yaml", file: "http: [\n", wantErr: "config"},
		// Values stay exactly as written: a digits-only token is not a float,
		// a leading zero is not octal.
		{name: "digits-only token", file: "internal:\n  token: 123456789012345678901234567890\n", check: func(c Config) bool {
			return c.Internal.Token == "123456789012345678901234567890"
		}},
		{name: "leading zero", file: "redis:\n  password: 0123\n", check: func(c Config) bool { return c.Redis.Password == "0123" }},
		{name: "quoted and float-looking", file: "redis:\n  password: \"1e3\"\ninternal:\n  token: 1.50\n", check: func(c Config) bool {
			return c.Redis.Password == "1e3" && c.Internal.Token == "1.50"
		}},
		{name: "empty section", file: "http:\n", check: func(c Config) bool { return c.HTTP.Addr == ":8080" }},
		{name: "list for a value", file: "http:\n  addr: [a, b]\n", wantErr: "http.addr"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := ""
			if tt.file != "" {
				path = writeConfig(t, tt.file)
			}
			c, err := loadConfig(path, env(tt.env))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || strings.Contains(err.Error(), "\n") {
					t.Fatalf("err = %v, want one line naming %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tt.check(c) {
				t.Errorf("config = %+v", c)
			}
		})
	}
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestRedactedHidesSecrets(t *testing.T) {
	c := defaultConfig()
	c.Internal.Token = "supersecret"
	c.Redis.Password = "redispw"
	c.Database.Driver = "mysql"
	c.Database.DSN = "user:dbpw@tcp(db:3306)/smmapi"
	r := c.redacted()
	s := strings.Join([]string{r.Internal.Token, r.Redis.Password, r.Database.DSN}, " ")
	for _, secret := range []string{"supersecret", "redispw", "dbpw"} {
		if strings.Contains(s, secret) {
			t.Errorf("redacted config shows %q: %s", secret, s)
		}
	}
}
