package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	_ "github.com/glebarez/go-sqlite"
	"github.com/go-sql-driver/mysql"
	"github.com/labstack/echo/v4"
)

// The bare server is the ceiling: Echo v4 and database/sql, the same driver,
// DSN options and pool size as smmapi, each handler parsing the same form and
// doing only the database work its smmapi counterpart cannot avoid. It runs
// as its own process (this binary with -serve-bare) so that it competes for
// the CPU exactly as smmapi does.

// smmapiDSN returns the DSN smmapi's store opens for a configured one, so the
// ceiling talks to the database the same way (store/db.go: sqliteDSN,
// mysqlDSN).
func smmapiDSN(driver, dsn string) (string, error) {
	if driver == "sqlite" {
		sep := "?"
		if strings.Contains(dsn, "?") {
			sep = "&"
		}
		return dsn + sep + "_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)", nil
	}
	c, err := mysql.ParseDSN(dsn)
	if err != nil {
		return "", err
	}
	c.ParseTime = true
	c.Loc = time.UTC
	c.ClientFoundRows = true
	c.InterpolateParams = true
	if c.Timeout == 0 {
		c.Timeout = 2 * time.Second
	}
	if c.ReadTimeout == 0 {
		c.ReadTimeout = 15 * time.Second
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = 15 * time.Second
	}
	return c.FormatDSN(), nil
}

// openPool opens driver's DSN with smmapi's pool settings.
func openPool(driver, dsn string, size int) (*sql.DB, error) {
	full, err := smmapiDSN(driver, dsn)
	if err != nil {
		return nil, err
	}
	db, err := sql.Open(driver, full)
	if err != nil {
		return nil, err
	}
	if driver == "sqlite" {
		db.SetMaxOpenConns(1) // as smmapi: one connection serialises SQLite
	} else {
		db.SetMaxOpenConns(size)
		db.SetMaxIdleConns(size)
		db.SetConnMaxLifetime(5 * time.Minute)
	}
	return db, nil
}

type bare struct {
	db       *sql.DB
	body, gz []byte
}

// marks holds "?,?,…" for up to 100 IDs; marks[:2n-1] is a list of n.
var marks = strings.TrimSuffix(strings.Repeat("?,", 100), ",")

// serveBare runs the ceiling server until ctx ends.
func serveBare(ctx context.Context, driver, dsn, bodyPath string, poolSize int) error {
	db, err := openPool(driver, dsn, poolSize)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := db.PingContext(ctx); err != nil {
		return err
	}
	b := &bare{db: db}
	if b.body, err = os.ReadFile(bodyPath); err != nil {
		return err
	}
	var zb bytes.Buffer
	zw := gzip.NewWriter(&zb)
	zw.Write(b.body)
	zw.Close()
	b.gz = zb.Bytes()

	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.POST("/pk", b.pk)
	e.POST("/status1", b.status1)
	e.POST("/in100", b.inList)
	e.POST("/debit", b.debit)
	e.POST("/body", b.serveBody)
	e.POST("/listbodies", loadListBodies) // tests/load/pricelists.go
	e.POST("/listbody", serveListBody)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: e, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 60 * time.Second, IdleTimeout: 120 * time.Second}
	log := slog.New(slog.NewJSONHandler(os.Stdout, nil))
	log.Info("listening", "listener", "bare", "addr", ln.Addr().String())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case <-ctx.Done():
	case err := <-errc:
		return err
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return srv.Shutdown(sctx)
}

// runBare is the -serve-bare mode's main.
func runBare(driver, dsn, bodyPath string, poolSize int) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return serveBare(ctx, driver, dsn, bodyPath, poolSize)
}

// form reads the body as smmapi's parser does for a form.
func form(c echo.Context) (url.Values, error) {
	body, err := io.ReadAll(io.LimitReader(c.Request().Body, 1<<20+1))
	if err != nil {
		return nil, err
	}
	return url.ParseQuery(string(body))
}

