// Package tests holds black-box tests: each starts the real smmapi binary on
// 127.0.0.1:0 against a fresh database and speaks HTTP to it. Every test runs
// on SQLite + in-process state, and again on MariaDB + Redis when
// SMMAPI_TEST_MYSQL_DSN and SMMAPI_TEST_REDIS_ADDR are set.
package tests

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	_ "github.com/glebarez/go-sqlite"
	"github.com/go-sql-driver/mysql"
	"github.com/redis/go-redis/v9"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

// binary is the smmapi binary built once for the whole run.
var binary string

func TestMain(m *testing.M) {
	flag.Parse()
	dir, err := os.MkdirTemp("", "smmapi-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "smmapi")
	args := []string{"build", "-o", binary}
	if os.Getenv("SMMAPI_TEST_RACE") != "" {
		args = append(args, "-race") // servers then report data races in their logs
	}
	build := exec.Command("go", append(args, "..")...)
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build smmapi:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// Backend is one storage configuration a test runs against.
type Backend struct {
	Name      string
	MySQLDSN  string // root DSN; empty for SQLite
	RedisAddr string // empty for in-process state
}

// backends returns SQLite always, and MySQL + Redis when configured. Under
// CI=true a configured but unreachable backend fails the test.
func backends(t *testing.T) []Backend {
	t.Helper()
	bs := []Backend{{Name: "sqlite"}}
	dsn, raddr := os.Getenv("SMMAPI_TEST_MYSQL_DSN"), os.Getenv("SMMAPI_TEST_REDIS_ADDR")
	if dsn == "" || raddr == "" {
		return bs
	}
	if err := reachable(dsn, raddr); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("MySQL/Redis configured but unreachable: %v", err)
		}
		t.Logf("skipping mysql backend: %v", err)
		return bs
	}
	return append(bs, Backend{Name: "mysql", MySQLDSN: dsn, RedisAddr: raddr})
}

var reachOnce struct {
	sync.Once
	err error
}

func reachable(dsn, raddr string) error {
	reachOnce.Do(func() {
		db, err := sql.Open("mysql", dsn)
		if err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			err = db.PingContext(ctx)
			cancel()
			db.Close()
		}
		if err != nil {
			reachOnce.err = fmt.Errorf("mysql: %w", err)
			return
		}
		rdb := redis.NewClient(&redis.Options{Addr: raddr})
		defer rdb.Close()
		if err := rdb.Ping(context.Background()).Err(); err != nil {
			reachOnce.err = fmt.Errorf("redis: %w", err)
		}
	})
	return reachOnce.err
}

// eachBackend runs fn as a parallel subtest per backend.
func eachBackend(t *testing.T, fn func(t *testing.T, b Backend)) {
	t.Helper()
	t.Parallel()
	for _, b := range backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			fn(t, b)
		})
	}
}

// Env is one test's isolated storage: its own database and Redis prefix.
// Several processes started on one Env share it, like instances in production.
type Env struct {
	Backend Backend
	Vars    map[string]string
	Token   string
	mysqlDB string
	prefix  string

	// secrets are the token and every API key made in this env: no server
	// log may contain any of them (checked when each server stops).
	mu      sync.Mutex
	secrets []string
}

// Secret adds s to the strings no log line may contain.
func (e *Env) Secret(s string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.secrets = append(e.secrets, s)
}

