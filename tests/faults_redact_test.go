package tests

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// A supplier that echoes the key it was sent in its errors: the key never
// reaches the order's last_error, nor the log (the harness checks every
// server log for the supplier's key when the server stops).
func TestSupplierEchoedKeyRedacted(t *testing.T) {
	eachBackend(t, func(t *testing.T, b Backend) {
		rig := fulStart(t, b)
		a := rig.s.MustAccount(t, "alice", "100")
		rig.fake.All(fulEchoKey)
		id := mustAddOrder(t, rig.s, a.Key, rig.svc, "https://x/1", "100")
		var lastError string
		fulWait(t, 10*time.Second, "the refusal recorded", func() bool {
			lastError = fmt.Sprint(getOrder(t, rig.s, id)["last_error"])
			return lastError != "" && lastError != "<nil>"
		})
		if strings.Contains(lastError, rig.fake.Key) || !strings.Contains(lastError, "[redacted]") {
			t.Errorf("last_error = %q: the supplier's key is not redacted", lastError)
		}
	})
}
