package kql

import (
	"errors"
	"strings"
	"testing"
)

// testCase is one query with either its printed tree (want) or its exact
// positioned error (err, "line:col: msg").
type testCase struct {
	name, query, want, err string
}

func runKQLCases(t *testing.T, cases []testCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			q, err := Compile(tc.query)
			if tc.err != "" {
				if err == nil {
					t.Fatalf("Compile(%q) = %s, want error %q", tc.query, q, tc.err)
				}
				var ke *Error
				if !errors.As(err, &ke) {
					t.Fatalf("error %T is not *Error", err)
				}
				if err.Error() != tc.err {
					t.Fatalf("Compile(%q) error\n got: %s\nwant: %s", tc.query, err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Compile(%q): %v", tc.query, err)
			}
			if got := q.String(); got != tc.want {
				t.Fatalf("Compile(%q)\n got: %s\nwant: %s", tc.query, got, tc.want)
			}
		})
	}
}

func TestCompileKQLTree(t *testing.T) {
	runKQLCases(t, []testCase{
		{name: "field value", query: `event.dataset:azure.activitylogs`,
			want: `(is event.dataset "azure.activitylogs")`},
		{name: "spaces around colon", query: `  a : b  `, want: `(is a "b")`},
		{name: "quoted phrase", query: `a:"x y:z (w)"`, want: `(is a "x y:z (w)")`},
		{name: "quoted field name", query: `"a.b":c`, want: `(is a.b "c")`},
		{name: "field name with spaces is quoted when printed", query: `"a b":c`, want: `(is "a b" "c")`},
		{name: "unquoted value keeps inner spaces", query: `a:b c`, want: `(is a "b c")`},
		{name: "unquoted value trimmed before paren", query: `a:(b )`, want: `(is a "b")`},
		{name: "and or precedence", query: `a:1 or b:2 and c:3`,
			want: `(or (is a "1") (and (is b "2") (is c "3")))`},
		{name: "not binds tighter than and", query: `not a:1 and b:2`,
			want: `(and (not (is a "1")) (is b "2"))`},
		{name: "parentheses", query: `(a:1 or b:2) and c:3`,
			want: `(and (or (is a "1") (is b "2")) (is c "3"))`},
		{name: "chains are n-ary", query: `a:1 and b:2 and c:3`,
			want: `(and (is a "1") (is b "2") (is c "3"))`},
		{name: "keywords are case-insensitive", query: `a:1 AND NOT b:2 Or c:3`,
			want: `(or (and (is a "1") (not (is b "2"))) (is c "3"))`},
		{name: "value list", query: `event.outcome:(Success or success)`,
			want: `(or (is event.outcome "Success") (is event.outcome "success"))`},
		{name: "value list nested logic", query: `f:((a or b) and not c)`,
			want: `(and (or (is f "a") (is f "b")) (not (is f "c")))`},
		{name: "value list and", query: `f:(a and b)`, want: `(and (is f "a") (is f "b"))`},
		{name: "value list with wildcards and exists", query: `f:(* and not (*kubernetes/$Format))`,
			want: `(and (exists f) (not (wildcard f "*kubernetes/$Format")))`},
		{name: "exists", query: `f:*`, want: `(exists f)`},
		{name: "exists with spaces", query: `f: * `, want: `(exists f)`},
		{name: "double star is a pattern", query: `f:**`, want: `(wildcard f "**")`},
		{name: "wildcard anywhere", query: `f:a*b*c`, want: `(wildcard f "a*b*c")`},
		{name: "escaped colons and wildcard", query: `user:system\:node\:*`,
			want: `(wildcard user "system:node:*")`},
		{name: "escaped star is literal", query: `f:a\*b`, want: `(is f "a*b")`},
		{name: "escaped star in pattern", query: `f:a\**`, want: `(wildcard f "a\\**")`},
		{name: "escaped specials", query: `f:\\\(\)\"\<\>\{\}\:`, want: `(is f "\\()\"<>{}:")`},
		{name: "escaped whitespace", query: `f:a\tb\nc\rd`, want: `(is f "a\tb\nc\rd")`},
		{name: "escaped keyword", query: `f:\or`, want: `(is f "or")`},
		{name: "escaped keyword keeps case", query: `f:\AND`, want: `(is f "AND")`},
		{name: "backslash n wins over escaped not (Kibana order), then trimmed", query: `f:\not`, want: `(is f "ot")`},
		{name: "unicode escape", query: `f:a\u0041`, want: `(is f "aA")`},
		{name: "surrogate pair escape", query: `f:\ud83d\ude00`, want: `(is f "😀")`},
		{name: "escaped field name", query: `a\:b:c`, want: `(is "a:b" "c")`},
		{name: "quoted keeps unknown escapes", query: `f:"C:\Windows\x"`, want: `(is f "C:\\Windows\\x")`},
		{name: "quoted escapes", query: `f:"a\"b\\c\td"`, want: `(is f "a\"b\\c\td")`},
		{name: "quoted star is literal", query: `f:"*"`, want: `(is f "*")`},
		{name: "question mark is literal", query: `f:a?c`, want: `(is f "a?c")`},
		{name: "number", query: `code:200`, want: `(is code "200")`},
		{name: "boolean", query: `ok:true`, want: `(is ok "true")`},
		{name: "quoted null is a string", query: `f:"null"`, want: `(is f "null")`},
		{name: "range", query: `n >= 5`, want: `(range n >= "5")`},
		{name: "range ops", query: `a<1 and b<=2 and c>3 and d>=4`,
			want: `(and (range a < "1") (range b <= "2") (range c > "3") (range d >= "4"))`},
		{name: "range quoted date", query: `@timestamp < "2024-01-02T03:04:05Z"`,
			want: `(range @timestamp < "2024-01-02T03:04:05Z")`},
		{name: "word containing keyword", query: `f:order and g:nothing and h:android`,
			want: `(and (is f "order") (is g "nothing") (is h "android"))`},
		{name: "not without space is a value", query: `f:not`, want: `(is f "not")`},
		{name: "trailing or without space is part of value (Kibana)", query: `f:b or`, want: `(is f "b or")`},
		{name: "no-break space is whitespace", query: "a:1\u00a0and\u00a0b:2", want: `(and (is a "1") (is b "2"))`},
		{name: "nesting at the limit", query: strings.Repeat("(", 100) + "a:b" + strings.Repeat(")", 100), want: `(is a "b")`},
		{name: "long run of spaces", query: "a:b" + strings.Repeat(" ", 100000) + "c", want: `(is a "b` + strings.Repeat(" ", 100000) + `c")`},
		{name: "multi-line", query: "\nevent.dataset:azure.activitylogs and\n    event.outcome:(\n        Success or\n        success\n    )\n",
			want: `(and (is event.dataset "azure.activitylogs") (or (is event.outcome "Success") (is event.outcome "success")))`},
		{name: "dotted annotation key", query: `azure.platformlogs.properties.log.annotations.authorization.k8s.io/decision:allow`,
			want: `(is azure.platformlogs.properties.log.annotations.authorization.k8s.io/decision "allow")`},
		{name: "json in escaped pattern (Elastic rule)", query: `azure.activitylogs.properties.responseBody: *\"allowBlobPublicAccess\"\:true*`,
			want: `(wildcard azure.activitylogs.properties.responseBody "*\"allowBlobPublicAccess\":true*")`},
	})
}

