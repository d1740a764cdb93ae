package main

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"smmapi/api"
	"smmapi/service"
)

// Config is the whole configuration: config.yaml, then SMMAPI_<SECTION>_<KEY>
// environment variables over it, then defaults for what neither set.
type Config struct {
	HTTP struct {
		Addr           string   `yaml:"addr"`
		MaxConnections int      `yaml:"max_connections"`
		BodyTimeout    Duration `yaml:"body_timeout"`
	} `yaml:"http"`
	Internal struct {
		Addr  string `yaml:"addr"`
		Token string `yaml:"token"`
	} `yaml:"internal"`
	Database struct {
		Driver string `yaml:"driver"`
		DSN    string `yaml:"dsn"`
		// FallbackDSNs are other addresses of the same database (nodes of
		// a Galera cluster), separated by ";", tried when dsn's fails.
		FallbackDSNs string `yaml:"fallback_dsns"`
		MaxOpenConns int    `yaml:"max_open_conns"`
		// BackgroundConns is the pool of background work (MySQL; webhook
		// delivery), beside max_open_conns.
		BackgroundConns int `yaml:"background_conns"`
	} `yaml:"database"`
	Redis struct {
		Addr string `yaml:"addr"`
		// Addrs are seed addresses (comma-separated) of a Redis Cluster
		// (with Cluster) or of one server; Addr is one server.
		Addrs    string `yaml:"addrs"`
		Cluster  bool   `yaml:"cluster"`
		Password string `yaml:"password"`
		DB       int    `yaml:"db"`
		Prefix   string `yaml:"prefix"`
	} `yaml:"redis"`
	Currency string `yaml:"currency"`
	APIKeys  struct {
		Cooldown Duration `yaml:"cooldown"`
	} `yaml:"api_keys"`
	Orders struct {
		DuplicateLinkGuard bool `yaml:"duplicate_link_guard"`
		// IDFormat numbers the orders of accounts and sites that inherit.
		IDFormat string `yaml:"id_format"`
		// BatchMax bounds the orders of one group commit of add (1: one
		// transaction per order); BatchShards is the number of committers
		// (0: one on SQLite, four on MySQL).
		BatchMax    int `yaml:"batch_max"`
		BatchShards int `yaml:"batch_shards"`
	} `yaml:"orders"`
	Limits struct {
		KeyRate        int      `yaml:"key_rate"`
		KeyBurst       int      `yaml:"key_burst"`
		IPRate         int      `yaml:"ip_rate"`
		IPBurst        int      `yaml:"ip_burst"`
		AuthFailures   int      `yaml:"auth_failures"`
		AuthWindow     Duration `yaml:"auth_window"`
		AuthLockout    Duration `yaml:"auth_lockout"`
		TrustedProxies string   `yaml:"trusted_proxies"`
	} `yaml:"limits"`
	Workers struct {
		Enabled      bool     `yaml:"enabled"`
		SyncInterval Duration `yaml:"sync_interval"`
	} `yaml:"workers"`
	Events struct {
		// Retention is how long order events are kept.
		Retention Duration `yaml:"retention"`
	} `yaml:"events"`
	Upstream struct {
		Timeout Duration `yaml:"timeout"`
	} `yaml:"upstream"`
	Webhooks struct {
		Timeout     Duration `yaml:"timeout"`
		MaxAge      Duration `yaml:"max_age"`
		MaxFailures int      `yaml:"max_failures"`
		// AllowPrivate is a comma list of CIDRs webhooks may reach although
		// private (or loopback, link-local…).
		AllowPrivate string   `yaml:"allow_private"`
		Backoff      Duration `yaml:"backoff"`
		MaxBackoff   Duration `yaml:"max_backoff"`
		Concurrency  int      `yaml:"concurrency"`
		PerEndpoint  int      `yaml:"per_endpoint"`
	} `yaml:"webhooks"`
	Suppliers struct {
		// BalanceInterval is how often workers poll suppliers' balances.
		BalanceInterval Duration `yaml:"balance_interval"`
		// BalanceFloor is "50" or "50,3=200": see service.ParseBalanceFloors.
		BalanceFloor string `yaml:"balance_floor"`
		// SyncCatalogInterval is how often each supplier's catalog is read
		// for synced services; MaxRateChangePercent the largest synced
		// rate change applied without an admin.
		SyncCatalogInterval  Duration `yaml:"sync_catalog_interval"`
		MaxRateChangePercent int      `yaml:"max_rate_change_percent"`
	} `yaml:"suppliers"`
	Pricing struct {
		// CacheMB bounds the serialized catalogs kept for accounts with
		// their own prices or a discount (an LRU).
		CacheMB int `yaml:"cache_mb"`
	} `yaml:"pricing"`
	Secrets struct {
		Key string `yaml:"key"`
	} `yaml:"secrets"`
	ShutdownTimeout Duration `yaml:"shutdown_timeout"`
	Log             struct {
		Level string `yaml:"level"`
	} `yaml:"log"`
}

