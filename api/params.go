package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"sync"

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
	switch {
	case mt == "application/x-www-form-urlencoded":
		// The body's values win over the query string's.
		dst := p
		if len(p) > 0 {
			dst = make(params, 8)
		}
		if parseForm(string(body), dst) != nil {
			return nil, errIncorrectRequest
		}
		for k, v := range dst {
			p[k] = v
		}
	case mt == "multipart/form-data":
		if mp["boundary"] == "" {
			return nil, errIncorrectRequest
		}
		form, err := multipart.NewReader(bytes.NewReader(body), mp["boundary"]).ReadForm(maxBody)
		if err != nil {
			return nil, errIncorrectRequest
		}
		defer form.RemoveAll()
		for k, v := range form.Value {
			p[k] = v[0]
		}
	case mt == "application/json" || strings.HasSuffix(mt, "+json"):
		if err := parseJSON(body, p); err != nil {
			return nil, errIncorrectRequest
		}
	default:
		return nil, errIncorrectRequest
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
// []string per name that url.Values costs.
func parseForm(s string, p params) error {
	if strings.Count(s, "&") >= maxFormParams {
		return errors.New("too many parameters")
	}
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
		if _, seen := p[k]; !seen {
			p[k] = v
		}
	}
	return first
}

// parseJSON flattens a JSON object into p. Strings and numbers are taken as
// text (numbers exactly as written); arrays of them, as for orders, become
// comma lists; null is absent. Objects and nested arrays are malformed.
func parseJSON(body []byte, p params) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var obj map[string]any
	if err := dec.Decode(&obj); err != nil || obj == nil {
		return errors.New("not an object")
	}
	if dec.More() {
		return errors.New("trailing data")
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("trailing data")
	}
	for k, v := range obj {
		switch v := v.(type) {
		case nil:
		case []any:
			parts := make([]string, 0, len(v))
			for _, e := range v {
				s, ok := scalar(e)
				if !ok {
					return errors.New("nested value")
				}
				parts = append(parts, s)
			}
			p[k] = strings.Join(parts, ",")
		default:
			s, ok := scalar(v)
			if !ok {
				return errors.New("nested value")
			}
			p[k] = s
		}
	}
	return nil
}

func scalar(v any) (string, bool) {
	switch v := v.(type) {
	case string:
		return v, true
	case json.Number:
		return v.String(), true
	case bool:
		if v {
			return "1", true
		}
		return "0", true
	}
	return "", false
}
