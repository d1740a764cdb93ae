package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/labstack/echo/v4"
)

// priceLists is the "services (1000 price lists)" scenarios' world: accounts
// with prices of their own, each a distinct price list, provisioned when
// the first of those scenarios runs.
type priceLists struct {
	h          *harness
	keys       []string
	ids        []uint64
	forms      [][]byte // services v2 per account, rotated by the load
	bare       [][]byte // the ceiling's forms, of the same size
	own        [][]byte // the ceiling's forms serving each account's own body
	discounted bool
}

// priceListAccounts is how many accounts hold a distinct price list; each
// has priceListOwn prices of its own.
const (
	priceListAccounts = 1000
	priceListOwn      = 5
)

// priceListScenarios measures services for 1000 accounts with distinct
// price lists, requests rotating over them, against the ceiling writing a
// pre-serialized (pre-gzipped) body of the same size: first with own
// prices only (a few rates differ from the common answer), then with a
// distinct discount added to every account (every rate differs).
func (h *harness) priceListScenarios() []scenario {
	pl := &priceLists{h: h}
	body := func(worker, seq int, dst []byte) []byte {
		return append(dst, pl.forms[(worker*7919+seq)%len(pl.forms)]...)
	}
	bareBody := func(worker, seq int, dst []byte) []byte {
		return append(dst, pl.bare[(worker*7919+seq)%len(pl.bare)]...)
	}
	mk := func(name string, gz, discount bool) scenario {
		ceilName := "pre-serialized body"
		if gz {
			ceilName = "pre-gzipped body"
		}
		// Also measured: a ceiling writing each account's own body (1000
		// bodies rotating, as a cache of every list would), for the notes.
		own := h.ceiling(fmt.Sprintf("ceiling: each account's own %s (%s)", ceilName, name), "/listbody", gz,
			func(worker, seq int, dst []byte) []byte {
				return append(dst, pl.own[(worker*7919+seq)%len(pl.own)]...)
			})
		return scenario{name: name, smm: h.smmapi(name, gz, body), ceilName: ceilName,
			ceil: h.ceiling("ceiling: "+ceilName, "/body", gz, bareBody), want: 0.90, also: &own,
			prepare: func(ctx context.Context) error { return pl.prepare(ctx, gz, discount) }}
	}
	return []scenario{
		mk("services (1000 price lists)", false, false),
		mk("services (1000 price lists, gzip)", true, false),
		mk("services (1000 price lists + discount)", false, true),
		mk("services (1000 price lists + discount, gzip)", true, true),
	}
}