// MustEnv creates a fresh database (and Redis prefix) for one test.
func MustEnv(tb testing.TB, b Backend) *Env {
	tb.Helper()
	e := &Env{Backend: b, Token: randHex(16), Vars: map[string]string{}}
	e.Vars["SMMAPI_INTERNAL_TOKEN"] = e.Token
	e.Secret(e.Token)
	if b.MySQLDSN == "" {
		e.Vars["SMMAPI_DATABASE_DRIVER"] = "sqlite"
		e.Vars["SMMAPI_DATABASE_DSN"] = filepath.Join(tb.TempDir(), "smmapi.db")
		return e
	}
	cfg, err := mysql.ParseDSN(b.MySQLDSN)
	if err != nil {
		tb.Fatalf("SMMAPI_TEST_MYSQL_DSN: %v", err)
	}
	e.mysqlDB = "smmapi_t_" + randHex(6)
	root := mustMySQL(tb, b.MySQLDSN)
	if _, err := root.Exec("CREATE DATABASE " + e.mysqlDB + " CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"); err != nil {
		tb.Fatalf("create database: %v", err)
	}
	tb.Cleanup(func() {
		if _, err := root.Exec("DROP DATABASE IF EXISTS " + e.mysqlDB); err != nil {
			tb.Logf("drop database %s: %v", e.mysqlDB, err)
		}
		root.Close()
	})
	cfg.DBName = e.mysqlDB
	e.prefix = "smmapi:t:" + randHex(6) + ":"
	e.Vars["SMMAPI_DATABASE_DRIVER"] = "mysql"
	e.Vars["SMMAPI_DATABASE_DSN"] = cfg.FormatDSN()
	e.Vars["SMMAPI_REDIS_ADDR"] = b.RedisAddr
	e.Vars["SMMAPI_REDIS_PREFIX"] = e.prefix
	tb.Cleanup(func() { e.FlushRedis(tb) })
	return e
}

func mustMySQL(tb testing.TB, dsn string) *sql.DB {
	tb.Helper()
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		tb.Fatalf("mysql: %v", err)
	}
	return db
}

