package tests

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

const (
	composeFilePath    = "../docker-compose.yml"
	composeDockerfile  = "../Dockerfile"
	composeCommandName = "docker-compose"
)

// composeFile is the subset of the compose file these tests inspect.
type composeFile struct {
	Services map[string]composeService `yaml:"services"`
	Volumes  map[string]any            `yaml:"volumes"`
}

type composeService struct {
	Image       string         `yaml:"image"`
	Build       any            `yaml:"build"`
	Environment any            `yaml:"environment"` // map or list form
	Healthcheck map[string]any `yaml:"healthcheck"`
}

// composeEnv normalises a service's environment (map or "KEY=VALUE" list).
func composeEnv(t *testing.T, raw any) map[string]string {
	t.Helper()
	env := map[string]string{}
	switch v := raw.(type) {
	case nil:
	case map[string]any:
		for k, val := range v {
			if val == nil {
				env[k] = ""
				continue
			}
			switch s := val.(type) {
			case string:
				env[k] = s
			default:
				t.Fatalf("environment %s: non-string value %v (%T); quote it", k, val, val)
			}
		}
	case []any:
		for _, item := range v {
			s, ok := item.(string)
			if !ok {
				t.Fatalf("environment list item %v is not a string", item)
			}
			k, val, _ := strings.Cut(s, "=")
			env[k] = val
		}
	default:
		t.Fatalf("unexpected environment type %T", raw)
	}
	return env
}

func TestComposeConfig(t *testing.T) {
	t.Run("docker-compose config", func(t *testing.T) {
		bin, err := exec.LookPath(composeCommandName)
		if err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s not on PATH: .ci/run should have installed Debian's docker-compose (apt-get install -y docker-compose): %v", composeCommandName, err)
			}
			t.Skipf("%s not on PATH; skipping compose validation (install it with: apt-get install -y docker-compose)", composeCommandName)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, bin, "-f", composeFilePath, "config", "-q")
		cmd.Env = append(os.Environ(), "SMMAPI_INTERNAL_TOKEN=x")
		out, err := cmd.CombinedOutput()
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			t.Fatalf("%s config timed out after 60s; output:\n%s", composeCommandName, out)
		}
		if err != nil {
			t.Fatalf("%s config -q failed: %v\n%s", composeCommandName, err, out)
		}
	})

	t.Run("structure", func(t *testing.T) {
		data, err := os.ReadFile(composeFilePath)
		if err != nil {
			t.Fatalf("read %s: %v", composeFilePath, err)
		}
		var cf composeFile
		if err := yaml.Unmarshal(data, &cf); err != nil {
			t.Fatalf("parse %s: %v", composeFilePath, err)
		}
		for _, name := range []string{"app", "mysql", "redis"} {
			svc, ok := cf.Services[name]
			if !ok {
				t.Errorf("service %q missing", name)
				continue
			}
			if len(svc.Healthcheck) == 0 {
				t.Errorf("service %q has no healthcheck", name)
			} else if _, ok := svc.Healthcheck["test"]; !ok {
				t.Errorf("service %q healthcheck has no test", name)
			}
		}
		if app, ok := cf.Services["app"]; ok {
			env := composeEnv(t, app.Environment)
			if got := env["SMMAPI_DATABASE_DRIVER"]; got != "mysql" {
				t.Errorf("app SMMAPI_DATABASE_DRIVER = %q, want %q", got, "mysql")
			}
			if got := env["SMMAPI_REDIS_ADDR"]; got == "" {
				t.Errorf("app SMMAPI_REDIS_ADDR is not set")
			}
		}
		for _, vol := range []string{"mysql-data", "redis-data"} {
			if _, ok := cf.Volumes[vol]; !ok {
				t.Errorf("top-level volume %q not declared", vol)
			}
		}
	})
}

// TestDockerfile does cheap text checks only: there is no Docker engine on
// the CI machine, so the image cannot be built or inspected here.
func TestDockerfile(t *testing.T) {
	data, err := os.ReadFile(composeDockerfile)
	if err != nil {
		t.Fatalf("read %s: %v", composeDockerfile, err)
	}
	var hasHealthcheck, hasCGO bool
	var lastUser string
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Fields(line)
		switch strings.ToUpper(fields[0]) {
		case "HEALTHCHECK":
			if len(fields) > 1 && strings.ToUpper(fields[1]) != "NONE" {
				hasHealthcheck = true
			}
		case "USER":
			if len(fields) > 1 {
				lastUser = fields[1]
			}
		}
		if strings.Contains(line, "CGO_ENABLED=0") {
			hasCGO = true
		}
	}
	if !hasHealthcheck {
		t.Errorf("Dockerfile has no HEALTHCHECK")
	}
	if lastUser == "" {
		t.Errorf("Dockerfile has no USER instruction")
	} else if u, _, _ := strings.Cut(lastUser, ":"); u == "root" || u == "0" {
		t.Errorf("Dockerfile final USER is %q, want non-root", lastUser)
	}
	if !hasCGO {
		t.Errorf("Dockerfile does not build with CGO_ENABLED=0")
	}
}