// prepare provisions the accounts once (and their discounts when asked),
// then requests every account's list once, so that the measurement is of
// serving lists, not of building them (a build follows each catalog
// change or price change, once per list).
func (pl *priceLists) prepare(ctx context.Context, gz, discount bool) error {
	h := pl.h
	n := priceListAccounts
	if h.o.smoke {
		n = 20
	}
	if pl.keys == nil {
		var cat []struct{ Service string }
		if err := json.Unmarshal(h.svc, &cat); err != nil {
			return err
		}
		step("provisioning %d accounts with %d own prices each", n, priceListOwn)
		pl.keys, pl.ids = make([]string, n), make([]uint64, n)
		err := parallel(n, 8, func(i int) error {
			var err error
			if pl.ids[i], pl.keys[i], err = h.account(ctx, fmt.Sprintf("list-%d", i), accountBalance, true); err != nil {
				return err
			}
			for j := range priceListOwn {
				svc := cat[(i*priceListOwn+j*611)%len(cat)].Service
				rate := money(int64(10000 + i*priceListOwn + j))
				if err := h.adminDo(ctx, http.DefaultClient, http.MethodPut, fmt.Sprintf("/users/%d/prices/%s", pl.ids[i], svc), map[string]any{"rate": rate}, nil, 0); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		for i, k := range pl.keys {
			pl.forms = append(pl.forms, []byte(formOf("key", k, "action", "services")))
			pl.bare = append(pl.bare, []byte(formOf("key", zeroKey, "action", "services", "u", strconv.FormatUint(pl.ids[i], 10))))
		}
	}
	if discount && !pl.discounted {
		step("giving the %d accounts a discount each", n)
		err := parallel(n, 8, func(i int) error {
			d := fmt.Sprintf("%d.%02d", 1+i%20, i%100)
			return h.adminDo(ctx, http.DefaultClient, http.MethodPatch, fmt.Sprintf("/users/%d", pl.ids[i]), map[string]any{"discount_percent": d}, nil, 0)
		})
		if err != nil {
			return err
		}
		pl.discounted = true
	}
	step("requesting each account's price list once (gzip %v)", gz)
	set := fmt.Sprintf("lists-%v", pl.discounted)
	dir := filepath.Join(h.tmp, set)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	err := parallel(n, 8, func(i int) error {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+h.public+"/api/v2", bytes.NewReader(pl.forms[i]))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if gz {
			req.Header.Set("Accept-Encoding", "gzip")
		}
		resp, err := warmClient.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err == nil && resp.StatusCode != http.StatusOK {
			err = fmt.Errorf("services of list-%d: HTTP %d: %.200s", i, resp.StatusCode, b)
		}
		if err == nil && !gz {
			err = os.WriteFile(filepath.Join(dir, strconv.Itoa(i)), b, 0o600)
		}
		return err
	})
	if err != nil || gz {
		return err
	}
	// The ceiling loads (and gzips) the bodies just saved.
	resp, err := http.Post("http://"+h.bareAddr+"/listbodies", "application/x-www-form-urlencoded",
		strings.NewReader(formOf("dir", url.QueryEscape(dir), "n", strconv.Itoa(n))))
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("ceiling: load list bodies: HTTP %d", resp.StatusCode)
	}
	pl.own = pl.own[:0]
	for i := range n {
		pl.own = append(pl.own, []byte(formOf("key", zeroKey, "action", "services", "set", set, "i", strconv.Itoa(i))))
	}
	return nil
}

// listBodies are the ceiling's sets of per-account bodies, by set name.
var listBodies sync.Map // string → [][2][]byte: plain, gzipped

// loadListBodies reads a folder of bodies (0 … n-1) and gzips each once.
func loadListBodies(c echo.Context) error {
	f, err := form(c)
	if err != nil {
		return err
	}
	dir, n := f.Get("dir"), int(uintParam(f, "n"))
	set := make([][2][]byte, n)
	for i := range set {
		b, err := os.ReadFile(filepath.Join(dir, strconv.Itoa(i)))
		if err != nil {
			return err
		}
		var zb bytes.Buffer
		zw := gzip.NewWriter(&zb)
		zw.Write(b)
		zw.Close()
		set[i] = [2][]byte{b, zb.Bytes()}
	}
	listBodies.Clear() // one set at a time: 1000 answers of 600 KB are big
	listBodies.Store(filepath.Base(dir), set)
	return c.NoContent(http.StatusOK)
}

// serveListBody writes an account's own pre-serialized body.
func serveListBody(c echo.Context) error {
	f, err := form(c)
	if err != nil {
		return err
	}
	v, ok := listBodies.Load(f.Get("set"))
	if !ok {
		return c.NoContent(http.StatusNotFound)
	}
	set := v.([][2][]byte)
	b := set[int(uintParam(f, "i"))%len(set)]
	if strings.Contains(c.Request().Header.Get("Accept-Encoding"), "gzip") {
		c.Response().Header().Set("Content-Encoding", "gzip")
		c.Response().Header().Set("Vary", "Accept-Encoding")
		return c.Blob(http.StatusOK, "application/json", b[1])
	}
	return c.Blob(http.StatusOK, "application/json", b[0])
}

// warmClient keeps bodies as sent (no transparent gunzip).
var warmClient = &http.Client{Transport: &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: 8}}
