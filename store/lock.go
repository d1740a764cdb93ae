package store

import (
	"fmt"
	"os"
	"strings"
	"syscall"
)

// lockFile takes an exclusive lock on "<database>.lock" for the life of the
// process. The embedded mode keeps caches and limits in process memory, so
// a second process on the same file would serve stale keys: it is refused
// at start instead. The kernel drops the lock when the process dies.
func lockFile(dsn string) error {
	path := strings.TrimPrefix(dsn, "file:")
	if i := strings.IndexByte(path, '?'); i >= 0 {
		path = path[:i]
	}
	if path == "" || path == ":memory:" {
		return nil
	}
	f, err := os.OpenFile(path+".lock", os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return fmt.Errorf("lock database: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return fmt.Errorf("database %s is in use by another smmapi process (the embedded mode runs one process per database file; use MySQL + Redis for several)", path)
	}
	return nil // f stays open: the lock lives as long as the process
}