// Duration is a time.Duration written as "20m" or "1h30m".
type Duration time.Duration

// MarshalText writes d as "20m0s", for the start-up log.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// defaultConfig holds every default, in one place.
func defaultConfig() Config {
	var c Config
	c.HTTP.Addr = ":8080"
	// About 26 KB per idle keep-alive connection: 4096 of them stay near
	// 100 MB, inside a 150 MB memory target.
	c.HTTP.MaxConnections = 4096
	c.HTTP.BodyTimeout = Duration(10 * time.Second)
	c.Internal.Addr = "127.0.0.1:8081"
	c.Database.Driver = "sqlite"
	c.Database.DSN = "smmapi.db"
	c.Database.MaxOpenConns = 32
	c.Database.BackgroundConns = 8
	c.Redis.Prefix = "smmapi:"
	c.Currency = "CNY"
	c.APIKeys.Cooldown = Duration(20 * time.Minute)
	c.Orders.DuplicateLinkGuard = true
	c.Orders.IDFormat = "alnum"
	c.Orders.BatchMax = 128
	c.Limits.KeyRate, c.Limits.KeyBurst = 20, 100
	c.Limits.IPRate, c.Limits.IPBurst = 50, 200
	c.Limits.AuthFailures = 20
	c.Limits.AuthWindow = Duration(10 * time.Minute)
	c.Limits.AuthLockout = Duration(15 * time.Minute)
	c.Workers.Enabled = true
	c.Workers.SyncInterval = Duration(time.Minute)
	c.Upstream.Timeout = Duration(30 * time.Second)
	c.Events.Retention = Duration(720 * time.Hour)
	c.Webhooks.Timeout = Duration(10 * time.Second)
	c.Webhooks.MaxAge = Duration(24 * time.Hour)
	c.Webhooks.MaxFailures = 100
	c.Webhooks.Backoff = Duration(5 * time.Second)
	c.Webhooks.MaxBackoff = Duration(time.Hour)
	c.Webhooks.Concurrency = 512
	c.Webhooks.PerEndpoint = 4
	c.Suppliers.BalanceInterval = Duration(5 * time.Minute)
	c.Suppliers.BalanceFloor = "50"
	c.Pricing.CacheMB = 64
	c.Suppliers.SyncCatalogInterval = Duration(15 * time.Minute)
	c.Suppliers.MaxRateChangePercent = 100
	c.ShutdownTimeout = Duration(15 * time.Second)
	c.Log.Level = "info"
	return c
}

// loadConfig reads path (if not empty), applies the environment and
// validates. Every error names the key it is about.
func loadConfig(path string, getenv func(string) string) (Config, error) {
	c := defaultConfig()
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return c, fmt.Errorf("config: %w", err)
		}
		// Decoded as nodes, not into map[string]any: a scalar keeps the text
		// it was written with, so a digits-only token or "0123" is not turned
		// into a number and printed back differently.
		var doc yaml.Node
		if err := yaml.Unmarshal(b, &doc); err != nil {
			return c, fmt.Errorf("config %s: %w", path, err)
		}
		if len(doc.Content) > 0 {
			if err := applyYAML(reflect.ValueOf(&c).Elem(), doc.Content[0], ""); err != nil {
				return c, fmt.Errorf("config %s: %w", path, err)
			}
		}
	}
	if err := applyEnv(reflect.ValueOf(&c).Elem(), "SMMAPI", "", getenv); err != nil {
		return c, fmt.Errorf("config: %w", err)
	}
	return c, c.Validate()
}

// applyYAML sets fields from a mapping node; unknown keys are errors.
// Scalars are set from their text exactly as written (quotes removed).
func applyYAML(v reflect.Value, m *yaml.Node, prefix string) error {
	if m.Kind != yaml.MappingNode {
		if m.Tag == "!!null" { // an empty file or section
			return nil
		}
		return fmt.Errorf("%s: must be a mapping", strings.TrimSuffix(prefix, "."))
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		key, val := m.Content[i].Value, m.Content[i+1]
		f, ok := fieldByTag(v, key)
		if !ok {
			return fmt.Errorf("unknown key %q", prefix+key)
		}
		if f.Kind() == reflect.Struct {
			if err := applyYAML(f, val, prefix+key+"."); err != nil {
				return err
			}
			continue
		}
		if val.Kind == yaml.AliasNode && val.Alias != nil {
			val = val.Alias
		}
		if val.Kind != yaml.ScalarNode {
			return fmt.Errorf("%s: must be a single value", prefix+key)
		}
		if val.Tag == "!!null" {
			continue
		}
		if err := setField(f, val.Value); err != nil {
			return fmt.Errorf("%s: %w", prefix+key, err)
		}
	}
	return nil
}

