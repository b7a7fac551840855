package doc

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"testing"
)

// TestTopLevelAgreesWithUnmarshal: topLevel finds the values
// json.Unmarshal into a map finds, for duplicate keys, escaped keys, keys
// inside nested values and every kind of value.
func TestTopLevelAgreesWithUnmarshal(t *testing.T) {
	cases := []string{
		`{"id":"a","ttl":5,"pending":true}`,
		`{ "id" : "a" , "ttl" : -1 , "x" : {"id":"inner","ttl":[1,{"pending":false}]} , "pending" : false }`,
		`{"ttl":1,"ttl":2,"id":"x","id":"y"}`,
		`{"\u0069d":"escaped","t\u0074l":3,"pending":null}`,
		`{"a":"}\"{[","id":"q\"uote","ttl":1e3,"pending":"true"}`,
		`{}`,
		"{\n\t\"id\":\"tabs\",\r\n\"ttl\":7}",
	}
	rng := rand.New(rand.NewPCG(1, 2))
	values := []string{`"s"`, `"e\"s\\c"`, `12`, `-0.5e+3`, `true`, `false`, `null`, `[]`, `[1,"]",{"id":"n"}]`, `{"id":"n","ttl":9}`, `{}`}
	keys := []string{"id", "ttl", "pending", "other", `i\u0064`, "x"}
	for n := 0; n < 500; n++ {
		s := "{"
		for m := rng.IntN(6); m > 0; m-- {
			if len(s) > 1 {
				s += ","
			}
			s += fmt.Sprintf(`%s"%s"%s:%s%s`, []string{"", " ", "\n"}[rng.IntN(3)], keys[rng.IntN(len(keys))], []string{"", " "}[rng.IntN(2)], []string{"", "\t"}[rng.IntN(2)], values[rng.IntN(len(values))])
		}
		cases = append(cases, s+"}")
	}
	for _, c := range cases {
		var want map[string]json.RawMessage
		if err := json.Unmarshal([]byte(c), &want); err != nil {
			t.Fatalf("test case %q is not JSON: %v", c, err)
		}
		got := topLevel([]byte(c), "id", "ttl", "pending")
		for _, k := range []string{"id", "ttl", "pending"} {
			w, wok := want[k]
			g, gok := got[k]
			if wok != gok || string(w) != string(g) {
				t.Fatalf("%q: %s = %q (%v), Unmarshal gives %q (%v)", c, k, g, gok, w, wok)
			}
		}
	}
}
