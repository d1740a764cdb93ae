package tests

import (
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Embedded mode without a configured token: one is generated into a 0600
// file beside the database, used, and read again after a restart.
func TestEmbeddedTokenFile(t *testing.T) {
	t.Parallel()
	env := MustEnv(t, Backend{Name: "sqlite"})
	delete(env.Vars, "SMMAPI_INTERNAL_TOKEN")
	s := MustStart(t, env)
	path := env.Vars["SMMAPI_DATABASE_DSN"] + ".internal-token"
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatalf("token file: %v", err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("token file mode %v, want 0600", fi.Mode().Perm())
	}
	b, _ := os.ReadFile(path)
	token := strings.TrimSpace(string(b))
	if len(token) < 32 {
		t.Fatalf("token %q too short", token)
	}
	if strings.Contains(s.Logs(), token) {
		t.Error("the token appears in the log")
	}
	if !strings.Contains(s.Logs(), filepath.Base(path)) {
		t.Error("the log does not say where the token is")
	}
	if r := s.AdminAs(t, token, "GET", "/internal/v1/sites", nil); r.Status != http.StatusOK {
		t.Fatalf("generated token refused: %d %s", r.Status, r.Body)
	}
	s.Stop(t)
	s = MustStart(t, env)
	if r := s.AdminAs(t, token, "GET", "/internal/v1/sites", nil); r.Status != http.StatusOK {
		t.Fatalf("token not kept across restart: %d %s", r.Status, r.Body)
	}
}

// Bad configuration stops the start with one line naming the key.
func TestBadConfigStops(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, env, key string }{
		{"unknown driver", "SMMAPI_DATABASE_DRIVER=oracle", "database.driver"},
		{"bad duration", "SMMAPI_API_KEYS_COOLDOWN=twenty", "api_keys.cooldown"},
		{"bad redis db", "SMMAPI_REDIS_DB=x", "redis.db"},
	}
	for _, tt := range tests {
		cmd := exec.Command(binary)
		cmd.Dir = t.TempDir()
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), tt.env}
		out, err := cmd.CombinedOutput()
		if err == nil {
			t.Errorf("%s: started anyway", tt.name)
			continue
		}
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		if len(lines) != 1 || !strings.Contains(lines[0], tt.key) {
			t.Errorf("%s: output %q, want one line naming %s", tt.name, out, tt.key)
		}
	}
	cmd := exec.Command(binary, "-config", filepath.Join(t.TempDir(), "missing.yaml"))
	if out, err := cmd.CombinedOutput(); err == nil {
		t.Errorf("missing config file accepted: %s", out)
	}
}

// The migration is idempotent: a second start on the same database works
// and keeps the data.
func TestRestartKeepsData(t *testing.T) {
	eachBackend(t, func(t *testing.T, b Backend) {
		env := MustEnv(t, b)
		s := MustStart(t, env)
		a := s.MustAccount(t, "alice", "5")
		s.Stop(t)
		s = MustStart(t, env)
		r := s.Post(t, "/api/v2", map[string][]string{"key": {a.Key}, "action": {"balance"}})
		jsonEqual(t, r, `{"balance":"5.0000","currency":"CNY"}`)
		sites := s.MustAdmin(t, http.StatusOK, "GET", "/internal/v1/sites", nil)
		if n := len(sites["items"].([]any)); n != 1 {
			t.Errorf("%d sites after restart, want the main site once", n)
		}
	})
}

// The embedded mode runs one process per database file: a second one is
// refused at start with a clear line, and the first keeps serving.
func TestEmbeddedSingleProcess(t *testing.T) {
	t.Parallel()
	env := MustEnv(t, Backend{Name: "sqlite"})
	s := MustStart(t, env)
	cmd := exec.Command(binary)
	cmd.Dir = t.TempDir()
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "SMMAPI_HTTP_ADDR=127.0.0.1:0", "SMMAPI_INTERNAL_ADDR=127.0.0.1:0",
		"SMMAPI_DATABASE_DSN=" + env.Vars["SMMAPI_DATABASE_DSN"], "SMMAPI_INTERNAL_TOKEN=" + env.Token}
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "in use by another smmapi process") {
		t.Fatalf("second process on the same file: err %v, output %s", err, out)
	}
	if r := s.Admin(t, "GET", "/internal/v1/sites", nil); r.Status != http.StatusOK {
		t.Fatalf("first process stopped serving: %d", r.Status)
	}
}