// applyEnv sets every field whose variable is set: SMMAPI_HTTP_ADDR for
// http.addr, SMMAPI_CURRENCY for currency.
func applyEnv(v reflect.Value, env, key string, getenv func(string) string) error {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		tag := t.Field(i).Tag.Get("yaml")
		name := env + "_" + strings.ToUpper(tag)
		dotted := strings.TrimPrefix(key+"."+tag, ".")
		if v.Field(i).Kind() == reflect.Struct {
			if err := applyEnv(v.Field(i), name, dotted, getenv); err != nil {
				return err
			}
			continue
		}
		if s, ok := lookup(getenv, name); ok {
			if err := setField(v.Field(i), s); err != nil {
				return fmt.Errorf("%s (%s): %w", dotted, name, err)
			}
		}
	}
	return nil
}

func lookup(getenv func(string) string, name string) (string, bool) {
	s := getenv(name)
	return s, s != ""
}

func fieldByTag(v reflect.Value, tag string) (reflect.Value, bool) {
	for i := 0; i < v.NumField(); i++ {
		if v.Type().Field(i).Tag.Get("yaml") == tag {
			return v.Field(i), true
		}
	}
	return reflect.Value{}, false
}

func setField(f reflect.Value, s string) error {
	switch f.Interface().(type) {
	case Duration:
		d, err := time.ParseDuration(strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("invalid duration %q (use e.g. 20m, 1h30m)", s)
		}
		f.Set(reflect.ValueOf(Duration(d)))
		return nil
	}
	switch f.Kind() {
	case reflect.String:
		f.SetString(s)
	case reflect.Int:
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("invalid whole number %q", s)
		}
		f.SetInt(int64(n))
	case reflect.Bool:
		b, err := strconv.ParseBool(strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("invalid boolean %q", s)
		}
		f.SetBool(b)
	default:
		return errors.New("unsupported type")
	}
	return nil
}

