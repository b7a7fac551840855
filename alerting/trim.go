package alerting

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sort"
	"unicode/utf8"
)

// truncNote is what a shortened string ends with: how many bytes of the
// original were cut, so a reader knows the value is partial and by how much.
const truncNote = "…[truncated %d bytes]"

// clip returns s cut so that its JSON encoding (quotes and escapes
// included, as encoding/json writes it) takes at most limit bytes, with a
// truncNote when anything was cut. It cuts between runes. limit should be
// at least 64 so that the note fits.
func clip(s string, limit int) string {
	// Every byte encodes to at most 6 (\u00XX): short strings need no scan.
	if len(s)*6+2 <= limit || quotedLen(s) <= limit {
		return s
	}
	// The note is ASCII and "…", which encoding/json writes as they are.
	room := limit - 2 - len(fmt.Sprintf(truncNote, len(s)))
	n, i := 0, 0
	for i < len(s) {
		r, size := utf8.DecodeRuneInString(s[i:])
		w := runeQuotedLen(r, size)
		if n+w > room {
			break
		}
		n += w
		i += size
	}
	return s[:i] + fmt.Sprintf(truncNote, len(s)-i)
}

// quotedLen is the length of s as encoding/json writes it, quotes included.
func quotedLen(s string) int {
	n := 2
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		n += runeQuotedLen(r, size)
		i += size
	}
	return n
}

// runeQuotedLen is how many bytes encoding/json writes for one rune of a
// string (size is its length in the string; an invalid byte has size 1
// and becomes \ufffd).
func runeQuotedLen(r rune, size int) int {
	switch {
	case r == utf8.RuneError && size == 1:
		return 6
	case r == '"' || r == '\\' || r == '\n' || r == '\r' || r == '\t' || r == '\b' || r == '\f':
		return 2
	case r < 0x20 || r == '<' || r == '>' || r == '&' || r == '\u2028' || r == '\u2029':
		return 6
	}
	return size
}

// trimEvent encodes a normalized event as the JSON an alert stores: at
// most limit bytes. An event that fits is encoded as it is. One that does
// not has its longest strings cut to one common length, the longest that
// fits (each cut string ends with a truncNote), so the short fields a
// notification shows (who, what, where) survive whole; if even that cannot
// fit (an event of a great many small values), only its top-level strings,
// numbers and booleans are kept, clipped, as far as they fit. truncated
// reports whether anything was cut. The result is always valid JSON of at
// most limit bytes (limit must be at least 1 KiB); ev is not modified.
func trimEvent(ev map[string]any, limit int) (body json.RawMessage, truncated bool) {
	full, err := json.Marshal(ev)
	if err == nil && len(full) <= limit {
		return full, false
	}
	if err != nil {
		// Records are decoded from JSON and always encode; this keeps the
		// alert recordable if one ever does not.
		b, _ := json.Marshal(map[string]any{"tripline": map[string]any{"unencodable_event": clip(err.Error(), 512)}})
		return b, true
	}
	var lens []int
	walkStrings(ev, func(s string) { lens = append(lens, quotedLen(s)) })
	sort.Sort(sort.Reverse(sort.IntSlice(lens)))
	// Choose the common length L by arithmetic on the string lengths, then
	// check by encoding; each step down re-encodes an event already within
	// reach of the limit.
	over := len(full) - limit
	L := cutLength(lens, over)
	for L >= 64 {
		b, err := json.Marshal(clipStrings(ev, L))
		if err == nil && len(b) <= limit {
			return b, true
		}
		L = L * 3 / 4
	}
	return skeleton(ev, limit), true
}

// cutLength returns the largest length L such that cutting every string
// longer than L down to L (note included) saves at least over bytes; lens
// is sorted longest first. 64 is the floor.
func cutLength(lens []int, over int) int {
	saved := func(L int) int {
		n := 0
		for _, l := range lens {
			if l <= L {
				break
			}
			n += l - L
		}
		return n
	}
	if len(lens) == 0 || saved(64) < over {
		return 64
	}
	lo, hi := 64, lens[0] // saved(lo) >= over, saved(hi) = 0
	for hi-lo > 1 {
		mid := (lo + hi) / 2
		if saved(mid) >= over {
			lo = mid
		} else {
			hi = mid
		}
	}
	return lo
}

// walkStrings calls fn for every string value in v.
func walkStrings(v any, fn func(string)) {
	switch t := v.(type) {
	case map[string]any:
		for _, e := range t {
			walkStrings(e, fn)
		}
	case []any:
		for _, e := range t {
			walkStrings(e, fn)
		}
	case string:
		fn(t)
	}
}

// clipStrings returns a copy of v with every string clipped to L.
func clipStrings(v any, L int) any {
	switch t := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, e := range t {
			out[k] = clipStrings(e, L)
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = clipStrings(e, L)
		}
		return out
	case string:
		return clip(t, L)
	}
	return v
}

// skeleton keeps the top-level scalar fields of ev, clipped to 256 bytes
// each, in key order while they fit in limit, with a note saying how much
// was dropped.
func skeleton(ev map[string]any, limit int) json.RawMessage {
	out := map[string]any{"tripline": map[string]any{"truncated": "event too large to keep: only top-level fields are shown"}}
	size := 100
	for _, k := range slices.Sorted(maps.Keys(ev)) {
		if k == "tripline" {
			continue
		}
		var v any
		switch t := ev[k].(type) {
		case string:
			v = clip(t, 256)
		case json.Number, bool, nil:
			v = t
		default:
			continue
		}
		b, err := json.Marshal(v)
		if err != nil {
			continue
		}
		if add := quotedLen(k) + 1 + len(b) + 1; size+add <= limit {
			out[k] = v
			size += add
		}
	}
	b, _ := json.Marshal(out)
	return b
}
