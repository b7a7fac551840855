package kql

import (
	"cmp"
	"encoding/json"
	"strings"
)

// This file is everything Query.Match runs. Nothing here allocates: field
// paths, patterns and numbers were prepared at compile time, documents are
// only read, and leaf tests are passed as interfaces holding pointers.

func (n *andNode) match(doc map[string]any) bool {
	for _, k := range n.kids {
		if !k.match(doc) {
			return false
		}
	}
	return true
}

func (n *orNode) match(doc map[string]any) bool {
	for _, k := range n.kids {
		if k.match(doc) {
			return true
		}
	}
	return false
}

func (n *notNode) match(doc map[string]any) bool      { return !n.kid.match(doc) }
func (n *isNode) match(doc map[string]any) bool       { return n.path.find(doc, n) }
func (n *wildcardNode) match(doc map[string]any) bool { return n.path.find(doc, n) }
func (n *existsNode) match(doc map[string]any) bool   { return n.path.find(doc, n) }
func (n *rangeNode) match(doc map[string]any) bool    { return n.path.find(doc, n) }

// leafTest tests one value found at a field path (never an array: arrays
// are walked by the path).
type leafTest interface {
	test(v any) bool
}

// find reports whether some value at the path passes t.
func (p *fieldPath) find(doc map[string]any, t leafTest) bool {
	return doc != nil && p.walk(doc, 0, t)
}

// walk looks the path up in m from segment i on, trying every key that
// covers one or more of the remaining segments.
func (p *fieldPath) walk(m map[string]any, i int, t leafTest) bool {
	for k, key := range p.keys[i] {
		v, ok := m[key]
		if !ok {
			continue
		}
		next := i + k + 1
		if next == len(p.keys) {
			if leaf(v, t) {
				return true
			}
		} else if p.descend(v, next, t) {
			return true
		}
	}
	return false
}

// descend continues the lookup at segment i inside v, through arrays.
func (p *fieldPath) descend(v any, i int, t leafTest) bool {
	switch v := v.(type) {
	case map[string]any:
		return p.walk(v, i, t)
	case []any:
		for _, e := range v {
			if p.descend(e, i, t) {
				return true
			}
		}
	}
	return false
}

// leaf tests the value at the end of a path; an array is multi-valued.
func leaf(v any, t leafTest) bool {
	if a, ok := v.([]any); ok {
		for _, e := range a {
			if leaf(e, t) {
				return true
			}
		}
		return false
	}
	return t.test(v)
}

func (n *isNode) test(v any) bool {
	s := &n.val
	switch v := v.(type) {
	case string:
		return v == s.text
	case json.Number:
		if !s.isNum {
			return false
		}
		m, ok := parseNum(string(v))
		return ok && compareNum(m, s.num) == 0
	case float64:
		return s.isNum && v == s.f
	case int:
		return s.isNum && float64(v) == s.f
	case int64:
		return s.isNum && float64(v) == s.f
	case bool:
		return s.isBool && v == s.b
	}
	return false
}

func (n *wildcardNode) test(v any) bool {
	s, ok := v.(string)
	return ok && glob(n.frags, s)
}

func (n *existsNode) test(v any) bool { return present(v) }

// present reports whether v counts as a present value for field:*.
func present(v any) bool {
	switch v := v.(type) {
	case nil:
		return false
	case map[string]any:
		for _, e := range v {
			if present(e) {
				return true
			}
		}
		return false
	case []any:
		for _, e := range v {
			if present(e) {
				return true
			}
		}
		return false
	}
	return true
}

func (n *rangeNode) test(v any) bool {
	s := &n.val
	var c int
	switch v := v.(type) {
	case string:
		c = strings.Compare(v, s.text)
	case json.Number:
		m, ok := parseNum(string(v))
		if !ok || !s.isNum {
			return false
		}
		c = compareNum(m, s.num)
	case float64:
		if !s.isNum || v != v {
			return false
		}
		c = cmp.Compare(v, s.f)
	case int:
		if !s.isNum {
			return false
		}
		c = cmp.Compare(float64(v), s.f)
	case int64:
		if !s.isNum {
			return false
		}
		c = cmp.Compare(float64(v), s.f)
	default:
		return false
	}
	switch n.op {
	case "<":
		return c < 0
	case "<=":
		return c <= 0
	case ">":
		return c > 0
	default: // ">="
		return c >= 0
	}
}

// glob matches s against fragments separated by * wildcards.
func glob(frags []string, s string) bool {
	first, last := frags[0], frags[len(frags)-1]
	if len(s) < len(first)+len(last) || !strings.HasPrefix(s, first) || !strings.HasSuffix(s, last) {
		return false
	}
	s = s[len(first) : len(s)-len(last)]
	for _, f := range frags[1 : len(frags)-1] {
		i := strings.Index(s, f)
		if i < 0 {
			return false
		}
		s = s[i+len(f):]
	}
	return true
}

// number is a decimal number as written (JSON number syntax, leading zeros
// allowed), compared exactly without converting to binary floating point.
type number struct {
	neg    bool
	ip, fp string // integer and fraction digits
	exp    int    // decimal exponent, saturated at ±maxExp
}

const maxExp = 1 << 30

// parseNum parses s as a decimal number without allocating.
func parseNum(s string) (number, bool) {
	var n number
	i := 0
	if i < len(s) && s[i] == '-' {
		n.neg = true
		i++
	}
	digits := func() string {
		st := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		return s[st:i]
	}
	if n.ip = digits(); n.ip == "" {
		return n, false
	}
	if i < len(s) && s[i] == '.' {
		i++
		if n.fp = digits(); n.fp == "" {
			return n, false
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		eneg := false
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			eneg = s[i] == '-'
			i++
		}
		ds := digits()
		if ds == "" {
			return n, false
		}
		for _, d := range []byte(ds) {
			n.exp = min(n.exp*10+int(d-'0'), maxExp)
		}
		if eneg {
			n.exp = -n.exp
		}
	}
	return n, i == len(s)
}

// digit returns the k-th digit of ip followed by fp.
func (n *number) digit(k int) byte {
	if k < len(n.ip) {
		return n.ip[k]
	}
	return n.fp[k-len(n.ip)]
}

// significant locates the significant digits: value = 0.d[first:end] ×
// 10^point. zero is true when every digit is 0.
func (n *number) significant() (first, end, point int, zero bool) {
	total := len(n.ip) + len(n.fp)
	for first < total && n.digit(first) == '0' {
		first++
	}
	if first == total {
		return 0, 0, 0, true
	}
	end = total
	for n.digit(end-1) == '0' {
		end--
	}
	return first, end, len(n.ip) - first + n.exp, false
}

// compareNum compares two decimals exactly: -1, 0 or +1.
func compareNum(a, b number) int {
	af, ae, ap, az := a.significant()
	bf, be, bp, bz := b.significant()
	sign := func(neg, zero bool) int {
		switch {
		case zero:
			return 0
		case neg:
			return -1
		}
		return 1
	}
	as, bs := sign(a.neg, az), sign(b.neg, bz)
	if as != bs || as == 0 {
		return cmp.Compare(as, bs)
	}
	mag := cmp.Compare(ap, bp)
	for k := 0; mag == 0; k++ {
		switch {
		case af+k == ae && bf+k == be:
			return 0
		case af+k == ae:
			mag = -1
		case bf+k == be:
			mag = 1
		default:
			mag = cmp.Compare(a.digit(af+k), b.digit(bf+k))
		}
	}
	return as * mag
}
