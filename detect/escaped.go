package detect

import (
	"encoding/binary"
	"encoding/json"
	"math/bits"
	"slices"
	"sync"

	"github.com/tripline/tripline/internal/jsonscan"
)

// This file evaluates a batch of messages where the Functions host leaves
// them: Data.<binding> of an Event Hubs request (dataType string) is a JSON
// string holding a JSON array of JSON strings, one per message, so every
// message is escaped twice. Unescaping a batch (about 10 MB) costs more
// than evaluating it, and nearly every record matches no rule, so the
// records are found and tested in place, and only the records the
// prefilter keeps are unescaped and decoded.
//
// In place is exact, not a guess:
//   - the walker (walk.go) reads a message's structure through both escape
//     layers (a quote or backslash of the message is a run of backslashes
//     and a character; every other byte stands for itself);
//   - a rule literal has no quote, backslash or control character, so it
//     appears in a message exactly when it appears in the escaped text,
//     unless an escape spells one of its characters: a message holding
//     "\u" (at any layer), "\/" (when a literal has '/'), or a non-ASCII
//     letter whose case folds to ASCII (when a literal is case-insensitive)
//     is unescaped and evaluated like any other message instead;
//   - so is a message whose structure the walker does not take in place
//     (a break, a top-level scalar, a key with escapes).
// Matches and record counts are therefore those of unescaping every
// message and calling Evaluate; skip offsets are counted in the unescaped
// message. The differential tests (escaped_test.go) and FuzzEvaluateBatch
// hold this.

var batchWalkers = sync.Pool{New: func() any { return &walker{depth: 2, stack: make([]byte, 0, 32)} }}

// EvaluateBatch evaluates the messages of text, the content (without its
// quotes, still escaped) of a JSON string holding a JSON array of JSON
// strings, each one message; messages are numbered from 0. It adds to res
// what unescaping text, unescaping each element and calling Evaluate on it
// would add. ok is false when text is not such an array: res then holds a
// part of the batch and must be discarded, and the caller decodes the batch
// some other way.
func (e *Engine) EvaluateBatch(text []byte, res *Result) (messages int, ok bool) {
	arr := walker{depth: 1}
	c, _, i, kind, eof := arr.skipWS(text, 0)
	if eof || kind != runChar || c != '[' {
		return 0, false
	}
	c, _, next, kind, eof := arr.skipWS(text, i)
	if !eof && kind == runChar && c == ']' {
		if _, _, _, _, eof := arr.skipWS(text, next); !eof {
			return 0, false
		}
		return 0, true
	}
	for {
		if eof || kind != runChar || c != '"' {
			return 0, false
		}
		start := next
		end, st := e.evaluateInPlace(messages, text, start, res)
		if st == inPlaceInvalid {
			return 0, false
		}
		if st == inPlaceDone {
			// end is the run that closes the element's string.
			c, _, next, kind, _ = arr.skipWS(text, end)
			if kind != runChar || c != '"' {
				return 0, false
			}
			i = next
		} else {
			contentEnd, after, ok := arr.stringEnd(text, start)
			if !ok {
				return 0, false
			}
			msg, ok := unquoteLevels(nil, text[start:contentEnd], 2)
			if !ok {
				return 0, false
			}
			e.Evaluate(messages, msg, res)
			i = after
		}
		messages++
		c, _, next, kind, eof = arr.skipWS(text, i)
		if eof || kind != runChar {
			return 0, false
		}
		switch c {
		case ',':
			c, _, next, kind, eof = arr.skipWS(text, next)
			continue
		case ']':
			if _, _, _, _, eof := arr.skipWS(text, next); !eof {
				return 0, false
			}
			return messages, true
		}
		return 0, false
	}
}

// inPlace is how evaluateInPlace went.
type inPlace int

const (
	inPlaceDone    inPlace = iota
	inPlaceDecline         // r untouched: unescape the message first
	inPlaceInvalid         // the text is not escaped JSON string content
)

// evaluateInPlace evaluates the message whose escaped text starts at
// text[start] (depth 2) without unescaping it, and returns where its text
// ends; it declines, leaving r untouched, when the message must be
// unescaped first (see the file comment).
func (e *Engine) evaluateInPlace(message int, text []byte, start int, r *Result) (end int, st inPlace) {
	w := batchWalkers.Get().(*walker)
	defer batchWalkers.Put(w)
	stop, ok := w.walkVector(text, start)
	if !ok {
		stop = w.walk(text, start)
	}
	if stop.errAt >= 0 {
		return 0, inPlaceDecline
	}
	msg := text[start:stop.end]
	pf := e.pf
	if w.hazards&hazardU != 0 || pf.slash && w.hazards&hazardSlash != 0 || pf.fold && w.hazards&hazardNonASCII != 0 && foldHazard(msg) {
		return 0, inPlaceDecline
	}

	sp := splitPool.Get().(*splitter)
	defer splitPool.Put(sp)
	c := e.newCandidatesHiding(sp, msg, pf.always)
	for index, s := range w.spans {
		r.Records++
		off := s.start - start
		if !s.obj {
			r.Skips = append(r.Skips, Skip{Message: message, Record: index, Offset: unescapedLen(msg[:off]), Reason: "record is not a JSON object"})
			continue
		}
		raw := msg[off : s.end-start : s.end-start]
		if !c.test(raw, off) {
			continue
		}
		rec, ok := unquoteLevels(nil, raw, 2)
		if !ok {
			return 0, inPlaceInvalid
		}
		if e.untilDecode {
			continue
		}
		skips := len(r.Skips)
		e.decodeAndMatch(message, RawRecord{Index: index, Bytes: rec}, r)
		for k := skips; k < len(r.Skips); k++ {
			r.Skips[k].Offset = unescapedLen(msg[:off])
		}
	}
	return stop.end, inPlaceDone
}