func TestCompileKQLErrors(t *testing.T) {
	runKQLCases(t, []testCase{
		{name: "empty", query: "", err: "1:1: empty query"},
		{name: "blank", query: " \n\t", err: "2:2: empty query"},
		{name: "free text", query: `foo`,
			err: `1:1: free-text search without a field name is unsupported ("foo"); write field:value`},
		{name: "free text after and", query: `a:b and foo`,
			err: `1:9: free-text search without a field name is unsupported ("foo"); write field:value`},
		{name: "quoted free text", query: `"foo bar"`,
			err: `1:1: free-text search without a field name is unsupported ("\"foo bar\""); write field:value`},
		{name: "nested query", query: `a:{ b:c }`,
			err: `1:3: nested field queries (field:{...}) are unsupported`},
		{name: "field wildcard", query: `azure.*:x`,
			err: `1:1: wildcards in field names are unsupported (azure.*)`},
		{name: "all fields", query: `*:x`,
			err: `1:1: searching every field (*:value) is unsupported; name the field`},
		{name: "match all", query: `*:*`,
			err: `1:1: searching every field (*:value) is unsupported; name the field`},
		{name: "empty quoted field", query: `"":x`, err: `1:1: empty field name`},
		{name: "lucene minus", query: `-a:b`, err: `1:1: Lucene - operator is unsupported; use not`},
		{name: "unquoted null", query: `a:null`,
			err: `1:3: unquoted null is unsupported; write "null" to match the string`},
		{name: "fuzzy", query: `a:roam~1`,
			err: `1:3: Lucene fuzzy syntax (~) is unsupported in KQL; quote the value to match it literally`},
		{name: "regex", query: `a:/jo.*n/`,
			err: `1:3: Lucene regular expressions (/.../) are unsupported in KQL; quote the value to match it literally`},
		{name: "lucene range", query: `a:[1 TO 5]`,
			err: `1:3: Lucene range syntax ([a TO b]) is unsupported; use field >= a and field <= b; quote the value to match it literally`},
		{name: "two terms without operator", query: `a:b c:d`,
			err: `1:6: expected "and", "or" or end of query, found ":"`},
		{name: "keyword inside unquoted value (Kibana)", query: `a:cannot be`,
			err: `1:6: expected "and", "or" or end of query, found keyword "not"`},
		{name: "not not", query: `not not a:b`,
			err: `1:5: expected a field name or "(", found keyword "not"`},
		{name: "dangling and", query: `a:b and `,
			err: `1:9: expected a field name or "(", found end of query`},
		{name: "dangling not", query: `a:b and not`,
			err: `1:9: expected a field name or "(", found keyword "not"`},
		{name: "missing value", query: `a:`, err: `1:3: expected a value after ":", found end of query`},
		{name: "missing value in list", query: `a:(b or )`, err: `1:9: expected a value, found ")"`},
		{name: "empty list", query: `a:()`, err: `1:4: expected a value, found ")"`},
		{name: "missing value after not in list", query: `a:(not )`,
			err: `1:8: expected a value after "not", found ")"`},
		{name: "unclosed paren", query: `(a:b`, err: `1:5: expected ")" to close "(" at 1:1, found end of query`},
		{name: "unclosed list", query: "a:(b or\n  c", err: `2:4: expected ")" to close "(" at 1:3, found end of query`},
		{name: "extra paren", query: `a:b)`, err: `1:4: expected "and", "or" or end of query, found ")"`},
		{name: "unterminated quote", query: `a:"abc`, err: `1:3: unterminated quoted string`},
		{name: "bad escape", query: `a:b\x`,
			err: `1:4: invalid escape \x (escape one of \ ( ) : < > " * { } or write \t \r \n \uXXXX)`},
		{name: "bad escape on line 3", query: "a:b and\n  c:(d or\n e\\x)",
			err: `3:3: invalid escape \x (escape one of \ ( ) : < > " * { } or write \t \r \n \uXXXX)`},
		{name: "column counts characters", query: "a:\"é\" or b:\\x",
			err: `1:12: invalid escape \x (escape one of \ ( ) : < > " * { } or write \t \r \n \uXXXX)`},
		{name: "trailing backslash", query: `a:b\`, err: `1:4: backslash at end of query escapes nothing`},
		{name: "lone surrogate", query: `a:\ud83d`, err: `1:3: \ud83d is half of a UTF-16 surrogate pair`},
		{name: "range without value", query: `a >= `, err: `1:6: expected a value after ">=", found end of query`},
		{name: "range wildcard", query: `a > 5*`, err: `1:5: wildcards in range values are unsupported`},
		{name: "range null", query: `a > null`, err: `1:5: null in a range is unsupported`},
		{name: "date math", query: `@timestamp >= now-1d`,
			err: `1:15: date math in range values is unsupported; compare with an ISO 8601 date`},
		{name: "date math anchor", query: `t < "2024-01-01||+1M"`,
			err: `1:5: date math in range values is unsupported; compare with an ISO 8601 date`},
		{name: "missing whitespace before or (old Elastic rule)", query: "f:(\"a\"or\n\"b\")",
			err: `1:7: expected ")" to close "(" at 1:3, found keyword "or" without whitespace before it (Kibana requires whitespace around and/or)`},
		{name: "deep nesting", query: strings.Repeat("(", 101) + "a:b" + strings.Repeat(")", 101),
			err: `1:101: parentheses nested deeper than 100`},
		{name: "deep value list", query: "a:" + strings.Repeat("(", 101) + "b" + strings.Repeat(")", 101),
			err: `1:103: parentheses nested deeper than 100`},
		{name: "too many dots", query: strings.Repeat("a.", 32) + "b:c",
			err: `1:1: field name has more than 32 dot-separated parts`},
		{name: "eql", query: "sequence by host.id\n  [process where process.name == \"x\"]",
			err: `1:1: free-text search without a field name is unsupported ("sequence by host.id\n  [process where pro..."); write field:value`},
	})
}
