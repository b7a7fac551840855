package detect

import (
	"fmt"
	"testing"
)

// TestWithoutImplied: a literal that holds another of its clause is
// dropped, and so is a repeated one, but a case-sensitive literal never
// stands for a case-insensitive one.
func TestWithoutImplied(t *testing.T) {
	cs := func(s string) literal { return literal{text: []byte(s)} }
	fold := func(s string) literal { return literal{text: []byte(s), fold: true} }
	for _, tc := range []struct {
		in   clause
		want string
	}{
		{clause{cs("kube-audit"), cs("kube-audit-admin")}, "[kube-audit]"},
		{clause{cs("kube-audit-admin"), cs("kube-audit")}, "[kube-audit]"},
		{clause{fold("success"), fold("success")}, "[success/i]"},
		{clause{fold("success"), cs("Success")}, "[success/i]"},
		{clause{cs("Success"), fold("success")}, "[success/i]"},
		// Success in the record does not hold "success" as it is.
		{clause{cs("success"), fold("successful")}, "[success successful/i]"},
		{clause{cs("delete"), cs("deletecollection"), cs("patch")}, "[delete patch]"},
	} {
		var got []string
		for _, l := range withoutImplied(tc.in) {
			s := string(l.text)
			if l.fold {
				s += "/i"
			}
			got = append(got, s)
		}
		if fmt.Sprint(got) != tc.want {
			t.Errorf("withoutImplied(%v) = %v, want %s", tc.in, got, tc.want)
		}
	}
}
