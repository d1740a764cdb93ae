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

	"smmapi/service"
)

// maxBody is the public API's body limit: comments can be long.
const maxBody = 1 << 20

// params are the request's parameters, body over query string.
type params map[string]string

var errIncorrectRequest = service.Errorf(service.ErrInvalid, service.MsgIncorrectRequest)

// parseParams reads parameters from the query string and the body
// (form, multipart or JSON). Malformed input is "Incorrect request";
// a body over the limit is errBodyTooLarge.
func parseParams(r *http.Request) (params, error) {
	p := params{}
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, errIncorrectRequest
	}
	for k, v := range q {
		p[k] = v[0]
	}
	if r.Body == nil || r.Body == http.NoBody {
		return p, nil
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		return nil, errIncorrectRequest
	}
	if len(body) > maxBody {
		return nil, errBodyTooLarge
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return p, nil
	}
	ct := r.Header.Get("Content-Type")
	mt, mp, err := mime.ParseMediaType(ct)
	if ct == "" {
		// curl and PHP send form bodies; a missing type is read as one.
		mt, err = "application/x-www-form-urlencoded", nil
	}
	if err != nil {
		return nil, errIncorrectRequest
	}
	switch {
	case mt == "application/x-www-form-urlencoded":
		f, err := url.ParseQuery(string(body))
		if err != nil {
			return nil, errIncorrectRequest
		}
		for k, v := range f {
			p[k] = v[0]
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
