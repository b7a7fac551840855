package alerting

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/tripline/tripline/alert"
)

// TestGroupDocCodecIsEncodingJSON: the group document is written and read
// (marshal, decodeGroupDoc) exactly as encoding/json writes and reads it.
func TestGroupDocCodecIsEncodingJSON(t *testing.T) {
	t0 := time.Date(2025, 5, 6, 9, 0, 0, 123456789, time.UTC)
	doc := &groupDoc{ID: "grp-1", TTL: 3600, Pending: true, RuleID: "r-1", GroupKey: "k\x1fv <&>", Alerts: []storedAlert{
		{
			Alert: alert.Alert{
				ID: "alt-1", Rule: alert.RuleInfo{ID: "r-1", Name: "Events <deleted>", Severity: "medium", RiskScore: 47, Steps: []string{"a", "b"},
					Techniques: []alert.Technique{{ID: "T1070", Name: "Indicator Removal"}}},
				State: alert.StateNew, Count: 2, FirstSeen: t0, LastSeen: t0.Add(time.Minute), WindowEnd: t0.Add(time.Hour),
				Group: map[string]string{"b": "2", "a": "1"}, Source: "activitylog",
				Event: map[string]any{"z": "last", "a": []any{1.5, "x", nil, true}, "nested": map[string]any{"k": "<v>", "é": "ü"},
					"n": json.Number("12.50"), "ns": []any{json.Number("-3e2"), json.Number("")}}, // records are decoded with UseNumber
				Deliveries: map[string]*alert.Delivery{"webhook": {State: alert.DeliveryPending, Attempts: 1, LastError: "503", NextAttempt: t0}},
			},
			WindowStart: t0, Records: []string{"h1", "h2"}, HeldBack: true,
		},
		{Alert: alert.Alert{ID: "alt-2"}},                                               // no event, nil maps and slices
		{Alert: alert.Alert{ID: "alt-3", Event: map[string]any{}}, Records: []string{}}, // empty ones
	}}
	got, err := doc.marshal()
	if err != nil {
		t.Fatal(err)
	}
	// marshal encodes each new alert's event once, into the stored form.
	if len(doc.Alerts[0].Event) == 0 || doc.Alerts[1].Event != nil {
		t.Fatalf("stored events %q, %q", doc.Alerts[0].Event, doc.Alerts[1].Event)
	}
	v1, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, v1) {
		t.Fatalf("marshal wrote\n%s\nencoding/json writes\n%s", got, v1)
	}
	// Written again from the stored events (json.RawMessage), it is the same.
	read, err := decodeGroupDoc(got)
	if err != nil {
		t.Fatal(err)
	}
	again, err := read.marshal()
	if err != nil || !bytes.Equal(again, v1) {
		t.Fatalf("written again after a read (%v):\n%s\nwant\n%s", err, again, v1)
	}
	var want groupDoc
	if err := json.Unmarshal(got, &want); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(read, &want) {
		t.Fatalf("decodeGroupDoc read\n%+v\nencoding/json reads\n%+v", read, &want)
	}
	// An alert handed out has its event decoded as encoding/json decodes it.
	var ev map[string]any
	if err := json.Unmarshal(read.Alerts[0].Event, &ev); err != nil {
		t.Fatal(err)
	}
	if full := read.Alerts[0].full(); !reflect.DeepEqual(full.Event, ev) || full.Event["z"] != "last" {
		t.Fatalf("full().Event = %v, want %v", full.Event, ev)
	}
	// Documents written before the events were kept as JSON had the event
	// among the alert's fields, null when there was none.
	old, err := decodeGroupDoc([]byte(`{"id":"grp-1","alerts":[{"id":"a","source":"x","event":{"k":"v"},"count":1},{"id":"b","event":null}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if a, b := old.Alerts[0].full(), old.Alerts[1].full(); a.Event["k"] != "v" || a.Count != 1 || b.Event != nil {
		t.Fatalf("a document of the earlier layout read as %+v, %+v", a, b)
	}
	// encoding/json refuses a json.Number that holds no number; so does marshal.
	bad := &groupDoc{ID: "grp-2", Alerts: []storedAlert{{Alert: alert.Alert{ID: "a", Event: map[string]any{"n": json.Number("12abc")}}}}}
	if _, err := json.Marshal(bad.Alerts[0].Alert); err == nil {
		t.Fatal("encoding/json took an invalid json.Number")
	}
	if _, err := bad.marshal(); err == nil {
		t.Fatal("marshal took an invalid json.Number")
	}
	if _, err := decodeGroupDoc([]byte(`{"id":"grp-1","alerts":[{"id":"a","event":{"x":}}]}`)); err == nil {
		t.Fatal("a broken document decoded")
	}
}

// FuzzAppendGroupDoc: appendGroupDoc writes encoding/json's bytes for any
// document, or fails where it fails. Strings carry the fuzzer's bytes
// (escapes, HTML characters, invalid UTF-8) into every kind of field; flags
// switch optional fields, nil and empty maps and slices; year reaches the
// times encoding/json refuses.
func FuzzAppendGroupDoc(f *testing.F) {
	f.Add("grp-1", "<a&b>", "\u2028é\xff", int64(3), uint16(0xffff), 2025)
	f.Add("", "", "", int64(-1), uint16(0), 10000)
	f.Add("x\"y\\z", "\x00\x1f", "日本", int64(1)<<40, uint16(0x5555), -1)
	f.Fuzz(func(t *testing.T, s1, s2, s3 string, n int64, flags uint16, year int) {
		on := func(bit int) bool { return flags&(1<<bit) != 0 }
		at := time.Date(year%12000, time.Month(n%12+1), 3, 4, 5, 6, int(n%1e9), time.FixedZone("z", int(n%50000)))
		event, err := json.Marshal(map[string]any{s1: s2, "n": n, "l": []string{s3}})
		if err != nil {
			t.Fatal(err)
		}
		a := storedAlert{Alert: alert.Alert{
			ID: s1, State: alert.State(s2), Count: int(n), FirstSeen: at, LastSeen: at.Add(time.Hour), Source: s3,
			Rule: alert.RuleInfo{ID: s2, Name: s3, Severity: s1, RiskScore: int(n % 100)},
		}, WindowStart: at}
		if on(0) {
			a.Rule.Description = s3
		}
		if on(1) {
			a.Rule.Techniques = []alert.Technique{{ID: s1, Name: s2}, {ID: s3, Reference: s1}}
		} else if on(2) {
			a.Rule.Techniques = []alert.Technique{}
		}
		if on(3) {
			a.Rule.Steps = []string{s1, s2, s3}
		}
		if on(4) {
			a.Group = map[string]string{s1: s2, s3: s1, "z": ""}
		} else if on(5) {
			a.Group = map[string]string{}
		}
		if on(6) {
			a.Deliveries = map[string]*alert.Delivery{s1: {State: alert.DeliveryState(s2), Attempts: int(n), LastError: s3, NextAttempt: at}, s2 + "x": nil}
			if on(7) {
				a.Deliveries[s3+"y"] = &alert.Delivery{LastAttempt: at, SentAt: at, Since: at}
			}
		}
		if on(8) {
			a.Records = []string{s1, s2}
		} else if on(9) {
			a.Records = []string{}
		}
		a.HeldBack = on(10)
		if on(11) {
			a.Event = event
		}
		doc := &groupDoc{ID: s1, TTL: int(n), Pending: on(12), RuleID: s2, GroupKey: s3}
		if on(13) {
			doc.Alerts = []storedAlert{a, {Alert: alert.Alert{ID: s2}}}
		} else if on(14) {
			doc.Alerts = []storedAlert{}
		}
		got, err := appendGroupDoc(nil, doc)
		want, wantErr := json.Marshal(doc)
		if (err != nil) != (wantErr != nil) {
			t.Fatalf("appendGroupDoc error %v, encoding/json error %v", err, wantErr)
		}
		if err == nil && !bytes.Equal(got, want) {
			t.Fatalf("appendGroupDoc wrote\n%s\nencoding/json writes\n%s", got, want)
		}
	})
}

// TestAppendGroupDocKeepsStoredEvents: an event read from a store in
// another spelling (spaces, unescaped HTML characters) is written as it was
// read; the document holds the same value as encoding/json's.
func TestAppendGroupDocKeepsStoredEvents(t *testing.T) {
	doc, err := decodeGroupDoc([]byte(`{"id":"grp-1","alerts":[{"id":"a","event": { "m" : "<b> & \u00e9" , "n" : [ 1 , 2.50 ] } }]}`))
	if err != nil {
		t.Fatal(err)
	}
	got, err := doc.marshal()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(got, []byte(`"event":{ "m" : "<b> & \u00e9" , "n" : [ 1 , 2.50 ] }}`)) {
		t.Fatalf("the stored event was not kept as read:\n%s", got)
	}
	want, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	var gotValue, wantValue any
	if err := json.Unmarshal(got, &gotValue); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(want, &wantValue); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(gotValue, wantValue) {
		t.Fatalf("marshal wrote\n%s\nencoding/json writes the value\n%s", got, want)
	}
}

// TestAppendGroupDocWritesEveryField: appendGroupDoc names the document's
// fields itself, so a field added to groupDoc, storedAlert or the alert
// types must be added there too. Every field here, to any depth, holds a
// value that is not its zero value, so omitempty hides none of them.
func TestAppendGroupDocWritesEveryField(t *testing.T) {
	var doc groupDoc
	fillNonZero(t, reflect.ValueOf(&doc).Elem(), 0)
	doc.Alerts[0].Event = json.RawMessage(`{"k":"v"}`)
	got, err := appendGroupDoc(nil, &doc)
	if err != nil {
		t.Fatal(err)
	}
	want, err := json.Marshal(&doc)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("appendGroupDoc wrote\n%s\nencoding/json writes\n%s", got, want)
	}
}

// fillNonZero sets v, and everything in it, to values other than zero.
func fillNonZero(t *testing.T, v reflect.Value, n int) {
	t.Helper()
	n++
	switch v.Kind() {
	case reflect.String:
		v.SetString("s" + strconv.Itoa(n))
	case reflect.Int, reflect.Int64:
		if v.Type() == reflect.TypeOf(time.Duration(0)) {
			v.SetInt(int64(time.Duration(n) * time.Second))
		} else {
			v.SetInt(int64(n))
		}
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Struct:
		if v.Type() == reflect.TypeOf(time.Time{}) {
			v.Set(reflect.ValueOf(time.Date(2025, 5, 6, 9, 0, n, 0, time.UTC)))
			return
		}
		for i := 0; i < v.NumField(); i++ {
			if v.Type().Field(i).IsExported() {
				fillNonZero(t, v.Field(i), n*10+i)
			}
		}
	case reflect.Slice:
		if v.Type() == reflect.TypeOf(json.RawMessage(nil)) {
			v.SetBytes([]byte(`{"n":` + strconv.Itoa(n) + `}`))
			return
		}
		v.Set(reflect.MakeSlice(v.Type(), 2, 2))
		for i := 0; i < 2; i++ {
			fillNonZero(t, v.Index(i), n*10+i)
		}
	case reflect.Map:
		v.Set(reflect.MakeMap(v.Type()))
		for i := 0; i < 2; i++ {
			k := reflect.New(v.Type().Key()).Elem()
			fillNonZero(t, k, n*10+i)
			e := reflect.New(v.Type().Elem()).Elem()
			fillNonZero(t, e, n*10+i)
			v.SetMapIndex(k, e)
		}
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fillNonZero(t, v.Elem(), n)
	case reflect.Interface:
		// Alert.Event: shadowed by storedAlert.Event in the document.
	default:
		t.Fatalf("fillNonZero: no value for a %s", v.Type())
	}
}
