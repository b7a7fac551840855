package hostsim

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"strconv"
	"strings"
	"time"
)

// member is one key of a JSON object being written; val is JSON text.
type member struct {
	key string
	val []byte
}

// writeObject writes {"k":v,...} in the order given.
func writeObject(buf *bytes.Buffer, ms []member) {
	buf.WriteByte('{')
	for i, m := range ms {
		if i > 0 {
			buf.WriteByte(',')
		}
		buf.Write(jsonString(m.key))
		buf.WriteByte(':')
		buf.Write(m.val)
	}
	buf.WriteByte('}')
}

func objectText(ms []member) []byte {
	var buf bytes.Buffer
	writeObject(&buf, ms)
	return buf.Bytes()
}

// marshal is json.Marshal without HTML escaping (Newtonsoft leaves <, >
// and & alone) and without the Encoder's trailing newline.
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte{'\n'}), nil
}

// jsonString is s as a JSON string literal, escaped as marshal does.
func jsonString(s string) []byte {
	b, _ := marshal(s) // a string always marshals
	return b
}

// serializeObject is the host's "anything else" rule (§0): the value's JSON
// text, carried as a JSON string.
func serializeObject(v any) ([]byte, error) {
	text, err := marshal(v)
	if err != nil {
		return nil, err
	}
	return jsonString(string(text)), nil
}

// shuffle reorders ms deterministically for seed: the host does not
// guarantee key order, and a handler must not depend on it.
func shuffle(ms []member, seed uint64) {
	r := mrand.New(mrand.NewPCG(seed, 0x6873696d)) // "hsim"
	r.Shuffle(len(ms), func(i, j int) { ms[i], ms[j] = ms[j], ms[i] })
}

