package doc

import (
	"encoding/json"
	"os"
	"testing"
)

// BenchmarkCheck checks an alert document of about 10 KB (the shape the
// pipeline writes: id, ttl, pending, and alerts holding normalized events).
func BenchmarkCheck(b *testing.B) {
	ev, err := os.ReadFile("../../../examples/kube-audit-eventhub.json")
	if err != nil {
		b.Fatal(err)
	}
	body, _ := json.Marshal(map[string]any{"id": "grp-1", "ttl": 2592000, "pending": true, "alerts": []json.RawMessage{ev, ev}})
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Check("grp-1", body); err != nil {
			b.Fatal(err)
		}
	}
}
