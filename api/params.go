package api

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"smmapi/service"
)

// maxBody is the public API's body limit: comments can be long.
const maxBody = 1 << 20

// params are the request's parameters, body over query string.
type params map[string]string

var errIncorrectRequest = service.Errorf(service.ErrInvalid, service.MsgIncorrectRequest)

// parseParams reads parameters from the query string and the body
// (form, multipart or JSON). Malformed input is "Incorrect request";
// a body over the limit is errBodyTooLarge, one that stalled errBodyTimeout.
func parseParams(r *http.Request) (params, error) {
	p := make(params, 8)
	if parseForm(r.URL.RawQuery, p) != nil {
		return nil, errIncorrectRequest
	}
	if r.Body == nil || r.Body == http.NoBody {
		return p, nil
	}
	buf := bodyBufs.Get().(*bytes.Buffer)
	defer putBodyBuf(buf)
	buf.Reset()
	if _, err := buf.ReadFrom(io.LimitReader(r.Body, maxBody+1)); err != nil {
		if bodyTimedOut(err) {
			return nil, errBodyTimeout
		}
		return nil, errIncorrectRequest
	}
	body := buf.Bytes() // only read from: every value is copied out
	if len(body) > maxBody {
		return nil, errBodyTooLarge
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return p, nil
	}
	ct := r.Header.Get("Content-Type")
	mt, mp := "application/x-www-form-urlencoded", map[string]string(nil)
	// curl and PHP send form bodies; a missing type is read as one, and
	// the plain form type needs no parsing.
	if ct != "" && ct != mt {
		var err error
		if mt, mp, err = mime.ParseMediaType(ct); err != nil {
			return nil, errIncorrectRequest
		}
	}
	// The body is a source of its own (a list in brackets may not mix with
	// a plain one within a source); its values win over the query string's.
	dst, merge := p, len(p) > 0
	if merge {
		dst = make(params, 8)
	}
	var err error
	switch {
	case mt == "application/x-www-form-urlencoded":
		err = parseForm(string(body), dst)
	case mt == "multipart/form-data":
		err = parseMultipart(body, mp["boundary"], dst)
	case mt == "application/json" || strings.HasSuffix(mt, "+json"):
		err = parseJSON(body, dst)
	default:
		err = errors.New("content type")
	}
	if err != nil {
		return nil, errIncorrectRequest
	}
	if merge {
		for k, v := range dst {
			p[k] = v
		}
	}
	return p, nil
}

// bodyBufs are reused request-body buffers; one that grew past 64 KiB
// (long comments) is let go rather than kept.
var bodyBufs = sync.Pool{New: func() any { return new(bytes.Buffer) }}

func putBodyBuf(b *bytes.Buffer) {
	if b.Cap() <= 64<<10 {
		bodyBufs.Put(b)
	}
}

// maxFormParams is net/url's own limit on a query's parameters.
const maxFormParams = 10000

// parseForm reads a URL-encoded form into p as url.ParseQuery does (same
// errors, same unescaping), keeping each name's first value, without the
// []string per name that url.Values costs; bracket lists and invalid UTF-8
// are a formSource's.
func parseForm(s string, p params) error {
	if strings.Count(s, "&") >= maxFormParams {
		return errors.New("too many parameters")
	}
	src := formSource{p: p}
	var first error
	for s != "" {
		var part string
		part, s, _ = strings.Cut(s, "&")
		if strings.Contains(part, ";") {
			if first == nil {
				first = errors.New("invalid semicolon separator in query")
			}
			continue
		}
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		k, err := url.QueryUnescape(k)
		if err != nil {
			if first == nil {
				first = err
			}
			continue
		}
		v, err = url.QueryUnescape(v)
		if err != nil {
			if first == nil {
				first = err
			}
			continue
		}
		src.add(k, v)
	}
	if first != nil {
		return first
	}
	return src.done()
}

// maxParts is net/http's own limit on a multipart form's parts.
const maxParts = 1000

// parseMultipart reads a multipart form's values into p, in order (the
// order of orders[] items matters); file parts are ignored as ReadForm
// does. Names are taken literally, never percent-decoded.
func parseMultipart(body []byte, boundary string, p params) error {
	if boundary == "" {
		return errors.New("no boundary")
	}
	mr := multipart.NewReader(bytes.NewReader(body), boundary)
	src := formSource{p: p}
	for n := 0; ; n++ {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		if n == maxParts {
			return errors.New("too many parts")
		}
		name := part.FormName()
		if name == "" || part.FileName() != "" {
			continue
		}
		v, err := io.ReadAll(part)
		if err != nil {
			return err
		}
		src.add(name, string(v))
	}
	return src.done()
}

// formSource collects one source's (query, form or multipart body) pairs:
// the first value of each name, orders[…] and refills[…] as lists, and a
// refusal of text that is not UTF-8.
type formSource struct {
	p     params
	lists []*bracketList // only when a name has a '['
	err   error
}

// errNotUTF8 refuses a parameter's bytes: MySQL's utf8mb4 columns would
// refuse them later with a 500. A link is let through for add to answer
// "Bad link" after the key and action checks.
var errNotUTF8 = errors.New("not UTF-8")

func (s *formSource) add(k, v string) {
	if s.err != nil {
		return
	}
	if !utf8.ValidString(k) || k != "link" && !utf8.ValidString(v) {
		s.err = errNotUTF8
		return
	}
	if strings.IndexByte(k, '[') >= 0 {
		if name, idx, ok, err := listItem(k); err != nil {
			s.err = err
			return
		} else if ok {
			s.list(name).add(idx, v)
			return
		}
	}
	if _, seen := s.p[k]; !seen {
		s.p[k] = v
	}
}

