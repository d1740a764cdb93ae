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
// at start instead. The kernel drops the lock when the process dies. The
// file is returned to be kept referenced: an unreferenced *os.File is closed
// by its finalizer at the next garbage collection, which released the lock
// (a race-detector build's second process started serving beside the first).
func lockFile(dsn string) (*os.File, error) {
	path := strings.TrimPrefix(dsn, "file:")
	if i := strings.IndexByte(path, '?'); i >= 0 {
		path = path[:i]
	}
	if path == "" || path == ":memory:" {
		return nil, nil
	}
	f, err := os.OpenFile(path+".lock", os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock database: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("database %s is in use by another smmapi process (the embedded mode runs one process per database file; use MySQL + Redis for several)", path)
	}
	return f, nil // kept open by the DB: the lock lives as long as the process
}
