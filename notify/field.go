package notify

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/tripline/tripline/detect/ecs"
)

// lookup finds a field of a normalized (ECS) document given as segments
// (ecs.Lookup, the one field lookup); a missing field gives nil.
func lookup(doc map[string]any, segs ...string) any {
	v, _ := ecs.Lookup(doc, strings.Join(segs, "."))
	return v
}

// field returns the dotted path's value as a string (see text).
func field(doc map[string]any, path string) string {
	return text(lookup(doc, strings.Split(path, ".")...))
}

// fieldSegs is field with explicit segments, for keys that contain dots.
func fieldSegs(doc map[string]any, segs ...string) string {
	return text(lookup(doc, segs...))
}

// first returns the first non-empty field among paths.
func first(doc map[string]any, paths ...string) string {
	for _, p := range paths {
		if v := field(doc, p); v != "" {
			return v
		}
	}
	return ""
}

// text renders a document leaf as a string: strings as they are, numbers and
// booleans in their JSON form, arrays as their first non-empty element, and
// anything else (objects, nil) as "".
func text(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return strings.TrimSpace(x)
	case json.Number:
		return x.String()
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case int:
		return strconv.Itoa(x)
	case int64:
		return strconv.FormatInt(x, 10)
	case bool:
		return strconv.FormatBool(x)
	case []any:
		for _, e := range x {
			if s := text(e); s != "" {
				return s
			}
		}
		return ""
	case []string:
		for _, e := range x {
			if s := strings.TrimSpace(e); s != "" {
				return s
			}
		}
		return ""
	case map[string]any:
		return ""
	default:
		return strings.TrimSpace(fmt.Sprint(x))
	}
}