// DB opens this env's database directly, for invariant checks.
func (e *Env) DB(tb testing.TB) *sql.DB {
	tb.Helper()
	var db *sql.DB
	var err error
	if e.mysqlDB == "" {
		db, err = sql.Open("sqlite", e.Vars["SMMAPI_DATABASE_DSN"]+"?_pragma=busy_timeout(10000)")
	} else {
		db, err = sql.Open("mysql", e.Vars["SMMAPI_DATABASE_DSN"])
	}
	if err != nil {
		tb.Fatalf("open db: %v", err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

// FlushRedis deletes every key of this env's prefix: Redis losing its data.
func (e *Env) FlushRedis(tb testing.TB) {
	tb.Helper()
	if e.prefix == "" {
		return
	}
	rdb := redis.NewClient(&redis.Options{Addr: e.Backend.RedisAddr})
	defer rdb.Close()
	ctx := context.Background()
	iter := rdb.Scan(ctx, 0, e.prefix+"*", 1000).Iterator()
	for iter.Next(ctx) {
		rdb.Del(ctx, iter.Val())
	}
	if err := iter.Err(); err != nil {
		tb.Errorf("flush redis: %v", err)
	}
}

// Server is one running smmapi process.
type Server struct {
	env      *Env
	cmd      *exec.Cmd
	Public   string // base URL of the public listener
	Internal string // base URL of the internal listener
	logs     *syncBuffer
	done     chan struct{}
}

// MustStart starts a server on env with extra environment variables.
func MustStart(tb testing.TB, env *Env, extra ...string) *Server {
	tb.Helper()
	cmd := exec.Command(binary)
	cmd.Dir = tb.TempDir()
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "SMMAPI_HTTP_ADDR=127.0.0.1:0", "SMMAPI_INTERNAL_ADDR=127.0.0.1:0", "SMMAPI_LOG_LEVEL=debug"}
	for k, v := range env.Vars {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Env = append(cmd.Env, extra...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	s := &Server{env: env, cmd: cmd, logs: &syncBuffer{}, done: make(chan struct{})}
	cmd.Stderr = s.logs
	if err := cmd.Start(); err != nil {
		tb.Fatalf("start smmapi: %v", err)
	}
	addrs := make(chan [2]string, 1)
	go func() {
		var pub, in string
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Bytes()
			s.logs.Write(append(line, '\n'))
			var l struct{ Msg, Listener, Addr string }
			if json.Unmarshal(line, &l) == nil && l.Msg == "listening" {
				if l.Listener == "public" {
					pub = l.Addr
				} else {
					in = l.Addr
				}
				if pub != "" && in != "" {
					addrs <- [2]string{pub, in}
				}
			}
		}
	}()
	go func() { cmd.Wait(); close(s.done) }()
	select {
	case a := <-addrs:
		s.Public, s.Internal = "http://"+a[0], "http://"+a[1]
	case <-s.done:
		tb.Fatalf("smmapi exited before listening:\n%s", s.logs.String())
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		tb.Fatalf("smmapi did not listen within 60s:\n%s", s.logs.String())
	}
	tb.Cleanup(func() { s.Stop(tb) })
	return s
}

// Stop sends SIGTERM and waits for the process to exit.
func (s *Server) Stop(tb testing.TB) {
	tb.Helper()
	select {
	case <-s.done:
		return
	default:
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(20 * time.Second):
		s.cmd.Process.Kill()
		tb.Errorf("smmapi did not stop within 20s after SIGTERM")
	}
	logs := s.logs.String()
	if strings.Contains(logs, "WARNING: DATA RACE") {
		tb.Errorf("the server reported a data race")
	}
	s.env.mu.Lock()
	for _, secret := range s.env.secrets {
		if strings.Contains(logs, secret) {
			tb.Errorf("a secret (%s…) appears in the server log", secret[:6])
		}
	}
	s.env.mu.Unlock()
	if tb.Failed() {
		tb.Logf("server log:\n%s", logs)
	}
}

// Logs returns what the process printed so far.
func (s *Server) Logs() string { return s.logs.String() }

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// Response is a decoded HTTP answer.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSON decodes the body into a generic value.
func (r Response) JSON(tb testing.TB) any {
	tb.Helper()
	var v any
	dec := json.NewDecoder(bytes.NewReader(r.Body))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		tb.Fatalf("body is not JSON: %v: %q", err, r.Body)
	}
	return v
}

// Obj decodes the body as an object.
func (r Response) Obj(tb testing.TB) map[string]any {
	tb.Helper()
	m, ok := r.JSON(tb).(map[string]any)
	if !ok {
		tb.Fatalf("body is not an object: %s", r.Body)
	}
	return m
}

var client = &http.Client{Timeout: 30 * time.Second}

// exchangeHooks observe every exchange made through Do, after it; the
// OpenAPI check (openapi_test.go) registers one.
var exchangeHooks []func(tb testing.TB, req *http.Request, reqBody []byte, resp Response)

// Do sends a request and reads the whole answer.
func Do(tb testing.TB, req *http.Request) Response {
	tb.Helper()
	var reqBody []byte
	if req.GetBody != nil {
		if rc, err := req.GetBody(); err == nil {
			reqBody, _ = io.ReadAll(rc)
			rc.Close()
		}
	}
	resp, err := client.Do(req)
	if err != nil {
		tb.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatalf("read body: %v", err)
	}
	r := Response{Status: resp.StatusCode, Header: resp.Header, Body: b}
	for _, hook := range exchangeHooks {
		hook(tb, req, reqBody, r)
	}
	return r
}

// Admin calls the internal API with the env's token; body may be a string
// (sent as is) or any value (sent as JSON).
func (s *Server) Admin(tb testing.TB, method, path string, body any) Response {
	tb.Helper()
	return s.AdminAs(tb, s.env.Token, method, path, body)
}

// AdminAs calls the internal API with a given token ("" sends none).
func (s *Server) AdminAs(tb testing.TB, token, method, path string, body any) Response {
	tb.Helper()
	auth := ""
	if token != "" {
		auth = "Bearer " + token
	}
	return mustProvRaw(tb, s.Internal, method, path, auth, body)
}

// MustAdmin calls the internal API and fails unless it answers want.
func (s *Server) MustAdmin(tb testing.TB, want int, method, path string, body any) map[string]any {
	tb.Helper()
	r := s.Admin(tb, method, path, body)
	if r.Status != want {
		tb.Fatalf("%s %s: status %d, want %d: %s", method, path, r.Status, want, r.Body)
	}
	if len(r.Body) == 0 {
		return nil
	}
	return r.Obj(tb)
}

// Post sends a form to the public API at path ("/api/v2").
func (s *Server) Post(tb testing.TB, path string, form url.Values) Response {
	tb.Helper()
	req, err := http.NewRequest(http.MethodPost, s.Public+path, strings.NewReader(form.Encode()))
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return Do(tb, req)
}

// Account is a provisioned customer.
type Account struct {
	ID  string // user ID as the internal API writes it
	Key string
}

// MustAccount creates a user with balance on the main site and a key.
func (s *Server) MustAccount(tb testing.TB, name, balance string) Account {
	tb.Helper()
	return s.MustAccountOn(tb, name, balance, 1)
}

// MustAccountOn creates a user with balance and a key on site.
func (s *Server) MustAccountOn(tb testing.TB, name, balance string, site int) Account {
	tb.Helper()
	u := s.MustAdmin(tb, http.StatusCreated, "POST", "/internal/v1/users", map[string]any{"username": name})
	id := fmt.Sprint(u["id"])
	if balance != "" && balance != "0" {
		s.MustAdmin(tb, http.StatusOK, "POST", "/internal/v1/users/"+id+"/balance", map[string]any{"amount": balance, "reason": "test"})
	}
	k := s.MustAdmin(tb, http.StatusCreated, "POST", "/internal/v1/users/"+id+"/api-keys", map[string]any{"site_id": site})
	s.env.Secret(fmt.Sprint(k["key"]))
	return Account{ID: id, Key: fmt.Sprint(k["key"])}
}

// MustService creates a catalog entry; fields override a Default service.
func (s *Server) MustService(tb testing.TB, fields map[string]any) string {
	tb.Helper()
	in := map[string]any{"name": "Followers", "type": "Default", "category": "Instagram", "rate": "8.5000",
		"min": 10, "max": 10000, "refill": true, "cancel": true, "dripfeed": false, "description": "", "enabled": true}
	for k, v := range fields {
		in[k] = v
	}
	out := s.MustAdmin(tb, http.StatusCreated, "POST", "/internal/v1/services", in)
	return fmt.Sprint(out["id"])
}

// golden compares got with testdata/name byte for byte (-update rewrites).
func golden(tb testing.TB, name string, got []byte) {
	tb.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			tb.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		tb.Fatalf("golden %s: %v (run with -update)", name, err)
	}
	if !bytes.Equal(got, want) {
		tb.Errorf("golden %s differs:\n got: %s\nwant: %s", name, got, want)
	}
}

// jsonEqual compares a decoded body with the JSON text want.
func jsonEqual(tb testing.TB, got Response, want string) {
	tb.Helper()
	var w any
	dec := json.NewDecoder(strings.NewReader(want))
	dec.UseNumber()
	if err := dec.Decode(&w); err != nil {
		tb.Fatalf("bad want JSON %q: %v", want, err)
	}
	g := got.JSON(tb)
	gb, _ := json.Marshal(g)
	wb, _ := json.Marshal(w)
	if !bytes.Equal(gb, wb) {
		tb.Errorf("body = %s, want %s", got.Body, want)
	}
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func jsonSame(got []byte, want string) bool {
	var g, w any
	if json.Unmarshal(got, &g) != nil || json.Unmarshal([]byte(want), &w) != nil {
		return false
	}
	gb, _ := json.Marshal(g)
	wb, _ := json.Marshal(w)
	return bytes.Equal(gb, wb)
}
