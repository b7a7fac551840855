package detect

import (
	"cmp"
	"encoding/json"
	"strings"
)

// This file is everything Query.Match runs. Nothing here allocates: field
// paths, patterns and numbers were prepared at compile time, documents are
// only read, and leaf tests are passed as interfaces holding pointers.

func (n *kqlAnd) match(doc map[string]any) bool {
	for _, k := range n.kids {
		if !k.match(doc) {
			return false
		}
	}
	return true
}

func (n *kqlOr) match(doc map[string]any) bool {
	for _, k := range n.kids {
		if k.match(doc) {
			return true
		}
	}
	return false
}

func (n *kqlNot) match(doc map[string]any) bool      { return !n.kid.match(doc) }
func (n *kqlIs) match(doc map[string]any) bool       { return n.path.find(doc, n) }
func (n *kqlWildcard) match(doc map[string]any) bool { return n.path.find(doc, n) }
func (n *kqlExists) match(doc map[string]any) bool   { return n.path.find(doc, n) }
func (n *kqlRange) match(doc map[string]any) bool    { return n.path.find(doc, n) }

// kqlLeafTest tests one value found at a field path (never an array: arrays
// are walked by the path).
type kqlLeafTest interface {
	test(v any) bool
}

// find reports whether some value at the path passes t.
func (p *kqlPath) find(doc map[string]any, t kqlLeafTest) bool {
	return doc != nil && p.walk(doc, 0, t)
}

// walk looks the path up in m from segment i on, trying every key that
// covers one or more of the remaining segments.
func (p *kqlPath) walk(m map[string]any, i int, t kqlLeafTest) bool {
	for k, key := range p.keys[i] {
		v, ok := m[key]
		if !ok {
			continue
		}
		next := i + k + 1
		if next == len(p.keys) {
			if kqlLeaf(v, t) {
				return true
			}
		} else if p.descend(v, next, t) {
			return true
		}
	}
	return false
}

// descend continues the lookup at segment i inside v, through arrays.
func (p *kqlPath) descend(v any, i int, t kqlLeafTest) bool {
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

// kqlLeaf tests the value at the end of a path; an array is multi-valued.
func kqlLeaf(v any, t kqlLeafTest) bool {
	if a, ok := v.([]any); ok {
		for _, e := range a {
			if kqlLeaf(e, t) {
				return true
			}
		}
		return false
	}
	return t.test(v)
}

func (n *kqlIs) test(v any) bool {
	s := &n.val
	switch v := v.(type) {
	case string:
		return v == s.text
	case json.Number:
		if !s.isNum {
			return false
		}
		m, ok := kqlParseNum(string(v))
		return ok && kqlCompareNum(m, s.num) == 0
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

func (n *kqlWildcard) test(v any) bool {
	s, ok := v.(string)
	return ok && kqlGlob(n.frags, s)
}

func (n *kqlExists) test(v any) bool { return kqlPresent(v) }

// kqlPresent reports whether v counts as a present value for field:*.
func kqlPresent(v any) bool {
	switch v := v.(type) {
	case nil:
		return false
	case map[string]any:
		for _, e := range v {
			if kqlPresent(e) {
				return true
			}
		}
		return false
	case []any:
		for _, e := range v {
			if kqlPresent(e) {
				return true
			}
		}
		return false
	}
	return true
}

func (n *kqlRange) test(v any) bool {
	s := &n.val
	var c int
	switch v := v.(type) {
	case string:
		c = strings.Compare(v, s.text)
	case json.Number:
		m, ok := kqlParseNum(string(v))
		if !ok || !s.isNum {
			return false
		}
		c = kqlCompareNum(m, s.num)
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

// kqlGlob matches s against fragments separated by * wildcards.
func kqlGlob(frags []string, s string) bool {
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

// kqlNum is a decimal number as written (JSON number syntax, leading zeros
// allowed), compared exactly without converting to binary floating point.
type kqlNum struct {
	neg    bool
	ip, fp string // integer and fraction digits
	exp    int    // decimal exponent, saturated at ±kqlMaxExp
}

const kqlMaxExp = 1 << 30

// kqlParseNum parses s as a decimal number without allocating.
func kqlParseNum(s string) (kqlNum, bool) {
	var n kqlNum
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
			n.exp = min(n.exp*10+int(d-'0'), kqlMaxExp)
		}
		if eneg {
			n.exp = -n.exp
		}
	}
	return n, i == len(s)
}

// digit returns the k-th digit of ip followed by fp.
func (n *kqlNum) digit(k int) byte {
	if k < len(n.ip) {
		return n.ip[k]
	}
	return n.fp[k-len(n.ip)]
}

// significant locates the significant digits: value = 0.d[first:end] ×
// 10^point. zero is true when every digit is 0.
func (n *kqlNum) significant() (first, end, point int, zero bool) {
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

// kqlCompareNum compares two decimals exactly: -1, 0 or +1.
func kqlCompareNum(a, b kqlNum) int {
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