func uintParam(f url.Values, name string) uint64 {
	n, _ := strconv.ParseUint(f.Get(name), 10, 64)
	return n
}

// pk: one primary-key select, the database work of balance.
func (b *bare) pk(c echo.Context) error {
	f, err := form(c)
	if err != nil {
		return err
	}
	var bal int64
	err = b.db.QueryRowContext(c.Request().Context(), "SELECT balance FROM users WHERE id = ?", uintParam(f, "u")).Scan(&bal)
	if err != nil {
		return err
	}
	out := append([]byte(`{"balance":"`), money(bal)...)
	return c.Blob(http.StatusOK, "application/json", append(out, `","currency":"CNY"}`...))
}

type statusRow struct {
	charge, refunded, startCount, remains, runs, runsDone int64
	status                                                string
}

func (r statusRow) appendJSON(dst []byte) []byte {
	dst = append(dst, `{"charge":"`...)
	dst = append(dst, money(r.charge-r.refunded)...)
	dst = append(dst, `","start_count":"`...)
	dst = strconv.AppendInt(dst, r.startCount, 10)
	dst = append(dst, `","status":`...)
	dst = strconv.AppendQuote(dst, r.status)
	dst = append(dst, `,"remains":"`...)
	dst = strconv.AppendInt(dst, r.remains, 10)
	dst = append(dst, `","currency":"CNY"`...)
	if r.runs > 0 {
		dst = append(dst, `,"runs":"`...)
		dst = strconv.AppendInt(dst, r.runsDone, 10)
		dst = append(dst, '"')
	}
	return append(dst, '}')
}

// statusCols are what status shows. The owner is compared in Go, not in
// the WHERE clause: with "user_id = ? AND public_id IN (…)" SQLite plans on
// idx_orders_user_id and reads every order of the account, and the ceiling
// must be the best plan, not smmapi's.
const statusCols = "user_id, charge, refunded, start_count, status, remains, runs, runs_done"

// status1: one order by its public ID (and owner).
func (b *bare) status1(c echo.Context) error {
	f, err := form(c)
	if err != nil {
		return err
	}
	var r statusRow
	var owner uint64
	err = b.db.QueryRowContext(c.Request().Context(), "SELECT "+statusCols+" FROM orders WHERE public_id = ?",
		f.Get("order")).Scan(&owner, &r.charge, &r.refunded, &r.startCount, &r.status, &r.remains, &r.runs, &r.runsDone)
	if errors.Is(err, sql.ErrNoRows) || err == nil && owner != uintParam(f, "u") {
		return c.Blob(http.StatusOK, "application/json", []byte(`{"error":"Incorrect order ID"}`))
	}
	if err != nil {
		return err
	}
	return c.Blob(http.StatusOK, "application/json", r.appendJSON(nil))
}