// newGUID returns a random version-4 GUID in .NET's "D" format. With a
// non-nil rng it is deterministic.
func newGUID(rng *mrand.Rand) string {
	var b [16]byte
	if rng != nil {
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
	} else if _, err := io.ReadFull(rand.Reader, b[:]); err != nil {
		panic(fmt.Sprintf("hostsim: crypto/rand: %v", err)) // cannot happen on supported platforms
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// .NET DateTime text as Newtonsoft writes it (IsoDateFormat,
// "yyyy-MM-ddTHH:mm:ss.FFFFFFFK"): at most 7 fraction digits, trailing zeros
// and a bare dot dropped; K is "" for DateTimeKind.Unspecified, "Z" for Utc
// and the local offset for Local (Azure hosts run in UTC: "+00:00").
const (
	layoutUnspecified = "2006-01-02T15:04:05.9999999"
	layoutUTC         = "2006-01-02T15:04:05.9999999Z"
	layoutLocal       = "2006-01-02T15:04:05.9999999-07:00"
)

// dotnetTime truncates t to .NET's 100 ns tick and formats it with layout
// in UTC.
func dotnetTime(t time.Time, layout string) string {
	return t.UTC().Truncate(100 * time.Nanosecond).Format(layout)
}

// roundTrip re-serializes JSON text the way the host does after parsing it
// with Newtonsoft defaults (JToken.Parse / DeserializeObject, then
// SerializeObject): compact, key order kept, ISO-8601 date strings
// re-formatted (DateParseHandling.DateTime, DateTimeZoneHandling.RoundtripKind)
// and floating-point numbers re-printed (FloatParseHandling.Double). DERIVED
// from Newtonsoft's source (functions-host-protocol.md §3 caveat); integers
// and other strings pass through unchanged.
func roundTrip(data []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var out bytes.Buffer
	// needComma[i] reports whether the container at depth i has a member
	// already; inObject[i] whether it is an object (keys alternate).
	var needComma []bool
	var inObject []bool
	var expectKey []bool
	sep := func() {
		d := len(needComma) - 1
		if d < 0 {
			return
		}
		if inObject[d] && !expectKey[d] {
			out.WriteByte(':')
			expectKey[d] = true
			return
		}
		if needComma[d] {
			out.WriteByte(',')
		}
		needComma[d] = true
		if inObject[d] {
			expectKey[d] = false
		}
	}
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		switch v := tok.(type) {
		case json.Delim:
			switch v {
			case '{', '[':
				sep()
				out.WriteByte(byte(v))
				needComma = append(needComma, false)
				inObject = append(inObject, v == '{')
				expectKey = append(expectKey, true)
			case '}', ']':
				out.WriteByte(byte(v))
				needComma = needComma[:len(needComma)-1]
				inObject = inObject[:len(inObject)-1]
				expectKey = expectKey[:len(expectKey)-1]
			}
		case string:
			d := len(needComma) - 1
			isKey := d >= 0 && inObject[d] && expectKey[d]
			sep()
			if !isKey {
				v = reformatDate(v)
			}
			out.Write(jsonString(v))
		case json.Number:
			sep()
			out.WriteString(reformatNumber(string(v)))
		case bool:
			sep()
			out.WriteString(strconv.FormatBool(v))
		case nil:
			sep()
			out.WriteString("null")
		}
	}
	if len(needComma) != 0 {
		return nil, errors.New("unexpected end of JSON input")
	}
	return out.Bytes(), nil
}

// reformatDate applies Newtonsoft's ISO date recognition to s: a string of
// 19..40 characters "yyyy-MM-ddTHH:mm:ss" with an optional 1–7 digit
// fraction and an optional zone (Z, ±HH, ±HHmm, ±HH:mm) becomes a DateTime
// and is written back: Z stays Z, an offset is converted to the host's local
// time (UTC: "+00:00"), no zone stays without one. Anything else is returned
// unchanged.
func reformatDate(s string) string {
	if len(s) < 19 || len(s) > 40 || s[0] < '0' || s[0] > '9' || s[10] != 'T' {
		return s
	}
	base, rest := s[:19], s[19:]
	t, err := time.Parse("2006-01-02T15:04:05", base)
	if err != nil {
		return s
	}
	if strings.HasPrefix(rest, ".") {
		n := 1
		for n < len(rest) && rest[n] >= '0' && rest[n] <= '9' {
			n++
		}
		digits := rest[1:n]
		if len(digits) == 0 || len(digits) > 7 {
			return s
		}
		frac, _ := strconv.Atoi(digits + strings.Repeat("0", 7-len(digits)))
		t = t.Add(time.Duration(frac) * 100)
		rest = rest[n:]
	}
	switch {
	case rest == "":
		return t.Format(layoutUnspecified)
	case rest == "Z":
		return t.Format(layoutUTC)
	case rest[0] == '+' || rest[0] == '-':
		z := rest[1:]
		var hh, mm string
		switch {
		case len(z) == 2:
			hh, mm = z, "00"
		case len(z) == 4:
			hh, mm = z[:2], z[2:]
		case len(z) == 5 && z[2] == ':':
			hh, mm = z[:2], z[3:]
		default:
			return s
		}
		h, err1 := strconv.Atoi(hh)
		m, err2 := strconv.Atoi(mm)
		if err1 != nil || err2 != nil || h > 23 || m > 59 {
			return s
		}
		off := time.Duration(h)*time.Hour + time.Duration(m)*time.Minute
		if rest[0] == '+' {
			off = -off
		}
		return t.Add(off).UTC().Format(layoutLocal)
	}
	return s
}

// reformatNumber re-prints a JSON number as Newtonsoft does after reading it
// as a double: shortest round-trip text, exponent form from 1E+15 and below
// 1E-05, ".0" added to integral values. Integers (no '.', 'e', 'E') are
// read as long and written back unchanged.
func reformatNumber(s string) string {
	if !strings.ContainsAny(s, ".eE") {
		return s
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return s
	}
	abs := f
	if abs < 0 {
		abs = -abs
	}
	var out string
	if abs != 0 && (abs >= 1e15 || abs < 1e-5) {
		out = strconv.FormatFloat(f, 'E', -1, 64) // 1E+15, 1.5E-06
		// .NET pads the exponent to at least two digits: 1E+15, 1E-05.
		if i := strings.IndexAny(out, "+-"); i > 0 && len(out)-i-1 < 2 {
			out = out[:i+1] + "0" + out[i+1:]
		}
	} else {
		out = strconv.FormatFloat(f, 'f', -1, 64)
	}
	if !strings.ContainsAny(out, ".E") {
		out += ".0"
	}
	return out
}
