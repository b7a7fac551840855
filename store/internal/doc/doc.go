// Package doc holds the document rules both stores apply, so that they accept
// and reject exactly the same input.
package doc

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/tripline/tripline/internal/jsonscan"
)

// MaxIDSize is Cosmos DB's limit on the length of an id, in bytes.
const MaxIDSize = 1023

// MaxBodySize is Cosmos DB's item size limit (2 MiB); store.MaxBodySize.
const MaxBodySize = 2 << 20

// MaxTTL is the largest per-item ttl Cosmos DB accepts (int32).
const MaxTTL = 1<<31 - 1

// Fields are the top-level members of a body that the stores care about.
type Fields struct {
	// TTL is the body's "ttl" in seconds; -1 means never expire.
	TTL int64
	// Pending is true when the body's top-level "pending" is JSON true.
	Pending bool
}

// ErrInvalid matches (errors.Is) every error CheckID and Check return: the
// id or body breaks the document rules, so the same call can never
// succeed (store.ErrInvalid).
var ErrInvalid = errors.New("store: invalid document")

// invalidError is a rule violation: its message is the problem alone, and
// it matches ErrInvalid.
type invalidError struct{ msg string }

func (e *invalidError) Error() string        { return e.msg }
func (e *invalidError) Is(target error) bool { return target == ErrInvalid }

func invalid(format string, args ...any) error {
	return &invalidError{fmt.Sprintf(format, args...)}
}

// CheckID reports whether id is usable as a document id. Its errors match
// ErrInvalid.
func CheckID(id string) error {
	switch {
	case id == "":
		return invalid("empty id")
	case len(id) > MaxIDSize:
		return invalid("id is %d bytes, more than %d", len(id), MaxIDSize)
	case !utf8.ValidString(id):
		return invalid("id is not valid UTF-8")
	case strings.ContainsAny(id, `/\?#`):
		return invalid("id %q contains one of / \\ ? #", id)
	}
	return nil
}

// Check validates id and body (see package store for the rules) and returns
// the fields the stores use. The error describes the first problem found,
// never quotes the body, and matches ErrInvalid.
func Check(id string, body []byte) (Fields, error) {
	var f Fields
	if err := CheckID(id); err != nil {
		return f, err
	}
	if len(body) > MaxBodySize {
		return f, invalid("body of %q is %d bytes, more than %d", id, len(body), MaxBodySize)
	}
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return f, invalid("body of %q is not a JSON object", id)
	}
	if !jsonscan.Valid(trimmed) {
		var top map[string]json.RawMessage
		err := json.Unmarshal(trimmed, &top)
		return f, invalid("body of %q is not a JSON object: %v", id, err)
	}
	top := topLevel(trimmed, "id", "ttl", "pending")
	var bodyID string
	if raw, ok := top["id"]; !ok {
		return f, invalid("body of %q has no top-level \"id\"", id)
	} else if err := json.Unmarshal(raw, &bodyID); err != nil {
		return f, invalid("body of %q: \"id\" is not a string", id)
	}
	if bodyID != id {
		return f, invalid("body of %q has \"id\" %q", id, bodyID)
	}
	raw, ok := top["ttl"]
	if !ok {
		return f, invalid("body of %q has no top-level \"ttl\" (seconds, or -1 for never)", id)
	}
	ttl, err := strconv.ParseInt(string(raw), 10, 64)
	if err != nil || ttl == 0 || ttl < -1 || ttl > MaxTTL {
		return f, invalid("body of %q: \"ttl\" must be an integer from 1 to %d, or -1; got %s", id, MaxTTL, truncate(raw))
	}
	f.TTL = ttl
	f.Pending = string(top["pending"]) == "true"
	return f, nil
}

func truncate(raw []byte) string {
	if len(raw) > 20 {
		return string(raw[:20]) + "..."
	}
	return string(raw)
}

// topLevel returns the raw values of the given keys among the members of
// the valid JSON object obj, as json.Unmarshal into a map would give them
// (keys compared unescaped, the last of duplicate keys winning), without
// decoding anything else: bodies are checked on every write and can be
// large.
func topLevel(obj []byte, keys ...string) map[string][]byte {
	out := make(map[string][]byte, len(keys))
	i := skipSpace(obj, 1)
	for i < len(obj) && obj[i] == '"' {
		end := jsonscan.StringEnd(obj, i)
		key := obj[i+1 : end-1]
		if bytes.IndexByte(key, '\\') >= 0 {
			var k string
			if json.Unmarshal(obj[i:end], &k) == nil {
				key = []byte(k)
			}
		}
		i = skipSpace(obj, skipSpace(obj, end)+1) // past ':'
		vEnd := skipValue(obj, i)
		for _, want := range keys {
			if string(key) == want {
				out[want] = obj[i:vEnd]
			}
		}
		i = skipSpace(obj, vEnd)
		if i < len(obj) && obj[i] == ',' {
			i = skipSpace(obj, i+1)
		}
	}
	return out
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipValue returns the offset after the (valid) JSON value at b[i].
func skipValue(b []byte, i int) int {
	if i >= len(b) {
		return i
	}
	switch b[i] {
	case '"':
		return jsonscan.StringEnd(b, i)
	case '{', '[':
		return jsonscan.ContainerEnd(b, i)
	}
	for i < len(b) && b[i] != ',' && b[i] != '}' && b[i] != ']' && b[i] != ' ' && b[i] != '\t' && b[i] != '\n' && b[i] != '\r' {
		i++
	}
	return i
}