// inList: up to 100 orders in one IN select, answered in the order sent.
func (b *bare) inList(c echo.Context) error {
	f, err := form(c)
	if err != nil {
		return err
	}
	ids := strings.Split(f.Get("orders"), ",")
	if len(ids) > 100 {
		ids = ids[:100]
	}
	uid := uintParam(f, "u")
	args := make([]any, 0, len(ids))
	for _, id := range ids {
		args = append(args, id)
	}
	rows, err := b.db.QueryContext(c.Request().Context(),
		"SELECT public_id, "+statusCols+" FROM orders WHERE public_id IN ("+marks[:2*len(ids)-1]+")", args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	found := make(map[string]statusRow, len(ids))
	for rows.Next() {
		var id string
		var r statusRow
		var owner uint64
		if err := rows.Scan(&id, &owner, &r.charge, &r.refunded, &r.startCount, &r.status, &r.remains, &r.runs, &r.runsDone); err != nil {
			return err
		}
		if owner == uid {
			found[id] = r
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	out := make([]byte, 0, 128*len(ids))
	out = append(out, '{')
	for i, id := range ids {
		if i > 0 {
			out = append(out, ',')
		}
		out = strconv.AppendQuote(out, id)
		out = append(out, ':')
		if r, ok := found[id]; ok {
			out = r.appendJSON(out)
		} else {
			out = append(out, `{"error":"Incorrect order ID"}`...)
		}
	}
	out = append(out, '}')
	return c.Blob(http.StatusOK, "application/json", out)
}

// debit: the money movement of add. One transaction: the conditional UPDATE,
// the order INSERT and the ledger INSERT (its balance_after read by the
// INSERT … SELECT itself, so the ledger stays exact).
func (b *bare) debit(c echo.Context) error {
	f, err := form(c)
	if err != nil {
		return err
	}
	uid, charge := uintParam(f, "u"), int64(uintParam(f, "c"))
	qty, _ := strconv.ParseInt(f.Get("quantity"), 10, 64)
	link := strings.TrimSpace(f.Get("link"))
	sum := sha256.Sum256([]byte(link))
	id, err := newOrderID()
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	tx, err := b.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	now := time.Now().UTC()
	res, err := tx.ExecContext(ctx, "UPDATE users SET balance = balance - ?, updated_at = ? WHERE id = ? AND balance >= ?", charge, now, uid, charge)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
		return c.Blob(http.StatusOK, "application/json", []byte(`{"error":"Not enough funds on balance"}`))
	}
	_, err = tx.ExecContext(ctx, "INSERT INTO orders (public_id, user_id, site_id, service_id, link, link_hash, quantity, runs, `interval`, "+
		"runs_done, comments, username, params, charge, refunded, start_count, remains, status, supplier_id, supplier_order, finished_at, "+
		"supplier_service, forward_state, next_at, attempts, last_error, claim_token, claim_until, created_at, updated_at) "+
		"VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
		id, uid, 1, uintParam(f, "service"), link, hex.EncodeToString(sum[:]), qty, 0, 0, 0, "", "", "", charge, 0, 0, qty, "Pending",
		nil, "", nil, "", "", nil, 0, "", "", nil, now, now)
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, "INSERT INTO ledger_entries (user_id, amount, balance_after, kind, ref, reason, created_at) "+
		"SELECT id, ?, balance, 'charge', ?, '', ? FROM users WHERE id = ?", -charge, id, now, uid)
	if err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	out, _ := json.Marshal(map[string]string{"order": id})
	return c.Blob(http.StatusOK, "application/json", out)
}

// serveBody writes the pre-serialized catalog, gzipped once up front when
// the client accepts it.
func (b *bare) serveBody(c echo.Context) error {
	if _, err := form(c); err != nil {
		return err
	}
	if strings.Contains(c.Request().Header.Get("Accept-Encoding"), "gzip") {
		c.Response().Header().Set("Content-Encoding", "gzip")
		c.Response().Header().Set("Vary", "Accept-Encoding")
		return c.Blob(http.StatusOK, "application/json", b.gz)
	}
	return c.Blob(http.StatusOK, "application/json", b.body)
}

// money writes units of 0.0001 with exactly 4 decimals.
func money(units int64) string {
	sign := ""
	if units < 0 {
		sign, units = "-", -units
	}
	return fmt.Sprintf("%s%d.%04d", sign, units/10000, units%10000)
}

const alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// newOrderID is smmapi's order ID: 10 uniform [A-Za-z0-9] from crypto/rand.
func newOrderID() (string, error) {
	var out [10]byte
	var buf [32]byte
	n := 0
	for n < len(out) {
		if _, err := rand.Read(buf[:]); err != nil {
			return "", err
		}
		for _, x := range buf {
			if x < 248 && n < len(out) {
				out[n] = alnum[x%62]
				n++
			}
		}
	}
	return string(out[:]), nil
}