// done writes each bracket list as the comma list it stands for.
func (s *formSource) done() error {
	if s.err != nil {
		return s.err
	}
	for _, l := range s.lists {
		if _, plain := s.p[l.name]; plain {
			return errors.New("bracket list mixed with a plain " + l.name)
		}
		s.p[l.name] = l.join()
	}
	return nil
}

func (s *formSource) list(name string) *bracketList {
	for _, l := range s.lists {
		if l.name == name {
			return l
		}
	}
	l := &bracketList{name: name}
	s.lists = append(s.lists, l)
	return l
}

// listItem reads orders[N] and refills[N] (PHP http_build_query, Node qs)
// and orders[] (idx -1). Other names with brackets are ordinary names.
func listItem(k string) (name string, idx int64, ok bool, err error) {
	name, rest, _ := strings.Cut(k, "[")
	if name != "orders" && name != "refills" {
		return "", 0, false, nil
	}
	n, found := strings.CutSuffix(rest, "]")
	if !found {
		return "", 0, false, errors.New("bad list item " + k)
	}
	if n == "" {
		return name, -1, true, nil
	}
	u, err := strconv.ParseUint(n, 10, 32) // digits only: no sign, no space
	if err != nil {
		return "", 0, false, errors.New("bad list index " + k)
	}
	return name, int64(u), true, nil
}

// bracketList is one list's items as PHP builds the array: [] appends
// after the highest index so far; a repeated index keeps its first value
// (as a repeated name does).
type bracketList struct {
	name  string
	next  int64
	items []indexedItem
}

type indexedItem struct {
	idx int64
	v   string
}

func (l *bracketList) add(idx int64, v string) {
	if idx < 0 {
		idx = l.next
	}
	l.items = append(l.items, indexedItem{idx, v})
	l.next = max(l.next, idx+1)
}

// join returns the items in index order, comma-separated. The sort is
// stable, so the first of a repeated index comes first and is kept.
func (l *bracketList) join() string {
	slices.SortStableFunc(l.items, func(a, b indexedItem) int { return cmp.Compare(a.idx, b.idx) })
	var b strings.Builder
	for i, it := range l.items {
		if i > 0 && it.idx == l.items[i-1].idx {
			continue
		}
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(it.v)
	}
	return b.String()
}

// parseJSON flattens a JSON object into p. Strings and numbers are taken as
// text (numbers exactly as written), booleans as 1 and 0; arrays of them
// only for the lists, as comma lists; null is absent where a parameter is
// optional. Anything else is malformed.
func parseJSON(body []byte, p params) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	var obj map[string]json.RawMessage
	if err := dec.Decode(&obj); err != nil || obj == nil {
		return errors.New("not an object")
	}
	if dec.More() {
		return errors.New("trailing data")
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("trailing data")
	}
	// encoding/json replaces bytes that are not UTF-8 with U+FFFD, so the
	// raw values are checked; whatever is left over sat in a name (or in a
	// value that a repeated name hid).
	bad := 0
	if !utf8.Valid(body) {
		bad = invalidUTF8(body)
	}
	for k, raw := range obj {
		var v string
		switch raw[0] {
		case 'n':
			if jsonRequired(k) {
				return errors.New("null " + k)
			}
			continue
		case '[':
			if k != "orders" && k != "refills" {
				return errors.New("array for " + k)
			}
			var elems []json.RawMessage
			if err := json.Unmarshal(raw, &elems); err != nil {
				return err
			}
			parts := make([]string, len(elems))
			for i, e := range elems {
				s, ok := jsonScalar(e)
				if !ok {
					return errors.New("nested value")
				}
				parts[i] = s
			}
			v = strings.Join(parts, ",")
		default:
			s, ok := jsonScalar(raw)
			if !ok {
				return errors.New("object for " + k)
			}
			v = s
		}
		if bad > 0 {
			if n := invalidUTF8(raw); n > 0 {
				if k != "link" {
					return errNotUTF8
				}
				// A link with escapes was decoded with U+FFFD for the
				// bytes sent: put a byte that is not UTF-8 back, so that
				// add answers "Bad link" as it does for a form.
				bad -= n
				if utf8.ValidString(v) {
					v = "\xff"
				}
			}
		}
		p[k] = v
	}
	if bad > 0 {
		return errNotUTF8
	}
	return nil
}

// jsonRequired reports the parameters for which JSON null is malformed
// rather than absent: reading it as absent would change what is asked.
func jsonRequired(k string) bool {
	switch k {
	case "key", "action", "service", "link", "quantity", "order", "orders", "refill", "refills":
		return true
	}
	return false
}

// jsonScalar reads a string, number or boolean as text.
func jsonScalar(raw json.RawMessage) (string, bool) {
	switch raw[0] {
	case '"':
		if bytes.IndexByte(raw, '\\') < 0 {
			return string(raw[1 : len(raw)-1]), true
		}
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return "", false
		}
		return s, true
	case 't':
		return "1", true
	case 'f':
		return "0", true
	case '[', '{', 'n':
		return "", false
	}
	return string(raw), true // a number, exactly as written
}

// invalidUTF8 counts the bytes of b that are not part of a UTF-8 sequence.
func invalidUTF8(b []byte) int {
	n := 0
	for len(b) > 0 {
		r, size := utf8.DecodeRune(b)
		if r == utf8.RuneError && size == 1 {
			n++
		}
		b = b[size:]
	}
	return n
}