// Validate checks values that decoded but make no sense.
func (c Config) Validate() error {
	switch {
	case c.Database.Driver != "sqlite" && c.Database.Driver != "mysql":
		return fmt.Errorf("config: database.driver: unknown driver %q (sqlite or mysql)", c.Database.Driver)
	case c.Database.DSN == "":
		return errors.New("config: database.dsn: must not be empty")
	case c.Database.BackgroundConns < 0:
		return errors.New("config: database.background_conns: must not be negative (0: background work shares max_open_conns)")
	case c.Database.MaxOpenConns < 1:
		return errors.New("config: database.max_open_conns: must be at least 1")
	case c.HTTP.Addr == "":
		return errors.New("config: http.addr: must not be empty")
	case c.HTTP.MaxConnections < 0:
		return errors.New("config: http.max_connections: must not be negative (0: no limit)")
	case c.HTTP.BodyTimeout <= 0:
		return errors.New("config: http.body_timeout: must be positive")
	case c.Internal.Addr == "":
		return errors.New("config: internal.addr: must not be empty")
	case len(c.Currency) != 3:
		return fmt.Errorf("config: currency: %q is not a 3-letter code", c.Currency)
	case c.APIKeys.Cooldown < 0:
		return errors.New("config: api_keys.cooldown: must not be negative")
	case time.Duration(c.Workers.SyncInterval) < 100*time.Millisecond:
		return errors.New("config: workers.sync_interval: must be at least 100ms")
	case time.Duration(c.Events.Retention) < time.Hour:
		return errors.New("config: events.retention: must be at least 1h")
	case c.Upstream.Timeout <= 0:
		return errors.New("config: upstream.timeout: must be positive")
	case c.Webhooks.Timeout <= 0 || c.Webhooks.MaxAge <= 0:
		return errors.New("config: webhooks.timeout and webhooks.max_age: must be positive")
	case c.Webhooks.MaxFailures < 1:
		return errors.New("config: webhooks.max_failures: must be at least 1")
	case c.Webhooks.Backoff <= 0 || c.Webhooks.MaxBackoff < c.Webhooks.Backoff:
		return errors.New("config: webhooks.backoff: must be positive, and webhooks.max_backoff at least as long")
	case c.Webhooks.Concurrency < 1 || c.Webhooks.PerEndpoint < 1:
		return errors.New("config: webhooks.concurrency and webhooks.per_endpoint: must be at least 1")
	case c.Secrets.Key != "" && len(c.Secrets.Key) != 64:
		return errors.New("config: secrets.key: must be 64 hex characters")
	case c.ShutdownTimeout <= 0:
		return errors.New("config: shutdown_timeout: must be positive")
	case c.Orders.BatchMax < 1 || c.Orders.BatchMax > 10000:
		return fmt.Errorf("config: orders.batch_max: %d is not between 1 and 10000", c.Orders.BatchMax)
	case c.Orders.BatchShards < 0 || c.Orders.BatchShards > 256:
		return fmt.Errorf("config: orders.batch_shards: %d is not between 0 and 256", c.Orders.BatchShards)
	case c.Orders.IDFormat != "alnum" && c.Orders.IDFormat != "numeric":
		return fmt.Errorf("config: orders.id_format: unknown format %q (alnum or numeric)", c.Orders.IDFormat)
	case c.Redis.DB < 0:
		return errors.New("config: redis.db: must not be negative")
	case c.Redis.Cluster && c.Redis.Addr == "" && c.Redis.Addrs == "":
		return errors.New("config: redis.cluster: needs redis.addrs (the cluster's seed addresses)")
	case c.Redis.Cluster && c.Redis.DB != 0:
		return errors.New("config: redis.db: a Redis Cluster has only database 0")
	case c.Limits.KeyRate < 0 || c.Limits.KeyBurst < 0 || c.Limits.IPRate < 0 || c.Limits.IPBurst < 0 || c.Limits.AuthFailures < 0:
		return errors.New("config: limits: rates, bursts and auth_failures must not be negative")
	case c.Limits.KeyRate > 1_000_000 || c.Limits.IPRate > 1_000_000:
		return errors.New("config: limits: a rate above 1000000/s is meaningless; use 0 to switch it off")
	case c.Limits.AuthFailures > 0 && (c.Limits.AuthWindow <= 0 || c.Limits.AuthLockout <= 0):
		return errors.New("config: limits.auth_window and limits.auth_lockout must be positive")
	}
	if time.Duration(c.Suppliers.SyncCatalogInterval) < time.Second {
		return errors.New("config: suppliers.sync_catalog_interval: must be at least 1s")
	}
	if c.Suppliers.MaxRateChangePercent < 0 || c.Suppliers.MaxRateChangePercent > 1_000_000 {
		return errors.New("config: suppliers.max_rate_change_percent: must be from 0 to 1000000")
	}
	if c.Pricing.CacheMB < 1 || c.Pricing.CacheMB > 65536 {
		return errors.New("config: pricing.cache_mb: must be from 1 to 65536")
	}
	if _, err := service.NewAddrPolicy(c.Webhooks.AllowPrivate); err != nil {
		return fmt.Errorf("config: webhooks.allow_private: %w", err)
	}
	if time.Duration(c.Suppliers.BalanceInterval) < time.Second {
		return errors.New("config: suppliers.balance_interval: must be at least 1s")
	}
	if _, err := service.ParseBalanceFloors(c.Suppliers.BalanceFloor); err != nil {
		return fmt.Errorf("config: suppliers.balance_floor: %v", err)
	}
	if _, err := api.ParseCIDRs(c.Limits.TrustedProxies); err != nil {
		return fmt.Errorf("config: limits.trusted_proxies: %v", err)
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("config: log.level: unknown level %q", c.Log.Level)
	}
	return nil
}

// redacted returns c without secrets, for the start-up log.
func (c Config) redacted() Config {
	if c.Internal.Token != "" {
		c.Internal.Token = "[set]"
	}
	if c.Redis.Password != "" {
		c.Redis.Password = "[set]"
	}
	if c.Secrets.Key != "" {
		c.Secrets.Key = "[set]"
	}
	if c.Database.Driver == "mysql" {
		c.Database.DSN = redactDSN(c.Database.DSN)
		ds := strings.Split(c.Database.FallbackDSNs, ";")
		for i := range ds {
			ds[i] = redactDSN(ds[i])
		}
		c.Database.FallbackDSNs = strings.Join(ds, ";")
	}
	return c
}

// redactDSN drops the user and password of a MySQL DSN.
func redactDSN(dsn string) string {
	if at := strings.LastIndex(dsn, "@"); at >= 0 {
		return "[redacted]" + dsn[at:]
	}
	return dsn
}
