package tests

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
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
	Profiles    []string       `yaml:"profiles"`
	Volumes     []string       `yaml:"volumes"` // short form "src:dst[:ro]"
	Entrypoint  []string       `yaml:"entrypoint"`
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
		// Without a profile (app, MySQL, Redis) and with the observability one.
		for _, args := range [][]string{{"config", "-q"}, {"--profile", "observability", "config", "-q"}} {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, bin, append([]string{"-f", composeFilePath}, args...)...)
			cmd.Env = append(os.Environ(), "SMMAPI_INTERNAL_TOKEN=x")
			out, err := cmd.CombinedOutput()
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				t.Fatalf("%s %v timed out after 60s; output:\n%s", composeCommandName, args, out)
			}
			if err != nil {
				t.Fatalf("%s %v failed: %v\n%s", composeCommandName, args, err, out)
			}
		}
	})

	t.Run("structure", func(t *testing.T) {
		var cf composeFile
		mustYAML(t, composeFilePath, &cf)
		for _, name := range []string{"app", "mysql", "redis", "prometheus", "grafana"} {
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
		for _, vol := range []string{"mysql-data", "redis-data", "prometheus-data", "grafana-data"} {
			if _, ok := cf.Volumes[vol]; !ok {
				t.Errorf("top-level volume %q not declared", vol)
			}
		}
	})

	t.Run("observability profile", func(t *testing.T) {
		var cf composeFile
		mustYAML(t, composeFilePath, &cf)
		for name, svc := range cf.Services {
			want := name == "prometheus" || name == "grafana"
			if got := slices.Contains(svc.Profiles, "observability"); got != want {
				t.Errorf("service %q in profile observability: %v, want %v", name, got, want)
			}
			// Every file or folder mounted from the repository exists: a
			// missing bind source would be created as an empty folder.
			for _, v := range svc.Volumes {
				src, _, _ := strings.Cut(v, ":")
				if !strings.HasPrefix(src, "./") {
					continue // a named volume
				}
				if _, err := os.Stat(filepath.Join("..", src)); err != nil {
					t.Errorf("service %q mounts %s: %v", name, src, err)
				}
			}
		}
		// The token file Prometheus reads is the one its entrypoint writes.
		var prom struct {
			RuleFiles     []string `yaml:"rule_files"`
			ScrapeConfigs []struct {
				Authorization struct {
					Type            string `yaml:"type"`
					CredentialsFile string `yaml:"credentials_file"`
				} `yaml:"authorization"`
				StaticConfigs []struct {
					Targets []string `yaml:"targets"`
				} `yaml:"static_configs"`
			} `yaml:"scrape_configs"`
		}
		mustYAML(t, "../deploy/prometheus/prometheus.yml", &prom)
		if len(prom.ScrapeConfigs) != 1 || len(prom.ScrapeConfigs[0].StaticConfigs) != 1 ||
			!slices.Equal(prom.ScrapeConfigs[0].StaticConfigs[0].Targets, []string{"app:8081"}) {
			t.Fatalf("prometheus.yml should scrape app:8081 only: %+v", prom.ScrapeConfigs)
		}
		auth := prom.ScrapeConfigs[0].Authorization
		entry := strings.Join(cf.Services["prometheus"].Entrypoint, " ")
		if auth.Type != "Bearer" || auth.CredentialsFile == "" || !strings.Contains(entry, "> "+auth.CredentialsFile+" ") {
			t.Errorf("prometheus.yml reads the token from %q (%s); the entrypoint should write it there: %s", auth.CredentialsFile, auth.Type, entry)
		}
		if !slices.Equal(prom.RuleFiles, []string{"alerts.yml"}) {
			t.Errorf("rule_files = %v, want [alerts.yml]", prom.RuleFiles)
		}
	})
}

// mustYAML decodes the YAML file at path into v.
func mustYAML(tb testing.TB, path string, v any) {
	tb.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		tb.Fatalf("read %s: %v", path, err)
	}
	if err := yaml.Unmarshal(data, v); err != nil {
		tb.Fatalf("parse %s: %v", path, err)
	}
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