// unescapedLen is the length of b, message text escaped twice, once
// unescaped (skip offsets count bytes of the unescaped message).
func unescapedLen(b []byte) int64 {
	u, _ := unquoteLevels(nil, b, 2)
	return int64(len(u))
}

// unquoteLevels appends to dst what s, the content of a JSON string nested
// levels deep, stands for, exactly as encoding/json would unquote it level
// by level. ok is false when s is not valid string content at some level.
func unquoteLevels(dst, s []byte, levels int) ([]byte, bool) {
	if levels == 2 {
		// Unquoted, s is no longer than it is: one allocation, not the
		// doublings of append.
		dst = slices.Grow(dst, len(s))
		if out, ok := unquoteTwice(dst, s); ok {
			return out, true
		}
	}
	var ok bool
	for l := 0; l < levels; l++ {
		if s, ok = unquote(nil, s); !ok {
			return dst, false
		}
	}
	return append(dst, s...), true
}

// unquoteTwice is unquoteLevels(dst, s, 2) in one pass over s, for text of
// printable ASCII whose escapes are one character at both levels (all of a
// message's quotes and backslashes, and most of its escapes, are such
// runs). Anything else (a \u escape, a control character or non-ASCII byte,
// an unescaped quote, a control character escaped at the outer level,
// which the inner level would reject) makes it report false, leaving the
// answer to the level-by-level path; so it never reports true where that
// path does not, and then gives the same bytes (FuzzUnquoteTwice).
func unquoteTwice(dst, s []byte) ([]byte, bool) {
	const ones, highs, backslashes, quotes, spaces = 0x0101010101010101, 0x8080808080808080, 0x5c5c5c5c5c5c5c5c, 0x2222222222222222, 0x2020202020202020
	base := len(dst)
	for i := 0; i < len(s); {
		// j: the first byte from i that is not plain (a backslash, a
		// quote, a control character, non-ASCII), eight bytes at a time.
		j := i
		for len(s)-j >= 8 {
			v := binary.LittleEndian.Uint64(s[j:])
			x, y := v^backslashes, v^quotes
			if m := ((x-ones)&^x | (y-ones)&^y | (v-spaces)&^v | v) & highs; m != 0 {
				j += bits.TrailingZeros64(m) >> 3
				break
			}
			j += 8
		}
		for j < len(s) && s[j] != '\\' && s[j] != '"' && s[j] >= 0x20 && s[j] < 0x80 {
			j++
		}
		dst = append(dst, s[i:j]...)
		if j == len(s) {
			break
		}
		if s[j] != '\\' {
			return dst[:base], false
		}
		n := 1
		for j+n < len(s) && s[j+n] == '\\' {
			n++
		}
		if j+n == len(s) {
			return dst[:base], false
		}
		x := s[j+n]
		if x < 0x20 || x >= 0x80 || n&1 == 1 && x != '"' && x != '/' {
			// Not plain after the run; or the outer level escapes x:
			// \u, or a control character the inner level would
			// reject, or not JSON.
			return dst[:base], false
		}
		k, c, kind := decodeRun(n, x, 2)
		if kind != runChar {
			return dst[:base], false
		}
		for ; k > 0; k-- {
			dst = append(dst, '\\')
		}
		dst = append(dst, c)
		i = j + n + 1
	}
	return dst, true
}

// unquote appends to dst what s, the content of a JSON string, stands for.
// Plain ASCII and one-character escapes are handled here; anything else
// (\u, non-ASCII, control characters) goes to encoding/json, which decides
// validity and replaces invalid UTF-8 as it always does.
func unquote(dst, s []byte) ([]byte, bool) {
	base := len(dst)
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '\\':
			if i+1 == len(s) {
				return dst, false
			}
			e, ok := jsonscan.Unescape(s[i+1])
			if !ok {
				return unquoteJSON(dst[:base], s)
			}
			dst = append(dst, e)
			i += 2
		case c == '"':
			return dst, false
		case c < 0x20 || c >= 0x80:
			return unquoteJSON(dst[:base], s)
		default:
			j := i + 1
			for j < len(s) && s[j] != '\\' && s[j] != '"' && s[j] >= 0x20 && s[j] < 0x80 {
				j++
			}
			dst = append(dst, s[i:j]...)
			i = j
		}
	}
	return dst, true
}

func unquoteJSON(dst, s []byte) ([]byte, bool) {
	q := make([]byte, 0, len(s)+2)
	q = append(append(append(q, '"'), s...), '"')
	var out string
	if err := json.Unmarshal(q, &out); err != nil {
		return dst, false
	}
	return append(dst, out...), true
}
