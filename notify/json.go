package notify

import (
	"bytes"
	"encoding/json"
)

// marshal is json.Marshal without HTML escaping (<, >, & stay as they are;
// the channel-specific escaping has already made them inert), so sizes
// measured here are the sizes the receiver counts.
func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}
