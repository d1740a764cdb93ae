package service

import "encoding/json"

// JSONAppender is implemented by the hot answers (status, balance) that
// write their JSON by appending, without reflection; the API layer writes
// them without json.Marshal's extra pass.
type JSONAppender interface {
	AppendJSON(dst []byte) []byte
}

// AppendJSONString appends s as encoding/json writes it: plain printable
// ASCII is copied, anything else (quotes, controls, <>&, non-ASCII) goes
// through json.Marshal so the bytes stay identical to the reflective path.
func AppendJSONString(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			b, _ := json.Marshal(s) // a string always marshals
			return append(dst, b...)
		}
	}
	dst = append(dst, '"')
	dst = append(dst, s...)
	return append(dst, '"')
}
